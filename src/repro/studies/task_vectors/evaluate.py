"""Evaluation of one trained model: TVP at every layer, ICL in and out of distribution, task-vector geometry.

TVP variants (the offset family has finitely many tasks): each prompt's own vector theta_l(P) replacing h_l(Z)
at "->"; the task's mean vector replacing it (the brief's protocol for finite tasks); and a query-preserving
patch that *adds* the task's mean vector minus the all-task mean to h_l(Z), so Z keeps its own query (from layer 1
on a replacement also overwrites the query that block 0 copies into "->"). A linear and an MLP probe read the task
from theta_l on held-out prompts. The sweep lives here, not in tvp.py, which training imports: a new evaluation must
not retrain the models."""

from __future__ import annotations

import pandas as pd
import torch

from repro.core.train import step_generator
from repro.models.gpt import GPT
from repro.studies.task_vectors import data as D
from repro.studies.task_vectors.tvp import icl_forward, out, score, tvp_forward

VECTORS = ("per-prompt", "task-averaged", "task-added")
# Evaluation draws come from the model's own (configured) seed, so `seed_set` moves them and each seed's models
# meet their own prompts (a baseline and a TVP-loss model of one seed meet the same ones: comparisons pair by
# seed). The streams sit past every training step of that seed (training: step_generator(seed, step)).
EVAL_STREAM = 500_000
_TVP, _PROBE, _CONTEXT, _OOD, _PCA = 1, 2, 10, 1_000, 2_000  # sub-streams; _CONTEXT + k, _OOD + setting


def eval_generator(seed: int, stream: int, device) -> torch.Generator:
    """The generator of one evaluation draw of a model trained with `seed`, never one of its training batches'."""
    return step_generator(seed, EVAL_STREAM + stream, torch.device(device))


