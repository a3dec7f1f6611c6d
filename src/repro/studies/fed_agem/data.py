"""Continual federated scenarios for fed_agem: tasks, their client splits, and per-task test sets.

Offline substrate: sklearn's bundled digits (8x8, values 0-16 scaled to [0, 1]) and, at paper scale, procedural
32x32 coloured shapes. Real MNIST / CIFAR-10 come from torchvision with `download=False` under `data_root`; when
they are absent the run says so in one line and uses the offline data. Scenarios:

- rotated (Domain-IL): every task rotates every image by its own angle ~ U[0, 180);
- permuted (Domain-IL): every task permutes the pixels by its own permutation;
- split (Class-IL and Task-IL): task t holds classes (2t, 2t + 1).

Angles, permutations and client splits come from generators seeded by (run seed, purpose), never from a global
RNG, so they do not depend on what ran before. Domain-IL clients keep the same images for every task (the
repo's label-sorted shards, 2 per client); split tasks are divided per task by a Dirichlet draw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

SCENARIOS = ("rotated", "permuted", "split")
SETTINGS = {"rotated": ("domain",), "permuted": ("domain",), "split": ("class", "task")}
# seed streams: one per purpose, so changing how one thing is drawn leaves the others as they were
_STREAM = {"split": 1, "transform": 2, "clients": 3, "subsample": 4}


@dataclass
class Task:
    classes: tuple  # the labels this task holds (all of them for Domain-IL)
    client_x: list  # one (n_k, *shape) float tensor per client
    client_y: list
    test_x: torch.Tensor
    test_y: torch.Tensor


@dataclass
class Scenario:
    name: str
    source: str  # which data the run used: digits, shapes, mnist, cifar10
    n_classes: int
    input_shape: tuple
    tasks: list

    @property
    def settings(self) -> tuple:
        return SETTINGS[self.name]


def rng(seed: int, purpose: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), _STREAM[purpose]])


# ----------------------------------------------------------------------------------------------- sources


def digits(test_frac: float, seed: int):
    """sklearn digits as (n, 1, 8, 8) in [0, 1], split per class into disjoint train and test sets."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float32).unsqueeze(1)
    return _stratified(x, torch.tensor(d.target), test_frac, seed)


def _stratified(x, y, test_frac, seed):
    r = rng(seed, "split")
    train, test = [], []
    for c in torch.unique(y).tolist():
        idx = r.permutation(np.flatnonzero(y.numpy() == c))
        n_test = int(round(test_frac * len(idx)))
        test += list(idx[:n_test])
        train += list(idx[n_test:])
    tr, te = torch.tensor(np.sort(train)), torch.tensor(np.sort(test))
    return (x[tr], y[tr]), (x[te], y[te])


def shapes(n_per_class: int, test_per_class: int, size: int, seed: int):
    """Procedural coloured shapes (repro.core.shapes): 10 classes = 5 shapes x 2 colours (red, blue), each
    image with random position, size, colour jitter and background noise; (n, 3, size, size) in [0, 1]. Train
    and test are separate draws."""
    from repro.core.shapes import COLOURS, SHAPES, render

    classes = [(s, c) for s in SHAPES[:5] for c in ("red", "blue")]
    g = torch.Generator().manual_seed(int(seed) * 7919 + 17)

    def draw(n):
        names = [(s, COLOURS[c]) for s, c in classes for _ in range(n)]
        x = render([s for s, _ in names], [c for _, c in names], size, g, jitter=0.1)
        return x, torch.arange(len(classes)).repeat_interleave(n)

    return draw(n_per_class), draw(test_per_class)


def real(name: str, data_root):
    """MNIST or CIFAR-10 from torchvision files under data_root, never downloaded; None (with one line saying
    why) when they are not there."""
    if not data_root:
        return None
    root = Path(data_root)
    try:
        import torchvision
    except ImportError:
        print(f"[fed_agem] data_root={root} is set but torchvision is not installed (pip install -e '.[real-data]'); "
              "using the offline data")
        return None
    cls = {"mnist": torchvision.datasets.MNIST, "cifar10": torchvision.datasets.CIFAR10}[name]
    try:
        tr, te = cls(str(root), train=True, download=False), cls(str(root), train=False, download=False)
    except RuntimeError as e:
        print(f"[fed_agem] {name} not found under {root} ({str(e).splitlines()[0]}); using the offline data")
        return None

    def pack(ds):
        x = torch.as_tensor(np.asarray(ds.data), dtype=torch.float32) / 255.0
        x = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)
        return x, torch.as_tensor(np.asarray(ds.targets))

    return pack(tr), pack(te)


# ----------------------------------------------------------------------------------------------- splits


