"""Train/test overlap: test data must be disjoint from training data, and where the space is small the
overlap is measured and reported."""

from __future__ import annotations

import torch


def exact_overlap(x_train: torch.Tensor, x_test: torch.Tensor) -> int:
    """How many test examples equal some training example exactly (e.g. digits holds a few duplicate images)."""
    seen = {row.cpu().numpy().tobytes() for row in x_train.flatten(1)}
    return sum(row.cpu().numpy().tobytes() in seen for row in x_test.flatten(1))
