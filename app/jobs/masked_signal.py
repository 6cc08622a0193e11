"""The mixture heard through a time-frequency mask (the bins selected in the embeddings)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class MaskedSignalJob:
    """The mixture through a mask ``[freq, frames]`` on an STFT grid, back at the mixture's rate."""

    mixture: np.ndarray
    sample_rate: int
    mask: np.ndarray
    stft: Any  # separation_core.models.transforms.StftParams

    def run(self, ctx) -> np.ndarray:
        return masked_signal(self.mixture, self.sample_rate, self.mask, self.stft)


def masked_signal(
    mixture: np.ndarray, sample_rate: int, mask: np.ndarray, stft_params
) -> np.ndarray:
    """``mixture [time]`` at ``sample_rate`` -> ``istft(mask * stft(mixture))`` at the same rate and
    length; the STFT runs at the grid's own rate (``stft_params.sample_rate``)."""
    import torch

    from separation_core.io.audio_io import resample
    from separation_core.models.transforms import istft, stft

    grid_rate = int(stft_params.sample_rate)
    x = resample(mixture, sample_rate, grid_rate) if grid_rate != sample_rate else mixture
    spec = stft(torch.from_numpy(np.array(x, dtype=np.float32)), stft_params)  # a writable copy
    frames = min(spec.shape[-1], mask.shape[-1])
    m = torch.zeros(spec.shape, dtype=torch.float32)
    m[:, :frames] = torch.from_numpy(np.array(mask[:, :frames], dtype=np.float32))
    y = istft(spec * m, stft_params, len(x)).numpy()
    if grid_rate != sample_rate:
        y = resample(y, grid_rate, sample_rate)
    n = len(mixture)
    return np.pad(y, (0, max(0, n - len(y))))[:n].astype(np.float32)
