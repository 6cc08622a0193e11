"""Geometry of point selections in the embedding scatter, and the mask they make on the STFT grid.
Pure numpy."""

from __future__ import annotations

import math

import numpy as np


def points_in_rect(points: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """``points [N, 2]`` -> bool ``[N]``: inside the axis-aligned rectangle (corners in any order)."""
    (xa, xb), (ya, yb) = sorted((x0, x1)), sorted((y0, y1))
    x, y = points[:, 0], points[:, 1]
    return (x >= xa) & (x <= xb) & (y >= ya) & (y <= yb)


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """``points [N, 2]``, ``polygon [M, 2]`` (closed implicitly) -> bool ``[N]`` by the even-odd rule
    (a ray cast to +x crosses the boundary an odd number of times)."""
    poly = np.asarray(polygon, dtype=np.float64)
    inside = np.zeros(len(points), dtype=bool)
    if len(poly) < 3:
        return inside
    x, y = points[:, 0].astype(np.float64), points[:, 1].astype(np.float64)
    xj, yj = poly[-1]
    for xi, yi in poly:
        crosses = (yi > y) != (yj > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_cross = (xj - xi) * (y - yi) / (yj - yi) + xi
        inside ^= crosses & (x < x_cross)
        xj, yj = xi, yi
    return inside


def selection_mask(bins: np.ndarray, selected: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A soft mask ``[freq, frames]`` in [0, 1] from a selection of embedding points.

    ``bins [P, 2]`` (freq, frame) of the embedded points, ``selected`` bool ``[P]``. When every bin
    of the grid has a point, the mask is exactly the selection's indicator. Embeddings are usually a
    subsample of the bins, so a bin's value is the fraction of selected points among the sampled
    points in a small box around it (sized to hold about four of them); bins with none get 0.
    """
    from scipy.ndimage import uniform_filter

    n_freq, n_frames = shape
    sampled = np.zeros(shape, dtype=np.float32)
    chosen = np.zeros(shape, dtype=np.float32)
    f, t = bins[:, 0], bins[:, 1]
    ok = (f >= 0) & (f < n_freq) & (t >= 0) & (t < n_frames)
    np.add.at(sampled, (f[ok], t[ok]), 1.0)
    np.add.at(chosen, (f[ok], t[ok]), selected[ok].astype(np.float32))
    coverage = np.count_nonzero(sampled) / max(sampled.size, 1)
    size = 1 if coverage >= 0.999 else int(math.ceil(math.sqrt(4.0 / max(coverage, 1e-6)))) | 1
    if size > 1:
        sampled = uniform_filter(sampled, size=size, mode="constant")
        chosen = uniform_filter(chosen, size=size, mode="constant")
    with np.errstate(divide="ignore", invalid="ignore"):
        mask = np.where(sampled > 1e-9, chosen / sampled, 0.0)
    return np.clip(mask, 0.0, 1.0).astype(np.float32)


def selection_start(mask: np.ndarray, hop: int, win_length: int, sample_rate: int) -> float:
    """Seconds where the first selected frame of ``mask [freq, frames]`` begins (0 when empty):
    the frame's centre minus half a window."""
    frames = np.flatnonzero(np.asarray(mask).max(axis=0) > 0) if np.size(mask) else []
    if len(frames) == 0:
        return 0.0
    return max(0.0, (int(frames[0]) * hop - win_length / 2) / sample_rate)
