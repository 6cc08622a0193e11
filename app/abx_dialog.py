"""The blind A/B/X dialog: pick two results and a source, then listen and answer, keyboard only
if you like (A, B, X play; 1: X is A, 2: X is B; Enter: next trial). See ``app.abx`` for the test.

Clips play through the window's transport (so through the same player as everything else): the
dialog borrows it, and gives back the window's tracks, their solo / mute / gain, the position and
the loop when it closes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.abx import CLIP_SECONDS, TRIALS, AbxTest, new_test
from app.mixer import TrackState

KEYS_HELP = (
    "Keys: <b>A</b>, <b>B</b>, <b>X</b> play; <b>1</b>: X is A, <b>2</b>: X is B; "
    "<b>Enter</b>: next trial. Clips are loudness-matched (same RMS over their active "
    "samples); X is A or B at random, told only at the end."
)
CLIP_FROM = ("random places", "the play head")


class AbxDialog(QDialog):
    test_finished = Signal(object)  # the AbxTest

    def __init__(
        self,
        session,
        transport,
        tracks_provider: Callable[[], dict],
        playhead: float = 0.0,
        parent: Optional[QWidget] = None,
        seed: Optional[int] = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Blind A/B/X test")
        self.session, self.transport = session, transport
        self.tracks_provider = tracks_provider
        self.playhead = playhead
        self.seed = seed  # None: a fresh random seed per test (kept in test.seed)
        self.test: Optional[AbxTest] = None
        self.played: list[tuple[str, int]] = []  # ("A" / "B" / "X", trial) in order
        self._saved = None  # the window's transport state while the dialog borrows it

        from app.views.metrics import ordered_results

        keys = [k for k, _ in ordered_results(session)]  # models first, then the oracles
        setup = QGroupBox("Compare", self)
        form = QFormLayout(setup)
        self.combo_a, self.combo_b = QComboBox(setup), QComboBox(setup)
        for combo, index in ((self.combo_a, 0), (self.combo_b, 1)):
            combo.addItems(keys)
            combo.setCurrentIndex(min(index, len(keys) - 1))
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.source = QComboBox(setup)
        self.source.addItems([f"Source {c + 1}" for c in range(session.n_columns() if keys else 0)])
        self.trials = QSpinBox(setup)
        self.trials.setRange(1, 50)
        self.trials.setValue(TRIALS)
        self.clip_seconds = QDoubleSpinBox(setup)
        self.clip_seconds.setRange(1.0, 10.0)
        self.clip_seconds.setSingleStep(0.5)
        self.clip_seconds.setValue(CLIP_SECONDS)
        self.clip_seconds.setSuffix(" s")
        self.clip_from = QComboBox(setup)
        self.clip_from.addItems(list(CLIP_FROM))
        form.addRow("A", self.combo_a)
        form.addRow("B", self.combo_b)
        form.addRow("Source", self.source)
        form.addRow("Trials", self.trials)
        form.addRow("Clip length", self.clip_seconds)
        form.addRow("Clips from", self.clip_from)
        self.start_button = QPushButton("Start", setup)
        self.start_button.clicked.connect(self.start)
        # Without an audio output the clips would be silence and the p-value meaningless.
        self.no_playback = "" if transport.available else transport.player.unavailable_reason
        if self.no_playback:
            self.start_button.setToolTip(f"Playback unavailable: {self.no_playback}")
        form.addRow(self.start_button)

        self.trial_box = QGroupBox("Listen", self)
        tl = QVBoxLayout(self.trial_box)
        self.trial_label = QLabel("", self.trial_box)
        self.trial_label.setStyleSheet("font-weight: bold;")
        plays = QHBoxLayout()
        self.play_buttons = {}
        for name in ("A", "B", "X"):
            b = QPushButton(f"Play {name}  [{name}]", self.trial_box)
            b.clicked.connect(lambda _=False, n=name: self.play(n))
            self.play_buttons[name] = b
            plays.addWidget(b)
        answers = QHBoxLayout()
        self.answer_a = QPushButton("X is A  [1]", self.trial_box)
        self.answer_b = QPushButton("X is B  [2]", self.trial_box)
        self.next_button = QPushButton("Next  [Enter]", self.trial_box)
        self.answer_a.clicked.connect(lambda: self.answer("A"))
        self.answer_b.clicked.connect(lambda: self.answer("B"))
        self.next_button.clicked.connect(self.next_trial)
        for b in (self.answer_a, self.answer_b, self.next_button):
            answers.addWidget(b)
        self.choice_label = QLabel("", self.trial_box)
        tl.addWidget(self.trial_label)
        tl.addLayout(plays)
        tl.addLayout(answers)
        tl.addWidget(self.choice_label)
        for b in self.findChildren(QPushButton):  # Enter is "next", never a default button
            b.setAutoDefault(False)
            b.setDefault(False)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)

        help_label = QLabel(KEYS_HELP, self)
        help_label.setWordWrap(True)
        help_label.setStyleSheet("color: #a0a0a0;")
        self.result_label = QLabel("", self)
        self.result_label.setWordWrap(True)
        self.result_label.setStyleSheet("font-weight: bold;")
        close = QPushButton("Close", self)
        close.setAutoDefault(False)
        close.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        close.clicked.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(setup)
        layout.addWidget(self.trial_box)
        layout.addWidget(help_label)
        layout.addWidget(self.result_label)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignRight)
        self.finished.connect(lambda _r: self.give_back())
        self._update()

    # --- the test ------------------------------------------------------------------------------
    def start(self) -> Optional[AbxTest]:
        if self.no_playback:
            self.result_label.setText(f"Playback unavailable: {self.no_playback}")
            return None
        s = self.session
        a, b = self.combo_a.currentText(), self.combo_b.currentText()
        column = self.source.currentIndex()
        if not a or not b or a == b or column < 0:
            self.result_label.setText("Choose two different results and a source.")
            return None
        oa, ob = s.order(a), s.order(b)
        ia = oa[column] if column < len(oa) else -1
        ib = ob[column] if column < len(ob) else -1
        if ia < 0 or ib < 0:
            self.result_label.setText(
                f"Source {column + 1} is missing from one of the two results."
            )
            return None
        at = self.playhead if self.clip_from.currentIndex() == 1 else None
        self.test = new_test(
            s.results[a].result.waveforms[ia],
            s.results[b].result.waveforms[ib],
            s.sample_rate,
            a,
            b,
            column,
            trials=self.trials.value(),
            clip_seconds=self.clip_seconds.value(),
            seed=self.seed,
            at=at,
        )
        self.played.clear()
        self.result_label.setText("")
        self._update()
        self.setFocus()
        return self.test

    def play(self, which: str) -> None:
        t = self.test
        if t is None or t.finished:
            return
        self.borrow()
        tr = self.transport
        tr.pause()
        tr.set_tracks({"abx": t.clip(which)}, {"abx": TrackState()})
        tr.mixer.set_loop(None)
        tr.seek(0.0)
        tr.play()
        self.played.append((which, t.trial))

    def answer(self, choice: str) -> None:
        if self.test is None or self.test.finished:
            return
        self.test.answer(choice)
        self._update()

    def next_trial(self) -> None:
        t = self.test
        if t is None or t.finished or not t.answered:
            return
        self.transport.pause()
        t.next()
        if t.finished:
            self.result_label.setText(t.tally())
            self.test_finished.emit(t)
        self._update()

    def _update(self) -> None:
        t = self.test
        running = t is not None and not t.finished
        self.trial_box.setEnabled(running)
        for w in (
            self.combo_a,
            self.combo_b,
            self.source,
            self.trials,
            self.clip_seconds,
            self.clip_from,
            self.start_button,
        ):
            w.setEnabled(not running)
        self.start_button.setEnabled(not running and not self.no_playback)
        self.start_button.setText("Start again" if t is not None and t.finished else "Start")
        if running:
            self.trial_label.setText(
                f"Trial {t.trial + 1} of {t.trials}: {t.a_key} (A) or "
                f"{t.b_key} (B), source {t.column + 1}"
            )
            self.choice_label.setText(
                f"Your answer: X is {t.answers[t.trial]}"
                if t.answered
                else "Listen to A, B and X, then answer."
            )
            self.next_button.setEnabled(t.answered)
        else:
            self.trial_label.setText("Choose two results and a source, then Start.")
            self.choice_label.setText("")

    def keyPressEvent(self, event) -> None:  # noqa: N802
        t = self.test
        if t is not None and not t.finished:
            key = event.key()
            plays = {Qt.Key.Key_A: "A", Qt.Key.Key_B: "B", Qt.Key.Key_X: "X"}
            if key in plays:
                self.play(plays[key])
                return
            if key == Qt.Key.Key_1:
                self.answer("A")
                return
            if key == Qt.Key.Key_2:
                self.answer("B")
                return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if t is not None and not t.finished:
                self.next_trial()
            elif self.start_button.isEnabled():
                self.start()
            return  # never closes the dialog
        super().keyPressEvent(event)

    # --- the transport -------------------------------------------------------------------------
    def borrow(self) -> None:
        """Remember the window's playback state before the first clip plays."""
        if self._saved is None:
            m = self.transport.mixer
            self._saved = ({n: m.state(n) for n in m.track_names()}, m.position_seconds, m.loop)
            self.transport.pause()

    def give_back(self) -> None:
        """The window's tracks, their states, position and loop, as before the dialog played."""
        if self._saved is None:
            return
        states, position, loop = self._saved
        self._saved = None
        tr = self.transport
        tr.pause()
        tr.set_tracks(self.tracks_provider(), states)
        tr.mixer.set_loop(*(loop or (None,)))
        tr.seek(position)
