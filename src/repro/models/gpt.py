"""A small pre-LN transformer shared by dual_modes, task_vectors, task_superposition and entp.

Switches:
- read-in: token embedding (`vocab_size`) or a linear map of real vectors (`d_in`)
- positions: learned absolute, rotary, or none
- attention: causal (decoder) or bidirectional (encoder), with an optional key padding mask
- residual hooks: `forward(..., read=[layers])` returns the residual stream entering those layers;
  `patch={layer: (positions, values)}` overwrites the residual entering `layer` at `positions` before
  the layer runs. Layer 0 is the embedding output; layer n_layer is the final residual before the
  last LayerNorm.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class GPTConfig:
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 128
    max_len: int = 256
    vocab_size: int | None = None  # token read-in when set ...
    d_in: int | None = None  # ... linear read-in of d_in-dim vectors otherwise
    d_out: int | None = None  # read-out size; defaults to vocab_size
    pos: str = "learned"  # learned | rotary | none
    causal: bool = True
    mlp_ratio: int = 4
    dropout: float = 0.0
    bias: bool = True

    def __post_init__(self):
        if (self.vocab_size is None) == (self.d_in is None):
            raise ValueError("set exactly one of vocab_size (token read-in) and d_in (linear read-in)")
        if self.pos not in ("learned", "rotary", "none"):
            raise ValueError(f"pos must be learned, rotary or none, got {self.pos!r}")
        if self.d_model % self.n_head:
            raise ValueError("d_model must be divisible by n_head")
        if self.d_out is None:
            if self.vocab_size is None:
                raise ValueError("linear read-in needs d_out")
            self.d_out = self.vocab_size

    def to_dict(self) -> dict:
        return asdict(self)


def rotary_tables(length: int, head_dim: int, device):
    """cos/sin of position x frequency, kept in fp32: bf16 angles lose the position information."""
    inv = 1.0 / (10000 ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    ang = torch.outer(torch.arange(length, device=device, dtype=torch.float32), inv)
    return ang.cos(), ang.sin()


def apply_rotary(x, cos, sin):
    """x: (B, H, T, hd); rotate consecutive pairs of channels by position-dependent angles (in fp32).

    As one complex multiply: about 4x faster on CPU, forward and backward, than slicing the pairs apart
    (the slices of a permuted qkv view are strided); the rotary model step got 14% faster.
    """
    pairs = torch.view_as_complex(x.float().unflatten(-1, (-1, 2)).contiguous())
    out = torch.view_as_real(pairs * torch.complex(cos, sin)).flatten(-2)
    return out.to(x.dtype)


class Attention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_head, self.causal, self.dropout = cfg.n_head, cfg.causal, cfg.dropout
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=cfg.bias)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=cfg.bias)

    def forward(self, x, rope=None, attn_mask=None):
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_head, C // self.n_head).permute(2, 0, 3, 1, 4)
        if rope is not None:
            q, k = apply_rotary(q, *rope), apply_rotary(k, *rope)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, is_causal=self.causal and attn_mask is None,
            dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.attn = Attention(cfg)
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, cfg.mlp_ratio * cfg.d_model, bias=cfg.bias), nn.GELU(),
                                 nn.Linear(cfg.mlp_ratio * cfg.d_model, cfg.d_model, bias=cfg.bias))

    def forward(self, x, rope=None, attn_mask=None):
        x = x + self.attn(self.ln1(x), rope, attn_mask)
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.read_in = (nn.Embedding(cfg.vocab_size, cfg.d_model) if cfg.vocab_size is not None
                        else nn.Linear(cfg.d_in, cfg.d_model))
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.d_model) if cfg.pos == "learned" else None
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.read_out = nn.Linear(cfg.d_model, cfg.d_out, bias=cfg.bias)
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2: scale residual projections by depth
            if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, std=0.02 / (2 * cfg.n_layer) ** 0.5)

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, x, *, key_padding_mask=None, read=(), patch=None):
        """x: (B, T) token ids or (B, T, d_in) vectors. key_padding_mask: (B, T) bool, True = real token.

        Returns logits (B, T, d_out), or (logits, {layer: residual}) when `read` names layers.
        """
        T = x.shape[1]
        if T > self.cfg.max_len:
            raise ValueError(f"sequence length {T} exceeds max_len {self.cfg.max_len}")
        h = self.read_in(x)
        if self.pos_emb is not None:
            h = h + self.pos_emb(torch.arange(T, device=h.device))
        rope = (rotary_tables(T, self.cfg.d_model // self.cfg.n_head, h.device)
                if self.cfg.pos == "rotary" else None)
        attn_mask = self._mask(T, key_padding_mask, h.device)
        read, patch, saved = set(read), patch or {}, {}
        for layer in range(self.cfg.n_layer + 1):
            if layer in patch:
                pos, val = patch[layer]
                h = h.clone()
                h[:, pos] = val.to(h.dtype)
            if layer in read:
                saved[layer] = h
            if layer < self.cfg.n_layer:
                h = self.blocks[layer](h, rope, attn_mask)
        logits = self.read_out(self.ln_f(h))
        return (logits, saved) if read else logits

    def _mask(self, T, key_padding_mask, device):
        """None lets SDPA use its fused causal / unmasked kernels; a padding mask needs an explicit one."""
        if key_padding_mask is None:
            return None
        mask = key_padding_mask[:, None, None, :].to(torch.bool)  # (B, 1, 1, T) keys
        if self.cfg.causal:
            mask = mask & torch.ones(T, T, dtype=torch.bool, device=device).tril()
        return mask
