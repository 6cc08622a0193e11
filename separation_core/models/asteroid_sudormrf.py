"""Exact ports of Asteroid's ``SuDORMRFNet`` and ``SuDORMRFImprovedNet`` (asteroid 0.7, free
filterbank), so that their serialized files run in Cocktail without Asteroid; module trees and key
names are Asteroid's (``masker.sm.0.spp_dw.1.conv.weight``, ...).

What differs from Cocktail's own ``sudormrf`` (``models/sudormrf.py``) and must be kept:

- the input is zero-padded at the end to a multiple of lcm(K // 2, 2^depth), then encoded
  with K // 2 zeros on both sides (Asteroid's ``_Padder``); the decoder is a transposed
  convolution with padding K // 2 and output padding K // 2 - 1, cut to the input length;
- ``SuDORMRFNet`` (the MLSP 2020 model): ReLU encoder; each ``UBlock`` uses GroupNorm(1) and
  per-channel PReLUs, adds a GroupNorm after its 1x1 expansion and a norm + PReLU after the
  residual sum; the masks come from a ``Conv2d`` spanning all ``n_filters + 1`` bases (one
  filter per source) and a softmax across sources. Its stride is always K // 2;
- ``SuDORMRFImprovedNet``: linear encoder, ``UConvBlock`` with Asteroid's gLN, a 1x1 residual
  convolution and no norm after the sum; PReLU + 1x1 conv to the masks.

The multi-resolution step (depthwise convs of stride 2, then nearest x2 up-sampling cropped and
summed from the coarsest level up) is the computation of Cocktail's block (``upsample2``).
``encoder_activation`` in the files is not used: Asteroid fixes it per model as above.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from separation_core.errors import ModelError
from separation_core.models.asteroid_blocks import FreeDecoder, FreeEncoder, GlobLN
from separation_core.models.asteroid_port import AsteroidTasNet, check_in_chan
from separation_core.models.blocks import make_activation
from separation_core.models.registry import register
from separation_core.models.sudormrf import upsample2

DEPTHWISE_KERNEL = 5


def group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(1, channels, eps=1e-08)


class ConvNorm(nn.Module):
    """Asteroid's ``_ConvNormAct`` / ``_ConvNorm`` / ``_DilatedConvNorm``: a 1-D convolution with
    ``(k - 1) // 2`` zeros each side, a norm, and a PReLU when ``act`` is given."""

    def __init__(
        self,
        n_in: int,
        n_out: int,
        kernel: int,
        norm: nn.Module,
        act: Optional[nn.Module] = None,
        stride: int = 1,
        groups: int = 1,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv1d(
            n_in, n_out, kernel, stride=stride, padding=(kernel - 1) // 2, groups=groups
        )
        self.norm = norm
        if act is not None:
            self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.conv(x))
        return self.act(y) if hasattr(self, "act") else y


class NormAct(nn.Module):
    """Asteroid's ``_NormAct``: norm, then a per-channel PReLU."""

    def __init__(self, channels: int, norm: nn.Module) -> None:
        super().__init__()
        self.norm = norm
        self.act = nn.PReLU(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(x))


class _MultiResolution(nn.Module):
    """``proj_1x1`` (C -> U) and the ``spp_dw`` levels: ``[B, C, T] -> [B, U, T]``, the sum of every
    level up-sampled back from the coarsest."""

    def __init__(self, bn_chan: int, in_chan: int, depth: int, use_globln: bool) -> None:
        super().__init__()
        norm = GlobLN if use_globln else group_norm  # and one PReLU weight, or one per channel
        act = nn.PReLU() if use_globln else nn.PReLU(in_chan)
        self.proj_1x1 = ConvNorm(bn_chan, in_chan, 1, norm(in_chan), act)
        self.spp_dw = nn.ModuleList(
            ConvNorm(
                in_chan,
                in_chan,
                DEPTHWISE_KERNEL if q == 0 else 2 * 2 + 1,
                norm(in_chan),
                stride=1 if q == 0 else 2,
                groups=in_chan,
            )
            for q in range(depth)
        )

    def levels(self, x: torch.Tensor) -> torch.Tensor:
        outs = [self.spp_dw[0](self.proj_1x1(x))]
        for level in self.spp_dw[1:]:
            outs.append(level(outs[-1]))
        y = outs.pop()
        while outs:
            finer = outs.pop()
            y = finer + upsample2(y, finer.shape[-1])
        return y


