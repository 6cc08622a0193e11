"""Every action of the main window, through its shortcut (keys sent to the window), through its menu
entry (a click on the open menu) and, for Separate, through its toolbar button: no exception, and
the action does what it says. Dialogs are patched."""

import logging

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QFileDialog, QMenu

from conftest import SR, open_mixture, synthetic_sources

# every shortcut of every action: (action attribute, key sequence)
SHORTCUTS = [
    ("act_open", "Ctrl+O"),
    ("act_refs", "Ctrl+Shift+O"),
    ("act_export", "Ctrl+E"),
    ("act_quit", "Ctrl+Q"),
    ("act_separate", "Ctrl+R"),
    ("act_stop", "Esc"),
    ("act_play", "Space"),
    ("act_loop", "L"),
    ("act_zoom_in", "="),
    ("act_zoom_in", "+"),
    ("act_zoom_in", "Ctrl+="),
    ("act_zoom_out", "-"),
    ("act_zoom_out", "Ctrl+-"),
    ("act_pan_left", "Left"),
    ("act_pan_right", "Right"),
    ("act_fit", "Home"),
    ("view:0", "Ctrl+1"),
    ("view:1", "Ctrl+2"),
    ("view:2", "Ctrl+3"),
    ("view:3", "Ctrl+4"),
    ("act_guide", "F1"),
    ("act_chunks", "Ctrl+K"),
    ("act_abx", "Ctrl+B"),
    # the Meeting menu: corrections of a conversation result (tests/meeting_helpers.py)
    ("meeting.act_undo", "Ctrl+Z"),
    ("meeting.act_redo", "Ctrl+Shift+Z"),
    ("meeting.act_redo", "Ctrl+Y"),
    ("meeting.act_merge", "Ctrl+M"),
    ("meeting.act_split", "Ctrl+Shift+T"),
    ("meeting.act_move", "Ctrl+Shift+M"),
    ("meeting.act_move_new", "Ctrl+Shift+N"),
    ("meeting.act_nobody", "Del"),
    ("meeting.act_rename", "F2"),
]
MENU_ENTRIES = sorted(
    {name for name, _ in SHORTCUTS}
    | {"act_ckpt", "act_about", "act_untrained", "act_timeline"}
    | {"meeting.act_open_rttm", "meeting.act_save_rttm"}
)


def action(window, name: str) -> QAction:
    if name.startswith("view:"):
        return window.view_actions[int(name[5:])]
    if name.startswith("meeting."):
        return getattr(window.meeting, name.split(".", 1)[1])
    return getattr(window, name)


