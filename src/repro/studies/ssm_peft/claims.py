"""ssm_peft claims, each computed from the per-(method, seed) tables by the rule it states.

Methods are compared by paired differences over seeds: every method of a seed starts from the same frozen S4D
(synthetic) or the same pretrained Mamba with the same new head (digits), so the seed is the independent unit and
a comparison's spread is the standard error of its per-seed differences (`effect`: mean +- 2 SE). "Better" needs
the whole interval beyond zero (a tie fails); "at least as good" needs its lower end above a tolerance. Every
threshold (the share of budgets SDT must win, the budget bands, the tolerance) is the config's `thresholds`, set
before the measured run. The Mamba seeds share one pretrained model: their intervals are conditional on it. Which
method plays which role (e.g. "LoRA on the linear projections") is named in the config's `roles`.

Synthetic protocol (issue 30, the paper's): each method runs K configurations (K learning rates, the same K for
every method); a run's score is its best-so-far training MSE (the minimum over steps, run_s4.py's `best_loss`);
a method's score per seed is the best of its K runs (s4_plot.ipynb `get_loss`), divided by Var(target).

Gates (thresholds in the config's `gates`): the full fine-tune must fit the synthetic target, the pretrained
Mamba must classify digits 0-4, and its full fine-tune digits 5-9; a failed gate makes a claim "not measured".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from repro.core.claims import Claim, clearly_above, effect, gate, no_worse_than
from repro.core.claims import all_finite as _finite
from repro.core.claims import standard_error as _se

THRESHOLDS = ("s4_pair_share", "similar_ratio", "brief_band", "repo_band", "match_tolerance")


def _thresholds(t: dict) -> dict:
    missing = [k for k in THRESHOLDS if k not in (t or {})]
    if missing:
        raise KeyError(f"config: `thresholds` lacks {missing} (set before measuring)")
    return t


def _by_seed(df: pd.DataFrame, method: str, col: str) -> pd.Series:
    rows = df[df["method"] == method]
    if rows.empty:
        raise ValueError(f"no rows for method {method!r}")
    return rows.set_index("seed")[col].sort_index()


def paired(df: pd.DataFrame, a: str, b: str, col: str) -> dict:
    """a - b over the seeds both have: each side's mean, the per-seed differences' mean, standard error and
    interval (mean +- 2 SE, the seed the unit)."""
    xa, xb = _by_seed(df, a, col), _by_seed(df, b, col)
    common = xa.index.intersection(xb.index)
    d = xa[common] - xb[common]
    e = effect(d.to_numpy(), "seed")
    return {"a": float(xa[common].mean()), "b": float(xb[common].mean()), "diff": e["mean"], "se": e["se"],
            "lo": e["lo"], "hi": e["hi"], "n_seeds": e["n"], "unit": "seed",
            "per_seed": {str(k): float(v) for k, v in d.items()}}


def _effect_of(p: dict) -> dict:
    """The `effect` view of a `paired` summary, for clearly_above / no_worse_than."""
    return {"mean": p["diff"], "se": p["se"], "lo": p["lo"], "hi": p["hi"], "n": p["n_seeds"], "unit": "seed"}


def s4_gate(best: pd.DataFrame, gates: dict):
    """The full fine-tune's worst seed on the held-out target (NMSE 1: no better than the target's mean); `best`:
    the `best_of_k` table (the held-out NMSE of the configuration the protocol selects)."""
    full = best[best["kind"] == "full"]
    value = float(full["heldout_nmse"].max()) if len(full) else None
    return gate(gates, "s4_full_nmse", f"the fully fine-tuned deep S4D ({full['seed'].nunique()} seeds, worst)",
                "the smaller target S4D (held-out MSE / Var(target))", value, higher=False)


def mamba_gates(ft: pd.DataFrame, pretrain_accuracy, gates: dict) -> list:
    """The pretrained Mamba on held-out digits 0-4, and its full fine-tune's worst seed on held-out 5-9."""
    full = ft[ft["kind"] == "full"]
    worst = float(full["accuracy"].min()) if len(full) else None
    return [gate(gates, "pretrain_accuracy", "the pretrained Mamba", "digits 0-4 (held-out accuracy, chance 0.2)",
                 pretrain_accuracy),
            gate(gates, "full_ft_accuracy", f"the fully fine-tuned Mamba ({full['seed'].nunique()} seeds, worst)",
                 "digits 5-9 (held-out accuracy, chance 0.2)", worst)]


def params(df: pd.DataFrame, method: str) -> int:
    return int(_by_seed(df, method, "n_trainable").iloc[0])


