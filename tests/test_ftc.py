"""ftc library (issue 7): exact fits on all K points, the stated neuron counts, breakpoint bounds."""

import numpy as np
import pytest

from repro.studies.ftc import bounds as B
from repro.studies.ftc import constructions as C
from repro.studies.ftc import data as D
from repro.studies.ftc import trained as T


def _problem(K, d, N, seed, near=False):
    rng = np.random.default_rng(seed)
    X = D.grid_points(K, d, rng)
    if near:  # two points one grid step apart: nearly coincident projections
        X[1] = X[0]
        X[1, 0] += 1 / D.GRID
    f_out = np.round(rng.normal(size=K) * 2**20) / 2**20
    changed = np.sort(rng.choice(K, size=N, replace=False))
    if near:
        changed = np.unique(np.r_[0, changed[: N - 1]])
    new = f_out.copy()
    new[changed] = rng.uniform(-3, 3, size=len(changed))
    return D.Problem(X, f_out, changed, new)


@pytest.mark.parametrize("K, d, N, near", [(40, 3, 1, False), (60, 3, 9, False), (80, 5, 17, True),
                                           (50, 2, 50, False)])
def test_constructions_fit_every_point_exactly(K, d, N, near):
    p = _problem(K, d, N, seed=K + N, near=near)
    u, z = C.projection(p.X, seed=1)
    r = p.exact_residual()
    nets = [C.two_layer(z, r, p.changed), C.three_layer(z, r, p.changed)]
    if N == K:
        nets.append(C.interpolate(z, r))
    for g in nets:
        for i, zi in enumerate(z):
            assert g(zi) == r[i], (type(g).__name__, i)  # exact: retained points give exactly 0
    # f + g reproduces the new labels, and the old labels off the changed set
    f = p.exact(p.f_out)
    y_new = p.exact(p.new_labels)
    assert all(f[i] + nets[0](z[i]) == y_new[i] for i in range(K))


@pytest.mark.parametrize("N", [1, 2, 4, 5, 9, 10, 16, 30])
def test_neuron_counts_match_the_formulas(N):
    p = _problem(max(40, 2 * N), 3, N, seed=N)
    _, z = C.projection(p.X, seed=0)
    r = p.exact_residual()
    assert C.two_layer(z, r, p.changed).neurons == 3 * N == C.two_layer_size(N)
    g3 = C.three_layer(z, r, p.changed)
    G = int(np.ceil(np.sqrt(N)))
    assert g3.neurons == 10 * G + 1 == C.three_layer_size(N)
    assert g3.widths == (4 * G + 1, 6 * G)
    assert C.interpolate(z, r).neurons == len(z) - 1


def test_float64_is_not_exact_but_fractions_are():
    p = _problem(200, 4, 25, seed=3)
    _, z = C.projection(p.X, seed=0)
    r = p.exact_residual()
    res = C.check(C.three_layer(z, r, p.changed), z, r, p.changed)
    assert res["max_err"] == 0 and res["max_err_retained"] == 0
    assert res["max_err_float64"] > 0


@pytest.mark.parametrize("N", [1, 2, 3, 5])
def test_spike_pattern_needs_3N_breakpoints_and_the_two_layer_construction_has_them(N):
    xs, ys = B.spike_pattern(N)
    assert B.min_breakpoints_interpolant(ys) == B.two_layer_lower(N) == 3 * N
    changed = [i for i, y in enumerate(ys) if y != 0]
    g = C.two_layer(xs, ys, changed)
    assert all(g(x) == y for x, y in zip(xs, ys))
    assert B.breakpoints(g, xs) >= 3 * N and g.neurons == 3 * N  # tight on this pattern
    m3 = C.three_layer_size(N)
    assert m3 >= B.three_layer_lower(N)


def test_trained_search_finds_a_width_that_fits():
    p = _problem(64, 4, 2, seed=0)
    m = T.min_width(p.X, p.residual, p.changed, depth=2, seed=0, steps=1500, lr=1e-2, tol=0.05, m_max=256)
    assert m is not None and T.fits(p.X, p.residual, p.changed, m, 2, 0, 1500, 1e-2, 0.05)
    assert T.slope([4, 16, 64], [8, 16, 32]) == pytest.approx(0.5)
