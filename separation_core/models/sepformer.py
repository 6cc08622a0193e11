"""SpeechBrain's SepFormer (speechbrain 1.1: ``Encoder``, ``Dual_Path_Model`` with
``SBTransformerBlock`` intra and inter models, ``Decoder``), ported so that a pretrained folder
(``hyperparams.yaml``, ``encoder.ckpt``, ``masknet.ckpt``, ``decoder.ckpt``) runs in Cocktail without
SpeechBrain (see ``separation_core.checkpoints.importers.speechbrain``).

Inference is SpeechBrain's ``SepformerSeparation.separate_batch``: encode, masks from the dual-path
network, masked encodings decoded one source at a time, the output zero-padded or cut to the input
length. The enhancement models (``num_spks: 1``) give the enhanced speech and, as a second output,
the rest of the mixture (noise).

Segmentation is ``Dual_Path_Model._Segmentation``: the frames are padded by ``K // 2`` on both sides
(and on the right up to a whole number of chunks), cut into chunks of ``K`` frames every ``K // 2``
and overlap-added back.
"""

from __future__ import annotations

import copy
from typing import Optional

import torch
from torch import nn

from separation_core.errors import ModelError
from separation_core.models.blocks import TimeDomainModel
from separation_core.models.registry import register
from separation_core.models.speechbrain_blocks import (
    NORM_KINDS,
    Encoder,
    SBTransformerBlock,
    fit_length,
    select_norm,
)


class _Linear(nn.Module):
    """SpeechBrain's ``nnet.linear.Linear`` (its weights under ``w``)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.w = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w(x)


class DualComputationBlock(nn.Module):
    """SpeechBrain's ``Dual_Computation_Block``: ``[B, N, K, S]`` -> ``[B, N, K, S]``; the intra
    model along each chunk, then the inter model across chunks, each normalised, with skips."""

    def __init__(
        self,
        intra_mdl: nn.Module,
        inter_mdl: nn.Module,
        out_channels: int,
        norm: Optional[str],
        skip_around_intra: bool,
        linear_layer_after_inter_intra: bool,
    ) -> None:
        super().__init__()
        self.intra_mdl, self.inter_mdl = intra_mdl, inter_mdl
        self.skip_around_intra = skip_around_intra
        self.linear = linear_layer_after_inter_intra
        self.norm = norm
        if norm is not None:
            self.intra_norm = select_norm(norm, out_channels, 4)
            self.inter_norm = select_norm(norm, out_channels, 4)
        if linear_layer_after_inter_intra:
            self.intra_linear = _Linear(out_channels)
            self.inter_linear = _Linear(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, k, s = x.shape
        intra = self.intra_mdl(x.permute(0, 3, 2, 1).reshape(b * s, k, n))
        if self.linear:
            intra = self.intra_linear(intra)
        intra = intra.reshape(b, s, k, n).permute(0, 3, 2, 1)
        if self.norm is not None:
            intra = self.intra_norm(intra)
        if self.skip_around_intra:
            intra = intra + x
        inter = self.inter_mdl(intra.permute(0, 2, 3, 1).reshape(b * k, s, n))
        if self.linear:
            inter = self.inter_linear(inter)
        inter = inter.reshape(b, k, s, n).permute(0, 3, 1, 2)
        if self.norm is not None:
            inter = self.inter_norm(inter)
        return inter + intra


def segment(x: torch.Tensor, k: int) -> tuple[torch.Tensor, int]:
    """SpeechBrain's ``_Segmentation``: ``[B, N, L]`` -> chunks ``[B, N, K, S]`` and the right
    padding ``gap`` that ``over_add`` removes."""
    b, n, length = x.shape
    p = k // 2
    gap = k - (p + length % k) % k
    x = nn.functional.pad(x, (p, gap + p))
    first = x[:, :, :-p].reshape(b, n, -1, k)
    second = x[:, :, p:].reshape(b, n, -1, k)
    return torch.cat([first, second], dim=3).reshape(b, n, -1, k).transpose(2, 3), gap


def over_add(x: torch.Tensor, gap: int) -> torch.Tensor:
    """SpeechBrain's ``_over_add``: chunks ``[B, N, K, S]`` -> ``[B, N, L]``."""
    b, n, k, s = x.shape
    p = k // 2
    x = x.transpose(2, 3).reshape(b, n, -1, k * 2)
    first = x[:, :, :, :k].reshape(b, n, -1)[:, :, p:]
    second = x[:, :, :, k:].reshape(b, n, -1)[:, :, :-p]
    out = first + second
    return out[:, :, :-gap] if gap > 0 else out


