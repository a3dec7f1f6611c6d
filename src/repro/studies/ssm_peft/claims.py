"""ssm_peft claims, each computed from the per-(method, seed) tables by the rule it states.

Methods are compared by their mean over seeds; spreads are standard errors over seeds, paired by seed where two
methods are compared (every method of a seed starts from the same frozen or pretrained model). Which method
plays which role (e.g. "LoRA on the linear projections") is named in the config's `roles`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from repro.core.claims import Claim
from repro.core.claims import all_finite as _finite
from repro.core.claims import standard_error as _se

S4_PAIR_SHARE = 2 / 3  # the brief: SDT+LoRA beats LoRA(S4+Proj) on at least 2/3 of the budgets
MATCHED_MAX_RATIO = 2.0  # "similar" / "matched" trainable-parameter counts: within a factor of 2


def _by_seed(df: pd.DataFrame, method: str, col: str) -> pd.Series:
    rows = df[df["method"] == method]
    if rows.empty:
        raise ValueError(f"no rows for method {method!r}")
    return rows.set_index("seed")[col].sort_index()


def paired(df: pd.DataFrame, a: str, b: str, col: str) -> dict:
    """Mean of a - b over the seeds both have, its paired standard error, and each side's mean."""
    xa, xb = _by_seed(df, a, col), _by_seed(df, b, col)
    common = xa.index.intersection(xb.index)
    d = xa[common] - xb[common]
    return {"a": float(xa[common].mean()), "b": float(xb[common].mean()), "diff": float(d.mean()),
            "se": _se(d), "n_seeds": int(len(common))}


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


def s4_claims(s4: pd.DataFrame, pairs: list) -> list[Claim]:
    s4 = with_nmse(s4)
    out = []
    signs = s4.groupby("method")["sign"].first()
    for sdt, _ in pairs:
        if signs.get(sdt) != "fixed":
            raise ValueError(f"budgets pair SDT method {sdt!r} must be an sdt method with the fixed sign")
    per_pair, wins = {}, 0
    for sdt, lora in pairs:
        p = paired(s4, sdt, lora, "nmse")
        n_sdt, n_lora = params(s4, sdt), params(s4, lora)
        win = _finite(p["a"], p["b"]) and p["diff"] < 0 and n_sdt <= n_lora
        wins += win
        per_pair[f"{sdt}_vs_{lora}"] = {"sdt": p["a"], "lora_ssm": p["b"], "diff": p["diff"], "se": p["se"],
                                        "params_sdt": n_sdt, "params_lora_ssm": n_lora, "sdt_wins": bool(win)}
    upstream = summary(s4[s4["sign"] == "upstream"], "nmse") if (s4["sign"] == "upstream").any() else None
    share = wins / len(pairs) if pairs else float("nan")
    out.append(Claim(
        id="s4_sdt_beats_lora_ssm",
        statement="Deep S4 frozen -> smaller target: SDT+LoRA reaches a lower MSE than LoRA on the S4 and "
                  "projection weights, with no more trainable parameters.",
        rule=f"per budget pair (config `budgets`), mean over seeds of MSE/Var(target) on held-out inputs; SDT "
             f"(sign-fixed selection) wins a pair when its mean is lower and it trains <= LoRA(S4+Proj)'s "
             f"parameters; holds when it wins >= {S4_PAIR_SHARE:.2f} of the pairs. Departure: MSE is normalised "
             f"per seed (targets differ in scale); log_dt and D train in both methods.",
        measured={"share_won": share, "pairs": per_pair,
                  "upstream_sign_nmse": ({m: float(v) for m, v in upstream["mean"].items()}
                                         if upstream is not None else {})},
        holds=bool(pairs) and share >= S4_PAIR_SHARE,
        figure="ssm_peft_budget.png",
        paper_value="SDT+LoRA below LoRA(S4+Proj) at every budget (paper's synthetic figure, 4 runs)",
    ))
    means = summary(s4, "nmse")["mean"]
    kinds = s4.groupby("method")["kind"].first()
    full, frozen = kinds[kinds == "full"].index, kinds[kinds == "frozen"].index
    others = kinds[~kinds.isin(["full", "frozen"])].index
    ok = len(full) == 1 and len(frozen) == 1 and len(others) > 0
    out.append(Claim(
        id="s4_full_ft_bounds",
        statement="Full fine-tuning is the lower bound and the frozen model (output bias only) the upper bound of "
                  "every PEFT method's MSE.",
        rule="mean MSE/Var(target) over seeds: full <= every PEFT method <= frozen.",
        measured={"full": float(means[full[0]]) if ok else None, "frozen": float(means[frozen[0]]) if ok else None,
                  "best_peft": float(means[others].min()) if ok else None,
                  "worst_peft": float(means[others].max()) if ok else None},
        holds=ok and _finite(means.to_numpy()) and bool(means[full[0]] <= means[others].min()
                                                        and means[others].max() <= means[frozen[0]]),
        figure="ssm_peft_budget.png",
        paper_value="Full FT lowest, Frozen highest (paper's synthetic figure)",
    ))
    return out


