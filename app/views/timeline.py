"""The quality timeline under the Listen lanes: one row per result on the shared time axis.

With references, each row draws the result's SI-SDR per source (sources as in the lanes, their
colours) in sliding windows, and shades in red the windows where its speakers are swapped. Without
references, it draws how alike the outputs sound (leakage, 0 to 1) and, at each chunk joint, the
stitching confidence (red when low). A legend over the rows tells the curves from the dots (it wraps
rather than being cut; the whole explanation is its tooltip). A click moves the play head there;
hovering reads the values.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from app.views.chunks import joints_of
from app.views.lanes import HEADER_WIDTH
from app.views.style import source_colour
from app.views.timeplot import TimeAxis, TimePlot

ROW_HEIGHT = 58
VISIBLE_ROWS = 2  # rows shown at once; more scroll
SWAP_BRUSH = (255, 60, 60, 70)
LEAK_COLOUR = "#e0a030"
LOW_CONFIDENCE_COLOUR = "#ff4646"
CONFIDENCE_COLOUR = "#78c8ff"
BLIND_RANGE = (-0.2, 1.2)  # 0..1 with room for the 0 and 1 tick labels and the dots at 1
EXPLAIN_REFS = (
    "SI-SDR per source (dB) in {w:g} s windows every {h:g} s, sources as in the lanes; "
    "red bands: the speakers are swapped there (the window's best order is not the file's). "
    "Click to play from there."
)
EXPLAIN_BLIND = (
    "No references: how alike the outputs sound in {w:g} s windows (0: apart, 1: the same "
    "sound; high where a speaker leaks into the other output); dots: the stitching "
    "confidence at each chunk joint, red when low. Click to play from there."
)


def _mark(colour: str, glyph: str) -> str:
    return f"<span style='color:{colour}'>{glyph}</span>"


def legend_html(has_references: bool, window: float) -> str:
    """What each mark means, one short phrase each (the explanation is the tooltip)."""
    if has_references:
        lines = _mark(source_colour(0), "▬") + _mark(source_colour(1), "▬")
        swapped = _mark("rgb({}, {}, {})".format(*SWAP_BRUSH[:3]), "■")
        return (
            f"{lines} SI-SDR per source (dB), {window:g} s windows &nbsp; "
            f"{swapped} speakers swapped"
        )
    return (
        f"{_mark(LEAK_COLOUR, '▬')} outputs alike (0: apart, 1: the same sound) &nbsp; "
        f"{_mark(CONFIDENCE_COLOUR, '●')} stitching confidence at a chunk joint &nbsp; "
        f"{_mark(LOW_CONFIDENCE_COLOUR, '●')} low"
    )


class TimelineRow(QWidget):
    def __init__(self, key: str, axis: TimeAxis, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.key = key
        self.title = QLabel(key, self)
        self.title.setFixedWidth(HEADER_WIDTH)
        self.title.setWordWrap(True)
        self.title.setToolTip(key)
        self.title.setStyleSheet("color: #c8c8c8; padding-left: 4px;")
        self.plot = TimePlot(axis, self, height=ROW_HEIGHT)
        self.plot.getPlotItem().showGrid(y=True, alpha=0.2)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 1, 0, 1)
        layout.setSpacing(2)
        layout.addWidget(self.title)
        layout.addWidget(self.plot, 1)
        self.setFixedHeight(ROW_HEIGHT + 2)
        self.track = None
        self.chunks: list = []
        self.curves: list = []
        self.swap_bars: Optional[pg.BarGraphItem] = None
        self.confidence: Optional[pg.ScatterPlotItem] = None
        self.plot.scene().sigMouseMoved.connect(self._hover)

    def set_data(self, track, chunks) -> None:
        if track is self.track and chunks == self.chunks:
            return
        self.track, self.chunks = track, list(chunks)
        item = self.plot.getPlotItem()
        for it in self.curves + [self.swap_bars, self.confidence]:
            if it is not None:
                item.removeItem(it)
        self.curves, self.swap_bars, self.confidence = [], None, None
        if track is None:
            return
        t, v = track.times, track.values
        if track.kind == "si_sdr":
            finite = v[np.isfinite(v)]
            lo = max(float(finite.min()), -20.0) if finite.size else -10.0
            hi = max(float(finite.max()), 10.0) if finite.size else 20.0
            lo, hi = min(lo, 0.0) - 1.0, hi + 1.0
            if track.swapped is not None and track.swapped.any():
                xs = t[track.swapped]
                self.swap_bars = pg.BarGraphItem(
                    x=xs,
                    width=track.hop,
                    y0=lo,
                    height=hi - lo,
                    brush=pg.mkBrush(*SWAP_BRUSH),
                    pen=None,
                )
                item.addItem(self.swap_bars)
            for s in range(v.shape[0]):
                curve = pg.PlotDataItem(
                    t, v[s], pen=pg.mkPen(source_colour(s), width=1.5), connect="finite"
                )
                item.addItem(curve)
                self.curves.append(curve)
            item.getAxis("left").setLabel("dB")
            item.getAxis("left").setTicks(None)
        else:
            lo, hi = BLIND_RANGE
            curve = pg.PlotDataItem(
                t,
                np.nan_to_num(v[0], nan=0.0),
                pen=pg.mkPen(LEAK_COLOUR, width=1.5),
                fillLevel=0.0,
                brush=pg.mkBrush(224, 160, 48, 60),
            )
            item.addItem(curve)
            self.curves.append(curve)
            joints = [
                (j, c) for j, c in zip(joints_of(chunks), chunks[1:]) if c.confidence is not None
            ]
            if joints:  # at the middle of each joint, where View > Show chunks draws its line
                self.confidence = pg.ScatterPlotItem(
                    x=[j.x for j, _ in joints],
                    y=[c.confidence for _, c in joints],
                    size=8,
                    brush=[
                        pg.mkBrush(LOW_CONFIDENCE_COLOUR if j.low else CONFIDENCE_COLOUR)
                        for j, _ in joints
                    ],
                    pen=None,
                )
                item.addItem(self.confidence)
            item.getAxis("left").setLabel("")
            item.getAxis("left").setTicks([[(0.0, "0"), (0.5, "0.5"), (1.0, "1")]])
        self.plot.setYRange(lo, hi, padding=0)

    def value_text(self, t: float) -> str:
        """What the row shows at ``t`` seconds, in words (the hover readout)."""
        tr = self.track
        if tr is None or not len(tr.times):
            return ""
        w = int(np.argmin(np.abs(tr.times - t)))
        head = (
            f"{self.key}, {tr.times[w] - tr.window / 2:.1f}-{tr.times[w] + tr.window / 2:.1f} s: "
        )
        if tr.kind == "si_sdr":
            parts = [
                f"source {s + 1} {tr.values[s, w]:.1f} dB"
                if np.isfinite(tr.values[s, w])
                else f"source {s + 1} silent"
                for s in range(tr.values.shape[0])
            ]
            swap = ", speakers swapped" if tr.swapped is not None and tr.swapped[w] else ""
            return head + "SI-SDR " + ", ".join(parts) + swap
        v = tr.values[0, w]
        return head + ("silence" if not np.isfinite(v) else f"outputs alike {v:.2f}")

    def _hover(self, pos) -> None:
        vb = self.plot.getPlotItem().getViewBox()
        if vb.sceneBoundingRect().contains(pos):
            self.plot.setToolTip(self.value_text(vb.mapSceneToView(pos).x()))

    def dispose(self) -> None:
        self.plot.link.dispose()


class QualityTimeline(QWidget):
    def __init__(self, axis: TimeAxis, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.axis = axis
        self.playhead = 0.0
        self.rows: dict[str, TimelineRow] = {}
        self.has_references = False
        head = QHBoxLayout()
        head.setContentsMargins(4, 2, 4, 0)
        head.setSpacing(10)
        title = QLabel("Quality over time", self)
        title.setStyleSheet("font-weight: bold;")
        self.explain = QLabel("", self)  # the legend
        self.explain.setTextFormat(Qt.TextFormat.RichText)
        self.explain.setWordWrap(True)
        self.explain.setStyleSheet("color: #a0a0a0;")
        self.status = QLabel("", self)
        self.status.setStyleSheet("color: #e0a030;")
        head.addWidget(title)
        head.addWidget(self.explain, 1)
        head.addWidget(self.status)
        self.inner = QWidget(self)
        self.inner_layout = QVBoxLayout(self.inner)
        self.inner_layout.setContentsMargins(0, 0, 0, 0)
        self.inner_layout.setSpacing(0)
        self.scroll = QScrollArea(self)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.scroll.setWidget(self.inner)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(head)
        layout.addWidget(self.scroll)
        self.wanted = True  # View > Quality timeline
        self.hide()

    def set_status(self, text: str) -> None:
        self.status.setText(text)

    def set_rows(self, rows: list, has_references: bool) -> None:
        """``rows``: (result key, QualityTrack or None, chunks) in display order."""
        self.has_references = has_references
        keys = [k for k, _, _ in rows]
        if keys != list(self.rows):
            for row in self.rows.values():
                row.dispose()
                self.inner_layout.removeWidget(row)
                row.deleteLater()
            self.rows = {}
            for k in keys:
                row = TimelineRow(k, self.axis, self.inner)
                row.plot.link.set_playhead(self.playhead)
                self.inner_layout.addWidget(row)
                self.rows[k] = row
        for k, track, chunks in rows:
            self.rows[k].set_data(track, chunks)
        tracks = [t for _, t, _ in rows if t is not None]
        w, h = (tracks[0].window, tracks[0].hop) if tracks else (1.0, 0.5)
        self.explain.setText(legend_html(has_references, w))
        self.explain.setToolTip(
            (EXPLAIN_REFS if has_references else EXPLAIN_BLIND).format(w=w, h=h)
        )
        self.scroll.setFixedHeight(min(len(keys), VISIBLE_ROWS) * (ROW_HEIGHT + 2) + 2)
        self.setVisible(bool(keys) and self.wanted)

    def set_wanted(self, on: bool) -> None:
        self.wanted = bool(on)
        self.setVisible(bool(self.rows) and self.wanted)

    def set_playhead(self, t: float) -> None:
        self.playhead = t
        for row in self.rows.values():
            row.plot.link.set_playhead(t)
