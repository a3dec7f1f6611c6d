"""ftc figures."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib import ticker

from repro.studies.ftc.trained import slope


def scaling(cons: pd.DataFrame, bounds: pd.DataFrame, trained: pd.DataFrame):
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for depth, color in (("2-layer", "C0"), ("3-layer", "C1")):
        g = cons[cons.construction == depth].groupby("N").neurons.max()
        label = f"{depth} construction (slope {slope(g.index, g.values):.2f})"
        a.plot(g.index, g.values, "o-", color=color, label=label)
    a.plot(bounds.N, bounds.two_layer_min_units, "--", color="C0", label="2-layer lower bound L (spike data)")
    a.plot(bounds.N, bounds.three_layer_min_units, "--", color="C1", label="3-layer lower bound 2(√(1+L)−1)")
    a.set_title("Constructed g: exact on all K points")
    styles = ["-", "--", ":", "-."]
    for i, setting in enumerate(trained.setting.drop_duplicates() if len(trained) else []):
        for depth, color in ((2, "C0"), (3, "C1")):
            t = trained[(trained.depth == depth) & (trained.setting == setting) & trained.m_star.notna()]
            if t.empty:
                continue
            med = t.groupby("N").m_star.median()
            b.scatter(t.N, t.m_star, color=color, alpha=0.35, s=14)
            fit = f"slope {slope(med.index, med.values):.2f}" if len(med) >= 2 else "one N fitted"
            b.plot(med.index, med.values, marker="o", ls=styles[i % 4], color=color,
                   label=f"{depth}-layer, {setting} ({fit})")
    b.set_title("Trained g (our extension): smallest width that fits")
    for ax in (a, b):
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
            axis.set_minor_formatter(ticker.NullFormatter())
        ax.set_xlabel("changed labels N")
        ax.legend(fontsize=8)
    if not trained.empty:
        b.set_xticks(sorted(trained.N.unique()))
    a.set_ylabel("hidden neurons m")
    return fig


def independence_of_K(cons: pd.DataFrame):
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for (K, d, depth), g in cons[cons.construction != "interpolation"].groupby(["K", "d", "construction"]):
        ax.plot(g.N, g.neurons, marker="o" if depth == "2-layer" else "s", alpha=0.7,
                ls="-" if depth == "2-layer" else "--", label=f"{depth}, K={K}, d={d}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("changed labels N")
    ax.set_ylabel("hidden neurons m")
    ax.set_title("Construction size does not depend on K or d")
    ax.legend(fontsize=7, ncol=2)
    return fig