def summary(df: pd.DataFrame, col: str) -> pd.DataFrame:
    g = df.groupby("method", sort=False)
    return pd.DataFrame({"kind": g["kind"].first(), "n_trainable": g["n_trainable"].first(),
                         "trainable_pct": g["trainable_pct"].first(), "mean": g[col].mean(),
                         "se": g[col].apply(_se), "n_seeds": g[col].size()})


def with_nmse(s4: pd.DataFrame) -> pd.DataFrame:
    """MSE over the target's output variance: seeds draw targets of different scales, so raw MSEs do not average."""
    return s4.assign(nmse=s4["mse"] / s4["target_var"])


def best_of_k(s4: pd.DataFrame) -> pd.DataFrame:
    """The paper's selection, one row per (seed, method): of the method's K configurations (rows) on that seed, the
    one with the lowest best-so-far training MSE. `nmse`: that best-so-far MSE / Var(target) (what the claims
    decide on); `heldout_nmse`: the same configuration's final held-out MSE / Var(target) (reported beside); `k`:
    how many configurations it was chosen from; `lr`: the chosen configuration's. A diverged run (NaN) never wins."""
    runs = s4.assign(_key=s4["best_train_loss"].astype(float).fillna(np.inf)).reset_index(drop=True)
    k = runs.groupby(["seed", "method"], sort=False)["_key"].size().rename("k")
    chosen = runs.loc[runs.groupby(["seed", "method"], sort=False)["_key"].idxmin()]
    out = chosen.join(k, on=["seed", "method"]).drop(columns="_key").reset_index(drop=True)
    return out.assign(nmse=out["best_train_loss"] / out["target_var"], heldout_nmse=out["mse"] / out["target_var"])


def config0(s4: pd.DataFrame) -> pd.DataFrame:
    """The protocol before issue 30 on the same runs: configuration 0 only (the earlier learning rate), scored by
    its final held-out NMSE."""
    first = s4[s4["config"] == 0]
    return with_nmse(first).reset_index(drop=True)


