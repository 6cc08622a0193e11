"""Issue 15: before a run, the model panel shows each ticked model's expected time and memory on the
open file, with a warning past ten minutes. Issue 30: a copy of a bundled model is estimated as the
original, the chunk option counts, a classical model has an estimate."""

import html
import os
import shutil
from pathlib import Path

import pytest

from conftest import SR, open_mixture
from separation_core.checkpoints.catalog import default_model_id
from separation_core.engine.run_estimate import (
    DSP_SPEED_X_REALTIME,
    estimate_run,
    load_bench,
)
from separation_core.io.paths import bundled_models_dir

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
    wiener = shown["denoise-wiener"]  # issue 30: a classical model has an estimate
    assert wiener.seconds == pytest.approx(duration / DSP_SPEED_X_REALTIME["classical"])
    assert html.escape(f"denoise-wiener: {wiener.text()}") in label.text()
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


def test_a_copy_of_a_bundled_model_is_estimated_as_the_original(qtbot, window, audio_files):
    w = window
    folder = Path(os.environ["COCKTAIL_MODELS_DIR"])
    folder.mkdir(parents=True)
    shutil.copy(bundled_models_dir() / f"{DEFAULT}.pt", folder / "my-copy.pt")
    w.models.refresh()
    qtbot.waitUntil(lambda: "my-copy" in w.panel.entries, timeout=60000)
    open_mixture(qtbot, w, audio_files[0])
    w.panel.device.setCurrentText("cpu")
    w.panel.set_checked([DEFAULT, "my-copy"])
    original, copy = w.estimates.estimates
    assert (copy.seconds, copy.peak_mb) == (original.seconds, original.peak_mb)
    assert copy.seconds is not None and "same network" in copy.text()
    assert "scaled" not in w.estimates.text()


def test_the_chunk_option_changes_the_estimate(qtbot, window, audio_files):
    """The bench measured the default model in its 16 s chunks; 4 s chunks recompute more overlap."""
    w = window
    open_mixture(qtbot, w, audio_files[0])
    label = w.estimates
    label.duration = lambda: 180.0  # a 3-minute file
    w.panel.device.setCurrentText("cpu")
    w.panel.mode.setCurrentIndex(w.panel.mode.findData("model"))  # the model on the whole file
    w.panel.set_checked([DEFAULT])
    (default,) = label.estimates
    assert w.panel.default_chunks[DEFAULT] == 16.0
    w.panel.chunk.setValue(4.0)
    (short,) = label.estimates
    # 16 s chunks overlapping by 2 s: 13 of them (208 s computed); 4 s by 1 s: 60 (240 s)
    factor = 240.0 / 208.0
    assert short.seconds == pytest.approx(default.seconds * factor)
    assert "4 s chunks" in label.text()
    w.panel.chunk.setValue(0.0)  # "model default"
    assert label.estimates[0].seconds == default.seconds


def test_conversation_mode_estimates_the_whole_pipeline(qtbot, window, audio_files):
    from separation_core.engine.run_estimate import estimate_conversation

    w = window
    open_mixture(qtbot, w, audio_files[0])
    w.panel.set_checked([DEFAULT, "denoise-wiener"])
    w.panel.device.setCurrentText("cpu")
    label = w.estimates
    w.panel.mode.setCurrentIndex(w.panel.mode.findData("conversation"))
    duration = len(w.session.mixture) / SR
    shown = {e.model_id: e for e in label.estimates}
    entries = w.panel.entries
    expected = estimate_conversation(
        entries[DEFAULT], duration, load_bench(), device="cpu", known=entries
    )
    assert shown[DEFAULT] == expected and expected.conversation
    assert expected.seconds > estimate_run(entries[DEFAULT], 0.25 * duration, load_bench()).seconds
    assert not shown["denoise-wiener"].conversation  # not a separator of voices: its own run
    assert "Conversation mode: the whole pipeline" in label.text()
    assert html.escape(f"{DEFAULT}: {expected.text()}") in label.text()
    w.panel.mode.setCurrentIndex(w.panel.mode.findData("model"))
    assert not any(e.conversation for e in label.estimates)
    assert "Conversation mode" not in label.text()


def test_denoise_first_adds_the_denoisers_time(qtbot, window, audio_files):
    from separation_core.commands.separate import DENOISER
    from separation_core.engine.run_estimate import with_denoiser

    w = window
    open_mixture(qtbot, w, audio_files[0])
    w.panel.set_checked([DEFAULT])
    w.panel.device.setCurrentText("cpu")
    label, entries = w.estimates, w.panel.entries
    duration = len(w.session.mixture) / SR
    (plain,) = label.estimates
    w.panel.denoise.setChecked(True)  # the run options' "Denoise first (GTCRN)"
    (shown,) = label.estimates
    alone = estimate_run(entries[DENOISER], duration, load_bench(), device="cpu", known=entries)
    assert shown == with_denoiser(
        plain, entries[DENOISER], duration, load_bench(), device="cpu", known=entries
    )
    assert shown.seconds == pytest.approx(plain.seconds + alone.seconds)
    assert html.escape(f"{DEFAULT}: {shown.text()}") in label.text()
    assert f"{DENOISER} first" in label.text()
    w.panel.denoise.setChecked(False)
    assert label.estimates == [plain] and f"{DENOISER} first" not in label.text()
