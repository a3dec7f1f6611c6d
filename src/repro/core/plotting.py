"""One figure style for every study, and a saver that stamps provenance into the PNG's text chunks."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")  # jobs run headless, on clusters too
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from repro.core.io import atomic_path  # noqa: E402
from repro.core.provenance import Provenance  # noqa: E402


def style() -> None:
    sns.set_theme(context="paper", style="whitegrid", palette="colorblind", font_scale=1.15,
                  rc={"figure.dpi": 110, "savefig.dpi": 160, "axes.titleweight": "bold",
                      "legend.frameon": False})


def save_figure(fig, path, prov: Provenance | None = None) -> None:
    meta = {"Software": "repro"}
    if prov is not None:
        meta["Description"] = json.dumps(prov.stamp(), default=str)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", metadata=meta, bbox_inches="tight")
    plt.close(fig)
