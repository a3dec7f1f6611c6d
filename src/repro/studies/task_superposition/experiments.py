"""The study's measurements, one function per workflow job."""

from __future__ import annotations

import random
import sys

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from repro.studies.task_superposition import llm as L
from repro.studies.task_superposition import scratch as S


def evaluate_scratch(model, spec: dict, cfg: dict, *, seed: int, device) -> dict[str, pd.DataFrame]:
    """Mixed-task prompts, per-layer zero-shot patching and task-vector interpolation of one trained model."""
    g = torch.Generator(device=device).manual_seed(10_000 + seed)  # test draws: their own stream
    model.to(device).eval()
    n_demos, test, tvc = cfg["n_demos"], cfg["test"], cfg["task_vectors"]
    mixing = S.mixing_table(model, spec, n_demos, test["ps"], test["n_prompts"], g, device)
    tv = S.task_vectors(model, spec["task"], n_demos, tvc["n_prompts"], g, device)
    by_layer = S.patch_by_layer(model, spec["task"], tv, tvc["n_queries"], g, device)
    # the co-author's pair (copy: j = 2 against 6) when the spec fixes one, else random pairs
    pairs = ([tuple(spec["test_pair"])] if spec.get("test_pair") else
             S.D.pair_params(spec["task"], tvc["n_pairs"], g, device).tolist())
    interp = S.interpolate(model, spec["task"], tv, by_layer, pairs, np.linspace(0, 1, tvc["n_lambdas"]),
                           tvc["n_queries"], g, device)
    return {"mixing": mixing, "tv_layers": by_layer, "tv_interp": interp}


def _score_rows(model, encode, pr: L.Prompt, device, **extra) -> list[dict]:
    scores = L.score(model, encode, pr.text, pr.answers, device)
    shares = {t: pr.demo_tasks.count(t) / max(1, len(pr.demo_tasks)) for t in pr.tasks}
    last = pr.demo_tasks[-1] if pr.demo_tasks else None
    return [{**extra, "answer": k, "share": shares.get(k, 0.0), "logprob": lp, "prob": float(np.exp(lp)),
             "greedy": greedy, "last_demo_task": last} for k, (lp, greedy) in scores.items()]


