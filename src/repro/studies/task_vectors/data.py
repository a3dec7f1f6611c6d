"""Triplet-format ICL prompts `x_1 -> y_1 x_2 -> y_2 ... x_k -> y_k x_q ->`, generated on the fly.

Families:
- `offset`: tokens 0..V-1, y = (x + c) mod V (or (a x + c) mod V with `affine`), one task per c (and a);
  the separator "->" is token V. Token read-in, cross-entropy.
- `linear`: x ~ N(0, I_d), y = w.x with w ~ N(0, I_d). `sine`: scalar x ~ U[-5, 5], y = A sin(w x + phi).
  Vector read-in with d + 2 channels: x tokens [x, 0, 0], "->" [0, 1, 0] (a learned embedding through the
  read-in), y tokens [0, 0, y]. Mean squared error.

A `Batch` holds the ICL prompt P, its targets at every "->" (the k demo answers and the query's), the task of
each prompt, and a zero-shot prompt Z = [x_q', ->] of the *same task* with a different query x_q' (Hendel et
al.: the task vector must carry the task, not P's own query).

OOD variants: `k` larger than trained, `x_scale` (x ~ N(0, scale^2 I) / x drawn from a shifted token range is
not defined for tokens, so the offset family has no scale shift), and `noise` (a fraction of demo answers
replaced: random tokens, or Gaussian label noise of the label's scale for regression).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class Batch:
    P: torch.Tensor  # (B, 3k+2) tokens or (B, 3k+2, d+2) vectors
    y: torch.Tensor  # (B, k+1) answers at every "->" of P (last = the query's)
    Z: torch.Tensor  # (B, 2) or (B, 2, d+2): the zero-shot prompt [x_q', ->]
    yz: torch.Tensor  # (B,) answer of Z
    task: torch.Tensor  # (B,) task id (offset c; regression: -1, every prompt its own task)


def arrow_positions(k: int) -> list[int]:
    """Positions of "->" in a prompt with k demos and one query."""
    return [3 * i + 1 for i in range(k + 1)]


def tasks(cfg: dict) -> torch.Tensor:
    """The task list of the offset family: rows (a, c)."""
    V = cfg["vocab"]
    cs = torch.tensor(cfg["offsets"])
    if not cfg.get("affine"):
        return torch.stack([torch.ones_like(cs), cs], 1)
    units = torch.tensor([a for a in range(1, V) if math.gcd(a, V) == 1][: cfg.get("n_multipliers", 4)])
    return torch.cartesian_prod(units, cs)


def offset_batch(cfg: dict, B: int, k: int, g: torch.Generator, task_ids: torch.Tensor | None = None,
                 noise: float = 0.0) -> Batch:
    V, device = cfg["vocab"], g.device
    T = tasks(cfg).to(device)
    t = torch.randint(0, len(T), (B,), generator=g, device=device) if task_ids is None else task_ids.to(device)
    a, c = T[t, 0:1], T[t, 1:2]
    x = torch.randint(0, V, (B, k + 2), generator=g, device=device)  # k demos, the query, and Z's query
    # Z's query differs from P's query: shift it by a nonzero amount
    x[:, -1] = (x[:, -2] + torch.randint(1, V, (B,), generator=g, device=device)) % V
    y = (a * x + c) % V
    y_demo = y[:, :k].clone()
    if noise > 0:
        flip = torch.rand(B, k, generator=g, device=device) < noise
        y_demo = torch.where(flip, torch.randint(0, V, (B, k), generator=g, device=device), y_demo)
    P = torch.full((B, 3 * k + 2), V, dtype=torch.long, device=device)  # "->" everywhere, then fill x and y
    P[:, 0::3] = x[:, : k + 1]
    P[:, 2::3] = y_demo
    Z = torch.stack([x[:, -1], torch.full_like(x[:, -1], V)], 1)
    return Batch(P, y[:, : k + 1], Z, y[:, -1], t)


def _vector_prompt(xs: torch.Tensor, ys: torch.Tensor, k: int) -> torch.Tensor:
    """xs (B, k+1, d), ys (B, k) -> (B, 3k+2, d+2) triplet tokens."""
    B, _, d = xs.shape
    P = xs.new_zeros(B, 3 * k + 2, d + 2)
    P[:, 0::3, :d] = xs
    P[:, 1::3, d] = 1.0
    P[:, 2::3, d + 1] = ys
    return P


def regression_batch(cfg: dict, B: int, k: int, g: torch.Generator, x_scale: float = 1.0,
                     noise: float = 0.0) -> Batch:
    device, family = g.device, cfg["family"]
    if family == "linear":
        d = cfg["dim"]
        w = torch.randn(B, d, 1, generator=g, device=device)
        x = x_scale * torch.randn(B, k + 2, d, generator=g, device=device)
        y = (x @ w)[..., 0]
    elif family == "sine":
        d = 1
        amp = torch.empty(B, 1, device=device).uniform_(0.1, 5, generator=g)
        freq = torch.empty(B, 1, device=device).uniform_(0.5, 2, generator=g)
        phase = torch.empty(B, 1, device=device).uniform_(0, math.pi, generator=g)
        x = x_scale * torch.empty(B, k + 2, 1, device=device).uniform_(-5, 5, generator=g)
        y = amp * torch.sin(freq * x[..., 0] + phase)
    else:
        raise ValueError(f"regression family must be linear or sine, got {family!r}")
    y_demo = y[:, :k]
    if noise > 0:  # a fraction of demos get label noise of the labels' own scale
        flip = torch.rand(B, k, generator=g, device=device) < noise
        y_demo = torch.where(flip, y_demo + y.std() * torch.randn(B, k, generator=g, device=device), y_demo)
    P = _vector_prompt(x[:, : k + 1], y_demo, k)
    Z = _vector_prompt(x[:, -1:], y_demo[:, :0], 0)
    return Batch(P, y[:, : k + 1], Z, y[:, -1], torch.full((B,), -1, device=device))


def is_discrete(cfg: dict) -> bool:
    return cfg["family"] == "offset"


def batch(cfg: dict, B: int, k: int, g: torch.Generator, **ood) -> Batch:
    """One batch of the configured family. ood: x_scale (regression only), noise, task_ids (offset only)."""
    if is_discrete(cfg):
        if ood.get("x_scale", 1.0) != 1.0:
            raise ValueError("the offset family has no input-scale shift")
        return offset_batch(cfg, B, k, g, ood.get("task_ids"), ood.get("noise", 0.0))
    return regression_batch(cfg, B, k, g, ood.get("x_scale", 1.0), ood.get("noise", 0.0))
