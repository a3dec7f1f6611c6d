"""dual_modes claims, each computed from the experiment tables by the rule it states."""

from __future__ import annotations

import numpy as np
import pandas as pd

from repro.core.claims import Claim
from repro.core.config import number

RETRIEVAL_RATIO = 0.5  # "retrieval mode": prediction gets twice as close (MSE) to w_1 as the task itself is
ASCENT_SIGMAS = 2.0  # the bump must exceed this many paired Monte Carlo standard errors
FAR_BELOW = 0.5  # "falls far below": risk at the largest k under half of risk(0)
TRACK_TOL = 0.10  # mean E[(F^ - F*)^2] under 10% of E[y*^2] (the brief's suggested check)


TIE_SIGMAS = 2.0  # a learning-retrieval difference inside this many paired standard errors is a tie


def crossover_k(ks, err_learning, err_retrieval, se_diff=None) -> int:
    """Smallest grid k from which retrieval is never ahead at any larger grid k. Without standard errors,
    "ahead" is any err_retrieval <= err_learning; with `se_diff` (paired s.e. of err_learning - err_retrieval),
    retrieval is ahead only when err_retrieval < err_learning - TIE_SIGMAS * se_diff, and a tie is not retrieval."""
    ks, el, er = np.asarray(ks), np.asarray(err_learning), np.asarray(err_retrieval)
    ok = el < er if se_diff is None else ~(er < el - TIE_SIGMAS * np.asarray(se_diff))
    for i in range(len(ks)):
        if ok[i:].all():
            return int(ks[i])
    return int(ks[-1]) + 1  # learning never wins on this grid


def power2_grid(n: int) -> list[int]:
    """0, 1, 2, 4, ... below n, plus n-1: the grid on which transformer and Bayes crossovers are compared."""
    grid, k = [0], 1
    while k < n:
        grid.append(k)
        k *= 2
    return sorted(set(grid + [n - 1]))


def modes_claims(fig4: pd.DataFrame) -> list[Claim]:
    per = {}
    for delta, g in fig4.groupby("delta"):
        g = g.sort_values("k")
        late = g.iloc[-1]
        per[float(delta)] = {
            "retrieval_ratio": float(g["err_retrieval"].min() / g["err_retrieval_task"].iloc[0]),
            "retrieval_wins_some_k": bool((g.loc[g.k >= 1, "err_retrieval"] < g.loc[g.k >= 1, "err_learning"]).any()),
            "learning_wins_at_kmax": bool(late.err_learning < late.err_retrieval),
            "k_star": crossover_k(g.k, g.err_learning, g.err_retrieval),
            "k_star_ties": crossover_k(g.k, g.err_learning, g.err_retrieval, g.se_modes_diff),
            "pi_1_k0": float(g["pi_1"].iloc[0]), "pi_1_kmax": float(late.pi_1),
        }
    small = {d: v for d, v in per.items() if d < 1}
    large = {d: v for d, v in per.items() if d >= 1}
    kmax = int(fig4.k.max())
    fmt = lambda d: f"1/{round(1 / d)}" if d < 1 else f"{d:g}"  # noqa: E731
    two_modes = Claim(
        id="retrieval_then_learning",
        statement="For small delta the Bayes prediction first approaches the nearest group's skill w_1 "
                  "(retrieval), then the in-context task w* (learning).",
        rule=f"for every delta<1: min_k err_retrieval < {RETRIEVAL_RATIO} x E[((w*-w_1).x)^2], err_retrieval < "
             f"err_learning at some k>=1, and err_learning < err_retrieval at k={kmax}",
        measured={fmt(d): {"retrieval_ratio": v["retrieval_ratio"], "k_star": v["k_star"]} for d, v in small.items()},
        holds=bool(small) and all(v["retrieval_ratio"] < RETRIEVAL_RATIO and v["retrieval_wins_some_k"]
                                  and v["learning_wins_at_kmax"] for v in small.values()),
        figure="fig4_modes.png", paper_value="Figure 4 (qualitative)")
    no_retrieval = Claim(
        id="no_retrieval_large_delta",
        statement="For delta >= 1 the retrieval phase is absent: the prediction heads directly for the task.",
        rule=f"for every delta>=1: min_k err_retrieval >= {RETRIEVAL_RATIO} x E[((w*-w_1).x)^2]",
        measured={fmt(d): {"retrieval_ratio": v["retrieval_ratio"], "k_star": v["k_star"]} for d, v in large.items()},
        holds=bool(large) and all(v["retrieval_ratio"] >= RETRIEVAL_RATIO for v in large.values()),
        figure="fig4_modes.png", paper_value="Figure 4 (qualitative)",
        notes="k_star (grid crossover of the brief) is reported for reference; for large delta it sits at the "
              "first grid steps, where both errors are still near their prior values.")
    d0 = min(per)
    concentrates = Claim(
        id="posterior_concentrates",
        statement="For the smallest delta the posterior weight of the nearest group rises towards 1 with k.",
        rule=f"pi~_1(k={kmax}) > 0.9 and > pi~_1(k=0) at delta={fmt(d0)}",
        measured={"delta": fmt(d0), "pi_1_k0": per[d0]["pi_1_k0"], "pi_1_kmax": per[d0]["pi_1_kmax"]},
        holds=per[d0]["pi_1_kmax"] > 0.9 and per[d0]["pi_1_kmax"] > per[d0]["pi_1_k0"],
        figure="fig4_posterior.png", paper_value="Figure 4 (qualitative)")
    order = sorted(per)
    k_stars = [per[d]["k_star_ties"] for d in order]
    monotone = Claim(
        id="crossover_nonincreasing",
        statement="The retrieval-to-learning crossover k*(delta) comes earlier (or no later) as delta grows.",
        rule=f"k*(delta) = smallest grid k from which retrieval is never ahead at a larger grid k, where retrieval "
             f"is ahead only if err_retrieval < err_learning - {TIE_SIGMAS:g} paired s.e. (a statistical tie is "
             "not retrieval; departure from the brief's check, which counted any err_retrieval <= err_learning); "
             "k* must be non-increasing along increasing delta",
        measured={"k_star": {fmt(d): per[d]["k_star_ties"] for d in order},
                  "k_star_without_ties": {fmt(d): per[d]["k_star"] for d in order}},
        holds=len(order) >= 2 and all(a >= b for a, b in zip(k_stars, k_stars[1:])),
        figure="fig4_modes.png", paper_value="Figure 4 (qualitative)",
        notes="k_star_without_ties is the brief's original check, reported beside: for large delta both errors at "
              "k=1 sit near their prior values, 1-2 paired s.e. apart, and decided that k* by noise.")
    return [two_modes, no_retrieval, concentrates, monotone]


