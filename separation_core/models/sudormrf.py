"""SuDoRM-RF (Tzinis, Wang & Smaragdis, MLSP 2020): a low-compute mask network built from U-ConvBlocks,
each analysing the features at several resolutions by successive down-sampling and re-sampling."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from separation_core.errors import ModelError
from separation_core.models.blocks import (
    TIME_DOMAIN_MASKS,
    TimeDomainModel,
    WaveDecoder,
    WaveEncoder,
    global_layer_norm,
    make_activation,
)
from separation_core.models.registry import register

DEPTHWISE_KERNEL = 5  # every depthwise convolution of a U-ConvBlock, as in the paper


def upsample2(x: torch.Tensor, length: int) -> torch.Tensor:
    """Nearest-neighbour x2 up-sampling cropped to ``length`` frames: ``[B, C, T] -> [B, C, length]``
    (``length`` is ``2T`` or ``2T - 1``: a stride-2 level has ``ceil(T_finer / 2)`` frames)."""
    return F.interpolate(x, scale_factor=2.0, mode="nearest")[..., :length]


class UConvBlock(nn.Module):
    """One U-ConvBlock, ``[B, C, T] -> [B, C, T]`` (C: ``bottleneck``, U: ``hidden``, Q: ``depth``):

    1x1 conv C->U, gLN, PReLU; a depthwise conv (kernel 5) at full resolution, then Q-1 depthwise
    convs of stride 2, each halving the frames (level q has ceil(T / 2^q) frames); from the coarsest
    level up, each is up-sampled x2 and added to the level above; gLN, PReLU, 1x1 conv U->C, plus
    the block's input. Every depthwise conv is followed by gLN. This is the block of the improved
    model (SuDoRM-RF++, Tzinis et al., the form of the authors' released models): the MLSP 2020
    block also had a gLN after the 1x1 conv U->C and a gLN + PReLU after the residual sum, i.e. a
    plain residual path here and two fewer normalisations per block.

    Any frame count works: a stride-2 level rounds up and its up-sampling is cropped back, so no
    padding to a multiple of 2^(Q-1) is needed (zeros would shift the gLN statistics).
    """

    def __init__(self, bottleneck: int, hidden: int, depth: int) -> None:
        super().__init__()
        self.expand = nn.Sequential(
            nn.Conv1d(bottleneck, hidden, 1), global_layer_norm(hidden), nn.PReLU()
        )
        self.levels = nn.ModuleList(
            nn.Sequential(
                nn.Conv1d(
                    hidden,
                    hidden,
                    DEPTHWISE_KERNEL,
                    stride=1 if q == 0 else 2,
                    padding=(DEPTHWISE_KERNEL - 1) // 2,
                    groups=hidden,
                ),
                global_layer_norm(hidden),
            )
            for q in range(depth)
        )
        self.project = nn.Sequential(
            global_layer_norm(hidden), nn.PReLU(), nn.Conv1d(hidden, bottleneck, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(x)  # [B, U, T]
        outs = []
        for level in self.levels:
            y = level(y)  # [B, U, ceil(T / 2^q)]
            outs.append(y)
        y = outs.pop()
        while outs:  # coarsest back to full resolution
            finer = outs.pop()
            y = finer + upsample2(y, finer.shape[-1])
        return x + self.project(y)  # [B, C, T]


@register("sudormrf")
class SuDoRMRF(TimeDomainModel):
    """SuDoRM-RF, "Sudo rm -rf: efficient networks for universal audio source separation" (Tzinis,
    Wang & Smaragdis, MLSP 2020), with the U-ConvBlock of its improved version (see ``UConvBlock``).
    Arguments and the paper's symbols:

    n_filters      C_E  encoder / decoder basis functions
    filter_length  K_E  encoder window in samples (stride K_E/2)
    bottleneck     C    channels between the U-ConvBlocks
    hidden         C_U  channels inside each U-ConvBlock
    n_blocks       B    U-ConvBlocks (16 for the paper's "1.0x" model, 8 for "0.5x", 4 for "0.25x")
    depth          Q    resolutions per block (Q-1 stride-2 down-samplings)
    mask_activation     "relu" (the improved model's) or "sigmoid"

    Pipeline: ReLU encoder -> gLN -> 1x1 conv C_E->C -> B U-ConvBlocks -> PReLU -> 1x1 conv
    C->n_src*C_E -> masks over the C_E bases per source -> shared decoder (the Cocktail time-domain
    convention; the MLSP 2020 model had one decoder filterbank per source and masks from a softmax
    across sources, the improved model ReLU masks).

    Defaults: C_E=512, K_E=40, C=128, C_U=512, B=16, Q=4, ReLU masks (the paper's "1.0x" model):
    2,642,081 parameters with 2 sources (the formula in tests/core/test_sudormrf.py). The paper works
    at 8 kHz with K_E=21 (stride 10, 1.25 ms); the encoder here needs an even window with stride
    K_E/2, and K_E=40 at 16 kHz keeps the paper's 1.25 ms stride (2.5 ms window) and so its frame
    rate and receptive field in seconds. Measured on the 2-core development machine (10 s at
    16 kHz, no_grad, ``torch.set_num_threads(2)``, best of 3-5 while the machine was quiet):
    0.40-0.44 s, i.e. 23-25x faster than real time (K_E=32 took 0.53 s, 19x; Q=5 0.42-0.45 s);
    0.84 s of CPU time on one thread (12x per core; the default Conv-TasNet 0.79 s alike). One
    training step (forward + backward, PIT SI-SDR, batch 4 x 4 s): 2.4-3.0 s on 2 threads, 4.9 s of
    CPU time on one (Conv-TasNet 4.3 s), peak memory 4.6 GiB (Conv-TasNet 4.5 GiB).
    """

    description = "SuDoRM-RF: learned filterbank and U-ConvBlocks (multi-resolution, low compute)."

    def __init__(
        self,
        sample_rate: int = 16000,
        n_src: int = 2,
        n_filters: int = 512,
        filter_length: int = 40,
        bottleneck: int = 128,
        hidden: int = 512,
        n_blocks: int = 16,
        depth: int = 4,
        mask_activation: str = "relu",
    ) -> None:
        super().__init__(sample_rate=sample_rate, n_src=n_src)
        self._mask_fn = make_activation(mask_activation, allowed=TIME_DOMAIN_MASKS)
        sizes = dict(
            n_src=n_src,
            n_filters=n_filters,
            bottleneck=bottleneck,
            hidden=hidden,
            n_blocks=n_blocks,
            depth=depth,
        )
        bad = [f"{k}={v!r}" for k, v in sizes.items() if not isinstance(v, int) or v < 1]
        if bad:
            raise ModelError(f"sudormrf sizes must be positive integers, got {', '.join(bad)}")
        self.encoder = WaveEncoder(n_filters, filter_length)
        self.decoder = WaveDecoder(n_filters, filter_length)
        self.input_norm = global_layer_norm(n_filters)
        self.input_conv = nn.Conv1d(n_filters, bottleneck, 1)
        self.blocks = nn.Sequential(
            *(UConvBlock(bottleneck, hidden, depth) for _ in range(n_blocks))
        )
        self.output = nn.Sequential(nn.PReLU(), nn.Conv1d(bottleneck, n_src * n_filters, 1))

    def masks(self, w: torch.Tensor) -> torch.Tensor:
        """Encoder output ``w [B, C_E, frames]`` -> masks ``[B, n_src, C_E, frames]``."""
        x = self.input_conv(self.input_norm(w))  # [B, C, frames]
        x = self.blocks(x)  # [B, C, frames]
        m = self._mask_fn(self.output(x))  # [B, n_src * C_E, frames]
        return m.view(w.shape[0], self.n_src, w.shape[1], w.shape[2])
