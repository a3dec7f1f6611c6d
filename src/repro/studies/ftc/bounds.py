"""Breakpoint lower bounds on collinear data (restricted to a line, a ReLU network is piecewise linear).

Pattern "3 zeros between spikes": zeros, zeros, zeros, spike, zeros x3, spike, ..., zeros x3. Any continuous
piecewise-linear interpolant needs a landing and a take-off around each run of zeros and a peak at each
spike: at least 3N breakpoints. A 2-layer net with m units has <= m breakpoints; a 3-layer one with widths
(m1, m2) has <= m1 + m2 (m1 + 1), so m + m^2/4 >= 3N, i.e. m >= 2 (sqrt(1 + 3N) - 1).
"""

from __future__ import annotations

import math
from fractions import Fraction


def spike_pattern(N: int, zeros: int = 3) -> tuple[list[Fraction], list[Fraction]]:
    """Collinear points 0, 1, 2, ... with labels: `zeros` zeros, then a spike of height 1 + i, repeated."""
    ys = []
    for i in range(N):
        ys += [Fraction(0)] * zeros + [Fraction(1 + i)]
    ys += [Fraction(0)] * zeros
    return [Fraction(i) for i in range(len(ys))], ys


def breakpoints(g, xs: list[Fraction]) -> int:
    """Slope changes of g between consecutive points, probing each gap at its quarter points (exact)."""
    count = 0
    for a, b in zip(xs, xs[1:]):
        q1, q3 = a + (b - a) / 4, a + 3 * (b - a) / 4
        left = (g(q1) - g(a)) / (q1 - a)
        mid = (g(q3) - g(q1)) / (q3 - q1)
        right = (g(b) - g(q3)) / (b - q3)
        count += (left != mid) + (mid != right)
    slopes = [(g(b) - g(a)) for a, b in zip(xs, xs[1:])]  # kinks exactly at data points
    count += sum(1 for s, t in zip(slopes, slopes[1:]) if s != t)
    return count


def min_breakpoints_interpolant(ys: list[Fraction]) -> int:
    """Breakpoints of the connect-the-dots interpolant (unit spacing): a kink wherever the slope changes.
    For the spike pattern this equals the 3N lower bound, so the bound is attained."""
    slopes = [b - a for a, b in zip(ys, ys[1:])]
    return sum(1 for s, t in zip(slopes, slopes[1:]) if s != t)


def two_layer_lower(N: int) -> int:
    return 3 * N


def three_layer_lower(N: int) -> float:
    return 2 * (math.sqrt(1 + 3 * N) - 1)


def three_layer_max_breakpoints(m1: int, m2: int) -> int:
    return m1 + m2 * (m1 + 1)
