"""fed_agem figures: average accuracy over the task sequence per setting (with and without Fed-A-GEM), and the
final gains, forgetting and projection-trigger rates; means over seeds with standard errors."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from repro.core.claims import standard_error as _se
from repro.studies.fed_agem.claims import RULE, final

BASES = ("fedavg", "fedprox", "agem", "der")
LABEL = {"fedavg": "FedAvg", "fedprox": "FedProx", "agem": "FedAvg + A-GEM", "der": "DER"}
TITLE = {"domain": "Domain-IL", "class": "Class-IL", "task": "Task-IL"}


def _main(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["buffer_rule"].isin([RULE, "none"])]


def _panels(df):
    keys = df[["scenario", "setting"]].drop_duplicates()
    order = {"rotated": 0, "permuted": 1, "split": 2}
    return sorted(map(tuple, keys.to_numpy()), key=lambda k: (order.get(k[0], 9), k[1]))


def accuracy(df: pd.DataFrame):
    """Average accuracy over the tasks seen so far, after each task."""
    panels, m = _panels(df), _main(df)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.9), squeeze=False)
    for ax, (sc, st) in zip(axes[0], panels):
        sub = m[(m["scenario"] == sc) & (m["setting"] == st)]
        for i, base in enumerate(b for b in BASES if b in set(sub["base"])):
            for fed, ls in ((False, "--"), (True, "-")):
                g = sub[(sub["base"] == base) & (sub["fed_agem"] == fed)].groupby("after_task")["avg_acc"]
                mean, se = g.mean(), g.apply(_se).fillna(0)
                x = mean.index + 1
                ax.plot(x, mean, ls=ls, marker="o", ms=3, color=f"C{i}",
                        label=f"{LABEL[base]}{' + Fed-A-GEM' if fed else ''}")
                ax.fill_between(x, mean - se, mean + se, color=f"C{i}", alpha=0.15)
        ax.set(title=f"{sc}: {TITLE.get(st, st)}", xlabel="tasks seen", ylabel="average accuracy", ylim=(0, 1.02))
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, bbox_to_anchor=(0.5, -0.12))
    n = df["seed"].nunique()
    fig.suptitle(f"Continual federated learning, dashed: base method, solid: + Fed-A-GEM (mean +- s.e., {n} seeds)")
    return fig


def summary(df: pd.DataFrame):
    """Final accuracy gain and forgetting change per base method, trigger rate per task."""
    f = final(df)
    panels = _panels(f)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    width, m = 0.8 / len(BASES), _main(f)
    for col, ax, ylabel in (("avg_acc", axes[0], "Fed-A-GEM gain in final accuracy"),
                            ("forgetting_repo", axes[1], "change in forgetting (with - without; repository's definition)")):
        for i, base in enumerate(BASES):
            vals, errs = [], []
            for sc, st in panels:
                sel = m[(m["scenario"] == sc) & (m["setting"] == st) & (m["base"] == base)]
                a = sel[sel["fed_agem"]].set_index("seed")[col]
                b = sel[~sel["fed_agem"]].set_index("seed")[col]
                d = (a - b).dropna()
                vals.append(d.mean() if len(d) else np.nan)
                errs.append(_se(d) if len(d) > 1 else 0)
            x = np.arange(len(panels)) + (i - (len(BASES) - 1) / 2) * width
            ax.bar(x, vals, width, yerr=errs, capsize=2, color=f"C{i}", label=LABEL[base])
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xticks(np.arange(len(panels)), [f"{sc}\n{TITLE.get(st, st)}" for sc, st in panels])
        ax.set(ylabel=ylabel)
    axes[0].legend(fontsize=7)
    axes[0].set_title("accuracy: above 0 = Fed-A-GEM helps")
    axes[1].set_title("forgetting: below 0 = Fed-A-GEM forgets less")
    fed = df[df["fed_agem"] & (df["setting"] != "task")]  # Task-IL rows repeat the Class-IL runs
    for (sc, rule), ls in zip([(sc, r) for sc in fed["scenario"].unique() for r in (RULE, "reservoir")],
                              ["-", ":"] * 8):
        sel = fed[(fed["scenario"] == sc) & (fed["buffer_rule"] == rule)]
        if sel.empty:
            continue
        rate = sel.groupby("after_task")["triggered"].sum() / sel.groupby("after_task")["steps"].sum()
        color = {"rotated": "C0", "permuted": "C1", "split": "C2"}.get(sc, "C3")
        axes[2].plot(rate.index + 1, rate, ls=ls, marker="o", ms=3, color=color, label=f"{sc}, {rule} buffer")
    axes[2].set(title="projection-trigger rate (<g, g_ref> < 0)", xlabel="task", ylabel="share of local steps",
                ylim=(0, 1))
    axes[2].xaxis.get_major_locator().set_params(integer=True)
    axes[2].legend(fontsize=7)
    fig.suptitle("Fed-A-GEM at the end of the task sequence (paired by seed, mean +- s.e.)")
    return fig
