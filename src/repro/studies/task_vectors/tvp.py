"""Task vectors and task-vector prompting (TVP), Hendel et al.'s protocol with *replacement*.

Layer convention (the shared GPT's hooks): layer l in 0..n_layer is the residual stream entering block l, so
l = 0 is the embedding and l = n_layer the final residual; "the output of block l" is layer l + 1 here.

- task vector: theta_l(P) = h_l(P) at P's last "->".
- TVP: run Z = [x_q', ->], overwrite h_l(Z) at "->" with theta_l(P), continue, read the prediction at "->".
Positions: the models use rotary positions (relative), so the "->" of Z (absolute position 1) and of P
(position 3k+1) look the same to attention; no padding trick is needed.
"""

from __future__ import annotations

import torch

from repro.models.gpt import GPT
from repro.studies.task_vectors.data import Batch


def out(logits: torch.Tensor, discrete: bool) -> torch.Tensor:
    """Model output -> prediction: class logits (discrete) or the scalar y (regression)."""
    return logits if discrete else logits[..., 0]


def icl_forward(model: GPT, b: Batch, layers=()):
    """Predictions at every "->" of P: (B, k+1, ...), and the residuals at the last "->" for `layers`."""
    logits, saved = model(b.P, read=list(layers)) if layers else (model(b.P), {})
    return logits[:, 1::3], {layer: h[:, -1] for layer, h in saved.items()}


def tvp_forward(model: GPT, Z: torch.Tensor, theta: torch.Tensor, layer: int) -> torch.Tensor:
    """The zero-shot prompt with h_layer at its "->" replaced by theta: logits at "->" (B, V)."""
    return model(Z, patch={layer: (Z.shape[1] - 1, theta)})[:, -1]


def zero_shot(model: GPT, Z: torch.Tensor) -> torch.Tensor:
    return model(Z)[:, -1]


def score(pred: torch.Tensor, y: torch.Tensor, discrete: bool) -> torch.Tensor:
    """Per-example accuracy (discrete) or squared error (regression)."""
    return (pred.argmax(-1) == y).float() if discrete else (pred - y) ** 2
