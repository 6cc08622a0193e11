"""Issue 32: the meeting in the studio. A synthetic three-person meeting with known turns: its lanes
and who talks when, each correction driven through the window and undone with the keys, the stems,
metrics (three references) and exports that follow."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import Qt
from meeting_helpers import SR, meeting_result

from conftest import open_mixture
from fakes import open_meeting


def s(seconds: float) -> int:
    return int(round(seconds * SR))


def si_sdr(est: np.ndarray, ref: np.ndarray) -> float:
    """Scale-invariant SDR (dB), written out: the estimate's projection on the reference."""
    est, ref = est.astype(np.float64) - est.mean(), ref.astype(np.float64) - ref.mean()
    target = (est @ ref) / (ref @ ref) * ref
    error = (est - target) @ (est - target)
    return float(10 * np.log10((target @ target) / error)) if error > 0 else np.inf


def assert_scored(evaluation, k: int, est: np.ndarray, ref: np.ndarray) -> None:
    """Reference ``k``'s SI-SDR is the formula's (a stem equal to its voice: over 100 dB)."""
    expected, got = si_sdr(est, ref), evaluation.per_source[k]["si_sdr"]
    assert got == pytest.approx(expected, abs=0.01) if expected < 100 else got > 100


@pytest.fixture
def meeting_window(qtbot, window, tmp_path):
    """The window with the meeting's mixture and its three voices as references, and the
    conversation result (as the separation job makes it) selected and scored."""
    result, voices, mixture = open_meeting(qtbot, window, tmp_path / "meeting", references=True)
    window.scoring.compute()
    wait_scored(qtbot, window)
    return window, voices, mixture, result


def wait_scored(qtbot, w):
    qtbot.waitUntil(
        lambda: not w.scoring.job.busy and w.session.results["conv"].evaluation is not None,
        timeout=60000,
    )


def stems(w) -> np.ndarray:
    return w.session.results["conv"].result.waveforms


def test_one_lane_per_person_named_and_who_talks_when_above(qtbot, meeting_window):
    w, voices, _, result = meeting_window
    w.set_view("listen")
    lanes = w.lanes.visible_lanes()
    order = w.session.order("conv")
    assert len(lanes) == 3
    assert [lane.title.text() for lane in lanes] == [f"Person {i + 1}" for i in order]
    row = w.lanes.turns_row
    assert row.isVisible() and len(row.bands) == 3
    assert [e.text() for e in row.editors[:3]] == ["Person 1", "Person 2", "Person 3"]
    # the person's colour is their lane's
    column = order.index(0)
    assert (
        lanes[column]
        .title.styleSheet()
        .count(row.editors[0].styleSheet().split("color: ")[1].split(";")[0])
    )
    turn = row.turn_at(7.0, 0.5)  # the bottom band: the third person
    assert (turn.speaker, turn.start, turn.end) == (2, 6.5, 9.0)
    from app.views.turns_row import turn_text

    assert turn_text("Person 3", 6.5, 9.0, None) == (
        "Person 3: 0:06.5 – 0:09.0 (2.5 s), confidence —"
    )
    # three references, three stems: each person's stem scored against their voice
    evaluation = w.session.results["conv"].evaluation
    for k in range(3):
        assert_scored(evaluation, k, stems(w)[evaluation.permutation[k]], voices[k])


