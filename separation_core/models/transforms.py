"""STFT / inverse STFT in torch and a dB spectrogram for display.

Conventions: a Hann window, ``center=True``, one-sided spectra. A spectrum has shape
``[..., freq, frames]`` with ``freq = n_fft // 2 + 1`` and ``frames = time // hop + 1``;
frame ``t`` is centred on sample ``t * hop``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class StftParams:
    """Parameters of an STFT; ``sample_rate`` tells how to label its axes."""

    n_fft: int = 512
    hop: int = 128
    win_length: int = 512
    sample_rate: int = 16000

    @property
    def n_freq(self) -> int:
        return self.n_fft // 2 + 1

    def n_frames(self, n_samples: int) -> int:
        return n_samples // self.hop + 1

    def frame_times(self, n_frames: int) -> np.ndarray:
        return np.arange(n_frames) * self.hop / self.sample_rate

    def freqs(self) -> np.ndarray:
        return np.fft.rfftfreq(self.n_fft, 1.0 / self.sample_rate)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> StftParams:
        return cls(**{k: int(d[k]) for k in ("n_fft", "hop", "win_length", "sample_rate")})


_WINDOWS: dict = {}


def _window(p: StftParams, device, dtype) -> torch.Tensor:
    key = (p.win_length, str(device), dtype)
    if key not in _WINDOWS:
        # A window first made under inference mode (validation) must still serve autograd later.
        with torch.inference_mode(False):
            _WINDOWS[key] = torch.hann_window(p.win_length, device=device, dtype=dtype)
    return _WINDOWS[key]


def stft(x: torch.Tensor, p: StftParams) -> torch.Tensor:
    """``x [..., time]`` real -> complex ``[..., freq, frames]``."""
    shape = x.shape
    flat = x.reshape(-1, shape[-1])
    spec = torch.stft(
        flat,
        p.n_fft,
        p.hop,
        p.win_length,
        _window(p, x.device, x.dtype),
        center=True,
        return_complex=True,
    )
    return spec.reshape(*shape[:-1], *spec.shape[-2:])


def istft(spec: torch.Tensor, p: StftParams, length: int) -> torch.Tensor:
    """Complex ``[..., freq, frames]`` -> real ``[..., length]``."""
    shape = spec.shape
    flat = spec.reshape(-1, *shape[-2:])
    real_dtype = torch.float64 if spec.dtype == torch.complex128 else torch.float32
    x = torch.istft(
        flat,
        p.n_fft,
        p.hop,
        p.win_length,
        _window(p, spec.device, real_dtype),
        center=True,
        length=length,
    )
    return x.reshape(*shape[:-2], length)


def magnitude(x: torch.Tensor, p: StftParams) -> torch.Tensor:
    """``x [..., time]`` -> ``|STFT| [..., freq, frames]``."""
    return stft(x, p).abs()


def db_spectrogram(x: np.ndarray, p: StftParams, floor_db: float = -100.0) -> np.ndarray:
    """Power spectrogram in dB for display: ``x [time]`` -> float32 ``[freq, frames]``.

    Values are ``10 log10(|X|^2)`` clipped below at ``floor_db``.
    """
    spec = stft(torch.as_tensor(np.asarray(x, dtype=np.float32)), p)
    power = spec.real.square() + spec.imag.square()
    db = 10.0 * torch.log10(power.clamp_min(10.0 ** (floor_db / 10.0)))
    return db.numpy().astype(np.float32)
