"""Evaluation: greedy generation in left-padded batches, held-out key-value accuracy, multi-document QA accuracy
by gold position, and perplexity on a fixed held-out text."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm


@torch.no_grad()
def generate(model, tok, prompts: list[list[int]], max_new_tokens: int, batch_size: int, device="cpu",
             desc: str | None = None) -> list[str]:
    """Greedy continuations of token-id prompts, batched: prompts sorted by length (little padding), left-padded
    so every prompt ends at the last column, decoded without special tokens, returned in the input order."""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out = [None] * len(prompts)
    starts = range(0, len(order), batch_size)
    for s in tqdm(starts, desc=desc or "kv_retrieval/generate", mininterval=10, disable=desc is None):
        chunk = order[s:s + batch_size]
        width = max(len(prompts[i]) for i in chunk)
        ids = torch.full((len(chunk), width), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, i in enumerate(chunk):
            p = prompts[i]
            ids[row, width - len(p):], mask[row, width - len(p):] = torch.tensor(p), 1
        gen = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new_tokens,
                             do_sample=False, pad_token_id=tok.pad_token_id)
        for row, i in enumerate(chunk):
            out[i] = tok.decode(gen[row, width:], skip_special_tokens=True)
    return out


@torch.no_grad()
def perplexity(model, tok, text: str, window: int = 1024, device="cpu") -> float:
    """exp(mean next-token NLL) of `text`, in non-overlapping windows (the text is short: one window at 135M)."""
    ids = tok(text, add_special_tokens=False)["input_ids"]
    nll, n = 0.0, 0
    for s in range(0, len(ids) - 1, window):
        chunk = torch.tensor(ids[s:s + window + 1], device=device)[None]
        logits = model(input_ids=chunk[:, :-1]).logits.float()
        nll += F.cross_entropy(logits[0], chunk[0, 1:], reduction="sum").item()
        n += chunk.shape[1] - 1
    return math.exp(nll / n)
