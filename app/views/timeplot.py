"""One time axis shared by every time view, and the plumbing that keeps each plot in step with it.

``TimeAxis`` holds the visible range ``[t0, t1]`` in seconds. ``TimeLink`` ties a pyqtgraph ViewBox
to it both ways, redraws the plot's layers for the visible range (debounced, and only while the plot
is visible), draws the playhead and turns a click into a seek. ``TimePlot`` is a PlotWidget with
its TimeLink.
"""

from __future__ import annotations

from typing import Optional, Protocol

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QTimer, Qt, Signal
from PySide6.QtWidgets import QWidget

from app.views.style import AXIS_WIDTH, PLAYHEAD_COLOUR

MIN_SPAN = 0.02  # seconds: the narrowest view
# Tick spacings (seconds) for views longer than a minute: whole seconds, minutes, hours.
CLOCK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 18000, 36000)


def clock(seconds: float, with_fraction: bool = False) -> str:
    """``75.5 -> "1:15"`` (``"1:15.5"`` with the fraction), ``3725 -> "1:02:05"``."""
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    whole = int(seconds)
    h, rem = divmod(whole, 3600)
    m, s = divmod(rem, 60)
    frac = f"{seconds - whole:.1f}"[1:] if with_fraction else ""
    return f"{sign}{h}:{m:02d}:{s:02d}{frac}" if h else f"{sign}{m}:{s:02d}{frac}"


class TimeAxisItem(pg.AxisItem):
    """A time axis in seconds below a minute, else in m:ss or h:mm:ss with clock-like steps."""

    def __init__(self, orientation: str = "bottom", **kwargs) -> None:
        super().__init__(orientation, **kwargs)
        self.enableAutoSIPrefix(False)
        self._unit = ""

    def _set_unit(self, unit: str) -> None:
        if unit != self._unit and self.label.isVisible():
            self._unit = unit
            self.setLabel(f"time ({unit})")

    def tickSpacing(self, minVal: float, maxVal: float, size: float):
        span = maxVal - minVal
        if span < 60 and maxVal < 60:
            return super().tickSpacing(minVal, maxVal, size)
        wanted = span / max(size / 90.0, 1.0)  # about one label per 90 pixels
        major = next((s for s in CLOCK_STEPS if s >= wanted), CLOCK_STEPS[-1])
        minor = next((s for s in reversed(CLOCK_STEPS) if s <= major / 4), major / 5)
        return [(float(major), 0.0), (float(minor), 0.0)]

    def tickStrings(self, values, scale, spacing):
        top = max((abs(v) for v in values), default=0.0)
        if top < 60:
            self._set_unit("s")
            return super().tickStrings(values, scale, spacing)
        self._set_unit("h:mm:ss" if top >= 3600 else "m:ss")
        return [clock(v, with_fraction=spacing < 1) for v in values]


