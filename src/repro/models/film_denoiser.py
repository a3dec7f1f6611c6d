"""A small convolutional epsilon-predictor with FiLM conditioning: time, colour and object embeddings scale and
shift every residual block (r2f's small-scale denoiser; diffusers' UNet2DModel is too slow on 2 cores).

Two resolutions: `blocks` residual blocks at full size, a stride-2 conv, `blocks` blocks at half size with twice
the channels, then back up with a skip connection. The half-size stage sees the whole small image (12x12 at small
scale) within its receptive field, which is what a shape needs (a single-resolution net of the same cost drew colours right and
shapes poorly)."""

from __future__ import annotations

import math

import torch
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of (integer) diffusion timesteps: sin and cos at dim / 2 geometric frequencies."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)
    ang = t.float()[:, None] * freqs[None]
    return torch.cat([ang.sin(), ang.cos()], dim=1)


class FiLMBlock(nn.Module):
    def __init__(self, ch: int, cond: int):
        super().__init__()
        self.norm1, self.norm2 = nn.GroupNorm(8, ch), nn.GroupNorm(8, ch)
        self.conv1, self.conv2 = nn.Conv2d(ch, ch, 3, padding=1), nn.Conv2d(ch, ch, 3, padding=1)
        self.film = nn.Linear(cond, 2 * ch)

    def forward(self, x, c):
        scale, shift = self.film(c)[:, :, None, None].chunk(2, dim=1)
        h = self.conv1(nn.functional.silu(self.norm1(x)))
        h = self.norm2(h) * (1 + scale) + shift
        return x + self.conv2(nn.functional.silu(h))


class FiLMDenoiser(nn.Module):
    def __init__(self, n_colours: int, n_objects: int, channels: int = 32, blocks: int = 2, emb: int = 64):
        super().__init__()
        self.emb = emb
        self.colour = nn.Embedding(n_colours + 1, emb)  # the last id is the null token
        self.object = nn.Embedding(n_objects + 1, emb)
        self.cond = nn.Sequential(nn.Linear(3 * emb, emb), nn.SiLU(), nn.Linear(emb, emb))
        c, c2 = channels, 2 * channels
        self.inp = nn.Conv2d(3, c, 3, padding=1)
        self.high = nn.ModuleList(FiLMBlock(c, emb) for _ in range(blocks))
        self.down = nn.Conv2d(c, c2, 3, stride=2, padding=1)
        self.low = nn.ModuleList(FiLMBlock(c2, emb) for _ in range(blocks))
        self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c2, c, 3, padding=1))
        self.merge = nn.Conv2d(2 * c, c, 1)
        self.final = FiLMBlock(c, emb)
        self.out = nn.Sequential(nn.GroupNorm(8, c), nn.SiLU(), nn.Conv2d(c, 3, 3, padding=1))

    def forward(self, x, t, cond):
        colour, obj = cond
        t = t.expand(len(x)) if t.dim() == 0 else t
        c = self.cond(torch.cat([timestep_embedding(t, self.emb), self.colour(colour), self.object(obj)], dim=1))
        h = self.inp(x)
        for b in self.high:
            h = b(h, c)
        skip, h = h, self.down(h)
        for b in self.low:
            h = b(h, c)
        h = self.final(self.merge(torch.cat([skip, self.up(h)], dim=1)), c)
        return self.out(h)
