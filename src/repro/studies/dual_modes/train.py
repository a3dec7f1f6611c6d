"""A GPT trained on fresh samples of the task-mixture prior.

Prompts are interleaved Garg-style: x_i as [x_i, 0] and y_i as [0, ..., 0, y_i] (d+1 channels), so a
prompt of n pairs is 2n tokens; the read-out at x-token i predicts y_i from the i demos before it.
"""

from __future__ import annotations

import pandas as pd
import torch

from repro.core.config import number
from repro.core.train import TrainConfig, fit
from repro.models.gpt import GPT, GPTConfig
from repro.studies.dual_modes import data as P


def interleave(X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """X (B, n, d), Y (B, n) -> tokens (B, 2n, d+1)."""
    B, n, d = X.shape
    tok = X.new_zeros(B, n, 2, d + 1)
    tok[:, :, 0, :d] = X
    tok[:, :, 1, d] = Y
    return tok.view(B, 2 * n, d + 1)


def predict(model: GPT, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Prediction for every y_i given the i demos before it: (B, n)."""
    return model(interleave(X, Y))[:, 0::2, 0]


def model_config(d: int, num_k: int, n_layer: int, n_head: int, d_model: int, pos: str = "rotary") -> GPTConfig:
    return GPTConfig(n_layer=n_layer, n_head=n_head, d_model=d_model, max_len=2 * num_k, d_in=d + 1, d_out=1,
                     pos=pos, causal=True)


def train(prior: P.Prior, model_cfg: GPTConfig, num_k: int, batch: int, train_cfg: TrainConfig, *, seed: int,
          device: torch.device, state_path=None, run_hash: str = "") -> tuple[GPT, pd.DataFrame]:
    torch.manual_seed(seed)
    model = GPT(model_cfg)
    prior = prior.to(device, torch.float32)

    def batch_fn(g):
        return P.sample_pretraining(prior, batch, num_k, g)

    def loss_fn(m, b):
        X, Y = b
        return torch.nn.functional.mse_loss(predict(m, X, Y).float(), Y)

    history = fit(model, batch_fn, loss_fn, train_cfg, seed=seed, device=device, state_path=state_path,
                  run_hash=run_hash, samples_per_batch=batch, desc="dual_modes/train")
    return model, history


def _train_config(cfg: dict) -> TrainConfig:
    return TrainConfig(steps=cfg["steps"], lr=cfg["lr"], weight_decay=cfg["weight_decay"], warmup=cfg["warmup"],
                       save_every=cfg.get("save_every", 500), compile=cfg.get("compile", False))


def prior_from_config(cfg: dict) -> P.Prior:
    return P.regular4(number(cfg["delta"]), torch.float32)


def train_from_config(cfg: dict, *, seed: int, device, state_path=None, run_hash: str = ""):
    """Study settings (config/studies/dual_modes.yaml: transformer) -> trained model and history."""
    mc = model_config(3, cfg["num_k"], cfg["n_layer"], cfg["n_head"], cfg["d_model"], cfg.get("pos", "rotary"))
    return train(prior_from_config(cfg), mc, cfg["num_k"], cfg["batch"], _train_config(cfg), seed=seed, device=device,
                 state_path=state_path, run_hash=run_hash)
