"""dual_modes figures: each function takes the experiment tables and returns a matplotlib Figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib import ticker


def _delta_label(d: float) -> str:
    return f"δ = 1/{round(1 / d)}" if d < 1 else f"δ = {d:g}"


def _kaxis(ax, kmax):
    """k spans 0..10^5: symlog keeps k=0 visible; plain numbers read better than powers of ten."""
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlim(0, kmax * 1.1)
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("in-context examples k")


def modes(fig4: pd.DataFrame):
    deltas = sorted(fig4.delta.unique())
    fig, axes = plt.subplots(1, len(deltas), figsize=(3.2 * len(deltas), 3.3), sharey=True, squeeze=False)
    for ax, delta in zip(axes[0], deltas):
        g = fig4[fig4.delta == delta].sort_values("k")
        ax.errorbar(g.k, g.err_learning, g.se_learning, marker="o", ms=3, label="to task  (ŷ − w*·x)²")
        ax.errorbar(g.k, g.err_retrieval, g.se_retrieval, marker="s", ms=3, label="to group 1  (ŷ − w₁·x)²")
        ax.set_title(_delta_label(delta))
        _kaxis(ax, g.k.max())
    axes[0, 0].set_ylabel("Bayes prediction error")
    axes[0, 0].legend(loc="upper right", fontsize=8)
    fig.suptitle("Bayes predictor: retrieval first (orange dips), then learning — only for small δ", y=1.02)
    return fig


def posterior(fig4: pd.DataFrame):
    pis = [c for c in fig4.columns if c.startswith("pi_")]
    long = fig4.melt(id_vars=["delta", "k"], value_vars=pis, var_name="group", value_name="weight")
    long["delta"] = long.delta.map(_delta_label)
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    sns.lineplot(data=long[long.group == "pi_1"], x="k", y="weight", hue="delta", marker="o", ax=ax)
    _kaxis(ax, fig4.k.max())
    ax.set_ylabel("posterior weight π̃₁")
    ax.set_ylim(0, 1.02)
    ax.legend(title=None, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title("Posterior mass moves to group 1, the nearest to the task")
    return fig


def closer_task(fig5: pd.DataFrame):
    deltas = sorted(fig5.delta.unique())
    fig, axes = plt.subplots(1, len(deltas), figsize=(3.6 * len(deltas), 3.3), sharey=True, squeeze=False)
    names = {1.0: "r = 1 (far)", 5 / 3: "r = 5/3", 3.0: "r = 3 (close)"}
    for ax, delta in zip(axes[0], deltas):
        g = fig5[fig5.delta == delta]
        for r, gr in g.groupby("r"):
            gr = gr.sort_values("k")
            label = next((v for key, v in names.items() if abs(key - r) < 1e-9), f"r = {r:g}")
            ax.errorbar(gr.k, gr.risk, gr.se, marker="o", ms=3, label=label)
        ax.set_title(_delta_label(delta))
        _kaxis(ax, g.k.max())
    axes[0, 0].set_ylabel("risk  E[(ŷ − y*)²]")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Tasks closer to a pretraining group are learned faster at small k", y=1.02)
    return fig


def early_ascent(tables: list[pd.DataFrame]):
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    for t in tables:
        t = t.sort_values("k")
        r0 = t.risk.iloc[0]
        label = f"d = {int(t.d.iloc[0])}"
        a.plot(t.k, t.risk / r0, marker="o", ms=3, label=label)
        early = t[t.k <= 64]
        b.errorbar(early.k, early["diff"] / r0, 2 * early.se_diff / r0, marker="o", ms=3, capsize=2, label=label)
    for ax in (a, b):
        ax.axhline(1 if ax is a else 0, color="k", lw=0.8, ls="--")
        _kaxis(ax, (tables[0].k.max() if ax is a else 64))
    a.set_ylabel("risk(k) / risk(0)")
    a.set_title("Early ascent, then learning")
    b.set_ylabel("[risk(k) − risk(0)] / risk(0)")
    b.set_title("Zoom k ≤ 64 (bars: ±2 paired MC s.e.)")
    a.legend(fontsize=8)
    return fig


def transformer_vs_bayes(evals: list[pd.DataFrame], histories: list[pd.DataFrame]):
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(14, 3.6))
    for i, ev in enumerate(evals):
        alpha = 1.0 if i == 0 else 0.4
        lab = (lambda s: s) if i == 0 else (lambda s: None)  # noqa: E731
        a.plot(ev.k, ev.tf_err_learning, color="C0", alpha=alpha, label=lab("transformer: to task"))
        a.plot(ev.k, ev.tf_err_retrieval, color="C1", alpha=alpha, label=lab("transformer: to group 1"))
        b.plot(ev.k, ev.tf_vs_bayes / ev.y_sq.mean(), color="C2", alpha=alpha, marker="o", ms=3,
               label=lab("E[(F̂ − F*)²] / E[y*²]"))
    ev = evals[0]
    a.plot(ev.k, ev.bayes_err_learning, "--", color="C0", label="Bayes: to task")
    a.plot(ev.k, ev.bayes_err_retrieval, "--", color="C1", label="Bayes: to group 1")
    a.set_xlabel("in-context examples k")
    a.set_ylabel("prediction error")
    a.set_title("Transformer (solid) vs Bayes (dashed)")
    a.legend(fontsize=8)
    b.set_xlabel("in-context examples k")
    b.set_title("Distance to the Bayes predictor")
    b.legend(fontsize=8)
    for i, h in enumerate(histories):
        c.plot(h.step, h.loss, label=f"seed {i}")
    c.set_xlabel("training step")
    c.set_ylabel("training MSE")
    c.set_title("Training loss")
    c.legend(fontsize=8)
    return fig


def fig9_crossover(evals: list[pd.DataFrame]):
    """Figure 9 summary: the crossover k* against the prior's delta, Bayes (line) and transformer (dots per seed),
    on the comparison grid; a crossover beyond num_k sits one position past the grid's end."""
    from repro.core.config import number
    from repro.studies.dual_modes.claims import crossovers, grid_position

    rows = []
    for ev in evals:
        ks_t, ks_b, grid = crossovers(ev)
        rows.append((number(ev.delta.iloc[0]), str(ev.delta.iloc[0]), grid_position(grid, ks_t),
                     grid_position(grid, ks_b)))
    rows.sort()
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    deltas = sorted({(v, lab) for v, lab, _, _ in rows})
    x = {lab: i for i, (_, lab) in enumerate(deltas)}
    bayes = {lab: b for _, lab, _, b in rows}
    ax.plot([x[lab] for _, lab in deltas], [bayes[lab] for _, lab in deltas], "--", color="k", marker="s",
            label="Bayes k*")
    ax.scatter([x[lab] + 0.05 for _, lab, _, _ in rows], [t for _, _, t, _ in rows], color="C3", zorder=3,
               label="transformer k* (one per seed)")
    ticks = grid + ["none"]
    ax.set_yticks(range(len(ticks)), [str(t) for t in ticks])
    ax.set_xticks(range(len(deltas)), [lab for _, lab in deltas])
    ax.set_xlabel("prior delta (sigma_mu^2 / sigma_x^2)")
    ax.set_ylabel("crossover k* (grid)")
    ax.set_title("Figure 9: retrieval-to-learning crossover")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
