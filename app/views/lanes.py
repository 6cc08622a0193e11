"""The Listen view: the mixture lane on top, then one lane per separated source of the selected
result (PIT-aligned columns), each with solo / mute / gain, a waveform and a spectrogram."""

from __future__ import annotations

from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.mixer import TrackState
from app.views.elided import ElidedLabel
from app.views.spectrogram import SpectrogramView, spectrogram_levels
from app.views.style import MIXTURE_COLOUR, source_colour
from app.views.timeplot import TimeAxis
from app.views.waveform import WaveformView

HEADER_WIDTH = 132
DROP_HINT = (
    "Open a mixture: File > Open (Ctrl+O), File > Open recent, or drop an audio file on the "
    "window. Drop the mixture together with its reference sources (the mixture first) to "
    "open both. With a mixture open, drop one file to open it instead, or several files "
    "(one per speaker) to add them as the mixture's reference sources."
)


def person_colours(order: list[int], n_people: int) -> list[str]:
    """Each person's colour: their lane's (the column ``order`` shows them in)."""
    column = {i: c for c, i in enumerate(order) if i >= 0}
    return [source_colour(column.get(k, k)) for k in range(n_people)]


class Lane(QWidget):
    """Header (name, S, M, gain in dB) beside a waveform over a spectrogram."""

    state_changed = Signal(str, object)  # track name, TrackState

    def __init__(
        self,
        name: str,
        title: str,
        colour: str,
        axis: TimeAxis,
        parent: Optional[QWidget] = None,
        *,
        wave_height: int = 52,
        spec_height: int = 92,
        time_axis: bool = False,
    ) -> None:
        super().__init__(parent)
        self.name = name
        header = QWidget(self)
        header.setFixedWidth(HEADER_WIDTH)
        hl = QVBoxLayout(header)
        hl.setContentsMargins(4, 2, 4, 2)
        hl.setSpacing(3)
        self.title = QLabel(title, header)
        self.title.setStyleSheet(f"font-weight: bold; color: {colour};")
        self.title.setWordWrap(True)
        hl.addWidget(self.title)
        row = QHBoxLayout()
        row.setSpacing(3)
        self.solo = QToolButton(header)
        self.solo.setText("S")
        self.solo.setCheckable(True)
        self.solo.setToolTip("Solo: hear only the soloed lanes")
        self.mute = QToolButton(header)
        self.mute.setText("M")
        self.mute.setCheckable(True)
        self.mute.setToolTip("Mute this lane")
        for b in (self.solo, self.mute):
            b.setFixedWidth(26)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            row.addWidget(b)
        self.gain = QDoubleSpinBox(header)
        self.gain.setRange(-60.0, 12.0)
        self.gain.setSingleStep(1.0)
        self.gain.setDecimals(0)
        self.gain.setSuffix(" dB")
        self.gain.setToolTip("Gain of this lane")
        self.gain.setKeyboardTracking(False)
        row.addWidget(self.gain)
        hl.addLayout(row)
        hl.addStretch(1)
        self.solo.setStyleSheet("QToolButton:checked { background: #d4a017; color: black; }")
        self.mute.setStyleSheet("QToolButton:checked { background: #c0392b; color: white; }")

        plots = QWidget(self)
        pl = QVBoxLayout(plots)
        pl.setContentsMargins(0, 0, 0, 0)
        pl.setSpacing(0)
        self.wave = WaveformView(axis, colour, plots, height=wave_height)
        self.spec = SpectrogramView(axis, plots, height=spec_height, show_time_axis=time_axis)
        pl.addWidget(
            self.wave, 1
        )  # a taller lane gives a third to the waveform, two to the spectrogram
        pl.addWidget(self.spec, 2)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 1, 0, 1)
        layout.setSpacing(2)
        layout.addWidget(header)
        layout.addWidget(plots, 1)
        # At least this tall; lanes share out whatever height the window has beyond that.
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumHeight(wave_height + spec_height + (28 if time_axis else 4))
        self.solo.toggled.connect(self._emit)
        self.mute.toggled.connect(self._emit)
        self.gain.valueChanged.connect(self._emit)

    def plots(self) -> list:
        return [self.wave, self.spec]

    def set_signal(self, samples: Optional[np.ndarray], sample_rate: int, levels=None) -> None:
        self.wave.set_signal(samples, sample_rate)
        self.spec.set_signal(samples, sample_rate, levels)

    def set_state(self, state: TrackState) -> None:
        for w, v in ((self.solo, state.solo), (self.mute, state.mute), (self.gain, state.gain_db)):
            w.blockSignals(True)
            (w.setValue if w is self.gain else w.setChecked)(v)
            w.blockSignals(False)

    def state(self) -> TrackState:
        return TrackState(
            gain_db=float(self.gain.value()), solo=self.solo.isChecked(), mute=self.mute.isChecked()
        )

    def _emit(self, *_args) -> None:
        self.state_changed.emit(self.name, self.state())


