"""Trainable fine-tuning capacity: the smallest width with which gradient training reaches the target.

g is a 2-layer (width m) or 3-layer (two hidden layers of m/2 each, m in total) ReLU net trained full-batch
with Adam on all K points: residual targets on the N changed ones and exact zeros on the K - N retained ones.
Success: max |g(x_i) - r_i| < tol * std(r_changed) on every point. m* comes from doubling then bisection.
"""

from __future__ import annotations

import numpy as np
import torch


def make_net(d: int, m: int, depth: int) -> torch.nn.Sequential:
    if depth == 2:
        return torch.nn.Sequential(torch.nn.Linear(d, m), torch.nn.ReLU(), torch.nn.Linear(m, 1))
    h = max(1, m // 2)
    return torch.nn.Sequential(torch.nn.Linear(d, h), torch.nn.ReLU(), torch.nn.Linear(h, m - h),
                               torch.nn.ReLU(), torch.nn.Linear(m - h, 1))


def fits(X: np.ndarray, r: np.ndarray, changed: np.ndarray, m: int, depth: int, seed: int, steps: int,
         lr: float, tol: float, device="cpu") -> bool:
    torch.manual_seed(seed)
    x = torch.from_numpy(X).float().to(device)
    y = torch.from_numpy(r).float().to(device)
    net = make_net(X.shape[1], m, depth).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=lr / 10)
    target = tol * float(np.std(r[changed]))
    for step in range(steps):
        err = net(x)[:, 0] - y
        if step % 50 == 0 and err.abs().max().item() < target:
            return True
        loss = (err**2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        return (net(x)[:, 0] - y).abs().max().item() < target


def min_width(X, r, changed, depth: int, seed: int, steps: int, lr: float, tol: float, m_max: int,
              device="cpu") -> int | None:
    """Smallest m in [2, m_max] that fits (assuming success is monotone in m); None if m_max fails."""
    ok = lambda m: fits(X, r, changed, m, depth, seed, steps, lr, tol, device)  # noqa: E731
    lo, hi = 1, 2
    while not ok(hi):
        lo, hi = hi, hi * 2
        if hi > m_max:
            return None if not ok(m_max) else _bisect(ok, lo, m_max)
    return _bisect(ok, lo, hi)


def _bisect(ok, lo: int, hi: int) -> int:
    """lo fails (or is a lower sentinel), hi succeeds."""
    while hi - lo > max(1, hi // 8):  # relative resolution 1/8 is plenty on log axes
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def slope(Ns, ms) -> float:
    """Least-squares slope of log m against log N."""
    x, y = np.log(np.asarray(Ns, float)), np.log(np.asarray(ms, float))
    return float(np.polyfit(x, y, 1)[0])


