"""SpeechBrain's RE-SepFormer (speechbrain 1.1, ``lobes/models/resepformer.py``:
``ResourceEfficientSeparator`` with ``SBTransformerBlock_wnormandskip`` segment and memory models,
memory type "av"), ported with SpeechBrain's module names (see ``models/sepformer.py`` for the
encoder, the decoder and inference, which RE-SepFormer shares).

The masknet cuts the encodings into non-overlapping segments of ``segment_size`` frames (the last one
zero-padded; a whole extra segment when the length divides evenly, as SpeechBrain does). Each of
``layer`` blocks runs a transformer within every segment; between blocks, the mean of each segment
goes through the memory transformer, across all segments of the batch as one sequence, and is added
to every frame of its segment before the next block. A PReLU and a 1x1 convolution give one mask per
source.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from separation_core.errors import ModelError
from separation_core.models.registry import register
from separation_core.models.sepformer import SpeechBrainSeparator
from separation_core.models.speechbrain_blocks import (
    NORM_KINDS,
    TransformerEncoder,
    check_transformer,
    select_norm,
    sinusoids,
)

EPS = torch.finfo(torch.float32).eps  # SpeechBrain's, for the float32 default dtype
NONLINEAR = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


def lookahead_mask(length: int, device) -> torch.Tensor:
    """SpeechBrain's ``get_lookahead_mask``: ``[L, L]``, 0 on and below the diagonal, -inf above."""
    keep = torch.ones(length, length, device=device).tril().bool()
    return torch.zeros(length, length, device=device).masked_fill(~keep, float("-inf"))


