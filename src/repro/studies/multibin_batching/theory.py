"""Closed forms for k-bin batching with batch size B (the brief's Section "Closed forms").

A batch occupies the single server until its longest request finishes, so with bins i of mass p_i,
    E[t_service,k] = sum_i p_i E[max of B lengths drawn from bin i],   C_k = B / E[t_service,k],
and no batching policy with batch size B beats C_inf = B / E[l].

Length distributions are objects with a vectorised `cdf`, a `quantile` and a support [lo, hi]; general bins
are integrated numerically: E[max of B | bin [a, b)] = a + int_a^b (1 - G(x)^B) dx, G the conditional CDF.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

GRID = 4001  # integration points per bin


@dataclass(frozen=True)
class Uniform:
    lo: float
    hi: float

    def cdf(self, x):
        return np.clip((np.asarray(x, float) - self.lo) / (self.hi - self.lo), 0.0, 1.0)

    def quantile(self, q):
        return self.lo + np.asarray(q, float) * (self.hi - self.lo)

    def sample(self, n, rng):
        return rng.uniform(self.lo, self.hi, n)

    def mean(self):
        return (self.lo + self.hi) / 2


@dataclass(frozen=True)
class ClippedLogNormal:
    """exp(N(mu, sigma^2)) clipped to [lo, hi]: point masses at both ends, like real output-length caps."""
    mu: float
    sigma: float
    lo: float
    hi: float

    def cdf(self, x):
        x = np.asarray(x, float)
        inner = stats.norm.cdf((np.log(np.maximum(x, 1e-300)) - self.mu) / self.sigma)
        return np.where(x < self.lo, 0.0, np.where(x >= self.hi, 1.0, inner))

    def quantile(self, q):
        return np.clip(np.exp(self.mu + self.sigma * stats.norm.ppf(np.asarray(q, float))), self.lo, self.hi)

    def sample(self, n, rng):
        return np.clip(np.exp(rng.normal(self.mu, self.sigma, n)), self.lo, self.hi)

    def mean(self):
        xs = np.linspace(self.lo, self.hi, 200001)
        return self.lo + np.trapezoid(1 - self.cdf(xs), xs)


def distribution(spec: dict):
    """Config block -> distribution: {kind: uniform, lo, hi} or {kind: lognormal, mu, sigma, lo, hi}."""
    kind = spec["kind"]
    if kind == "uniform":
        return Uniform(float(spec["lo"]), float(spec["hi"]))
    if kind == "lognormal":
        return ClippedLogNormal(float(spec["mu"]), float(spec["sigma"]), float(spec["lo"]), float(spec["hi"]))
    raise ValueError(f"length distribution kind must be uniform or lognormal, got {kind!r}")


# ------------------------------------------------------------------------------------------ uniform lengths
def uniform_service_time(k, B, lo, hi):
    """E[t_service,k] for U[lo, hi] lengths and k equal-width (= equal-mass) bins."""
    return (lo + hi) / 2 + (hi - lo) * (B - 1) / (2 * k * (B + 1))


def uniform_capacity(k, B, lo, hi):
    return B / uniform_service_time(k, B, lo, hi)


def gain_bound(k):
    """C_k / C_1 <= 2k / (k + 1) for lo = 0 (the B -> infinity limit)."""
    return 2 * k / (k + 1)


def bins_for_near_optimal(eps, B, lo, hi):
    """Smallest k with C_k >= (1 - eps) C_inf for uniform lengths."""
    return math.ceil((1 - eps) / eps * (hi - lo) / (lo + hi) * (B - 1) / (B + 1))


# ------------------------------------------------------------------------------------------ general bins
def equal_mass_boundaries(dist, k):
    """k + 1 boundaries at the 0, 1/k, ..., 1 quantiles (the support's ends outermost)."""
    b = dist.quantile(np.linspace(0, 1, k + 1))
    b[0], b[-1] = dist.lo, dist.hi
    return b


def bin_expected_max(dist, a, b, B):
    """(p, E[max of B | l in [a, b]]) by integrating the conditional CDF (point masses at the ends included)."""
    Fa = 0.0 if a <= dist.lo else float(dist.cdf(a - 1e-12))
    Fb = 1.0 if b >= dist.hi else float(dist.cdf(b))
    p = Fb - Fa
    if p <= 0:
        return 0.0, 0.0
    xs = np.linspace(a, b, GRID)
    G = np.clip((dist.cdf(xs) - Fa) / p, 0.0, 1.0)
    G[-1] = 1.0
    return p, a + float(np.trapezoid(1 - G**B, xs))


def service_time(dist, boundaries, B):
    """E[t_service] for bins [b_0, b_1), ..., [b_{k-1}, b_k] under `dist` (oracle lengths)."""
    return sum(p * m for p, m in (bin_expected_max(dist, a, b, B) for a, b in zip(boundaries[:-1], boundaries[1:])))


def capacity(dist, boundaries, B):
    return B / service_time(dist, boundaries, B)


def optimal_boundaries(dist, k, B, grid=240):
    """Boundaries minimising E[t_service,k], by dynamic programming over candidate cut points at quantiles
    of `dist` (exact on the grid; the optimum of a k-bin partition is a contiguous split of the support)."""
    cuts = np.unique(np.concatenate([[dist.lo], dist.quantile(np.linspace(0, 1, grid + 1)[1:-1]), [dist.hi]]))
    n = len(cuts)
    cost = np.full((n, n), np.inf)
    for i in range(n - 1):
        for j in range(i + 1, n):
            p, m = bin_expected_max(dist, cuts[i], cuts[j], B)
            cost[i, j] = p * m
    best = np.full((k + 1, n), np.inf)
    arg = np.zeros((k + 1, n), dtype=int)
    best[0, 0] = 0.0
    for m in range(1, k + 1):
        for j in range(1, n):
            tot = best[m - 1, :j] + cost[:j, j]
            arg[m, j] = int(np.argmin(tot))
            best[m, j] = tot[arg[m, j]]
    out, j = [n - 1], n - 1
    for m in range(k, 0, -1):
        j = arg[m, j]
        out.append(j)
    return cuts[np.array(out[::-1])]


def low_load_latency(k, B, lam, service):
    """Mean latency at low load: each of k equal-mass bins fills at rate lam / k, so a request waits for
    (B - 1) / 2 further arrivals on average, then for its own batch: k (B - 1) / (2 lam) + E[t_service,k]."""
    return k * (B - 1) / (2 * lam) + service
