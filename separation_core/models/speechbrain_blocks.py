"""SpeechBrain's pieces that its separators share (speechbrain 1.1, ``lobes/models/dual_path.py``,
``lobes/models/transformer/Transformer.py``, ``nnet/attention.py``), ported with SpeechBrain's module
names so that its ``encoder.ckpt`` / ``masknet.ckpt`` / ``decoder.ckpt`` state dicts load as they are.

What must be kept to reproduce SpeechBrain's outputs:

- the encoder is a strided convolution (stride ``kernel_size // 2``, no padding, no bias) and a ReLU;
- the transformer layers are SpeechBrain's (``nn.MultiheadAttention`` on ``[time, batch, dim]``,
  layer norms with ``eps=1e-6``, pre-norm when ``norm_before``, a final layer norm), with the
  sinusoidal positions of ``PositionalEncoding`` added to the block's input;
- the norms are ``select_norm``'s: "ln" is ``GroupNorm(1, C, eps=1e-8)`` (over every axis but the
  batch), "gln" the same statistics with per-channel gain and bias, "cln" a LayerNorm over channels.

SpeechBrain stores the positional table (``pos_enc.pe``, up to 100 000 rows) in the checkpoint; here
it is computed for the length at hand, with the same float32 operations (the importer checks the
stored table against it and drops it).
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from separation_core.errors import ModelError

NORM_KINDS = ("ln", "gln", "cln")


def sinusoids(length: int, d_model: int) -> torch.Tensor:
    """SpeechBrain's sinusoidal positions ``[length, d_model]``: sin on even, cos on odd columns."""
    positions = torch.arange(0, length).unsqueeze(1).float()
    denominator = torch.exp(torch.arange(0, d_model, 2).float() * -(math.log(10000.0) / d_model))
    angles = positions * denominator  # [length, d_model / 2]
    return torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1).flatten(1)


