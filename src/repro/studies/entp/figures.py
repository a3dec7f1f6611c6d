"""entp figures: Count3 learning curves, addition accuracy vs training-set size, accuracy vs operand length."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
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
    if "plateau_loss" in ev:  # the competence gates' reference: position and last token only
        axes[2].axhline(ev.plateau_loss.mean(), color="grey", ls=":", label="position-and-last-token plateau")
        axes[2].legend(fontsize=8)
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
    """Top: final exact-match test accuracy against the number of training examples, per format; mean over seeds
    with a standard-error bar, every seed as a dot; solid: the ENTP repository's objective (loss on every
    character of packed blocks), dashed: the answer-only ablation. Bottom: test accuracy during training at the
    smallest training set, mean over seeds."""
    add = add.assign(objective=add.objective if "objective" in add else "lm")
    final = add.sort_values("step").groupby(["objective", "format", "arch", "n_train", "seed"]).tail(1)
    formats = sorted(final.format.unique())
    fig, axes = plt.subplots(2, len(formats), figsize=(5.8 * len(formats), 7.6), squeeze=False)
    styles = {"lm": ("-", "o", "every character"), "answer": ("--", "s", "answer only")}
    for col, fmt in enumerate(formats):
        ax, curve_ax = axes[0][col], axes[1][col]
        n_min = final[final.format == fmt].n_train.min()
        for (obj, arch), g in final[final.format == fmt].groupby(["objective", "arch"]):
            ls, marker, what = styles.get(obj, ("-.", "^", obj))
            color = "C0" if arch == "encoder" else "C1"
            s = g.groupby("n_train").seq_acc
            m, n = s.mean(), s.count()
            se = (s.std() / np.sqrt(n)).fillna(0)
            ax.errorbar(m.index, m.values, yerr=se.values, ls=ls, marker=marker, capsize=3, color=color,
                        label=f"{arch}, {what} ({n.max()} seeds)")
            ax.scatter(g.n_train, g.seq_acc, color=color, marker=marker, s=10, alpha=0.35)
            c = add[(add.format == fmt) & (add.objective == obj) & (add.arch == arch) & (add.n_train == n_min)]
            c = c.dropna(subset=["seq_acc"]).groupby("step").seq_acc.mean()
            curve_ax.plot(c.index, c.values, ls=ls, marker=marker, ms=3, color=color, label=f"{arch}, {what}")
        ax.set_title(f"{fmt} addition")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(PLAIN)
        ax.set_xticks(sorted(final.n_train.unique()))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_xlabel("training examples")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=8)
        curve_ax.set_title(f"{fmt} addition, {n_min} training examples: learning curves")
        curve_ax.set_xlabel("training step")
        curve_ax.set_ylim(-0.02, 1.02)
    axes[0][0].set_ylabel("test exact-match accuracy")
    axes[1][0].set_ylabel("test exact-match accuracy (mean over seeds)")
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
