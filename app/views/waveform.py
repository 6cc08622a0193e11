"""Waveform plots drawn from a min/max envelope of the visible range only."""

from __future__ import annotations

from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from app.views.envelope import Envelope
from app.views.timeplot import TimeAxis, TimePlot


class WaveformLayer:
    """A PlotDataItem showing ``samples`` between t0 and t1 at about two points per pixel."""

    def __init__(self, plot_item: pg.PlotItem, colour: str) -> None:
        self.curve = pg.PlotDataItem(pen=pg.mkPen(colour, width=1))
        self.curve.setClipToView(True)
        plot_item.addItem(self.curve)
        self.envelope: Optional[Envelope] = None
        self.sample_rate = 1

    def set_signal(self, samples: Optional[np.ndarray], sample_rate: int) -> None:
        self.envelope = Envelope(samples) if samples is not None else None
        self.sample_rate = int(sample_rate)
        if self.envelope is None:
            self.curve.setData([], [])

    def refresh(self, t0: float, t1: float, width_px: int) -> None:
        if self.envelope is None:
            return
        sr = self.sample_rate
        i0, i1 = int(np.floor(t0 * sr)) - 1, int(np.ceil(t1 * sr)) + 2
        x, y = self.envelope.segment(i0, i1, 2 * width_px)
        self.curve.setData(x / sr, y)


class WaveformView(TimePlot):
    def __init__(
        self,
        axis: TimeAxis,
        colour: str,
        parent: Optional[QWidget] = None,
        *,
        height: int = 56,
        show_time_axis: bool = False,
    ) -> None:
        super().__init__(axis, parent, height=height, show_time_axis=show_time_axis)
        self.layer = WaveformLayer(self.getPlotItem(), colour)
        self.link.add_layer(self.layer)
        left = self.getPlotItem().getAxis("left")
        left.setTicks([[(-1, "-1"), (0, "0"), (1, "1")]])
        self.setYRange(-1.0, 1.0, padding=0.05)

    def set_signal(self, samples: Optional[np.ndarray], sample_rate: int) -> None:
        self.layer.set_signal(samples, sample_rate)
        peak = float(np.max(np.abs(samples))) if samples is not None and len(samples) else 1.0
        peak = max(peak, 1e-3)
        self.setYRange(-peak, peak, padding=0.05)
        left = self.getPlotItem().getAxis("left")
        left.setTicks([[(0, "0")]])
        self.link.schedule()
