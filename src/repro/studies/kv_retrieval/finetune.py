"""Fine-tuning on chat-formatted examples with the loss on the answer tokens only, through the shared training
loop (AdamW, warmup + cosine, resumable state). The LM head runs only where a label is set: at 135M parameters the
head is a fifth of the forward cost, and the prompt tokens carry no loss."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from repro.core.train import TrainConfig, fit

IGNORE = -100


def pad_right(seqs: list[tuple[list[int], list[int]]], pad_id: int):
    """(input_ids, attention_mask, labels) for a training batch, padded on the right (positions stay 0..L-1)."""
    width = max(len(ids) for ids, _ in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    labels = torch.full((len(seqs), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, (x, y) in enumerate(seqs):
        ids[i, : len(x)], labels[i, : len(y)], mask[i, : len(x)] = torch.tensor(x), torch.tensor(y), 1
    return ids, mask, labels


def causal_lm(model):
    """The transformers CausalLM under a peft wrapper (LoRA layers are injected into it in place)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def answer_loss(model, batch) -> torch.Tensor:
    """Mean next-token cross-entropy over the labelled (answer) tokens only."""
    ids, mask, labels = batch
    lm = causal_lm(model)
    hidden = lm.model(input_ids=ids, attention_mask=mask).last_hidden_state
    target = labels[:, 1:]
    keep = target != IGNORE
    logits = lm.lm_head(hidden[:, :-1][keep])
    return F.cross_entropy(logits.float(), target[keep])


def n_steps(n_examples: int, epochs: float, batch: int) -> int:
    return max(1, math.ceil(epochs * n_examples / batch))


def finetune(model, examples: list[tuple[list[int], list[int]]], pad_id: int, cfg: dict, seed: int, device,
             state_path=None, run_hash: str = "", desc: str = "kv_retrieval/finetune"):
    """cfg: epochs, batch, lr, warmup_frac, weight_decay. Batches are drawn at random (with replacement) from the
    step's own generator, so a resumed run sees the batches an uninterrupted one does."""
    steps = n_steps(len(examples), cfg["epochs"], cfg["batch"])
    tcfg = TrainConfig(steps=steps, lr=cfg["lr"], weight_decay=cfg.get("weight_decay", 0.0),
                       warmup=round(cfg.get("warmup_frac", 0.0) * steps), log_every=1,
                       save_every=cfg.get("save_every", 50))

    def batch_fn(g):
        idx = torch.randint(0, len(examples), (cfg["batch"],), generator=g, device=g.device).tolist()
        return tuple(t.to(device) for t in pad_right([examples[i] for i in idx], pad_id))

    return fit(model, batch_fn, answer_loss, tcfg, seed=seed, device=torch.device(device), state_path=state_path,
               run_hash=run_hash, samples_per_batch=cfg["batch"], desc=desc)