def label_shards(y: torch.Tensor, n_clients: int, shards_per_client: int, r: np.random.Generator) -> list:
    """The repo's mnist_noniid: sort by label, cut into n_clients * shards_per_client equal shards, deal each
    client `shards_per_client` random shards (so each client sees few labels)."""
    order = np.argsort(y.numpy(), kind="stable")
    shards = np.array_split(order, n_clients * shards_per_client)
    deal = r.permutation(len(shards))
    return [np.sort(np.concatenate([shards[s] for s in deal[k::n_clients]])) for k in range(n_clients)]


def dirichlet(y: torch.Tensor, n_clients: int, alpha: float, min_size: int, r: np.random.Generator,
              max_tries: int = 1000) -> list:
    """Per class, client shares ~ Dir(alpha); redrawn until every client holds at least min_size samples."""
    yn = y.numpy()
    if min_size * n_clients > len(yn):
        raise ValueError(f"min_size {min_size} x {n_clients} clients exceeds the task's {len(yn)} samples")
    for _ in range(max_tries):
        parts = [[] for _ in range(n_clients)]
        for c in np.unique(yn):
            idx = r.permutation(np.flatnonzero(yn == c))
            cuts = (np.cumsum(r.dirichlet([alpha] * n_clients))[:-1] * len(idx)).astype(int)
            for k, chunk in enumerate(np.split(idx, cuts)):
                parts[k] += list(chunk)
        if min(len(p) for p in parts) >= min_size:
            return [np.sort(np.array(p, dtype=int)) for p in parts]
    raise RuntimeError(f"no Dirichlet split with >= {min_size} samples per client in {max_tries} draws")


# ----------------------------------------------------------------------------------------------- transforms


def rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate (n, c, h, w) images about their centre (bilinear, zeros outside)."""
    a = math.radians(degrees)
    theta = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]], dtype=x.dtype)
    grid = F.affine_grid(theta.expand(len(x), 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def permute(x: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """Permute the pixels of (n, c, h, w) images (the same permutation for every channel)."""
    n, c, h, w = x.shape
    return x.reshape(n, c, h * w)[:, :, perm].reshape(n, c, h, w)


# ----------------------------------------------------------------------------------------------- scenarios


def source_data(name: str, cfg: dict, seed: int):
    """(train, test, source) for a scenario: real files when data_root holds them, else the offline data."""
    want = "cifar10" if name == "split" else "mnist"
    got = real(want, cfg.get("data_root"))
    if got is not None:
        return got[0], got[1], want
    if cfg.get("offline", "digits") == "shapes":
        sh = cfg["shapes"]
        tr, te = shapes(sh["train_per_class"], sh["test_per_class"], sh["size"], seed)
        return tr, te, "shapes"
    tr, te = digits(cfg["test_frac"], seed)
    return tr, te, "digits"


def build(name: str, cfg: dict, seed: int) -> Scenario:
    """One scenario: `cfg` holds n_tasks, n_clients, test_frac, n_train (a cap, or null), shards_per_client
    (Domain-IL), alpha and min_size (split), data_root and the offline source."""
    if name not in SCENARIOS:
        raise ValueError(f"scenario must be one of {SCENARIOS}, got {name!r}")
    (xtr, ytr), (xte, yte), source = source_data(name, cfg, seed)
    if cfg.get("n_train") and cfg["n_train"] < len(ytr):  # a uniform subset of the training images
        keep = torch.as_tensor(np.sort(rng(seed, "subsample").permutation(len(ytr))[: cfg["n_train"]]))
        xtr, ytr = xtr[keep], ytr[keep]
    n_tasks, n_clients = cfg["n_tasks"], cfg["n_clients"]
    n_classes = int(max(ytr.max(), yte.max()) + 1)
    tasks = []
    rc, rt = rng(seed, "clients"), rng(seed, "transform")
    if name == "split":
        if 2 * n_tasks > n_classes:
            raise ValueError(f"split: {n_tasks} tasks of 2 classes need {2 * n_tasks} classes, data has {n_classes}")
        for t in range(n_tasks):
            cls = (2 * t, 2 * t + 1)
            tr, te = torch.isin(ytr, torch.tensor(cls)), torch.isin(yte, torch.tensor(cls))
            x, y = xtr[tr], ytr[tr]
            parts = dirichlet(y, n_clients, cfg["alpha"], cfg["min_size"], rc)
            tasks.append(Task(cls, [x[p] for p in parts], [y[p] for p in parts], xte[te], yte[te]))
    else:
        parts = label_shards(ytr, n_clients, cfg["shards_per_client"], rc)
        for t in range(n_tasks):
            if name == "rotated":
                angle = float(rt.uniform(0, 180))
                f = lambda x, a=angle: rotate(x, a)  # noqa: E731
            else:
                perm = torch.as_tensor(rt.permutation(xtr[0, 0].numel()))
                f = lambda x, p=perm: permute(x, p)  # noqa: E731
            xt = f(xtr)
            tasks.append(Task(tuple(range(n_classes)), [xt[p] for p in parts], [ytr[p] for p in parts], f(xte), yte))
    return Scenario(name, source, n_classes, tuple(xtr.shape[1:]), tasks)
