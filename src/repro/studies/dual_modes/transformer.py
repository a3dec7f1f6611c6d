"""A GPT trained on fresh samples of the task-mixture prior, and its comparison with the Bayes predictor.

Prompts are interleaved Garg-style: x_i as [x_i, 0] and y_i as [0, ..., 0, y_i] (d+1 channels), so a
prompt of n pairs is 2n tokens; the read-out at x-token i predicts y_i from the i demos before it.
"""

from __future__ import annotations

import pandas as pd
import torch

from repro.core.train import TrainConfig, fit
from repro.models.gpt import GPT, GPTConfig
from repro.studies.dual_modes import bayes, prior as P


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


def model_config(d: int, num_k: int, n_layer: int, n_head: int, d_model: int) -> GPTConfig:
    return GPTConfig(n_layer=n_layer, n_head=n_head, d_model=d_model, max_len=2 * num_k, d_in=d + 1, d_out=1,
                     pos="learned", causal=True)


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


@torch.no_grad()
def evaluate(model: GPT, prior: P.Prior, num_k: int, n_prompts: int, seed: int, device: torch.device,
             batch: int = 1024) -> pd.DataFrame:
    """Transformer F^ and Bayes F* on the *same* in-context sequences, for every k < num_k.

    Errors against the learning target y* = w*.x and the retrieval target y^a = w_1.x, and E[(F^ - F*)^2].
    """
    prior64 = prior.to(device, torch.float64)
    task = P.regular4_task(prior64)
    g = torch.Generator(device=device).manual_seed(seed)
    sums = {}
    for start in range(0, n_prompts, batch):
        X, Y = P.sample_incontext(task, task, min(batch, n_prompts - start), num_k, g, prior.sigma_x)
        f_t = predict(model, X.float(), Y.float()).double()
        f_b = bayes.prefix_posteriors(prior64, X, Y).yhat
        y_ret = X @ prior64.w[0]
        terms = {"tf_err_learning": (f_t - Y) ** 2, "tf_err_retrieval": (f_t - y_ret) ** 2,
                 "bayes_err_learning": (f_b - Y) ** 2, "bayes_err_retrieval": (f_b - y_ret) ** 2,
                 "tf_vs_bayes": (f_t - f_b) ** 2, "y_sq": Y**2}
        for key, v in terms.items():
            s, s2 = sums.get(key, (0.0, 0.0))
            sums[key] = (s + v.sum(0), s2 + (v**2).sum(0))
    out = {"k": torch.arange(num_k)}
    for key, (s, s2) in sums.items():
        mean = s / n_prompts
        out[key] = mean
        out[f"se_{key}"] = ((s2 / n_prompts - mean**2).clamp_min(0) / n_prompts).sqrt()
    return pd.DataFrame({k: v.cpu().numpy() for k, v in out.items()})


def _train_config(cfg: dict) -> TrainConfig:
    return TrainConfig(steps=cfg["steps"], lr=cfg["lr"], weight_decay=cfg["weight_decay"], warmup=cfg["warmup"],
                       save_every=cfg.get("save_every", 500), compile=cfg.get("compile", False))


def _prior(cfg: dict) -> P.Prior:
    from repro.core.config import number

    return P.regular4(number(cfg["delta"]), torch.float32)


def train_from_config(cfg: dict, *, seed: int, device, state_path=None, run_hash: str = ""):
    """Study settings (config/studies/dual_modes.yaml: transformer) -> trained model and history."""
    mc = model_config(3, cfg["num_k"], cfg["n_layer"], cfg["n_head"], cfg["d_model"])
    return train(_prior(cfg), mc, cfg["num_k"], cfg["batch"], _train_config(cfg), seed=seed, device=device,
                 state_path=state_path, run_hash=run_hash)


def evaluate_checkpoint(path, cfg: dict, *, seed: int, device) -> pd.DataFrame:
    from repro.core.io import load_checkpoint

    state, mcfg = load_checkpoint(path, device)
    model = GPT(GPTConfig(**mcfg)).to(device)
    model.load_state_dict(state)
    model.eval()
    # Evaluation prompts use a seed disjoint from every training step's generator.
    return evaluate(model, _prior(cfg), cfg["num_k"], cfg["eval_prompts"], seed=10_000 + seed, device=device)
