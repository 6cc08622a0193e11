"""Corrections of who talks when in a conversation result (``app.meeting``): merge, split, move a
selected stretch, mark it as nobody's, rename, undo and redo; who talks when opened from an RTTM
file and saved to one; playing a stretch from the who-talks-when row. A correction replaces the
selected result's stems in the session (``Session.replace_result``), so the lanes, the metrics, the
quality timeline and A/B/X all follow; the files on disk change only when exported."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QInputDialog

from app.meeting import (
    CorrectionError,
    Merge,
    Move,
    Nobody,
    Rename,
    ReplaceTurns,
    SplitAt,
    SplitVoices,
)
from app.runner import JobSlot
from separation_core.errors import CocktailError

NO_MEETING = (
    "No who talks when to correct: run a separator with Mode Conversation (or Auto on a "
    "recording of 20 s or more) in the run options, and listen to its result."
)
NO_SELECTION = (
    "Select a stretch first: click a person's band in who talks when, above the lanes "
    "(drag the edges of the range to change it)."
)
NEW_PERSON = "A new person"


class MeetingController(QObject):
    corrected = Signal(str)  # a result's stems changed (a correction, undo or redo): its key

    def __init__(self, w) -> None:
        super().__init__(w)
        self.w = w
        self.selection: Optional[tuple[int, float, float]] = None  # person, start, end (seconds)
        self._stop_at: Optional[float] = None  # a stretch being played ends there
        self.voice_job = JobSlot(w.runner)  # a second clustering of a person's stretches
        row = w.lanes.turns_row
        row.turn_clicked.connect(self.play_stretch)
        row.stretch_selected.connect(self.select)
        row.rename_requested.connect(self.rename)
        w.transport.position_changed.connect(self._follow)

    # --- what is corrected ---------------------------------------------------------------------
    def record(self):
        """The selected result when it is a conversation result (None otherwise)."""
        record = self.w.session.selected_record()
        return record if record is not None and record.meeting is not None else None

    def _needed(self):
        record = self.record()
        if record is None:
            self.w.show_error(NO_MEETING)
        return record

    def apply(self, correction) -> bool:
        """Make ``correction`` on the selected result; a refusal is shown in one line."""
        record = self._needed()
        if record is None:
            return False
        try:
            change = record.meeting.apply(correction)
        except CorrectionError as e:
            self.w.show_error(str(e))
            return False
        self._changed(record, change.label[0].upper() + change.label[1:])
        return True

    def undo(self) -> bool:
        return self._step("undo", "Undone")

    def redo(self) -> bool:
        return self._step("redo", "Redone")

    def _step(self, direction: str, done: str) -> bool:
        """Undo or redo the last correction (``direction``: "undo" or "redo")."""
        record = self._needed()
        if record is None:
            return False
        change = getattr(record.meeting, direction)()
        if change is None:
            self.w.notify(f"Nothing to {direction}", 4000)
            return False
        self._changed(record, f"{done}: {change.label}")
        return True

    def _changed(self, record, text: str) -> None:
        w = self.w
        w.session.replace_result(record.key, record.meeting.result(record.result))
        self.selection = None
        w.lanes.turns_row.clear_selection()
        self.update_actions()
        w.results_changed()
        w.notify(f"{text} (the exported files change when exported again)", 8000)
        self.corrected.emit(record.key)

    # --- the corrections -----------------------------------------------------------------------
    def merge(self, kept: int, absorbed: int) -> bool:
        return self.apply(Merge(kept, absorbed))

    def split_at(self, person: int, seconds: float) -> bool:
        return self.apply(SplitAt(person, seconds))

    def rename(self, person: int, name: str) -> bool:
        return self.apply(Rename(person, name))

    def move_selection(self, to: Optional[int] = None) -> bool:
        """The selected stretch to person ``to`` (None: a new person)."""
        if self._needed() is None:
            return False
        if self.selection is None:
            self.w.show_error(NO_SELECTION)
            return False
        person, start, end = self.selection
        return self.apply(Move(person, start, end, to))

    def selection_is_nobody(self) -> bool:
        if self._needed() is None:
            return False
        if self.selection is None:
            self.w.show_error(NO_SELECTION)
            return False
        return self.apply(Nobody(*self.selection))

    def select(self, person: int, start: float, end: float) -> None:
        """The stretch the corrections act on; played, that person alone."""
        self.selection = (int(person), float(start), float(end))
        self.w.lanes.turns_row.select(*self.selection)
        self.update_actions()
        self.play_stretch(person, start, end, alone=True)

    # --- asking --------------------------------------------------------------------------------
    def _ask_person(self, title: str, label: str, extra=(), skip: int = -1) -> Optional[int]:
        """A person picked in a list (an index; ``len(names) + i`` for ``extra[i]``)."""
        names = list(self.record().meeting.plan.names)
        items = [n for k, n in enumerate(names) if k != skip] + list(extra)
        choice, ok = QInputDialog.getItem(self.w, title, label, items, 0, False)
        if not ok:
            return None
        if choice in extra:
            return len(names) + list(extra).index(choice)
        return names.index(choice)

    def ask_merge(self) -> None:
        if self._needed() is None:
            return
        absorbed = self._ask_person("Merge people", "Merge this person:")
        if absorbed is None:
            return
        kept = self._ask_person("Merge people", "into:", skip=absorbed)
        if kept is not None:
            self.merge(kept, absorbed)

    def ask_move(self) -> None:
        if self._needed() is None:
            return
        if self.selection is None:
            self.w.show_error(NO_SELECTION)
            return
        names = self.record().meeting.plan.names
        to = self._ask_person(
            "Move the stretch",
            f"Give {names[self.selection[0]]}'s stretch to:",
            extra=(NEW_PERSON,),
            skip=self.selection[0],
        )
        if to is not None:
            self.move_selection(None if to >= len(names) else to)

    def split_at_playhead(self) -> None:
        """Split the selected stretch's person (else one asked for) at the play head."""
        if self._needed() is None:
            return
        person = self.selection[0] if self.selection else self._ask_person("Split", "Split:")
        if person is not None:
            self.split_at(person, self.w.transport.mixer.position_seconds)

    def split_by_voice(self, person: Optional[int] = None):
        """Split ``person`` (else the selected stretch's, else one asked for) by a second
        clustering of the stretches where they talk alone, off the GUI thread; the correction
        is made when it is done (the job's handle; None when nothing started)."""
        from app.jobs.voice_split import VoiceSplitJob

        record = self._needed()
        if record is None:
            return None
        if person is None:
            person = self.selection[0] if self.selection else self._ask_person("Split", "Split:")
        if person is None:
            return None
        meeting = record.meeting
        try:
            talks, solo = meeting.alone(person)
        except CorrectionError as e:
            self.w.show_error(str(e))
            return None
        plan, name = meeting.plan, meeting.plan.names[person]
        self.w.notify(f"Listening to {name}'s stretches for a second voice…")
        job = VoiceSplitJob(meeting.mixture, meeting.sample_rate, talks, solo)
        return self.voice_job.start(
            job,
            on_done=lambda labels: self._voices_found(record, plan, person, labels),
            on_error=self.w.job_failed,
        )

    def _voices_found(self, record, plan, person: int, labels) -> None:
        if record.meeting.plan is not plan or self.record() is not record:
            self.w.show_error(
                "The meeting changed while a second voice was looked for: split again"
            )
            return
        self.apply(SplitVoices(person, labels == 1))

    def ask_rename(self) -> None:
        if self._needed() is None:
            return
        person = self.selection[0] if self.selection else self._ask_person("Rename", "Rename:")
        if person is None:
            return
        old = self.record().meeting.plan.names[person]
        name, ok = QInputDialog.getText(self.w, "Rename", f"New name for {old}:", text=old)
        if ok:
            self.rename(person, name)

    # --- RTTM ----------------------------------------------------------------------------------
    def open_rttm(self, path=None) -> bool:
        """Who talks when from an RTTM file (pyannote's, another tool's): the stems assembled
        from it, undoable."""
        from separation_core.io.rttm import read_rttm

        record = self._needed()
        if record is None:
            return False
        if path is None:
            path, _ = QFileDialog.getOpenFileName(
                self.w, "Open who talks when", "", "RTTM files (*.rttm);;All files (*)"
            )
            if not path:
                return False
        try:
            turns, names = read_rttm(path, duration=self.w.session.duration)
        except CocktailError as e:
            self.w.show_error(str(e))
            return False
        if not turns:
            self.w.show_error(f"{path}: every turn starts after the end of the recording")
            return False
        return self.apply(ReplaceTurns(tuple(turns), tuple(names), Path(path).name))

    def save_rttm(self, path=None) -> Optional[Path]:
        """The current who talks when as an RTTM file (the stems are exported with Export)."""
        from separation_core.io.rttm import write_rttm

        record = self._needed()
        if record is None:
            return None
        s = self.w.session
        stem = s.path.stem if s.path else "recording"
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self.w, "Save who talks when", f"{stem}.rttm", "RTTM files (*.rttm)"
            )
            if not path:
                return None
        try:
            written = write_rttm(path, record.meeting.turns(), stem, record.meeting.plan.names)
        except OSError as e:
            self.w.show_error(f"{path}: cannot write the RTTM file ({e.strerror or e})")
            return None
        self.w.notify(f"Saved who talks when to {written}", 6000)
        return written

    # --- playing a stretch ---------------------------------------------------------------------
    def play_stretch(self, person: int, start: float, end: float, alone: bool = False) -> None:
        """Play ``[start, end)`` and stop there; ``alone``: only ``person``'s lane is heard."""
        w = self.w
        if alone:
            name = self._track_of(person)
            for lane in w.lanes.visible_lanes():
                lane.solo.setChecked(lane.name == name)
        w.transport.seek(start)
        self._stop_at = end
        if w.transport.available and not w.transport.is_playing:
            w.transport.play()

    def _track_of(self, person: int) -> Optional[str]:
        record = self.record()
        if record is None:
            return None
        order = self.w.session.order(record.key)
        return f"s{order.index(person) + 1}" if person in order else None

    def _follow(self, t: float) -> None:
        if self._stop_at is not None and t >= self._stop_at:
            self._stop_at = None
            if self.w.transport.is_playing:
                self.w.transport.pause()

    # --- menus ---------------------------------------------------------------------------------
    def install(self) -> None:
        """The Meeting menu (before View) and the RTTM entries of the File menu."""
        w = self.w

        def action(text, slot, shortcut=None, tip=""):
            a = QAction(text, w)
            if shortcut:
                keys = shortcut if isinstance(shortcut, (list, tuple)) else [shortcut]
                a.setShortcuts([QKeySequence(k) for k in keys])
            a.setToolTip(tip)
            a.setStatusTip(tip)
            a.triggered.connect(lambda _checked=False: slot())
            w.addAction(a)
            return a

        self.act_undo = action("&Undo", self.undo, QKeySequence.StandardKey.Undo)
        self.act_redo = action("&Redo", self.redo, ["Ctrl+Shift+Z", "Ctrl+Y"])
        self.act_merge = action(
            "&Merge people…", self.ask_merge, "Ctrl+M", "One person found as two: join them"
        )
        self.act_split = action(
            "&Split at the play head",
            self.split_at_playhead,
            "Ctrl+Shift+T",
            "Two people found as one: from the play head on, the selected person's speech is "
            "a new person's",
        )
        self.act_split_voice = action(
            "Split by &voice (a second clustering)",
            lambda: self.split_by_voice(),
            tip="Two people found as one: the stretches where the selected person talks alone "
            "are clustered in two, and the second voice's speech goes to a new person",
        )
        self.act_move = action(
            "Mo&ve the stretch to…",
            self.ask_move,
            "Ctrl+Shift+M",
            "The selected stretch was said by someone else",
        )
        self.act_move_new = action(
            "Move the stretch to a &new person",
            lambda: self.move_selection(None),
            "Ctrl+Shift+N",
        )
        self.act_nobody = action(
            "The stretch is &nobody (noise)",
            self.selection_is_nobody,
            "Delete",
            "The selected stretch is no one's speech: silent in that person's stem",
        )
        self.act_rename = action("Re&name…", self.ask_rename, "F2")
        self.act_open_rttm = action(
            "Open &who talks when (RTTM)…",
            self.open_rttm,
            tip="Assemble the stems from an RTTM file (pyannote's or another tool's)",
        )
        self.act_save_rttm = action(
            "Save who talks when (RT&TM)…", self.save_rttm, tip="Write the current turns"
        )
        bar = w.menuBar()
        menus = {a.text(): a for a in bar.actions()}
        menu = bar.addMenu("&Meeting")
        bar.insertMenu(menus.get("&View"), menu)
        for a in (
            self.act_undo,
            self.act_redo,
            None,
            self.act_merge,
            self.act_split,
            self.act_split_voice,
        ):
            menu.addSeparator() if a is None else menu.addAction(a)
        for a in (self.act_move, self.act_move_new, self.act_nobody, None, self.act_rename):
            menu.addSeparator() if a is None else menu.addAction(a)
        file_menu = menus["&File"].menu()
        file_menu.insertAction(w.act_export, self.act_open_rttm)
        file_menu.insertAction(w.act_export, self.act_save_rttm)
        self.update_actions()

    def update_actions(self) -> None:
        """The undo and redo entries name what they would do (with nothing to do, they say so)."""
        if not hasattr(self, "act_undo"):
            return
        record = self.record()
        meeting = record.meeting if record is not None else None
        last = meeting.done[-1].label if meeting is not None and meeting.done else ""
        back = meeting.undone[-1].label if meeting is not None and meeting.undone else ""
        self.act_undo.setText(f"&Undo {last}" if last else "&Undo")
        self.act_redo.setText(f"&Redo {back}" if back else "&Redo")
