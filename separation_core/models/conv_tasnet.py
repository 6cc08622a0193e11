"""Conv-TasNet (Luo & Mesgarani, 2019): learned encoder, temporal convolutional mask network, decoder.

Also holds what the time-domain models share: the padded encoder / decoder pair and the
``separate_chunk`` that adds effective STFT masks.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..errors import ModelError
from ..masks import effective_masks
from ..mixture_fit import fit_to_mixture
from ..transforms import StftParams, stft
from .base import KIND_TIME_DOMAIN, RunOptions, SeparationModel
from .features import stft_params_for
from .registry import register
from .result import ChunkOutput

MASK_ACTIVATIONS = {"sigmoid": torch.sigmoid, "relu": torch.relu}


def global_layer_norm(channels: int) -> nn.GroupNorm:
    """gLN: normalise over channels AND time of each example, per-channel gain and bias."""
    return nn.GroupNorm(1, channels, eps=1e-8)


class WaveEncoder(nn.Module):
    """Learned analysis filterbank: ``[batch, time] -> [batch, n_filters, frames]`` (ReLU).

    The input is padded by one stride on the left and, on the right, by one stride plus what
    rounds the length up to a multiple of the stride, so that every sample is covered by two
    frames; the decoder crops back to the input length.
    """

    def __init__(self, n_filters: int, filter_length: int) -> None:
        super().__init__()
        if filter_length < 2 or filter_length % 2:
            raise ModelError(f"the encoder filter length must be even and >= 2, got {filter_length}")
        self.stride = filter_length // 2
        self.conv = nn.Conv1d(1, n_filters, filter_length, stride=self.stride, bias=False)

    def padding(self, length: int) -> tuple[int, int]:
        return self.stride, self.stride + (-length) % self.stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left, right = self.padding(x.shape[-1])
        x = nn.functional.pad(x.unsqueeze(1), (left, right))      # [B, 1, T']
        return torch.relu(self.conv(x))                            # [B, N, frames]


class WaveDecoder(nn.Module):
    """Learned synthesis filterbank: ``[batch, n_filters, frames] -> [batch, length]``."""

    def __init__(self, n_filters: int, filter_length: int) -> None:
        super().__init__()
        self.stride = filter_length // 2
        self.deconv = nn.ConvTranspose1d(n_filters, 1, filter_length, stride=self.stride, bias=False)

    def forward(self, w: torch.Tensor, length: int) -> torch.Tensor:
        y = self.deconv(w).squeeze(1)                              # [B, T']
        return y[..., self.stride:self.stride + length]


class TimeDomainModel(SeparationModel):
    """Shared inference of the time-domain models: ``forward`` gives ``{"waveforms": [B, S, T]}``;
    the masks shown to the user are the effective masks |S_k| / sum_j |S_j| of the outputs' STFTs.
    Each chunk's outputs are first fitted to the mixture (``fit_to_mixture``): level and polarity.

    Subclasses build ``self.encoder`` / ``self.decoder`` and implement ``masks(w [B, N, frames]) ->
    [B, n_src, N, frames]``. ``RunOptions.num_speakers`` is ignored: the number of outputs is fixed
    by training.
    """

    kind = KIND_TIME_DOMAIN

    @property
    def stft_params(self) -> StftParams:
        return stft_params_for(self.sample_rate)

    def forward(self, mixture: torch.Tensor) -> dict:
        """``mixture [B, T]`` -> ``{"waveforms": [B, n_src, T]}``."""
        if mixture.dim() != 2:
            raise ModelError(f"{self.name} expects a batch of mixtures [batch, time], got shape "
                             f"{tuple(mixture.shape)}")
        batch, length = mixture.shape
        w = self.encoder(mixture)                          # [B, N, frames]
        masked = self.masks(w) * w.unsqueeze(1)            # [B, n_src, N, frames]
        y = self.decoder(masked.flatten(0, 1), length)     # [B * n_src, T]
        return {"waveforms": y.view(batch, self.n_src, length)}

    def separate_chunk(self, mixture: torch.Tensor, *, references: Optional[torch.Tensor] = None,
                       options: RunOptions = RunOptions()) -> ChunkOutput:
        if mixture.dim() != 1:
            raise ModelError(f"{self.name} expects a mono mixture [time], got shape "
                             f"{tuple(mixture.shape)}")
        param = next(self.parameters())
        with torch.no_grad():
            x = mixture.to(device=param.device, dtype=param.dtype)
            waves = self.forward(x.unsqueeze(0))["waveforms"][0]      # [S, T]
            waves = fit_to_mixture(waves, x)
            masks = effective_masks(stft(waves, self.stft_params))     # [S, F, frames]
        return ChunkOutput(waveforms=waves, masks=masks)


class TemporalBlock(nn.Module):
    """One TCN block: 1x1 conv (B->H) -> PReLU -> gLN -> depthwise dilated conv (P) -> PReLU -> gLN,
    then a residual 1x1 conv (H->B) and a skip-connection 1x1 conv (H->Sc)."""

    def __init__(self, bottleneck: int, hidden: int, skip: int, kernel: int, dilation: int,
                 residual: bool) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(bottleneck, hidden, 1),
            nn.PReLU(),
            global_layer_norm(hidden),
            nn.Conv1d(hidden, hidden, kernel, dilation=dilation,
                      padding=dilation * (kernel - 1) // 2, groups=hidden),
            nn.PReLU(),
            global_layer_norm(hidden),
        )
        # The last block's residual output would be discarded, so it has none.
        self.res = nn.Conv1d(hidden, bottleneck, 1) if residual else None
        self.skip = nn.Conv1d(hidden, skip, 1)

    def forward(self, x: torch.Tensor) -> tuple[Optional[torch.Tensor], torch.Tensor]:
        y = self.body(x)                                   # [B, H, frames]
        res = None if self.res is None else x + self.res(y)
        return res, self.skip(y)


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

    description = "Conv-TasNet: learned filterbank and temporal convolutional network (time domain)."

    def __init__(self, sample_rate: int = 16000, n_src: int = 2, n_filters: int = 256,
                 filter_length: int = 32, bottleneck: int = 128, hidden: int = 256, skip: int = 128,
                 kernel: int = 3, n_blocks: int = 8, n_repeats: int = 3,
                 mask_activation: str = "sigmoid") -> None:
        super().__init__(sample_rate=sample_rate, n_src=n_src, n_filters=n_filters,
                         filter_length=filter_length, bottleneck=bottleneck, hidden=hidden,
                         skip=skip, kernel=kernel, n_blocks=n_blocks, n_repeats=n_repeats,
                         mask_activation=mask_activation)
        if mask_activation not in MASK_ACTIVATIONS:
            raise ModelError(f"mask_activation must be one of {sorted(MASK_ACTIVATIONS)}, "
                             f"got '{mask_activation}'")
        if kernel % 2 == 0:
            raise ModelError(f"the depthwise kernel size P must be odd, got {kernel}")
        self.encoder = WaveEncoder(n_filters, filter_length)
        self.decoder = WaveDecoder(n_filters, filter_length)
        self.input_norm = global_layer_norm(n_filters)
        self.input_conv = nn.Conv1d(n_filters, bottleneck, 1)
        n_layers = n_blocks * n_repeats
        self.blocks = nn.ModuleList(
            TemporalBlock(bottleneck, hidden, skip, kernel, dilation=2 ** (i % n_blocks),
                          residual=i < n_layers - 1)
            for i in range(n_layers))
        self.output = nn.Sequential(nn.PReLU(), nn.Conv1d(skip, n_src * n_filters, 1))
        self._mask_fn = MASK_ACTIVATIONS[mask_activation]

    def masks(self, w: torch.Tensor) -> torch.Tensor:
        """Encoder output ``w [B, N, frames]`` -> masks ``[B, n_src, N, frames]``."""
        x = self.input_conv(self.input_norm(w))           # [B, B_ch, frames]
        skips = 0.0
        for block in self.blocks:
            res, s = block(x)
            skips = skips + s                              # [B, Sc, frames]
            if res is not None:
                x = res
        m = self._mask_fn(self.output(skips))              # [B, n_src * N, frames]
        return m.view(w.shape[0], self.n_src, w.shape[1], w.shape[2])

