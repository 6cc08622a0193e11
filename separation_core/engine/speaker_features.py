"""Frame features that tell talkers apart, for the stitching's speaker profiles, and the learnt
within-speaker whitening of their block means.

Per 32 ms frame (every ``FRAME_SECONDS``): 20 cepstra of a 40-band log-mel spectrum and, with
``PITCH``, a voicing-weighted log-F0 and its voicing, ``FEATURE_DIM`` values in all.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy.fft import dct

from separation_core.errors import CocktailError
from separation_core.io.paths import resources_dir

FRAME_SECONDS = 0.016  # hop; frames are two hops long
N_MELS = 40
N_CEPS = 20  # cepstra 1..20 (c0, the level, left out)
PITCH = True  # two pitch features after the cepstra
FEATURE_DIM = N_CEPS + 2 * bool(PITCH)
WHITENING_FILE = "speaker_whitening.npy"  # in resources/; scripts/train_speaker_whitening.py


def _mel_bank(sample_rate: int, n_fft: int, n_mels: int = N_MELS) -> np.ndarray:
    """Triangular filters on the mel scale ``[n_mels, n_fft // 2 + 1]`` (HTK formula)."""

    def mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def hz(m):
        return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)

    top = min(sample_rate / 2, 8000.0)
    edges = hz(np.linspace(mel(50.0), mel(top), n_mels + 2))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs - lo) / np.maximum(mid - lo, 1e-9)
    down = (hi - freqs) / np.maximum(hi - mid, 1e-9)
    return np.maximum(0.0, np.minimum(up, down)).astype(np.float32)


@dataclass
class FeatureGrid:
    """Frame parameters at one sample rate."""

    sample_rate: int
    hop: int
    n_fft: int
    bank: np.ndarray

    @classmethod
    def at(cls, sample_rate: int) -> FeatureGrid:
        hop = max(1, int(round(FRAME_SECONDS * sample_rate)))
        n_fft = 1 << max(4, int(math.ceil(math.log2(2 * hop))))
        return cls(sample_rate, hop, n_fft, _mel_bank(sample_rate, n_fft))

    def frames(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``x [S, n]`` -> (features ``[S, F, FEATURE_DIM]``, frame energy ``[S, F]``), F = n // hop."""
        n = x.shape[-1]
        count = n // self.hop
        if count == 0:
            return np.zeros(x.shape[:1] + (0, FEATURE_DIM), np.float32), np.zeros(
                x.shape[:1] + (0,), np.float32
            )
        pad = self.n_fft - self.hop
        xp = np.pad(x.astype(np.float32), ((0, 0), (pad // 2, pad - pad // 2)))
        idx = np.arange(count)[:, None] * self.hop + np.arange(self.n_fft)[None, :]
        window = np.hanning(self.n_fft + 2)[1:-1].astype(np.float32)
        spec = np.abs(np.fft.rfft(xp[:, idx] * window, axis=-1)) ** 2  # [S, F, bins]
        energy = spec.sum(-1) / self.n_fft
        logmel = np.log(spec @ self.bank.T + 1e-10)
        ceps = dct(logmel, type=2, norm="ortho", axis=-1)[..., 1 : N_CEPS + 1]
        if PITCH:
            ceps = np.concatenate([ceps, self._pitch(spec)], axis=-1)
        return ceps.astype(np.float32), energy.astype(np.float32)

    def _pitch(self, spec: np.ndarray) -> np.ndarray:
        """Voicing-weighted log-F0 ``[S, F, 2]``: (v * log2(f0 / 150 Hz), v), v the normalised
        autocorrelation peak over 60-400 Hz lags (0 when unvoiced)."""
        ac = np.fft.irfft(spec, n=self.n_fft, axis=-1)
        lo, hi = int(self.sample_rate / 400), min(int(self.sample_rate / 60), self.n_fft // 2 - 1)
        seg = ac[..., lo:hi] / np.maximum(ac[..., :1], 1e-20)
        lag = np.argmax(seg, axis=-1)
        peak = np.take_along_axis(seg, lag[..., None], -1)[..., 0]
        v = np.clip((peak - 0.3) / 0.5, 0.0, 1.0)
        f0 = self.sample_rate / (lag + lo)
        return np.stack([v * np.log2(f0 / 150.0), v], axis=-1)


@functools.cache
def learnt_whitening() -> np.ndarray:
    """The within-speaker whitening ``W [D, D]`` (float64, read-only, read once) of block means of
    these features, learnt from train-split speakers: ``W @ W.T`` is the inverse of their pooled
    within-speaker covariance. D is ``FEATURE_DIM`` unless it was learnt for other features."""
    path = resources_dir() / WHITENING_FILE
    try:
        matrix = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        why = getattr(err, "strerror", None) or err
        raise CocktailError(f"{path}: the speaker whitening cannot be read ({why})") from None
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.dtype != np.float64:
        raise CocktailError(
            f"{path}: the speaker whitening must be a square float64 matrix, "
            f"got {matrix.dtype} {matrix.shape}"
        )
    matrix.flags.writeable = False
    return matrix
