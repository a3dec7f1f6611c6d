"""The learned counterpart of the Gaussian theory: a small epsilon-MLP learns a frequent concept F from many
samples of N((0, 10), I) and a rare concept R from a handful of samples of N(0, I); then R is sampled with the
score interpolation alpha eps(R) + (1 - alpha) eps(F) over an alpha grid, and with R2F's alternating schedule
(F on even steps before the stop step S, R otherwise) for several S. W2 to the true N(0, I) by Gaussian fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from repro.models.film_denoiser import timestep_embedding
from repro.studies.r2f import diffusion as D
from repro.studies.r2f.schedule import alternating
from repro.studies.r2f.theory import FREQUENT, w2_gaussian_fit

FREQ, RARE, NULL = 0, 1, 2


class EpsMLP(nn.Module):
    def __init__(self, width: int = 128, emb: int = 32):
        super().__init__()
        self.cls = nn.Embedding(3, emb)
        self.net = nn.Sequential(nn.Linear(2 + 2 * emb, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(),
                                 nn.Linear(width, width), nn.SiLU(), nn.Linear(width, 2))

    def forward(self, x, t, c):
        t = t.expand(len(x)) if t.dim() == 0 else t
        c = torch.full((len(x),), c, dtype=torch.long, device=x.device) if isinstance(c, int) else c
        return self.net(torch.cat([x, timestep_embedding(t, 32, max_period=1000.0), self.cls(c)], dim=1))


def data(n_freq: int, n_rare: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    xf = torch.randn(n_freq, 2, generator=g) + torch.tensor([0.0, 10.0])
    xr = torch.randn(n_rare, 2, generator=g)
    return torch.cat([xf, xr]), torch.cat([torch.full((n_freq,), FREQ), torch.full((n_rare,), RARE)])


def train(cfg: dict, seed: int, device="cpu"):
    """cfg: n_freq, n_rare, n_train_steps (timesteps), steps, batch, lr, label_dropout."""
    torch.manual_seed(seed)
    x, y = data(cfg["n_freq"], cfg["n_rare"], seed)
    x, y = x.to(device), y.to(device)
    model = EpsMLP().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    sched, _ = D.schedulers(cfg["n_train_steps"])
    g = torch.Generator().manual_seed(seed + 1)
    for _ in range(cfg["steps"]):
        idx = torch.randint(0, len(x), (cfg["batch"],), generator=g).to(device)
        c = y[idx].clone()
        c[torch.rand(len(c), generator=g).to(device) < cfg["label_dropout"]] = NULL
        loss = D.ddpm_loss(model, x[idx], c, sched, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


@torch.no_grad()
def evaluate(model, cfg: dict, seed: int, device="cpu") -> pd.DataFrame:
    """W2 to N(0, I) of samples for each alpha (interpolation) and each stop fraction (alternating); and the
    frequent-only samples' W2 to N((0, 10), I), the frequent concept's own distribution (`frequent_fit`)."""
    _, sched = D.schedulers(cfg["n_train_steps"])
    n, steps = cfg["n_samples"], cfg["sample_steps"]
    rows = []
    for a in cfg["alphas"]:
        def eps(x, t, i, a=a):
            return a * model(x, t, RARE) + (1 - a) * model(x, t, FREQ)
        x = D.sample(eps, (n, 2), sched, steps, torch.Generator().manual_seed(seed), device)
        rows.append({"method": "interpolation", "alpha": a, "stop_frac": np.nan, "w2": w2_gaussian_fit(x.cpu().numpy())})
        if a == 0:  # the competence the theory presupposes: the frequent concept is learned (W2 to its own truth)
            rows.append({"method": "frequent_fit", "alpha": a, "stop_frac": np.nan,
                         "w2": w2_gaussian_fit(x.cpu().numpy(), FREQUENT)})
    for frac in cfg["stop_fracs"]:
        plan = alternating(steps, [round(frac * steps)])

        def eps(x, t, i, plan=plan):
            return model(x, t, FREQ if plan[i] == 0 else RARE)
        x = D.sample(eps, (n, 2), sched, steps, torch.Generator().manual_seed(seed), device)
        rows.append({"method": "alternating", "alpha": np.nan, "stop_frac": frac,
                     "w2": w2_gaussian_fit(x.cpu().numpy())})
    return pd.DataFrame(rows).assign(seed=seed)
