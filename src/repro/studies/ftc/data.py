"""The ftc setting: K distinct points, a frozen pretrained f, N labels changed.

Inputs lie on a dyadic grid (multiples of 2^-8) so every quantity of the constructions is an exact,
cheap rational: f's float64 outputs, the new labels, the projections z = u.x with an integer u.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch

GRID = 2**8


@dataclass
class Problem:
    X: np.ndarray  # (K, d) float64, exactly representable on the grid
    f_out: np.ndarray  # (K,) frozen model's outputs = original labels
    changed: np.ndarray  # (N,) indices whose labels change
    new_labels: np.ndarray  # (K,) y': new labels on `changed`, f's outputs elsewhere

    @property
    def residual(self) -> np.ndarray:
        """What g must output: y' - f, zero on the retained samples."""
        return self.new_labels - self.f_out

    def exact(self, a: np.ndarray) -> list[Fraction]:
        return [Fraction(float(v)) for v in a]

    def exact_residual(self) -> list[Fraction]:
        """y' - f in exact arithmetic (a float64 subtraction would round)."""
        return [Fraction(float(y)) - Fraction(float(f)) for y, f in zip(self.new_labels, self.f_out)]


def grid_points(K: int, d: int, rng: np.random.Generator) -> np.ndarray:
    while True:
        X = np.round(rng.normal(size=(K, d)) * GRID) / GRID
        if len(np.unique(X, axis=0)) == K:
            return X


def pretrain_f(d: int, width: int, steps: int, lr: float, seed: int) -> torch.nn.Sequential:
    """The frozen network f: a 2-layer ReLU MLP fitted to a smooth synthetic target on fresh inputs."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    f = torch.nn.Sequential(torch.nn.Linear(d, width), torch.nn.ReLU(), torch.nn.Linear(width, 1)).double()
    a = torch.randn(d, generator=g, dtype=torch.float64) / d**0.5
    opt = torch.optim.Adam(f.parameters(), lr=lr)
    for _ in range(steps):
        x = torch.randn(256, d, generator=g, dtype=torch.float64)
        target = torch.sin(2 * x @ a) + 0.5 * (x**2).mean(1)
        loss = torch.nn.functional.mse_loss(f(x)[:, 0], target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return f.eval()


def make_problem(f: torch.nn.Module, K: int, d: int, N: int, seed: int) -> Problem:
    rng = np.random.default_rng(seed)
    X = grid_points(K, d, rng)
    with torch.no_grad():
        f_out = f(torch.from_numpy(X))[:, 0].numpy().astype(np.float64)
    changed = np.sort(rng.choice(K, size=N, replace=False))
    new = f_out.copy()
    new[changed] = np.round(rng.uniform(-3, 3, size=N) * GRID) / GRID
    return Problem(X, f_out, changed, new)
