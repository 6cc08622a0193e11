"""Classical speech-versus-noise baseline: Wiener filtering with a minimum-statistics noise estimate.

1. Noise power: the minimum, over a sliding window of about 1.5 s, of the recursively smoothed
   periodogram (Martin's minimum statistics), times a bias factor measured once on white noise.
2. A-priori SNR by the decision-directed rule (Ephraim & Malah 1984):
   xi(t) = a |S(t-1)|^2 / lambda(t) + (1 - a) max(gamma(t) - 1, 0),  gamma = |Y|^2 / lambda.
3. Wiener gain G = xi / (1 + xi), floored at ``gain_floor_db``; speech = istft(G Y),
   noise = mixture - speech.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Optional

import numpy as np
import torch
from scipy.ndimage import minimum_filter1d
from scipy.signal import lfilter

from separation_core.errors import ModelError
from separation_core.models.base import KIND_CLASSICAL, RunOptions, SeparationModel
from separation_core.models.features import stft_params_for
from separation_core.models.registry import register
from separation_core.models.result import ChunkOutput
from separation_core.models.transforms import StftParams, istft, stft

_TINY = 1e-12


def _smooth(power: np.ndarray, alpha: float) -> np.ndarray:
    """First-order recursive smoothing along frames: P(t) = a P(t-1) + (1-a) |Y(t)|^2."""
    return lfilter([1.0 - alpha], [1.0, -alpha], power, axis=-1, zi=alpha * power[:, :1])[0]


def _minimum_track(power: np.ndarray, alpha: float, window: int) -> np.ndarray:
    """Minimum of the smoothed power over a centred window of ``window`` frames: ``[F, T]``."""
    return minimum_filter1d(_smooth(power, alpha), size=window, axis=-1, mode="nearest")


@lru_cache(maxsize=16)
def _minimum_bias(p: StftParams, alpha: float, window: int) -> float:
    """mean(power) / mean(tracked minimum) on stationary white Gaussian noise through the same STFT:
    the factor that turns the minimum into an unbiased noise power estimate."""
    noise = np.random.default_rng(0).standard_normal(max(8 * window, 400) * p.hop)
    spec = stft(torch.from_numpy(noise), p).numpy()[1:-1]  # DC / Nyquist bins are not complex
    power = spec.real**2 + spec.imag**2
    track = _minimum_track(power, alpha, window)[:, window:-window]
    return float(power[:, window:-window].mean() / track.mean())


def wiener_gains(
    power: np.ndarray, noise: np.ndarray, dd_alpha: float, gain_floor: float
) -> np.ndarray:
    """Decision-directed Wiener gains ``[F, T]`` from ``power = |Y|^2`` and noise power ``[F, T]``.

    The recursion runs over frames; each step is vectorised over frequency.
    """
    gamma = power / noise
    gains = np.empty_like(power)
    prev_clean = np.zeros(power.shape[0])  # |S_hat(t-1)|^2
    for t in range(power.shape[1]):
        xi = dd_alpha * prev_clean / noise[:, t] + (1.0 - dd_alpha) * np.maximum(
            gamma[:, t] - 1.0, 0.0
        )
        g = np.maximum(xi / (1.0 + xi), gain_floor)
        gains[:, t] = g
        prev_clean = g * g * power[:, t]
    return gains


@register("denoise-wiener")
class WienerDenoiser(SeparationModel):
    """Speech / noise separation by Wiener filtering; outputs [speech, noise], masks [G, 1 - G].

    sample_rate           rate of the input (the STFT is ~32 ms / 8 ms at any rate)
    smoothing_seconds     time constant of the periodogram smoothing before the minimum search
    noise_window_seconds  length of the minimum search window (longer than a spoken word)
    dd_alpha              decision-directed weight a (0.98 is the classic value)
    gain_floor_db         lowest gain, which limits musical noise
    """

    kind = KIND_CLASSICAL
    outputs_are_voices = False
    trainable = False
    description = (
        "Classical denoiser: minimum-statistics noise estimate and decision-directed "
        "Wiener gain; outputs speech and noise."
    )

    def __init__(
        self,
        sample_rate: int = 16000,
        n_src: int = 2,
        smoothing_seconds: float = 0.04,
        noise_window_seconds: float = 1.5,
        dd_alpha: float = 0.98,
        gain_floor_db: float = -15.0,
    ) -> None:
        super().__init__(sample_rate=sample_rate, n_src=n_src)
        if self.n_src != 2:
            raise ModelError(
                f"denoise-wiener separates speech from noise: n_src must be 2, got {n_src}"
            )
        if not 0.0 <= dd_alpha < 1.0:
            raise ModelError(f"dd_alpha must be in [0, 1), got {dd_alpha}")
        self._stft = stft_params_for(self.sample_rate)
        frame_seconds = self._stft.hop / self.sample_rate
        self.alpha = math.exp(-frame_seconds / smoothing_seconds)
        self.window = max(3, round(noise_window_seconds / frame_seconds))
        self.dd_alpha = float(dd_alpha)
        self.gain_floor = 10.0 ** (gain_floor_db / 20.0)

    @property
    def stft_params(self) -> StftParams:
        return self._stft

    def noise_power(self, power: np.ndarray) -> np.ndarray:
        """Noise power estimate ``[F, T]`` from the mixture power ``|Y|^2 [F, T]``."""
        bias = _minimum_bias(self._stft, self.alpha, self.window)
        return np.maximum(bias * _minimum_track(power, self.alpha, self.window), _TINY)

    def gains(self, spec: torch.Tensor) -> torch.Tensor:
        """Speech gains ``[F, T]`` for a mixture STFT ``[F, T]``."""
        power = spec.abs().square().double().cpu().numpy()
        g = wiener_gains(power, self.noise_power(power), self.dd_alpha, self.gain_floor)
        return torch.from_numpy(g).to(device=spec.device, dtype=spec.real.dtype)

    def forward(self, mixture: torch.Tensor) -> dict:
        """``mixture [B, T]`` -> ``{"waveforms": [B, 2, T], "masks": [B, 2, F, frames]}``."""
        outs = [self.separate_chunk(x) for x in mixture]
        return {
            "waveforms": torch.stack([o.waveforms for o in outs]),
            "masks": torch.stack([o.masks for o in outs]),
        }

    def separate_chunk(
        self,
        mixture: torch.Tensor,
        *,
        references: Optional[torch.Tensor] = None,
        options: RunOptions = RunOptions(),
    ) -> ChunkOutput:
        x = self.mono_input(mixture)
        with torch.no_grad():
            spec = stft(x, self._stft)  # [F, frames]
            g = self.gains(spec)
            speech = istft(g * spec, self._stft, x.shape[-1])
            waves = torch.stack([speech, x - speech])  # [2, T]
        return ChunkOutput(waveforms=waves, masks=torch.stack([g, 1.0 - g]))
