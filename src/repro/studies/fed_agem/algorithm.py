"""Fed-A-GEM and its base methods as plain functions on tensors, shared by every executor.

A model's parameters travel as one flat vector. The client step is

    g  = grad of (CE + base-method term)      FedProx: + mu/2 |theta - theta_t|^2; DER: + alpha |f(x_b) - z_b|^2
    g  = project(g, g_local)                  local A-GEM only: a batch of the client's own buffer
    g~ = project(g, g_ref)                    Fed-A-GEM: the round's aggregated buffer gradient
    theta <- theta - lr * g~                  (plain SGD, as the paper's repo)

with project(g, r) = g - (<g, r> / <r, r>) r when <g, r> < 0, else g. The server averages the clients' models and
then the clients' buffer gradients on the new global model (the repo's FedAvg and FedSum: equal weights by
default); that mean constrains every local step of the next round. Buffers are reservoirs of (x, y, logits).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

BASES = ("fedavg", "fedprox", "agem", "der")
BUFFER_RULES = ("task_start", "reservoir")


@dataclass(frozen=True)
class Method:
    base: str
    fed_agem: bool
    buffer_rule: str = "task_start"  # the repo's rule: fill during the first round of each task only

    def __post_init__(self):
        if self.base not in BASES:
            raise ValueError(f"base method must be one of {BASES}, got {self.base!r}")
        if self.buffer_rule not in BUFFER_RULES:
            raise ValueError(f"buffer_rule must be one of {BUFFER_RULES}, got {self.buffer_rule!r}")

    @property
    def uses_buffer(self) -> bool:
        return self.fed_agem or self.base in ("agem", "der")

    @property
    def name(self) -> str:
        return self.base + ("+fedagem" if self.fed_agem else "")


# ----------------------------------------------------------------------------------------------- vectors


def get_vector(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def set_vector(model: torch.nn.Module, vec: torch.Tensor) -> None:
    o = 0
    with torch.no_grad():
        for p in model.parameters():
            n = p.numel()
            p.copy_(vec[o:o + n].view_as(p))
            o += n


def flat_grad(loss: torch.Tensor, params: list) -> torch.Tensor:
    return torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params)])


def sgd_step(params: list, g: torch.Tensor, lr: float) -> None:
    o = 0
    with torch.no_grad():
        for p in params:
            n = p.numel()
            p.add_(g[o:o + n].view_as(p), alpha=-lr)
            o += n


def project(g: torch.Tensor, ref: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """A-GEM: remove from g its component against ref when the two conflict (<g, ref> < 0)."""
    dot = torch.dot(g, ref)
    if dot >= 0:
        return g, False
    return g - (dot / torch.dot(ref, ref)) * ref, True


def aggregate(vectors: list, weights=None) -> torch.Tensor:
    """Weighted mean of flat vectors (equal weights when None: the repo's FedAvg and FedSum)."""
    w = torch.ones(len(vectors)) if weights is None else torch.as_tensor(weights, dtype=torch.float64)
    w = (w / w.sum()).to(vectors[0].dtype).to(vectors[0].device)
    return sum(wi * v for wi, v in zip(w, vectors))


def generator(seed: int, *path) -> torch.Generator:
    """A CPU generator for one (seed, round, client, purpose): executors that visit clients in any order, or
    on other machines, draw the same batches."""
    state = np.random.SeedSequence([int(seed), *map(int, path)]).generate_state(2, dtype=np.uint64)
    return torch.Generator().manual_seed(int(state[0] % (2**63)))


# ----------------------------------------------------------------------------------------------- buffer


class Reservoir:
    """Reservoir sampling (Vitter's algorithm R): after n offers every offered sample is held with probability
    capacity / n. Holds inputs, labels and the logits the model gave them when they were offered (DER)."""

    def __init__(self, capacity: int):
        self.capacity = int(capacity)
        self.x = self.y = self.z = None
        self.n_seen = 0

    def __len__(self) -> int:
        return 0 if self.x is None else len(self.x)

    def add(self, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, gen: torch.Generator) -> None:
        if self.capacity == 0:
            return
        if self.x is None:
            self.x = x.new_empty((0, *x.shape[1:]))
            self.y = y.new_empty((0,))
            self.z = z.new_empty((0, *z.shape[1:]))
        for i in range(len(x)):
            if len(self) < self.capacity:
                self.x, self.y, self.z = (torch.cat([self.x, x[i:i + 1]]), torch.cat([self.y, y[i:i + 1]]),
                                          torch.cat([self.z, z[i:i + 1]]))
            else:
                j = int(torch.randint(0, self.n_seen + 1, (1,), generator=gen))
                if j < self.capacity:
                    self.x[j], self.y[j], self.z[j] = x[i], y[i], z[i]
            self.n_seen += 1

    def sample(self, n: int, gen: torch.Generator):
        idx = torch.randperm(len(self), generator=gen)[:n].to(self.x.device)
        return self.x[idx], self.y[idx], self.z[idx]

    def state(self) -> dict:
        """Tensors for a client's persistent state (e.g. Flower's context.state)."""
        if self.x is None:
            return {"n_seen": torch.tensor(self.n_seen)}
        return {"x": self.x, "y": self.y, "z": self.z, "n_seen": torch.tensor(self.n_seen)}

    @classmethod
    def from_state(cls, capacity: int, state: dict) -> "Reservoir":
        r = cls(capacity)
        r.n_seen = int(state["n_seen"])
        if "x" in state:
            r.x, r.y, r.z = state["x"], state["y"], state["z"]
        return r


# ----------------------------------------------------------------------------------------------- client, server


@dataclass
class ClientStats:
    steps: int = 0
    triggered: int = 0  # Fed-A-GEM projections (<g, g_ref> < 0)
    max_residual: float = 0.0  # largest |<g~, g_ref>| / (|g| |g_ref|) after a projection: 0 up to rounding


def client_update(model, global_vec, x, y, buffer: Reservoir, ref, method: Method, hp: dict, gen, fill_epochs):
    """One client's local training from the global model. `fill_epochs` names the local epochs whose batches
    are offered to the buffer (empty: none this round). Returns the new flat parameters and the step stats."""
    set_vector(model, global_vec)
    params = list(model.parameters())
    stats = ClientStats()
    n, bs = len(x), hp["batch_size"]
    for epoch in range(hp["local_epochs"]):
        order = torch.randperm(n, generator=gen).to(x.device)
        for start in range(0, n, bs):
            idx = order[start:start + bs]
            xb, yb = x[idx], y[idx]
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            if method.base == "fedprox":
                loss = loss + hp["prox_mu"] / 2 * (torch.cat([p.reshape(-1) for p in params]) - global_vec).pow(2).sum()
            if method.base == "der" and len(buffer):
                bx, _, bz = buffer.sample(hp["replay_batch"], gen)
                loss = loss + hp["der_alpha"] * F.mse_loss(model(bx), bz)
            g = flat_grad(loss, params)
            if method.base == "agem" and len(buffer):
                bx, by, _ = buffer.sample(hp["replay_batch"], gen)
                g, _ = project(g, flat_grad(F.cross_entropy(model(bx), by), params))
            if method.fed_agem and ref is not None:
                g_in = g
                g, hit = project(g, ref)
                if hit:
                    stats.triggered += 1
                    # relative to |g| |ref|, the scale of float rounding (|g~| can be tiny when g opposes ref)
                    res = torch.dot(g, ref).abs() / (g_in.norm() * ref.norm() + 1e-30)
                    stats.max_residual = max(stats.max_residual, float(res))
            sgd_step(params, g, hp["lr"])
            stats.steps += 1
            if epoch in fill_epochs:
                buffer.add(xb, yb, logits.detach(), gen)
    return get_vector(model), stats


def fill_epochs(method: Method, round_in_task: int, local_epochs: int) -> tuple:
    """Which local epochs feed the buffer this round. task_start (the repo): epoch 0 of the first round of each
    task, which uses the task boundary; reservoir: every batch of every round, no boundary needed."""
    if not method.uses_buffer:
        return ()
    if method.buffer_rule == "reservoir":
        return tuple(range(local_epochs))
    return (0,) if round_in_task == 0 else ()


def buffer_gradient(model, global_vec, buffer: Reservoir, batch: int, gen):
    """The gradient of CE on a batch of the client's buffer at the (new) global model; None if it is empty."""
    if not len(buffer):
        return None
    set_vector(model, global_vec)
    bx, by, _ = buffer.sample(batch, gen)
    return flat_grad(F.cross_entropy(model(bx), by), list(model.parameters())).detach()


def reference_gradient(grads: list):
    """The server's mean of the clients' buffer gradients (clients with an empty buffer send none)."""
    grads = [g for g in grads if g is not None]
    return aggregate(grads) if grads else None
