"""ftc claims, each computed from the experiment tables by the rule it states.

The paper proves existence: networks of 3N (2-layer) and Theta(sqrt N) (3-layer) units fit N changed labels
and keep the K - N others, whatever K; and on collinear data with 3 zeros between spikes 3N breakpoints are
needed. Its claims are checked on our exact constructions against a lower bound derived from the data. That
a construction has the size its own formula gives is a sanity check of our code, reported apart. The widths
that gradient training reaches are this project's extension, not the paper's.
"""

from __future__ import annotations

import pandas as pd

from repro.core.claims import Claim, clearly_above, clearly_below, effect, gate
from repro.studies.ftc.trained import slope

SLOPE_TOL = 0.1  # "near 1 and 1/2": fitted log-log slope within 0.1
RATIO_SLOPE_TOL = 0.15  # size / lower bound "bounded": its log-log slope against N below 0.15 (not growing)
MIDWAY = 0.75  # "closer to 1 than to 1/2" is a slope above 0.75; "closer to 1/2 than to 1" below it
SLOWER_BY = 0.2  # "markedly slower": the 3-layer slope at least 0.2 below the 2-layer slope


def _trained_slopes(trained: pd.DataFrame) -> dict:
    """{setting: {slope_2layer, slope_3layer}} from the median m* over seeds against N."""
    out = {}
    for (setting, dep), g in trained.dropna(subset=["m_star"]).groupby(["setting", "depth"]):
        med = g.groupby("N").m_star.median()
        out.setdefault(setting, {})[f"slope_{dep}layer"] = slope(med.index, med.values) if len(med) >= 2 \
            else float("nan")
    return {k: {"slope_2layer": v.get("slope_2layer", float("nan")), "slope_3layer": v.get("slope_3layer", float("nan"))}
            for k, v in out.items()}


def seed_slopes(trained: pd.DataFrame) -> pd.DataFrame:
    """One log-log slope of m* against N per (setting, depth, seed): a seed draws its own problems and
    initialisations, so seeds are the independent unit; depths share a seed's problems (paired by seed)."""
    rows = []
    for (setting, dep, seed), g in trained.groupby(["setting", "depth", "seed"]):
        g = g.dropna(subset=["m_star"])
        rows.append({"setting": setting, "depth": int(dep), "seed": int(seed),
                     "slope": slope(g.N, g.m_star) if g.N.nunique() >= 2 else float("nan")})
    return pd.DataFrame(rows, columns=["setting", "depth", "seed", "slope"])


def converged_share(trained: pd.DataFrame, settings) -> float:
    """Share of the width searches of `settings` in which training reached the success criterion (max error
    under tol x std(r) on all K points) at some width <= m_max: the competence the trained claims presuppose."""
    t = trained[trained.setting.isin(settings)]
    return float(t.m_star.notna().mean()) if len(t) else float("nan")


def _slope_effects(per_seed: pd.DataFrame, settings) -> dict:
    """{setting: {slope_2layer, slope_3layer, gap}} as `effect`s over seeds (gap: 2-layer minus 3-layer, paired)."""
    out = {}
    for setting in settings:
        p = per_seed[per_seed.setting == setting].pivot(index="seed", columns="depth", values="slope")
        two = p[2] if 2 in p else pd.Series(dtype=float)
        three = p[3] if 3 in p else pd.Series(dtype=float)
        out[setting] = {"slope_2layer": effect(two.dropna(), "seed"),
                        "slope_3layer": effect(three.dropna(), "seed"), "gap": effect((two - three).dropna(), "seed")}
    return out


