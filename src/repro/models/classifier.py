"""Small image classifiers: an MLP on flattened pixels and a two-conv CNN (the paper repo's CNNMnist without
dropout, so runs are deterministic)."""

from __future__ import annotations

import math

from torch import nn


def build(cfg: dict, input_shape: tuple, n_classes: int) -> nn.Module:
    """cfg: {kind: mlp, hidden: [..]} or {kind: cnn, channels: [c1, c2], hidden: h}."""
    kind = cfg["kind"]
    if kind == "mlp":
        layers, width = [nn.Flatten()], math.prod(input_shape)
        for h in cfg["hidden"]:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        return nn.Sequential(*layers, nn.Linear(width, n_classes))
    if kind == "cnn":
        c, h, w = input_shape
        c1, c2 = cfg["channels"]
        return nn.Sequential(
            nn.Conv2d(c, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(c2 * (h // 4) * (w // 4), cfg["hidden"]), nn.ReLU(),
            nn.Linear(cfg["hidden"], n_classes))
    raise ValueError(f"model kind must be mlp or cnn, got {kind!r}")


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
