"""Who talks when, above the Listen lanes on the shared time axis: one band per person (their name,
editable, and their lane's colour), the stretches where several talk shaded, the ones where the
separator's outputs were used marked under the bands.

Hovering a band reads the person, start, end and the confidence where the engine gives one; a click
on a band plays that stretch and selects it (a range over the bands, its edges draggable); changing
the selected range plays only that person there.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QVBoxLayout, QWidget

from app.views.lanes import HEADER_WIDTH
from app.views.timeplot import TimeAxis, TimePlot, clock
from separation_core.conversation.turns import runs_of

BAND_PIXELS = 22
BAND_FILL = 0.72  # of a band's height
OVERLAP_BRUSH = (255, 255, 255, 34)
SEPARATED_COLOUR = "#d0d0d0"


def turn_text(name: str, start: float, end: float, confidence: Optional[float]) -> str:
    """What hovering a turn reads."""
    sure = "—" if confidence is None else f"{confidence:.2f}"
    return (
        f"{name}: {clock(start, True)} – {clock(end, True)} ({end - start:.1f} s), "
        f"confidence {sure}"
    )


def overlaps(turns, duration: float, hop: float = 0.01) -> list[tuple[float, float]]:
    """``[(start, end)]`` s where two or more people talk."""
    n = int(np.ceil(duration / hop)) + 1
    count = np.zeros(n, dtype=np.int32)
    for t in turns:
        count[int(round(t.start / hop)) : int(round(t.end / hop))] += 1
    return [(a * hop, b * hop) for a, b in runs_of(count > 1)]


class TurnsRow(QWidget):
    turn_clicked = Signal(int, float, float)  # person, start, end: play that stretch
    stretch_selected = Signal(int, float, float)  # person, start, end: the selected range changed
    rename_requested = Signal(int, str)  # person, new name

    def __init__(self, axis: TimeAxis, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.axis = axis
        self.names: list[str] = []
        self.turns: list = []
        self.selected: Optional[tuple[int, float, float]] = None
        self.header = QWidget(self)
        self.header.setFixedWidth(HEADER_WIDTH)
        self.header_layout = QVBoxLayout(self.header)
        self.header_layout.setContentsMargins(4, 0, 4, 0)
        self.header_layout.setSpacing(0)
        self.editors: list[QLineEdit] = []
        self.plot = TimePlot(axis, self, height=BAND_PIXELS)
        item = self.plot.getPlotItem()
        item.layout.setContentsMargins(0, 0, 4, 0)
        item.getAxis("left").setTicks([[]])
        self.vb = item.getViewBox()
        self.vb.setMouseEnabled(x=True, y=False)
        self.bands: list[pg.BarGraphItem] = []
        self.shade: Optional[pg.BarGraphItem] = None
        self.separated: Optional[pg.BarGraphItem] = None
        self.region = pg.LinearRegionItem(
            brush=pg.mkBrush(255, 255, 255, 45), pen=pg.mkPen("#ffd54a", width=1.5)
        )
        self.region.setZValue(500)
        self.region.hide()
        self.plot.addItem(self.region, ignoreBounds=True)
        self.region.sigRegionChangeFinished.connect(self._region_changed)
        self.plot.scene().sigMouseMoved.connect(self._hover)
        self.plot.scene().sigMouseClicked.connect(self._clicked)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 1, 0, 1)
        layout.setSpacing(2)
        layout.addWidget(self.header)
        layout.addWidget(self.plot, 1)

    # --- content -------------------------------------------------------------------------------
    def set_people(
        self, names: list[str], colours: list[str], turns: list, separated_spans: list
    ) -> None:
        """Person k's band (top first) in ``colours[k]``; ``turns``: io.rttm.Turn list."""
        self.names, self.turns = list(names), list(turns)
        n = len(names)
        self._set_editors(names, colours)
        for band in self.bands + [b for b in (self.shade, self.separated) if b is not None]:
            self.plot.removeItem(band)
        self.bands = []
        shared = overlaps(turns, self.axis.duration)
        self.shade = pg.BarGraphItem(
            x0=[a for a, _ in shared],
            x1=[b for _, b in shared],
            y0=0.0,
            height=float(n),
            brush=pg.mkBrush(*OVERLAP_BRUSH),
            pen=pg.mkPen(None),
        )
        self.plot.addItem(self.shade)
        for k, colour in enumerate(colours):
            mine = [t for t in turns if t.speaker == k]
            band = pg.BarGraphItem(
                x0=[t.start for t in mine],
                x1=[t.end for t in mine],
                y0=self._y(k) + (1 - BAND_FILL) / 2,
                height=BAND_FILL,
                brush=pg.mkBrush(colour),
                pen=pg.mkPen(None),
            )
            self.plot.addItem(band)
            self.bands.append(band)
        self.separated = pg.BarGraphItem(
            x0=[a for a, _ in separated_spans],
            x1=[b for _, b in separated_spans],
            y0=0.0,
            height=(1 - BAND_FILL) / 4,
            brush=pg.mkBrush(SEPARATED_COLOUR),
            pen=pg.mkPen(None),
        )
        self.plot.addItem(self.separated)
        self.vb.setYRange(0, max(n, 1), padding=0)
        self.plot.setFixedHeight(max(n, 1) * BAND_PIXELS)
        self.setFixedHeight(max(n, 1) * BAND_PIXELS + 2)
        if self.selected is not None and self.selected[0] >= n:
            self.clear_selection()

    def _set_editors(self, names: list[str], colours: list[str]) -> None:
        while len(self.editors) < len(names):
            k = len(self.editors)
            editor = QLineEdit(self.header)
            editor.setFixedHeight(BAND_PIXELS)
            editor.setFrame(False)
            editor.setToolTip("The person's name (Enter to rename)")
            editor.editingFinished.connect(lambda k=k: self._renamed(k))
            self.header_layout.addWidget(editor)
            self.editors.append(editor)
        for k, editor in enumerate(self.editors):
            editor.setVisible(k < len(names))
            if k < len(names):
                editor.blockSignals(True)
                editor.setText(names[k])
                editor.blockSignals(False)
                editor.setStyleSheet(
                    f"color: {colours[k]}; font-weight: bold; background: transparent;"
                )

    def _renamed(self, k: int) -> None:
        if k < len(self.names) and self.editors[k].text().strip() != self.names[k]:
            self.rename_requested.emit(k, self.editors[k].text())

    def _y(self, person: int) -> float:
        """The bottom of ``person``'s band (person 0 on top)."""
        return float(len(self.names) - 1 - person)

    # --- reading and selecting -----------------------------------------------------------------
    def turn_at(self, t: float, y: float):
        """The turn under view point ``(t, y)``, or None."""
        person = len(self.names) - 1 - int(np.floor(y))
        if not 0 <= person < len(self.names):
            return None
        return next((u for u in self.turns if u.speaker == person and u.start <= t < u.end), None)

    def _view_point(self, pos):
        if not self.vb.sceneBoundingRect().contains(pos):
            return None
        point = self.vb.mapSceneToView(pos)
        return point.x(), point.y()

    def _hover(self, pos) -> None:
        point = self._view_point(pos)
        turn = self.turn_at(*point) if point else None
        self.plot.setToolTip(
            turn_text(self.names[turn.speaker], turn.start, turn.end, turn.confidence)
            if turn
            else ""
        )

    def _clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or event.double():
            return
        point = self._view_point(event.scenePos())
        turn = self.turn_at(*point) if point else None
        if turn is not None:
            self.select(turn.speaker, turn.start, turn.end)
            self.turn_clicked.emit(turn.speaker, turn.start, turn.end)

    def select(self, person: int, start: float, end: float) -> None:
        """Show ``[start, end)`` of ``person`` selected (no signal)."""
        self.selected = (person, float(start), float(end))
        self.region.blockSignals(True)
        self.region.setRegion((start, end))
        self.region.blockSignals(False)
        self.region.show()

    def clear_selection(self) -> None:
        self.selected = None
        self.region.hide()

    def _region_changed(self, *_args) -> None:
        if self.selected is None:
            return
        start, end = self.region.getRegion()
        self.selected = (self.selected[0], float(start), float(end))
        self.stretch_selected.emit(self.selected[0], float(start), float(end))

    def set_playhead(self, t: float) -> None:
        self.plot.link.set_playhead(t)
