"""Item 2: models panel, running several models on the worker with progress and ETA, Stop, a failing
model, results kept per model and switched instantly; every registered model works."""

import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.tasks import ModelDone, ModelFailed
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
    window.runner.progress.connect(lambda ch, i, f, st: stages.append((f, st)))
    window.panel.set_checked(["ff-mask", "lstm-mask"])
    outcomes = run_models(qtbot, window, window.panel.checked_ids())
    assert [type(o) for o in outcomes] == [ModelDone, ModelDone]
    assert list(window.session.results) == ["ff-mask", "lstm-mask"]
    assert any("ff-mask (1/2)" in st for _, st in stages) and any("lstm-mask (2/2)" in st for _, st in stages)
    fractions = [f for f, _ in stages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    n = len(window.session.mixture)
    for rec in window.session.results.values():
        assert rec.result.waveforms.shape == (2, n)
    # switching results is instant: no job, the lanes show the other result's sources at once
    window.result_combo.setCurrentText("lstm-mask")
    assert not any(window.runner.is_busy(c) for c in ("separate", "load"))
    rec = window.session.results["lstm-mask"]
    order = window.session.order("lstm-mask")
    for lane, src in zip(window.lanes.visible_lanes(), order):
        np.testing.assert_array_equal(lane.wave.layer.envelope.samples, rec.result.waveforms[src])


def test_stop_cancels_within_a_second(qtbot, window, tmp_path):
    long = tmp_path / "long.wav"
    sf.write(long, synthetic_sources(seconds=40.0).sum(0), SR)
    open_mixture(qtbot, window, long)
    window.panel.chunk.setValue(1.0)
    outcomes = []
    window.run_finished.connect(outcomes.append)
    window.separate(["convtasnet"])
    qtbot.waitUntil(lambda: window.eta_label.text().startswith("ETA"), timeout=30000)
    assert window.progress.isVisible() and window.progress.value() > 0
    assert "convtasnet: separating: chunk" in window.stage_label.text()
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
        r.result.masks is not None for r in window.session.results.values())
    assert window.embeddings.combo.count() >= 1


def test_run_options_reach_the_engine(qtbot, window, audio_files):
    open_mixture(qtbot, window, audio_files[0])
    window.panel.speakers.setValue(3)
    window.panel.clustering.setCurrentText("kmeans")
    window.panel.device.setCurrentText("cpu")
    outcomes = run_models(qtbot, window, ["dc-blstm"])
    result = outcomes[0].result
    assert result.waveforms.shape[0] == 3  # K chosen at run time
    assert outcomes[0].settings.device == "cpu" and result.timings["device"] == "cpu"
    assert window.settings.run_options()["num_speakers"] == 3
    assert len(window.lanes.visible_lanes()) == 3


def _tiny_checkpoint(path, model_name="ff-mask"):
    from separation_core.checkpoints import save_checkpoint
    from separation_core.models.registry import get_model_class

    model = get_model_class(model_name)()
    save_checkpoint(path, model, training={"steps": 0})
    return path


def test_checkpoints_from_the_user_folder_and_by_path(qtbot, window, audio_files, tmp_path):
    import os

    folder = Path(os.environ["COCKTAIL_MODELS_DIR"])
    folder.mkdir(parents=True)
    _tiny_checkpoint(folder / "my-ffmask.pt")
    window.refresh_models()
    qtbot.waitUntil(lambda: "my-ffmask" in window.panel.entries, timeout=30000)
    assert window.panel.entries["my-ffmask"].origin == "user"
    assert window.panel.item("my-ffmask").font(0).italic()           # untrained (0 steps)
    (tmp_path / "elsewhere").mkdir()
    loose = _tiny_checkpoint(tmp_path / "elsewhere" / "loose.pt")
    window.open_checkpoint(loose)
    qtbot.waitUntil(lambda: "loose" in window.panel.entries, timeout=30000)
    assert "loose" in window.panel.checked_ids() and window.panel.entries["loose"].origin == "path"
    open_mixture(qtbot, window, audio_files[0])
    outcomes = run_models(qtbot, window, ["loose", "my-ffmask"])
    assert [type(o) for o in outcomes] == [ModelDone, ModelDone]
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"\x80\x02garbage")
    window.open_checkpoint(broken)
    qtbot.waitUntil(lambda: any("broken.pt" in e for e in window.errors), timeout=30000)


def test_opening_another_file_drops_the_running_separation(qtbot, window, audio_files, tmp_path):
    long = tmp_path / "long.wav"
    sf.write(long, synthetic_sources(seconds=20.0).sum(0), SR)
    open_mixture(qtbot, window, long)
    window.panel.chunk.setValue(1.0)
    window.separate(["convtasnet"])
    qtbot.waitUntil(lambda: "chunk" in window.stage_label.text(), timeout=30000)
    open_mixture(qtbot, window, audio_files[0])
    window.runner.wait(30000)
    qtbot.wait(50)
    assert window.session.results == {} and window.errors == []
    assert len(window.session.mixture) == len(synthetic_sources()[0])
