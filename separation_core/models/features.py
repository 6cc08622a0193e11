"""Shared front end of the STFT-domain models: STFT grid, input features, silence, synthesis.

``StftSeparationModel`` is the base of the mask estimators, deep clustering and Chimera++: it owns
the STFT grid (recorded in ``model_args`` as ``n_fft`` / ``hop``), turns a batch of waveforms into
the mixture spectrum and normalised log-magnitude features, and turns masks back into waveforms.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F

from separation_core.errors import ModelError
from separation_core.models.base import SeparationModel
from separation_core.models.transforms import StftParams, istft, stft

LOG_EPS = 1e-10  # absolute floor, for all-zero input
FLOOR_RATIO = 1e-6  # log-magnitude floor relative to the peak: 120 dB of range


def stft_params_for(
    sample_rate: int, n_fft: Optional[int] = None, hop: Optional[int] = None
) -> StftParams:
    """The STFT grid of a model at ``sample_rate``.

    Default: a window of about 32 ms rounded to a power of two (512 at 16 kHz, 256 at 8 kHz) and a
    hop of a quarter window (75 % overlap), the usual grid of deep clustering / uPIT systems.
    """
    if n_fft is None:
        n_fft = 2 ** int(round(math.log2(0.032 * sample_rate)))
    if hop is None:
        hop = n_fft // 4
    n_fft, hop = int(n_fft), int(hop)
    if n_fft < 8 or hop < 1 or hop > n_fft:
        raise ModelError(f"invalid STFT grid n_fft={n_fft} hop={hop}")
    return StftParams(n_fft=n_fft, hop=hop, win_length=n_fft, sample_rate=int(sample_rate))


def log_magnitude_features(spec: torch.Tensor) -> torch.Tensor:
    """Complex ``spec [B, F, T]`` -> normalised log-magnitude ``[B, T, F]`` (time-major for RNNs).

    ``log(|X| + floor)`` with a floor 120 dB below the utterance's loudest bin, standardised per
    utterance by one mean and one standard deviation over all its bins: the gain of the input drops
    out exactly and the spectral shape (speaker cues) is kept.
    """
    mag = spec.abs()
    floor = (FLOOR_RATIO * mag.amax(dim=(-2, -1), keepdim=True)).clamp_min(LOG_EPS)
    logmag = torch.log(mag + floor)
    mean = logmag.mean(dim=(-2, -1), keepdim=True)
    std = logmag.std(dim=(-2, -1), keepdim=True).clamp_min(1e-5)
    return ((logmag - mean) / std).transpose(-2, -1)


def active_bins(magnitude: torch.Tensor, threshold_db: float = 40.0) -> torch.Tensor:
    """Bins within ``threshold_db`` of the loudest bin of each utterance.

    ``magnitude [..., F, T]`` -> bool ``[..., F, T]``. An all-zero input marks every bin active.
    """
    db = 20.0 * torch.log10(magnitude.clamp_min(1e-10))
    peak = db.amax(dim=(-2, -1), keepdim=True)
    return db >= peak - threshold_db


class StftSeparationModel(SeparationModel):
    """Base of the STFT-domain models (not registered)."""

    def __init__(
        self,
        sample_rate: int = 16000,
        n_src: int = 2,
        n_fft: Optional[int] = None,
        hop: Optional[int] = None,
    ) -> None:
        p = stft_params_for(sample_rate, n_fft, hop)
        super().__init__(sample_rate=sample_rate, n_src=n_src)
        self._resolved_args(n_fft=p.n_fft, hop=p.hop)
        self._stft = p

    @property
    def stft_params(self) -> StftParams:
        return self._stft

    @property
    def n_freq(self) -> int:
        return self._stft.n_freq

    def analyse(self, mixture: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``mixture [B, time]`` -> (complex spectrum ``[B, F, T]``, features ``[B, T, F]``)."""
        spec = stft(mixture, self._stft)
        return spec, log_magnitude_features(spec)

    def _param_device(self) -> torch.device:
        return next(self.parameters()).device

    def _chunk_input(self, mixture: torch.Tensor) -> torch.Tensor:
        """One chunk ``[time]`` -> ``[1, time']`` on the model's device, float32, zero-padded to at
        least one window (the centred STFT reflects half a window at each end)."""
        if mixture.dim() != 1:
            raise ModelError(
                f"{self.name}: expected a mono chunk [time], got shape {tuple(mixture.shape)}"
            )
        x = mixture.to(device=self._param_device(), dtype=torch.float32)
        if x.shape[-1] < self._stft.n_fft:
            x = F.pad(x, (0, self._stft.n_fft - x.shape[-1]))
        return x.unsqueeze(0)

    def synthesise(self, masks: torch.Tensor, spec: torch.Tensor, length: int) -> torch.Tensor:
        """Masks ``[K, F, T]`` x mixture spectrum ``[F, T]`` -> waveforms ``[K, length]``.

        ``spec`` may have been computed on a zero-padded chunk: the output is cropped to ``length``.
        """
        padded = max(length, self._stft.n_fft)
        return istft(masks * spec.unsqueeze(0), self._stft, padded)[:, :length]

    def synthesise_fitted(
        self, masks: torch.Tensor, spec: torch.Tensor, mixture: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Soft masks ``[K, F, T]`` scaled by the least-squares gains (``mixture_gains``) that make
        their waveforms add up to ``mixture [length]`` -> (masks, waveforms ``[K, length]``). A
        mask trained with a scale-invariant loss (SI-SDR) has no set level; one trained on
        magnitudes keeps gains near 1. A mask cannot flip a sign: where a gain comes out
        negative (or zero, which would silence a speaker), one common gain fits the sum instead."""
        from separation_core.models.mixture_fit import mixture_gains

        waveforms = self.synthesise(masks, spec, mixture.shape[-1])
        gains = mixture_gains(waveforms, mixture)
        if (gains <= 0).any():
            total = waveforms.sum(0)
            energy = total.pow(2).sum()
            common = (total @ mixture) / energy if energy > 0 else torch.ones(())
            gains = torch.full_like(gains, float(common) if common > 0 else 1.0)
        return masks * gains[:, None, None], waveforms * gains[:, None]

    def frames_of(self, length: int) -> int:
        """Frames of a chunk of ``length`` samples on this model's grid."""
        return self._stft.n_frames(length)