class DualPathModel(nn.Module):
    """SpeechBrain's ``Dual_Path_Model``: encodings ``[B, N, L]`` -> masks ``[spks, B, N, L]``
    (norm, bottleneck, dual-path blocks, PReLU, one 1x1 conv per source, overlap-add, gated output,
    back to N channels, ReLU)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        intra_model: nn.Module,
        inter_model: nn.Module,
        num_layers: int,
        norm: str,
        K: int,
        num_spks: int,
        skip_around_intra: bool,
        linear_layer_after_inter_intra: bool,
    ) -> None:
        super().__init__()
        self.K, self.num_spks = K, num_spks
        self.norm = select_norm(norm, in_channels, 3)
        self.conv1d = nn.Conv1d(in_channels, out_channels, 1, bias=False)
        self.dual_mdl = nn.ModuleList(
            DualComputationBlock(
                copy.deepcopy(intra_model),
                copy.deepcopy(inter_model),
                out_channels,
                norm,
                skip_around_intra,
                linear_layer_after_inter_intra,
            )
            for _ in range(num_layers)
        )
        self.conv2d = nn.Conv2d(out_channels, out_channels * num_spks, kernel_size=1)
        self.end_conv1x1 = nn.Conv1d(out_channels, in_channels, 1, bias=False)
        self.prelu = nn.PReLU()
        self.output = nn.Sequential(nn.Conv1d(out_channels, out_channels, 1), nn.Tanh())
        self.output_gate = nn.Sequential(nn.Conv1d(out_channels, out_channels, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1d(self.norm(x))
        x, gap = segment(x, self.K)
        for block in self.dual_mdl:
            x = block(x)
        x = self.conv2d(self.prelu(x))
        b, _, k, s = x.shape
        x = over_add(x.reshape(b * self.num_spks, -1, k, s), gap)
        x = self.end_conv1x1(self.output(x) * self.output_gate(x))
        return torch.relu(x.reshape(b, self.num_spks, *x.shape[1:])).transpose(0, 1)


class SpeechBrainSeparator(TimeDomainModel):
    """What SpeechBrain's separators share: ``encoder``, ``masknet`` (``[B, N, L]`` ->
    ``[spks, B, N, L]``) and ``decoder`` (a ConvTranspose1d to one channel), run as
    ``separate_batch`` does. With ``num_spks=1`` (the enhancement models) the outputs are the
    enhanced speech and the rest of the mixture."""

    unit_level_input = False  # SpeechBrain runs them on the recording's own level

    def _build_codec(
        self, num_spks: int, kernel_size: int, channels: int, stride: int, bias: bool
    ) -> None:
        if kernel_size < 2 or channels < 1 or stride < 1:
            raise ModelError(
                f"kernel_size, channels and stride must be positive (got {kernel_size}, "
                f"{channels}, {stride})"
            )
        if not 1 <= num_spks <= 16:
            raise ModelError(f"num_spks={num_spks} is not a number of sources from 1 to 16")
        self.num_spks = num_spks
        self.encoder = Encoder(kernel_size, channels)
        self.decoder = nn.ConvTranspose1d(channels, 1, kernel_size, stride=stride, bias=bias)

    def forward(self, mixture: torch.Tensor) -> dict:
        """``mixture [B, T]`` -> ``{"waveforms": [B, n_src, T]}``."""
        self.check_batch(mixture)
        batch, length = mixture.shape
        x = mixture
        kernel = self.encoder.conv1d.kernel_size[0]
        if length < kernel:  # SpeechBrain cannot encode it at all; pad to one frame
            x = nn.functional.pad(x, (0, kernel - length))
        w = self.encoder(x)  # [B, N, L]
        masked = self.masknet(w) * w.unsqueeze(0)  # [spks, B, N, L]
        y = self.decoder(masked.transpose(0, 1).flatten(0, 1))  # [B * spks, 1, T']
        y = fit_length(y[:, 0], length).reshape(batch, self.num_spks, length)
        if self.num_spks == 1:
            y = torch.cat([y, mixture.unsqueeze(1) - y], dim=1)
        return {"waveforms": y}


def _norm_kind(norm: str) -> str:
    if norm not in NORM_KINDS:
        raise ModelError(f"norm={norm!r} is not supported (known: {', '.join(NORM_KINDS)})")
    return norm


@register("speechbrain-sepformer")
class SpeechBrainSepFormer(SpeechBrainSeparator):
    """SpeechBrain's SepFormer, same arguments as its hyperparams (encoder ``kernel_size`` and
    ``channels``; ``Dual_Path_Model``'s ``out_channels``, ``num_layers``, ``K``, ``norm``,
    ``skip_around_intra``, ``linear_layer_after_inter_intra``; the intra and inter transformer
    blocks' ``*_layers``, ``d_model`` (= ``out_channels``), ``nhead``, ``d_ffn``, ``activation``,
    ``use_positional_encoding``, ``norm_before``; the decoder's ``stride`` and ``bias``)."""

    description = (
        "SpeechBrain SepFormer (dual-path transformer), ported: imported folders run on it."
    )

    def __init__(
        self,
        num_spks: int = 2,
        sample_rate: int = 8000,
        kernel_size: int = 16,
        channels: int = 256,
        decoder_stride: int = 8,
        decoder_bias: bool = False,
        out_channels: int = 256,
        num_layers: int = 2,
        K: int = 250,
        norm: str = "ln",
        skip_around_intra: bool = True,
        linear_layer_after_inter_intra: bool = False,
        intra_layers: int = 8,
        inter_layers: int = 8,
        nhead: int = 8,
        d_ffn: int = 1024,
        activation: str = "relu",
        use_positional_encoding: bool = True,
        norm_before: bool = True,
    ) -> None:
        super().__init__(sample_rate=sample_rate, n_src=2 if num_spks == 1 else num_spks)
        self._build_codec(num_spks, kernel_size, channels, decoder_stride, decoder_bias)
        if K < 2 or num_layers < 1:
            raise ModelError(f"K={K} and num_layers={num_layers} must be at least 2 and 1")

        def block(layers: int) -> SBTransformerBlock:
            return SBTransformerBlock(
                layers, out_channels, nhead, d_ffn, activation, use_positional_encoding, norm_before
            )

        self.masknet = DualPathModel(
            channels,
            out_channels,
            block(intra_layers),
            block(inter_layers),
            num_layers,
            _norm_kind(norm),
            K,
            num_spks,
            bool(skip_around_intra),
            bool(linear_layer_after_inter_intra),
        )


@register("speechbrain-sepformer-enhancement")
class SpeechBrainSepFormerEnhancement(SpeechBrainSepFormer):
    """SpeechBrain's SepFormer trained for enhancement (``num_spks: 1``): speech, then noise."""

    description = "SpeechBrain SepFormer for speech enhancement, ported: speech and the rest."
    outputs_are_voices = False

    def __init__(self, num_spks: int = 1, **kwargs) -> None:
        if num_spks != 1:
            raise ModelError(f"an enhancement SepFormer has num_spks=1, not {num_spks}")
        super().__init__(num_spks=1, **kwargs)
