"""task_vectors figures."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def tvp_by_layer(tvp: pd.DataFrame, layers: dict):
    """TVP score per layer for every model (per-prompt vectors, task-averaged, the query-preserving added patch)
    and the held-out accuracy of a linear probe of the task, with the model's ICL (dotted) and zero-shot
    (dash-dot) scores; the prescribed TVP-loss layer is shaded."""
    models = sorted(tvp.model.unique(), key=lambda m: (layers.get(m) is not None, layers.get(m) or 0))
    fig, axes = plt.subplots(1, len(models), figsize=(4.6 * len(models), 4), squeeze=False, sharey=True)
    metric = tvp.metric.iloc[0]
    for ax, m in zip(axes[0], models):
        g = tvp[tvp.model == m]
        for vec, ls, color, label in (("per-prompt", "-", "C0", "TVP, per-prompt vectors"),
                                      ("task-averaged", "--", "C0", "TVP, task-averaged vectors"),
                                      ("task-added", "-", "C4", "TVP, + task mean (query kept)"),
                                      ("linear probe", ":", "C7", "linear probe of the task (held out)")):
            h = g[g.vectors == vec].groupby("layer").tvp.mean()
            if len(h):
                ax.plot(h.index, h.values, ls, marker="o", ms=4, color=color, label=label)
        ax.axhline(g.icl.mean(), color="C2", ls=":", label="ICL (full prompt)")
        ax.axhline(g.zero_shot.mean(), color="C3", ls="-.", label="zero-shot")
        if layers.get(m) is not None:
            ax.axvspan(layers[m] - 0.3, layers[m] + 0.3, color="C1", alpha=0.2, label="TVP-loss layer")
        ax.set_title(m)
        ax.set_xlabel("layer l (0 = embeddings)")
        ax.set_xticks(sorted(g.layer.unique()))
    axes[0][0].set_ylabel(f"query {metric}")
    if metric == "mse":
        axes[0][0].set_yscale("log")
    axes[0][-1].legend(fontsize=8)
    return fig


def pca(p: pd.DataFrame, discrete: bool):
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
