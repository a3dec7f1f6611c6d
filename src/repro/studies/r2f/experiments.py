"""r2f's toy experiments: train the conditional denoiser on the long-tailed world and the judge on balanced
renders, plan every pair with the rule-based planner, sample each pair with each guidance method, judge."""

from __future__ import annotations

import pandas as pd
import torch
from tqdm.auto import tqdm

from repro.core.shapes import COLOURS, SHAPES
from repro.models.film_denoiser import FiLMDenoiser
from repro.studies.r2f import diffusion as D
from repro.studies.r2f import evaluator as E
from repro.studies.r2f import guidance as G
from repro.studies.r2f import planner as P
from repro.studies.r2f import world as W


def train_denoiser(cfg: dict, table: dict, seed: int, device="cpu", desc=None):
    """cfg: size, model {channels, blocks, emb}, n_train_steps, steps, batch, lr, dropout {family, object, null}."""
    torch.manual_seed(seed)
    data = W.dataset(table, cfg["size"], seed)
    x, colour, shape = data.x.to(device), data.colour, data.shape
    model = FiLMDenoiser(len(COLOURS), len(W.OBJECTS), **cfg["model"]).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=0.0)
    sched, _ = D.schedulers(cfg["n_train_steps"])
    g, dr = torch.Generator().manual_seed(seed + 1), cfg["dropout"]
    losses = []
    for _ in tqdm(range(cfg["steps"]), desc=desc or "r2f/denoiser", mininterval=5):
        idx = torch.randint(0, len(x), (cfg["batch"],), generator=g)
        c, o = W.coarsen(colour[idx], shape[idx], dr["family"], dr["object"], dr["null"], g)
        loss = D.ddpm_loss(model, x[idx.to(device)], (c.to(device), o.to(device)), sched, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model.eval(), losses


def tokens(prompt: str, n: int, device="cpu"):
    c, o = W.parse_prompt(prompt)
    return torch.full((n,), c, device=device), torch.full((n,), o, device=device)


def plan_pairs(table: dict, level: int, n_rare: int) -> dict:
    counts = W.concept_counts(table)
    return {(c, s): P.parse(P.render(p), p.prompt)  # through the text format, as an LLM answer would be
            for (c, s) in table for p in [P.rule_based(c, s, counts, W.FAMILY, level, n_rare)]}


@torch.no_grad()
def sample_pair(model, plan: P.Plan, method: str, cfg: dict, n: int, seed: int, stop_frac=None, device="cpu"):
    steps = cfg["sample_steps"]
    seq = [tokens(p, n, device) for p in plan.sequence()]
    stops = P.stop_steps(plan, steps) if stop_frac is None else [round(stop_frac * steps)] * len(plan.pairs)
    null = (torch.full((n,), W.NULL_COLOUR, device=device), torch.full((n,), W.NULL_OBJECT, device=device))
    eps = G.predictor(model, method, seq, stops, null, cfg["guidance"], steps, alpha=cfg["alpha"])
    _, sched = D.schedulers(cfg["n_train_steps"])
    x = D.sample(eps, (n, 3, cfg["size"], cfg["size"]), sched, steps, torch.Generator().manual_seed(seed), device)
    return x.clamp(-1, 1).cpu()  # the world's range, which the judge reads too


def judge_pairs(model, judge, plans: dict, pairs: list, cfg: dict, seed: int, device="cpu", desc=None):
    """One row per (pair, method or fixed stop): colour and shape accuracy and the alignment score."""
    runs = [(m, None) for m in cfg["methods"]] + [("fixed", f) for f in cfg["stop_fracs"]]
    rows = []
    for c, s in tqdm(pairs, desc=desc or "r2f/sample", mininterval=5):
        plan = plans[(c, s)]
        for method, frac in runs:
            x = sample_pair(model, plan, method, cfg, cfg["n_samples"], seed, frac, device)
            ci, si = torch.full((len(x),), list(COLOURS).index(c)), torch.full((len(x),), SHAPES.index(s))
            c_ok, s_ok, score = E.judge_images(judge, x, ci, si)
            rows.append({"pair": f"{c} {s}", "rare": plan.is_rare, "method": method, "stop_frac": frac,
                         "colour_acc": float(c_ok.float().mean()), "shape_acc": float(s_ok.float().mean()),
                         "alignment": E.alignment(score), "seed": seed})
    return pd.DataFrame(rows)
