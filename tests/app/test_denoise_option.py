"""The run options' "Denoise first (GTCRN)" tick: the models run on the bundled denoiser's speech;
and the denoiser itself in the window, with its own masks."""

from __future__ import annotations

import numpy as np

from conftest import open_mixture, run_models


def test_ticking_denoise_runs_the_denoiser_first(qtbot, window, audio_files):
    from separation_core.checkpoints.catalog import load_model
    from separation_core.engine.inference import denoise_first, separate

    open_mixture(qtbot, window, audio_files[0])
    stages = []
    window.runner.progress.connect(lambda job, f, st: stages.append(st))
    window.models.set_show_untrained(True)
    window.panel.denoise.setChecked(True)
    assert window.panel.settings().denoise
    done = run_models(qtbot, window, ["ff-mask"])[0]
    assert done.settings.denoise and done.settings.to_dict()["denoise"] is True
    assert "denoise" in done.result.timings
    assert any("ff-mask: denoising" in st for st in stages)

    mixture, rate = window.session.mixture, window.session.sample_rate
    speech = denoise_first(load_model("gtcrn-dns3-16k"), mixture, rate)
    expected = separate(load_model("ff-mask"), speech, rate).waveforms
    np.testing.assert_allclose(done.result.waveforms, expected, atol=1e-4)

    window.panel.denoise.setChecked(False)
    plain = run_models(qtbot, window, ["ff-mask"])[0]
    assert "denoise" not in plain.result.timings
    np.testing.assert_allclose(
        plain.result.waveforms, separate(load_model("ff-mask"), mixture, rate).waveforms, atol=1e-4
    )


def test_the_tick_is_kept_with_the_run_options(qtbot, window):
    window.panel.set_settings({"denoise": True})
    assert window.panel.denoise.isChecked()
    window.panel.set_settings({})
    assert not window.panel.denoise.isChecked()


def test_gtcrn_runs_in_the_window_with_its_own_masks(qtbot, window, audio_files):
    open_mixture(qtbot, window, audio_files[0])
    done = run_models(qtbot, window, ["gtcrn-dns3-16k"])[0]
    result = done.result
    assert result.mask_kind == "estimated" and result.masks.shape[:2] == (2, 257)
    # speech + noise = the mixture (the masks are float16 for display, the waveforms are not)
    np.testing.assert_allclose(result.waveforms.sum(0), window.session.mixture, atol=1e-4)
    window.set_view("masks")
    qtbot.wait(30)
    assert "gtcrn-dns3-16k" in {c.key for c in window.masks.cells}


def test_the_model_list_says_which_models_give_speech_and_noise(window):
    panel = window.panel
    assert "Outputs speech and noise" in panel.item("gtcrn-dns3-16k").toolTip(0)
    default = next(i for i in panel.entries if panel.entries[i].outputs_are_voices)
    assert "speech and noise" not in panel.item(default).toolTip(0)
