"""Conv-TasNet (Luo & Mesgarani, 2019): learned encoder, temporal convolutional mask network, decoder.

The encoder / decoder pair, gLN and the shared time-domain inference live in ``blocks``.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

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


class TemporalBlock(nn.Module):
    """One TCN block: 1x1 conv (B->H) -> PReLU -> gLN -> depthwise dilated conv (P) -> PReLU -> gLN,
    then a residual 1x1 conv (H->B) and a skip-connection 1x1 conv (H->Sc)."""

    def __init__(
        self, bottleneck: int, hidden: int, skip: int, kernel: int, dilation: int, residual: bool
    ) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(bottleneck, hidden, 1),
            nn.PReLU(),
            global_layer_norm(hidden),
            nn.Conv1d(
                hidden,
                hidden,
                kernel,
                dilation=dilation,
                padding=dilation * (kernel - 1) // 2,
                groups=hidden,
            ),
            nn.PReLU(),
            global_layer_norm(hidden),
        )
        # The last block's residual output would be discarded, so it has none.
        self.res = nn.Conv1d(hidden, bottleneck, 1) if residual else None
        self.skip = nn.Conv1d(hidden, skip, 1)

    def forward(self, x: torch.Tensor) -> tuple[Optional[torch.Tensor], torch.Tensor]:
        y = self.body(x)  # [B, H, frames]
        res = None if self.res is None else x + self.res(y)
        return res, self.skip(y)


def temporal_blocks(
    bottleneck: int, hidden: int, skip: int, kernel: int, n_blocks: int, n_repeats: int
) -> nn.ModuleList:
    """The TCN: ``n_repeats`` x ``n_blocks`` blocks, dilations 1, 2, ..., 2^(X-1) in each repeat."""
    if kernel % 2 == 0:
        raise ModelError(f"the depthwise kernel size P must be odd, got {kernel}")
    n_layers = n_blocks * n_repeats
    return nn.ModuleList(
        TemporalBlock(
            bottleneck,
            hidden,
            skip,
            kernel,
            dilation=2 ** (i % n_blocks),
            residual=i < n_layers - 1,
        )
        for i in range(n_layers)
    )


def skip_sum(blocks: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
    """Bottleneck features ``x [B, B_ch, frames]`` through the TCN -> skip sum ``[B, Sc, frames]``."""
    skips = 0.0
    for block in blocks:
        res, s = block(x)
        skips = skips + s
        if res is not None:
            x = res
    return skips


@register("convtasnet")
class ConvTasNet(TimeDomainModel):
    """Conv-TasNet. Arguments and the paper's symbols (Luo & Mesgarani 2019):

    n_filters      N   encoder / decoder basis functions
    filter_length  L   encoder window in samples (stride L/2)
    bottleneck     B   channels of the bottleneck and residual paths
    hidden         H   channels inside each convolutional block
    skip           Sc  channels of the skip-connection paths
    kernel         P   depthwise convolution kernel size
    n_blocks       X   blocks per repeat, dilations 1, 2, ..., 2^(X-1)
    n_repeats      R   repeats of the X blocks
    mask_activation    "sigmoid" or "relu"

    Receptive field: (P-1) * R * (2^X - 1) + 1 frames (1.53 s with the defaults at 16 kHz).
    Defaults: N=256, L=32 (a 1 ms stride at 16 kHz), B=128, H=256, Sc=128, P=3, X=8, R=3, sigmoid
    masks; 2.5 M parameters. Measured on the 2-core development machine (10 s at 16 kHz, no_grad,
    ``torch.set_num_threads(2)``): 0.52 s, i.e. 19x faster than real time (1.2 s of CPU time on
    one thread: 8x per core); L=20 took 0.95 s (10.5x) and L=16 1.5 s (6.6x), hence L=32.
    The paper's best configuration (N=512, L=16, H=512) reached 15.3 dB SI-SDRi on wsj0-2mix;
    the paper found shorter windows better, so L=32 trades some quality for speed.
    """

    description = (
        "Conv-TasNet: learned filterbank and temporal convolutional network (time domain)."
    )

    def __init__(
        self,
        sample_rate: int = 16000,
        n_src: int = 2,
        n_filters: int = 256,
        filter_length: int = 32,
        bottleneck: int = 128,
        hidden: int = 256,
        skip: int = 128,
        kernel: int = 3,
        n_blocks: int = 8,
        n_repeats: int = 3,
        mask_activation: str = "sigmoid",
    ) -> None:
        super().__init__(sample_rate=sample_rate, n_src=n_src)
        self._mask_fn = make_activation(mask_activation, allowed=TIME_DOMAIN_MASKS)
        self.encoder = WaveEncoder(n_filters, filter_length)
        self.decoder = WaveDecoder(n_filters, filter_length)
        self.input_norm = global_layer_norm(n_filters)
        self.input_conv = nn.Conv1d(n_filters, bottleneck, 1)
        self.blocks = temporal_blocks(bottleneck, hidden, skip, kernel, n_blocks, n_repeats)
        self.output = nn.Sequential(nn.PReLU(), nn.Conv1d(skip, n_src * n_filters, 1))

    def init_new_layers(self, loaded: set[str]) -> None:
        """Grown from a shallower Conv-TasNet (more repeats): the new blocks' residual and skip
        convolutions start at zero, so the grown model first computes exactly what the smaller one
        did and training adds to it."""
        with torch.no_grad():
            for i, block in enumerate(self.blocks):
                for name in ("res", "skip"):
                    conv = getattr(block, name)
                    if conv is not None and f"blocks.{i}.{name}.weight" not in loaded:
                        conv.weight.zero_()
                        conv.bias.zero_()

    def masks(self, w: torch.Tensor) -> torch.Tensor:
        """Encoder output ``w [B, N, frames]`` -> masks ``[B, n_src, N, frames]``."""
        skips = skip_sum(self.blocks, self.input_conv(self.input_norm(w)))  # [B, Sc, frames]
        m = self._mask_fn(self.output(skips))  # [B, n_src * N, frames]
        return m.view(w.shape[0], self.n_src, w.shape[1], w.shape[2])
