"""Item 1: open a mixture (call, menu's recent files, drag and drop), references, bad files,
one time axis with zoom and pan."""

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QMimeData, QPointF, QUrl, Qt
from PySide6.QtGui import QDropEvent

from conftest import SR, open_mixture


def test_open_shows_mixture_on_one_time_axis(qtbot, window, audio_files, sources):
    mix, _ = audio_files
    open_mixture(qtbot, window, mix)
    s = window.session
    np.testing.assert_allclose(s.mixture, sources.sum(0), atol=1e-6)
    assert s.sample_rate == SR and window.axis.duration == pytest.approx(len(s.mixture) / SR)
    assert "mix.wav" in window.windowTitle()
    lane = window.lanes.mixture
    assert lane.wave.layer.envelope is not None and lane.spec.layer.provider is not None
    qtbot.waitUntil(lambda: lane.spec.layer.last is not None, timeout=3000)
    assert lane.spec.layer.last.data.shape[0] == 257  # n_fft 512 display STFT
    # remembered as a recent file, offered in the menu
    assert window.settings.recent_files()[0] == str(mix.resolve())
    first = window.recent_menu.actions()[0]
    assert first.text() == "audio/mix.wav" and first.toolTip() == str(mix.resolve())


def test_zoom_and_pan_keep_every_view_in_step(qtbot, window, audio_files):
    open_mixture(qtbot, window, audio_files[0])
    a = window.axis
    full = a.t1 - a.t0
    window.act_zoom_in.trigger()
    assert a.t1 - a.t0 == pytest.approx(full / 2)
    window.act_pan_right.trigger()
    window.tabs.setFocus()
    qtbot.keyClick(window.tabs, Qt.Key.Key_Minus)  # zoom out with the keyboard
    assert a.t1 - a.t0 == pytest.approx(full)
    a.set_range(0.3, 0.7)
    for plot in window.lanes.all_plots():
        x0, x1 = plot.getPlotItem().getViewBox().viewRange()[0]
        assert (x0, x1) == pytest.approx((0.3, 0.7))
    # dragging one plot (pan) moves the shared axis
    window.lanes.mixture.spec.getPlotItem().getViewBox().setXRange(0.5, 0.9, padding=0)
    assert (a.t0, a.t1) == pytest.approx((0.5, 0.9))
    window.act_fit.trigger()
    assert (a.t0, a.t1) == pytest.approx((0.0, a.duration))


def test_bad_file_gives_one_line_error_and_keeps_running(qtbot, window, tmp_path, audio_files):
    bad = tmp_path / "garbage.wav"
    bad.write_bytes(b"RIFF\x00\x00garbage" * 10)
    window.open_file(bad)
    qtbot.waitUntil(lambda: bool(window.errors), timeout=10000)
    assert "garbage.wav" in window.errors[0] and "\n" not in window.errors[0]
    assert not window.session.loaded
    open_mixture(qtbot, window, audio_files[0])  # still works
    assert window.session.loaded


