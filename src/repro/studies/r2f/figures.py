"""r2f figures: the Gaussian theory (closed form and learned), alignment per method on rare pairs, the
stop-step sweep, alignment against the pair's training count, and a grid of samples per method. Means over
seeds with standard errors of the per-seed means."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from repro.core.claims import standard_error as _se
from repro.studies.r2f.claims import method_table

LABEL = {"vanilla": "vanilla CFG", "r2f": "R2F (adaptive stop)", "interpolation": "interpolation (FLUX-style)",
         "composable": "composable (sum)", "frequent": "frequent only",
         "r2f_family": "R2F, family substitute (ablation)", "frequent_family": "frequent only, family (ablation)",
         "r2f_shape_keeping": "R2F, shape-keeping (ablation)",
         "frequent_shape_keeping": "frequent only, shape-keeping (ablation)"}


def _mean_se(df, by, col):
    per = df.groupby(by + ["seed"])[col].mean().reset_index()
    g = per.groupby(by)[col]
    return g.mean(), g.apply(_se).fillna(0)


def theory(df: pd.DataFrame):
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    cf = df[df["method"] == "closed_form"].sort_values("alpha")
    a.plot(cf.alpha, cf.w2, "k-", marker="o", ms=3, label="closed form (the paper's example)")
    li = df[df["method"] == "interpolation"]
    if len(li):
        m, se = _mean_se(li, ["alpha"], "w2")
        a.errorbar(m.index, m, yerr=se, marker="s", ms=4, capsize=3, label="learned 2-D eps-MLP (8 rare samples)")
    a.set(xlabel="alpha (weight of the rare score)", ylabel="W2 to the true rare N(0, I)", yscale="log",
          title="score interpolation alpha s(R) + (1 - alpha) s(F)")
    a.legend(fontsize=8)
    alt = df[df["method"] == "alternating"]
    if len(alt):
        m, se = _mean_se(alt, ["stop_frac"], "w2")
        b.errorbar(m.index, m, yerr=se, marker="o", capsize=3, color="C2")
    b.set(xlabel="stop step / N (F on even steps before it)", ylabel="W2 to N(0, I)", yscale="log",
          title="R2F's alternating schedule, learned 2-D")
    fig.tight_layout()
    return fig


def methods(samples: pd.DataFrame):
    tab = method_table(samples, "rare")
    order = [r for r in ("vanilla", "r2f", "interpolation", "composable", "frequent") if r in tab.index]
    order += sorted(r for r in tab.index if r.startswith("fixed@"))
    order += sorted(r for r in tab.index if r.startswith(("r2f_", "frequent_")))  # planner ablations
    tab = tab.loc[order]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [1.2, 1]})
    x = np.arange(len(tab))
    colours = ["C0" if r == "vanilla" else "C3" if r == "r2f" else "0.6" for r in tab.index]
    a.bar(x, tab.alignment, yerr=tab.alignment_se, color=colours, capsize=3)
    a.set_xticks(x, [LABEL.get(r, r.replace("fixed@", "fixed stop ")) for r in tab.index], rotation=35,
                 ha="right", fontsize=8)
    a.set(ylabel="alignment (0-100, toy judge)", title="rare pairs: alignment per method")
    w = 0.4
    b.bar(x - w / 2, tab.colour_acc, w, label="colour right")
    b.bar(x + w / 2, tab.shape_acc, w, label="shape right")
    b.set_xticks(x, [r.replace("fixed@", "S=") for r in tab.index], rotation=35, ha="right", fontsize=8)
    b.set(ylabel="accuracy", ylim=(0, 1.05), title="what the judge saw")
    b.legend(fontsize=8)
    fig.tight_layout()
    return fig


def stop_steps(samples: pd.DataFrame):
    rare = samples[samples["group"] == "rare"]
    sweep = rare[rare["method"] == "fixed"]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for col, c in (("colour_acc", "C1"), ("shape_acc", "C0")):
        m, se = _mean_se(sweep, ["stop_frac"], col)
        ax.errorbar(m.index, m, yerr=se, marker="o", capsize=3, color=c, label=col.replace("_acc", " accuracy"))
    r2f = rare[rare["method"] == "r2f"]
    if len(r2f):
        ax.axhline(r2f.shape_acc.mean(), color="C3", ls=":", label="R2F's shape accuracy (adaptive stop)")
    ax.set(xlabel="fixed stop step / N", ylabel="accuracy on rare pairs", ylim=(0, 1.05),
           title="the stop-step trade-off")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def rarity(samples: pd.DataFrame):
    cur = samples[samples["method"].isin(["vanilla", "r2f", "r2f_forced"])].copy()
    cur["guided"] = np.where(cur["method"] == "vanilla", "vanilla CFG", "R2F")
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for name, c in (("vanilla CFG", "C0"), ("R2F", "C3")):
        m, se = _mean_se(cur[cur["guided"] == name], ["count"], "alignment")
        ax.errorbar(m.index + 1, m, yerr=se, marker="o", capsize=3, color=c, label=name)
    ax.set(xscale="log", xlabel="training renders of the pair + 1", ylabel="alignment (0-100)",
           title="alignment against rarity")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def sample_grid(examples: dict, pairs: list, methods: list, per_pair: int = 3):
    """Rows: methods; columns: `per_pair` samples of each rare pair (the prompt above)."""
    fig, axes = plt.subplots(len(methods), len(pairs) * per_pair, squeeze=False,
                             figsize=(0.75 * len(pairs) * per_pair + 1.2, 0.8 * len(methods) + 0.6))
    for i, m in enumerate(methods):
        for j, p in enumerate(pairs):
            imgs = examples.get(f"{m}||{p}")
            for k in range(per_pair):
                ax = axes[i, j * per_pair + k]
                ax.set_xticks([])
                ax.set_yticks([])
                if imgs is not None and k < len(imgs):
                    ax.imshow(np.asarray(imgs[k]).transpose(1, 2, 0), interpolation="nearest")
                if i == 0 and k == 0:
                    ax.set_title(f"'a {p}'", fontsize=7, loc="left")
            axes[i, 0].set_ylabel(LABEL.get(m, m), fontsize=7, rotation=0, ha="right", va="center")
    fig.suptitle("samples for rare pairs (each column block: one prompt; same noise in every row)", fontsize=8)
    fig.tight_layout()
    return fig
