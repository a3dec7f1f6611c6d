"""A small Mamba (selective state space) classifier in plain PyTorch, for the ssm_peft study.

Every projection is an `nn.Linear` called as a module, split as in the SSM-PEFT paper's code
(`in_proj_x`, `in_proj_z`, `x_proj_dt`, `x_proj_B`, `x_proj_C`, `dt_proj`, `out_proj`), so peft's LoRA
applies to any of them by `target_modules` (transformers' Mamba multiplies by `dt_proj.weight` directly, so a
LoRA there is silently a no-op). One block:
    [x; z] = W_in u;  x <- SiLU(conv1d(x));  dt = softplus(W_dt W_xdt x + b);  B = W_xB x;  C = W_xC x
    h_t = exp(dt_t A) h_{t-1} + dt_t B_t x_t;   y_t = C_t h_t + D x_t;   out = W_out (y * SiLU(z))
with A = -exp(A_log). The recurrence runs as a parallel (Hillis-Steele) scan, tested against a loop.

Two PEFT hooks live in the model because they change the forward pass: `init_state` (a learned h_0 per
block, initial-state tuning) and `prompt` (learned input vectors prepended to the sequence, prompt tuning).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class MambaConfig:
    n_layer: int = 2
    d_model: int = 16
    d_inner: int = 32
    d_state: int = 8
    dt_rank: int = 2
    d_conv: int = 4
    d_in: int = 1  # input features per step (1: a scalar pixel)
    n_classes: int = 5

    def to_dict(self) -> dict:
        return asdict(self)


def parallel_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    """h_t = a_t * h_{t-1} + b_t along dim 1 (h_{-1} = h0 or 0), in log2(L) elementwise steps.

    Step k combines each position with the one k back: (a, b)[t] <- (a[t] a[t-k], a[t] b[t-k] + b[t]).
    Only products of decays in (0, 1] appear, so it is stable where a cumsum-of-logs scan overflows.
    """
    if h0 is not None:
        b = torch.cat([a[:, :1] * h0 + b[:, :1], b[:, 1:]], 1)
    k = 1
    while k < a.shape[1]:  # shifting by k with a zero (b) or one (a) pad keeps the first k positions as they are
        b = a * F.pad(b[:, :-k], (0, 0, 0, 0, k, 0)) + b
        a = a * F.pad(a[:, :-k], (0, 0, 0, 0, k, 0), value=1.0)
        k *= 2
    return b


def sequential_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    """The recurrence as a plain loop over time: the reference the parallel scan is tested against."""
    h = torch.zeros_like(b[:, 0]) if h0 is None else h0.expand_as(b[:, 0])
    out = []
    for t in range(a.shape[1]):
        h = a[:, t] * h + b[:, t]
        out.append(h)
    return torch.stack(out, 1)


class MambaBlock(nn.Module):
    def __init__(self, cfg: MambaConfig):
        super().__init__()
        d, n = cfg.d_inner, cfg.d_state
        self.in_proj_x = nn.Linear(cfg.d_model, d, bias=False)
        self.in_proj_z = nn.Linear(cfg.d_model, d, bias=False)
        self.conv1d = nn.Conv1d(d, d, cfg.d_conv, groups=d, padding=cfg.d_conv - 1)
        self.x_proj_dt = nn.Linear(d, cfg.dt_rank, bias=False)
        self.x_proj_B = nn.Linear(d, n, bias=False)
        self.x_proj_C = nn.Linear(d, n, bias=False)
        self.dt_proj = nn.Linear(cfg.dt_rank, d)
        self.out_proj = nn.Linear(d, cfg.d_model, bias=False)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, n + 1, dtype=torch.float32)).repeat(d, 1))
        self.D = nn.Parameter(torch.ones(d))
        self.init_state: nn.Parameter | None = None
        with torch.no_grad():  # Mamba's dt init: softplus(bias) log-uniform in [1e-3, 1e-1]
            nn.init.uniform_(self.dt_proj.weight, -cfg.dt_rank**-0.5, cfg.dt_rank**-0.5)
            dt = torch.exp(torch.rand(d) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))

    def forward(self, u: torch.Tensor, scan=parallel_scan) -> torch.Tensor:
        """u: (batch, L, d_model) -> (batch, L, d_model)."""
        length = u.shape[1]
        x, z = self.in_proj_x(u), self.in_proj_z(u)
        x = F.silu(self.conv1d(x.transpose(1, 2))[..., :length].transpose(1, 2))
        dt_in, b_t, c_t = self.x_proj_dt(x), self.x_proj_B(x), self.x_proj_C(x)  # (batch, L, d_state)
        with torch.autocast(u.device.type, enabled=False):  # the recurrence in fp32, as Mamba's kernels keep it
            x, b_t, c_t = x.float(), b_t.float(), c_t.float()
            dt = F.softplus(self.dt_proj(dt_in.float()))  # (batch, L, d_inner)
            decay = torch.exp(dt[..., None] * -torch.exp(self.A_log))  # (batch, L, d_inner, d_state)
            h = scan(decay, (dt * x)[..., None] * b_t[:, :, None], self.init_state)
            y = torch.einsum("bldn,bln->bld", h, c_t) + self.D * x
        return self.out_proj(y * F.silu(z))


class Residual(nn.Module):
    def __init__(self, cfg: MambaConfig):
        super().__init__()
        self.norm = nn.RMSNorm(cfg.d_model)
        self.mixer = MambaBlock(cfg)

    def forward(self, h, scan=parallel_scan):
        return h + self.mixer(self.norm(h), scan)


class MambaClassifier(nn.Module):
    """Embedding of each step's features -> Mamba blocks -> mean over the sequence -> class logits."""

    def __init__(self, cfg: MambaConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Linear(cfg.d_in, cfg.d_model)
        self.layers = nn.ModuleList([Residual(cfg) for _ in range(cfg.n_layer)])
        self.norm_f = nn.RMSNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.n_classes)
        self.prompt: nn.Parameter | None = None  # (n_prompt, d_model) when prompt tuning is on

    def forward(self, x: torch.Tensor, scan=parallel_scan) -> torch.Tensor:
        """x: (batch, L, d_in) -> logits (batch, n_classes)."""
        h = self.embed(x)
        n_prompt = 0
        if self.prompt is not None:
            n_prompt = self.prompt.shape[0]
            h = torch.cat([self.prompt.expand(h.shape[0], -1, -1), h], 1)
        for layer in self.layers:
            h = layer(h, scan)
        return self.head(self.norm_f(h)[:, n_prompt:].mean(1))
