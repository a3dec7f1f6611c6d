"""fed_agem claims, each computed from the per-(scenario, seed) tables by the rule it states.

Every claim is judged on the final evaluation (after the last task). A Fed-A-GEM gain is the paired difference,
seed by seed, between a base method with Fed-A-GEM and the same base method without it (same initial model,
same scenario, the repo's task_start buffer rule where a buffer is kept); spreads are standard errors over seeds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from repro.core.claims import Claim
from repro.core.claims import all_finite as _finite
from repro.core.claims import standard_error as _se

RULE = "task_start"  # the repo's buffer rule: the main comparison
TOLERANCE = 0.02  # the brief: the boundary-free buffer within 2 accuracy points of the boundary-gated one
RESIDUAL_MAX = 1e-4  # |<g~, g_ref>| / (|g| |g_ref|) after a triggered projection: zero up to float32 rounding
SPLIT = ("class", "task")
KEYS = ["scenario", "setting"]


def final(df: pd.DataFrame) -> pd.DataFrame:
    last = df.groupby(["scenario"])["after_task"].transform("max")
    return df[df["after_task"] == last]


def _series(f: pd.DataFrame, scenario, setting, base, fed, rule, col) -> pd.Series:
    rows = f[(f["scenario"] == scenario) & (f["setting"] == setting) & (f["base"] == base)
             & (f["fed_agem"] == fed) & f["buffer_rule"].isin([rule, "none"])]
    if rows.empty:
        raise ValueError(f"no rows for {scenario}/{setting} {base} fed_agem={fed} buffer_rule={rule}")
    return rows.set_index("seed")[col].sort_index()


def gain(f: pd.DataFrame, scenario, setting, base, col="avg_acc", rule=RULE) -> pd.Series:
    """Per seed: (base + Fed-A-GEM) - base."""
    a, b = _series(f, scenario, setting, base, True, rule, col), _series(f, scenario, setting, base, False, rule, col)
    common = a.index.intersection(b.index)
    return a[common] - b[common]


def _pair(f, scenario, setting, base, col):
    a, b = _series(f, scenario, setting, base, True, RULE, col), _series(f, scenario, setting, base, False, RULE, col)
    d = gain(f, scenario, setting, base, col)
    # skipna=False: a diverged or missing value must fail a comparison, not drop out of it
    return {"without": float(b.mean(skipna=False)), "with": float(a.mean(skipna=False)),
            "gain": float(d.mean(skipna=False)), "se": _se(d), "n_seeds": int(d.notna().sum())}


def _settings(f: pd.DataFrame) -> list:
    return sorted(set(map(tuple, f[KEYS].drop_duplicates().to_numpy())))


def _bases(f: pd.DataFrame) -> list:
    return [b for b in ("fedavg", "fedprox", "agem", "der") if b in set(f["base"])]


def claims(df: pd.DataFrame) -> list[Claim]:
    f = final(df)
    settings, bases = _settings(f), _bases(f)
    split = [(s, t) for s, t in settings if t in SPLIT]
    domain = [(s, t) for s, t in settings if t == "domain"]
    out = []

    # 1. accuracy gain, each base method, Split Class-IL and Task-IL
    acc = {f"{s}/{t}": {b: _pair(f, s, t, b, "avg_acc") for b in bases} for s, t in split}
    ok = bool(acc) and all(_finite(v["gain"]) and v["gain"] >= 0 for per in acc.values() for v in per.values())
    out.append(Claim(
        id="fedagem_raises_accuracy",
        statement="Adding Fed-A-GEM to each base method (FedAvg, FedProx, FedAvg + local A-GEM, DER) gives a final "
                  "average accuracy at least the base method's, in Class-IL and Task-IL",
        rule=f"for every base method run ({', '.join(bases)}) on Split (Class-IL and Task-IL): mean over seeds of the paired gain "
             "(with - without Fed-A-GEM, repo buffer rule) >= 0; the standard error is reported beside it",
        measured=acc, holds=ok, figure="fed_agem_accuracy.png",
        paper_value="gains in every Class-IL/Task-IL cell of Table 1, up to +27% (Task-IL S-CIFAR-100)"))

    # 2. largest gains in Split, Domain-IL gains smaller but non-negative
    def mean_gain(keys):
        per_seed = pd.concat([gain(f, s, t, b) for s, t in keys for b in bases], axis=1).mean(axis=1, skipna=False)
        return {"gain": float(per_seed.mean(skipna=False)), "se": _se(per_seed), "n_seeds": int(per_seed.notna().sum())}

    g_split = mean_gain(split) if split else None
    g_dom = {s: mean_gain([(s, t)]) for s, t in domain}
    ok = (g_split is not None and bool(g_dom) and _finite(g_split["gain"], *[v["gain"] for v in g_dom.values()])
          and all(g_split["gain"] > v["gain"] for v in g_dom.values())
          and all(v["gain"] >= -2 * (v["se"] if np.isfinite(v["se"]) else 0.0) for v in g_dom.values()))
    out.append(Claim(
        id="gains_largest_in_split",
        statement="Fed-A-GEM's gains are largest in Class-IL/Task-IL with strongly non-IID clients; Domain-IL "
                  "gains (rotated, permuted) are smaller but not negative",
        rule="mean gain over base methods, Split (Class-IL and Task-IL pooled) > each Domain-IL scenario's mean gain, "
             "and each Domain-IL mean gain >= -2 standard errors over seeds (one non-IID level: Dirichlet alpha "
             "from the config, not a sweep)",
        measured={"split": g_split, **{f"domain_{s}": v for s, v in g_dom.items()}}, holds=ok,
        figure="fed_agem_summary.png",
        paper_value="largest gains on S-CIFAR-10/100; smaller gains on Rotated/Permuted MNIST"))

    # 3. less forgetting
    fg = {f"{s}/{t}": {b: _pair(f, s, t, b, "forgetting") for b in bases} for s, t in split}
    ok = bool(fg) and all(_finite(v["gain"]) and v["gain"] <= 0 for per in fg.values() for v in per.values())
    out.append(Claim(
        id="fedagem_less_forgetting",
        statement="Forgetting with Fed-A-GEM is at most the base method's, for each base method",
        rule=f"for every base method run ({', '.join(bases)}) on Split (Class-IL and Task-IL): mean over seeds of the paired change in "
             "forgetting (with - without; forgetting = mean over earlier tasks of best past minus final accuracy) "
             "<= 0",
        measured=fg, holds=ok, figure="fed_agem_summary.png",
        paper_value="lower forgetting with Fed-A-GEM (Table 2 of the paper)"))

    # 5. boundary-free buffer
    fed = f[f["fed_agem"]]
    bf = {}
    for s, t in settings:
        per_seed = []
        for b in bases:
            r = _series(fed, s, t, b, True, "reservoir", "avg_acc")
            g = _series(fed, s, t, b, True, RULE, "avg_acc")
            common = r.index.intersection(g.index)
            per_seed.append(r[common] - g[common])
        d = pd.concat(per_seed, axis=1).mean(axis=1, skipna=False)
        bf[f"{s}/{t}"] = {"reservoir_minus_task_start": float(d.mean(skipna=False)), "se": _se(d),
                          "n_seeds": int(d.notna().sum())}
    ok = bool(bf) and all(_finite(v["reservoir_minus_task_start"]) and abs(v["reservoir_minus_task_start"]) <= TOLERANCE
                          for v in bf.values())
    out.append(Claim(
        id="boundary_free_comparable",
        statement="Fed-A-GEM needs no task boundaries: a reservoir buffer filled from every batch performs "
                  "comparably to the repo's buffer filled only in the first round of each task",
        rule=f"in every scenario and setting, |mean over base methods and seeds of (reservoir - task_start) final "
             f"accuracy, Fed-A-GEM runs| <= {TOLERANCE:g} (the brief's 2 points)",
        measured=bf, holds=ok, figure="fed_agem_summary.png",
        paper_value="no task-boundary knowledge needed (abstract); the repo's buffer still uses the boundary"))

    # 4. projection mechanics: a check of our code, reported apart
    f_rows, plain = df[df["fed_agem"]], df[~df["fed_agem"]]
    residual = float(f_rows["max_residual"].max()) if len(f_rows) else float("nan")
    rates = {f"{s}/{t}": float(f_rows[(f_rows["scenario"] == s) & (f_rows["setting"] == t)]["triggered"].sum()
                               / max(f_rows[(f_rows["scenario"] == s) & (f_rows["setting"] == t)]["steps"].sum(), 1))
             for s, t in settings}
    plain_hits = int(plain["triggered"].sum())
    ok = (_finite(residual) and residual <= RESIDUAL_MAX and plain_hits == 0
          and all(v > 0 for v in rates.values()))
    out.append(Claim(
        id="projection_orthogonal",
        statement="After a triggered projection the step is orthogonal to the reference gradient; runs without "
                  "Fed-A-GEM never project; the trigger rate is reported",
        rule=f"largest |<g~, g_ref>| / (|g| |g_ref|) after a triggered projection <= {RESIDUAL_MAX:g}, zero triggers without "
             "Fed-A-GEM, and a nonzero trigger rate in every setting with it",
        measured={"max_relative_dot_after_projection": residual, "triggers_without_fedagem": plain_hits,
                  "trigger_rate": rates},
        holds=ok, figure="fed_agem_summary.png", kind="sanity",
        paper_value="<g~, g_ref> = 0 when <g, g_ref> < 0, else g~ = g (the repo's overwrite_count is the rate)"))
    return out