class SBTransformerBlockWithNormAndSkip(nn.Module):
    """SpeechBrain's ``SBTransformerBlock_wnormandskip``: ``[B, L, D]`` -> ``[B, L, D]``;
    positions added, the transformer (causal when asked), a norm (``use_norm``), the input added
    (``use_skip``)."""

    def __init__(
        self,
        num_layers: int,
        d_model: int,
        nhead: int,
        d_ffn: int,
        activation: str,
        use_positional_encoding: bool,
        norm_before: bool,
        causal: bool,
        use_norm: bool,
        use_skip: bool,
        norm_type: str,
    ) -> None:
        super().__init__()
        check_transformer(num_layers, d_model, nhead, d_ffn, activation)
        self.d_model = d_model
        self.use_positional_encoding, self.causal = use_positional_encoding, causal
        self.use_norm, self.use_skip = use_norm, use_skip
        self.mdl = TransformerEncoder(num_layers, d_model, nhead, d_ffn, activation, norm_before)
        if use_norm:
            self.norm = select_norm(norm_type, d_model, 3, eps=EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = lookahead_mask(x.shape[1], x.device) if self.causal else None
        src = x + sinusoids(x.shape[1], self.d_model).to(x) if self.use_positional_encoding else x
        out = self.mdl(src, mask)
        if self.use_norm:
            out = self.norm(out.transpose(1, 2)).transpose(1, 2)
        return out + x if self.use_skip else out


class ResourceEfficientPipeline(nn.Module):
    """SpeechBrain's ``ResourceEfficientSeparationPipeline`` (memory "av", transformer segment
    model): ``[B, T, D]`` -> ``[B, T, output_size]``."""

    def __init__(
        self,
        input_size: int,
        output_size: int,
        num_blocks: int,
        segment_size: int,
        seg_model: nn.Module,
        mem_model: nn.Module,
    ) -> None:
        super().__init__()
        self.segment_size = segment_size
        self.seg_model = nn.ModuleList(copy.deepcopy(seg_model) for _ in range(num_blocks))
        self.mem_model = nn.ModuleList(copy.deepcopy(mem_model) for _ in range(num_blocks - 1))
        self.output_fc = nn.Sequential(nn.PReLU(), nn.Conv1d(input_size, output_size, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        rest = self.segment_size - t % self.segment_size
        x = nn.functional.pad(x, (0, 0, 0, rest))
        out = x.reshape(-1, self.segment_size, d)  # [B * S, K, D]
        memory = torch.zeros(out.shape[0], 1, d, dtype=x.dtype, device=x.device)
        for i, seg in enumerate(self.seg_model):
            out = seg(out + memory)
            if i < len(self.mem_model):
                memory = self.mem_model[i](out.mean(1).unsqueeze(0)).transpose(0, 1)
        out = out.reshape(b, -1, d)[:, :t]
        return self.output_fc(out.transpose(1, 2)).transpose(1, 2)


class ResourceEfficientSeparator(nn.Module):
    """SpeechBrain's ``ResourceEfficientSeparator``: encodings ``[B, N, L]`` -> masks
    ``[spks, B, N, L]``."""

    def __init__(
        self,
        input_dim: int,
        num_spk: int,
        nonlinear: str,
        layer: int,
        segment_size: int,
        seg_model: nn.Module,
        mem_model: nn.Module,
    ) -> None:
        super().__init__()
        self.num_spk = num_spk
        self.model = ResourceEfficientPipeline(
            input_dim, input_dim * num_spk, layer, segment_size, seg_model, mem_model
        )
        self.nonlinear = NONLINEAR[nonlinear]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, t = x.shape
        processed = self.model(x.transpose(1, 2)).reshape(b, t, n, self.num_spk)
        return self.nonlinear(processed).permute(3, 0, 2, 1)


@register("speechbrain-resepformer")
class SpeechBrainRESepFormer(SpeechBrainSeparator):
    """SpeechBrain's RE-SepFormer, same arguments as its hyperparams (encoder ``kernel_size`` and
    ``channels`` (= the transformers' ``d_model``); the separator's ``layer``, ``segment_size``,
    ``nonlinear``; the segment and memory blocks' ``seg_layers`` / ``mem_layers``, ``nhead``,
    ``d_ffn``, ``activation``, ``use_positional_encoding``, ``norm_before``, ``causal``,
    ``use_norm``, ``use_skip``, ``norm_type``; the decoder's ``stride`` and ``bias``)."""

    description = "SpeechBrain RE-SepFormer (segment transformer with memory), ported."

    def __init__(
        self,
        num_spks: int = 2,
        sample_rate: int = 8000,
        kernel_size: int = 16,
        channels: int = 128,
        decoder_stride: int = 8,
        decoder_bias: bool = False,
        layer: int = 2,
        segment_size: int = 150,
        nonlinear: str = "relu",
        seg_layers: int = 8,
        mem_layers: int = 8,
        nhead: int = 8,
        d_ffn: int = 1024,
        activation: str = "relu",
        use_positional_encoding: bool = True,
        norm_before: bool = True,
        causal: bool = False,
        use_norm: bool = True,
        use_skip: bool = True,
        norm_type: str = "gln",
    ) -> None:
        if num_spks < 2:
            raise ModelError(f"num_spks={num_spks}: Cocktail runs RE-SepFormer separators only")
        super().__init__(sample_rate=sample_rate, n_src=num_spks)
        self._build_codec(num_spks, kernel_size, channels, decoder_stride, decoder_bias)
        if layer < 1 or segment_size < 1:
            raise ModelError(f"layer={layer} and segment_size={segment_size} must be positive")
        if nonlinear not in NONLINEAR:
            raise ModelError(
                f"nonlinear={nonlinear!r} is not supported (known: {', '.join(NONLINEAR)})"
            )
        if norm_type not in NORM_KINDS:
            raise ModelError(
                f"norm_type={norm_type!r} is not supported (known: {', '.join(NORM_KINDS)})"
            )

        def block(layers: int) -> SBTransformerBlockWithNormAndSkip:
            return SBTransformerBlockWithNormAndSkip(
                layers,
                channels,
                nhead,
                d_ffn,
                activation,
                bool(use_positional_encoding),
                bool(norm_before),
                bool(causal),
                bool(use_norm),
                bool(use_skip),
                norm_type,
            )

        self.masknet = ResourceEfficientSeparator(
            channels, num_spks, nonlinear, layer, segment_size, block(seg_layers), block(mem_layers)
        )
