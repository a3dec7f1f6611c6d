"""Breakpoints of ReLU networks on a line, and lower bounds on them derived from the data.

Restricted to a line, a ReLU network is continuous and piecewise linear. A 2-layer net with m units has at
most m breakpoints (one kink per unit); a 3-layer one with widths (m1, m2) at most m1 + m2 (m1 + 1) (each
layer-2 unit's pre-activation is linear between the m1 layer-1 kinks, so it crosses zero at most once per
piece). So a lower bound L on the breakpoints any interpolant of the data needs gives m >= L (2-layer) and,
with m1 + m2 = m, m + m^2/4 >= L, i.e. m >= 2 (sqrt(1 + L) - 1) (3-layer).

The lower bound L comes from disjoint windows of the data, each forcing breakpoints strictly inside it:
- three consecutive points that are not collinear force one breakpoint between the outer two;
- a "bump" (two consecutive points on a line l, then at least one point off l, then two consecutive points
  on the same l) forces three: with two or fewer, the outer pieces would lie on l and the piece between
  them, continuous with both, too, so the off-line point could not be reached.
The best set of disjoint windows is found by weighted interval scheduling. On the spike pattern (3 zeros
between spikes) the bumps tile the line and L = 3N; on data where a kink between two points serves two
slope changes, L is below the connect-the-dots count, which is an upper bound on the minimum, not a bound.
"""

from __future__ import annotations

import bisect
import math
from fractions import Fraction

BUMP = 3


def spike_pattern(N: int, zeros: int = 3) -> tuple[list[Fraction], list[Fraction]]:
    """Collinear points 0, 1, 2, ... with labels: `zeros` zeros, then a spike of height 1 + i, repeated."""
    ys = []
    for i in range(N):
        ys += [Fraction(0)] * zeros + [Fraction(1 + i)]
    ys += [Fraction(0)] * zeros
    return [Fraction(i) for i in range(len(ys))], ys


def _slope_changes(g, candidates) -> list[Fraction]:
    """Points among `candidates` where g's slope changes, for g linear between consecutive candidates."""
    pts = sorted(set(candidates))
    if not pts:
        return []
    gaps = [b - a for a, b in zip(pts, pts[1:])]
    h = min(gaps) / 4 if gaps else Fraction(1)
    return [p for p in pts if (g(p) - g(p - h)) != (g(p + h) - g(p))]


def kinks(g) -> list[Fraction]:
    """Exact positions of g's breakpoints on the whole line, each counted once. g is a TwoLayer (kinks at
    -b_j; units sharing a position cancel when their output weights sum to 0) or a ThreeLayer (kinks of
    layer 1, plus where a layer-2 pre-activation crosses zero between them)."""
    if hasattr(g, "b"):  # TwoLayer
        return _slope_changes(g, [-bj for bj in g.b])
    layer1 = sorted({k for a, b in zip(g.a, g.bnd) for k in (a - g.eps, a, b, b + g.eps)} | {g.zmin - 1})
    cands = set(layer1)
    for Wk in g.W:
        def pre(z, Wk=Wk):  # layer-2 pre-activation of unit k, linear between layer-1 kinks
            T, R = g.layer1(z)
            return R - g.M + sum((w * t for w, t in zip(Wk, T)), Fraction(0))
        vals = [pre(z) for z in layer1]
        for lo, hi, a, b in zip(layer1, layer1[1:], vals, vals[1:]):
            if (a < 0 < b) or (b < 0 < a):
                cands.add(lo + (hi - lo) * a / (a - b))
        for edge, a, side in ((layer1[0], vals[0], -1), (layer1[-1], vals[-1], 1)):  # the two outer rays
            slope = side * (pre(edge + side) - a)
            if slope != 0 and (-a / slope) * side > 0:
                cands.add(edge - a / slope)
    return _slope_changes(g, cands)


def breakpoints(g, xs: list[Fraction] | None = None) -> int:
    """Number of breakpoints of g (on the whole line, or within [min xs, max xs] when xs is given)."""
    ks = kinks(g)
    if xs is not None:
        lo, hi = min(xs), max(xs)
        ks = [k for k in ks if lo <= k <= hi]
    return len(ks)


def _collinear(p, q, r) -> bool:
    return (q[1] - p[1]) * (r[0] - q[0]) == (r[1] - q[1]) * (q[0] - p[0])


def _windows(xs, ys, max_span: int = 12):
    """Candidate windows (i, j, forced breakpoints strictly inside (x_i, x_j))."""
    pts = list(zip(xs, ys))
    n = len(pts)
    out = []
    for i in range(n - 2):
        if not _collinear(pts[i], pts[i + 1], pts[i + 2]):
            out.append((i, i + 2, 1))
    for i in range(n - 1):  # bump: (i, i+1) on a line, some point off it, then (j-1, j) on the same line
        p, q = pts[i], pts[i + 1]
        off = False
        for j in range(i + 2, min(n, i + 2 + max_span)):
            if not _collinear(p, q, pts[j]):
                off = True
            elif off and _collinear(p, q, pts[j - 1]):
                out.append((i, j, BUMP))
                break
    return out


def lower_bound_breakpoints(xs: list[Fraction], ys: list[Fraction]) -> int:
    """A lower bound, derived from the data alone, on the breakpoints of any continuous piecewise-linear
    interpolant of the points (sorted by x): the heaviest set of disjoint windows (module docstring)."""
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    xs, ys = [xs[i] for i in order], [ys[i] for i in order]
    wins = sorted(_windows(xs, ys), key=lambda w: w[1])
    ends = [w[1] for w in wins]
    best = [0] * (len(wins) + 1)  # best[t]: heaviest disjoint set among the first t windows (by end)
    for t, (i, j, w) in enumerate(wins, 1):
        # open windows (x_i, x_j) and (x_i', x_j') are disjoint when j' <= i
        prev = bisect.bisect_right(ends, i, 0, t - 1)
        best[t] = max(best[t - 1], best[prev] + w)
    return best[-1]


def connect_the_dots_breakpoints(ys: list[Fraction]) -> int:
    """Breakpoints of the connect-the-dots interpolant (unit spacing): an upper bound on the minimum."""
    slopes = [b - a for a, b in zip(ys, ys[1:])]
    return sum(1 for s, t in zip(slopes, slopes[1:]) if s != t)


def two_layer_lower(breakpoints_needed: int) -> int:
    """Fewest units of a 2-layer net with this many breakpoints."""
    return breakpoints_needed


def three_layer_lower(breakpoints_needed: int) -> float:
    """Fewest units m = m1 + m2 of a 3-layer net with this many breakpoints: m + m^2/4 >= L."""
    return 2 * (math.sqrt(1 + breakpoints_needed) - 1)


def three_layer_max_breakpoints(m1: int, m2: int) -> int:
    return m1 + m2 * (m1 + 1)
