"""A deep S4D (diagonal state space) model, computed as an FFT convolution, for the ssm_peft study.

One layer in the paper's `theory` mode: y = ReLU(W (K * u + D u) + b), per channel d a kernel
    K_d[l] = 2 Re sum_n Cbar_{d,n} exp(dt_d A_{d,n} l),  Cbar = C (exp(dt A) - 1) / A  (zero-order hold),
    A = -exp(logA_re) + i A_im,  dt = exp(log_dt).
The complex C is stored as two real matrices (`C_re`, `C_im`) so that every SSM parameter is a real H x N
matrix that peft's `target_parameters` can adapt. `output_linear` is an `nn.Linear` called as a module, so
peft's LoRA reaches it by name.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

SSM_MATRICES = ("logA_re", "A_im", "C_re", "C_im")  # the H x N parameters of one layer


@dataclass
class S4DConfig:
    n_layer: int = 3
    d_model: int = 8  # H channels (input and output width of every layer)
    d_state: int = 8  # N complex states per channel
    dt_min: float = 1e-3
    dt_max: float = 1e-1

    def to_dict(self) -> dict:
        return asdict(self)


class S4DLayer(nn.Module):
    def __init__(self, cfg: S4DConfig, generator: torch.Generator | None = None):
        super().__init__()
        h, n = cfg.d_model, cfg.d_state
        g = generator
        log_dt = torch.rand(h, generator=g) * (math.log(cfg.dt_max) - math.log(cfg.dt_min)) + math.log(cfg.dt_min)
        self.log_dt = nn.Parameter(log_dt)
        # the paper's "random" init: Re A = -U(0, 1), Im A = pi * randint(0, N), C ~ CN(0, 1)
        self.logA_re = nn.Parameter(torch.log(torch.rand(h, n, generator=g).clamp_min(1e-4)))
        self.A_im = nn.Parameter(math.pi * torch.randint(0, n, (h, n), generator=g).float())
        self.C_re = nn.Parameter(torch.randn(h, n, generator=g) / math.sqrt(2))
        self.C_im = nn.Parameter(torch.randn(h, n, generator=g) / math.sqrt(2))
        self.D = nn.Parameter(torch.randn(h, generator=g))
        self.output_linear = nn.Linear(h, h)
        with torch.no_grad():
            bound = 1 / math.sqrt(h)
            self.output_linear.weight.uniform_(-bound, bound, generator=g)
            self.output_linear.bias.uniform_(-bound, bound, generator=g)

    def A(self) -> torch.Tensor:
        return torch.complex(-torch.exp(self.logA_re), self.A_im)

    def C_bar(self) -> torch.Tensor:
        """Discretised output weights, (H, N) complex."""
        dtA = self.A() * torch.exp(self.log_dt)[:, None]
        return torch.complex(self.C_re, self.C_im) * (torch.exp(dtA) - 1) / self.A()

    def kernel(self, length: int) -> torch.Tensor:
        """K of shape (H, length)."""
        dtA = self.A() * torch.exp(self.log_dt)[:, None]
        pos = torch.arange(length, device=dtA.device, dtype=torch.float32)
        vander = torch.exp(dtA[..., None] * pos)  # (H, N, L)
        return 2 * torch.einsum("hn,hnl->hl", self.C_bar(), vander).real

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """u: (batch, H, L) -> (batch, H, L)."""
        length = u.shape[-1]
        with torch.autocast(u.device.type, enabled=False):  # complex kernel and FFT in fp32 (no bf16 FFT)
            u = u.float()
            k = torch.fft.rfft(self.kernel(length), n=2 * length)
            y = torch.fft.irfft(torch.fft.rfft(u, n=2 * length) * k, n=2 * length)[..., :length]
            y = y + self.D[:, None] * u
        return torch.relu(self.output_linear(y.transpose(1, 2))).transpose(1, 2)


class DeepS4D(nn.Module):
    """Layers stacked without residuals (the paper's theory-mode construction)."""

    def __init__(self, cfg: S4DConfig, generator: torch.Generator | None = None):
        super().__init__()
        self.cfg = cfg
        self.layers = nn.ModuleList([S4DLayer(cfg, generator) for _ in range(cfg.n_layer)])

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            u = layer(u)
        return u


def conv_reference(layer: S4DLayer, u: torch.Tensor) -> torch.Tensor:
    """The same layer as a direct causal convolution (a loop over lags): the FFT path's test oracle."""
    length = u.shape[-1]
    k = layer.kernel(length)
    y = torch.zeros_like(u)
    for lag in range(length):
        y[..., lag:] += k[:, lag, None] * u[..., : length - lag]
    y = y + layer.D[:, None] * u
    return torch.relu(layer.output_linear(y.transpose(1, 2))).transpose(1, 2)