def closer_task_claim(fig5: pd.DataFrame, small_ks=(1, 2, 4)) -> Claim:
    measured, ok = {}, True
    sub = fig5[(fig5.delta < 1) & fig5.k.isin(small_ks)]
    for (delta, k), g in sub.groupby(["delta", "k"]):
        risks = g.sort_values("r", ascending=False)["risk"].to_numpy()  # closest task first
        ordered = bool(np.all(np.diff(risks) > 0))
        ok &= ordered
        measured[f"delta=1/{round(1 / delta)},k={k}"] = [float(x) for x in risks]
    return Claim(
        id="closer_task_lower_risk",
        statement="The closer the in-context task to a pretraining group, the lower the small-k risk.",
        rule=f"for delta<1 and k in {list(small_ks)}: risk(r=3) < risk(r=5/3) < risk(r=1) "
             "(measured: risks, closest task first)",
        measured=measured, holds=bool(measured) and ok, figure="fig5_closer_task.png",
        paper_value="Figure 5 (qualitative)")


def early_ascent_claim(tables: list[pd.DataFrame], bump_kmax: int = 64) -> Claim:
    measured, ok = {}, True
    for t in tables:
        t = t.sort_values("k").reset_index(drop=True)
        early = t[(t.k >= 1) & (t.k <= bump_kmax)]
        if t.k.iloc[0] != 0 or early.empty:
            raise ValueError(f"early-ascent grid needs k=0 and some k in 1..{bump_kmax}, got {t.k.tolist()}")
        i = early["diff"].idxmax()
        bump, se = float(early.loc[i, "diff"]), float(early.loc[i, "se_diff"])
        r0, rend = float(t.risk.iloc[0]), float(t.risk.iloc[-1])
        holds = bump > ASCENT_SIGMAS * se and rend < FAR_BELOW * r0
        ok &= holds
        measured[f"d={int(t.d.iloc[0])}"] = {"risk0": r0, "bump": bump, "bump_se": se, "bump_k": int(t.k[i]),
                                             f"risk_k{int(t.k.iloc[-1])}": rend}
    return Claim(
        id="early_ascent",
        statement="Early ascent: the Bayes risk first rises above its k=0 value, then falls far below it.",
        rule=f"for every d: max_(1<=k<={bump_kmax}) [risk(k)-risk(0)] > {ASCENT_SIGMAS:g} paired MC s.e., and "
             f"risk(k_max) < {FAR_BELOW} x risk(0)",
        measured=measured, holds=bool(measured) and ok, figure="fig6_early_ascent.png",
        paper_value="Figure 6 (qualitative)")


