"""Exact port of Asteroid's ``DPTNet`` (asteroid 0.7, free filterbank), so that its serialized files
run in Cocktail without Asteroid (``checkpoints.importers.asteroid``); module tree and key names are
Asteroid's (``masker.layers.0.0.mha.in_proj_weight``, ...).

What differs from Asteroid's DPRNN (``asteroid_blocks.DPRNN``) and must be kept:

- no bottleneck convolution: the masker normalises the encoder output (after a linear layer up to
  a multiple of ``n_heads`` when ``n_filters`` is not one) and works at that width;
- each path is an "improved transformer" layer on ``[batch, channels, seq]``: multi-head
  self-attention + residual + norm, then an LSTM (instead of the feed-forward layer), activation,
  linear + residual + norm. Both paths always run over the chunk's frames / across chunks;
- the chunks are overlap-added and divided by ``chunk_size / hop_size`` (DPRNN only sums them);
- no 1x1 convolution after the tanh x sigmoid gate; encoder and masks are ReLU by default.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from separation_core.errors import ModelError
from separation_core.models.asteroid_blocks import make_norm, overlap_add, segment
from separation_core.models.asteroid_port import AsteroidTasNet, check_in_chan
from separation_core.models.blocks import make_activation
from separation_core.models.registry import register


class SelfAttention(nn.Module):
    """``torch.nn.MultiheadAttention`` of a sequence with itself, batch first:
    ``[B, L, E] -> [B, L, E]``. Same parameters and key names (``in_proj_weight [3E, E]``,
    ``in_proj_bias``, ``out_proj``); written out because the traced torch module fixes the batch
    and length in its ONNX graph."""

    def __init__(self, embed_dim: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        if embed_dim % n_heads:
            raise ModelError(
                f"the attention width {embed_dim} is not a multiple of {n_heads} heads"
            )
        self.n_heads, self.dropout = n_heads, dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * embed_dim))
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        heads = F.linear(x, self.in_proj_weight, self.in_proj_bias)  # [B, L, 3E]
        heads = heads.unflatten(-1, (3, self.n_heads, -1)).permute(2, 0, 3, 1, 4)  # [3, B, H, L, D]
        q, k, v = heads[0], heads[1], heads[2]
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
        weights = F.dropout(weights, self.dropout, self.training)
        return self.out_proj((weights @ v).transpose(1, 2).flatten(2))  # [B, L, E]


class ImprovedTransformedLayer(nn.Module):
    """``[B, C, L] -> [B, C, L]``: norm(x + MHA(x)), then norm(x + linear(act(LSTM(x))))."""

    def __init__(
        self,
        embed_dim: int,
        n_heads: int,
        dim_ff: int,
        dropout: float,
        activation: str,
        bidirectional: bool,
        norm: str,
    ) -> None:
        super().__init__()
        self.mha = SelfAttention(embed_dim, n_heads, dropout)
        self.dropout = nn.Dropout(dropout)
        self.recurrent = nn.LSTM(embed_dim, dim_ff, bidirectional=bidirectional, batch_first=True)
        self.linear = nn.Linear(2 * dim_ff if bidirectional else dim_ff, embed_dim)
        self.activation = make_activation(activation, "ff_activation")
        self.norm_mha = make_norm(norm, embed_dim)
        self.norm_ff = make_norm(norm, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attended = self.mha(x.transpose(1, 2))  # [B, L, C]
        x = self.norm_mha(self.dropout(attended.transpose(1, 2)) + x)
        out = self.linear(self.dropout(self.activation(self.recurrent(x.transpose(1, -1))[0])))
        return self.norm_ff(self.dropout(out.transpose(1, -1)) + x)


class DPTransformer(nn.Module):
    """Asteroid's ``DPTransformer`` masker: ``w [B, N, frames] -> masks [B, n_src, N, frames]``."""

    def __init__(
        self,
        in_chan: int,
        n_src: int,
        n_heads: int,
        ff_hid: int,
        chunk_size: int,
        hop_size: int,
        n_repeats: int,
        norm_type: str,
        ff_activation: str,
        mask_act: str,
        bidirectional: bool,
        dropout: float,
    ) -> None:
        super().__init__()
        self.in_chan, self.n_src = in_chan, n_src
        self.chunk_size, self.hop_size = chunk_size, hop_size
        width = math.ceil(in_chan / n_heads) * n_heads
        self.input_layer = nn.Linear(in_chan, width) if width != in_chan else None
        self.in_norm = make_norm(norm_type, width)

        def layer(bidir: bool) -> ImprovedTransformedLayer:
            return ImprovedTransformedLayer(
                width, n_heads, ff_hid, dropout, ff_activation, bidir, norm_type
            )

        self.layers = nn.ModuleList(
            nn.ModuleList([layer(True), layer(bidirectional)]) for _ in range(n_repeats)
        )
        self.first_out = nn.Sequential(nn.PReLU(), nn.Conv2d(width, n_src * in_chan, 1))
        self.net_out = nn.Sequential(nn.Conv1d(in_chan, in_chan, 1), nn.Tanh())
        self.net_gate = nn.Sequential(nn.Conv1d(in_chan, in_chan, 1), nn.Sigmoid())
        self.output_act = make_activation(mask_act, "mask_act")

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        batch, _, frames = w.shape
        if self.input_layer is not None:
            w = self.input_layer(w.transpose(1, 2)).transpose(1, 2)
        x = segment(self.in_norm(w), self.chunk_size, self.hop_size)  # [B, C, K, S]
        for intra, inter in self.layers:
            b, c, k, s = x.shape
            y = intra(x.permute(0, 3, 1, 2).reshape(b * s, c, k))  # every chunk, over its frames
            x = y.reshape(b, s, c, k).permute(0, 2, 3, 1)
            y = inter(x.permute(0, 2, 1, 3).reshape(b * k, c, s))  # every frame, across chunks
            x = y.reshape(b, k, c, s).permute(0, 2, 1, 3)
        x = self.first_out(x)  # [B, n_src * N, K, S]
        x = x.reshape(batch * self.n_src, self.in_chan, *x.shape[-2:])
        x = overlap_add(x, frames, self.hop_size) / (self.chunk_size / self.hop_size)
        x = self.net_out(x) * self.net_gate(x)  # [B * n_src, N, frames]
        return self.output_act(x.reshape(batch, self.n_src, self.in_chan, frames))


