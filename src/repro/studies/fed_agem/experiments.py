"""One scenario, one seed: every method of the grid, on the executor the config names, into one table.

The grid: each base method with and without Fed-A-GEM; methods that keep a buffer run once per buffer rule
(FedAvg and FedProx alone keep none: buffer_rule "none"). Every method of a seed starts from the same
initial model and sees the same scenario (angles, permutations, client splits), so comparisons pair by seed.
"""

from __future__ import annotations

import pandas as pd
import torch
from tqdm.auto import tqdm

from repro.core.overlap import exact_overlap
from repro.models.classifier import build, n_params
from repro.studies.fed_agem import data as D
from repro.studies.fed_agem.algorithm import BASES, Method
from repro.studies.fed_agem.federation import LocalClients, drive, summarise

EXECUTORS = ("local", "flower")


def grid(bases=BASES, rules=("task_start", "reservoir")) -> list[Method]:
    out = []
    for base in bases:
        for fed in (False, True):
            m = Method(base, fed)
            out += [Method(base, fed, r) for r in rules] if m.uses_buffer else [m]
    return out


def run_one(scenario: D.Scenario, method: Method, cfg: dict, seed: int, device, executor: str = "local",
            progress=None):
    """(accuracy matrices, rounds table) of one continual federated run."""
    hp = cfg["train"]
    if executor == "flower":
        from repro.studies.fed_agem import flower

        if str(device) != "cpu":
            raise ValueError("executor 'flower' runs its clients on CPU here; set device: cpu")
        return flower.run(scenario, method, hp, seed, cfg["model"], progress)
    if executor != "local":
        raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    torch.manual_seed(seed)  # the same initial model for every method of a seed
    model = build(cfg["model"], scenario.input_shape, scenario.n_classes).to(device)
    return drive(scenario, method, hp, seed, LocalClients(scenario, method, hp, seed, model), model, progress)


def on_device(s: D.Scenario, device) -> D.Scenario:
    tasks = [D.Task(t.classes, [x.to(device) for x in t.client_x], [y.to(device) for y in t.client_y],
                    t.test_x.to(device), t.test_y.to(device)) for t in s.tasks]
    return D.Scenario(s.name, s.source, s.n_classes, s.input_shape, tasks)


def scenario_table(name: str, cfg: dict, seed: int, device, data_root=None, desc=None) -> pd.DataFrame:
    """Every method of the grid on one scenario and seed -> one row per (method, setting, after task)."""
    scenario = D.build(name, {**cfg["data"], "data_root": data_root}, seed)
    train_x = torch.cat([x for t in scenario.tasks for x in t.client_x])
    test_x = torch.cat([t.test_x for t in scenario.tasks])
    overlap = exact_overlap(train_x, test_x)  # digits holds a few exact duplicate images
    print(f"[fed_agem] {name}: data {scenario.source}, {len(scenario.tasks)} tasks, "
          f"{len(scenario.tasks[0].client_x)} clients, train/test exact-duplicate images: {overlap} of {len(test_x)}")
    scenario = on_device(scenario, device)
    methods = grid(cfg["bases"], cfg["buffer_rules"])
    executor = cfg["executor"]
    n_rounds = len(scenario.tasks) * cfg["train"]["rounds_per_task"]
    rows = []
    with tqdm(total=len(methods) * n_rounds, desc=desc or f"fed_agem/{name} s{seed}", mininterval=5) as bar:
        for m in methods:
            acc, rounds = run_one(scenario, m, cfg, seed, device, executor, bar)
            t = summarise(acc, rounds)
            rows.append(t.assign(scenario=name, source=scenario.source, base=m.base, fed_agem=m.fed_agem,
                                 method=m.name, buffer_rule=m.buffer_rule if m.uses_buffer else "none",
                                 seed=seed, executor=executor, overlap=overlap, n_test=len(test_x)))
    model = build(cfg["model"], scenario.input_shape, scenario.n_classes)
    return pd.concat(rows, ignore_index=True).assign(n_params=n_params(model))