class TimeAxis(QObject):
    changed = Signal(float, float)
    seek_requested = Signal(float)

    def __init__(self, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.duration = 1.0
        self.t0, self.t1 = 0.0, 1.0
        # drawn on every plot of this axis: objects with attach(link) / detach(link), called for
        # each TimeLink made after they are added (see views.chunks.ChunkOverlay)
        self.overlays: list = []

    def set_duration(self, duration: float) -> None:
        self.duration = max(float(duration), MIN_SPAN)
        self.set_range(0.0, self.duration)

    def set_range(self, t0: float, t1: float) -> None:
        span = min(max(t1 - t0, MIN_SPAN), self.duration)
        t0 = min(max(t0, 0.0), self.duration - span)
        t0, t1 = t0, t0 + span
        if abs(t0 - self.t0) > 1e-9 or abs(t1 - self.t1) > 1e-9:
            self.t0, self.t1 = t0, t1
            self.changed.emit(t0, t1)

    def zoom(self, factor: float, centre: Optional[float] = None) -> None:
        """factor < 1 zooms in."""
        centre = (self.t0 + self.t1) / 2 if centre is None else centre
        span = (self.t1 - self.t0) * factor
        frac = (centre - self.t0) / max(self.t1 - self.t0, 1e-12)
        self.set_range(centre - frac * span, centre - frac * span + span)

    def pan(self, fraction: float) -> None:
        shift = (self.t1 - self.t0) * fraction
        self.set_range(self.t0 + shift, self.t1 + shift)

    def fit(self) -> None:
        self.set_range(0.0, self.duration)


class Layer(Protocol):
    def refresh(self, t0: float, t1: float, width_px: int) -> None: ...


class TimeLink(QObject):
    """Keeps ``viewbox`` on ``axis``'s range and redraws ``layers`` for the visible range."""

    def __init__(self, viewbox: pg.ViewBox, axis: TimeAxis, widget: QWidget) -> None:
        super().__init__(widget)
        self.vb, self.axis, self.widget = viewbox, axis, widget
        self.layers: list[Layer] = []
        self._syncing = False
        self._duration = -1.0
        self._dirty = True
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(15)
        self._timer.timeout.connect(self.redraw)
        self.playhead = pg.InfiniteLine(
            0.0, angle=90, movable=False, pen=pg.mkPen(PLAYHEAD_COLOUR, width=1.5)
        )
        self.playhead.setZValue(1000)
        self.vb.addItem(self.playhead, ignoreBounds=True)
        self.vb.setMouseEnabled(x=True, y=False)
        self.vb.setMenuEnabled(False)
        self.vb.sigXRangeChanged.connect(self._from_view)
        self.vb.sigResized.connect(self.schedule)
        axis.changed.connect(self._from_axis)
        widget.installEventFilter(self)
        self._from_axis(axis.t0, axis.t1)
        for overlay in axis.overlays:
            overlay.attach(self)

    def add_layer(self, layer: Layer) -> None:
        self.layers.append(layer)
        self.schedule()

    def _from_view(self, _vb, rng) -> None:
        if not self._syncing:
            self.axis.set_range(float(rng[0]), float(rng[1]))
        self.schedule()

    def _from_axis(self, t0: float, t1: float) -> None:
        self._syncing = True
        try:
            if self.axis.duration != self._duration:
                self._duration = self.axis.duration
                self.vb.setLimits(xMin=0.0, xMax=self._duration, minXRange=0.01)
            self.vb.setXRange(t0, t1, padding=0)
        finally:
            self._syncing = False
        self.schedule()

    def schedule(self, *_args) -> None:
        self._dirty = True
        if self.widget.isVisible() and not self._timer.isActive():
            self._timer.start()

    def redraw(self) -> None:
        if not self.widget.isVisible():
            return
        self._dirty = False
        width = max(int(self.vb.width()), 64)
        for layer in self.layers:
            layer.refresh(self.axis.t0, self.axis.t1, width)

    def set_playhead(self, t: float) -> None:
        self.playhead.setValue(t)

    def dispose(self) -> None:
        """Before the plot goes away: no more redraws, no more axis updates."""
        self._timer.stop()
        self.layers = []
        for overlay in self.axis.overlays:
            overlay.detach(self)
        self.axis.changed.disconnect(self._from_axis)
        self.widget.removeEventFilter(self)
        self.deleteLater()

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Type.Show and self._dirty:
            self._timer.start()
        return False


class TimePlot(pg.PlotWidget):
    """A plot over time, linked to ``axis``; a left click asks the axis to seek there."""

    def __init__(
        self,
        axis: TimeAxis,
        parent: Optional[QWidget] = None,
        *,
        height: int = 80,
        show_time_axis: bool = False,
    ) -> None:
        super().__init__(
            parent,
            viewBox=pg.ViewBox(enableMenu=False),  # no menu: cheaper to build
            axisItems={"bottom": TimeAxisItem("bottom")},
        )
        self.axis_ = axis
        self.setMinimumHeight(height)
        item = self.getPlotItem()
        item.hideButtons()
        item.getAxis("left").setWidth(AXIS_WIDTH)
        item.showAxis("bottom", show_time_axis)
        if show_time_axis:
            item.getAxis("bottom").setLabel("time")
        item.layout.setContentsMargins(0, 6, 4, 2)  # room for the top tick label
        self.link = TimeLink(item.getViewBox(), axis, self)
        self.scene().sigMouseClicked.connect(self._clicked)

    def _clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or event.double():
            return
        vb = self.getPlotItem().getViewBox()
        if vb.sceneBoundingRect().contains(event.scenePos()):
            t = vb.mapSceneToView(event.scenePos()).x()
            self.axis_.seek_requested.emit(float(min(max(t, 0.0), self.axis_.duration)))
