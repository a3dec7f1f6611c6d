"""kv_retrieval claims, each computed from the evaluation table by the rule it states.

The table has one row per evaluated prompt: arm (base, plain, template, facts), seed (-1 for base: one start, one
evaluation), task (kv / mdqa), dataset (kv, fictional, nq), n_docs, where (first / middle / last), qid, correct
(0/1), perplexity and kv_overlap (per arm and seed).

Guards (docs/design.md, "Verdicts"):
- Units. Every arm answers the same held-out prompts (evaluation draws do not depend on the training seed), so
  the unit of an accuracy interval is the prompt: a fine-tuned arm's correctness is first averaged over its
  seeds, then differenced with base's (evaluated once, never repeated per seed), and the 95% bootstrap resamples
  prompts. Perplexity is one fixed text per model: its units are the text's sentences (seeds averaged per
  sentence), so one training seed still gets an interval (over the text, not over seeds).
- Gates. The transfer, template and perplexity claims presuppose a fine-tune that learned its own task: held-out
  KV accuracy above base by the config's margin (`gates.kv_gain`, on the lower end of the gain's interval).
  `kv_accuracy_rises`, which measures exactly that, is gated instead on the fine-tune having reduced its own
  training loss (`gates.train_loss_drop`): a run whose optimiser did nothing says nothing about retrieval.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from repro.core.claims import Claim, Gate, boot_effect, bootstrap_ratio_ci, clearly_above, gate, no_worse_than

WHERE = ("first", "middle", "last")


def _qa(df, arm, n_docs, dataset="fictional"):
    return df[(df.task == "mdqa") & (df.arm == arm) & (df.n_docs == n_docs) & (df.dataset == dataset)]


def _arm_present(df, arm) -> bool:
    return bool((df.arm == arm).any())


def by_position(df, arm, n_docs) -> pd.DataFrame:
    """Accuracy per question and position, averaged over the arm's seeds (rows: qid; columns: where)."""
    return _qa(df, arm, n_docs).groupby(["qid", "where"])["correct"].mean().unstack()


def per_prompt(df, arm, task="kv") -> pd.Series:
    """Held-out KV correctness per prompt (n_docs, qid), averaged over the arm's seeds."""
    return df[(df.task == task) & (df.arm == arm)].groupby(["n_docs", "qid"])["correct"].mean()


def _paired(a: pd.Series, b: pd.Series, unit: str) -> dict:
    """a - b on the prompts both arms answered, 95% bootstrap over those prompts."""
    d = (a - b.reindex(a.index)).dropna()
    return boot_effect(d.to_numpy(), unit)


def kv_gain(df, arm) -> dict:
    """Held-out KV accuracy of `arm` minus base's, paired by prompt."""
    return _paired(per_prompt(df, arm), per_prompt(df, "base"), "held-out KV prompts (arm's seeds averaged)")


def middle_gain(df, arm, n_docs) -> dict:
    a, b = by_position(df, arm, n_docs), by_position(df, "base", n_docs)
    if "middle" not in a or "middle" not in b:
        return boot_effect([], "MDQA questions")
    return _paired(a["middle"], b["middle"], "MDQA questions (arm's seeds averaged)")


def u_depth(acc: pd.DataFrame) -> pd.Series:
    """Per question: the ends' mean accuracy minus the middle's (a lost-in-the-middle U is > 0). A fixed contrast:
    choosing the best and worst positions from the same data would inflate base's curve and favour a flattening."""
    if not set(WHERE) <= set(acc.columns):
        return pd.Series(dtype=float)
    return (acc["first"] + acc["last"]) / 2 - acc["middle"]


