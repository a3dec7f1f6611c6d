"""r2f's paper-scale denoiser: diffusers' UNet2DConditionModel with per-token cross-attention over a tiny
transformer text encoder trained from scratch with it.

A prompt is the caption tokens (colour word, object word) in one vocabulary; the null prompt is the two null
tokens, so classifier-free guidance and R2F's prompt switching act on the text encoder's output as they do in
SD3. The call signature is the FiLM denoiser's: model(x, t, (colour ids, object ids)).
"""

from __future__ import annotations

import torch
from torch import nn


class TextEncoder(nn.Module):
    def __init__(self, vocab: int, length: int, dim: int, layers: int, heads: int):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, dim), nn.Parameter(torch.zeros(1, length, dim))
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.0, batch_first=True, norm_first=True)
        self.body = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def forward(self, ids):
        return self.norm(self.body(self.tok(ids) + self.pos))


class TextUNet(nn.Module):
    def __init__(self, n_colours: int, n_objects: int, size: int, channels=(64, 128, 128), layers_per_block: int = 2,
                 text_dim: int = 128, text_layers: int = 2, heads: int = 4, attention_head_dim: int = 32):
        super().__init__()
        from diffusers import UNet2DConditionModel

        self.n_colours = n_colours
        self.text = TextEncoder(n_colours + 1 + n_objects + 1, 2, text_dim, text_layers, heads)
        channels = tuple(channels)
        # cross-attention at every resolution but the first (the paper config: attention at 16x16 and 8x8)
        down = ("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (len(channels) - 1)
        up = ("CrossAttnUpBlock2D",) * (len(channels) - 1) + ("UpBlock2D",)
        self.unet = UNet2DConditionModel(sample_size=size, in_channels=3, out_channels=3, block_out_channels=channels,
                                         down_block_types=down, up_block_types=up, layers_per_block=layers_per_block,
                                         cross_attention_dim=text_dim,
                                         # diffusers reads this argument as the number of heads per block
                                         attention_head_dim=tuple(max(1, c // attention_head_dim) for c in channels),
                                         norm_num_groups=min(32, channels[0]))

    def forward(self, x, t, cond):
        colour, obj = cond
        ids = torch.stack([colour, self.n_colours + 1 + obj], dim=1)
        t = t.expand(len(x)) if t.dim() == 0 else t
        return self.unet(x, t, encoder_hidden_states=self.text(ids)).sample