def s4_claims(s4: pd.DataFrame, pairs: list, gates: dict, thresholds: dict) -> list[Claim]:
    """`s4`: one row per (seed, method, configuration); `gates`: the config's competence thresholds (s4_full_nmse);
    `thresholds`: the config's claim thresholds (s4_pair_share)."""
    share_needed = float(_thresholds(thresholds)["s4_pair_share"])
    runs = s4
    s4 = best_of_k(runs)
    old = config0(runs)
    out = []
    fitted = s4_gate(s4, gates)
    signs = s4.groupby("method")["sign"].first()
    for sdt, _ in pairs:
        if signs.get(sdt) != "fixed":
            raise ValueError(f"budgets pair SDT method {sdt!r} must be an sdt method with the fixed sign")
    for pair in pairs:
        ks = {m: set(s4.loc[s4["method"] == m, "k"]) for m in pair}
        if len(set().union(*ks.values())) != 1:
            raise ValueError(f"budgets pair {pair}: the arms must run the same number of configurations, got {ks}")
    per_pair, wins, cells, cell_wins = {}, 0, 0, 0
    for sdt, lora in pairs:
        p = paired(s4, lora, sdt, "nmse")  # LoRA - SDT: positive when SDT reaches the lower error
        n_sdt, n_lora = params(s4, sdt), params(s4, lora)
        win = clearly_above(_effect_of(p)) and n_sdt <= n_lora
        wins += win
        cells += len(p["per_seed"])
        cell_wins += sum(v > 0 for v in p["per_seed"].values())
        h, o = paired(s4, lora, sdt, "heldout_nmse"), paired(old, lora, sdt, "nmse")
        per_pair[f"{sdt}_vs_{lora}"] = {"sdt": p["b"], "lora_ssm": p["a"], "lora_minus_sdt": p["diff"],
                                        "se": p["se"], "lo": p["lo"], "hi": p["hi"], "per_seed": p["per_seed"],
                                        "params_sdt": n_sdt, "params_lora_ssm": n_lora, "sdt_wins": bool(win),
                                        "k": int(s4.loc[s4["method"] == sdt, "k"].iloc[0]),
                                        # beside, not decided on: the selected runs' final held-out NMSE, and the
                                        # earlier protocol (configuration 0, final held-out NMSE) on the same runs
                                        "heldout_lora_minus_sdt": h["diff"], "heldout_se": h["se"],
                                        "config0_lora_minus_sdt": o["diff"], "config0_se": o["se"]}
    upstream = summary(s4[s4["sign"] == "upstream"], "nmse") if (s4["sign"] == "upstream").any() else None
    share = wins / len(pairs) if pairs else float("nan")
    lrs = sorted(set(runs["lr"])) if "lr" in runs else []
    out.append(Claim(
        id="s4_sdt_beats_lora_ssm",
        statement="Deep S4 frozen -> smaller target: SDT+LoRA reaches a lower MSE than LoRA on the S4 and "
                  "projection weights, with no more trainable parameters.",
        rule=f"the paper's protocol: every method runs the same K configurations (K = {len(lrs)} learning rates "
             f"{lrs}); a run's score is its best-so-far training MSE (the minimum over steps, run_s4.py's "
             f"best_loss), a method's score on a seed the best of its K runs (s4_plot.ipynb get_loss), over "
             f"Var(target). Per budget pair (config `budgets`), paired by seed (one frozen/target pair per seed, "
             f"the unit): SDT (sign-fixed selection) wins a pair when LoRA(S4+Proj) minus SDT has mean - 2 SE over "
             f"seeds > 0 (a lower mean within noise is no win) and SDT trains <= LoRA(S4+Proj)'s parameters; holds "
             f"when it wins >= {share_needed:g} of the pairs (config `thresholds.s4_pair_share`). The per-(seed, "
             f"budget) wins, the selected runs' held-out NMSE and the earlier protocol's numbers are reported "
             f"beside. Departures: configurations vary the learning rate only (the repo also varies dimensions "
             f"and ranks at one parameter count); the score is normalised per seed (targets differ in scale); "
             f"log_dt and D train in both methods; each configuration runs once per seed, and seeds are paired "
             f"(the paper plots one sweep's best).",
        measured={"share_won": share, "pairs": per_pair, "seed_budget_wins": f"{cell_wins} of {cells}",
                  "upstream_sign_nmse": ({m: float(v) for m, v in upstream["mean"].items()}
                                         if upstream is not None else {})},
        holds=bool(pairs) and share >= share_needed, gates=[fitted],
        figure="ssm_peft_budget.png",
        paper_value="SDT+LoRA below LoRA(S4+Proj) at every budget (paper's synthetic figure, 4 runs)",
    ))
    means = summary(s4, "nmse")["mean"]
    kinds = s4.groupby("method")["kind"].first()
    full, frozen = kinds[kinds == "full"].index, kinds[kinds == "frozen"].index
    others = list(kinds[~kinds.isin(["full", "frozen"])].index)
    ok = len(full) == 1 and len(frozen) == 1 and len(others) > 0
    above_full = {m: paired(s4, m, full[0], "nmse") for m in others} if ok else {}  # PEFT - full
    below_frozen = {m: paired(s4, frozen[0], m, "nmse") for m in others} if ok else {}  # frozen - PEFT
    bad = sorted({m for m, p in above_full.items() if not clearly_above(_effect_of(p))}
                 | {m for m, p in below_frozen.items() if not clearly_above(_effect_of(p))})

    def closest(d):  # the method whose paired interval comes nearest to zero
        if not d:
            return None
        m = min(d, key=lambda k: d[k]["lo"] if np.isfinite(d[k]["lo"]) else -np.inf)
        return {"method": m, "diff": d[m]["diff"], "se": d[m]["se"], "lo": d[m]["lo"]}

    out.append(Claim(
        id="s4_full_ft_bounds",
        statement="Full fine-tuning is the lower bound and the frozen model (output bias only) the upper bound of "
                  "every PEFT method's MSE.",
        rule="the same score as s4_sdt_beats_lora_ssm (best of K configurations on best-so-far training "
             "MSE/Var(target); full and frozen run the same K), paired by seed (the unit): for every PEFT method, "
             "PEFT minus full and frozen minus PEFT each have mean - 2 SE over seeds > 0 (full clearly below, "
             "frozen clearly above; a tie fails).",
        measured={"full": float(means[full[0]]) if ok else None, "frozen": float(means[frozen[0]]) if ok else None,
                  "best_peft": float(means[others].min()) if ok else None,
                  "worst_peft": float(means[others].max()) if ok else None,
                  "nearest_full": closest(above_full), "nearest_frozen": closest(below_frozen),
                  "not_clearly_between": bad},
        holds=ok and not bad, gates=[fitted],
        figure="ssm_peft_budget.png",
        paper_value="Full FT lowest, Frozen highest (paper's synthetic figure)",
    ))
    return out


