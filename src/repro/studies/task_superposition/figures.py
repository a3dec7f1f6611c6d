"""task_superposition figures: from-scratch mixing curves beside the co-author's logs, per-prompt behaviour,
task-vector interpolation, and the LLM's answer probabilities against the mixture."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from repro.studies.task_superposition import reference as R
from repro.studies.task_superposition.claims import curve


def scratch_mixing(mixing: pd.DataFrame, specs: dict):
    models = sorted(mixing.model.unique())
    fig, axes = plt.subplots(1, len(models), figsize=(4.6 * len(models), 4), squeeze=False)
    for ax, m in zip(axes[0], models):
        c = curve(mixing[mixing.model == m])
        ax.fill_between(c.p, c.ci_lo, c.ci_hi, alpha=0.25, color="C0")
        ax.plot(c.p, c.p_task0, "o-", color="C0", label="P(task-0 answer)")
        ax.plot(c.p, c.p_task1, "s-", color="C1", label="P(task-1 answer)")
        ax.plot(c.p, c.p_other, "^:", color="C7", label="P(any other)")
        ax.plot([0, 1], [0, 1], color="k", lw=0.8, alpha=0.4)
        ref = R.CURVES.get(specs[m]["task"])
        if ref and not specs[m].get("skew"):
            ax.plot(list(ref), list(ref.values()), "x--", color="C3", label="co-author's logs (6L/384)")
        skew = specs[m].get("skew")
        ax.set(title=f"{m}" + (f" (skew {skew[0]}/{skew[1]})" if skew else ""), xlabel="share p of task-0 demos",
               ylabel="mean probability", ylim=(-0.02, 1.02))
        ax.legend(fontsize=8)
    fig.suptitle("Trained on single-task prompts, tested on mixtures of two tasks")
    return fig


def learning_curves(history: pd.DataFrame, gate: float | None = None):
    """Held-out single-task accuracy and training loss against the step, one line per model and seed."""
    models = sorted(history.model.unique())
    fig, axes = plt.subplots(len(models), 2, figsize=(11, 3.8 * len(models)), squeeze=False)
    for (acc, loss), m in zip(axes, models):
        h = history[history.model == m]
        for i, (seed, g) in enumerate(h.groupby("seed")):
            if "heldout_accuracy" in g and g.heldout_accuracy.notna().any():
                e = g.dropna(subset=["heldout_accuracy"])
                acc.plot(e.step, e.heldout_accuracy, "-", color=f"C{i}", label=f"seed {int(seed)}")
            loss.plot(g.step, g.loss, "-", color=f"C{i}", lw=0.9, label=f"seed {int(seed)}")
        if gate is not None:
            acc.axhline(gate, ls="--", color="k", lw=0.8, label=f"gate {gate:g}")
        acc.set(title=f"{m}: held-out single-task accuracy", xlabel="training step", ylabel="accuracy",
                ylim=(-0.02, 1.02))
        acc.legend(fontsize=8)
        loss.axhline(np.log(10), ls=":", color="k", lw=0.8, label="ln 10")
        loss.set(title=f"{m}: training loss (answer characters)", xlabel="training step", ylabel="cross-entropy")
        if "examples" in h and h.examples.notna().any():  # the curriculum: examples per prompt / tasks drawn
            e = h[h.seed == h.seed.min()].dropna(subset=["examples"])
            ramp = e[(e.examples.diff() != 0) | (e.params.diff() != 0)] if "params" in e else e
            ramp = ramp.iloc[:: max(1, len(ramp) // 6)]
            twin = loss.twiny()
            twin.set_xlim(loss.get_xlim())
            twin.set_xticks(ramp.step.to_numpy(), [f"{int(a)}/{int(b)}" for a, b in
                                                   zip(ramp.examples, ramp.get("params", ramp.examples))], fontsize=7)
            twin.set_xlabel("curriculum: examples per training prompt / tasks drawn", fontsize=8)
        loss.legend(fontsize=8)
    fig.tight_layout()
    return fig


def scratch_per_prompt(mixing: pd.DataFrame):
    models = sorted(mixing.model.unique())
    fig, axes = plt.subplots(len(models), 3, figsize=(13, 3.8 * len(models)), squeeze=False)
    for row, m in zip(axes, models):
        g = mixing[mixing.model == m]
        half = g[np.isclose(g.p, 0.5)]
        row[0].hist(half.p_task0, bins=np.linspace(0, 1, 21), color="C0")
        row[0].set(title=f"{m}: per-prompt P(task-0) at p = 0.5", xlabel="P(task-0 answer)", ylabel="prompts")
        for k, (lab, ls) in {1: ("last demo is task 0", "-"), 0: ("last demo is task 1", "--")}.items():
            c = g[g.task0_in_last1 == k].groupby("p").p_task0.mean()
            row[1].plot(c.index, c.values, "o" + ls, label=lab)
        row[1].plot(g.groupby("p").p_task0.mean(), "k:", label="all prompts")
        row[1].set(title="conditioned on the last demo", xlabel="share p of task-0 demos", ylabel="mean P(task-0)")
        row[1].legend(fontsize=8)
        for seen, lab in ((True, "query input among the demos"), (False, "query input not among them")):
            c = g[g.query_in_demos == seen].groupby("p").p_task0.mean()
            row[2].plot(c.index, c.values, "o-" if seen else "s--", label=lab)
        row[2].set(title="split by a repeated query input", xlabel="share p of task-0 demos", ylabel="mean P(task-0)")
        row[2].legend(fontsize=8)
    return fig


def task_vector_interpolation(by_layer: pd.DataFrame, interp: pd.DataFrame):
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for m, g in by_layer.groupby("model"):
        c = g[g.layer >= 1].groupby("layer").p_answer.mean()
        a.plot(c.index, c.values, "o-", label=m)
        a.axhline(g[g.layer == -1].p_answer.mean(), ls=":", color="k", lw=0.8)
    a.set_xticks(sorted(int(x) for x in by_layer.layer.unique() if x >= 1))
    a.set(title="zero-shot query with a task vector patched in", xlabel="layer (residual entering it)",
          ylabel="P(the vector's task answer)")
    a.legend(fontsize=8)
    for i, ((m, layer), g) in enumerate(interp.groupby(["model", "layer"])):
        c = g.groupby("lam")[["p_a", "p_b"]].mean()
        b.plot(c.index, c.p_a, "o--", color=f"C{i}", label=f"{m}, layer {int(layer)}: P(A answer)")
        b.plot(c.index, c.p_b, "s-", color=f"C{i}", label=f"{m}, layer {int(layer)}: P(B answer)")
    b.set(title="lam tv_B + (1 - lam) tv_A (mean over pairs, seeds)", xlabel="lam", ylabel="probability")
    b.legend(fontsize=8)
    return fig


def llm_mixing(mixing: pd.DataFrame, model: str):
    pairs = mixing[mixing.mixture == "pair"]
    families = sorted(pairs.family.unique())
    fig, axes = plt.subplots(1, max(1, len(families)), figsize=(5 * max(1, len(families)), 4), squeeze=False)
    if not families:
        axes[0][0].text(0.5, 0.5, "no family had two tasks above the screen threshold", ha="center")
    for ax, fam in zip(axes[0], families):
        g = pairs[pairs.family == fam]
        first = g.tasks.iloc[0].split("+")[0]
        for ans, ga in g.groupby("answer"):
            c = ga.groupby("p").prob
            mean = c.mean()
            sem = c.std(ddof=1) / np.sqrt(c.count())
            style = ":" if ans == "control" else "-"
            ax.errorbar(mean.index, mean.values, yerr=sem.values, fmt="o" + style, capsize=3, label=ans)
        ax.set(title=f"{model}: {fam} tasks", xlabel=f"share of {first} demos", ylabel="mean P(answer) (± s.e.)",
               ylim=(-0.02, 1.02))
        ax.legend(fontsize=8)
    return fig


def llm_task_vectors(by_layer: pd.DataFrame, interp: pd.DataFrame, model: str):
    a_task, b_task = by_layer.task_a.iloc[0], by_layer.task_b.iloc[0]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for t, g in by_layer[by_layer.layer >= 0].groupby("task"):
        c = g.groupby("layer").prob.mean()
        a.plot(c.index, c.values, "o-", label=f"{t} vector")
    a.axhline(by_layer[by_layer.layer == -1].prob.mean(), ls=":", color="k", lw=0.8, label="no patch")
    a.set(title=f"{model}: zero-shot question, task vector patched", xlabel="decoder layer (resid_post)",
          ylabel="P(the vector's task answer)")
    a.legend(fontsize=8)
    for i, (layer, g) in enumerate(interp.groupby("layer")):
        c = g.groupby("lam")[["p_a", "p_b"]].mean()
        b.plot(c.index, c.p_a, "o--", color=f"C{i}", label=f"layer {int(layer)}: P({a_task})")
        b.plot(c.index, c.p_b, "s-", color=f"C{i}", label=f"layer {int(layer)}: P({b_task})")
    b.set(title=f"lam tv_{b_task} + (1 - lam) tv_{a_task}, layers between the best ones", xlabel="lam",
          ylabel="mean probability")
    b.legend(fontsize=7)
    return fig
