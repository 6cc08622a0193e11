"""Item 2: models panel, running several models on the worker with progress and ETA, Stop, a failing
model, results kept per model and switched instantly; every registered model works."""

import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import Qt

from app.jobs.separation import ModelDone, ModelFailed
from conftest import SR, open_mixture, run_models, synthetic_sources


def test_panel_lists_every_model_with_rate_speakers_size(window):
    from separation_core.models.registry import model_names

    ids = list(window.panel.entries)
    assert set(model_names()) <= set(ids)
    item = window.panel.item("convtasnet")
    assert item.text(1) == "16k" and item.text(2) == "2" and item.text(3).endswith(("M", "k"))


def test_run_several_models_keeps_each_result(qtbot, window, audio_files):
    open_mixture(qtbot, window, audio_files[0])
    stages = []
    # the separation's own progress (the quality timeline's job runs beside it on its channel)
    window.runner.progress.connect(
        lambda job, f, st: stages.append((f, st)) if window.separation.run_job.owns(job) else None
    )
    window.models.set_show_untrained(True)
    window.panel.set_checked(["ff-mask", "lstm-mask"])
    outcomes = run_models(qtbot, window, window.panel.checked_ids())
    assert [type(o) for o in outcomes] == [ModelDone, ModelDone]
    assert list(window.session.results) == ["ff-mask", "lstm-mask"]
    assert any("ff-mask (1/2)" in st for _, st in stages) and any(
        "lstm-mask (2/2)" in st for _, st in stages
    )
    fractions = [f for f, _ in stages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    n = len(window.session.mixture)
    for rec in window.session.results.values():
        assert rec.result.waveforms.shape == (2, n)
    # switching results is instant: no job, the lanes show the other result's sources at once
    window.result_combo.setCurrentText("lstm-mask")
    assert not any(job.busy for job in (window.separation.run_job, window.files.load_job))
    rec = window.session.results["lstm-mask"]
    order = window.session.order("lstm-mask")
    for lane, src in zip(window.lanes.visible_lanes(), order):
        np.testing.assert_array_equal(lane.wave.layer.envelope.samples, rec.result.waveforms[src])


def test_stop_cancels_within_a_second(qtbot, window, tmp_path):
    long = tmp_path / "long.wav"
    sf.write(long, synthetic_sources(seconds=40.0).sum(0), SR)
    open_mixture(qtbot, window, long)
    window.panel.chunk.setValue(1.0)
    window.panel.mode.setCurrentIndex(window.panel.mode.findData("model"))  # chunks, not people
    outcomes = []
    window.run_finished.connect(outcomes.append)
    window.separate(["convtasnet"])
    qtbot.waitUntil(lambda: window.eta_label.text().startswith("ETA"), timeout=30000)
    assert window.progress.isVisible() and window.progress.value() > 0
    assert "convtasnet: separating: " in window.stage_label.text()
    assert "chunks done" in window.stage_label.text()
    t0 = time.monotonic()
    window.stop()
    qtbot.waitUntil(lambda: outcomes == [None], timeout=3000)
    assert time.monotonic() - t0 < 1.5
    assert window.session.results == {} and "Stop" in window.statusBar().currentMessage()
    window.runner.wait(10000)


def test_a_failing_model_does_not_stop_the_others(qtbot, window, audio_files, tmp_path):
    open_mixture(qtbot, window, audio_files[0])
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    outcomes = run_models(qtbot, window, ["ff-mask", str(broken), "oracle-irm", "lstm-mask"])
    kinds = [type(o).__name__ for o in outcomes]
    assert kinds == ["ModelDone", "ModelFailed", "ModelFailed", "ModelDone"]
    assert "broken.pt" in outcomes[1].message
    assert "reference" in outcomes[2].message
    assert set(window.session.results) == {"ff-mask", "lstm-mask"}
    assert window.errors and "broken.pt" in window.errors[-1]
    again = run_models(qtbot, window, ["ff-mask"])  # the program goes on
    assert isinstance(again[0], ModelDone)


@pytest.mark.slow
def test_every_registered_model_runs_and_draws(qtbot, window, audio_files):
    from separation_core.models.registry import model_names

    mix, refs = audio_files
    open_mixture(qtbot, window, mix, refs)
    names = model_names()
    outcomes = run_models(qtbot, window, names, timeout=240000)
    failed = [(o.spec, o.message) for o in outcomes if isinstance(o, ModelFailed)]
    assert failed == []
    n = len(window.session.mixture)
    for name in names:
        assert window.session.results[name].result.waveforms.shape[1] == n
    for view in ("listen", "masks", "embeddings", "metrics"):
        window.set_view(view)
        qtbot.wait(30)
    assert len({c.key for c in window.masks.cells}) == sum(
        r.result.masks is not None for r in window.session.results.values()
    )
    assert window.embeddings.combo.count() >= 1


def test_run_options_reach_the_engine(qtbot, window, audio_files):
    open_mixture(qtbot, window, audio_files[0])
    window.panel.speakers.setValue(3)
    window.panel.clustering.setCurrentText("kmeans")
    window.panel.binary.setChecked(True)
    window.panel.device.setCurrentText("cpu")
    outcomes = run_models(qtbot, window, ["dc-blstm"])
    result = outcomes[0].result
    assert result.waveforms.shape[0] == 3  # K chosen at run time
    assert set(np.unique(result.masks)) <= {0.0, 1.0}  # binary, as asked
    assert outcomes[0].settings.device == "cpu" and result.timings["device"] == "cpu"
    assert window.settings.run_options()["num_speakers"] == 3
    assert window.settings.run_options()["binary_masks"] is True
    assert len(window.lanes.visible_lanes()) == 3


def _tiny_checkpoint(path, model_name="ff-mask"):
    from separation_core.checkpoints.store import save_checkpoint
    from separation_core.models.registry import get_model_class

    model = get_model_class(model_name)()
    save_checkpoint(path, model, training={"steps": 0})
    return path


def test_checkpoints_from_the_user_folder_and_by_path(qtbot, window, audio_files, tmp_path):
    import os

    folder = Path(os.environ["COCKTAIL_MODELS_DIR"])
    folder.mkdir(parents=True)
    _tiny_checkpoint(folder / "my-ffmask.pt")
    window.models.refresh()
    qtbot.waitUntil(lambda: "my-ffmask" in window.panel.entries, timeout=30000)
    assert window.panel.entries["my-ffmask"].origin == "user"
    assert window.panel.item("my-ffmask").font(0).italic()  # untrained (0 steps)
    (tmp_path / "elsewhere").mkdir()
    loose = _tiny_checkpoint(tmp_path / "elsewhere" / "loose.pt")
    window.models.open_checkpoint(loose)
    qtbot.waitUntil(lambda: "loose" in window.panel.entries, timeout=30000)
    assert "loose" in window.panel.checked_ids() and window.panel.entries["loose"].origin == "path"
    open_mixture(qtbot, window, audio_files[0])
    outcomes = run_models(qtbot, window, ["loose", "my-ffmask"])
    assert [type(o) for o in outcomes] == [ModelDone, ModelDone]
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"\x80\x02garbage")
    window.models.open_checkpoint(broken)
    qtbot.waitUntil(lambda: any("broken.pt" in e for e in window.errors), timeout=30000)


