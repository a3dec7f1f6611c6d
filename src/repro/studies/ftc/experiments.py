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
            p = D.make_problem(fs[d], K, d, N, seed + 1000 * i + N)
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
    rows = []
    for N in Ns:
        xs, ys = B.spike_pattern(N)
        changed = [i for i, y in enumerate(ys) if y != 0]
        g = C.two_layer(xs, ys, changed)
        rows.append({"N": N, "K": len(xs), "min_interpolant_breakpoints": B.min_breakpoints_interpolant(ys),
                     "two_layer_lower": B.two_layer_lower(N), "two_layer_neurons": g.neurons,
                     "two_layer_breakpoints": B.breakpoints(g, xs),
                     "three_layer_lower": B.three_layer_lower(N), "three_layer_neurons": C.three_layer_size(N)})
    return pd.DataFrame(rows)


def trained_table(fs: dict, depth: int, problems: list[dict], Ns: list[int], seeds: list[int], steps: int,
                  lr: float, tol: float, m_max: int, device="cpu") -> pd.DataFrame:
    rows = []
    for prob in problems:
        K, d = prob["K"], prob["d"]
        for N in Ns:
            for seed in seeds:
                p = D.make_problem(fs[d], K, d, N, 7919 * seed + N)
                m = T.min_width(p.X, p.residual, p.changed, depth, seed, steps, lr, tol, m_max, device)
                rows.append({"depth": depth, "K": K, "d": d, "N": N, "seed": seed, "m_star": m})
                print(f"[ftc] depth {depth} K {K} d {d} N {N} seed {seed}: m* = {m}", flush=True)
    return pd.DataFrame(rows)
