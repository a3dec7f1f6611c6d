"""The continual federated run, written once: the server's loop (`drive`) over tasks and rounds, the client's
two calls (`client_train`, `client_query`), and the in-process executor. The Flower executor (flower.py) sends
the same calls as messages; both feed the same `drive`.

Metrics, after the last round of each task, on the test split of every task seen so far: accuracy per task
(Task-IL masks the logits outside the task's classes), their mean (tasks weighted equally), forgetting (mean
over earlier tasks of best past accuracy minus current), and the projection-trigger rate of the task's rounds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from repro.studies.fed_agem.algorithm import (Method, Reservoir, aggregate, buffer_gradient, client_update,
                                              fill_epochs, generator, get_vector, reference_gradient, set_vector)
from repro.studies.fed_agem.data import Scenario

_TRAIN, _QUERY = 0, 1  # generator purposes


# ----------------------------------------------------------------------------------------------- metrics


@torch.no_grad()
def accuracy(model, vec, x, y, classes=None, batch: int = 4096) -> float:
    """Top-1 accuracy; with `classes` (Task-IL) only those logits compete."""
    set_vector(model, vec)
    hits = 0
    for s in range(0, len(x), batch):
        logits = model(x[s:s + batch])
        if classes is not None:
            logits = masked(logits, classes)
        hits += int((logits.argmax(1) == y[s:s + batch]).sum())
    return hits / len(x)


def masked(logits: torch.Tensor, classes) -> torch.Tensor:
    keep = torch.zeros(logits.shape[1], dtype=torch.bool, device=logits.device)
    keep[list(classes)] = True
    return logits.masked_fill(~keep, float("-inf"))


def average_accuracy(acc: np.ndarray, t: int) -> float:
    """Mean accuracy over tasks 0..t after training task t (rows: after task, columns: evaluated task)."""
    return float(np.mean(acc[t, : t + 1]))


def forgetting(acc: np.ndarray, t: int) -> float:
    """Mean over tasks j < t of (best accuracy on j after tasks j..t-1) - (accuracy on j after task t); NaN at t=0.
    The brief's definition: the best is over past evaluations only, so a task that improves gives a negative term."""
    if t == 0:
        return float("nan")
    return float(np.mean([acc[j:t, j].max() - acc[t, j] for j in range(t)]))


def forgetting_repo(acc: np.ndarray, t: int) -> float:
    """The official repository's forgetting: the best is taken over every evaluation of task j up to and
    including the one after task t, so each term is >= 0 (a task that improves counts as no forgetting)."""
    if t == 0:
        return float("nan")
    return float(np.mean([acc[j:t + 1, j].max() - acc[t, j] for j in range(t)]))


# ----------------------------------------------------------------------------------------------- clients


def client_train(model, scenario: Scenario, k: int, task: int, rnd: int, round_in_task: int, vec, ref,
                 buffer: Reservoir, method: Method, hp: dict, seed: int):
    t = scenario.tasks[task]
    gen = generator(seed, rnd, k, _TRAIN)
    fill = fill_epochs(method, round_in_task, hp["local_epochs"])
    new, stats = client_update(model, vec, t.client_x[k], t.client_y[k], buffer, ref, method, hp, gen, fill)
    return new, len(t.client_y[k]), stats


def client_query(model, vec, buffer: Reservoir, hp: dict, seed: int, rnd: int, k: int):
    return buffer_gradient(model, vec, buffer, hp["ref_batch"], generator(seed, rnd, k, _QUERY))


class LocalClients:
    """Every client in this process, one after another (the fast default)."""

    def __init__(self, scenario: Scenario, method: Method, hp: dict, seed: int, model):
        self.s, self.m, self.hp, self.seed, self.model = scenario, method, hp, seed, model
        self.buffers = [Reservoir(hp["buffer_size"]) for _ in scenario.tasks[0].client_x]

    def train(self, task, rnd, round_in_task, vec, ref):
        return [client_train(self.model, self.s, k, task, rnd, round_in_task, vec, ref, b, self.m, self.hp, self.seed)
                for k, b in enumerate(self.buffers)]

    def query(self, rnd, vec):
        return [client_query(self.model, vec, b, self.hp, self.seed, rnd, k) for k, b in enumerate(self.buffers)]


# ----------------------------------------------------------------------------------------------- server


def drive(scenario: Scenario, method: Method, hp: dict, seed: int, clients, model, progress=None):
    """The server's loop. Returns (accuracy matrices per setting, one row per round)."""
    n_tasks = len(scenario.tasks)
    vec, ref = get_vector(model), None
    acc = {s: np.full((n_tasks, n_tasks), np.nan) for s in scenario.settings}
    rounds, rnd = [], 0
    for t in range(n_tasks):
        for r in range(hp["rounds_per_task"]):
            results = clients.train(t, rnd, r, vec, ref)
            weights = [n for _, n, _ in results] if hp["weighting"] == "samples" else None
            vec = aggregate([v for v, _, _ in results], weights)
            if method.fed_agem and rnd % hp["ref_interval"] == 0:
                ref = reference_gradient(clients.query(rnd, vec))
            st = [s for _, _, s in results]
            rounds.append({"task": t, "round": rnd, "steps": sum(s.steps for s in st),
                           "triggered": sum(s.triggered for s in st),
                           "max_residual": max(s.max_residual for s in st)})
            rnd += 1
            if progress is not None:
                progress.update(1)
        for j in range(t + 1):
            task = scenario.tasks[j]
            for s in scenario.settings:
                classes = task.classes if s == "task" else None
                acc[s][t, j] = accuracy(model, vec, task.test_x, task.test_y, classes)
    return acc, pd.DataFrame(rounds)


def summarise(acc: dict, rounds: pd.DataFrame) -> pd.DataFrame:
    """One row per (setting, after task): average accuracy, forgetting, per-task accuracies, trigger rate."""
    rows = []
    per_task = rounds.groupby("task").agg(steps=("steps", "sum"), triggered=("triggered", "sum"),
                                          max_residual=("max_residual", "max"))
    for setting, a in acc.items():
        for t in range(a.shape[0]):
            p = per_task.loc[t]
            rows.append({"setting": setting, "after_task": t, "avg_acc": average_accuracy(a, t),
                         "forgetting": forgetting(a, t), "forgetting_repo": forgetting_repo(a, t), "acc_tasks": [float(v) for v in a[t, : t + 1]],
                         "steps": int(p["steps"]), "triggered": int(p["triggered"]),
                         "trigger_rate": float(p["triggered"] / max(p["steps"], 1)),
                         "max_residual": float(p["max_residual"])})
    return pd.DataFrame(rows)
