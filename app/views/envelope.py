"""Min/max envelopes of long signals for drawing only the visible range at screen resolution.

A pyramid of block minima and maxima (blocks of 64, 1024, 16384 ... samples) is built once, so
drawing any range of an hour-long signal costs O(number of pixels), not O(number of samples).
"""

from __future__ import annotations

import numpy as np

BASE_BLOCK = 64
FACTOR = 16


class Envelope:
    def __init__(self, samples: np.ndarray) -> None:
        self.samples = np.asarray(samples, dtype=np.float32)
        self.levels: list[tuple[int, np.ndarray, np.ndarray]] = []  # (block, mins, maxs)
        lo = hi = self.samples
        block, size = 1, BASE_BLOCK
        while len(lo) >= 2 * size:
            starts = np.arange(0, len(lo), size)  # the last block may be partial
            lo, hi = np.minimum.reduceat(lo, starts), np.maximum.reduceat(hi, starts)
            block *= size
            self.levels.append((block, lo, hi))
            size = FACTOR

    def __len__(self) -> int:
        return len(self.samples)

    def segment(self, i0: int, i1: int, max_points: int) -> tuple[np.ndarray, np.ndarray]:
        """Sample positions and values to draw ``samples[i0:i1]`` with at most about ``max_points``
        points: the raw samples when few enough, else a min/max pair per column (peaks kept)."""
        i0, i1 = max(int(i0), 0), min(int(i1), len(self.samples))
        if i1 <= i0:
            return np.zeros(0), np.zeros(0, np.float32)
        n = i1 - i0
        if n <= max_points:
            return np.arange(i0, i1, dtype=np.float64), self.samples[i0:i1]
        per_col = n / max(max_points // 2, 1)  # samples per min/max pair
        block, lo, hi = 1, self.samples, self.samples
        for b, l_, h_ in self.levels:
            if b <= per_col:
                block, lo, hi = b, l_, h_
        b0 = i0 // block
        b1 = max(-(-i1 // block), b0 + 1)
        lo, hi = lo[b0:b1], hi[b0:b1]
        cols = max(1, min(max_points // 2, len(lo)))
        edges = np.linspace(0, len(lo), cols + 1).astype(np.int64)
        edges[-1] = len(lo)
        starts = edges[:-1]
        mins = np.minimum.reduceat(lo, starts)
        maxs = np.maximum.reduceat(hi, starts)
        x = (b0 + (edges[:-1] + edges[1:]) / 2.0) * block
        xs = np.repeat(x, 2)
        ys = np.empty(2 * cols, dtype=np.float32)
        ys[0::2], ys[1::2] = mins, maxs
        return xs, ys