def test_merge_sums_the_stems_rescores_and_undoes_to_the_last_sample(qtbot, meeting_window):
    w, voices, _, result = meeting_window
    before = stems(w).copy()
    assert w.meeting.merge(0, 2)
    after = stems(w)
    np.testing.assert_array_equal(after[0], before[0] + before[2])
    assert w.session.results["conv"].result.people == ["Person 1", "Person 2"]
    # two people; the third reference's column stays, empty
    assert [lane.isEnabled() for lane in w.lanes.visible_lanes()].count(True) == 2
    assert len(w.lanes.turns_row.bands) == 2
    assert "conv" not in w.session.exported
    wait_scored(qtbot, w)
    evaluation = w.session.results["conv"].evaluation
    assert len(evaluation.per_source) == 3  # three references, two stems: one left unmatched
    matched = [k for k in range(3) if evaluation.permutation[k] >= 0]
    for k in matched:
        assert_scored(evaluation, k, after[evaluation.permutation[k]], voices[k])
    # the quality timeline is computed again for the corrected stems
    qtbot.waitUntil(lambda: not w.quality.job.busy, timeout=60000)
    assert w.quality.cache["conv"][0] is w.session.results["conv"].result
    w.tabs.setFocus()
    qtbot.keyClick(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(stems(w), before)
    assert all(lane.isEnabled() for lane in w.lanes.visible_lanes())
    qtbot.keyClick(
        w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    np.testing.assert_array_equal(stems(w)[0], before[0] + before[2])


def test_a_selected_stretch_moved_to_another_person_moves_its_audio(qtbot, meeting_window):
    w, voices, mixture, _ = meeting_window
    before = stems(w).copy()
    w.meeting.select(2, 7.0, 8.0)  # as a click on the band and a drag of the range's edges
    assert w.meeting.selection == (2, 7.0, 8.0)
    assert w.lanes.turns_row.region.isVisible()
    assert w.meeting.move_selection(0)
    after = stems(w)
    np.testing.assert_allclose(after[0] - before[0], before[2] - after[2], atol=1e-6)
    inside = slice(s(7.05), s(7.95))
    np.testing.assert_allclose(after[0, inside], voices[2, inside], atol=1e-5)
    assert np.abs(after[2, inside]).max() == 0.0
    assert w.meeting.undo()
    np.testing.assert_array_equal(stems(w), before)
    assert not w.meeting.undo()  # past the start: a message, nothing changes
    np.testing.assert_array_equal(stems(w), before)
    assert not w.errors


def test_a_stretch_to_a_new_person_and_a_stretch_of_nobody(qtbot, meeting_window):
    w, _, _, _ = meeting_window
    before = stems(w).copy()
    w.meeting.select(1, 4.0, 5.0)
    assert w.meeting.move_selection(None)
    assert stems(w).shape[0] == 4 and len(w.lanes.visible_lanes()) == 4
    np.testing.assert_allclose(stems(w)[1] + stems(w)[3], before[1], atol=1e-6)
    w.meeting.select(0, 0.5, 1.5)
    assert w.meeting.selection_is_nobody()
    assert np.abs(stems(w)[0, s(0.55) : s(1.45)]).max() == 0.0
    w.meeting.undo()
    w.meeting.undo()
    np.testing.assert_array_equal(stems(w), before)


def test_split_at_the_play_head_and_rename_from_who_talks_when(qtbot, meeting_window):
    w, _, _, _ = meeting_window
    before = stems(w).copy()
    w.meeting.select(0, 0.0, 3.0)  # plays it, from its start
    w.transport.seek(5.0)
    w.meeting.split_at_playhead()
    assert w.session.results["conv"].result.people[-1] == "Person 4"
    np.testing.assert_allclose(stems(w)[3, s(9.5) : s(11)], before[0, s(9.5) : s(11)], atol=1e-6)
    editor = w.lanes.turns_row.editors[3]
    editor.setText("Grace")
    editor.editingFinished.emit()
    assert w.session.results["conv"].result.people[3] == "Grace"
    titles = [lane.title.text() for lane in w.lanes.visible_lanes()]
    assert "Grace" in titles


@pytest.mark.parametrize(
    "act, message",
    [
        (lambda c: c.merge(1, 1), "Person 2 cannot be merged with themselves"),
        (lambda c: c.move_selection(0), "Select a stretch first"),
        (lambda c: (c.select(0, 2.0, 2.0), c.move_selection(1)), "is empty"),
        (lambda c: c.rename(0, ""), "cannot be empty"),
    ],
)
def test_refused_corrections_read_one_line_and_change_nothing(qtbot, meeting_window, act, message):
    w, _, _, _ = meeting_window
    before = stems(w).copy()
    act(w.meeting)
    assert w.errors and message in w.errors[-1] and "\n" not in w.errors[-1]
    np.testing.assert_array_equal(stems(w), before)


def test_corrections_need_a_conversation_result(qtbot, window, tmp_path):
    _, _, mixture = meeting_result()
    sf.write(tmp_path / "m.wav", mixture, SR)
    open_mixture(qtbot, window, tmp_path / "m.wav")
    window.meeting.undo()
    assert "No who talks when to correct" in window.errors[-1]


def test_rttm_open_bad_and_good_then_save(qtbot, meeting_window, tmp_path):
    w, voices, _, _ = meeting_window
    before = stems(w).copy()
    empty = tmp_path / "empty.rttm"
    empty.write_text("")
    assert not w.meeting.open_rttm(empty)
    assert "holds no SPEAKER turn" in w.errors[-1]
    past = tmp_path / "past.rttm"
    past.write_text("SPEAKER m 1 30.0 2.0 <NA> <NA> ann <NA> <NA>\n")
    assert not w.meeting.open_rttm(past)
    assert "after the end" in w.errors[-1]
    np.testing.assert_array_equal(stems(w), before)
    good = tmp_path / "pyannote.rttm"
    good.write_text(
        "SPEAKER meeting 1 0.000 3.000 <NA> <NA> ann <NA> <NA>\n"
        "SPEAKER meeting 1 2.500 3.500 <NA> <NA> bob <NA> <NA>\n"
        "SPEAKER meeting 1 6.500 2.500 <NA> <NA> cy <NA> <NA>\n"
        "SPEAKER meeting 1 9.500 1.500 <NA> <NA> ann <NA> <NA>\n"
        "SPEAKER meeting 1 10.000 40.000 <NA> <NA> ann <NA> <NA> extra\n"
    )
    assert w.meeting.open_rttm(good)
    result = w.session.results["conv"].result
    assert result.people == ["ann", "bob", "cy"]
    assert [(t.speaker, t.start, t.end) for t in result.turns if t.speaker == 0] == [
        (0, 0.0, 3.0),
        (0, 9.5, 12.0),
    ]
    overlap = slice(s(2.55), s(2.95))  # the separated outputs of the people they match
    np.testing.assert_allclose(stems(w)[1, overlap], voices[1, overlap], atol=1e-5)
    saved = w.meeting.save_rttm(tmp_path / "out.rttm")
    lines = saved.read_text().splitlines()
    assert lines[0] == "SPEAKER meeting 1 0.000 3.000 <NA> <NA> ann <NA> <NA>"
    assert len(lines) == 4
    w.meeting.undo()
    np.testing.assert_array_equal(stems(w), before)


def test_export_writes_the_corrected_stems_the_turns_and_the_corrections(
    qtbot, meeting_window, tmp_path
):
    from app.export_dialog import ExportDialog

    w, _, _, _ = meeting_window
    w.meeting.merge(0, 2)
    w.meeting.rename(0, "Ada")
    dialog = ExportDialog(w)
    qtbot.addWidget(dialog)
    for i in range(dialog.results.count()):
        item = dialog.results.item(i)
        item.setCheckState(
            Qt.CheckState.Checked if item.text() == "conv" else Qt.CheckState.Unchecked
        )
    dialog.format.setCurrentIndex(dialog.format.findData("wavf"))
    out = tmp_path / "stems"
    dialog.folder.setText(str(out))
    dialog.export()
    qtbot.waitUntil(lambda: bool(dialog.written) or bool(dialog.error), timeout=20000)
    assert not dialog.error
    names = sorted(p.name for p in out.iterdir())
    assert names == ["meeting.json", "meeting.rttm", "meeting_s1.wav", "meeting_s2.wav"]
    written, rate = sf.read(out / "meeting_s1.wav", dtype="float32")
    np.testing.assert_array_equal(written, stems(w)[0])
    sidecar = json.loads((out / "meeting.json").read_text())
    assert sidecar["corrections"] == [
        {"correction": "merge", "person": "Person 3", "into": "Person 1"},
        {"correction": "rename", "person": "Person 1", "to": "Ada"},
    ]
    assert " Ada " in (out / "meeting.rttm").read_text()
    assert "conv" in w.session.exported


def test_the_chunks_view_shows_where_the_separator_ran(qtbot, meeting_window):
    from types import SimpleNamespace

    from PySide6.QtCore import QPointF

    from app.views.chunks import ChunkLinesItem

    w, _, _, _ = meeting_window
    w.set_view("listen")
    w.act_chunks.trigger()
    runs = w.chunks.runs
    assert [(r.x0, r.x1, r.used) for r in runs] == [(1.5, 4.0, ((2.5, 3.0),))]
    assert w.chunks.joints == []  # no chunks joined: one run per overlap
    assert (
        w.statusBar()
        .currentMessage()
        .startswith(
            "Separator of conv: ran on 1 stretch, 2.5 s read (21% of 12.0 s); its outputs used on "
            "0.5 s of overlaps and handovers"
        )
    )
    vb = w.lanes.mixture.wave.getPlotItem().getViewBox()
    (item,) = [i for i in vb.childGroup.childItems() if isinstance(i, ChunkLinesItem)]
    assert item.isVisible()

    def hover(t):
        item.hoverEvent(SimpleNamespace(isExit=lambda: False, pos=lambda: QPointF(t, 0.0)))
        return item.toolTip()

    assert hover(2.0) == (
        "the separator read 1.50-4.00 s (2.5 s); its outputs used 2.50-3.00 s (0.5 s)"
    )
    assert hover(6.0) == ""
    with qtbot.captureExceptions() as exceptions:
        w.lanes.mixture.wave.grab()
    assert exceptions == []
    # a stretch moved where the outputs were used: the runs follow the corrected result
    w.meeting.select(1, 2.5, 3.0)
    assert w.meeting.selection_is_nobody()
    assert w.chunks.runs[0].used == ((2.5, 3.0),)  # person 1 still takes an output there


def test_the_masks_view_shows_each_persons_mask_and_follows_a_merge(qtbot, meeting_window):
    w, _, _, _ = meeting_window
    w.set_view("masks")
    assert "conv" in [c.key for c in w.masks.cells]
    cells = [c for c in w.masks.cells if c.key == "conv"]
    assert sorted(c.source for c in cells) == [0, 1, 2]
    by_source = {c.source: c for c in cells}
    # alone: the whole mixture (1); silent: nothing (0); in the overlap the separator's mask
    assert w.masks.value_at(by_source[0], 1.0, 1000.0) == 1.0
    assert w.masks.value_at(by_source[2], 1.0, 1000.0) == 0.0
    a = w.masks.value_at(by_source[0], 2.75, 500.0)
    b = w.masks.value_at(by_source[1], 2.75, 500.0)
    assert 0.0 < a < 1.0 and a + b == pytest.approx(1.0, abs=2e-3)
    w.meeting.merge(0, 1)
    cells = [c for c in w.masks.cells if c.key == "conv" and c.source >= 0]
    assert sorted(c.source for c in cells) == [0, 1]
    merged = next(c for c in cells if c.source == 0)
    assert w.masks.value_at(merged, 2.75, 500.0) == pytest.approx(1.0, abs=2e-3)


def test_split_by_voice_from_the_menu_and_undo(qtbot, window, tmp_path):
    """Person 1 is two espeak-ng voices: Meeting > Split by voice gives the second one's lines to a
    new person (a lane more), Ctrl+Z takes it back to the last sample."""
    import shutil

    from meeting_helpers import two_voices_as_one

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    result, voices, mixture, turns = two_voices_as_one()
    open_meeting(qtbot, window, tmp_path / "two", made=(result, voices, mixture))
    w = window
    w.set_view("listen")
    before = stems(w).copy()
    w.meeting.select(0, turns[0][1], turns[0][2])  # a stretch of Person 1
    w.meeting.act_split_voice.trigger()
    qtbot.waitUntil(lambda: stems(w).shape[0] == 3, timeout=60000)
    assert not w.errors
    assert w.session.results["conv"].result.people == ["Person 1", "Person 2", "Person 3"]
    assert len(w.lanes.visible_lanes()) == 3 and len(w.lanes.turns_row.bands) == 3
    v, a, b = next(t for t in turns if t[0] == 1)  # a line of voice B: the new person's
    inside = slice(s(a + 0.05), s(b - 0.05))
    np.testing.assert_allclose(stems(w)[2, inside], voices[1, inside], atol=1e-5)
    assert w.meeting.act_undo.text().startswith("&Undo split Person 1 by voice")
    w.tabs.setFocus()
    qtbot.keyClick(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(stems(w), before)
    # Person 2 is one voice: the message says so, nothing changes
    w.meeting.split_by_voice(1)
    qtbot.waitUntil(lambda: bool(w.errors), timeout=60000)
    assert "Person 2 sounds like one voice" in w.errors[-1]
    np.testing.assert_array_equal(stems(w), before)
