"""The toy judge: a small CNN with a colour head and a shape head, trained on balanced renders of every
(colour, shape) pair, standing in for the paper's GPT-4o judge. Score 5 = both right, 3 = only the shape,
2 = only the colour, 1 = neither; aggregated as RareBench does: mean(max(s - 1, 0)) / 4 x 100."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Judge(nn.Module):
    def __init__(self, n_colours: int, n_shapes: int, ch: int = 32):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, ch, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(ch, 2 * ch, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(2 * ch, 2 * ch, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                                  nn.Flatten(), nn.Linear(8 * ch, 128), nn.ReLU())
        self.colour, self.shape = nn.Linear(128, n_colours), nn.Linear(128, n_shapes)

    def forward(self, x):
        h = self.body(x)
        return self.colour(h), self.shape(h)


def train_judge(x, colour, shape, n_colours, n_shapes, steps: int, batch: int, lr: float, seed: int):
    torch.manual_seed(seed)
    judge = Judge(n_colours, n_shapes).to(x.device)
    opt = torch.optim.Adam(judge.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(x), (batch,), generator=g)
        lc, ls = judge(x[idx])
        loss = F.cross_entropy(lc, colour[idx]) + F.cross_entropy(ls, shape[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return judge.eval()


@torch.no_grad()
def judge_images(judge, x, colour, shape):
    """Per image: (colour right, shape right, score 1-5)."""
    lc, ls = judge(x)
    c_ok, s_ok = lc.argmax(1) == colour, ls.argmax(1) == shape
    score = torch.where(c_ok & s_ok, 5, torch.where(s_ok, 3, torch.where(c_ok, 2, 1)))
    return c_ok, s_ok, score


def alignment(scores) -> float:
    """RareBench's aggregate: mean(max(s - 1, 0)) / 4 x 100, on 0-100."""
    s = torch.as_tensor(scores, dtype=torch.float32)
    return float((s - 1).clamp(min=0).mean() / 4 * 100)
