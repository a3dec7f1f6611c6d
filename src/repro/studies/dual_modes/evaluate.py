"""The trained transformer against the Bayes predictor on the same in-context prompts."""

from __future__ import annotations

import pandas as pd
import torch

from repro.core.io import load_checkpoint
from repro.models.gpt import GPT, GPTConfig
from repro.studies.dual_modes import bayes
from repro.studies.dual_modes import data as P
from repro.studies.dual_modes.train import predict, prior_from_config

EVAL_SEED_BASE = 2**40  # evaluation prompts never reuse a training batch's generator seed
GATE_PROMPTS = 8192  # held-out pretraining prompts for the competence gate (a share of a large gain: ample)

@torch.no_grad()
def evaluate(model: GPT, prior: P.Prior, num_k: int, n_prompts: int, seed: int, device: torch.device,
             batch: int = 1024) -> pd.DataFrame:
    """Transformer F^ and Bayes F* on the *same* in-context sequences, for every k < num_k.

    Errors against the learning target y* = w*.x and the retrieval target y^a = w_1.x, and E[(F^ - F*)^2];
    `pre_*`: errors on held-out prompts of the pretraining prior (the competence gate of the claims).
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
                 "tf_vs_bayes": (f_t - f_b) ** 2, "y_sq": Y**2,
                 # learning minus retrieval error per prompt: its s.e. is the paired spread of the two modes
                 "tf_modes_diff": (f_t - Y) ** 2 - (f_t - y_ret) ** 2,
                 "bayes_modes_diff": (f_b - Y) ** 2 - (f_b - y_ret) ** 2}
        for key, v in terms.items():
            s, s2 = sums.get(key, (0.0, 0.0))
            sums[key] = (s + v.sum(0), s2 + (v**2).sum(0))
    # Competence on the pretraining task itself, on held-out prompts of the prior (the same generator, after the
    # in-context prompts): the transformer, Bayes, and Bayes without the demos (the zero-shot plateau: it sees
    # only the query), each against the noisy labels.
    n_pre = min(n_prompts, GATE_PROMPTS)
    for start in range(0, n_pre, batch):
        X, Y = P.sample_pretraining(prior64, min(batch, n_pre - start), num_k, g)
        f_t = predict(model, X.float(), Y.float()).double()
        f_b = bayes.prefix_posteriors(prior64, X, Y).yhat
        A0 = X.new_zeros(*X.shape, X.shape[-1])  # no demos: A = 0, b = 0, and the query alone in S
        f_0 = bayes.posterior(prior64, X, A0, torch.zeros_like(X), 1, X).yhat
        for key, v in {"pre_tf_err": (f_t - Y) ** 2, "pre_bayes_err": (f_b - Y) ** 2,
                       "pre_zero_shot_err": (f_0 - Y) ** 2}.items():
            s, s2 = sums.get(key, (0.0, 0.0))
            sums[key] = (s + v.sum(0), s2 + (v**2).sum(0))
    out = {"k": torch.arange(num_k)}
    for key, (s, s2) in sums.items():
        n = n_pre if key.startswith("pre_") else n_prompts
        mean = s / n
        out[key] = mean
        out[f"se_{key}"] = ((s2 / n - mean**2).clamp_min(0) / n).sqrt()
    return pd.DataFrame({k: v.cpu().numpy() for k, v in out.items()})


def evaluate_checkpoint(path, cfg: dict, *, seed: int, device) -> pd.DataFrame:
    state, mcfg = load_checkpoint(path, device)
    model = GPT(GPTConfig(**mcfg)).to(device)
    model.load_state_dict(state)
    model.eval()
    # Training step t of seed s draws from generator seed s * 1_000_003 + t (< 2^40 for any real run).
    return evaluate(model, prior_from_config(cfg), cfg["num_k"], cfg["eval_prompts"], seed=EVAL_SEED_BASE + seed,
                    device=device)