def all_claims(cons: pd.DataFrame, bounds: pd.DataFrame, trained: pd.DataFrame,
               gates: dict | None = None) -> list[Claim]:
    """`gates`: the study config's `gates` block (threshold of the trained fits' convergence gate)."""
    exact = cons[["max_err", "max_err_retained"]].to_numpy().max()
    counts_ok = bool((cons.neurons == cons.formula).all())
    per_K = cons[cons.construction != "interpolation"].groupby(["construction", "N"]).neurons.nunique()
    slopes = {dep: slope(g.groupby("N").neurons.max().index, g.groupby("N").neurons.max().values)
              for dep, g in cons[cons.construction != "interpolation"].groupby("construction")}

    b = bounds.sort_values("N")
    ratio2 = b.two_layer_neurons / b.two_layer_min_units
    ratio3 = b.three_layer_neurons / b.three_layer_min_units
    r_slopes = {"2-layer": slope(b.N, ratio2), "3-layer": slope(b.N, ratio3)}
    tight_ok = bool(len(b) >= 2 and (ratio2 >= 1).all() and (ratio3 >= 1).all()
                    and all(v < RATIO_SLOPE_TOL for v in r_slopes.values())
                    and b.two_layer_exact.all() and b.three_layer_exact.all())

    lb_ok = bool((b.lower_bound_breakpoints == 3 * b.N).all() and (b.two_layer_breakpoints == 3 * b.N).all()
                 and (b.two_layer_breakpoints <= b.two_layer_neurons).all()
                 and (b.three_layer_breakpoints <= b.three_layer_max_breakpoints).all())

    nan2 = {"slope_2layer": float("nan"), "slope_3layer": float("nan")}
    fitted = _trained_slopes(trained)
    t_slopes = {k: fitted.get(k, nan2) for k in sorted(set(trained.get("setting", [])))}
    growing = set(trained.loc[trained.K_grows_with_N, "setting"]) if "K_grows_with_N" in trained else set()
    # judged: the settings whose K grows with N (all settings if none does), whether or not any search fitted
    judged = {k: v for k, v in t_slopes.items() if k in growing} or t_slopes
    failed = int(trained[trained.setting.isin(judged)].m_star.isna().sum()) if len(trained) else 0
    effects = _slope_effects(seed_slopes(trained), sorted(judged))
    scales_ok = bool(effects) and all(clearly_above(e["slope_2layer"], MIDWAY)
                                      and clearly_below(e["slope_3layer"], MIDWAY) for e in effects.values())
    slower_ok = bool(effects) and all(clearly_above(e["gap"], SLOWER_BY) for e in effects.values())
    fit_gate = ([gate(gates, "trained_converged", "gradient-trained g (2- and 3-layer, every judged search)",
                      f"to fit its target (max error < tol x std(r) on all K points at some width <= m_max), "
                      f"share of {int(trained.setting.isin(judged).sum())} searches",
                      converged_share(trained, judged))] if gates is not None else [])
    per_seed = {k: {name: {x: e[x] for x in ("mean", "lo", "hi", "n")} for name, e in v.items()}
                for k, v in effects.items()}
    ext = ("This project's extension: the paper proves existence and reports no trained widths. ")
    return [
        Claim("constructions_exact",
              "The 2-layer (3N units) and 3-layer (10*ceil(sqrt N)+1 units) constructions make f + g fit the new "
              "labels on all N changed points and keep the K - N others exactly as they were.",
              "max |f + g - y'| == 0 in exact rational arithmetic over every (K, d, N), retained points included",
              {"settings": int(len(cons)), "max_err": float(exact),
               "max_err_float64_same_weights": float(cons.max_err_float64.max())},
              holds=bool(exact == 0), figure="ftc_scaling.png", paper_value="Theorems (exact fit)"),
        Claim("sizes_within_constant_of_lower_bound",
              "The constructions' sizes are of the order the data forces: Theta(N) units for 2-layer g and "
              "Theta(sqrt N) for 3-layer g.",
              "on the spike pattern (3 zeros between spikes) for every N: both constructions interpolate exactly, "
              "size / (fewest units the data-derived breakpoint bound L allows: L for 2-layer, 2(sqrt(1+L)-1) for "
              f"3-layer) >= 1, and the log-log slope of that ratio against N is below {RATIO_SLOPE_TOL} (it does "
              "not grow with N; a size of a higher order than the bound gives a positive slope)",
              {"N": b.N.tolist(), "ratio_2layer": ratio2.round(3).tolist(), "ratio_3layer": ratio3.round(3).tolist(),
               "ratio_slope_2layer": r_slopes["2-layer"], "ratio_slope_3layer": r_slopes["3-layer"]},
              holds=tight_ok, figure="ftc_scaling.png", paper_value="m = Theta(N) (2-layer), Theta(sqrt N) (3-layer)"),
        Claim("lower_bounds",
              "On collinear data with 3 zeros between spikes any interpolant needs 3N breakpoints, and the 2-layer "
              "construction attains it.",
              "the breakpoint lower bound derived from the data (disjoint windows, bumps forcing 3) equals 3N, and "
              "the 2-layer construction's exactly counted breakpoints equal 3N (<= its units); the 3-layer "
              "construction's counted breakpoints stay <= m1 + m2(m1 + 1)",
              {"N": b.N.tolist(), "lower_bound": b.lower_bound_breakpoints.tolist(),
               "connect_the_dots": b.connect_the_dots_breakpoints.tolist(),
               "two_layer_breakpoints": b.two_layer_breakpoints.tolist(),
               "three_layer_breakpoints": b.three_layer_breakpoints.tolist()},
              holds=lb_ok, figure="ftc_scaling.png", paper_value="3N breakpoints; Omega(sqrt N) 3-layer units"),
        Claim("neuron_counts_independent_of_K",
              "Our constructions have 3N and 10*ceil(sqrt N)+1 units whatever K and d.",
              "every construction's size equals its formula, and for each N all (K, d) give the same size "
              "(the code's size compared with its own formula: a check of the code, not of the paper)",
              {"counts_match_formula": counts_ok, "sizes_per_N_across_K": int(per_K.max())},
              holds=counts_ok and int(per_K.max()) == 1, figure="ftc_independence_of_K.png",
              paper_value="m independent of K", kind="sanity"),
        Claim("construction_slopes",
              "Log-log slopes of our construction sizes against N are near 1 (2-layer) and 1/2 (3-layer).",
              f"|slope_2 - 1| < {SLOPE_TOL} and |slope_3 - 0.5| < {SLOPE_TOL} (the formulas' own slopes: a check of "
              "the code)",
              {"slope_2layer": slopes.get("2-layer"), "slope_3layer": slopes.get("3-layer")},
              holds=abs(slopes.get("2-layer", 0) - 1) < SLOPE_TOL and abs(slopes.get("3-layer", 0) - 0.5) < SLOPE_TOL,
              figure="ftc_scaling.png", paper_value={"2-layer": 1, "3-layer": 0.5}, kind="sanity"),
        Claim("trained_widths_scale",
              "Trained minimal widths grow about linearly in N for 2-layer g and about as sqrt N for 3-layer g.",
              "for every setting whose K grows with N (K = K_per_N * N; with K fixed, keeping the K - N zeros costs "
              "about K/d units whatever N is, so those settings are reported, not judged): the log-log slope of m* "
              "against N, one per seed (the unit: a seed draws its own problems and inits), has its interval "
              f"(mean +- 2 s.e. over seeds) above {MIDWAY} (closer to 1 than to 1/2) for 2-layer g and below "
              f"{MIDWAY} (closer to 1/2 than to 1) for 3-layer g. Gated (gates.trained_converged) on the share of "
              "judged searches that reached the fit (m* <= m_max); before issue 29 a failed search failed the claim "
              "and the slope was that of the median m* (reported beside as slope_2layer, slope_3layer)",
              {**t_slopes, "per_seed_slopes": per_seed, "judged": sorted(judged), "failed_searches": failed},
              holds=scales_ok, figure="ftc_scaling.png",
              paper_value=ext + "Compare: 3N and Theta(sqrt N) constructions.", kind="extension",
              notes="Gradient training is not the theorem: a failure here does not refute the capacity results.",
              gates=fit_gate),
        Claim("trained_3layer_grows_slower",
              "Trained minimal widths grow markedly slower with N for 3-layer g than for 2-layer g.",
              f"for every setting whose K grows with N: slope_2layer - slope_3layer, paired by seed (one log-log "
              f"slope of m* against N per seed and depth; both depths fit the same problems), has its interval "
              f"(mean +- 2 s.e. over seeds) above {SLOWER_BY}. Gated as trained_widths_scale (before issue 29: "
              "slope of the median m*, slope_3layer < slope_2layer - 0.2 on point values)",
              {**t_slopes, "per_seed_slopes": per_seed, "judged": sorted(judged)}, holds=slower_ok,
              figure="ftc_scaling.png", paper_value=ext + "Compare: slopes 1/2 vs 1 of the constructions.",
              kind="extension", gates=fit_gate),
    ]
