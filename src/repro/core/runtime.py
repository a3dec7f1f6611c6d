"""Seeding and device choice: the two things every job decides first."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

DEVICES = ("auto", "cpu", "cuda")


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices). Same seed, same result on CPU."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks CUDA when present, else CPU; 'cuda' without a GPU is an error, not a silent fallback."""
    if name not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {name!r}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch sees no GPU; use device: auto or cpu")
    return torch.device(name)


def configure_threads(threads: int | None) -> None:
    """Respect the scheduler's thread budget so parallel jobs do not oversubscribe the cores."""
    if threads:
        torch.set_num_threads(int(threads))
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
