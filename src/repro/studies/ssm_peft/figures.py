"""ssm_peft figures: each method's score against its trainable-parameter share, means over seeds with
standard errors, for the synthetic deep S4D (the paper's score: best of K configurations on best-so-far MSE)
and the Mamba fine-tuned on digits 5-9 (accuracy)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from repro.studies.ssm_peft.claims import best_of_k, summary

MARKERS = {"frozen": "x", "head": "x", "lora_proj": "o", "lora_ssm": "s", "lora": "o", "sdt": "*", "full": "D",
           "bitfit": "v", "prompt": "<", "init_state": ">"}


def _panel(ax, s: pd.DataFrame, ylabel: str, title: str, log_y: bool = False):
    for i, (name, r) in enumerate(s.iterrows()):
        ax.errorbar(r.trainable_pct, r["mean"], yerr=r.se if r.se == r.se else None, fmt=MARKERS.get(r.kind, "o"),
                    ms=9 if r.kind == "sdt" else 7, capsize=3, color=f"C{i % 10}", label=name)
    ax.set(xscale="log", xlabel="trainable parameters (% of the model)", ylabel=ylabel, title=title)
    if log_y:
        ax.set_yscale("log")
    ax.legend(fontsize=7, ncol=2)


def budget(s4: pd.DataFrame, ft: pd.DataFrame):
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 4.8))
    n4, nm = s4.seed.nunique(), ft.seed.nunique()
    k = best_of_k(s4)["k"].max()
    _panel(axes[0], summary(best_of_k(s4), "nmse"), "best-so-far training MSE / Var(target), best of K",
           f"Deep S4D frozen -> smaller target ({n4} seeds, K = {k})", log_y=True)
    _panel(axes[1], summary(ft, "accuracy"), "test accuracy",
           f"Mamba pretrained on digits 0-4, tuned on 5-9 ({nm} seeds)")
    fig.suptitle("PEFT on state space models: score against trainable-parameter share (mean +- s.e.)")
    return fig
