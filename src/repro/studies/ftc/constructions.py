"""Explicit additive fine-tuning networks g with f + g = y' on all K points (weights computed, not trained).

All three constructions work on one projection z = u.x (u an integer vector making the z distinct) and
are evaluated in exact rational arithmetic: the weights scale like 1/delta (delta = smallest gap between
projections), which makes float64 unreliable for the 3-layer one at K in the hundreds.

- two_layer:   3N hidden units, one "hat" of height r_s at each changed z_s, zero at every other point
- three_layer: 10*ceil(sqrt N) + 1 hidden units over two layers (groups of changed samples share units)
- interpolate: the N = K case, K - 1 units (piecewise-linear interpolation through every point)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np


def relu(v: Fraction) -> Fraction:
    return v if v > 0 else Fraction(0)


def projection(X: np.ndarray, seed: int, tries: int = 100) -> tuple[np.ndarray, list[Fraction]]:
    """Integer direction u with all projections distinct (exact), and the projections z_i."""
    rng = np.random.default_rng(seed)
    rows = [[Fraction(float(v)) for v in x] for x in X]
    for _ in range(tries):
        u = rng.integers(-1000, 1001, size=X.shape[1])
        z = [sum((int(a) * v for a, v in zip(u, row)), Fraction(0)) for row in rows]
        if len(set(z)) == len(z):
            return u, z
    raise RuntimeError("no direction with distinct projections found")


def min_gap(z: list[Fraction]) -> Fraction:
    s = sorted(z)
    return min(b - a for a, b in zip(s, s[1:]))


@dataclass
class TwoLayer:
    """g(z) = c0 + sum_j c_j relu(z + b_j)."""

    b: list[Fraction]
    c: list[Fraction]
    c0: Fraction = Fraction(0)

    @property
    def neurons(self) -> int:
        return len(self.b)

    def __call__(self, z: Fraction) -> Fraction:
        return self.c0 + sum((cj * relu(z + bj) for bj, cj in zip(self.b, self.c)), Fraction(0))

    def eval_float(self, z: float) -> float:
        return float(self.c0) + sum(float(cj) * max(z + float(bj), 0.0) for bj, cj in zip(self.b, self.c))


def two_layer(z: list[Fraction], residual: list[Fraction], changed) -> TwoLayer:
    eta = min_gap(z) / 2
    b, c = [], []
    for s in changed:
        for off, w in ((eta, 1), (0, -2), (-eta, 1)):
            b.append(-z[s] + off)
            c.append(residual[s] / eta * w)
    return TwoLayer(b, c)


def interpolate(z: list[Fraction], residual: list[Fraction]) -> TwoLayer:
    """Connect the dots: K - 1 units with kinks at the sorted z (all but the last)."""
    order = sorted(range(len(z)), key=lambda i: z[i])
    zs, rs = [z[i] for i in order], [residual[i] for i in order]
    slopes = [(rs[i + 1] - rs[i]) / (zs[i + 1] - zs[i]) for i in range(len(zs) - 1)]
    b = [-zs[i] for i in range(len(zs) - 1)]
    c = [slopes[0]] + [slopes[i] - slopes[i - 1] for i in range(1, len(slopes))]
    return TwoLayer(b, c, rs[0])


@dataclass
class ThreeLayer:
    """Layer 1: per group j a trapezoid T_j (4 units) that is 1 on [a_j, b_j] and 0 at data outside it, and
    one ramp R(z) = relu(z - zmin + 1). Layer 2: units p_k = relu(R - M + sum_j W[k][j] T_j), i.e. layer-2
    weights W[k][j] * (1, -1, -1, 1) / eps on group j's four units, 1 on the ramp, bias -M. Output sum_k c_k p_k.
    """

    a: list[Fraction]
    bnd: list[Fraction]
    eps: Fraction
    zmin: Fraction
    M: Fraction
    W: list[list[Fraction]]  # (6G, G)
    c: list[Fraction]  # (6G,)

    @property
    def widths(self) -> tuple[int, int]:
        return 4 * len(self.a) + 1, len(self.W)

    @property
    def neurons(self) -> int:
        return sum(self.widths)

    def layer1(self, z, num=Fraction, act=relu):
        T = [(act(z - a + self.eps) - act(z - a) - act(z - b) + act(z - b - self.eps)) / self.eps
             for a, b in zip(self.a, self.bnd)]
        return T, act(z - self.zmin + 1)

    def __call__(self, z: Fraction) -> Fraction:
        T, R = self.layer1(z)
        return sum((ck * relu(R - self.M + sum((w * t for w, t in zip(Wk, T)), Fraction(0)))
                    for Wk, ck in zip(self.W, self.c)), Fraction(0))

    def eval_float(self, z: float) -> float:
        act = lambda v: max(v, 0.0)  # noqa: E731
        eps = float(self.eps)
        T = [(act(z - float(a) + eps) - act(z - float(a)) - act(z - float(b)) + act(z - float(b) - eps)) / eps
             for a, b in zip(self.a, self.bnd)]
        R = act(z - float(self.zmin) + 1)
        M = float(self.M)
        return sum(float(ck) * act(R - M + sum(float(w) * t for w, t in zip(Wk, T)))
                   for Wk, ck in zip(self.W, self.c))


def three_layer(z: list[Fraction], residual: list[Fraction], changed) -> ThreeLayer:
    delta = min_gap(z)
    N = len(changed)
    G = math.isqrt(N - 1) + 1 if N > 0 else 0  # ceil(sqrt N)
    ordered = sorted(changed, key=lambda s: z[s])
    groups = [ordered[i:i + G] for i in range(0, N, G)]
    groups += [[] for _ in range(G - len(groups))]  # keep exactly G groups (some may be empty)
    zmin = min(z)
    M = max(z) - zmin + 1 + 10  # max of R over the data, plus a margin
    A = 4 * max(abs(residual[s]) for s in changed) / delta + 1
    a, bnd = [], []
    far = max(z) + 10 * delta  # an empty group's interval lies beyond every data point
    for grp in groups:
        lo, hi = (z[grp[0]] - delta / 2, z[grp[-1]] + delta / 2) if grp else (far, far + delta)
        a.append(lo)
        bnd.append(hi)
    W = [[Fraction(0)] * G for _ in range(6 * G)]
    c = [Fraction(0)] * (6 * G)
    for q in range(G):
        for sign_i, sign in enumerate((1, -1)):
            for k, w in enumerate((1, -2, 1)):
                c[(q * 2 + sign_i) * 3 + k] = sign * A * w
    for j, grp in enumerate(groups):
        for q, s in enumerate(grp):
            r = residual[s]
            if r == 0:
                continue
            sign_i = 0 if r > 0 else 1
            eta = abs(r) / A
            for k, off in enumerate((-eta, 0, eta)):
                kink = z[s] + off
                # On group j: pre-activation = z - zmin + 1 - M + W = z - kink.
                W[(q * 2 + sign_i) * 3 + k][j] = M - 1 + zmin - kink
    return ThreeLayer(a, bnd, delta / 4, zmin, M, W, c)


def check(g, z: list[Fraction], residual: list[Fraction], changed) -> dict:
    """Exact and float64 errors of g against the residual on all points and on the retained ones."""
    changed = set(int(s) for s in changed)
    exact = [abs(g(zi) - ri) for zi, ri in zip(z, residual)]
    flt = [abs(g.eval_float(float(zi)) - float(ri)) for zi, ri in zip(z, residual)]
    retained = [e for i, e in enumerate(exact) if i not in changed]
    return {"max_err": float(max(exact)), "max_err_retained": float(max(retained, default=0)),
            "max_err_float64": max(flt)}


def two_layer_size(N: int) -> int:
    return 3 * N


def three_layer_size(N: int) -> int:
    return 10 * (math.isqrt(N - 1) + 1) + 1 if N > 0 else 1
