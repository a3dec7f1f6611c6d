"""task_vectors figures."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def _trained(tvp: pd.DataFrame, k: int | None) -> pd.DataFrame:
    return tvp if "k" not in tvp or k is None else tvp[tvp.k == k]


def tvp_by_layer(tvp: pd.DataFrame, layers: dict, k: int | None = None):
    """TVP score per layer for every model at the trained context length k (per-prompt vectors, task-averaged,
    the query-preserving added patch) and the held-out accuracy of a linear and an MLP probe of the task (and of the
    MLP probe on the untrained network, the control), with the model's
    ICL (dotted) and zero-shot (dash-dot) scores; means over seeds, the band spans the seeds (min to max); the
    prescribed TVP-loss layer is shaded."""
    tvp = _trained(tvp, k)
    models = sorted(tvp.model.unique(), key=lambda m: (layers.get(m) is not None, layers.get(m) or 0))
    fig, axes = plt.subplots(1, len(models), figsize=(4.6 * len(models), 4), squeeze=False, sharey=True)
    metric = tvp.metric.iloc[0]
    for ax, m in zip(axes[0], models):
        g = tvp[tvp.model == m]
        for vec, ls, color, label in (("per-prompt", "-", "C0", "TVP, per-prompt vectors"),
                                      ("task-averaged", "--", "C0", "TVP, task-averaged vectors"),
                                      ("task-added", "-", "C4", "TVP, + task mean (query kept)"),
                                      ("linear probe", ":", "C7", "linear probe of the task (held out)"),
                                      ("mlp probe", "--", "C7", "MLP probe of the task (held out)"),
                                      ("mlp probe, untrained", ":", "C5", "MLP probe, untrained network")):
            sub = g[g.vectors == vec]
            if len(sub):
                h = sub.groupby("layer").tvp
                mean = h.mean()
                ax.plot(mean.index, mean.values, ls, marker="o", ms=4, color=color, label=label)
                if "seed" in g and g.seed.nunique() > 1:
                    ax.fill_between(mean.index, h.min().values, h.max().values, color=color, alpha=0.12, lw=0)
        ax.axhline(g.icl.mean(), color="C2", ls=":", label="ICL (full prompt)")
        ax.axhline(g.zero_shot.mean(), color="C3", ls="-.", label="zero-shot")
        if layers.get(m) is not None:
            ax.axvspan(layers[m] - 0.3, layers[m] + 0.3, color="C1", alpha=0.2, label="TVP-loss layer")
        n_seeds = g.seed.nunique() if "seed" in g else 1
        ax.set_title(f"{m} ({n_seeds} seed{'s' if n_seeds > 1 else ''})")
        ax.set_xlabel("layer l (0 = embeddings)")
        ax.set_xticks(sorted(g.layer.unique()))
    axes[0][0].set_ylabel(f"query {metric}")
    if metric == "mse":
        axes[0][0].set_yscale("log")
    handles = {}  # every line of every panel (the MLP probes are drawn on baselines only)
    for ax in axes[0]:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    axes[0][-1].legend(handles.values(), handles.keys(), fontsize=8)
    return fig


def location(tvp: pd.DataFrame, layers: dict):
    """Where the task vector lives (the brief's claim 2): every baseline's TVP curve under the brief's protocol
    (task-averaged vectors for a finite family, per-prompt otherwise) against the relative depth l / n_layer, one
    line per (depth, context length k), means over seeds; the best layer of each line is ringed."""
    protocol = "task-averaged" if "task-averaged" in set(tvp.vectors) else "per-prompt"
    base = tvp[tvp.model.isin([m for m, lay in layers.items() if lay is None]) & (tvp.vectors == protocol)]
    if "k" not in base:
        base = base.assign(k=0)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    metric = tvp.metric.iloc[0]
    for i, ((m, k), g) in enumerate(base.groupby(["model", "k"])):
        curve = g.groupby("layer").tvp.mean()
        n = int(curve.index.max())
        x = curve.index / n
        best = curve.idxmax() if metric == "accuracy" else curve.idxmin()
        line, = ax.plot(x, curve.values, marker="o", ms=4, label=f"{m} ({n} layers), k = {k}",
                        ls="-" if k == base.k.max() else "--")
        ax.plot(best / n, curve.loc[best], "o", ms=12, mfc="none", color=line.get_color())
        ax.axhline(g.zero_shot.mean(), color=line.get_color(), ls=":", lw=0.8)
    ax.set_xlabel("relative depth l / n_layer (0 = embeddings)")
    ax.set_ylabel(f"TVP query {metric} ({protocol} vectors)")
    if metric == "mse":
        ax.set_yscale("log")
    else:
        ax.set_ylim(-0.02, 1.02)  # chance and ICL on one scale
    ax.set_title("Where the task vector lives (dotted: zero-shot)")
    ax.legend(fontsize=8)
    return fig


def pca(p: pd.DataFrame, discrete: bool):
    """2-D PCA of per-prompt task vectors of each model's first seed (seeds have their own axes)."""
    if "seed" in p:
        p = p[p.seed == p.seed.min()]
    models = sorted(p.model.unique())
    fig, axes = plt.subplots(1, len(models), figsize=(4.6 * len(models), 4), squeeze=False)
    for ax, m in zip(axes[0], models):
        g = p[p.model == m]
        sc = ax.scatter(g.pc1, g.pc2, c=g.label, cmap="tab20" if discrete else "viridis", s=6, alpha=0.7)
        ax.set_title(f"{m}: layer {int(g.layer.iloc[0])} ({g.explained.iloc[0]:.0%} var.)")
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
        fig.colorbar(sc, ax=ax, label="offset c" if discrete else "query answer y_q")
    return fig


def ood(o: pd.DataFrame):
    settings = list(dict.fromkeys(o.setting))
    models = sorted(o.model.unique())
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(settings), 4))
    w = 0.8 / len(models)
    for i, m in enumerate(models):
        s = o[o.model == m].groupby("setting").score.mean().reindex(settings)
        ax.bar(np.arange(len(settings)) + (i - (len(models) - 1) / 2) * w, s.values, w, label=m)
    ax.set_xticks(range(len(settings)), settings)
    ax.set_ylabel(f"ICL query {o.metric.iloc[0]}")
    if o.metric.iloc[0] == "mse":
        ax.set_yscale("log")
    ax.set_title("ICL in and out of distribution")
    ax.legend()
    return fig
