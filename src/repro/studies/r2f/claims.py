"""r2f claims, each computed by the rule it states from the pipeline's tables:

- theory: rows (method in {closed_form, interpolation, alternating}, alpha, stop_frac, w2, seed);
- samples: one row per (seed, pair, method, stop_frac) from experiments.sample_table;
- judge: the judge's held-out accuracy.

Alignment is RareBench's 0-100 score from the toy judge. A method difference is paired: both methods drew the
same initial noise for a pair and seed, and the unit of the bootstrap is the (seed, pair) cell.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from repro.core.claims import Claim, all_finite, bootstrap_ci, standard_error

THEORY_RATIO = 0.2  # the brief: min_alpha W2 < 0.2 x W2(alpha = 1)
NO_HARM_TOLERANCE = 5.0  # alignment points: R2F forced on frequent pairs may cost at most this much
COLOUR_SLACK = 0.02  # colour accuracy "does not fall" across the stop-step sweep, up to this much


def _paired(samples: pd.DataFrame, method: str, base: str, group: str, stop_frac=None) -> pd.Series:
    """Per (seed, pair): alignment(method) - alignment(base)."""
    s = samples[samples["group"] == group]
    a = s[s["method"] == method]
    if stop_frac is not None:
        a = a[np.isclose(a["stop_frac"].astype(float), stop_frac)]
    b = s[s["method"] == base]
    if a.empty or b.empty:
        raise ValueError(f"no {group} rows for {method!r} or {base!r}")
    a, b = a.set_index(["seed", "pair"])["alignment"], b.set_index(["seed", "pair"])["alignment"]
    common = a.index.intersection(b.index)
    return a[common] - b[common]


def _diff_summary(d: pd.Series) -> dict:
    lo, hi = bootstrap_ci(d.to_numpy())
    return {"mean_diff": float(d.mean(skipna=False)), "ci_lo": lo, "ci_hi": hi, "n_cells": int(len(d)),
            "n_seeds": int(d.index.get_level_values("seed").nunique())}


def method_table(samples: pd.DataFrame, group: str = "rare") -> pd.DataFrame:
    """Mean colour, shape accuracy and alignment per method (fixed stops as 'fixed@S'), over seeds and pairs,
    with the standard error of the per-seed means."""
    s = samples[samples["group"] == group].copy()
    s["run"] = np.where(s["stop_frac"].notna(), "fixed@" + s["stop_frac"].astype(str), s["method"])
    per_seed = s.groupby(["run", "seed"])[["colour_acc", "shape_acc", "alignment"]].mean()
    out = per_seed.groupby("run").mean()
    out["alignment_se"] = per_seed.groupby("run")["alignment"].apply(standard_error)
    return out


def claims(theory: pd.DataFrame, samples: pd.DataFrame, judge: dict, min_judge: float) -> list[Claim]:
    out = []

    # 1. theory, closed form: W2(alpha) U-shaped with its minimum far below the rare estimate's own W2
    cf = theory[theory["method"] == "closed_form"].sort_values("alpha")
    at_one = cf[np.isclose(cf.alpha, 1.0)].w2
    w_end, w_min = (float(at_one.iloc[0]) if len(at_one) else float("nan")), float(cf.w2.min())
    a_min = float(cf.loc[cf.w2.idxmin(), "alpha"])
    ok = all_finite(w_end, w_min) and w_min < THEORY_RATIO * w_end and 0 < a_min < 1
    out.append(Claim(
        id="theory_w2_u_shape",
        statement="Interpolating a badly estimated rare score with a well-learned frequent one lands much closer "
                  "(2-Wasserstein) to the true rare distribution than the rare estimate alone",
        rule=f"closed form of the paper's Gaussian example (target N(0, I), frequent N((0, 10), I), rare estimate "
             f"N(0, diag(400, 1))): min over the alpha grid of W2 < {THEORY_RATIO} x W2(alpha = 1), at an interior alpha",
        measured={"w2_alpha1": w_end, "w2_min": w_min, "alpha_min": a_min,
                  "curve": dict(zip(map(str, cf.alpha), cf.w2.round(3)))},
        holds=bool(ok), figure="r2f_theory.png", paper_value="W2 about 19 at alpha = 1, minimum about 2.2 near 0.85"))

    # 2. theory, learned: an epsilon-MLP trained on 8 samples of the rare concept is rescued by the frequent one
    li = theory[theory["method"] == "interpolation"]
    alt = theory[theory["method"] == "alternating"]
    per_a = li.groupby("alpha")["w2"].agg(["mean", standard_error]).rename(columns={"standard_error": "se"})
    per_s = alt.groupby("stop_frac")["w2"].agg(["mean", standard_error]).rename(columns={"standard_error": "se"})
    interior = per_a[(per_a.index > 0) & (per_a.index < 1)]
    mid = per_s[(per_s.index > 0) & (per_s.index < 1)]
    def at(table, x):  # the mean W2 at exactly x, NaN when the grid lacks it (which fails the claim)
        hit = table[np.isclose(table.index.to_numpy(dtype=float), x)]
        return float(hit["mean"].iloc[0]) if len(hit) else float("nan")
    w_r, w_f, w_alt0 = at(per_a, 1.0), at(per_a, 0.0), at(per_s, 0.0)
    w_mid = float(interior["mean"].min()) if len(interior) else float("nan")
    w_alt = float(mid["mean"].min()) if len(mid) else float("nan")
    ok = all_finite(w_r, w_f, w_mid, w_alt0, w_alt) and w_mid < min(w_r, w_f) and w_alt < w_alt0
    out.append(Claim(
        id="learned_interpolation_rescues_rare",
        statement="Learned in 2-D: the score interpolation is U-shaped in alpha, and R2F's alternating schedule "
                  "with a mid-range stop step beats sampling the rare concept alone",
        rule="mean W2 to N(0, I) over seeds (Gaussian fit to the samples): the best interior alpha is below both "
             "alpha = 0 (frequent only) and alpha = 1 (rare only); the best stop fraction in (0, 1) of the "
             "alternating schedule is below stop 0 (rare on every step)",
        measured={"w2_rare_only": w_r, "w2_frequent_only": w_f, "w2_best_interior_alpha": w_mid,
                  "w2_alternating_stop0": w_alt0, "w2_alternating_best": w_alt,
                  "n_seeds": int(li["seed"].nunique()) if len(li) else 0},
        holds=bool(ok), figure="r2f_theory.png",
        paper_value="the closed-form curve; the paper shows no learned version (the brief's toy)"))

    # 3. main result: R2F beats vanilla CFG on rare pairs
    d = _paired(samples, "r2f", "vanilla", "rare")
    m = _diff_summary(d)
    tab = method_table(samples, "rare")
    m.update({"vanilla": float(tab.loc["vanilla", "alignment"]), "r2f": float(tab.loc["r2f", "alignment"])})
    out.append(Claim(
        id="r2f_beats_vanilla_on_rare",
        statement="R2F's alternating rare-to-frequent guidance aligns rare attribute-object pairs better than the "
                  "base model's own guidance",
        rule="alignment (toy judge, RareBench's 0-100 score) of R2F minus vanilla CFG on the rare pairs, paired by "
             "(seed, pair) with the same initial noise; holds when the 95% bootstrap interval over the cells lies "
             "above 0",
        measured=m, holds=bool(all_finite(m["mean_diff"], m["ci_lo"]) and m["ci_lo"] > 0), figure="r2f_methods.png",
        paper_value="R2F-SD3 vs SD3 on RareBench single-object property: 89.4 vs 49.4"))

    # 4. no harm on frequent pairs: R2F forced on, with the planner's substitute, against vanilla
    d = _paired(samples, "r2f_forced", "vanilla", "curve")
    freq = samples[(samples["group"] == "curve") & ~samples["planned_rare"]]
    d = d[d.index.get_level_values("pair").isin(set(freq["pair"]))]
    m = _diff_summary(d)
    out.append(Claim(
        id="no_harm_on_frequent",
        statement="R2F does not hurt ordinary prompts",
        rule=f"on the pairs the planner calls frequent, R2F applied anyway (the umbrella substitute on even steps "
             f"before the stop) minus vanilla, paired by (seed, pair): mean >= -{NO_HARM_TOLERANCE} alignment "
             f"points. Departure: the paper's planner returns no rare concept for such prompts, which makes the "
             f"two identical by construction; forcing R2F on tests the guidance itself",
        measured=m, holds=bool(all_finite(m["mean_diff"]) and m["mean_diff"] >= -NO_HARM_TOLERANCE),
        figure="r2f_rarity.png", paper_value="T2I-CompBench colour 90.5 vs 90.2, shape 77.6 vs 76.2 (R2F vs SD3)"))

    # 5. stop-step trade-off over the fixed sweep (with R2F's adaptive stop as its point)
    rare = samples[samples["group"] == "rare"]
    sweep = rare[rare["method"] == "fixed"]
    stops = sorted(set(sweep["stop_frac"].astype(float)))
    per = sweep.groupby(["stop_frac", "seed"])[["colour_acc", "shape_acc"]].mean().groupby("stop_frac").mean()
    ok = len(per) >= 2
    if ok:
        x = per.index.to_numpy(dtype=float)
        shape_slope = float(np.polyfit(x, per["shape_acc"].to_numpy(), 1)[0])
        colour_change = float(per["colour_acc"].iloc[-1] - per["colour_acc"].iloc[0])
        ok = all_finite(shape_slope, colour_change) and shape_slope < 0 and colour_change >= -COLOUR_SLACK
    else:
        shape_slope = colour_change = float("nan")
    out.append(Claim(
        id="stop_step_trade_off",
        statement="The stop step trades the frequent concept's help against the rare concept's detail: a later "
                  "stop keeps the attribute but loses the object's exact shape",
        rule=f"fixed stop fractions {stops} on rare pairs: least-squares slope of shape accuracy against the stop "
             f"fraction < 0, and colour accuracy at the latest stop >= at the earliest - {COLOUR_SLACK}. Departure: "
             "every rare concept here is a colour (level 2), so the paper's per-category comparison of adaptive "
             "against fixed stops (their Table) has one category and is not tested",
        measured={"shape_slope": shape_slope, "colour_change": colour_change,
                  "per_stop": {str(k): {"colour": float(v.colour_acc), "shape": float(v.shape_acc)}
                               for k, v in per.iterrows()}},
        holds=bool(ok), figure="r2f_stop_steps.png",
        paper_value="SD3 shape: best at stop 5 (76.2) falling to 68.1 at 40; property: best at 40 (90.0)"))

    # 6. rarity curve: vanilla falls with rarity, R2F's gain is largest at the rare end
    cur = samples[samples["method"].isin(["vanilla", "r2f", "r2f_forced"])].copy()
    cur["guided"] = np.where(cur["method"] == "vanilla", "vanilla", "r2f")
    per_count = cur.groupby(["guided", "count", "seed"])["alignment"].mean().groupby(["guided", "count"]).mean()
    counts = sorted(set(cur["count"]))
    lo_c, hi_c = counts[: max(1, len(counts) // 3)], counts[-max(1, len(counts) // 3):]
    v = per_count.get("vanilla", pd.Series(dtype=float))
    r = per_count.get("r2f", pd.Series(dtype=float))
    gap = (r - v).dropna()
    v_lo, v_hi = float(v.reindex(lo_c).mean()), float(v.reindex(hi_c).mean())
    g_lo, g_hi = float(gap.reindex(lo_c).mean()), float(gap.reindex(hi_c).mean())
    ok = all_finite(v_lo, v_hi, g_lo, g_hi) and v_lo < v_hi and g_lo > g_hi
    out.append(Claim(
        id="r2f_flattens_rarity_curve",
        statement="Alignment of the base model falls with the pair's training count; R2F flattens the curve",
        rule=f"pairs grouped by training count (counts {counts}; R2F forced on the pairs the planner leaves alone): "
             f"vanilla's mean alignment over the rarest third of counts {lo_c} < over the most frequent third "
             f"{hi_c}, and R2F's gain over vanilla is larger on the rarest third than on the most frequent",
        measured={"vanilla_rare": v_lo, "vanilla_frequent": v_hi, "gain_rare": g_lo, "gain_frequent": g_hi,
                  "vanilla_by_count": {str(k): float(x) for k, x in v.items()},
                  "r2f_by_count": {str(k): float(x) for k, x in r.items()}},
        holds=bool(ok), figure="r2f_rarity.png",
        paper_value="'A flower-patterned {class}' on SD3: about 100 (bear) falling to about 0 (baboon); R2F 50-100"))

    # sanity: the planner flags exactly the pairs below its threshold; the judge is good before it judges
    fl = samples.drop_duplicates(["pair"])
    wrong = fl[fl["planned_rare"] != (fl["count"] < fl["n_rare"])]
    out.append(Claim(
        id="planner_restraint",
        statement="The rule-based planner marks a pair rare exactly when its training count is below n_rare",
        rule="every evaluated pair: planned_rare == (count < n_rare)", kind="sanity",
        measured={"pairs": int(len(fl)), "mismatches": int(len(wrong)), "n_rare": int(fl["n_rare"].iloc[0])},
        holds=bool(len(wrong) == 0)))
    out.append(Claim(
        id="judge_accuracy",
        statement="The toy judge reads colour and shape of fresh balanced renders before it scores any sample",
        rule=f"held-out colour and shape accuracy >= {min_judge}; train/test overlap reported", kind="sanity",
        measured=dict(judge), holds=bool(min(judge["colour_acc"], judge["shape_acc"]) >= min_judge)))
    return out
