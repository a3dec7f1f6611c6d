"""A procedural renderer of coloured shapes: the offline image substrate (fed_agem's Seq-Shapes, r2f's toy
world). Any (shape, colour) renders, so evaluators can train on balanced data while generators train on
long-tailed data."""

from __future__ import annotations

import torch

SHAPES = ("circle", "ring", "square", "triangle", "diamond", "cross", "bar", "star")
COLOURS = {"red": (0.85, 0.15, 0.1), "blue": (0.15, 0.3, 0.9), "green": (0.15, 0.7, 0.2),
           "yellow": (0.9, 0.8, 0.1), "purple": (0.6, 0.2, 0.75), "cyan": (0.1, 0.75, 0.8)}


def mask(shape: str, xx: torch.Tensor, yy: torch.Tensor, r: float) -> torch.Tensor:
    """Boolean mask of `shape` of radius r on the coordinate grids (centred at 0)."""
    ax, ay = xx.abs(), yy.abs()
    d = torch.sqrt(xx**2 + yy**2)
    if shape == "circle":
        return d < r
    if shape == "ring":
        return (d < r) & (d > 0.55 * r)
    if shape == "square":
        return (ax < 0.8 * r) & (ay < 0.8 * r)
    if shape == "triangle":
        return (yy < 0.7 * r) & (yy > -0.9 * r + 1.8 * ax)
    if shape == "diamond":
        return ax + ay < r
    if shape == "cross":
        return ((ax < 0.3 * r) & (ay < r)) | ((ay < 0.3 * r) & (ax < r))
    if shape == "bar":
        return (ax < r) & (ay < 0.3 * r)
    if shape == "star":
        ang = torch.atan2(yy, xx)
        return d < r * (0.55 + 0.45 * torch.cos(5 * ang).clamp(min=0))
    raise ValueError(f"unknown shape {shape!r}; known: {SHAPES}")


def render(shapes: list, colours: list, size: int, gen: torch.Generator, jitter: float = 0.08,
           noise: float = 0.1, shift: float = 0.3, radius=(0.35, 0.65)) -> torch.Tensor:
    """(n, 3, size, size) images in [0, 1]: shape i in colour i (an RGB triple), with random position, radius,
    colour jitter and background noise."""
    coords = torch.linspace(-1, 1, size)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    out = []
    for shape, colour in zip(shapes, colours):
        cx, cy = ((torch.rand(2, generator=gen) - 0.5) * 2 * shift).tolist()
        r = radius[0] + (radius[1] - radius[0]) * torch.rand(1, generator=gen).item()
        m = mask(shape, xx - cx, yy - cy, r).float()
        col = (torch.tensor(colour) + jitter * torch.randn(3, generator=gen)).clamp(0, 1)
        bg = noise * torch.rand(3, size, size, generator=gen)
        out.append((bg * (1 - m) + col[:, None, None] * m).clamp(0, 1))
    return torch.stack(out)
