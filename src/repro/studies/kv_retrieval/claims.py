"""kv_retrieval claims, each computed from the evaluation table by the rule it states.

The table has one row per evaluated prompt: arm (base, plain, template, facts), seed (-1 for base: one start, one
evaluation), task (kv / mdqa), dataset (kv, fictional, nq), n_docs, where (first / middle / last), qid, correct
(0/1), perplexity and kv_overlap (per arm and seed). A fine-tuned arm's difference to base is paired by question;
intervals are 95% bootstraps over the (seed, question) cells, spreads standard errors over seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from repro.core.claims import Claim, all_finite, bootstrap_ci, standard_error


def _qa(df, arm, n_docs, dataset="fictional"):
    return df[(df.task == "mdqa") & (df.arm == arm) & (df.n_docs == n_docs) & (df.dataset == dataset)]


def _arm_present(df, arm) -> bool:
    return bool((df.arm == arm).any())


def by_position(df, arm, n_docs) -> pd.DataFrame:
    """Mean accuracy per (seed, where)."""
    return _qa(df, arm, n_docs).groupby(["seed", "where"])["correct"].mean().unstack()


def middle_gain(df, arm, n_docs):
    """Per (seed, question): arm's middle-position correctness minus base's on the same question."""
    base = _qa(df, "base", n_docs)
    base = base[base["where"] == "middle"].set_index("qid")["correct"]
    ft = _qa(df, arm, n_docs)
    ft = ft[ft["where"] == "middle"]
    return (ft["correct"].to_numpy() - base.reindex(ft["qid"]).to_numpy()), ft["seed"].to_numpy()


def spread(acc: pd.DataFrame) -> pd.Series:
    """Per seed: best minus worst position accuracy (the height of the lost-in-the-middle curve)."""
    return acc.max(axis=1) - acc.min(axis=1)


def kv_acc(df, arm) -> pd.Series:
    """Held-out KV accuracy per seed, over every dictionary count."""
    return df[(df.task == "kv") & (df.arm == arm)].groupby("seed")["correct"].mean()


def _value_acc(df, arm) -> float:
    """The value right, whatever the dictionary name (reported, not judged); NaN on tables without the column."""
    rows = df[(df.task == "kv") & (df.arm == arm)]
    return float(rows["value_correct"].mean()) if "value_correct" in rows else float("nan")


def ppl(df, arm) -> pd.Series:
    return df[df.arm == arm].groupby("seed")["perplexity"].first()


def claims(df: pd.DataFrame, n_docs: int, ppl_tolerance: float) -> list[Claim]:
    out = []
    for arm in ("base", "template"):
        if not _arm_present(df, arm):
            raise ValueError(f"kv_retrieval claims need the {arm!r} arm's evaluation")

    diff, seeds = middle_gain(df, "template", n_docs)
    per_seed = pd.Series(diff).groupby(seeds).mean()
    lo, hi = bootstrap_ci(diff)
    mean = float(np.mean(diff)) if len(diff) else float("nan")
    out.append(Claim(
        id="mdqa_middle_gain",
        statement="Fine-tuning on synthetic key-value retrieval improves multi-document QA with the gold document "
                  "in the middle",
        rule=f"fictional-facts MDQA, {n_docs} documents (departure: invented entities and hard same-type distractors "
             "instead of NQ with retrieved passages; SmolLM2-135M instead of GPT-3.5): mean over seeds of the "
             "with-template arm's accuracy at the middle position minus base's, paired by question, > 0 (a tie is "
             "no improvement); 95% bootstrap interval over (seed, question) reported",
        measured={"gain": mean, "ci_lo": lo, "ci_hi": hi, "se_over_seeds": standard_error(per_seed),
                  "base_middle": float(by_position(df, "base", n_docs)["middle"].mean()),
                  "template_middle": float(by_position(df, "template", n_docs)["middle"].mean()),
                  "n_cells": int(len(diff)), "n_seeds": int(per_seed.size)},
        holds=all_finite(mean) and mean > 0,
        figure="kv_retrieval_positions.png",
        paper_value="GPT-3.5 Turbo, 20 documents, gold at position 10: +10.5 points"))

    base_spread = float(spread(by_position(df, "base", n_docs)).mean())
    ft_spread = spread(by_position(df, "template", n_docs))
    base_mean = float(by_position(df, "base", n_docs).mean(axis=1).mean())
    ft_mean = float(by_position(df, "template", n_docs).mean(axis=1).mean())
    out.append(Claim(
        id="u_curve_flatter",
        statement="After fine-tuning the lost-in-the-middle curve is flatter",
        rule=f"fictional MDQA, {n_docs} documents, positions first / middle / last: best minus worst position "
             "accuracy of the with-template arm (mean over seeds) < base's, with its mean accuracy over positions "
             ">= base's (a curve flattened by collapsing does not count)",
        measured={"base_spread": base_spread, "template_spread": float(ft_spread.mean()),
                  "template_spread_se": standard_error(ft_spread), "base_mean": base_mean, "template_mean": ft_mean},
        holds=all_finite(base_spread, ft_spread.mean(), ft_mean) and float(ft_spread.mean()) < base_spread
        and ft_mean >= base_mean,
        figure="kv_retrieval_positions.png",
        paper_value="a flatter U-curve for the fine-tuned GPT-3.5 (their Figure 1)"))

    t_kv = kv_acc(df, "template")
    rule = ("means over seeds: with-template >= without-template on fictional MDQA at the middle position AND on "
            "held-out KV accuracy (each arm on its own prompt format), and > on at least one of the two (a tie "
            "everywhere is no edge)")
    if _arm_present(df, "plain"):
        t_mid, p_mid = by_position(df, "template", n_docs)["middle"], by_position(df, "plain", n_docs)["middle"]
        p_kv = kv_acc(df, "plain")
        measured = {"template_middle": float(t_mid.mean()), "plain_middle": float(p_mid.mean()),
                    "template_kv": float(t_kv.mean()), "plain_kv": float(p_kv.mean()),
                    "template_kv_se": standard_error(t_kv), "plain_kv_se": standard_error(p_kv)}
        holds, notes = (all_finite(t_mid.mean(), p_mid.mean(), t_kv.mean(), p_kv.mean())
                        and t_mid.mean() >= p_mid.mean() and t_kv.mean() >= p_kv.mean()
                        and (t_mid.mean() > p_mid.mean() or t_kv.mean() > p_kv.mean())), ""
    else:
        measured = {"template_kv": float(t_kv.mean())}
        holds, notes = None, "the no-template arm is not in this scale's config.arms: not measured"
    out.append(Claim(
        id="template_beats_plain",
        statement="Fine-tuning with the answer template beats fine-tuning without it",
        rule=rule, measured=measured, holds=holds, notes=notes,
        figure="kv_retrieval_kv.png",
        paper_value="with template > without, on MDQA and on the KV task (their Figure 5)"))

    base_ppl, t_ppl = float(ppl(df, "base").mean()), ppl(df, "template")
    facts = ppl(df, "facts") if _arm_present(df, "facts") else None
    ratio = float(t_ppl.mean()) / base_ppl if base_ppl else float("nan")
    ok = all_finite(ratio) and ratio <= 1 + ppl_tolerance
    if facts is not None:
        ok = ok and bool(t_ppl.mean() <= facts.mean())
    out.append(Claim(
        id="no_perplexity_drop",
        statement="Synthetic key-value fine-tuning does not hurt general ability, unlike fine-tuning on real text",
        rule="perplexity of a fixed held-out text (departure: instead of TriviaQA/MMLU): with-template arm's mean "
             f"over seeds <= (1 + {ppl_tolerance}) x base's; where the equal-token fictional-facts arm ran (paper "
             "scale), also <= that arm's",
        measured={"base": base_ppl, "template": float(t_ppl.mean()), "ratio": ratio,
                  "facts": None if facts is None else float(facts.mean()),
                  "plain": float(ppl(df, "plain").mean()) if _arm_present(df, "plain") else None},
        holds=ok,
        figure="kv_retrieval_perplexity.png",
        paper_value="Mistral-7B on TriviaQA: no drop after the synthetic fine-tune; real-text baselines -2.3 to -6.2"))

    kv_base = kv_acc(df, "base")
    cells = df[(df.task == "kv") & (df.arm == "template")]
    base_by_q = df[(df.task == "kv") & (df.arm == "base")].set_index(["n_docs", "qid"])["correct"]
    d = cells["correct"].to_numpy() - base_by_q.reindex(list(zip(cells.n_docs, cells.qid))).to_numpy()
    lo, hi = bootstrap_ci(d)
    out.append(Claim(
        id="kv_accuracy_rises",
        statement="Fine-tuning teaches the retrieval task itself: held-out key-value accuracy rises",
        rule="held-out KV prompts (new keys, values and gold positions; held-out gold pairs found in the training "
             "prompts counted): "
             "with-template arm minus base, paired by prompt: 95% bootstrap interval above 0",
        measured={"base": float(kv_base.mean()), "template": float(t_kv.mean()), "ci_lo": lo, "ci_hi": hi,
                  "base_value_only": _value_acc(df, "base"), "template_value_only": _value_acc(df, "template"),
                  "overlap": int(df.groupby(["arm", "seed"])["kv_overlap"].first().sum())},
        holds=all_finite(lo) and lo > 0,
        figure="kv_retrieval_kv.png",
        kind="extension",
        paper_value="the fine-tuned models solve the KV task (their Figure 5)"))
    return out