def llm_experiment(cfg: dict, *, seed: int, device) -> dict[str, pd.DataFrame]:
    """Screen each task alone, then mix the tasks that pass, by exact shares of the demos.

    The screen (greedy accuracy of single-task prompts) decides which tasks enter the mixtures, with the
    threshold fixed in the config before measuring; the mixtures sweep the share of the first two passing
    tasks of each family and also mix every passing task of the family uniformly.
    """
    model, encode = L.load(cfg["model"], device, cfg.get("dtype", "float32"))
    rng, pool = random.Random(seed), L.words()
    n_demos, screen = cfg["n_demos"], cfg["screen"]
    bar = tqdm(total=len(cfg["tasks"]) * screen["n_prompts"], desc="llm screen", file=sys.stderr, mininterval=5)
    rows = []
    for task in cfg["tasks"]:
        for i in range(screen["n_prompts"]):
            pr = L.mixed_prompt([task], [n_demos], rng, pool)
            rows += _score_rows(model, encode, pr, device, family=L.TASK_FAMILY[task], task=task, prompt=i)
            bar.update()
    bar.close()
    screen_df = pd.DataFrame(rows)
    own = screen_df[screen_df.answer == screen_df.task]
    acc = own.groupby("task").greedy.mean()
    kept = [t for t in cfg["tasks"] if acc.get(t, 0.0) >= screen["min_accuracy"]]
    print(f"[task_superposition] single-task greedy accuracy: {acc.round(3).to_dict()}; kept {kept}", file=sys.stderr)

    plans = []  # (family, mixture label, tasks, counts, share of the first task, prompts)
    for family in L.FAMILIES:
        ts = [t for t in kept if L.TASK_FAMILY[t] == family]
        if len(ts) < 2:
            continue
        for p in cfg["shares"]:
            k0 = round(p * n_demos)
            if abs(k0 - p * n_demos) > 1e-9:
                raise ValueError(f"llm.shares: {p} of {n_demos} demos is not a whole number of demos")
            # the uniform mixture of a two-task family (judged by llm_superposition) gets its own prompt count
            uniform = len(ts) == 2 and k0 * 2 == n_demos
            n = cfg.get("n_prompts_uniform", cfg["n_prompts"]) if uniform else cfg["n_prompts"]
            plans.append((family, "pair", ts[:2], [k0, n_demos - k0], float(p), n))
        if len(ts) > 2:
            if n_demos % len(ts):
                raise ValueError(f"llm.n_demos = {n_demos} cannot be split evenly among {len(ts)} tasks")
            plans.append((family, "uniform", ts, [n_demos // len(ts)] * len(ts), 1.0 / len(ts),
                          cfg.get("n_prompts_uniform", cfg["n_prompts"])))
    rows = []
    bar = tqdm(total=sum(plan[-1] for plan in plans), desc="llm mixtures", file=sys.stderr, mininterval=5)
    for family, label, ts, counts, p, n in plans:
        for i in range(n):
            pr = L.mixed_prompt(ts, counts, rng, pool)
            rows += _score_rows(model, encode, pr, device, family=family, mixture=label, tasks="+".join(ts),
                                p=p, prompt=i)
            bar.update()
    bar.close()
    mix = pd.DataFrame(rows, columns=["family", "mixture", "tasks", "p", "prompt", "answer", "share", "logprob",
                                      "prob", "greedy", "last_demo_task"])
    screen_summary = pd.DataFrame({"task": cfg["tasks"], "greedy_accuracy": [float(acc.get(t, 0.0)) for t in cfg["tasks"]],
                                   "mean_prob": [float(own[own.task == t].prob.mean()) for t in cfg["tasks"]],
                                   "kept": [t in kept for t in cfg["tasks"]],
                                   "min_accuracy": screen["min_accuracy"]})
    return {"screen": screen_summary, "mixing": mix}


def llm_task_vector_experiment(cfg: dict, tv: dict, *, seed: int, device) -> dict[str, pd.DataFrame]:
    """Task vectors of the two tasks of `tv.tasks` at each layer of `tv.layers`, patched into zero-shot
    questions: P(answer) per layer and task, which picks each task's best layer; then, on fresh questions, the
    interpolation from A's vector to B's at every swept layer from one best layer to the other (inclusive),
    each layer patched alone (the co-author's protocol)."""
    model, encode = L.load(cfg["model"], device, cfg.get("dtype", "float32"))
    rng, pool = random.Random(seed + 1), L.words()
    a, b = tv["tasks"]
    vecs = L.llm_task_vectors(model, encode, [a, b], tv["layers"], tv["n_prompts"], cfg["n_demos"], rng, pool, device)

    def questions(n):
        out = []
        for _ in range(n):
            q, item = L.question(L.TASK_FAMILY[a], rng, pool)
            out.append((q, {a: L.answer(a, item), b: L.answer(b, item)}))
        return out

    select, judge = questions(tv["n_queries"]), questions(tv["n_queries"])  # layers are chosen on other questions
    rows = []
    with L.ResidualHooks(model) as hooks:
        for i, (q, ans) in enumerate(tqdm(select, desc="llm task vectors by layer", file=sys.stderr, mininterval=5)):
            base = L.score(model, encode, q, ans, device)
            rows += [{"layer": -1, "task": t, "query": i, "prob": float(np.exp(base[t][0]))} for t in (a, b)]
            for layer in tv["layers"]:
                for t in (a, b):
                    s = L.patched_score(model, encode, hooks, q, {t: ans[t]}, {layer: vecs[t][layer]}, device)
                    rows.append({"layer": layer, "task": t, "query": i, "prob": float(np.exp(s[t][0]))})
        by_layer = pd.DataFrame(rows)
        best = best_layers(by_layer)
        span = [layer for layer in tv["layers"] if min(best.values()) <= layer <= max(best.values())]
        rows = []
        for layer in span:
            for i, (q, ans) in enumerate(tqdm(judge, desc=f"llm interpolation at layer {layer}", file=sys.stderr,
                                              mininterval=5)):
                for lam in np.linspace(0, 1, tv["n_lambdas"]):
                    v = float(lam) * vecs[b][layer] + (1 - float(lam)) * vecs[a][layer]
                    s = L.patched_score(model, encode, hooks, q, ans, {layer: v}, device)
                    rows.append({"query": i, "lam": float(lam), "p_a": float(np.exp(s[a][0])),
                                 "p_b": float(np.exp(s[b][0])), "layer": layer})
    return {"tv_layers": by_layer.assign(task_a=a, task_b=b, best_a=best[a], best_b=best[b]),
            "tv_interp": pd.DataFrame(rows).assign(task_a=a, task_b=b)}


def best_layers(by_layer: pd.DataFrame) -> dict:
    """{task: the layer whose patched vector gives that task's answer the highest mean zero-shot probability}."""
    patched = by_layer[by_layer.layer >= 0]
    return {t: int(g.groupby("layer").prob.mean().idxmax()) for t, g in patched.groupby("task")}
