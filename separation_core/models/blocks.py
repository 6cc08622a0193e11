"""Building blocks the models share: the one activation table, gLN, the padded learned encoder /
decoder pair, and ``TimeDomainModel`` (the inference of Conv-TasNet, DPRNN, SuDoRM-RF and the
Asteroid ports: masks on a learned filterbank, outputs fitted to the mixture, effective STFT masks).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Optional

import torch
from torch import nn

from separation_core.errors import ModelError
from separation_core.models.base import (
    CONTRACT_TIME,
    KIND_TIME_DOMAIN,
    RunOptions,
    SeparationModel,
)
from separation_core.models.features import stft_params_for
from separation_core.models.masks import effective_masks
from separation_core.models.mixture_fit import fit_to_mixture, speech_and_noise
from separation_core.models.result import MASK_EFFECTIVE, ChunkOutput
from separation_core.models.transforms import StftParams, stft

# -- activations (names as in asteroid.masknn.activations) ------------------------------------------


class Swish(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(x)


# Name -> module factory. Softmax runs over axis 1: the sources of masks [B, n_src, ...].
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "linear": nn.Identity,
    "relu": nn.ReLU,
    "prelu": nn.PReLU,
    "leaky_relu": nn.LeakyReLU,
    "sigmoid": nn.Sigmoid,
    "softmax": lambda: nn.Softmax(dim=1),
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "swish": Swish,
    "Swish": Swish,
}
TIME_DOMAIN_MASKS = ("sigmoid", "relu")  # mask activations of the Cocktail time-domain models
STFT_MASKS = ("sigmoid", "softmax")  # mask activations of the STFT mask networks


def make_activation(
    name: Optional[str], option: str = "mask_activation", allowed: Optional[Sequence[str]] = None
) -> nn.Module:
    """The activation ``name`` of ``ACTIVATIONS`` (None: linear) as a module; ``allowed`` limits
    the choice. Refused with a one-line ModelError naming ``option`` and the known names."""
    key = "linear" if name is None else name
    known = [k for k in (ACTIVATIONS if allowed is None else allowed) if k != "Swish"]
    if key not in ACTIVATIONS or (allowed is not None and key not in allowed):
        raise ModelError(f"{option}={name!r} is not supported (known: {', '.join(known)})")
    return ACTIVATIONS[key]()


# -- time-domain blocks ------------------------------------------------------------------------------


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
            raise ModelError(
                f"the encoder filter length must be even and >= 2, got {filter_length}"
            )
        self.stride = filter_length // 2
        self.conv = nn.Conv1d(1, n_filters, filter_length, stride=self.stride, bias=False)

    def padding(self, length: int) -> tuple[int, int]:
        return self.stride, self.stride + (-length) % self.stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left, right = self.padding(x.shape[-1])
        x = nn.functional.pad(x.unsqueeze(1), (left, right))  # [B, 1, T']
        return torch.relu(self.conv(x))  # [B, N, frames]


class WaveDecoder(nn.Module):
    """Learned synthesis filterbank: ``[batch, n_filters, frames] -> [batch, length]``."""

    def __init__(self, n_filters: int, filter_length: int) -> None:
        super().__init__()
        self.stride = filter_length // 2
        self.deconv = nn.ConvTranspose1d(
            n_filters, 1, filter_length, stride=self.stride, bias=False
        )

    def forward(self, w: torch.Tensor, length: int) -> torch.Tensor:
        y = self.deconv(w).squeeze(1)  # [B, T']
        return y[..., self.stride : self.stride + length]


class TimeDomainModel(SeparationModel):
    """Shared inference of the time-domain models: ``forward`` gives ``{"waveforms": [B, S, T]}``;
    the masks shown to the user are the effective masks |S_k| / sum_j |S_j| of the outputs' STFTs.
    Each chunk's outputs are first fitted to the mixture (``fit_to_mixture``): level and polarity.

    Subclasses build ``self.encoder`` / ``self.decoder`` and implement ``masks(w [B, N, frames]) ->
    [B, n_src, N, frames]``. ``RunOptions.num_speakers`` is ignored: the number of outputs is fixed
    by training.
    """

    kind = KIND_TIME_DOMAIN
    objective = "waveform"
    mask_kind = MASK_EFFECTIVE
    onnx_contract = CONTRACT_TIME

    @property
    def stft_params(self) -> StftParams:
        return stft_params_for(self.sample_rate)

    def forward(self, mixture: torch.Tensor) -> dict:
        """``mixture [B, T]`` -> ``{"waveforms": [B, n_src, T]}``."""
        self.check_batch(mixture)
        batch, length = mixture.shape
        w = self.encoder(mixture)  # [B, N, frames]
        masked = self.masks(w) * w.unsqueeze(1)  # [B, n_src, N, frames]
        y = self.decoder(masked.flatten(0, 1), length)  # [B * n_src, T]
        return {"waveforms": y.view(batch, self.n_src, length)}

    def separate_chunk(
        self,
        mixture: torch.Tensor,
        *,
        references: Optional[torch.Tensor] = None,
        options: RunOptions = RunOptions(),
    ) -> ChunkOutput:
        x = self.mono_input(mixture)
        with torch.no_grad():
            waves = self.forward(x.unsqueeze(0))["waveforms"][0]  # [S, T]
            waves = fit_to_mixture(waves, x)
            masks = effective_masks(stft(waves, self.stft_params))  # [S, F, frames]
        return ChunkOutput(waveforms=waves, masks=masks)


def enhancer_chunk(model: TimeDomainModel, mixture: torch.Tensor) -> ChunkOutput:
    """``separate_chunk`` of a time-domain enhancer whose ``forward`` gives ``[B, 2, T]``, speech
    first: ``mixture [time]`` -> speech fitted to the mixture and the rest (``speech_and_noise``),
    with their effective masks ``[2, F, frames]``."""
    x = model.mono_input(mixture)
    with torch.no_grad():
        speech = model.forward(x.unsqueeze(0))["waveforms"][0, 0]
        waves = speech_and_noise(speech, x)
        masks = effective_masks(stft(waves, model.stft_params))
    return ChunkOutput(waveforms=waves, masks=masks)