class Scenario:
    """Prepares the window for one action and checks its effect afterwards."""

    def __init__(self, qtbot, window, tmp_path, monkeypatch):
        self.qtbot, self.w, self.tmp, self.mp = qtbot, window, tmp_path, monkeypatch
        self.calls: list = []

    def mixture(self, path=None):
        if path is None:
            path = self.tmp / "first.wav"
            sf.write(path, synthetic_sources(seconds=2.0).sum(0), SR)
        open_mixture(self.qtbot, self.w, path)
        self.w.axis.set_range(0.5, 1.5)

    def prepare(self, name: str, audio_files) -> None:
        w = self.w
        mix, refs = audio_files
        if name.startswith("meeting."):
            self.prepare_meeting(name.split(".", 1)[1])
            return
        if name not in ("act_quit", "act_ckpt", "act_about", "act_guide", "act_untrained"):
            self.mixture(mix if name == "act_refs" else None)
        if name == "act_open":
            self.mp.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(mix), ""))
        elif name == "act_refs":
            self.mp.setattr(
                QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(r) for r in refs], "")
            )
        elif name == "act_ckpt":
            self.mp.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: ("", ""))
        elif name == "act_export":
            from fakes import add_records, record

            n = len(w.session.mixture)
            add_records(w, record("fake", synthetic_sources(seconds=n / SR), None, None))
            from app.export_dialog import ExportDialog

            self.mp.setattr(ExportDialog, "exec", lambda dialog: self.calls.append(dialog) or 0)
        elif name == "act_stop":
            w.separate([w.models.default_id])
            assert w.separation.run_job.busy
            w.run_finished.connect(self.calls.append)
        elif name in ("act_about", "act_guide"):
            import app.main_window as mw

            self.mp.setattr(mw, "show_about_box", lambda parent: self.calls.append("about"))
            self.mp.setattr(mw, "show_guide_dialog", lambda parent: self.calls.append("guide"))
        elif name == "act_separate":
            w.run_finished.connect(self.calls.append)
        elif name in ("act_abx", "act_chunks"):
            from fakes import add_records, record

            n = len(w.session.mixture)
            add_records(
                w,
                *[
                    record(k, synthetic_sources(seconds=n / SR, seed=i), None, None)
                    for i, k in enumerate(("fake1", "fake2"))
                ],
            )
            from app.abx_dialog import AbxDialog

            self.mp.setattr(AbxDialog, "exec", lambda dialog: self.calls.append(dialog) or 0)

    def stems(self):
        return self.w.session.results["conv"].result.waveforms

    def prepare_meeting(self, name: str) -> None:
        """The synthetic meeting's conversation result selected, and what the correction needs:
        a selected stretch, the answers of its dialogs, a correction to undo or redo."""
        from PySide6.QtWidgets import QInputDialog

        from fakes import open_meeting

        w = self.w
        open_meeting(self.qtbot, w, self.tmp / "meeting")
        self.before = self.stems().copy()
        answers = {
            "act_merge": ["Person 3", "Person 1"],  # merge this person, into that one
            "act_move": ["Person 1"],
        }.get(name, [])
        self.mp.setattr(QInputDialog, "getItem", lambda *a, **k: (answers.pop(0), True))
        self.mp.setattr(QInputDialog, "getText", lambda *a, **k: ("Grace", True))
        rttm = self.tmp / "theirs.rttm"
        rttm.write_text(
            "SPEAKER meeting 1 0.000 3.000 <NA> <NA> ann <NA> <NA>\n"
            "SPEAKER meeting 1 2.500 3.500 <NA> <NA> bob <NA> <NA>\n"
            "SPEAKER meeting 1 6.500 2.500 <NA> <NA> cy <NA> <NA>\n"
        )
        self.mp.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(rttm), ""))
        self.saved = self.tmp / "saved.rttm"
        self.mp.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(self.saved), ""))
        if name in ("act_undo", "act_redo"):
            assert w.meeting.merge(0, 2)
        if name == "act_redo":
            assert w.meeting.undo()
        stretch = {
            "act_split": (0, 0.0, 3.0),
            "act_move": (2, 7.0, 8.0),
            "act_move_new": (1, 4.0, 5.0),
            "act_nobody": (0, 0.5, 1.5),
            "act_rename": (2, 7.0, 8.0),
        }.get(name)
        if stretch:
            w.meeting.select(*stretch)  # as a click on a band of who talks when
        w.transport.seek(5.0)  # the split's play head

    def check_meeting(self, name: str) -> None:
        """The correction's effect on the stems (``tests/meeting_helpers.py``: Person 1 talks
        0-3 s and 9.5-11 s, Person 2 2.5-6 s, Person 3 6.5-9 s)."""
        before, after = self.before, self.stems()
        result = self.w.session.results["conv"].result
        sr = result.sample_rate
        if name == "act_undo":
            np.testing.assert_array_equal(after, before)
        elif name in ("act_redo", "act_merge"):
            np.testing.assert_array_equal(after[0], before[0] + before[2])
            assert result.people == ["Person 1", "Person 2"]
        elif name == "act_split":  # from the play head (5 s) on, Person 1 is Person 4
            assert result.people[-1] == "Person 4"
            later = slice(int(9.5 * sr), 11 * sr)
            np.testing.assert_allclose(after[3, later], before[0, later], atol=1e-6)
            assert np.abs(after[0, later]).max() == 0.0
        elif name == "act_move":  # Person 3's 7-8 s is Person 1's
            inside = slice(int(7.05 * sr), int(7.95 * sr))
            np.testing.assert_allclose(after[0, inside], before[2, inside], atol=1e-6)
            assert np.abs(after[2, inside]).max() == 0.0
        elif name == "act_move_new":
            assert after.shape[0] == 4
            np.testing.assert_allclose(after[1] + after[3], before[1], atol=1e-6)
        elif name == "act_nobody":
            assert np.abs(after[0, int(0.55 * sr) : int(1.45 * sr)]).max() == 0.0
            np.testing.assert_array_equal(after[1:], before[1:])
        elif name == "act_rename":
            assert result.people == ["Person 1", "Person 2", "Grace"]
            np.testing.assert_array_equal(after, before)
        elif name == "act_open_rttm":
            assert result.people == ["ann", "bob", "cy"]
            assert np.abs(after[0, 10 * sr : int(10.5 * sr)]).max() == 0.0  # not in their file
        elif name == "act_save_rttm":
            lines = self.saved.read_text().splitlines()
            assert len(lines) == 4 and " Person_3 " in lines[2]

    def check(self, name: str, audio_files) -> None:
        w, qtbot = self.w, self.qtbot
        span = w.axis.t1 - w.axis.t0
        if name.startswith("meeting."):
            self.check_meeting(name.split(".", 1)[1])
        elif name == "act_open":
            qtbot.waitUntil(lambda: w.session.path == audio_files[0], timeout=10000)
        elif name == "act_refs":
            qtbot.waitUntil(lambda: w.session.references is not None, timeout=10000)
        elif name == "act_export":
            assert len(self.calls) == 1
        elif name == "act_quit":
            assert not w.isVisible()
        elif name == "act_separate":
            assert w.separation.run_job.busy
            qtbot.waitUntil(lambda: bool(self.calls), timeout=60000)
            assert w.models.default_id in w.session.results
        elif name == "act_stop":
            qtbot.waitUntil(lambda: self.calls == [None], timeout=5000)
            assert w.session.results == {}
        elif name == "act_play":
            assert w.transport.is_playing
            action(w, name).trigger()
            assert not w.transport.is_playing
        elif name == "act_loop":
            assert w.act_loop.isChecked() and w.lanes.loop_region.isVisible()
        elif name in ("act_zoom_in", "act_zoom_out"):
            assert span == pytest.approx(0.5 if name == "act_zoom_in" else 2.0)
        elif name in ("act_pan_left", "act_pan_right"):
            assert w.axis.t0 == pytest.approx(0.25 if name == "act_pan_left" else 0.75)
        elif name == "act_fit":
            assert (w.axis.t0, w.axis.t1) == pytest.approx((0.0, 2.0))
        elif name.startswith("view:"):
            assert w.tabs.currentIndex() == int(name[5:])
        elif name == "act_guide":
            assert self.calls == ["guide"]
        elif name == "act_about":
            assert self.calls == ["about"]
        elif name == "act_untrained":
            assert w.panel.show_untrained.isChecked() and not w.panel.item("dprnn").isHidden()
        elif name == "act_chunks":
            assert w.act_chunks.isChecked() and w.chunks.visible
        elif name == "act_abx":
            from app.abx_dialog import AbxDialog

            assert len(self.calls) == 1 and isinstance(self.calls[0], AbxDialog)
        elif name == "act_timeline":
            assert not w.act_timeline.isChecked() and not w.timeline.wanted