def text_change(df, arm, ref) -> dict:
    """1 - perplexity(arm) / perplexity(ref) on the held-out text, from its per-sentence terms (task "ppl": summed
    NLL and token count per sentence; an arm's seeds averaged per sentence), with a 95% bootstrap over sentences of
    the token-weighted mean NLL change. Perplexity is one text per model, so with one training seed the sentences
    are the only units there are: the interval says how much the change varies across the text, not across
    seeds."""
    rows = df[df.task == "ppl"] if "nll" in df else df.iloc[:0]
    a = rows[rows.arm == arm].groupby("qid")[["nll", "tokens"]].mean()
    b = rows[rows.arm == ref].groupby("qid")[["nll", "tokens"]].mean().reindex(a.index)
    keep = b.notna().all(axis=1)
    a, b = a[keep], b[keep]
    unit = "sentences of the held-out text (arm's seeds averaged)"
    if len(a) < 2:
        return {"mean": float("nan"), "se": float("nan"), "lo": float("nan"), "hi": float("nan"), "n": len(a),
                "unit": unit}
    d = (a["nll"] - b["nll"]).to_numpy()
    tokens = b["tokens"].to_numpy()
    lo, hi = bootstrap_ratio_ci(d, tokens)
    return {"mean": float(1 - np.exp(d.sum() / tokens.sum())), "se": float("nan"), "lo": float(1 - np.exp(hi)),
            "hi": float(1 - np.exp(lo)), "n": int(len(a)), "unit": unit}