@register("asteroid-dptnet")
class AsteroidDPTNet(AsteroidTasNet):
    """Asteroid's ``DPTNet`` (free filterbank), same arguments and defaults:

    n_filters, kernel_size, stride, encoder_activation (ReLU), n_heads, ff_hid (LSTM cells per
    direction), chunk_size, hop_size (chunk_size // 2 when None), n_repeats, norm_type (gLN, cLN,
    cgLN, fgLN, bN), ff_activation, mask_act (ReLU), bidirectional (inter-chunk LSTM), dropout
    (training only), sample_rate.
    """

    description = (
        "Asteroid DPTNet (free filterbank), ported: imported Asteroid checkpoints run on it."
    )

    def __init__(
        self,
        n_src: int = 2,
        n_heads: int = 4,
        ff_hid: int = 256,
        chunk_size: int = 100,
        hop_size: Optional[int] = None,
        n_repeats: int = 6,
        norm_type: str = "gLN",
        ff_activation: str = "relu",
        encoder_activation: Optional[str] = "relu",
        mask_act: str = "relu",
        bidirectional: bool = True,
        dropout: float = 0.0,
        in_chan: Optional[int] = None,
        kernel_size: int = 16,
        n_filters: int = 64,
        stride: Optional[int] = 8,
        sample_rate: int = 8000,
    ) -> None:
        hop_size = int(hop_size) if hop_size is not None else chunk_size // 2
        super().__init__(sample_rate=sample_rate, n_src=n_src)
        self._resolved_args(hop_size=hop_size)
        if chunk_size < 1 or hop_size < 1 or n_heads < 1:
            raise ModelError(
                f"chunk_size, hop_size and n_heads must be positive "
                f"(got {chunk_size}, {hop_size}, {n_heads})"
            )
        if ff_activation == "softmax":  # Asteroid's implicit softmax axis: refused, not guessed
            raise ModelError("ff_activation='softmax' is not supported")
        check_in_chan(in_chan, n_filters)
        self._build_filterbanks(n_filters, kernel_size, stride, encoder_activation)
        self.masker = DPTransformer(
            n_filters,
            n_src,
            n_heads,
            ff_hid,
            chunk_size,
            hop_size,
            n_repeats,
            norm_type,
            ff_activation,
            mask_act,
            bool(bidirectional),
            float(dropout),
        )
