"""The multibin_batching experiments, each returning one tidy table.

Every simulated quantity is measured in `repeats` independent repeats (the unit of the claims' intervals), each
with its own random stream derived from the configured seed. Within a repeat every setting of an experiment
draws the same stream (common random numbers), so comparisons between settings are paired by repeat. Tables keep
one row per setting: the mean over repeats under the column's name and the per-repeat values, in repeat order,
as `<column>_repeats`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from repro.studies.multibin_batching import simulate as S
from repro.studies.multibin_batching import theory as T

PLAN_STREAM = 1  # the planner's targets: a stream apart from the simulations' (seed, repeat) ones


def _rng(seed: int, *key: int) -> np.random.Generator:
    """A random stream derived from the configured seed (which `seed_set` moves) and a repeat/stream key."""
    return np.random.default_rng([int(seed), *map(int, key)])


def _collapse(long: pd.DataFrame, keys: list[str], noisy: list[str]) -> pd.DataFrame:
    """One row per setting (`keys`, in first-seen order): the mean over repeats of every `noisy` column (every
    repeat for a boolean one), the per-repeat values as `<column>_repeats`; other columns are the same in every
    repeat."""
    long = long.sort_values("repeat", kind="stable")
    rows = []
    for _, g in long.groupby(keys, sort=False, dropna=False):
        row = g.iloc[0].drop("repeat").to_dict()
        for c in noisy:
            vals = g[c].tolist()
            row[c] = bool(all(vals)) if g[c].dtype == bool else float(np.mean(vals))
            row[f"{c}_repeats"] = [bool(v) for v in vals] if g[c].dtype == bool else [float(v) for v in vals]
        rows.append(row)
    out = pd.DataFrame(rows)
    # a row read back from a mixed frame turns integers into floats: restore every column's own type
    return out.astype({c: t for c, t in long.dtypes.items() if c in out and t.kind != "O"})


def _saturated(dist, boundaries, B, n, rng, predicted_sigma=0.0):
    """Capacity measured with the queue: arrivals at 50x the k = 1 capacity (above every k's capacity, which is
    below 2x C_1) keep it growing, and served requests are counted per unit time."""
    length = dist.sample(n, rng)
    lam = 50 * T.capacity(dist, T.equal_mass_boundaries(dist, 1), B)
    res = S.simulate(S.poisson_arrivals(n, lam, rng), length, S.noisy_prediction(length, predicted_sigma, rng),
                     boundaries, B)
    return S.saturated_throughput(res)


def capacity(cfg: dict, seed: int) -> pd.DataFrame:
    """Simulated saturated throughput against the closed form, uniform lengths, every (range, B, k) and repeat."""
    rows = []
    for rep in range(cfg["repeats"]):
        for lo, hi in cfg["ranges"]:
            dist = T.Uniform(lo, hi)
            for B in cfg["batch_sizes"]:
                c1 = T.uniform_capacity(1, B, lo, hi)
                for k in cfg["ks"]:
                    bounds = T.equal_mass_boundaries(dist, k)
                    sim = _saturated(dist, bounds, B, cfg["n_requests"], _rng(seed, rep))
                    closed = T.uniform_capacity(k, B, lo, hi)
                    rows.append({"repeat": rep, "lo": lo, "hi": hi, "B": B, "k": k, "sim_capacity": sim,
                                 "closed_form": closed, "integrated": T.capacity(dist, bounds, B),
                                 "c_inf": B / dist.mean(), "rel_err": sim / closed - 1, "gain_closed": closed / c1,
                                 "gain_bound": T.gain_bound(k) if lo == 0 else np.nan})
    out = pd.DataFrame(rows)
    base = out[out.k == 1].set_index(["repeat", "lo", "hi", "B"]).sim_capacity
    out["sim_gain"] = out.sim_capacity / [base[(r.repeat, r.lo, r.hi, r.B)] for r in out.itertuples()]
    return _collapse(out, ["lo", "hi", "B", "k"], ["sim_capacity", "rel_err", "sim_gain"])


def equal_mass_optimality(cfg: dict) -> pd.DataFrame:
    """Boundaries minimising E[t_service] for uniform lengths against equal widths (Lemma 4.1)."""
    rows = []
    for lo, hi in cfg["ranges"]:
        dist = T.Uniform(lo, hi)
        for k in [k for k in cfg["ks"] if k > 1 and k <= cfg["optimise_max_k"]]:
            B = cfg["batch_sizes"][0]
            opt = T.optimal_boundaries(dist, k, B, grid=cfg["optimise_grid"])
            eq = T.equal_mass_boundaries(dist, k)
            rows.append({"lo": lo, "hi": hi, "B": B, "k": k, "max_boundary_dev": float(np.abs(opt - eq).max()),
                         "grid_step": (hi - lo) / cfg["optimise_grid"],
                         "service_opt": T.service_time(dist, opt, B), "service_equal": T.service_time(dist, eq, B),
                         "boundaries_opt": opt.tolist()})
    return pd.DataFrame(rows)


def heavy_tail(cfg: dict, seed: int) -> pd.DataFrame:
    """Clipped lognormal lengths: equal-mass (quantile) bins against optimised bins, theory and simulation."""
    dist = T.distribution(cfg["distribution"])
    B = cfg["B"]
    c1 = T.capacity(dist, T.equal_mass_boundaries(dist, 1), B)
    plans = [(k, name, bounds) for k in cfg["ks"]
             for name, bounds in (("equal_mass", T.equal_mass_boundaries(dist, k)),
                                  ("optimised", T.optimal_boundaries(dist, k, B, grid=cfg["optimise_grid"])))]
    rows = []
    for rep in range(cfg["repeats"]):
        for k, name, bounds in plans:
            cap = T.capacity(dist, bounds, B)
            sim = _saturated(dist, bounds, B, cfg["n_requests"], _rng(seed, rep))
            rows.append({"repeat": rep, "k": k, "bins": name, "boundaries": bounds.tolist(),
                         "boundary_quantiles": dist.cdf(bounds).tolist(), "capacity": cap, "sim_capacity": sim,
                         "gain": cap / c1, "sim_gain": sim / c1, "c_inf": B / dist.mean()})
    return _collapse(pd.DataFrame(rows), ["k", "bins"], ["sim_capacity", "sim_gain"])


def noise_ablation(cfg: dict, seed: int) -> pd.DataFrame:
    """Saturated throughput with a noisy length predictor l_hat = l exp(sigma N(0,1)); bins at equal-mass
    quantiles of the *predicted* lengths (what a server can see). Same requests and noise for every k."""
    dist = T.distribution(cfg["distribution"])
    B = cfg["B"]
    rows = []
    for rep in range(cfg["repeats"]):
        for sigma in cfg["sigmas"]:
            rng = _rng(seed, rep)
            n = cfg["n_requests"]
            length = dist.sample(n, rng)
            pred = S.noisy_prediction(length, sigma, rng)
            arr = S.poisson_arrivals(n, 50 * T.capacity(dist, T.equal_mass_boundaries(dist, 1), B), rng)
            base = None
            for k in cfg["ks"]:
                bounds = np.quantile(pred, np.linspace(0, 1, k + 1))
                bounds[0], bounds[-1] = -np.inf, np.inf
                thr = S.saturated_throughput(S.simulate(arr, length, pred, bounds, B))
                base = thr if k == 1 else base
                rows.append({"repeat": rep, "sigma": sigma, "k": k, "sim_capacity": thr, "gain": thr / base})
    return _collapse(pd.DataFrame(rows), ["sigma", "k"], ["sim_capacity", "gain"])


def load_sweep(cfg: dict, seed: int) -> pd.DataFrame:
    """Throughput and mean/p99 latency against arrival rate for every k (FCFS, one server), with the flush
    rule off and, separately, on. Rates are fractions of C_inf; a rate above C_k is unstable for that k."""
    dist = T.distribution(cfg["distribution"])
    B = cfg["B"]
    c_inf = B / dist.mean()
    rows = []
    for rep in range(cfg["repeats"]):
        for frac in cfg["load_fractions"]:
            lam = frac * c_inf
            rng = _rng(seed, rep)
            n = cfg["n_requests"]
            arr, length = S.poisson_arrivals(n, lam, rng), dist.sample(n, rng)
            for k in cfg["ks"]:
                bounds = T.equal_mass_boundaries(dist, k)
                service = T.service_time(dist, bounds, B)
                for timeout in [None] + ([cfg["timeout"]] if cfg.get("timeout") else []):
                    res = S.simulate(arr, length, length, bounds, B, timeout=timeout)
                    rows.append({"repeat": rep, "lam": lam, "load": frac, "k": k, "flush": timeout is not None,
                                 "timeout": timeout or np.nan, "capacity": B / service, "stable": lam < B / service,
                                 "throughput": S.throughput(res), **S.latency_stats(res), **S.stability(res),
                                 "low_load_formula": T.low_load_latency(k, B, lam, service),
                                 "flushed_batches": float(res.batch_flushed.mean())})
    return _collapse(pd.DataFrame(rows), ["load", "k", "flush"],
                     ["throughput", "mean_latency", "p99_latency", "served_over_arrival", "latency_growth",
                      "measured_stable", "flushed_batches"])


def llm(cfg: dict, *, seed: int, device) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Measured tokens/s of static batching for every k, and per-step decode time against B.

    Bins are equal-count chunks of the requests ranked by target length (ties broken by request order), so
    every bin of n/k requests fills whole batches. The k arms run interleaved within every repeat (k = 1, 2,
    4, then again), so load from other programs hits every arm alike; gains are taken per repeat."""
    from repro.studies.multibin_batching import llm as L

    model, prompt, eos = L.load(cfg["model"], device, cfg["dtype"], seed=seed)
    lo, hi, B = cfg["lengths"][0], cfg["lengths"][1], cfg["B"]
    rng = np.random.default_rng(seed)
    targets = rng.integers(lo, hi + 1, cfg["n_requests"])
    L.run_batch(model, prompt, eos, B, 4)  # warm-up: first-call allocations must not count against k = 1
    rows = []
    for rep in range(cfg["repeats"]):
        for k in cfg["ks"]:
            plan = L.plan_batches_by_rank(targets, k, B)
            out = L.serve(model, prompt, eos, targets, plan, desc=f"llm k={k} repeat {rep}")
            rows.append({"repeat": rep, "k": k, "B": B, **out,
                         "theory_gain": T.uniform_capacity(k, B, lo, hi) / T.uniform_capacity(1, B, lo, hi)})
    thr = pd.DataFrame(rows).assign(model=cfg["model"], dtype=cfg["dtype"], device=str(device))
    k1 = thr[thr.k == 1].set_index("repeat")
    thr["gain"] = thr.tokens_per_s / thr.repeat.map(k1.tokens_per_s)
    # the gain if every decode step cost the same: fewer padded steps for the same useful tokens
    thr["steps_gain"] = thr.repeat.map(k1.decode_steps) / thr.decode_steps
    # per-step time against B, every batch size timed once per repeat, interleaved like the k arms
    steps = pd.DataFrame([{"repeat": rep, "B": b,
                           "seconds_per_step": L.step_time(model, prompt, eos, b, cfg["step_tokens"])}
                          for rep in range(cfg["repeats"]) for b in cfg["step_batch_sizes"]])
    steps["tokens_per_s"] = steps.B / steps.seconds_per_step
    return thr, steps


def planned_step_gain(cfg: dict, seed: int) -> pd.DataFrame:
    """The decode-step gain of the same rank-binned planner on many requests (no model: the step count of a
    static batch is its longest target), against the closed form C_k / C_1: one independent draw of
    plan_requests targets per repeat."""
    from repro.studies.multibin_batching import llm as L

    lo, hi, B = cfg["lengths"][0], cfg["lengths"][1], cfg["B"]
    rows = []
    for rep in range(cfg["repeats"]):
        targets = _rng(seed, PLAN_STREAM, rep).integers(lo, hi + 1, cfg["plan_requests"])
        steps = {k: sum(int(targets[idx].max()) for idx in L.plan_batches_by_rank(targets, k, B)) for k in cfg["ks"]}
        rows += [{"repeat": rep, "k": k, "B": B, "requests": len(targets), "decode_steps": steps[k],
                  "steps_gain": steps[1] / steps[k],
                  "theory_gain": T.uniform_capacity(k, B, lo, hi) / T.uniform_capacity(1, B, lo, hi)}
                 for k in cfg["ks"]]
    return pd.DataFrame(rows)