class LanesView(QWidget):
    """Emits ``state_changed(track, TrackState)``; track names are "mixture" and "s1", "s2", ..."""

    state_changed = Signal(str, object)

    def __init__(self, axis: TimeAxis, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.axis = axis
        self.levels = None
        self.playhead = 0.0
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.mixture = Lane(
            "mixture",
            "Mixture",
            MIXTURE_COLOUR,
            axis,
            self,
            wave_height=60,
            spec_height=110,
            time_axis=True,
        )
        self.mixture.state_changed.connect(self.state_changed)
        self.mixture.hide()
        layout.addWidget(self.mixture, 1)
        self.loop_region = pg.LinearRegionItem(
            brush=pg.mkBrush(255, 255, 255, 40), pen=pg.mkPen("#ffd54a", width=1.5)
        )
        self.loop_region.setZValue(500)
        self.loop_region.hide()
        self.mixture.wave.addItem(self.loop_region, ignoreBounds=True)
        self.hint = QLabel(DROP_HINT, self)
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: #a0a0a0; padding: 16px; font-size: 11pt;")
        layout.addWidget(self.hint)
        self.caption = ElidedLabel("", self)
        self.caption.setStyleSheet("color: #a0a0a0; padding: 3px;")
        layout.addWidget(self.caption)
        from app.views.turns_row import TurnsRow  # which imports this module (HEADER_WIDTH)

        self.turns_row = TurnsRow(axis, self)
        self.turns_row.hide()
        layout.addWidget(self.turns_row)
        self.scroll = QScrollArea(self)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.inner = QWidget(self.scroll)
        self.inner_layout = QVBoxLayout(self.inner)
        self.inner_layout.setContentsMargins(0, 0, 0, 0)
        self.inner_layout.setSpacing(0)
        self.inner_layout.addStretch(0)  # takes the height only while there are no lanes
        self.scroll.setWidget(self.inner)
        layout.addWidget(self.scroll, 1)
        self.lanes: list[Lane] = []

    def all_plots(self) -> list:
        return self.mixture.plots() + [p for lane in self.visible_lanes() for p in lane.plots()]

    def set_mixture(self, samples: Optional[np.ndarray], sample_rate: int) -> None:
        self.turns_row.hide()
        self.levels = spectrogram_levels(samples, sample_rate) if samples is not None else None
        self.hint.setVisible(samples is None)
        self.mixture.setVisible(samples is not None)
        self.mixture.set_signal(samples, sample_rate, self.levels)
        self.set_sources(None, [], sample_rate, "")

    def prepare(self, n: int) -> None:
        """Build hidden lanes ahead of time (a lane costs tens of milliseconds to build), so that
        showing a result does not stall the event loop."""
        while len(self.lanes) < n:
            i = len(self.lanes)
            lane = Lane(f"s{i + 1}", f"Source {i + 1}", source_colour(i), self.axis, self.inner)
            lane.hide()
            lane.state_changed.connect(self.state_changed)
            for plot in lane.plots():
                plot.link.set_playhead(self.playhead)
            self.inner_layout.insertWidget(i, lane, 1)
            self.lanes.append(lane)

    def set_sources(
        self,
        sources: Optional[list],
        titles: list[str],
        sample_rate: int,
        caption: str,
        states: Optional[dict] = None,
    ) -> None:
        """``sources``: one array (or None for an empty column) per lane, in column order."""
        states = states or {}
        sources = sources or []
        self.prepare(len(sources))
        for i, lane in enumerate(self.lanes):
            if i >= len(sources):
                lane.hide()
                lane.set_signal(None, sample_rate)
                continue
            x = sources[i]
            lane.title.setText(titles[i] if i < len(titles) else f"Source {i + 1}")
            lane.set_signal(x, sample_rate, self.levels)
            lane.setEnabled(x is not None)
            lane.set_state(states.get(lane.name, TrackState()))
            lane.show()
        self.caption.setText(caption)
        self.caption.setVisible(bool(caption))
        # the mixture lane and each source lane get equal shares of the height
        self.layout().setStretchFactor(self.scroll, max(1, len(sources)))

    def set_session(self, session) -> None:
        """The selected result's sources, a lane per column of its speaker order (``Session.order``);
        a lane keeps its solo / mute / gain (the mixer's, see app.controllers.playback)."""
        if session is None or not session.loaded:
            return
        record = session.selected_record()
        if record is None:
            self.set_sources([], [], session.sample_rate, "")
            self.turns_row.hide()
            return
        order = session.order(record.key)
        sources = [record.result.waveforms[i] if i >= 0 else None for i in order]
        anchor = "the references" if session.references is not None else next(iter(session.results))
        aligned = "in the model's order" if anchor == record.key else f"aligned to {anchor} by PIT"
        what = "people" if record.result.turns is not None else "sources"
        caption = f"{record.key}: {record.result.n_src} {what} in {record.seconds:.1f} s, {aligned}"
        states = {lane.name: lane.state() for lane, x in zip(self.lanes, sources) if x is not None}
        people = record.result.people
        titles = [
            people[i] if people and 0 <= i < len(people) else f"Source {c + 1}"
            for c, i in enumerate(order)
        ]
        self.set_sources(sources, titles, session.sample_rate, caption, states)
        self._show_turns(record.result, order)

    def _show_turns(self, result, order: list[int]) -> None:
        """Who talks when above the lanes (conversation results), each person in their lane's
        colour."""
        if result.turns is None:
            self.turns_row.hide()
            return
        self.turns_row.set_people(
            list(result.people),
            person_colours(order, len(result.people)),
            result.turns,
            result.separated_spans,
        )
        self.turns_row.show()

    def visible_lanes(self) -> list[Lane]:
        return [lane for lane in self.lanes if not lane.isHidden()]

    def set_mixture_state(self, state: TrackState) -> None:
        self.mixture.set_state(state)

    def set_playhead(self, t: float) -> None:
        """Every lane's line, hidden ones too: they show again with the next result."""
        self.playhead = t
        self.turns_row.set_playhead(t)
        for plot in self.mixture.plots() + [p for lane in self.lanes for p in lane.plots()]:
            plot.link.set_playhead(t)