def _task_means(theta: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
    """Each prompt's row replaced by the mean vector of its task."""
    means = {int(t): theta[task == t].mean(0) for t in task.unique()}
    return torch.stack([means[int(t)] for t in task])


@torch.no_grad()
def sweep(model: GPT, b: D.Batch, discrete: bool, vectors: str = "per-prompt") -> dict:
    """ICL, zero-shot and TVP at every layer on one evaluation batch, with one kind of vector (VECTORS):
    per-prompt theta_l(P) replacing h_l(Z); the task's mean theta replacing it; or h_l(Z) + (task mean - mean
    over all tasks), which keeps Z's own query in the residual. The last two need a finite task family.
    Returns {"icl": s, "zero_shot": s, "tvp": [s_0, ..., s_n]} with s the mean score."""
    if vectors not in VECTORS:
        raise ValueError(f"task_vectors: vectors must be one of {VECTORS}, got {vectors!r}")
    layers = list(range(model.cfg.n_layer + 1))
    icl, thetas = icl_forward(model, b, layers)
    zs, own = model(b.Z, read=layers)
    res = {"icl": float(score(out(icl[:, -1], discrete), b.y[:, -1], discrete).mean()),
           "zero_shot": float(score(out(zs[:, -1], discrete), b.yz, discrete).mean()), "tvp": []}
    for layer in layers:
        theta = thetas[layer]
        if vectors == "task-averaged":
            theta = _task_means(theta, b.task)
        elif vectors == "task-added":
            theta = own[layer][:, -1] + _task_means(theta, b.task) - theta.mean(0)
        pred = out(tvp_forward(model, b.Z, theta, layer), discrete)
        res["tvp"].append(float(score(pred, b.yz, discrete).mean()))
    return res


def _linear_probe(x_fit, y_fit, x_test, y_test, seed: int) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    probe.fit(x_fit.numpy(), y_fit.numpy())
    return float(probe.score(x_test.numpy(), y_test.numpy()))


MLP_PROBE = {"hidden": 128, "steps": 300, "lr": 1e-2, "weight_decay": 1e-3}  # full-batch Adam, fixed in advance


def _mlp_probe(x_fit, y_fit, x_test, y_test, seed: int) -> float:
    """One hidden ReLU layer on standardised residuals, full-batch AdamW (about a second on one CPU thread; sklearn's
    MLPClassifier took a minute per model). Initialised from the model's seed."""
    mu, sd = x_fit.mean(0), x_fit.std(0).clamp_min(1e-6)
    xf, xt = (x_fit - mu) / sd, (x_test - mu) / sd
    classes, yf = torch.unique(y_fit, return_inverse=True)
    with torch.enable_grad():
        g = torch.Generator().manual_seed(seed)
        h = MLP_PROBE["hidden"]
        w1 = (torch.randn(xf.shape[1], h, generator=g) / xf.shape[1] ** 0.5).requires_grad_()
        w2 = (torch.randn(h, len(classes), generator=g) / h ** 0.5).requires_grad_()
        b1, b2 = torch.zeros(h, requires_grad=True), torch.zeros(len(classes), requires_grad=True)
        opt = torch.optim.AdamW([w1, b1, w2, b2], lr=MLP_PROBE["lr"], weight_decay=MLP_PROBE["weight_decay"])
        for _ in range(MLP_PROBE["steps"]):
            loss = torch.nn.functional.cross_entropy(torch.relu(xf @ w1 + b1) @ w2 + b2, yf)
            opt.zero_grad()
            loss.backward()
            opt.step()
    pred = classes[(torch.relu(xt @ w1 + b1) @ w2 + b2).argmax(1)]
    return float((pred == y_test).float().mean())


# readouts of the task from theta_l (held-out accuracy), reported beside TVP; the MLP reads a task that is there
# but not linearly separable (the paper's "weakly or non-locally encoded" case)
PROBES = {"linear probe": _linear_probe, "mlp probe": _mlp_probe}
UNTRAINED = "mlp probe, untrained"  # the MLP probe of the same network at its initialisation: the control


def initial_model(gpt_cfg: dict, seed: int) -> GPT:
    """The network `seed` trained from: training seeds torch and then builds the model (train.train), so the
    same two steps rebuild its initial weights. The global RNG is left as it was."""
    from repro.models.gpt import GPTConfig

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return GPT(GPTConfig(**gpt_cfg)).eval()


@torch.no_grad()
def task_probe(model: GPT, fit: D.Batch, test: D.Batch, kind: str = "linear probe", seed: int = 0) -> list[float]:
    """Held-out accuracy, per layer, of a probe (PROBES) that reads the task from theta_l(P): fitted on the
    prompts of `fit`, scored on the disjoint prompts of `test`."""
    if kind not in PROBES:
        raise ValueError(f"task_vectors: probe must be one of {tuple(PROBES)}, got {kind!r}")
    layers = list(range(model.cfg.n_layer + 1))
    _, tf = icl_forward(model, fit, layers)
    _, tt = icl_forward(model, test, layers)
    return [PROBES[kind](tf[layer].float().cpu(), fit.task.cpu(), tt[layer].float().cpu(), test.task.cpu(), seed)
            for layer in layers]


def eval_batch(task_cfg: dict, n: int, k: int, g: torch.Generator, **ood) -> D.Batch:
    """Offset family: n prompts per task (so task-averaged vectors average n prompts); regression: n prompts."""
    if D.is_discrete(task_cfg):
        ids = torch.arange(len(D.tasks(task_cfg)), device=g.device).repeat_interleave(n)
        return D.batch(task_cfg, len(ids), k, g, task_ids=ids, **ood)
    return D.batch(task_cfg, n, k, g, **ood)


@torch.no_grad()
def tvp_table(model: GPT, task_cfg: dict, n: int, device, context_ks=(), *, seed: int,
              untrained: GPT | None = None) -> pd.DataFrame:
    """One row per (k, vectors, layer). At the trained k: TVP with per-prompt vectors and, for the offset family,
    with task-averaged vectors, with the query-preserving added patch, and the held-out accuracy of a linear probe
    of the task ("linear probe": fitted on other prompts of the same tasks, from another stream). With `untrained`
    (the same architecture at its initialisation) also an MLP probe of the model and of that network ("mlp probe",
    "mlp probe, untrained"): random features of the demos already carry the offset nonlinearly, so a trained
    model's MLP probe means something only above this control. At every other context length of `context_ks`
    (the brief's claim 2: the best layer moves with the context): the vectors of the brief's protocol,
    per-prompt and, for the offset family, task-averaged."""
    discrete = D.is_discrete(task_cfg)
    k0 = task_cfg["k"]
    if any(k > max(k0, task_cfg["k_ood"]) or k < 1 for k in context_ks):
        raise ValueError(f"task_vectors eval.context_ks must lie in 1..max(k, k_ood) = {max(k0, task_cfg['k_ood'])} "
                         f"(the models' positions), got {list(context_ks)}")
    rows = []
    for k in [k0] + [k for k in dict.fromkeys(context_ks) if k != k0]:
        g = eval_generator(seed, _TVP if k == k0 else _CONTEXT + k, device)
        b = eval_batch(task_cfg, n, k, g)
        kinds = (VECTORS if k == k0 else VECTORS[:2]) if discrete else VECTORS[:1]
        for vectors in kinds:
            r = sweep(model, b, discrete, vectors)
            rows += [{"k": k, "vectors": vectors, "layer": layer, "tvp": s, "icl": r["icl"],
                      "zero_shot": r["zero_shot"]} for layer, s in enumerate(r["tvp"])]
        if discrete and k == k0:
            fit = eval_batch(task_cfg, n, k, eval_generator(seed, _PROBE, device))
            for kind in PROBES if untrained is not None else ["linear probe"]:
                rows += [{"k": k, "vectors": kind, "layer": layer, "tvp": s, "icl": r["icl"],
                          "zero_shot": r["zero_shot"]} for layer, s in enumerate(task_probe(model, fit, b, kind, seed))]
            if untrained is not None:
                rows += [{"k": k, "vectors": UNTRAINED, "layer": layer, "tvp": s, "icl": r["icl"],
                          "zero_shot": r["zero_shot"]}
                         for layer, s in enumerate(task_probe(untrained, fit, b, "mlp probe", seed))]
    return pd.DataFrame(rows).assign(metric="accuracy" if discrete else "mse")


@torch.no_grad()
def ood_table(model: GPT, task_cfg: dict, n: int, device, *, seed: int) -> pd.DataFrame:
    """ICL score at the query in distribution and under each OOD shift."""
    discrete = D.is_discrete(task_cfg)
    settings = {"in-distribution": (task_cfg["k"], {}), f"k={task_cfg['k_ood']} demos": (task_cfg["k_ood"], {}),
                f"{task_cfg['noise']:.0%} noisy demos": (task_cfg["k"], {"noise": task_cfg["noise"]})}
    if not discrete:
        settings[f"x scale x{task_cfg['x_scale']:g}"] = (task_cfg["k"], {"x_scale": task_cfg["x_scale"]})
    rows = []
    for i, (name, (k, ood)) in enumerate(settings.items()):
        g = eval_generator(seed, _OOD + i, device)
        b = eval_batch(task_cfg, n, k, g, **ood)
        pred, _ = icl_forward(model, b)
        rows.append({"setting": name, "k": k, "score": float(score(out(pred[:, -1], discrete), b.y[:, -1],
                                                                     discrete).mean())})
    return pd.DataFrame(rows).assign(metric="accuracy" if discrete else "mse")


@torch.no_grad()
def pca_table(model: GPT, task_cfg: dict, layer: int, n: int, device, *, seed: int) -> pd.DataFrame:
    """2-D PCA of per-prompt task vectors at `layer`, with each prompt's task (offset family: c)."""
    g = eval_generator(seed, _PCA, device)
    b = eval_batch(task_cfg, n, task_cfg["k"], g)
    _, th = icl_forward(model, b, [layer])
    x = th[layer].float()
    x = x - x.mean(0)
    _, s, v = torch.linalg.svd(x, full_matrices=False)
    xy = (x @ v[:2].T).cpu()
    label = D.tasks(task_cfg)[b.task.cpu(), 1] if D.is_discrete(task_cfg) else b.y[:, -1].cpu()
    return pd.DataFrame({"pc1": xy[:, 0], "pc2": xy[:, 1], "label": label.float(), "layer": layer,
                         "explained": float((s[:2] ** 2).sum() / (s**2).sum())})


def evaluate_checkpoint(path, cfg: dict, device, *, seed: int) -> dict[str, pd.DataFrame]:
    """The three evaluation tables of a checkpoint: {"tvp", "ood", "pca"}. cfg: {task, model, eval} settings;
    seed: the model's training seed (the evaluation prompts derive from it)."""
    from repro.core.io import load_checkpoint
    from repro.models.gpt import GPTConfig

    state, mcfg = load_checkpoint(path)
    model = GPT(GPTConfig(**mcfg)).to(device).eval()
    model.load_state_dict(state)
    task, ev = cfg["task"], cfg["eval"]
    # a shallower baseline (paper scale) is projected at the same relative depth, not at its last residual
    layer = cfg["model"].get("tvp_layer") or min(ev["pca_layer"], cfg["model"]["n_layer"] // 2)
    # the MLP probes (about 15 s of CPU a model) read the baselines' encoding, the paper's weak or non-local case; a
    # TVP-loss model's vector is read by TVP itself
    untrained = initial_model(mcfg, seed).to(device) if cfg["model"].get("tvp_layer") is None else None
    return {"tvp": tvp_table(model, task, ev["prompts"], device, ev.get("context_ks", ()), seed=seed,
                             untrained=untrained),
            "ood": ood_table(model, task, ev["prompts"], device, seed=seed),
            "pca": pca_table(model, task, layer, ev["pca_prompts"], device, seed=seed)}