def test_drop_opens_mixture_then_references(qtbot, window, audio_files):
    mix, refs = audio_files
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in [mix, *refs]])
    event = QDropEvent(
        QPointF(200, 200),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(event)
    qtbot.waitUntil(lambda: window.session.references is not None, timeout=20000)
    assert window.session.references.shape == (2, len(window.session.mixture))
    # references make the oracle models runnable, and the oracle row appears
    item = window.panel.item("oracle-irm")
    assert not item.isDisabled()
    qtbot.waitUntil(lambda: "oracle-irm" in window.session.results, timeout=30000)


def test_oracle_models_need_references(qtbot, window, audio_files):
    open_mixture(qtbot, window, audio_files[0])
    item = window.panel.item("oracle-ibm")
    assert item.isDisabled() and "reference" in item.toolTip(0)
    window.panel.set_checked(["oracle-ibm"])
    assert window.panel.checked_ids() == []  # a disabled model is never run


def test_reference_length_mismatch_is_reported(qtbot, window, audio_files, tmp_path, sources):
    open_mixture(qtbot, window, audio_files[0])
    short = tmp_path / "short.wav"
    sf.write(short, sources[0][: SR // 2], SR)
    window.open_references([short, audio_files[1][1]])
    qtbot.waitUntil(lambda: bool(window.errors), timeout=10000)
    assert window.session.references is None
    assert "short.wav" in window.errors[0] or "length" in window.errors[0]


def test_recent_file_action_reopens(qtbot, window, audio_files):
    open_mixture(qtbot, window, audio_files[0])
    window.session.set_mixture(None)
    window.recent_menu.actions()[0].trigger()
    qtbot.waitUntil(lambda: window.session.loaded, timeout=10000)


def drop(window, paths):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(
        QPointF(200, 200),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(event)


def test_drop_of_several_files_on_an_open_mixture_adds_them_as_references(
    qtbot, window, audio_files
):
    mix, refs = audio_files
    open_mixture(qtbot, window, mix)
    drop(window, refs)
    qtbot.waitUntil(lambda: window.session.references is not None, timeout=20000)
    assert window.session.path == mix and window.session.references.shape[0] == 2
    assert not window.files.load_job.busy
    qtbot.waitUntil(lambda: "oracle-irm" in window.session.results, timeout=30000)
    assert window.session.results["oracle-irm"].result.n_src == 2
    # the hint states the rule
    assert (
        "several files" in window.lanes.hint.text()
        and "reference sources" in window.lanes.hint.text()
    )


def test_drop_of_one_file_opens_it(qtbot, window, audio_files, tmp_path, sources):
    mix, refs = audio_files
    drop(window, [mix])  # no mixture yet: it becomes the mixture
    qtbot.waitUntil(lambda: window.session.loaded, timeout=20000)
    assert window.session.path == mix and window.session.references is None
    other = tmp_path / "other.wav"
    sf.write(other, sources[0], SR)
    drop(window, [other])  # one file on a mixture: open it instead
    qtbot.waitUntil(lambda: window.session.path == other, timeout=20000)


def unexported_result(window, key="fake"):
    from fakes import add_records, record

    add_records(window, record(key, np.stack([window.session.mixture] * 2), None, None))


@pytest.mark.parametrize("answer", ["Discard", "Cancel"])
def test_opening_another_file_asks_before_unexported_results_are_lost(
    qtbot, window, audio_files, tmp_path, sources, monkeypatch, answer
):
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    mix, refs = audio_files
    open_mixture(qtbot, window, mix)
    unexported_result(window)
    other = tmp_path / "other.wav"
    sf.write(other, sources[0], SR)
    asked = []
    monkeypatch.setattr(
        QMessageBox,
        "question",
        lambda *a, **k: asked.append(a[2]) or getattr(QMessageBox.StandardButton, answer),
    )
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(other), ""))
    window.act_open.trigger()
    assert len(asked) == 1 and "fake" in asked[0]
    if answer == "Cancel":
        qtbot.wait(100)
        assert window.session.path == mix and "fake" in window.session.results
        assert not window.files.load_job.busy
    else:
        qtbot.waitUntil(lambda: window.session.path == other, timeout=20000)
        assert window.session.results == {}
    # the same question guards the recent files and drops
    asked.clear()
    if answer == "Discard":
        unexported_result(window)
    window.recent_menu.actions()[1 if answer == "Discard" else 0].trigger()
    drop(window, [other])
    assert len(asked) == 2


def test_no_question_once_the_results_are_exported(
    qtbot, window, audio_files, tmp_path, sources, monkeypatch
):
    from PySide6.QtWidgets import QMessageBox

    from app.export_dialog import ExportDialog

    open_mixture(qtbot, window, audio_files[0])
    unexported_result(window)
    dialog = ExportDialog(window)
    qtbot.addWidget(dialog)
    dialog.folder.setText(str(tmp_path / "stems"))
    dialog.export()
    qtbot.waitUntil(lambda: bool(dialog.written), timeout=20000)
    assert window.session.unexported() == []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: pytest.fail("asked"))
    other = tmp_path / "other.wav"
    sf.write(other, sources[0], SR)
    window.ask_open(other)
    qtbot.waitUntil(lambda: window.session.path == other, timeout=20000)


def test_the_play_head_starts_over_on_another_file(qtbot, window, audio_files, tmp_path, sources):
    from conftest import run_models

    open_mixture(qtbot, window, audio_files[0])
    run_models(qtbot, window, ["ff-mask"])
    window.transport.seek(1.0)
    assert all(p.link.playhead.value() == pytest.approx(1.0) for p in window.lanes.all_plots())
    other = tmp_path / "other.wav"
    sf.write(other, sources.sum(0)[:SR], SR)
    open_mixture(qtbot, window, other)
    run_models(qtbot, window, ["ff-mask"])
    plots = window.lanes.all_plots()
    assert len(plots) == 6 and all(p.link.playhead.value() == 0.0 for p in plots)


def test_a_failed_open_leaves_no_stale_stage(qtbot, window, audio_files, tmp_path):
    data = audio_files[0].read_bytes()
    trunc = tmp_path / "trunc.wav"
    trunc.write_bytes(data[:40])
    seen = []
    window.error_shown.connect(
        lambda m: seen.append((window.stage_label.text(), window.progress.isVisible()))
    )
    window.open_file(trunc)
    qtbot.waitUntil(lambda: bool(window.errors), timeout=10000)
    assert seen == [("", False)]
    assert "reading" not in window.statusBar().currentMessage()
    assert "trunc.wav" in window.statusBar().currentMessage()


def test_closing_the_window_asks_before_unexported_results_are_lost(
    qtbot, window, audio_files, monkeypatch
):
    from PySide6.QtWidgets import QMessageBox

    open_mixture(qtbot, window, audio_files[0])
    unexported_result(window)
    window.quiet = False  # a user's window (scripted, quiet ones never ask)
    answers = ["Cancel", "Discard"]
    asked = []
    monkeypatch.setattr(
        QMessageBox,
        "question",
        lambda *a, **k: (
            asked.append(a[2]) or getattr(QMessageBox.StandardButton, answers[len(asked) - 1])
        ),
    )
    assert window.close() is False and window.isVisible()
    assert window.close() is True and not window.isVisible()
    assert len(asked) == 2 and "fake" in asked[0]
    window.quiet = True
