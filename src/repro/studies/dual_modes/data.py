"""The data of dual_modes: Gaussian task-mixture priors and vectorised samplers.

Pretraining prompt: group beta ~ Cat(pi); mu ~ N(mu_beta, s_mu^2 I); w ~ N(w_beta, s_w^2 I);
x_i ~ N(mu, s_x^2 I); y_i = w.x_i + N(0, s_y^2). In-context prompts fix (mu*, w*) and are noiseless.
Everything is drawn in one shot on the target device from an explicit torch.Generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Prior:
    mu: torch.Tensor  # (M, d) input-mean centres
    w: torch.Tensor  # (M, d) skill centres
    pi: torch.Tensor  # (M,) group weights
    sigma_x: float = 1.0
    sigma_y: float = 1.0
    sigma_mu: float = 1.0
    sigma_w: float = 1.0

    @property
    def d(self) -> int:
        return self.mu.shape[1]

    @property
    def M(self) -> int:
        return self.mu.shape[0]

    @property
    def delta_mu(self) -> float:
        return self.sigma_mu**2 / self.sigma_x**2

    @property
    def delta_w(self) -> float:
        return self.sigma_w**2 / self.sigma_y**2

    def to(self, device=None, dtype=None) -> "Prior":
        cast = lambda t: t.to(device=device, dtype=dtype)  # noqa: E731
        return Prior(cast(self.mu), cast(self.w), cast(self.pi), self.sigma_x, self.sigma_y,
                     self.sigma_mu, self.sigma_w)


def unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True)


def regular4(delta: float, dtype=torch.float64) -> Prior:
    """Figure 4's prior: d=3, four centres on a regular tetrahedron, mu_beta = w_beta, s_x = s_y = 1."""
    c = unit(torch.tensor([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=dtype))
    s = float(delta) ** 0.5
    return Prior(c, c.clone(), torch.full((4,), 0.25, dtype=dtype), 1.0, 1.0, s, s)


def regular4_task(prior: Prior, r: float = 2.0) -> torch.Tensor:
    """In-context task mu* = w* = normalize(r mu_1 + mu_2 + 0.2 mu_3); r=2 is Figure 4's task."""
    return unit(r * prior.mu[0] + prior.mu[1] + 0.2 * prior.mu[2])


def early_ascent(d: int, dtype=torch.float64) -> Prior:
    """Figure 6's prior: inputs resemble group 1 whose skill is the opposite of the in-context task."""
    if d == 1:
        mu, w = torch.tensor([[1.0], [-1.0]], dtype=dtype), torch.tensor([[-1.0], [1.0]], dtype=dtype)
    else:
        one = torch.ones(d, dtype=dtype)
        alt = -one.clone()
        alt[0] = 1.0
        mu, w = torch.stack([one, -one, alt]), torch.stack([-one, one, -alt])
    mu, w = unit(mu), unit(w)
    return Prior(mu, w, torch.full((mu.shape[0],), 1.0 / mu.shape[0], dtype=dtype), 1.0, 2.0, 0.05, 0.05)


def early_ascent_task(d: int, dtype=torch.float64) -> torch.Tensor:
    return unit(torch.ones(d, dtype=dtype))


def sample_pretraining(prior: Prior, batch: int, n: int, g: torch.Generator):
    """Fresh prompts from the mixture prior: X (batch, n, d), Y (batch, n)."""
    dev, dt = prior.mu.device, prior.mu.dtype
    beta = torch.multinomial(prior.pi, batch, replacement=True, generator=g)
    noise = torch.randn(batch, 2 * prior.d + n * (prior.d + 1), generator=g, device=dev, dtype=dt)
    d = prior.d
    mu = prior.mu[beta] + prior.sigma_mu * noise[:, :d]
    w = prior.w[beta] + prior.sigma_w * noise[:, d:2 * d]
    rest = noise[:, 2 * d:].view(batch, n, d + 1)
    X = mu[:, None, :] + prior.sigma_x * rest[..., :d]
    Y = torch.einsum("bnd,bd->bn", X, w) + prior.sigma_y * rest[..., d]
    return X, Y


def sample_incontext(task_mu: torch.Tensor, task_w: torch.Tensor, batch: int, n: int, g: torch.Generator,
                     sigma_x: float = 1.0):
    """Noiseless prompts of one in-context task: x ~ N(mu*, s_x^2 I), y = w*.x."""
    X = task_mu + sigma_x * torch.randn(batch, n, task_mu.shape[-1], generator=g, device=task_mu.device,
                                        dtype=task_mu.dtype)
    return X, X @ task_w
