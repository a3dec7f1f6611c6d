"""ftc experiments as functions of plain settings -> DataFrames."""

from __future__ import annotations

import pandas as pd
import torch

from repro.studies.ftc import bounds as B
from repro.studies.ftc import constructions as C
from repro.studies.ftc import data as D
from repro.studies.ftc import trained as T


def load_f(state: dict, cfg: dict) -> torch.nn.Sequential:
    f = torch.nn.Sequential(torch.nn.Linear(cfg["d"], cfg["width"]), torch.nn.ReLU(),
                            torch.nn.Linear(cfg["width"], 1)).double()
    f.load_state_dict(state)
    return f.eval()


def load_fs(paths) -> dict:
    """The frozen f of every checkpoint, keyed by input dimension."""
    from repro.core.io import load_checkpoint

    fs = {}
    for path in paths:
        state, cfg = load_checkpoint(path)
        fs[cfg["d"]] = load_f(state, cfg)
    return fs


def constructions_table(fs: dict, problems: list[dict], Ns: list[int], seed: int) -> pd.DataFrame:
    """Both constructions (and interpolation when N = K) for every (K, d, N), checked exactly."""
    rows = []
    for i, prob in enumerate(problems):
        K, d = prob["K"], prob["d"]
        for N in Ns:
            if N > K:
                continue
            # seed * k + j: another seed set (seed + 1000) never meets problem i's draw, as seed + 1000 i did
            p = D.make_problem(fs[d], K, d, N, seed * 1_000_003 + 1000 * i + N)
            _, z = C.projection(p.X, seed + i)
            r = p.exact_residual()
            nets = {"2-layer": (C.two_layer(z, r, p.changed), C.two_layer_size(N)),
                    "3-layer": (C.three_layer(z, r, p.changed), C.three_layer_size(N))}
            if N == K:
                nets["interpolation"] = (C.interpolate(z, r), K - 1)
            for depth, (g, formula) in nets.items():
                rows.append({"K": K, "d": d, "N": N, "construction": depth, "neurons": g.neurons,
                             "formula": formula, "delta": float(C.min_gap(z)), **C.check(g, z, r, p.changed)})
    return pd.DataFrame(rows)


def bounds_table(Ns: list[int]) -> pd.DataFrame:
    """On the spike pattern: the data-derived breakpoint lower bound, the units it forces, and both exact
    constructions with their sizes and exactly counted breakpoints."""
    rows = []
    for N in Ns:
        xs, ys = B.spike_pattern(N)
        changed = [i for i, y in enumerate(ys) if y != 0]
        g2, g3 = C.two_layer(xs, ys, changed), C.three_layer(xs, ys, changed)
        lower = B.lower_bound_breakpoints(xs, ys)
        rows.append({"N": N, "K": len(xs), "lower_bound_breakpoints": lower,
                     "connect_the_dots_breakpoints": B.connect_the_dots_breakpoints(ys),
                     "two_layer_min_units": B.two_layer_lower(lower), "two_layer_neurons": g2.neurons,
                     "two_layer_breakpoints": B.breakpoints(g2),
                     "two_layer_exact": all(g2(x) == y for x, y in zip(xs, ys)),
                     "three_layer_min_units": B.three_layer_lower(lower), "three_layer_neurons": g3.neurons,
                     "three_layer_breakpoints": B.breakpoints(g3),
                     "three_layer_max_breakpoints": B.three_layer_max_breakpoints(*g3.widths),
                     "three_layer_exact": all(g3(x) == y for x, y in zip(xs, ys))})
    return pd.DataFrame(rows)


def setting_label(prob: dict) -> str:
    return f"K={prob['K_per_N']}N,d={prob['d']}" if "K_per_N" in prob else f"K={prob['K']},d={prob['d']}"


def trained_table(fs: dict, depth: int, problems: list[dict], Ns: list[int], seeds: list[int], steps: int,
                  lr: float, tol: float, m_max: int, device="cpu") -> pd.DataFrame:
    """m* for every problem, N and seed. A problem fixes K ({K, d}) or lets it grow with N ({K_per_N, d})."""
    rows = []
    for prob in problems:
        d = prob["d"]
        for N in Ns:
            K = prob["K_per_N"] * N if "K_per_N" in prob else prob["K"]
            if N > K:
                continue
            for seed in seeds:
                p = D.make_problem(fs[d], K, d, N, 7919 * seed + N)
                m = T.min_width(p.X, p.residual, p.changed, depth, seed, steps, lr, tol, m_max, device)
                rows.append({"depth": depth, "setting": setting_label(prob), "K_grows_with_N": "K_per_N" in prob,
                             "K": K, "d": d, "N": N, "seed": seed, "m_star": m})
                print(f"[ftc] depth {depth} K {K} d {d} N {N} seed {seed}: m* = {m}", flush=True)
    return pd.DataFrame(rows)
