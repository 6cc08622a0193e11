"""Spectrograms and other time-frequency images, computed or sliced for the visible range only.

``display_spectrogram`` is a display STFT in numpy (no torch, so it is ready at launch): its hop
grows with the visible span so an hour costs the same as a second; far out, a few frames per column
are averaged. ``ImageLayer`` shows whatever a provider returns for the visible range.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QWidget

from app.views.style import SPECTROGRAM_CMAP, SPECTROGRAM_RANGE_DB, colormap
from app.views.timeplot import TimeAxis, TimePlot

MAX_FRAMES = 4096  # STFT frames computed per redraw at most


class TFImage:
    """A time-frequency image ``data [freq, cols]`` covering ``[t_start, t_end] x [0, f_max]``."""

    __slots__ = ("data", "t_start", "t_end", "f_max")

    def __init__(self, data: np.ndarray, t_start: float, t_end: float, f_max: float) -> None:
        self.data, self.t_start, self.t_end, self.f_max = data, t_start, t_end, f_max


def _pow2_at_least(x: float) -> int:
    return 1 << max(0, math.ceil(math.log2(max(x, 1.0))))


def display_spectrogram(
    x: np.ndarray, sample_rate: int, t0: float, t1: float, max_cols: int, n_fft: int = 512
) -> Optional[TFImage]:
    """Power in dB (``10 log10 |X|^2``, a full-scale sine near 0 dB) of ``x [time]`` between t0 and
    t1 seconds, at most about ``max_cols`` columns. The hop is a power of two (at least n_fft/4)
    and columns start on a multiple of it, so panning and small zooms do not make the image shimmer."""
    n = len(x)
    i0, i1 = max(0, int(t0 * sample_rate)), min(n, int(math.ceil(t1 * sample_rate)))
    if i1 - i0 < 2:
        return None
    hop = max(n_fft // 4, _pow2_at_least((i1 - i0) / max(max_cols, 1)))
    i0 = i0 // hop * hop
    cols = max(1, math.ceil((i1 - i0) / hop))
    sub = int(
        min(max(hop // n_fft, 1), 4, max(MAX_FRAMES // cols, 1))
    )  # frames averaged per column
    centres = i0 + (
        np.arange(cols)[:, None] * hop + ((np.arange(sub) + 0.5) * hop / sub).astype(np.int64)
    )
    idx = centres[..., None] + np.arange(n_fft) - n_fft // 2  # [cols, sub, n_fft]
    inside = (idx >= 0) & (idx < n)
    frames = np.where(inside, x[np.clip(idx, 0, n - 1)], 0.0).astype(np.float32)
    window = np.hanning(n_fft).astype(np.float32)
    spec = np.fft.rfft(frames * window, axis=-1)
    power = (spec.real**2 + spec.imag**2).mean(axis=1) * (4.0 / window.sum() ** 2)
    db = 10.0 * np.log10(np.maximum(power, 1e-12))
    return TFImage(
        db.T.astype(np.float32),
        i0 / sample_rate,
        (i0 + cols * hop) / sample_rate,
        sample_rate / 2.0,
    )


def grid_slice(
    data: np.ndarray, hop: int, sample_rate: int, t0: float, t1: float, max_cols: int
) -> Optional[TFImage]:
    """The columns of ``data [freq, frames]`` (frame k centred on ``k * hop / sample_rate``) that
    fall between t0 and t1, every ``step``-th column when there are more than ``max_cols`` (two
    neighbours averaged when the step is small, so binary masks do not alias)."""
    frames = data.shape[-1]
    fps = sample_rate / hop
    c0, c1 = max(0, int(math.floor(t0 * fps))), min(frames, int(math.ceil(t1 * fps)) + 1)
    if c1 <= c0:
        return None
    step = _pow2_at_least((c1 - c0) / max(max_cols, 1))
    c0 = c0 // step * step
    img = data[..., c0:c1:step]
    if 1 < step <= 8:
        nb = (c1 - c0) // step
        if nb > 0:
            img = data[..., c0 : c0 + nb * step].reshape(*data.shape[:-1], nb, step).mean(-1)
    cols = img.shape[-1]
    return TFImage(
        np.ascontiguousarray(img, dtype=np.float32),
        (c0 - 0.5) / fps,
        (c0 + cols * step - 0.5) / fps,
        sample_rate / 2.0,
    )


class ImageLayer:
    """An ImageItem refreshed from ``provider(t0, t1, max_cols) -> TFImage | None``."""

    def __init__(self, plot_item, cmap: str, levels: tuple[float, float]) -> None:
        self.item = pg.ImageItem()
        self.item.setColorMap(colormap(cmap))
        self.levels = levels
        plot_item.addItem(self.item)
        self.provider: Optional[Callable[[float, float, int], Optional[TFImage]]] = None
        self.last: Optional[TFImage] = None

    def set_provider(self, provider) -> None:
        self.provider = provider
        if provider is None:
            self.item.clear()
            self.last = None

    def refresh(self, t0: float, t1: float, width_px: int) -> None:
        if self.provider is None:
            return
        img = self.provider(t0, t1, width_px)
        self.last = img
        if img is None:
            self.item.clear()
            return
        self.item.setImage(img.data, levels=self.levels, autoLevels=False)
        self.item.setRect(QRectF(img.t_start, 0.0, img.t_end - img.t_start, img.f_max))


def spectrogram_levels(x: np.ndarray, sample_rate: int) -> tuple[float, float]:
    """Colour range ``(loudest - 80 dB, loudest)`` from a coarse spectrogram of the whole signal."""
    img = display_spectrogram(x, sample_rate, 0.0, len(x) / sample_rate, 512)
    top = float(np.percentile(img.data, 99.9)) if img is not None else 0.0
    return top - SPECTROGRAM_RANGE_DB, top


class SpectrogramView(TimePlot):
    """A dB spectrogram of a signal; frequency axis in kHz."""

    def __init__(
        self,
        axis: TimeAxis,
        parent: Optional[QWidget] = None,
        *,
        height: int = 96,
        show_time_axis: bool = False,
    ) -> None:
        super().__init__(axis, parent, height=height, show_time_axis=show_time_axis)
        self.layer = ImageLayer(self.getPlotItem(), SPECTROGRAM_CMAP, (-80.0, 0.0))
        self.link.add_layer(self.layer)
        self.samples: Optional[np.ndarray] = None
        self.sample_rate = 1
        left = self.getPlotItem().getAxis("left")
        left.setScale(1e-3)  # Hz -> kHz labels
        left.setLabel("kHz")

    def set_signal(
        self,
        samples: Optional[np.ndarray],
        sample_rate: int,
        levels: Optional[tuple[float, float]] = None,
    ) -> None:
        self.samples, self.sample_rate = samples, int(sample_rate)
        if samples is None:
            self.layer.set_provider(None)
            return
        self.layer.levels = levels or spectrogram_levels(samples, sample_rate)
        self.setYRange(0, sample_rate / 2.0, padding=0)
        self.layer.set_provider(
            lambda t0, t1, px: display_spectrogram(self.samples, self.sample_rate, t0, t1, px)
        )
        self.link.schedule()