def mamba_claims(ft: pd.DataFrame, roles: dict) -> list[Claim]:
    out = []
    s = summary(ft, "accuracy")
    if not _finite(s["mean"].to_numpy()):
        raise ValueError(f"non-finite accuracy for {list(s.index[~np.isfinite(s['mean'])])}")
    lora_based = s[s["kind"].isin(["lora", "sdt"])]
    weak = s[s["kind"].isin(["prompt", "init_state"])]
    bitfit = s[s["kind"] == "bitfit"]
    ok = not lora_based.empty and not weak.empty
    out.append(Claim(
        id="prompt_state_worst",
        statement="Prompt tuning and initial-state tuning are worse than every LoRA-based method.",
        rule="mean test accuracy over seeds: each prompt / initial-state method below every LoRA and SDT+LoRA "
             "method. Departures: BitFit is reported (`below_bitfit_too`) but not compared, since it trains far "
             "fewer parameters here, though the brief's wording 'worst among PEFT methods' would include it; "
             "prefix tuning is not built (on an SSM it amounts to initial-state tuning, the paper's v1 argument).",
        measured={"weak": {m: float(v) for m, v in weak["mean"].items()},
                  "lora_based": {m: float(v) for m, v in lora_based["mean"].items()},
                  "margin": float(lora_based["mean"].min() - weak["mean"].max()) if ok else None,
                  # the brief's wider wording ("worst among PEFT methods") would also put them below BitFit
                  "bitfit": {m: float(v) for m, v in bitfit["mean"].items()},
                  "below_bitfit_too": bool(ok and not bitfit.empty and weak["mean"].max() < bitfit["mean"].min()),
                  "params": {m: int(v) for m, v in s["n_trainable"].items()}},
        holds=ok and bool(weak["mean"].max() < lora_based["mean"].min()),
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
        rule=f"mean test accuracy over seeds, paired by seed: {lin} - {ssm} > 0, with trainable parameters "
             f"within a factor {MATCHED_MAX_RATIO:g}.",
        measured={lin: p["a"], ssm: p["b"], "diff": p["diff"], "se": p["se"], "n_seeds": p["n_seeds"],
                  "params": {lin: params(ft, lin), ssm: params(ft, ssm)}, "within_noise": abs(p["diff"]) < p["se"]},
        holds=bool(p["diff"] > 0 and ratio <= MATCHED_MAX_RATIO),
        figure="ssm_peft_budget.png",
        paper_value="LoRA(in/out proj) above LoRA(x_proj/dt_proj) on GLUE, DART, SAMSum, Spider",
    ))
    sdt, alone = roles["sdt"], roles["sdt_lora_alone"]
    n_sdt = params(ft, sdt)
    lora_rows = s[s["kind"] == "lora"]
    matched = lora_rows[(lora_rows["n_trainable"] >= n_sdt) & (lora_rows["n_trainable"] <= MATCHED_MAX_RATIO * n_sdt)]
    best = matched["mean"].idxmax() if not matched.empty else None
    q = paired(ft, sdt, best, "accuracy") if best is not None else None
    out.append(Claim(
        id="sdt_matches_best_lora",
        statement="SDT+LoRA is at least as good as the best LoRA configuration at a matched budget.",
        rule=f"LoRA methods training between 1 and {MATCHED_MAX_RATIO:g} times SDT+LoRA's parameters; the best by "
             "mean accuracy; holds when SDT+LoRA's mean is >= that mean minus one paired standard error "
             "(a tie within noise counts as 'at least as good').",
        measured=({"sdt": q["a"], "best_lora": best, "best_lora_acc": q["b"], "diff": q["diff"], "se": q["se"],
                   "params": {sdt: n_sdt, best: params(ft, best)}} if q else {"best_lora": None}),
        holds=q is not None and bool(q["diff"] >= -(q["se"] if np.isfinite(q["se"]) else 0.0)),
        figure="ssm_peft_budget.png",
        paper_value="SDT+LoRA best or tied-best on GLUE, DART, SAMSum, Spider (Tables in section 6)",
    ))
    r = paired(ft, sdt, alone, "accuracy")
    out.append(Claim(
        id="sdt_adds_to_its_lora",
        statement="Sparse tuning of the SSM (A, B, C of the selected channels and states) adds to the LoRA it "
                  "is paired with.",
        rule=f"mean test accuracy over seeds, paired: {sdt} - {alone} > 0 ({alone}: the same LoRA without SDT).",
        measured={sdt: r["a"], alone: r["b"], "diff": r["diff"], "se": r["se"],
                  "params": {sdt: n_sdt, alone: params(ft, alone)}, "within_noise": abs(r["diff"]) < r["se"]},
        holds=bool(r["diff"] > 0),
        figure="ssm_peft_budget.png",
        paper_value="SDT+LoRA above LoRA alone (the brief's acceptance check)",
    ))
    return out