def matched_best(ft: pd.DataFrame, s: pd.DataFrame, sdt: str, candidates: list, band, tolerance: float) -> dict:
    """SDT+LoRA against the best (by mean accuracy) of `candidates` whose trainable parameters lie within `band`
    (low, high) times SDT+LoRA's: the paired difference SDT - best by seed, and whether its lower end (mean - 2 SE)
    is above -tolerance. Every candidate must be a method of the table (a config error otherwise)."""
    missing = [c for c in candidates if c not in s.index]
    if missing:
        raise ValueError(f"roles name LoRA candidates that were not run: {missing}")
    n_sdt = params(ft, sdt)
    lo, hi = float(band[0]), float(band[1])
    rows = s.loc[list(candidates)]
    inside = rows[(rows["n_trainable"] >= lo * n_sdt) & (rows["n_trainable"] <= hi * n_sdt)]
    out = {"candidates": {m: {"params": int(r.n_trainable), "ratio": float(r.n_trainable / n_sdt),
                              "accuracy": float(r["mean"]), "in_band": m in inside.index}
                          for m, r in rows.iterrows()},
           "band": [lo, hi], "best": None, "holds": False}
    if inside.empty:
        return out
    best = inside["mean"].idxmax()
    q = paired(ft, sdt, best, "accuracy")
    out.update(best=best, best_acc=q["b"], params_best=params(ft, best), diff=q["diff"], se=q["se"], lo=q["lo"],
               hi=q["hi"], per_seed=q["per_seed"], holds=no_worse_than(_effect_of(q), tolerance),
               loses_every_seed=bool(q["per_seed"]) and all(v < 0 for v in q["per_seed"].values()))
    return out