def no_errors(caplog, window) -> None:
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert bad == [] and window.errors == []


def test_every_shortcut_is_tested(window):
    found = {(a, k.toString()) for a in window.findChildren(QAction) for k in a.shortcuts()}
    expected = {(action(window, n), QKeySequence(k).toString()) for n, k in SHORTCUTS}
    assert found == expected


@pytest.mark.parametrize("name, keys", SHORTCUTS, ids=[f"{n}-{k}" for n, k in SHORTCUTS])
def test_shortcut(qtbot, window, audio_files, tmp_path, monkeypatch, caplog, name, keys):
    if name.startswith("view:"):
        window.set_view("masks" if name == "view:0" else "listen")
    s = Scenario(qtbot, window, tmp_path, monkeypatch)
    s.prepare(name, audio_files)
    window.activateWindow()
    target = window.tabs if action(window, name) in window.navigation_actions else window
    target.setFocus()
    with qtbot.captureExceptions() as exceptions:
        QTest.keySequence(target, QKeySequence(keys))
        qtbot.wait(20)
    assert exceptions == []
    s.check(name, audio_files)
    no_errors(caplog, window)


def menu_of(window, act: QAction) -> QMenu:
    for top in window.menuBar().actions():
        if act in top.menu().actions():
            return top.menu()
    raise AssertionError(f"{act.text()} is in no menu")


@pytest.mark.parametrize("name", MENU_ENTRIES)
def test_menu_entry(qtbot, window, audio_files, tmp_path, monkeypatch, caplog, name):
    if name.startswith("view:"):
        window.set_view("masks" if name == "view:0" else "listen")
    s = Scenario(qtbot, window, tmp_path, monkeypatch)
    s.prepare(name, audio_files)
    act = action(window, name)
    menu = menu_of(window, act)
    with qtbot.captureExceptions() as exceptions:
        menu.popup(window.mapToGlobal(QPoint(10, 10)))
        qtbot.waitUntil(menu.isVisible)
        QTest.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(act).center())
        qtbot.wait(20)
    assert exceptions == []
    s.check(name, audio_files)
    no_errors(caplog, window)


def test_toolbar_separate_runs_the_ticked_models(qtbot, window, audio_files, tmp_path, monkeypatch):
    s = Scenario(qtbot, window, tmp_path, monkeypatch)
    s.prepare("act_separate", audio_files)
    button = window.toolbar.widgetForAction(window.act_separate)
    with qtbot.captureExceptions() as exceptions:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert exceptions == []
    s.check("act_separate", audio_files)