def test_opening_another_file_drops_the_running_separation(qtbot, window, audio_files, tmp_path):
    long = tmp_path / "long.wav"
    sf.write(long, synthetic_sources(seconds=20.0).sum(0), SR)
    open_mixture(qtbot, window, long)
    window.panel.chunk.setValue(1.0)
    window.panel.mode.setCurrentIndex(window.panel.mode.findData("model"))  # chunks, not people
    window.separate(["convtasnet"])
    qtbot.waitUntil(lambda: "chunk" in window.stage_label.text(), timeout=30000)
    open_mixture(qtbot, window, audio_files[0])
    window.runner.wait(30000)
    qtbot.wait(50)
    assert window.session.results == {} and window.errors == []
    assert len(window.session.mixture) == len(synthetic_sources()[0])


def test_untrained_builtins_are_hidden_until_asked_for(qtbot, window):
    from app.settings import Settings

    panel = window.panel
    assert not panel.show_untrained.isChecked() and not window.act_untrained.isChecked()
    assert panel.item("dprnn").isHidden() and panel.item("ff-mask").isHidden()
    assert not panel.item(window.models.default_id).isHidden()  # trained
    assert not panel.item("oracle-irm").isHidden()  # parameter-free
    panel.set_checked(["dprnn"])
    assert panel.checked_ids() == []  # hidden models never run
    qtbot.mouseClick(panel.show_untrained, Qt.MouseButton.LeftButton)
    assert not panel.item("dprnn").isHidden() and panel.checked_ids() == ["dprnn"]
    assert window.act_untrained.isChecked() and Settings().show_untrained()
    window.act_untrained.trigger()  # the menu entry hides them again
    assert panel.item("dprnn").isHidden() and not Settings().show_untrained()


