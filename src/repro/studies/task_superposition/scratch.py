"""The from-scratch model: trained on single-task prompts, tested on mixtures of two tasks, task vectors.

Training sequences hold n_demos + 1 examples, so the test prompt (n_demos demos and a query) never reaches a
position the model was not trained at. The loss is next-token cross-entropy on the answer characters only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from repro.core.train import TrainConfig, fit, step_of
from repro.models.gpt import GPT, GPTConfig
from repro.studies.task_superposition import data as D


def model_config(task: str, n_demos: int, m: dict) -> GPTConfig:
    return GPTConfig(n_layer=m["n_layer"], n_head=m["n_head"], d_model=m["d_model"], vocab_size=D.VOCAB,
                     max_len=(n_demos + 1) * D.example_len(task), pos="rotary", causal=True)


def answer_loss(model, b: D.TrainBatch) -> torch.Tensor:
    logits = model(b.tokens)
    return F.cross_entropy(logits[b.mask].float(), b.targets[b.mask])


def examples_at(step: int, n_examples: int, curriculum: dict | None) -> int:
    """Examples per training prompt at `step`: with a curriculum {demos_start, demos_every} (Garg et al.'s, over
    the number of demos), `demos_start` examples at step 0 and one more every `demos_every` steps, up to
    `n_examples`."""
    if not curriculum or not curriculum.get("demos_start"):
        return n_examples
    return min(n_examples, int(curriculum["demos_start"]) + step // int(curriculum["demos_every"]))


def params_at(step: int, n_params: int, curriculum: dict | None) -> int:
    """Hidden parameters (tasks) drawn at `step`: with a curriculum {params_start, params_every} (over the
    range of the task family, as Garg et al. grow the function class), the first `params_start` at step 0 and
    one more every `params_every` steps, up to all `n_params`."""
    if not curriculum or not curriculum.get("params_start"):
        return n_params
    return min(n_params, int(curriculum["params_start"]) + step // int(curriculum["params_every"]))


@torch.no_grad()
def heldout_accuracy(model, tokens: torch.Tensor, answers: torch.Tensor) -> float:
    """Share of held-out single-task prompts answered with the task's answer above half the mass."""
    probs = last_probs(model, tokens)
    return float((probs.gather(1, answers[:, None])[:, 0] > 0.5).float().mean())


