"""Issue 15: before a run, the model panel shows each ticked model's expected time and memory on the
open file, with a warning past ten minutes."""

import html

import pytest

from conftest import SR, open_mixture
from separation_core.checkpoints.catalog import default_model_id
from separation_core.engine.run_estimate import estimate_run, load_bench

DEFAULT = default_model_id()


def test_estimates_for_the_ticked_models(qtbot, window, audio_files):
    w = window
    label = w.estimates
    assert not label.isVisible()  # no file yet
    open_mixture(qtbot, w, audio_files[0])
    w.panel.set_checked([DEFAULT, "convtasnet-libri-16k", "denoise-wiener"])
    assert label.isVisible() and label.parent() is w.panel
    duration = len(w.session.mixture) / SR
    bench = load_bench()
    shown = {e.model_id: e for e in label.estimates}
    assert set(shown) == set(w.panel.checked_ids())
    expected = estimate_run(
        w.panel.entries[DEFAULT],
        duration,
        bench,
        device=w.panel.device.currentText(),
        known=w.panel.entries,
    )
    assert shown[DEFAULT] == expected
    assert html.escape(f"{DEFAULT}: {expected.text()}") in label.text()
    assert "(1.5 s)" in label.text()  # the file's length
    speed = bench["models"][DEFAULT]["cpu"]["speed_x_realtime"]
    if w.panel.device.currentText() == "cpu" or not expected.note:
        assert shown[DEFAULT].seconds == pytest.approx(duration / speed)
    assert shown["denoise-wiener"].text() == "no estimate"
    assert "from the bench report" in label.toolTip().lower()
    assert not label.warning and "⚠" not in label.text()


def test_warning_past_ten_minutes_and_gpu_without_figure(qtbot, window, audio_files):
    w = window
    open_mixture(qtbot, w, audio_files[0])
    w.panel.set_checked([DEFAULT])
    w.panel.device.setCurrentText("cpu")
    duration = len(w.session.mixture) / SR
    label = w.estimates
    for seconds, warn in ((601.0, True), (599.0, False)):
        label.bench = {
            "models": {DEFAULT: {"cpu": {"seconds": 60.0, "speed_x_realtime": duration / seconds}}}
        }
        label.refresh()
        assert label.warning is warn
        assert ("⚠" in label.text()) is warn and ("#e0a030" in label.text()) is warn
        assert ("over 10 min" in label.text()) is warn
    w.panel.device.setCurrentText("cuda")  # the bench has no GPU column
    assert "no GPU figure" in label.text()