class GlobalLayerNorm(nn.Module):
    """SpeechBrain's gLN: mean and biased variance over every axis but the batch, per-channel gain
    and bias (``weight [C, 1]`` for ``[B, C, L]``, ``[C, 1, 1]`` for ``[B, C, K, S]``)."""

    def __init__(self, dim: int, shape: int, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps
        tail = (1,) * (shape - 2)
        self.weight = nn.Parameter(torch.ones(dim, *tail))
        self.bias = nn.Parameter(torch.zeros(dim, *tail))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        axes = tuple(range(1, x.dim()))
        mean = torch.mean(x, axes, keepdim=True)
        var = torch.mean((x - mean) ** 2, axes, keepdim=True)
        return self.weight * (x - mean) / torch.sqrt(var + self.eps) + self.bias


class ChannelLayerNorm(nn.LayerNorm):
    """SpeechBrain's "cln" (``CumulativeLayerNorm``): a LayerNorm over the channel axis at each
    position of ``[B, C, L]`` or ``[B, C, K, S]``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.movedim(1, -1)).movedim(-1, 1)


def select_norm(norm: str, dim: int, shape: int, eps: float = 1e-8) -> nn.Module:
    """SpeechBrain's ``select_norm`` for "ln", "gln" and "cln" (its batch norm is refused by the
    importer: it cannot run on the 4-D chunks)."""
    if norm == "ln":
        return nn.GroupNorm(1, dim, eps=eps)
    if norm == "gln":
        return GlobalLayerNorm(dim, shape, eps=eps)
    if norm == "cln":
        return ChannelLayerNorm(dim, eps=eps)
    raise ModelError(f"norm={norm!r} is not supported (known: {', '.join(NORM_KINDS)})")


class Encoder(nn.Module):
    """``[B, T]`` -> ``[B, N, frames]``: Conv1d(1, N, K, stride K // 2, no bias), ReLU."""

    def __init__(self, kernel_size: int, out_channels: int) -> None:
        super().__init__()
        self.conv1d = nn.Conv1d(1, out_channels, kernel_size, stride=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv1d(x.unsqueeze(1)))


class _LayerNorm(nn.Module):
    """SpeechBrain's ``nnet.normalization.LayerNorm`` (its ``norm`` attribute is the torch one)."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x)


class _AttentionWeights(nn.Module):
    """The weights of ``nn.MultiheadAttention`` under its names (``in_proj_weight``,
    ``in_proj_bias``, ``out_proj``)."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d_model, d_model))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d_model))
        self.out_proj = nn.Linear(d_model, d_model)
        nn.init.xavier_uniform_(self.in_proj_weight)


class _SelfAttention(nn.Module):
    """SpeechBrain's ``MultiheadAttention`` (``nn.MultiheadAttention`` as ``att``), computed here
    with the sequence length left free (``nn.MultiheadAttention`` fixes it in an ONNX graph):
    ``[B, L, D]`` -> ``[B, L, D]``, ``mask [L, L]`` added to the scores."""

    def __init__(self, d_model: int, nhead: int) -> None:
        super().__init__()
        self.nhead = nhead
        self.att = _AttentionWeights(d_model)

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        b, _, d = x.shape
        qkv = F.linear(x, self.att.in_proj_weight, self.att.in_proj_bias)
        q, k, v = qkv.reshape(b, -1, 3, self.nhead, d // self.nhead).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # [B, H, L, D / H]
        return self.att.out_proj(out.transpose(1, 2).reshape(b, -1, d))


class _FeedForward(nn.Module):
    """SpeechBrain's ``PositionalwiseFeedForward``: Linear, activation, (dropout), Linear."""

    def __init__(self, d_model: int, d_ffn: int, activation: str) -> None:
        super().__init__()
        act = nn.GELU() if activation == "gelu" else nn.ReLU()
        self.ffn = nn.Sequential(
            nn.Linear(d_model, d_ffn), act, nn.Dropout(0.0), nn.Linear(d_ffn, d_model)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ffn(x)


class TransformerLayer(nn.Module):
    """SpeechBrain's ``TransformerEncoderLayer`` (regular multi-head attention, regular FFN):
    ``[B, L, D]`` -> ``[B, L, D]``; pre-norm when ``normalize_before``, else post-norm."""

    def __init__(
        self, d_model: int, nhead: int, d_ffn: int, activation: str, normalize_before: bool
    ) -> None:
        super().__init__()
        self.self_att = _SelfAttention(d_model, nhead)
        self.pos_ffn = _FeedForward(d_model, d_ffn, activation)
        self.norm1 = _LayerNorm(d_model, 1e-6)
        self.norm2 = _LayerNorm(d_model, 1e-6)
        self.normalize_before = normalize_before

    def forward(self, src: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        if self.normalize_before:
            src = src + self.self_att(self.norm1(src), mask)
            return src + self.pos_ffn(self.norm2(src))
        src = self.norm1(src + self.self_att(src, mask))
        return self.norm2(src + self.pos_ffn(src))


class TransformerEncoder(nn.Module):
    """SpeechBrain's ``TransformerEncoder``: the layers, then a LayerNorm (eps 1e-6)."""

    def __init__(
        self,
        num_layers: int,
        d_model: int,
        nhead: int,
        d_ffn: int,
        activation: str,
        normalize_before: bool,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            TransformerLayer(d_model, nhead, d_ffn, activation, normalize_before)
            for _ in range(num_layers)
        )
        self.norm = _LayerNorm(d_model, 1e-6)

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, mask)
        return self.norm(x)


def check_transformer(num_layers: int, d_model: int, nhead: int, d_ffn: int, activation: str):
    """ModelError naming the first argument a SpeechBrain transformer block cannot take."""
    for name, value in (
        ("num_layers", num_layers),
        ("d_model", d_model),
        ("nhead", nhead),
        ("d_ffn", d_ffn),
    ):
        if not isinstance(value, int) or value < 1:
            raise ModelError(f"{name}={value!r} is not a positive whole number")
    if d_model % nhead:
        raise ModelError(f"d_model={d_model} is not a multiple of nhead={nhead}")
    if d_model % 2:
        raise ModelError(f"d_model={d_model} is odd (sinusoidal positions need an even one)")
    if activation not in ("relu", "gelu"):
        raise ModelError(f"activation={activation!r} is not supported (known: relu, gelu)")


class SBTransformerBlock(nn.Module):
    """SpeechBrain's ``SBTransformerBlock``: ``[B, L, D]`` -> ``[B, L, D]``, the sinusoidal
    positions added to the input when ``use_positional_encoding``."""

    def __init__(
        self,
        num_layers: int,
        d_model: int,
        nhead: int,
        d_ffn: int = 2048,
        activation: str = "relu",
        use_positional_encoding: bool = False,
        norm_before: bool = False,
    ) -> None:
        super().__init__()
        check_transformer(num_layers, d_model, nhead, d_ffn, activation)
        self.d_model = d_model
        self.use_positional_encoding = use_positional_encoding
        self.mdl = TransformerEncoder(num_layers, d_model, nhead, d_ffn, activation, norm_before)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_positional_encoding:
            x = x + sinusoids(x.shape[1], self.d_model).to(x)
        return self.mdl(x)


def fit_length(y: torch.Tensor, length: int) -> torch.Tensor:
    """``y [..., T']`` zero-padded or cut on the right to ``length`` (as SpeechBrain's
    ``separate_batch`` fits the decoder's output to the mixture)."""
    if y.shape[-1] >= length:
        return y[..., :length]
    return F.pad(y, (0, length - y.shape[-1]))
