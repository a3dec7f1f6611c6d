"""Evaluation of one trained model: TVP at every layer, ICL in and out of distribution, task-vector geometry."""

from __future__ import annotations

import pandas as pd
import torch

from repro.models.gpt import GPT
from repro.studies.task_vectors import data as D
from repro.studies.task_vectors.tvp import icl_forward, out, score, sweep


def eval_batch(task_cfg: dict, n: int, k: int, g: torch.Generator, **ood) -> D.Batch:
    """Offset family: n prompts per task (so task-averaged vectors average n prompts); regression: n prompts."""
    if D.is_discrete(task_cfg):
        ids = torch.arange(len(D.tasks(task_cfg)), device=g.device).repeat_interleave(n)
        return D.batch(task_cfg, len(ids), k, g, task_ids=ids, **ood)
    return D.batch(task_cfg, n, k, g, **ood)


@torch.no_grad()
def tvp_table(model: GPT, task_cfg: dict, n: int, device) -> pd.DataFrame:
    """One row per (vectors, layer): per-prompt and (offset family) task-averaged task vectors."""
    g = torch.Generator(device=device).manual_seed(10**6 + 1)
    b = eval_batch(task_cfg, n, task_cfg["k"], g)
    discrete = D.is_discrete(task_cfg)
    rows = []
    for averaged in ([False, True] if discrete else [False]):
        r = sweep(model, b, discrete, averaged)
        rows += [{"vectors": "task-averaged" if averaged else "per-prompt", "layer": layer, "tvp": s, "icl": r["icl"],
                  "zero_shot": r["zero_shot"]} for layer, s in enumerate(r["tvp"])]
    return pd.DataFrame(rows).assign(metric="accuracy" if discrete else "mse")


@torch.no_grad()
def ood_table(model: GPT, task_cfg: dict, n: int, device) -> pd.DataFrame:
    """ICL score at the query in distribution and under each OOD shift."""
    discrete = D.is_discrete(task_cfg)
    settings = {"in-distribution": (task_cfg["k"], {}), f"k={task_cfg['k_ood']} demos": (task_cfg["k_ood"], {}),
                f"{task_cfg['noise']:.0%} noisy demos": (task_cfg["k"], {"noise": task_cfg["noise"]})}
    if not discrete:
        settings[f"x scale x{task_cfg['x_scale']:g}"] = (task_cfg["k"], {"x_scale": task_cfg["x_scale"]})
    rows = []
    for i, (name, (k, ood)) in enumerate(settings.items()):
        g = torch.Generator(device=device).manual_seed(2 * 10**6 + i)
        b = eval_batch(task_cfg, n, k, g, **ood)
        pred, _ = icl_forward(model, b)
        rows.append({"setting": name, "k": k, "score": float(score(out(pred[:, -1], discrete), b.y[:, -1],
                                                                     discrete).mean())})
    return pd.DataFrame(rows).assign(metric="accuracy" if discrete else "mse")


@torch.no_grad()
def pca_table(model: GPT, task_cfg: dict, layer: int, n: int, device) -> pd.DataFrame:
    """2-D PCA of per-prompt task vectors at `layer`, with each prompt's task (offset family: c)."""
    g = torch.Generator(device=device).manual_seed(3 * 10**6)
    b = eval_batch(task_cfg, n, task_cfg["k"], g)
    _, th = icl_forward(model, b, [layer])
    x = th[layer].float()
    x = x - x.mean(0)
    _, s, v = torch.linalg.svd(x, full_matrices=False)
    xy = (x @ v[:2].T).cpu()
    label = D.tasks(task_cfg)[b.task.cpu(), 1] if D.is_discrete(task_cfg) else b.y[:, -1].cpu()
    return pd.DataFrame({"pc1": xy[:, 0], "pc2": xy[:, 1], "label": label.float(), "layer": layer,
                         "explained": float((s[:2] ** 2).sum() / (s**2).sum())})


def evaluate_checkpoint(path, cfg: dict, device) -> dict[str, pd.DataFrame]:
    """The three evaluation tables of a checkpoint: {"tvp", "ood", "pca"}. cfg: {task, model, eval} settings."""
    from repro.core.io import load_checkpoint
    from repro.models.gpt import GPTConfig

    state, mcfg = load_checkpoint(path)
    model = GPT(GPTConfig(**mcfg)).to(device).eval()
    model.load_state_dict(state)
    task, ev = cfg["task"], cfg["eval"]
    layer = cfg["model"].get("tvp_layer") or ev["pca_layer"]
    return {"tvp": tvp_table(model, task, ev["prompts"], device), "ood": ood_table(model, task, ev["prompts"], device),
            "pca": pca_table(model, task, layer, ev["pca_prompts"], device)}