class UBlock(_MultiResolution):
    """SuDORMRFNet's block: ``module_act(conv_1x1_exp(final_norm(levels(x))) + x)``."""

    def __init__(self, bn_chan: int, in_chan: int, depth: int) -> None:
        super().__init__(bn_chan, in_chan, depth, use_globln=False)
        self.conv_1x1_exp = ConvNorm(in_chan, bn_chan, 1, group_norm(bn_chan))
        self.final_norm = NormAct(in_chan, group_norm(in_chan))
        self.module_act = NormAct(bn_chan, group_norm(bn_chan))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module_act(self.conv_1x1_exp(self.final_norm(self.levels(x))) + x)


class UConvBlock(_MultiResolution):
    """SuDORMRFImprovedNet's block: ``res_conv(final_norm(levels(x))) + x``."""

    def __init__(self, bn_chan: int, in_chan: int, depth: int) -> None:
        super().__init__(bn_chan, in_chan, depth, use_globln=True)
        self.final_norm = NormAct(in_chan, GlobLN(in_chan))
        self.res_conv = nn.Conv1d(in_chan, bn_chan, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_conv(self.final_norm(self.levels(x))) + x


class SuDORMRFMasker(nn.Module):
    """Asteroid's ``SuDORMRF``: ``w [B, N, frames] -> masks [B, n_src, N, frames]``."""

    def __init__(
        self, in_chan: int, n_src: int, bn_chan: int, num_blocks: int, depth: int, mask_act: str
    ) -> None:
        super().__init__()
        self.ln = group_norm(in_chan)
        self.l1 = nn.Conv1d(in_chan, bn_chan, 1)
        self.sm = nn.Sequential(*(UBlock(bn_chan, in_chan, depth) for _ in range(num_blocks)))
        if bn_chan != in_chan:
            self.reshape_before_masks = nn.Conv1d(bn_chan, in_chan, 1)
        # One (N + 1)-tall filter per source over the bases, N // 2 + N % 2 zeros each side.
        self.m = nn.Conv2d(1, n_src, (in_chan + 1, 1), padding=(in_chan - in_chan // 2, 0))
        self.output_act = make_activation(mask_act, "mask_act")

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        x = self.sm(self.l1(self.ln(w)))
        if hasattr(self, "reshape_before_masks"):
            x = self.reshape_before_masks(x)
        return self.output_act(self.m(x.unsqueeze(1)))


class SuDORMRFImprovedMasker(nn.Module):
    """Asteroid's ``SuDORMRFImproved``: ``w [B, N, frames] -> masks [B, n_src, N, frames]``."""

    def __init__(
        self, in_chan: int, n_src: int, bn_chan: int, num_blocks: int, depth: int, mask_act: str
    ) -> None:
        super().__init__()
        self.n_src = n_src
        self.ln = GlobLN(in_chan)
        self.bottleneck = nn.Conv1d(in_chan, bn_chan, 1)
        self.sm = nn.Sequential(*(UConvBlock(bn_chan, in_chan, depth) for _ in range(num_blocks)))
        self.mask_net = nn.Sequential(nn.PReLU(), nn.Conv1d(bn_chan, n_src * in_chan, 1))
        self.output_act = make_activation(mask_act, "mask_act")

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        x = self.mask_net(self.sm(self.bottleneck(self.ln(w))))
        return self.output_act(x.view(x.shape[0], self.n_src, w.shape[1], -1))


class PaddedEncoder(nn.Module):
    """Asteroid's ``_Padder``: zeros appended up to a multiple of ``lcm(K // 2, 2^depth)``, then the
    free encoder with K // 2 zeros each side. (Asteroid also saves the filters a second time, as
    ``encoder.filterbank._filters``: the importer drops that copy.)"""

    def __init__(self, n_filters: int, kernel_size: int, stride: int, depth: int) -> None:
        super().__init__()
        self.encoder = FreeEncoder(n_filters, kernel_size, stride, padding=kernel_size // 2)
        self.multiple = math.lcm(kernel_size // 2, 2**depth)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """``[B, T] -> [B, N, frames]``."""
        return self.encoder(F.pad(wav, (0, -wav.shape[-1] % self.multiple)))


class _AsteroidSuDORMRF(AsteroidTasNet):
    """The filterbanks of both SuDORMRF models and the checks of their sizes."""

    def _build_padded_filterbanks(
        self, n_filters: int, kernel_size: int, stride: int, depth: int, in_chan: Optional[int]
    ) -> None:
        sizes = dict(n_filters=n_filters, kernel_size=kernel_size, upsampling_depth=depth)
        bad = [f"{k}={v!r}" for k, v in sizes.items() if v < 1]
        if bad or kernel_size < 2:
            raise ModelError(
                f"{self.name}: sizes must be positive and kernel_size at least 2 "
                f"(got {', '.join(f'{k}={v!r}' for k, v in sizes.items())})"
            )
        if not kernel_size // 2 - 1 < stride:
            raise ModelError(
                f"stride={stride} is below kernel_size // 2 = {kernel_size // 2}: Asteroid's "
                "decoder (output padding kernel_size // 2 - 1) cannot run it either"
            )
        check_in_chan(in_chan, n_filters)
        self.kernel_size, self.stride = kernel_size, stride
        self.encoder = PaddedEncoder(n_filters, kernel_size, stride, depth)
        half = kernel_size // 2
        self.decoder = FreeDecoder(
            n_filters, kernel_size, stride, padding=half, output_padding=half - 1
        )
        self.shortest_input = 1  # the encoder pads any input to whole frames


@register("asteroid-sudormrf")
class AsteroidSuDORMRFNet(_AsteroidSuDORMRF):
    """Asteroid's ``SuDORMRFNet`` (free filterbank), same arguments and defaults: n_filters,
    kernel_size (stride kernel_size // 2), bn_chan, num_blocks, upsampling_depth, mask_act
    (softmax across sources), sample_rate. ``n_filters`` must be even (Asteroid's mask layer
    gives N + 1 bases otherwise)."""

    description = (
        "Asteroid SuDORMRFNet (free filterbank), ported: imported Asteroid checkpoints run on it."
    )

    def __init__(
        self,
        n_src: int = 2,
        bn_chan: int = 128,
        num_blocks: int = 16,
        upsampling_depth: int = 4,
        mask_act: str = "softmax",
        in_chan: Optional[int] = None,
        kernel_size: int = 21,
        n_filters: int = 512,
        sample_rate: int = 8000,
    ) -> None:
        super().__init__(sample_rate=sample_rate, n_src=n_src)
        if n_filters % 2:
            raise ModelError(
                f"n_filters={n_filters} is odd: Asteroid's SuDORMRFNet mask layer then gives "
                f"{n_filters + 1} bases for {n_filters} filters and cannot run"
            )
        self._build_padded_filterbanks(
            n_filters, kernel_size, kernel_size // 2, upsampling_depth, in_chan
        )
        self.enc_activation = nn.ReLU()
        self.masker = SuDORMRFMasker(
            n_filters, n_src, bn_chan, num_blocks, upsampling_depth, mask_act
        )


@register("asteroid-sudormrf-improved")
class AsteroidSuDORMRFImprovedNet(_AsteroidSuDORMRF):
    """Asteroid's ``SuDORMRFImprovedNet`` (free filterbank), same arguments and defaults:
    n_filters, kernel_size, stride (kernel_size // 2 when None), bn_chan, num_blocks,
    upsampling_depth, mask_act (ReLU), sample_rate."""

    description = (
        "Asteroid SuDORMRFImprovedNet (free filterbank), ported: imported Asteroid checkpoints "
        "run on it."
    )

    def __init__(
        self,
        n_src: int = 2,
        bn_chan: int = 128,
        num_blocks: int = 16,
        upsampling_depth: int = 4,
        mask_act: str = "relu",
        in_chan: Optional[int] = None,
        kernel_size: int = 21,
        n_filters: int = 512,
        stride: Optional[int] = None,
        sample_rate: int = 8000,
    ) -> None:
        stride = int(stride) if stride else kernel_size // 2
        super().__init__(sample_rate=sample_rate, n_src=n_src)
        self._resolved_args(stride=stride)
        self._build_padded_filterbanks(n_filters, kernel_size, stride, upsampling_depth, in_chan)
        self.enc_activation = nn.Identity()
        self.masker = SuDORMRFImprovedMasker(
            n_filters, n_src, bn_chan, num_blocks, upsampling_depth, mask_act
        )
