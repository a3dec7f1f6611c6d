"""multibin_batching claims, each computed from the experiment tables by the rule it states."""

from __future__ import annotations

import numpy as np
import pandas as pd

from repro.core.claims import Claim

CAPACITY_TOL = 0.01  # the brief: simulated capacity within 1% of the closed form (uniform lengths)
LATENCY_TOL = 0.10  # low-load mean latency within 10% of k(B-1)/(2 lambda) + E[t_k]


def _increasing(x) -> bool:
    x = np.asarray(x, float)
    return bool(len(x) >= 2 and np.all(np.diff(x) > 0))


def all_claims(cap: pd.DataFrame, eqm: pd.DataFrame, ht: pd.DataFrame, noise: pd.DataFrame, load: pd.DataFrame,
               thr: pd.DataFrame, steps: pd.DataFrame, planned: pd.DataFrame, gain_tol: float,
               step_gain_tol: float) -> list[Claim]:
    worst = cap.loc[cap.rel_err.abs().idxmax()]
    cap_ok = bool((cap.rel_err.abs() < CAPACITY_TOL).all())

    grows = {}
    for (lo, hi, B), g in cap.groupby(["lo", "hi", "B"]):
        g = g.sort_values("k")
        row = {"sim_increasing": _increasing(g.sim_capacity), "below_c_inf": bool((g.sim_capacity < g.c_inf).all()),
               "max_sim_gain": float(g.sim_gain.max())}
        if lo == 0:  # the bound 2k/(k+1) is for l_min = 0: check the simulated gains against it
            row["sim_gain_over_bound"] = float((g.sim_gain / g.gain_bound).max())
        grows[f"U[{lo:g},{hi:g}],B={B}"] = row
    bounded = [v["sim_gain_over_bound"] for v in grows.values() if "sim_gain_over_bound" in v]
    grows_ok = bool(bounded) and all(v["sim_increasing"] and v["below_c_inf"] for v in grows.values()) \
        and all(b <= 1 + CAPACITY_TOL for b in bounded)

    eq_ok = bool((eqm.max_boundary_dev <= 2 * eqm.grid_step).all())

    off = load[~load.flush]
    low = off[off.load == off.load.min()].sort_values("k")
    ratio = (low.mean_latency / low.low_load_formula).tolist()
    low_ok = _increasing(low.mean_latency) and all(abs(r - 1) < LATENCY_TOL for r in ratio)
    # loads where k = 1 is overloaded but a bigger k is not. Stability is measured (served rate and latency
    # growth in the queue), and must agree with the closed form away from the boundary (|lam/C_k - 1| > 5%).
    c1 = off[off.k == 1].capacity.iloc[0]
    cmax = off.capacity.max()
    clear = off[(off.lam / off.capacity - 1).abs() > 0.05]
    disagree = clear[clear.measured_stable != clear.stable]
    mid = off[(off.lam > c1) & (off.lam < cmax)]
    near = {}
    for lam, g in mid.groupby("lam"):
        stable = g[g.measured_stable]
        near[f"{lam:.4g}"] = {"k1_mean_latency": float(g[g.k == 1].mean_latency.iloc[0]),
                              "k1_measured_stable": bool(g[g.k == 1].measured_stable.iloc[0]),
                              "measured_stable_ks": stable.k.tolist(),
                              "best_stable_mean_latency": float(stable.mean_latency.min()) if len(stable) else None}
    near_ok = bool(near) and disagree.empty and all(
        v["measured_stable_ks"] and not v["k1_measured_stable"] and v["best_stable_mean_latency"] < v["k1_mean_latency"]
        for v in near.values())

    ht_rows = {}
    for k, g in ht.groupby("k"):
        e, o = g[g.bins == "equal_mass"].iloc[0], g[g.bins == "optimised"].iloc[0]
        ht_rows[f"k={k}"] = {"equal_mass_gain": float(e.sim_gain), "optimised_gain": float(o.sim_gain),
                             "optimised_boundary_quantiles": [round(q, 3) for q in o.boundary_quantiles[1:-1]]}
    ht_ok = all(v["optimised_gain"] > v["equal_mass_gain"] for v in ht_rows.values())

    noise_rows = {f"k={k}": g.sort_values("sigma").gain.round(4).tolist() for k, g in noise[noise.k > 1].groupby("k")}
    noise_ok = all(_increasing(list(reversed(v))) for v in noise_rows.values())

    plan = planned.set_index("k")
    plan_rows = {f"k={k}": {"planned_step_gain": float(r.steps_gain), "theory": float(r.theory_gain),
                            "ratio": float(r.steps_gain / r.theory_gain)} for k, r in plan.iterrows() if k > 1}
    plan_ok = bool(plan_rows) and all(abs(v["ratio"] - 1) <= step_gain_tol for v in plan_rows.values())

    m = thr.groupby("k")[["gain", "steps_gain", "theory_gain"]].median()
    spread = thr.groupby("k").gain.agg(["min", "max"])
    big = m[m.index > 1]
    llm_rows = {f"k={k}": {"median_time_gain": float(r.gain), "step_gain": float(r.steps_gain),
                           "time_over_step": float(r.gain / r.steps_gain), "theory": float(r.theory_gain),
                           "gain_range": [float(spread.loc[k, "min"]), float(spread.loc[k, "max"])]}
                for k, r in big.iterrows()}
    llm_ok = (bool(len(big)) and bool((big.gain > 1).all()) and _increasing(m.gain)
              and all(abs(v["time_over_step"] - 1) <= gain_tol for v in llm_rows.values()))
    steps_ok = _increasing(steps.sort_values("B").tokens_per_s)
    return [
        Claim("capacity_closed_form",
              "The capacity measured in the simulated queue equals C_k = B / E[t_service,k] (uniform lengths).",
              f"|simulated / closed form - 1| < {CAPACITY_TOL:.0%} for every length range, B and k; simulated = "
              "served requests per unit time in the FCFS queue with arrivals above capacity",
              {"worst_rel_err": float(worst.rel_err), "settings": int(len(cap)),
               "worst_setting": f"U[{worst.lo:g},{worst.hi:g}], B={int(worst.B)}, k={int(worst.k)}"},
              holds=cap_ok, figure="capacity_vs_k.png", paper_value="Theorem 4.2 (C_k = B / E[t_service,k])"),
        Claim("capacity_grows_with_k",
              "Capacity increases with k towards B / E[l], and the gain over k = 1 stays below 2x.",
              f"for every (range, B): simulated C_k increasing in k and < B/E[l]; on l_min = 0 ranges the simulated "
              f"gain C_k/C_1 <= 2k/(k+1) x (1 + {CAPACITY_TOL:.0%})",
              grows, holds=grows_ok, figure="capacity_vs_k.png", paper_value="C_k / C_1 <= 2k/(k+1) (l_min = 0)"),
        Claim("equal_mass_optimal_uniform",
              "For uniform lengths equal-width (= equal-mass) bins minimise the expected service time.",
              "boundaries found by dynamic programming on a grid are within 2 grid steps of equal widths",
              {"max_boundary_dev": float(eqm.max_boundary_dev.max()), "grid_step": float(eqm.grid_step.max())},
              holds=eq_ok, figure="capacity_vs_k.png", paper_value="Lemma 4.1"),
        Claim("low_load_latency",
              "At low load the mean latency grows with k as k(B-1)/(2 lambda) + E[t_service,k].",
              f"at the lowest load: simulated mean latency increasing in k and within {LATENCY_TOL:.0%} of the formula",
              {"load": float(low.load.iloc[0]), "k": low.k.tolist(), "mean_latency": low.mean_latency.round(2).tolist(),
               "ratio_to_formula": [round(r, 4) for r in ratio]},
              holds=low_ok, figure="load_sweep.png", paper_value="Section 5 latency approximation"),
        Claim("more_bins_lower_latency_near_capacity",
              "Above C_1 only configurations with C_k > lambda are stable, and more bins lower latency there.",
              "stability measured in the queue (served >= 97% of the arrival rate and mean latency of the second "
              "half of arrivals < 1.5x the first) agrees with lambda < C_k wherever |lambda/C_k - 1| > 5%; at every "
              "swept lambda in (C_1, max_k C_k) k = 1 is measured unstable, some k stable, and the best measured-"
              "stable k has lower mean latency than k = 1",
              {"per_lambda": near, "stability_disagreements": int(len(disagree))}, holds=near_ok, figure="load_sweep.png", paper_value="Section 5 (qualitative)"),
        Claim("optimised_bins_heavy_tail",
              "On heavy-tailed (clipped lognormal) lengths optimised boundaries beat equal-mass bins.",
              "simulated capacity gain with optimised boundaries > with equal-mass boundaries, every k",
              ht_rows, holds=ht_ok, figure="heavy_tail.png",
              paper_value="brief: optimal 2-bin split near the 85th-90th percentile"),
        Claim("noise_reduces_gain",
              "Length-predictor errors reduce the gain of multi-bin batching.",
              "for every k > 1, the simulated gain strictly decreases along the sigma grid",
              noise_rows, holds=noise_ok, figure="noise_ablation.png", paper_value="Figure 8 (qualitative)"),
        Claim("llm_step_gain_follows_theory",
              "Static batching with k equal-count bins cuts the decode steps by C_k / C_1.",
              f"the planner's decode-step gain (rank-binned static batches, every step counted) on "
              f"{int(planned.requests.iloc[0]) if len(planned) else 0} requests is within {step_gain_tol:.0%} of the "
              "closed form for every k > 1 (uniform integer targets against the continuous closed form)",
              plan_rows, holds=plan_ok, figure="llm_gain.png", paper_value="Theorem 4.2 (C_k / C_1)"),
        Claim("llm_gain_follows_theory",
              "Real static batched generation gains throughput with k as the decode-step count predicts.",
              f"median over interleaved repeats of the measured tokens/s gain > 1 for every k > 1, increasing in k, "
              f"and within {gain_tol:.0%} of the same run's decode-step gain (shorter batches also have cheaper "
              "steps, since their KV cache is shorter, so on a compute-bound CPU the time gain can exceed the step "
              "gain)",
              llm_rows, holds=llm_ok, figure="llm_gain.png", paper_value="up to 70% (Section 6.2)"),
        Claim("throughput_grows_with_batch",
              "Decode throughput (tokens/s) grows with the batch size.",
              "tokens/s strictly increasing over the measured batch sizes",
              {"B": steps.B.tolist(), "tokens_per_s": steps.tokens_per_s.round(1).tolist()},
              holds=steps_ok, figure="llm_gain.png", paper_value="Figure 1a (A100, Phi-3.5-mini)"),
    ]