def train_loss_drop(history: pd.DataFrame | None, arm: str) -> float | None:
    """The worst seed's relative drop of the training answer loss: 1 - (last tenth of steps) / (first tenth)."""
    if history is None or history.empty:
        return None
    drops = []
    for _, h in history[history.arm == arm].groupby("seed"):
        loss = h.sort_values("step")["loss"].to_numpy(dtype=float)
        k = max(1, len(loss) // 10)
        first = loss[:k].mean()
        drops.append(1 - loss[-k:].mean() / first if first > 0 else float("nan"))
    return float(min(drops)) if drops and all(np.isfinite(drops)) else None


def _learned(gates: dict, df, arm: str, label: str) -> Gate:
    e = kv_gain(df, arm) if _arm_present(df, arm) else {"lo": None, "n": 0}
    return gate(gates, "kv_gain", f"the {label} fine-tune (lower end of the 95% interval over held-out prompts of "
                f"its KV accuracy minus base's, seeds averaged)", "held-out KV retrieval", e["lo"])


def _e(e: dict) -> dict:
    return {k: (round(v, 4) if isinstance(v, float) and np.isfinite(v) else v) for k, v in e.items()}


def claims(df: pd.DataFrame, n_docs: int, ppl_tolerance: float, acc_tolerance: float, gates: dict,
           history: pd.DataFrame | None = None) -> list[Claim]:
    """history: the fine-tunes' loss histories (columns arm, seed, step, loss); gates: the config's `gates`."""
    out = []
    for arm in ("base", "template"):
        if not _arm_present(df, arm):
            raise ValueError(f"kv_retrieval claims need the {arm!r} arm's evaluation")
    learned = _learned(gates, df, "template", "with-template")
    n_seeds = int(df[df.arm == "template"].seed.nunique())

    gain = middle_gain(df, "template", n_docs)
    base_acc, ft_acc = by_position(df, "base", n_docs), by_position(df, "template", n_docs)
    out.append(Claim(
        id="mdqa_middle_gain",
        statement="Fine-tuning on synthetic key-value retrieval improves multi-document QA with the gold document "
                  "in the middle",
        rule=f"fictional-facts MDQA, {n_docs} documents (departure: invented entities and hard same-type distractors "
             "instead of NQ with retrieved passages; SmolLM2-135M instead of GPT-3.5): the with-template arm's "
             "accuracy at the middle position (averaged over its seeds) minus base's, paired by question: the 95% "
             "bootstrap interval over questions lies above 0 (a tie, or a gain within noise, is no improvement)",
        measured={"gain": _e(gain), "base_middle": float(base_acc["middle"].mean()) if "middle" in base_acc else None,
                  "template_middle": float(ft_acc["middle"].mean()) if "middle" in ft_acc else None,
                  "n_seeds": n_seeds},
        holds=clearly_above(gain),
        figure="kv_retrieval_positions.png",
        paper_value="GPT-3.5 Turbo, 20 documents, gold at position 10: +10.5 points",
        gates=[learned]))

    depth_base, depth_ft = u_depth(base_acc), u_depth(ft_acc)
    base_u = boot_effect(depth_base.dropna().to_numpy(), "MDQA questions")
    flatter = _paired(depth_base, depth_ft, "MDQA questions (arm's seeds averaged)")
    mean_diff = _paired(ft_acc.mean(axis=1), base_acc.mean(axis=1), "MDQA questions (arm's seeds averaged)") \
        if len(ft_acc) and len(base_acc) else boot_effect([], "MDQA questions")
    has_u = clearly_above(base_u)
    out.append(Claim(
        id="u_curve_flatter",
        statement="After fine-tuning the lost-in-the-middle curve is flatter",
        rule=f"fictional MDQA, {n_docs} documents, positions first / middle / last; U depth per question = mean of "
             "the first and last positions' accuracy minus the middle's. Only where base shows a U (its depth's 95% "
             "bootstrap interval over questions above 0; otherwise not measured: there is nothing to flatten): "
             "base's depth minus the with-template arm's (seeds averaged), paired by question, has its 95% interval "
             f"above 0, AND the arm's mean accuracy over positions is no worse than base's (interval's lower end "
             f"above -{acc_tolerance}: a curve flattened by collapsing does not count)",
        measured={"base_depth": _e(base_u), "template_depth": float(depth_ft.mean()) if len(depth_ft) else None,
                  "flattening": _e(flatter), "mean_accuracy_change": _e(mean_diff),
                  "base_by_position": {w: float(base_acc[w].mean()) for w in WHERE if w in base_acc},
                  "template_by_position": {w: float(ft_acc[w].mean()) for w in WHERE if w in ft_acc}},
        holds=(clearly_above(flatter) and no_worse_than(mean_diff, acc_tolerance)) if has_u else None,
        notes="" if has_u else "not measured: the base model shows no lost-in-the-middle U at this setting "
                               "(its depth's interval reaches 0), so there is no curve to flatten",
        figure="kv_retrieval_positions.png",
        paper_value="a flatter U-curve for the fine-tuned GPT-3.5 (their Figure 1)",
        gates=[learned]))

    rule = ("with-template minus without-template, each arm's seeds averaged, paired by prompt, on fictional MDQA "
            "at the middle position and on held-out KV accuracy (each arm on its own prompt format): both no worse "
            f"(95% bootstrap interval's lower end above -{acc_tolerance}) and at least one clearly better "
            "(interval above 0); a tie everywhere is no edge")
    gates_tp = [learned]
    if _arm_present(df, "plain"):
        t_mid, p_mid = by_position(df, "template", n_docs), by_position(df, "plain", n_docs)
        mid = _paired(t_mid["middle"], p_mid["middle"], "MDQA questions") if "middle" in t_mid and "middle" in p_mid \
            else boot_effect([], "MDQA questions")
        kv = _paired(per_prompt(df, "template"), per_prompt(df, "plain"), "held-out KV prompts")
        measured = {"middle": _e(mid), "kv": _e(kv), "template_kv": float(per_prompt(df, "template").mean()),
                    "plain_kv": float(per_prompt(df, "plain").mean())}
        holds = (no_worse_than(mid, acc_tolerance) and no_worse_than(kv, acc_tolerance)
                 and (clearly_above(mid) or clearly_above(kv)))
        notes = ""
        plain = _learned(gates, df, "plain", "without-template")
        # the comparison means something once either arm learned the task: gate on the better of the two
        gates_tp = [max((learned, plain), key=lambda g: g.value if g.value is not None and np.isfinite(g.value)
                        else -np.inf)]
    else:
        measured = {"template_kv": float(per_prompt(df, "template").mean())}
        holds, notes = None, "the no-template arm is not in this scale's config.arms: not measured"
    out.append(Claim(
        id="template_beats_plain",
        statement="Fine-tuning with the answer template beats fine-tuning without it",
        rule=rule, measured=measured, holds=holds, notes=notes,
        figure="kv_retrieval_kv.png",
        paper_value="with template > without, on MDQA and on the KV task (their Figure 5)",
        gates=gates_tp))

    ppl = df.groupby(["arm", "seed"])["perplexity"].first()
    base_ppl = float(ppl["base"].iloc[0])
    t_ppl = ppl["template"]
    # 1 - ppl_arm / ppl_ref over the held-out text's sentences: higher is better, "no worse" when its lower end is
    # above -tolerance
    vs_base = text_change(df, "template", "base")
    ok = no_worse_than(vs_base, ppl_tolerance)
    facts = None
    if _arm_present(df, "facts"):
        facts = text_change(df, "template", "facts")
        ok = ok and no_worse_than(facts, ppl_tolerance)
    out.append(Claim(
        id="no_perplexity_drop",
        statement="Synthetic key-value fine-tuning does not hurt general ability, unlike fine-tuning on real text",
        rule="perplexity of a fixed held-out text (departure: instead of TriviaQA/MMLU): 1 - with-template "
             "perplexity / base's, the arm's seeds averaged per sentence, with a 95% bootstrap interval over the "
             f"text's sentences; its lower end is above -{ppl_tolerance} (no more than {ppl_tolerance:.0%} worse, "
             "beyond the text's own variation); where the equal-token fictional-facts arm ran (paper scale), the "
             "same against that arm; judged only on a fine-tune that learned the task (a perplexity that holds "
             "because nothing changed says nothing)",
        measured={"base": base_ppl, "template": float(t_ppl.mean()), "ratio": float(t_ppl.mean()) / base_ppl,
                  "template_by_seed": [round(float(v), 4) for v in t_ppl],
                  "vs_base": _e(vs_base), "vs_facts": None if facts is None else _e(facts),
                  "facts": float(ppl["facts"].mean()) if facts is not None else None,
                  "plain": float(ppl["plain"].mean()) if _arm_present(df, "plain") else None},
        holds=ok if vs_base["n"] >= 2 else None,
        notes="" if vs_base["n"] >= 2 else "no per-sentence terms in the evaluation tables: no interval",
        figure="kv_retrieval_perplexity.png",
        paper_value="Mistral-7B on TriviaQA: no drop after the synthetic fine-tune; real-text baselines -2.3 to -6.2",
        gates=[learned]))

    rise = kv_gain(df, "template")
    rows = df[(df.task == "kv") & (df.arm == "template")]
    kv_rows = df[df.task == "kv"]
    value_only = kv_rows.groupby("arm")["value_correct"].mean() if "value_correct" in df else {}
    name_only = kv_rows.groupby("arm")["name_correct"].mean() if "name_correct" in df else {}
    by_count = kv_rows.groupby(["arm", "n_docs"])["correct"].mean()
    out.append(Claim(
        id="kv_accuracy_rises",
        statement="Fine-tuning teaches the retrieval task itself: held-out key-value accuracy rises",
        rule="held-out KV prompts (new keys, values and gold positions; held-out gold pairs found in the training "
             "prompts counted): with-template arm (seeds averaged) minus base (evaluated once), paired by prompt: "
             "95% bootstrap interval over prompts above 0",
        measured={"gain": _e(rise), "base": float(per_prompt(df, "base").mean()),
                  "template": float(rows["correct"].mean()),
                  "base_value_only": float(value_only.get("base", np.nan)),
                  "template_value_only": float(value_only.get("template", np.nan)),
                  "base_name_only": float(name_only.get("base", np.nan)),
                  "template_name_only": float(name_only.get("template", np.nan)),
                  # a model that writes some dictionary's name at random: 1 / n_dicts, averaged over the prompts
                  "name_chance": float((1 / rows["n_docs"]).mean()) if len(rows) else None,
                  "by_dicts": {f"{a}_{n}": round(float(v), 4) for (a, n), v in by_count.items()
                               if a in ("base", "template")},
                  "overlap": int(df.groupby(["arm", "seed"])["kv_overlap"].first().sum())},
        holds=clearly_above(rise),
        figure="kv_retrieval_kv.png",
        kind="extension",
        paper_value="the fine-tuned models solve the KV task (their Figure 5)",
        gates=[gate(gates, "train_loss_drop", "the with-template fine-tune (worst seed: 1 - last tenth of steps' "
                    "answer loss / first tenth's)", "its training objective",
                    train_loss_drop(history, "template"))]))
    return out
