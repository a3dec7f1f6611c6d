"""multibin_batching figures."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from repro.studies.multibin_batching import theory as T


def capacity_vs_k(cap: pd.DataFrame):
    """C_k / C_inf against k: closed form (lines) and simulation (points), one panel per length range."""
    ranges = cap[["lo", "hi"]].drop_duplicates().itertuples(index=False)
    ranges = list(ranges)
    fig, axes = plt.subplots(1, len(ranges), figsize=(5.5 * len(ranges), 4), squeeze=False, sharey=True)
    for ax, (lo, hi) in zip(axes[0], ranges):
        sub = cap[(cap.lo == lo) & (cap.hi == hi)]
        for i, (B, g) in enumerate(sub.groupby("B")):
            ks = np.arange(1, g.k.max() + 1)
            ax.plot(ks, T.uniform_capacity(ks, B, lo, hi) / g.c_inf.iloc[0], color=f"C{i}", label=f"B={B} closed form")
            ax.plot(g.k, g.sim_capacity / g.c_inf, "o", color=f"C{i}", mfc="none", label=f"B={B} simulated")
        ax.axhline(1, color="grey", ls=":", label="C∞ = B / E[l]")
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(sub.k.unique()), [str(k) for k in sorted(sub.k.unique())])
        ax.set_title(f"lengths U[{lo:g}, {hi:g}]")
        ax.set_xlabel("bins k")
    axes[0][0].set_ylabel("capacity C_k / C∞")
    axes[0][-1].legend(fontsize=8, ncol=2)
    return fig


def load_sweep(load: pd.DataFrame):
    """Throughput, mean latency and p99 latency against arrival rate for every k (flush rule off), and the
    p99 latency with the flush rule on, dashed."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    off, on = load[~load.flush], load[load.flush]
    for i, (k, g) in enumerate(off.groupby("k")):
        c = f"C{i}"
        axes[0].plot(g.lam, g.throughput, "o-", color=c, label=f"k={k} (C_k={g.capacity.iloc[0]:.3g})")
        axes[1].plot(g.lam, g.mean_latency, "o-", color=c, label=f"k={k}")
        axes[1].plot(g.lam, g.low_load_formula, ":", color=c)
        axes[2].plot(g.lam, g.p99_latency, "o-", color=c, label=f"k={k}")
        h = on[on.k == k]
        if len(h):
            axes[2].plot(h.lam, h.p99_latency, "s--", color=c, mfc="none",
                         label=f"k={k}, flush after {h.timeout.iloc[0]:g}")
    lam = np.sort(load.lam.unique())
    axes[0].plot(lam, lam, color="grey", ls=":", label="λ (all served)")
    axes[0].set_ylabel("throughput (requests / time)")
    axes[1].set_ylabel("mean latency (dotted: k(B−1)/(2λ) + E[t_k])")
    axes[2].set_ylabel("p99 latency")
    for ax in axes:
        ax.set_xlabel("arrival rate λ")
        ax.legend(fontsize=7)
    for ax in axes[1:]:
        ax.set_yscale("log")
    axes[0].set_title("Throughput")
    axes[1].set_title("Mean latency")
    axes[2].set_title("p99 latency (dashed: flush rule)")
    return fig


def noise(noise_t: pd.DataFrame):
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (k, g) in enumerate(noise_t[noise_t.k > 1].groupby("k")):
        ax.plot(g.sigma, g.gain, "o-", color=f"C{i}", label=f"k={k}")
    ax.axhline(1, color="grey", ls=":")
    ax.set_xlabel("predictor noise σ  (l̂ = l·exp(σ·N(0,1)))")
    ax.set_ylabel("simulated gain C_k / C_1")
    ax.set_title("Length-predictor errors eat the gain")
    ax.legend()
    return fig


def heavy_tail(ht: pd.DataFrame, dist_spec: dict, seed: int):
    """Left: a sample of the lengths (drawn from the configured seed) with the k = min split points; right: the
    gain of equal-mass and optimised bins, simulated (mean over repeats) and in theory."""
    dist = T.distribution(dist_spec)
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.hist(dist.sample(50000, np.random.default_rng(seed)), bins=120, color="0.7")
    k2 = ht[ht.k == ht.k.min()]
    for r, ls in zip(k2.itertuples(), ("--", "-")):
        for x in r.boundaries[1:-1]:
            a.axvline(x, ls=ls, color="C0" if r.bins == "equal_mass" else "C3",
                      label=f"{r.bins} split (k={r.k}): {x:.0f}, quantile {dist.cdf(x):.2f}")
    a.set_yscale("log")
    a.set_xlabel("output length")
    a.set_title("Clipped lognormal lengths")
    a.legend(fontsize=8)
    w = 0.35
    ks = sorted(ht.k.unique())
    for j, (name, c) in enumerate((("equal_mass", "C0"), ("optimised", "C3"))):
        g = ht[ht.bins == name].set_index("k").loc[ks]
        b.bar(np.arange(len(ks)) + (j - 0.5) * w, g.sim_gain, w, color=c, label=f"{name} (simulated)")
        b.plot(np.arange(len(ks)) + (j - 0.5) * w, g.gain, "k_", ms=14)
    b.set_xticks(range(len(ks)), [f"k={k}" for k in ks])
    b.set_ylabel("gain C_k / C_1 (ticks: theory)")
    b.set_ylim(1, None)
    b.set_title("Optimised vs equal-mass bins")
    b.legend()
    return fig


def llm_gain(thr: pd.DataFrame, steps: pd.DataFrame):
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    m = thr.groupby("k")[["gain", "theory_gain", "steps_gain"]].agg(["median", "min", "max"])
    ks = m.index.to_numpy()
    med = m["gain", "median"]
    a.errorbar(ks, med, yerr=[med - m["gain", "min"], m["gain", "max"] - med], marker="o", capsize=3,
               label=f"measured tokens/s gain (median, range over {thr.repeat.nunique()} interleaved repeats)")
    a.plot(ks, m["theory_gain", "median"], "k--", label="closed form C_k / C_1")
    a.plot(ks, m["steps_gain", "median"], ":", color="C2", label="decode-step count ratio (this workload)")
    a.set_xscale("log", base=2)
    a.set_xticks(ks, [str(k) for k in ks])
    a.set_xlabel("bins k")
    a.set_ylabel("throughput gain over k = 1")
    a.set_title(f"{thr.model.iloc[0]} static batching, B={thr.B.iloc[0]} ({thr.device.iloc[0]}, {thr.dtype.iloc[0]})")
    a.legend(fontsize=8)
    steps = steps.groupby("B", as_index=False)[["seconds_per_step", "tokens_per_s"]].median()  # over repeats
    b.plot(steps.B, steps.seconds_per_step * 1e3, "o-", label="ms per decode step")
    b2 = b.twinx()
    b2.plot(steps.B, steps.tokens_per_s, "s--", color="C1", label="tokens/s")
    b.set_xscale("log", base=2)
    b.set_xticks(steps.B, [str(x) for x in steps.B])
    b.set_xlabel("batch size B")
    b.set_ylabel("ms per decode step")
    b2.set_ylabel("tokens/s", color="C1")
    b2.grid(False)
    b.set_title("Decode step time vs batch size")
    return fig