def heldout_prompts(task: str, n_demos: int, n: int, seed: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """n single-task prompts (random hidden parameters) whose query input is not among the demos: the gate's
    held-out set, drawn from the job's seed (its own stream, seed * 1_000_003 - 1, never a training step's)."""
    g = torch.Generator(device=device).manual_seed(seed * 1_000_003 - 1)
    keep_t, keep_a = [], []
    while sum(len(t) for t in keep_t) < n:
        tp = D.single_task_prompts(task, D.draw_params(task, 4 * n, g, device), n_demos, g)
        fresh = ~tp.query_in_demos
        keep_t.append(tp.tokens[fresh])
        keep_a.append(tp.answers[fresh, 0])
    return torch.cat(keep_t)[:n], torch.cat(keep_a)[:n]


def train(spec: dict, model_cfg: dict, train_cfg: dict, n_demos: int, *, seed: int, device, state_path=None,
          run_hash: str = "", desc: str = "task_superposition") -> tuple[GPT, pd.DataFrame]:
    """spec: {task, skew}. Returns the trained model and its history: the loss every 25 steps and, every
    `eval_every` steps, `heldout_accuracy` on `eval_prompts` single-task prompts with unseen query inputs."""
    torch.manual_seed(seed)
    task, skew = spec["task"], spec.get("skew")
    train_cfg = {**train_cfg, **spec.get("train", {})}  # a model may override steps or batch
    model = GPT(model_config(task, n_demos, model_cfg))
    batch, curriculum = train_cfg["batch"], train_cfg.get("curriculum")
    tc = TrainConfig(steps=train_cfg["steps"], lr=train_cfg["lr"], weight_decay=train_cfg["weight_decay"],
                     warmup=train_cfg["warmup"], min_lr_ratio=train_cfg.get("min_lr_ratio", 0.1),
                     save_every=train_cfg["save_every"], compile=train_cfg.get("compile", False),
                     grad_clip=train_cfg.get("grad_clip", 1.0))

    def batch_fn(g):
        step = step_of(g, seed)
        return D.train_batch(task, batch, examples_at(step, n_demos + 1, curriculum), g, device, skew,
                             params_at(step, D.TASKS[task], curriculum))

    evaluate, eval_every = None, train_cfg.get("eval_every")
    if eval_every:
        tokens, answers = heldout_prompts(task, n_demos, train_cfg.get("eval_prompts", 256), seed, device)
        evaluate = lambda m: {"heldout_accuracy": heldout_accuracy(m, tokens, answers)}  # noqa: E731
    history = fit(model, batch_fn, answer_loss, tc, seed=seed, device=device, state_path=state_path,
                  run_hash=run_hash, samples_per_batch=batch, desc=desc, evaluate=evaluate, eval_every=eval_every)
    if curriculum:
        history["examples"] = [examples_at(int(s) - 1, n_demos + 1, curriculum) for s in history.step]
        history["params"] = [params_at(int(s) - 1, D.TASKS[task], curriculum) for s in history.step]
    return model, history


@torch.no_grad()
def last_probs(model, tokens: torch.Tensor, chunk: int = 256, patch=None) -> torch.Tensor:
    """(n, vocab) next-token probabilities at the last position, in chunks."""
    out = []
    for i in range(0, len(tokens), chunk):
        p = None if patch is None else {k: (pos, v[i:i + chunk] if v.dim() > 1 else v) for k, (pos, v) in patch.items()}
        out.append(model(tokens[i:i + chunk], patch=p)[:, -1].float().softmax(-1))
    return torch.cat(out)


def _n_task0_last(demo_task: torch.Tensor, n: int) -> np.ndarray:
    return (demo_task[:, -n:] == 0).sum(1).cpu().numpy()


@torch.no_grad()
def mixing_table(model, spec: dict, n_demos: int, ps, n_prompts: int, g: torch.Generator, device) -> pd.DataFrame:
    """One row per test prompt: P(task-0 answer), P(task-1 answer), the rest, and what the prompt held."""
    rows = []
    for p in ps:
        tp = D.test_prompts(spec["task"], float(p), n_prompts, n_demos, g, device, spec.get("skew"),
                            spec.get("test_pair"))
        probs = last_probs(model, tp.tokens)
        pa = probs.gather(1, tp.answers).cpu().numpy()
        rows.append(pd.DataFrame({
            "p": float(p), "prompt": np.arange(n_prompts), "p_task0": pa[:, 0], "p_task1": pa[:, 1],
            "p_other": 1.0 - pa.sum(1), "param0": tp.params[:, 0].cpu().numpy(),
            "param1": tp.params[:, 1].cpu().numpy(), "query_in_demos": tp.query_in_demos.cpu().numpy(),
            "share0": (tp.demo_task == 0).float().mean(1).cpu().numpy(),
            **{f"task0_in_last{k}": _n_task0_last(tp.demo_task, k) for k in (1, 2, 3)}}))
    return pd.concat(rows, ignore_index=True)


def zero_shot_tokens(task: str, x: torch.Tensor) -> torch.Tensor:
    """Queries `x>` with no demos."""
    return torch.cat([x, torch.full((len(x), 1), D.SEP, device=x.device)], dim=1)


@torch.no_grad()
def task_vectors(model: GPT, task: str, n_demos: int, n_prompts: int, g: torch.Generator, device) -> torch.Tensor:
    """(n_params, n_layer + 1, d_model): the residual at the query's separator entering each layer, averaged
    over n_prompts single-task prompts per hidden parameter (layer 0 is the embedding)."""
    layers = list(range(model.cfg.n_layer + 1))
    out = []
    for h in range(D.TASKS[task]):
        tp = D.single_task_prompts(task, torch.full((n_prompts,), h, device=device), n_demos, g)
        _, res = model(tp.tokens, read=layers)
        out.append(torch.stack([res[layer][:, -1].float().mean(0) for layer in layers]))
    return torch.stack(out)


def _answer_under(task: str, x: torch.Tensor, h: int) -> torch.Tensor:
    return D._answers(task, x, torch.full((len(x),), h, device=x.device))


def inner_layers(model: GPT) -> list[int]:
    """The residual boundaries between blocks (1 .. n_layer - 1): patching the embedding changes the query's
    own token, and the last boundary (n_layer) is the output residual, where a vector fixes the answer."""
    return list(range(1, model.cfg.n_layer))


@torch.no_grad()
def patch_by_layer(model: GPT, task: str, tv: torch.Tensor, n_queries: int, g, device) -> pd.DataFrame:
    """Zero-shot `x>` with the residual at `>` replaced by a task's vector: P(that task's answer) per inner
    layer and hidden parameter."""
    x = D.zero_shot_queries(task, n_queries, g, device)
    tokens, rows = zero_shot_tokens(task, x), []
    pos = tokens.shape[1] - 1
    base = last_probs(model, tokens)
    for h in range(tv.shape[0]):
        ans = _answer_under(task, x, h)
        rows.append({"layer": -1, "param": h, "p_answer": float(base.gather(1, ans[:, None]).mean())})
        for layer in inner_layers(model):
            probs = last_probs(model, tokens, patch={layer: (pos, tv[h, layer])})
            rows.append({"layer": layer, "param": h, "p_answer": float(probs.gather(1, ans[:, None]).mean())})
    return pd.DataFrame(rows)  # layer -1: no patch (the zero-shot baseline)


def best_layers(by_layer: pd.DataFrame) -> dict[int, int]:
    """{hidden parameter: the inner layer where its vector gives its answer the highest zero-shot P}."""
    patched = by_layer[by_layer.layer >= 1]
    return {int(h): int(g.set_index("layer").p_answer.idxmax()) for h, g in patched.groupby("param")}


@torch.no_grad()
def interpolate(model: GPT, task: str, tv: torch.Tensor, by_layer: pd.DataFrame, pairs, lambdas, n_queries: int,
                g, device) -> pd.DataFrame:
    """For each task pair (A, B), tv = lam * tv_B + (1 - lam) * tv_A patched at each inner layer from A's best
    layer to B's (inclusive), one layer at a time (the co-author's protocol). One row per (pair, layer, lam)
    with the mean P(A answer), P(B answer) over fresh zero-shot queries; with a single pair, one row per query
    too (`query`; -1 marks a mean), so the queries are the unit."""
    best, rows = best_layers(by_layer), []
    for i, (a, b) in enumerate(pairs):
        x = D.zero_shot_queries(task, n_queries, g, device)
        tokens = zero_shot_tokens(task, x)
        ans_a, ans_b = _answer_under(task, x, a), _answer_under(task, x, b)
        lo, hi = sorted((best[a], best[b]))
        for layer in range(lo, hi + 1):
            for lam in lambdas:
                v = float(lam) * tv[b, layer] + (1 - float(lam)) * tv[a, layer]
                probs = last_probs(model, tokens, patch={layer: (tokens.shape[1] - 1, v)})
                pa, pb = probs.gather(1, ans_a[:, None])[:, 0], probs.gather(1, ans_b[:, None])[:, 0]
                head = {"pair": i, "param_a": a, "param_b": b, "layer": layer, "lam": float(lam)}
                if len(pairs) == 1:
                    rows += [{**head, "query": q, "p_a": float(u), "p_b": float(w)}
                             for q, (u, w) in enumerate(zip(pa.tolist(), pb.tolist()))]
                else:
                    rows.append({**head, "query": -1, "p_a": float(pa.mean()), "p_b": float(pb.mean())})
    return pd.DataFrame(rows)