def mamba_claims(ft: pd.DataFrame, roles: dict, gates: dict, pretrain_accuracy, thresholds: dict) -> list[Claim]:
    """`gates`: the config's competence thresholds (pretrain_accuracy, full_ft_accuracy); `pretrain_accuracy`: the
    pretrained model's held-out accuracy on digits 0-4; `thresholds`: the config's claim thresholds."""
    t = _thresholds(thresholds)
    similar, tolerance = float(t["similar_ratio"]), float(t["match_tolerance"])
    out = []
    learned = mamba_gates(ft, pretrain_accuracy, gates)
    s = summary(ft, "accuracy")
    if not _finite(s["mean"].to_numpy()):
        raise ValueError(f"non-finite accuracy for {list(s.index[~np.isfinite(s['mean'])])}")
    lora_based = s[s["kind"].isin(["lora", "sdt"])]
    weak = s[s["kind"].isin(["prompt", "init_state"])]
    bitfit = s[s["kind"] == "bitfit"]
    ok = not lora_based.empty and not weak.empty
    gaps = {f"{lo}_minus_{w}": paired(ft, lo, w, "accuracy") for lo in lora_based.index for w in weak.index}
    tightest = min(gaps, key=lambda k: gaps[k]["lo"]) if gaps else None
    out.append(Claim(
        id="prompt_state_worst",
        statement="Prompt tuning and initial-state tuning are worse than every LoRA-based method.",
        rule="test accuracy, paired by seed (the unit): for each prompt / initial-state method and each LoRA and "
             "SDT+LoRA method, LoRA-based minus weak has mean - 2 SE over seeds > 0. Departures: BitFit is "
             "reported (`below_bitfit_too`, a comparison of means) but not compared, since it trains far fewer "
             "parameters here, though the brief's wording 'worst among PEFT methods' would include it; prefix "
             "tuning is not built (on an SSM it amounts to initial-state tuning, the paper's v1 argument).",
        measured={"weak": {m: float(v) for m, v in weak["mean"].items()},
                  "lora_based": {m: float(v) for m, v in lora_based["mean"].items()},
                  "margin": float(lora_based["mean"].min() - weak["mean"].max()) if ok else None,
                  "tightest": ({"pair": tightest, **{k: gaps[tightest][k] for k in ("diff", "se", "lo")}}
                               if tightest else None),
                  # the brief's wider wording ("worst among PEFT methods") would also put them below BitFit
                  "bitfit": {m: float(v) for m, v in bitfit["mean"].items()},
                  "below_bitfit_too": bool(ok and not bitfit.empty and weak["mean"].max() < bitfit["mean"].min()),
                  "params": {m: int(v) for m, v in s["n_trainable"].items()}},
        holds=ok and all(clearly_above(_effect_of(p)) for p in gaps.values()), gates=list(learned),
        figure="ssm_peft_budget.png",
        paper_value="prompt and prefix tuning the weakest PEFT methods on every Mamba benchmark",
    ))
    lin, ssm = roles["lora_linear"], roles["lora_ssm"]
    p = paired(ft, lin, ssm, "accuracy")
    ratio = max(params(ft, lin), params(ft, ssm)) / min(params(ft, lin), params(ft, ssm))
    out.append(Claim(
        id="lora_linear_beats_lora_ssm",
        statement="LoRA on the linear projections (in_proj, out_proj) beats LoRA on the SSM modules "
                  "(x_proj, dt_proj) at a similar budget.",
        rule=f"test accuracy, paired by seed (the unit): {lin} - {ssm} has mean - 2 SE over seeds > 0, with "
             f"trainable parameters within a factor {similar:g} (config `thresholds.similar_ratio`).",
        measured={lin: p["a"], ssm: p["b"], "diff": p["diff"], "se": p["se"], "lo": p["lo"], "hi": p["hi"],
                  "n_seeds": p["n_seeds"], "params": {lin: params(ft, lin), ssm: params(ft, ssm)}},
        holds=bool(clearly_above(_effect_of(p)) and ratio <= similar), gates=list(learned),
        figure="ssm_peft_budget.png",
        paper_value="LoRA(in/out proj) above LoRA(x_proj/dt_proj) on GLUE, DART, SAMSum, Spider",
    ))
    sdt, alone = roles["sdt"], roles["sdt_lora_alone"]
    n_sdt = params(ft, sdt)
    brief = matched_best(ft, s, sdt, roles["brief_lora"], t["brief_band"], tolerance)
    repo = matched_best(ft, s, sdt, roles["repo_lora"], t["repo_band"], tolerance)
    sdt_rows = ft[ft["method"] == sdt]
    n_alone = params(ft, alone)
    share = {"channels_per_layer": int(sdt_rows["sdt_channels"].iloc[0]) if "sdt_channels" in sdt_rows else None,
             "states_per_channel": int(sdt_rows["sdt_states"].iloc[0]) if "sdt_states" in sdt_rows else None,
             "sparse_params": n_sdt - n_alone, "share_of_budget": (n_sdt - n_alone) / n_sdt}
    out.append(Claim(
        id="sdt_matches_best_lora",
        statement="SDT+LoRA is at least as good as the best LoRA configuration at a matched budget.",
        rule=f"two comparisons, each on test accuracy paired by seed (the unit), each against the best (by mean "
             f"accuracy) of its LoRA configurations whose trainable parameters lie in a band around SDT+LoRA's; "
             f"'at least as good' when SDT+LoRA minus it has mean - 2 SE over seeds > -{tolerance:g} (config "
             f"`thresholds.match_tolerance`; a tie within noise wider than the tolerance does not count). The "
             f"brief's: {', '.join(roles['brief_lora'])} within {t['brief_band'][0]:g}-{t['brief_band'][1]:g} times "
             f"SDT+LoRA's parameters. The official repository's (cfg/exps/sdlora: LoRA on out_proj in every arm, "
             f"SDT on the SSM against LoRA on x_proj / dt_proj): {', '.join(roles['repo_lora'])} within "
             f"{t['repo_band'][0]:g}-{t['repo_band'][1]:g} times. Holds when both hold. SDT+LoRA tunes "
             f"{share['channels_per_layer']} channel(s) per layer and {share['states_per_channel']} state(s) per "
             f"channel, {share['sparse_params']} sparse parameters ({100 * share['share_of_budget']:.1f}% of its "
             f"budget); the paper's 1% of channels is about 3% of SDT+LoRA's budget.",
        measured={"sdt": float(s.loc[sdt, "mean"]), "params_sdt": n_sdt, "sdt_share": share,
                  "brief": brief, "repo": repo, "tolerance": tolerance},
        holds=bool(brief["holds"] and repo["holds"]), gates=list(learned),
        figure="ssm_peft_budget.png",
        paper_value="SDT+LoRA best or tied-best on GLUE, DART, SAMSum, Spider (Tables in section 6)",
    ))
    r = paired(ft, sdt, alone, "accuracy")
    out.append(Claim(
        id="sdt_adds_to_its_lora",
        statement="Sparse tuning of the SSM (A, B, C of the selected channels and states) adds to the LoRA it "
                  "is paired with.",
        rule=f"test accuracy, paired by seed (the unit): {sdt} - {alone} ({alone}: the same LoRA without SDT) has "
             f"mean - 2 SE over seeds > 0 (an effect within two standard errors, or a tie, fails).",
        measured={sdt: r["a"], alone: r["b"], "diff": r["diff"], "se": r["se"], "lo": r["lo"], "hi": r["hi"],
                  "per_seed": r["per_seed"], "params": {sdt: n_sdt, alone: params(ft, alone)}},
        holds=clearly_above(_effect_of(r)), gates=list(learned),
        figure="ssm_peft_budget.png",
        paper_value="SDT+LoRA above LoRA alone (the brief's acceptance check)",
    ))
    return out
