"""kv_retrieval figures: MDQA accuracy against the gold position per arm (the lost-in-the-middle curve), held-out
KV accuracy against the number of dictionaries, perplexity before and after; 95% bootstrap intervals over
questions (each arm's seeds averaged per question first: the seeds answer the same questions)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from repro.core.claims import bootstrap_ci

ARMS = ("base", "plain", "template", "facts")
LABEL = {"base": "base (no fine-tuning)", "plain": "KV, no template", "template": "KV, with template",
         "facts": "fictional facts (equal tokens)"}
WHERE = ("first", "middle", "last")


def _mean_ci(x):
    x = np.asarray(x, dtype=float)
    lo, hi = bootstrap_ci(x) if len(x) > 1 else (np.nan, np.nan)
    m = x.mean() if len(x) else np.nan
    return m, m - lo if np.isfinite(lo) else 0.0, hi - m if np.isfinite(hi) else 0.0


def _per_question(rows: pd.DataFrame) -> pd.Series:
    return rows.groupby("qid")["correct"].mean()


def _arms(df):
    return [a for a in ARMS if a in set(df["arm"])]


def positions(df: pd.DataFrame):
    qa = df[df.task == "mdqa"]
    panels = sorted(qa[["dataset", "n_docs"]].drop_duplicates().itertuples(index=False))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False, sharey=True)
    for ax, (dataset, n) in zip(axes[0], panels):
        sub = qa[(qa.dataset == dataset) & (qa.n_docs == n)]
        for i, arm in enumerate(_arms(sub)):
            stats = [_mean_ci(_per_question(sub[(sub.arm == arm) & (sub["where"] == w)])) for w in WHERE]
            m, lo, hi = map(np.array, zip(*stats))
            ax.errorbar(np.arange(3) + 0.06 * (i - 1.5), m, yerr=[lo, hi], marker="o", capsize=3, label=LABEL[arm])
        ax.set_xticks(range(3), WHERE)
        ax.set_title(f"{dataset} MDQA, {n} documents")
        ax.set_xlabel("gold document position")
    axes[0][0].set_ylabel("accuracy (best_subspan_em)")
    axes[0][0].set_ylim(-0.02, 1.02)
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def kv(df: pd.DataFrame):
    sub = df[df.task == "kv"]
    fig, ax = plt.subplots(figsize=(4.8, 3.8))
    counts = sorted(sub["n_docs"].unique())
    for arm in _arms(sub):
        stats = [_mean_ci(_per_question(sub[(sub.arm == arm) & (sub.n_docs == n)])) for n in counts]
        m, lo, hi = map(np.array, zip(*stats))
        ax.errorbar(counts, m, yerr=[lo, hi], marker="o", capsize=3, label=LABEL[arm])
    ax.set_xticks(counts)
    ax.set_xlabel("dictionaries in the prompt")
    ax.set_ylabel("held-out KV accuracy (value and dictionary)")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def perplexity(df: pd.DataFrame):
    per = df.groupby(["arm", "seed"])["perplexity"].first().reset_index()
    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    arms = _arms(per)
    for i, arm in enumerate(arms):
        v = per[per.arm == arm]["perplexity"].to_numpy()
        ax.bar(i, v.mean(), color=f"C{i}", alpha=0.6)
        ax.scatter(np.full(len(v), i), v, color="k", s=12, zorder=3)
    ax.set_xticks(range(len(arms)), [LABEL[a].split(" (")[0] for a in arms], rotation=15, fontsize=8)
    ax.set_ylabel("perplexity of the held-out text")
    ax.set_title("no-drop check (dots: seeds)")
    fig.tight_layout()
    return fig
