"""Data for ssm_peft: random integer sequences (synthetic S4 regression) and sklearn's bundled digits as
64-step pixel sequences (the scaled stand-in for the paper's CIFAR-10 pixel-sequence task; no download)."""

from __future__ import annotations

import numpy as np
import torch


def integer_inputs(g: torch.Generator, batch: int, channels: int, length: int, device="cpu") -> torch.Tensor:
    """randint(0, 10) inputs of shape (batch, channels, length), as in the paper's synthetic experiment."""
    return torch.randint(0, 10, (batch, channels, length), generator=g, device=device).float()


def digits(classes, test_frac: float, pixels_per_step: int, split_seed: int):
    """Images of `classes` as (n, 64 / pixels_per_step, pixels_per_step) sequences of pixels in [0, 1] read row
    by row, labels renumbered 0..len(classes)-1,
    split per class into disjoint train and test sets by a permutation drawn from `split_seed` (the config's
    `split_seed`: the split is part of the protocol, the same for every fine-tuning seed and method; the run's
    seed varies initialisation and batch order only)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    rng = np.random.default_rng(split_seed)
    train, test = [], []
    for c in classes:
        idx = rng.permutation(np.flatnonzero(d.target == c))
        n_test = int(round(test_frac * len(idx)))
        test += list(idx[:n_test])
        train += list(idx[n_test:])
    relabel = {c: i for i, c in enumerate(classes)}

    def pack(idx):
        idx = np.sort(np.array(idx))
        x = torch.tensor(d.data[idx] / 16.0, dtype=torch.float32).view(len(idx), -1, pixels_per_step)
        y = torch.tensor([relabel[t] for t in d.target[idx]])
        return x, y

    return pack(train), pack(test)
