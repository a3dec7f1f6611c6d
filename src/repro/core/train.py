"""One training loop for every study: AdamW, warmup + cosine LR, bf16 autocast on CUDA, optional
torch.compile, a progress bar with loss and throughput, and resumable state.

Resumability: every `save_every` steps the full state (model, optimizer, step, history, RNG) is written
atomically to `state_path`, which must lie *outside* declared outputs (Snakemake deletes those when a job
fails). Each step draws its batch from a generator seeded by (seed, step), so a run killed at any point
and resumed sees exactly the batches an uninterrupted run sees, and ends with the same weights on CPU.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import torch
from tqdm.auto import tqdm

from repro.core.io import atomic_path


@dataclass
class TrainConfig:
    steps: int
    lr: float
    weight_decay: float = 0.0
    warmup: int = 0
    min_lr_ratio: float = 0.1
    grad_clip: float | None = 1.0
    log_every: int = 25
    save_every: int = 200
    compile: bool = False


HISTORY_COLUMNS = ["step", "loss", "lr", "samples_per_s"]


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup, then cosine decay to min_lr_ratio * lr."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


def step_generator(seed: int, step: int, device: torch.device) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(seed * 1_000_003 + step)
    return g


def step_of(g: torch.Generator, seed: int) -> int:
    """The step a shared-loop generator was made for: fit hands batch_fn only `step_generator(seed, step)`."""
    return g.initial_seed() - step_generator(seed, 0, torch.device("cpu")).initial_seed()


def epoch_batch(n_examples: int, batch: int, seed: int, step: int) -> list[int]:
    """Example indices of `step` when every epoch is one pass over a fresh permutation drawn from (seed, epoch)
    alone (a fixed training set shuffled each epoch), so a resumed run gets the batches an uninterrupted one does.
    A batch that straddles two epochs takes the end of one permutation and the start of the next."""
    span = range(step * batch, (step + 1) * batch)
    perms = {e: torch.randperm(n_examples, generator=torch.Generator().manual_seed(seed * 7_919 + e))
             for e in {pos // n_examples for pos in span}}
    return [int(perms[pos // n_examples][pos % n_examples]) for pos in span]


def fit(
    model: torch.nn.Module,
    batch_fn: Callable[[torch.Generator], object],
    loss_fn: Callable[[torch.nn.Module, object], torch.Tensor],
    cfg: TrainConfig,
    *,
    seed: int,
    device: torch.device,
    state_path: str | Path | None = None,
    run_hash: str = "",
    samples_per_batch: int | None = None,
    desc: str = "train",
    evaluate: Callable[[torch.nn.Module], dict] | None = None,
    eval_every: int | None = None,
) -> pd.DataFrame:
    """Train `model` in place; return the loss history (one row per `log_every` steps).

    With `evaluate`, the row of every `eval_every`-th step (and of the last step) also holds the metrics it
    returns, computed in eval mode without gradients: learning curves come out of the same table.
    """
    if evaluate is not None and (not eval_every or eval_every % cfg.log_every):
        raise ValueError("eval_every must be a positive multiple of log_every")
    model.to(device)
    use_cuda = device.type == "cuda"
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                            fused=use_cuda)
    start, history = 0, []
    state_path = Path(state_path) if state_path else None
    if state_path and state_path.exists():
        state = torch.load(state_path, map_location=device, weights_only=True)
        if state.get("run_hash") == run_hash:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            start, history = int(state["step"]), list(state["history"])
            print(f"[{desc}] resuming from step {start} ({state_path})", file=sys.stderr)
        else:
            print(f"[{desc}] ignoring stale resume state with another config ({state_path})", file=sys.stderr)

    step_fn = torch.compile(model) if (cfg.compile and use_cuda) else model
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_cuda)
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc=desc, file=sys.stderr,
               mininterval=1.0 if sys.stderr.isatty() else 15.0, dynamic_ncols=True)
    model.train()
    t0, done, loss_sum, n_sum = time.perf_counter(), 0, 0.0, 0
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        batch = batch_fn(step_generator(seed, step, device))
        with autocast:
            loss = loss_fn(step_fn, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        done += 1
        loss_sum, n_sum = loss_sum + loss.detach(), n_sum + 1  # stays on device: no sync per step
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            rate = done * (samples_per_batch or 1) / (time.perf_counter() - t0)
            row = {"step": step + 1, "loss": float(loss_sum) / n_sum, "lr": lr_at(step, cfg), "samples_per_s": rate}
            loss_sum, n_sum = 0.0, 0
            if evaluate is not None and ((step + 1) % eval_every == 0 or step + 1 == cfg.steps):
                t_eval = time.perf_counter()
                model.eval()
                with torch.no_grad(), autocast:
                    row.update(evaluate(model))
                model.train()
                t0 += time.perf_counter() - t_eval  # throughput counts training time only
            history.append(row)
            bar.set_postfix(loss=f"{row['loss']:.4g}", samples_s=f"{rate:.0f}")
        if state_path and (step + 1) % cfg.save_every == 0 and step + 1 < cfg.steps:
            _save_state(state_path, model, opt, step + 1, history, run_hash)
    bar.close()
    model.eval()
    # loss: mean training loss over the steps since the previous row
    extra = sorted({k for row in history for k in row} - set(HISTORY_COLUMNS))
    return pd.DataFrame(history, columns=HISTORY_COLUMNS + extra)


def _save_state(path: Path, model, opt, step: int, history: list, run_hash: str) -> None:
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
             "history": history, "run_hash": run_hash}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def clear_state(state_path: str | Path | None) -> None:
    """Call after the final checkpoint is written: the resume state is no longer needed."""
    if state_path and Path(state_path).exists():
        Path(state_path).unlink()


def config_dict(cfg: TrainConfig) -> dict:
    return asdict(cfg)
