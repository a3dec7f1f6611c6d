"""The paper's numerical experiments (Figures 4, 5 and 6) as functions of plain settings -> DataFrames.

Every row is one (setting, k) with Monte Carlo means and standard errors over prompts. Because all k
share one demo stream per prompt (common random numbers), differences across k are measured paired.
"""

from __future__ import annotations

import pandas as pd
import torch

from repro.studies.dual_modes import bayes
from repro.studies.dual_modes import data as P


def _gen(seed: int, device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def _se(x: torch.Tensor) -> torch.Tensor:
    return x.std(-1) / x.shape[-1] ** 0.5


def retrieval_vs_learning(deltas, ks, n_prompts: int, seed: int, device="cpu", chunk: int = 4096) -> pd.DataFrame:
    """Figure 4: Regular4 prior, task normalize(2 mu_1 + mu_2 + 0.2 mu_3); errors and posterior vs k.

    Every delta sees the same demo streams (one seed), so comparisons across delta are paired too.
    """
    rows = []
    for delta in deltas:
        prior = P.regular4(delta).to(device)
        task = P.regular4_task(prior)
        r = bayes.sweep(prior, task, task, prior.w[0], ks, n_prompts, _gen(seed, device), chunk)
        # Error of the pure retrieval predictor w_1.x against the learning target: the floor err_retrieval
        # would reach if the prediction went all the way to the task (closed form, E over x ~ N(mu*, I)).
        gap = task - prior.w[0]
        err_ret_inf = float(gap @ gap + (gap @ task) ** 2)
        for j, k in enumerate(sorted(ks)):
            el, er = r["err_learning"][j], r["err_retrieval"][j]
            row = {"delta": float(delta), "k": int(k), "err_learning": float(el.mean()), "se_learning": float(_se(el)),
                   "err_retrieval": float(er.mean()), "se_retrieval": float(_se(er)), "err_retrieval_task": err_ret_inf,
                   # paired over prompts: the standard error of err_learning - err_retrieval
                   "se_modes_diff": float(_se(el - er))}
            for m in range(prior.M):
                row[f"pi_{m + 1}"] = float(r["pi"][j, :, m].mean())
                row[f"w_dist_{m + 1}"] = float(r["w_dist"][j, :, m].mean())
            # spread of the nearest group's weight, and of its rise since k=0 (paired over prompts)
            row["se_pi_1"] = float(_se(r["pi"][j, :, 0]))
            row["se_pi_1_rise"] = float(_se(r["pi"][j, :, 0] - r["pi"][0, :, 0]))
            rows.append(row)
    return pd.DataFrame(rows)


def closer_task(deltas, rs, ks, n_prompts: int, seed: int, device="cpu", chunk: int = 4096) -> pd.DataFrame:
    """Figure 5: the closer the in-context task to group 1 (larger r), the lower the small-k risk.

    Every (delta, r) shares one seed: each prompt sees the same input noise for every task and prior, so the
    risks of two tasks are compared paired over prompts.
    """
    rows = []
    for delta in deltas:
        prior = P.regular4(delta).to(device)
        errs = {}
        for r in sorted(rs):
            task = P.regular4_task(prior, r)
            out = bayes.sweep(prior, task, task, prior.w[0], ks, n_prompts, _gen(seed, device), chunk)
            errs[r] = out["err_learning"]
        order = sorted(errs)
        for i, r in enumerate(order):
            e = errs[r]
            closer = errs[order[i + 1]] if i + 1 < len(order) else None
            for j, k in enumerate(sorted(ks)):
                # se_diff_closer: paired s.e. of risk(r) - risk(next larger r, the closer task); NaN for the closest
                se_closer = float(_se(e[j] - closer[j])) if closer is not None else float("nan")
                rows.append({"delta": float(delta), "r": float(r), "k": int(k), "risk": float(e[j].mean()),
                             "se": float(_se(e[j])), "se_diff_closer": se_closer})
    return pd.DataFrame(rows)


def early_ascent(d: int, ks, n_prompts: int, seed: int, device="cpu", chunk: int = 4096) -> pd.DataFrame:
    """Figure 6: Bayes risk vs k for the early-ascent prior in dimension d.

    `diff` is risk(k) - risk(0) computed per prompt (paired), `se_diff` its Monte Carlo standard error.
    """
    prior = P.early_ascent(d).to(device)
    task = P.early_ascent_task(d).to(device)
    r = bayes.sweep(prior, task, task, prior.w[0], ks, n_prompts, _gen(seed, device), chunk)
    e = r["err_learning"]
    diff = e - e[0]
    return pd.DataFrame({"d": d, "k": sorted(int(k) for k in ks), "risk": e.mean(1).cpu(), "se": _se(e).cpu(),
                         "diff": diff.mean(1).cpu(), "se_diff": _se(diff).cpu(),
                         "pi_1": r["pi"][:, :, 0].mean(1).cpu()})
