"""Baseline (ICL loss) and TVP-loss training on fresh prompts every step.

TVP-loss: L = L_ICL(P) + lam * loss(M(Z; h_l[->] <- theta_l(P)), y_q'), one forward of P (which also yields
theta_l) and one of the patched Z, same task. theta is *not* detached, so the gradient of the second term
reaches the layers below l and pressures them to write the task into h_l at "->".
"""

from __future__ import annotations

import pandas as pd
import torch
import torch.nn.functional as F

from repro.core.train import TrainConfig, fit
from repro.models.gpt import GPT, GPTConfig
from repro.studies.task_vectors import data as D
from repro.studies.task_vectors.tvp import icl_forward, out, tvp_forward


def model_config(task_cfg: dict, m: dict, max_k: int) -> GPTConfig:
    common = dict(n_layer=m["n_layer"], n_head=m["n_head"], d_model=m["d_model"], max_len=3 * max_k + 2,
                  pos="rotary", causal=True)
    if D.is_discrete(task_cfg):
        return GPTConfig(vocab_size=task_cfg["vocab"] + 1, d_out=task_cfg["vocab"], **common)
    dim = task_cfg["dim"] if task_cfg["family"] == "linear" else 1
    return GPTConfig(d_in=dim + 2, d_out=1, **common)


def loss_of(pred: torch.Tensor, y: torch.Tensor, discrete: bool) -> torch.Tensor:
    if discrete:
        return F.cross_entropy(pred.float().reshape(-1, pred.shape[-1]), y.reshape(-1))
    return F.mse_loss(pred.float(), y)


def losses(model: GPT, b: D.Batch, discrete: bool, tvp_layer: int | None, lam: float = 1.0):
    """(total, icl, tvp) losses of one batch; tvp is None for the baseline."""
    icl, thetas = icl_forward(model, b, [tvp_layer] if tvp_layer is not None else [])
    l_icl = loss_of(out(icl, discrete), b.y, discrete)
    if tvp_layer is None:
        return l_icl, l_icl, None
    l_tvp = loss_of(out(tvp_forward(model, b.Z, thetas[tvp_layer], tvp_layer), discrete), b.yz, discrete)
    return l_icl + lam * l_tvp, l_icl, l_tvp


def train(task_cfg: dict, model_cfg: dict, train_cfg: dict, *, seed: int, device, state_path=None,
          run_hash: str = "", desc: str = "task_vectors") -> tuple[GPT, pd.DataFrame]:
    torch.manual_seed(seed)
    max_k = max(task_cfg["k"], task_cfg["k_ood"])
    model = GPT(model_config(task_cfg, model_cfg, max_k))
    discrete, layer = D.is_discrete(task_cfg), model_cfg.get("tvp_layer")
    if layer is not None and not 1 <= layer <= model.cfg.n_layer - 1:
        raise ValueError(f"tvp_layer must be in 1..{model.cfg.n_layer - 1} (a residual between blocks), got {layer}")

    def batch_fn(g):
        return D.batch(task_cfg, train_cfg["batch"], task_cfg["k"], g)

    def loss_fn(m, b):
        return losses(m, b, discrete, layer, model_cfg.get("tvp_weight", 1.0))[0]

    tc = TrainConfig(steps=train_cfg["steps"], lr=train_cfg["lr"], weight_decay=train_cfg["weight_decay"],
                     warmup=train_cfg["warmup"], save_every=train_cfg["save_every"],
                     compile=train_cfg.get("compile", False))
    history = fit(model, batch_fn, loss_fn, tc, seed=seed, device=device, state_path=state_path, run_hash=run_hash,
                  samples_per_batch=train_cfg["batch"], desc=desc)
    return model, history
