"""entp figures: Count3 learning curves, addition accuracy vs training-set size, accuracy vs operand length."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib import ticker

PLAIN = ticker.FuncFormatter(lambda v, _: f"{v:g}")


def _label(model: str, g: pd.DataFrame) -> str:
    r = g.iloc[0]
    return f"{model} ({r.arch}, {r.n_layer}L/{r.d_model}, {r.params / 1e6:.2g}M params)"


def count3_curves(hist: pd.DataFrame):
    """Token accuracy, sequence accuracy and test loss against step; encoders solid, decoders dashed."""
    ev = hist.dropna(subset=["token_acc"])
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for i, (model, g) in enumerate(ev.groupby("model", sort=True)):
        ls = "-" if g.arch.iloc[0] == "encoder" else "--"
        for ax, col in zip(axes, ("token_acc", "seq_acc", "test_loss")):
            m = g.groupby("step")[col].mean()  # mean over seeds
            ax.plot(m.index, m.values, ls=ls, color=f"C{i}", label=_label(model, g) if col == "token_acc" else None)
    for ax, title in zip(axes, ("token accuracy", "sequence accuracy", "test cross-entropy")):
        ax.set_title(f"Count3: {title}")
        ax.set_xlabel("training step")
    axes[0].set_ylim(0, 1.02)
    axes[1].set_ylim(-0.02, 1.02)
    axes[2].set_yscale("log")
    axes[2].yaxis.set_major_formatter(PLAIN)
    axes[2].yaxis.set_minor_formatter(PLAIN)
    fig.legend(loc="lower center", ncol=3, fontsize=9, bbox_to_anchor=(0.5, -0.08))
    return fig


def sample_efficiency(add: pd.DataFrame):
    """Final exact-match test accuracy (mean +- sd over seeds) against number of training examples."""
    final = add.sort_values("step").groupby(["format", "arch", "n_train", "seed"]).tail(1)
    formats = sorted(final.format.unique())
    fig, axes = plt.subplots(1, len(formats), figsize=(5.5 * len(formats), 4), squeeze=False, sharey=True)
    for ax, fmt in zip(axes[0], formats):
        for arch, color in (("encoder", "C0"), ("decoder", "C1")):
            s = final[(final.format == fmt) & (final.arch == arch)].groupby("n_train").seq_acc
            m, sd, n = s.mean(), s.std().fillna(0), s.count()
            seeds = f"{n.min()}-{n.max()}" if n.min() != n.max() else f"{n.min()}"
            ax.errorbar(m.index, m.values, yerr=sd.values, marker="o", capsize=3, color=color,
                        label=f"{arch} (seeds: {seeds})")
        ax.set_title(f"{fmt} addition")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(PLAIN)
        ax.set_xticks(sorted(final.n_train.unique()))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_xlabel("training examples")
        ax.legend()
    axes[0][0].set_ylabel("test exact-match accuracy")
    axes[0][0].set_ylim(-0.02, 1.02)
    return fig


def length_generalisation(length: pd.DataFrame, train_max_digits: int):
    """Exact-match accuracy against the longer operand's digit count (mean over seeds)."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for arch, color in (("encoder", "C0"), ("decoder", "C1")):
        g = length[length.arch == arch].groupby("long_digits").seq_acc.mean()
        ax.plot(g.index, g.values, marker="o", color=color, label=arch)
    ax.axvline(train_max_digits + 0.5, color="grey", ls=":", label="longest training operand")
    ax.set_xlabel("digits of the longer operand")
    ax.set_ylabel("exact-match accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("Reversed addition: length generalisation")
    ax.legend()
    return fig