@pytest.mark.parametrize("answer", ["Yes", "No"])
def test_running_an_untrained_model_asks_first(qtbot, window, audio_files, monkeypatch, answer):
    from PySide6.QtWidgets import QMessageBox

    open_mixture(qtbot, window, audio_files[0])
    window.models.set_show_untrained(True)
    window.panel.set_checked(["ff-mask"])
    asked = []
    monkeypatch.setattr(
        QMessageBox,
        "question",
        lambda *a, **k: asked.append(a[2]) or getattr(QMessageBox.StandardButton, answer),
    )
    outcomes = []
    window.run_finished.connect(outcomes.append)
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert len(asked) == 1 and "ff-mask" in asked[0] and "trained" in asked[0]
    if answer == "No":
        assert not window.separation.run_job.busy
        return
    qtbot.waitUntil(lambda: bool(outcomes), timeout=30000)
    assert "ff-mask" in window.session.results
    asked.clear()
    window.panel.set_checked([window.models.default_id])  # a trained model: no question
    qtbot.keyClick(window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert asked == [] and window.separation.run_job.busy


def test_ticked_models_are_remembered(qtbot, window):
    from app.main_window import MainWindow
    from app.settings import Settings
    from conftest import FakePlayer

    window.panel.item("convtasnet-rooms-16k").setCheckState(0, Qt.CheckState.Checked)
    ticked = set(window.panel.checked_ids())
    assert ticked == {window.models.default_id, "convtasnet-rooms-16k"}
    again = MainWindow(Settings(), quiet=True, player_factory=FakePlayer)
    qtbot.addWidget(again)
    again.start_background()
    qtbot.waitUntil(lambda: again.models.ready, timeout=60000)
    assert set(again.panel.checked_ids()) == ticked


def test_listen_view_shows_the_default_models_result(qtbot, window, audio_files):
    open_mixture(qtbot, window, audio_files[0])
    run_models(qtbot, window, ["ff-mask", window.models.default_id])  # the weak one finishes first
    assert list(window.session.results)[0] == "ff-mask"
    assert window.session.selected == window.models.default_id
    assert window.result_combo.currentText() == window.models.default_id
    assert window.lanes.caption.text().startswith(window.models.default_id)
    window.result_combo.setCurrentText("ff-mask")  # the user's pick is kept
    run_models(qtbot, window, ["lstm-mask"])
    assert window.session.selected == window.models.default_id  # a new run: preferred again


def test_listen_view_shows_the_best_result_with_references(qtbot, window, audio_files):
    mix, refs = audio_files
    open_mixture(qtbot, window, mix, refs)
    run_models(qtbot, window, ["lstm-mask", "ff-mask"])  # the weaker one first
    qtbot.waitUntil(
        lambda: all(r.evaluation is not None for r in window.session.results.values()),
        timeout=60000,
    )
    models = {
        k: r.evaluation.mean["si_sdr"]
        for k, r in window.session.results.items()
        if not r.entry.needs_references
    }
    assert window.session.selected == max(models, key=models.get)
    assert window.result_combo.currentText() == window.session.selected


def test_preferred_result_rule():
    from types import SimpleNamespace as NS

    from app.session import Session

    def rec(key, refs=False, si_sdr=None):
        ev = None if si_sdr is None else NS(mean={"si_sdr": si_sdr})
        return NS(key=key, entry=NS(needs_references=refs), evaluation=ev)

    s = Session()
    for r in (rec("oracle-irm", refs=True, si_sdr=20.0), rec("a"), rec("b")):
        s.results[r.key] = r
    assert s.preferred("default", ticked=["b", "a"]) == "b"
    s.results["a"].evaluation = NS(mean={"si_sdr": 5.0})
    s.results["b"].evaluation = NS(mean={"si_sdr": 2.0})
    assert s.preferred("default", ticked=["b", "a"]) == "a"
    s.results["default"] = rec("default", si_sdr=1.0)
    assert s.preferred("default") == "default"
    assert Session(results={"oracle-irm": rec("oracle-irm", refs=True)}).preferred() == "oracle-irm"


def test_result_names_are_never_cut(qtbot, window, audio_files):
    """In the metrics table and the Listen box (the model panel cuts long names: see
    test_model_panel)."""
    from fakes import add_records, record

    open_mixture(qtbot, window, audio_files[0])
    r = record(window.models.default_id, np.stack([window.session.mixture] * 2), None, None)
    r.evaluation = __import__("types").SimpleNamespace(
        per_source=[{"si_sdr": 1.0}, {"si_sdr": 2.0}], mean={"si_sdr": 1.5}
    )
    add_records(window, r)
    window.resize(900, 700)
    window.set_view("metrics")
    table = window.metrics.table
    qtbot.wait(50)
    assert table.item(0, 0).text() == window.models.default_id
    assert table.columnWidth(0) >= table.sizeHintForColumn(0)
    combo = window.result_combo
    assert combo.width() >= combo.fontMetrics().horizontalAdvance(window.models.default_id)


def test_one_listen_box_and_one_embeddings_box(window):
    from PySide6.QtWidgets import QLabel

    labels = [label.text().strip() for label in window.findChildren(QLabel)]
    assert "Result:" not in labels and labels.count("Listen to:") == 1
    assert labels.count("Embeddings of:") == 1


def test_metrics_progress_moves(qtbot, window, audio_files):
    mix, refs = audio_files
    open_mixture(qtbot, window, mix)
    fractions, bar = [], []

    def seen(job, fraction, stage):
        if window.scoring.job.owns(job):
            fractions.append(fraction)
            bar.append(window.progress.value())

    window.runner.progress.connect(seen)
    window.open_references(refs)
    qtbot.waitUntil(lambda: window.session.references is not None, timeout=20000)
    qtbot.waitUntil(
        lambda: (
            not window.separation.oracle_job.busy
            and not window.scoring.job.busy
            and any(r.evaluation for r in window.session.results.values())
        ),
        timeout=60000,
    )
    assert any(0.0 < f < 1.0 for f in fractions) and any(0 < v < 1000 for v in bar)
    assert fractions == sorted(fractions)


def test_the_status_bar_counts_the_chunks_done_to_the_last(qtbot, window, tmp_path):
    """Issue 30: the progress went from "chunk 4/5" (the fifth one running) to "ordering speakers"
    without a word of the fifth."""
    path = tmp_path / "six.wav"
    sf.write(path, synthetic_sources(6.0).sum(0), SR)
    open_mixture(qtbot, window, path)
    window.panel.chunk.setValue(1.5)  # 1.5 s chunks overlapping by 0.375 s: 5 on 6 s
    stages = []
    window.runner.progress.connect(
        lambda job, f, st: stages.append(st) if window.separation.run_job.owns(job) else None
    )
    (done,) = run_models(qtbot, window, ["convtasnet-libri-16k"])
    assert done.result.timings["chunks"] == 5
    chunks = [st for st in stages if "chunks done" in st]
    assert chunks[0] == "convtasnet-libri-16k: separating: 1/5 chunks done"
    assert "convtasnet-libri-16k: finishing · 5/5 chunks done" in stages
    assert not any("separating: chunk" in st for st in stages)


def test_a_results_notes_stay_in_the_status_bar_and_its_tooltip(qtbot, window, tmp_path):
    """Issue 30: a note ("too short to separate") was replaced at once by "Separated with 1
    model(s)"."""
    path = tmp_path / "short.wav"
    sf.write(path, synthetic_sources(0.5).sum(0), SR)
    open_mixture(qtbot, window, path)
    (done,) = run_models(qtbot, window, ["convtasnet-libri-16k"])
    (note,) = done.result.notes
    assert "under the 1 s a separation needs" in note
    message = window.statusBar().currentMessage()
    assert message.startswith("Separated with 1 model(s)") and note in message
    combo = window.result_combo
    index = combo.findText("convtasnet-libri-16k")
    assert note in combo.itemData(index, Qt.ItemDataRole.ToolTipRole)


def test_a_ticked_oracle_without_references_says_why_it_did_not_run(qtbot, window, audio_files):
    """Issue 30: ticking an oracle without references dropped it without a word."""
    panel = window.panel
    open_mixture(qtbot, window, audio_files[0])
    default = window.models.default_id
    panel.set_checked([default, "oracle-irm"])
    assert panel.checked_ids() == [default]
    outcomes = []
    window.run_finished.connect(outcomes.append)
    window.act_separate.trigger()
    qtbot.waitUntil(lambda: bool(outcomes), timeout=60000)
    assert list(window.session.results) == [default]
    why = "oracle-irm not run: needs references: File ▸ Open references…"
    assert why in window.statusBar().currentMessage()
    panel.set_checked(["oracle-irm"])
    assert not panel.separate_button.isEnabled()
    assert "oracle-irm needs references: File ▸ Open references…" in panel.separate_button.toolTip()