def transformer_claim(evals: list[pd.DataFrame], delta: str | None = None) -> Claim:
    measured, ok = ({"delta": delta} if delta is not None else {}), True
    for i, ev in enumerate(evals):
        grid = power2_grid(len(ev))
        g = ev.set_index("k").loc[grid]
        ks_t = crossover_k(grid, g.tf_err_learning, g.tf_err_retrieval)
        ks_b = crossover_k(grid, g.bayes_err_learning, g.bayes_err_retrieval)
        # Both phases must show in the transformer itself: retrieval ahead at some k >= 1, learning ahead at
        # the last k (a crossover "beyond the grid" does not count as one grid step away).
        after0 = g.index >= 1
        tf_retrieves = bool((g.tf_err_retrieval[after0] < g.tf_err_learning[after0]).any())
        tf_learns = bool(g.tf_err_learning.iloc[-1] < g.tf_err_retrieval.iloc[-1])
        rel = float(ev.tf_vs_bayes.mean() / ev.y_sq.mean())
        steps_apart = abs(grid.index(ks_t) - grid.index(ks_b)) if ks_t in grid and ks_b in grid else None
        holds = rel < TRACK_TOL and tf_retrieves and tf_learns and steps_apart is not None and steps_apart <= 1
        ok &= holds
        measured[f"seed{i}"] = {"tf_vs_bayes_rel": rel, "k_star_tf": ks_t, "k_star_bayes": ks_b,
                                "tf_retrieval_phase": tf_retrieves, "tf_learning_phase": tf_learns}
    return Claim(
        id="transformer_tracks_bayes",
        statement="A transformer trained on the prior follows the Bayes predictor, retrieval-then-learning included.",
        rule=f"for every seed: mean_k E[(F^-F*)^2] < {TRACK_TOL:g} E[y*^2]; the transformer is closer to w_1.x "
             "than to w*.x at some k>=1 and closer to w*.x at the last k; its crossover k* lies within one step "
             "of the Bayes k* on the grid 0,1,2,4,..,num_k-1",
        measured=measured, holds=len(evals) > 0 and ok, figure="transformer_vs_bayes.png",
        paper_value="Figures 9-11 (qualitative)",
        notes="delta is the Regular4 prior the transformer is trained and evaluated on (config: transformer.delta).")


def grid_position(grid: list[int], k_star: int) -> int:
    """Index of a crossover on the comparison grid; a crossover beyond the grid (learning never ahead) is one
    position past its end, so "no crossover within num_k" on both sides counts as agreement."""
    return grid.index(k_star) if k_star in grid else len(grid)


def crossovers(ev: pd.DataFrame) -> tuple[int, int, list[int]]:
    """(transformer k*, Bayes k*, grid) of one evaluation table, on the grid 0, 1, 2, 4, .., num_k - 1."""
    grid = power2_grid(len(ev))
    g = ev.set_index("k").loc[grid]
    return (crossover_k(grid, g.tf_err_learning, g.tf_err_retrieval),
            crossover_k(grid, g.bayes_err_learning, g.bayes_err_retrieval), grid)


def crossover_follows_claim(evals: list[pd.DataFrame]) -> Claim:
    """Figure 9: one transformer per Regular4 prior delta; its crossover k* against the Bayes k* across delta."""
    per = {}
    for ev in evals:
        ks_t, ks_b, grid = crossovers(ev)
        d = per.setdefault(str(ev.delta.iloc[0]), {"k_star_tf": [], "k_star_bayes": [], "steps_apart": [],
                                                   "pos_tf": [], "value": number(ev.delta.iloc[0])})
        d["k_star_tf"].append(ks_t)
        d["k_star_bayes"].append(ks_b)
        d["pos_tf"].append(grid_position(grid, ks_t))
        d["steps_apart"].append(abs(grid_position(grid, ks_t) - grid_position(grid, ks_b)))
    order = sorted(per, key=lambda d: per[d]["value"])  # increasing delta
    tf_pos = [float(np.median(per[d]["pos_tf"])) for d in order]
    close = all(max(per[d]["steps_apart"]) <= 1 for d in order)
    monotone = all(a >= b for a, b in zip(tf_pos, tf_pos[1:]))
    measured = {d: {k: per[d][k] for k in ("k_star_tf", "k_star_bayes", "steps_apart")} for d in order}
    return Claim(
        id="crossover_follows_bayes",
        statement="Across priors delta, the trained transformer's retrieval-to-learning crossover follows the Bayes "
                  "crossover (Figure 9).",
        rule="one transformer per Regular4 delta (config transformer.delta and fig9_deltas), at least 2 deltas: "
             "for every delta and seed the transformer's k* lies within one step of the Bayes k* on the grid "
             "0,1,2,4,..,num_k-1 (no crossover within num_k counts as one step past the end), and the transformer's "
             "k* (median over seeds) does not increase with delta",
        measured={**measured, "within_one_step": close, "tf_nonincreasing": monotone},
        holds=(close and monotone) if len(order) >= 2 else None,
        figure="fig9_crossover.png",
        paper_value="Figure 9: delta = 1/4^a, a = 0..4; the transformer's curves follow Bayes' at every delta",
        notes="" if len(order) >= 2 else "one delta trained at this scale (config transformer.fig9_deltas is "
                                          "empty): not measured")


def all_claims(fig4, fig5, ascent_tables, evals, transformer_delta=None, fig9_evals=None) -> list[Claim]:
    return [*modes_claims(fig4), closer_task_claim(fig5), early_ascent_claim(ascent_tables),
            transformer_claim(evals, transformer_delta), crossover_follows_claim(fig9_evals or evals)]
