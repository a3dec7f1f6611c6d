"""Encoder (ENTP) and decoder next-token predictors on the shared GPT.

Decoder: one causal pass; the prediction at position t reads the output at t.
Encoder (ENTP): the prediction at t runs the whole stack with *bidirectional* attention on the prefix
x[:, :t+1] and reads the output at t; causality comes from truncation, so no future token can leak.

The paper's code loops over t in Python. Here every (sequence, position) pair becomes one row of a single
batched forward: the row holds the whole sequence, and a key-padding mask hides keys after t (same FLOPs as
the loop, one kernel launch per layer). Padding-aware bucketing splits the positions into groups and
truncates each group's rows to its longest prefix, which removes most of the padding FLOPs.
"""

from __future__ import annotations

import torch

from repro.models.gpt import GPT, GPTConfig


def make_model(arch: str, n_layer: int, n_head: int, d_model: int, vocab: int, max_len: int) -> GPT:
    """arch: 'encoder' (bidirectional, ENTP) or 'decoder' (causal). Same parameters for both."""
    if arch not in ("encoder", "decoder"):
        raise ValueError(f"arch must be encoder or decoder, got {arch!r}")
    return GPT(GPTConfig(n_layer=n_layer, n_head=n_head, d_model=d_model, max_len=max_len, vocab_size=vocab,
                         pos="learned", causal=arch == "decoder"))


def is_encoder(model: GPT) -> bool:
    return not model.cfg.causal


def next_token_logits(model: GPT, x: torch.Tensor, positions: torch.Tensor, buckets: int = 1) -> torch.Tensor:
    """Logits of the next token after each position: (B, P, V).

    x: (B, T) tokens; positions: (B, P) or (P,) input positions t (the prediction at t may only see x[:, :t+1]).
    """
    B = x.shape[0]
    if positions.dim() == 1:
        positions = positions[None].expand(B, -1)
    if not is_encoder(model):
        T = int(positions.max()) + 1
        logits = model(x[:, :T])
        return logits.gather(1, positions[..., None].expand(-1, -1, logits.shape[-1]))
    P = positions.shape[1]
    out = []
    # columns in order of their longest prefix, then contiguous groups; each group is truncated to its own max
    order = positions.max(0).values.argsort()
    for cols in order.chunk(max(1, min(buckets, P))):
        pos = positions[:, cols]  # (B, p)
        T = int(pos.max()) + 1
        rows = x[:, None, :T].expand(-1, pos.shape[1], -1).reshape(-1, T)  # (B*p, T)
        t = pos.reshape(-1)
        keep = torch.arange(T, device=x.device)[None, :] <= t[:, None]  # keys of the prefix x[:t+1]
        logits = model(rows, key_padding_mask=keep)  # (B*p, T, V)
        out.append((cols, logits[torch.arange(len(t), device=x.device), t].view(B, -1, logits.shape[-1])))
    res = x.new_empty(B, P, out[0][1].shape[-1], dtype=out[0][1].dtype)
    for cols, lg in out:
        res[:, cols] = lg
    return res


def next_token_logits_loop(model: GPT, x: torch.Tensor, positions: list[int]) -> torch.Tensor:
    """The paper's formulation, one forward per (sequence, position): the reference for tests and benchmarks."""
    return torch.stack([torch.stack([model(x[b:b + 1, :t + 1])[0, t] for t in positions]) for b in range(len(x))])


@torch.no_grad()
def generate(model: GPT, x: torch.Tensor, lengths: torch.Tensor, n_new: int) -> torch.Tensor:
    """Greedy generation of n_new tokens after each row's first `lengths[i]` tokens, without a KV cache.

    Rows may have different lengths (right padding): each step reads the logits at position len-1 of every row
    (the encoder re-encodes the whole prefix bidirectionally, O(n^2) per token) and writes the argmax at len.
    Returns the (B, n_new) generated tokens.
    """
    B = x.shape[0]
    T = int(lengths.max()) + n_new
    if T > model.cfg.max_len:
        raise ValueError(f"generation needs {T} positions; the model has max_len {model.cfg.max_len}")
    buf = torch.zeros(B, T, dtype=x.dtype, device=x.device)
    w = min(x.shape[1], T)
    buf[:, :w] = x[:, :w]
    cur = lengths.clone().to(x.device)
    rows = torch.arange(B, device=x.device)
    out = []
    for _ in range(n_new):
        L = int(cur.max())
        if is_encoder(model):
            keep = torch.arange(L, device=x.device)[None, :] < cur[:, None]
            logits = model(buf[:, :L], key_padding_mask=keep)
        else:
            logits = model(buf[:, :L])
        nxt = logits[rows, cur - 1].argmax(-1)
        buf[rows, cur] = nxt
        out.append(nxt)
        cur = cur + 1
    return torch.stack(out, 1)
