"""Item 3: lanes with solo / mute / gain feeding the mixer, playhead, Space, click to seek, loop,
switching what is heard while playing, and playback unavailable."""

import numpy as np
import pytest
from PySide6.QtCore import Qt

from conftest import open_mixture, run_models


@pytest.fixture
def separated(qtbot, window, audio_files):
    open_mixture(qtbot, window, audio_files[0])
    run_models(qtbot, window, ["ff-mask", "lstm-mask"])
    window.result_combo.setCurrentText("ff-mask")
    return window


def aligned(window, key):
    rec = window.session.results[key]
    return [rec.result.waveforms[i] for i in window.session.order(key)]


def test_one_lane_per_source_and_solo_mute_gain_mix(qtbot, separated):
    w = separated
    player = w.transport.ensure_player()
    srcs = aligned(w, "ff-mask")
    assert (
        len(w.lanes.visible_lanes()) == 2 and w.lanes.mixture.mute.isChecked()
    )  # sources sum to the mixture
    qtbot.mouseClick(w.lanes.lanes[1].solo, Qt.MouseButton.LeftButton)
    w.transport.seek(0.0)
    np.testing.assert_allclose(
        player.pull(4000)[w.transport.mixer.fade :],
        srcs[1][w.transport.mixer.fade : 4000],
        atol=1e-6,
    )
    qtbot.mouseClick(w.lanes.lanes[1].solo, Qt.MouseButton.LeftButton)  # unsolo
    qtbot.mouseClick(w.lanes.lanes[0].mute, Qt.MouseButton.LeftButton)  # mute source 1
    w.lanes.lanes[1].gain.setValue(-6.0)
    player.pull(w.transport.mixer.fade)
    out = player.pull(2000)
    start = 4000 + w.transport.mixer.fade
    np.testing.assert_allclose(
        out, 10 ** (-6 / 20) * srcs[1][start : start + 2000], rtol=1e-4, atol=1e-6
    )


def test_switch_result_while_playing_keeps_position_and_solo(qtbot, separated):
    w = separated
    player = w.transport.ensure_player()
    w.lanes.lanes[0].solo.setChecked(True)
    w.act_play.trigger()
    assert w.transport.is_playing and w.act_play.text() == "Pause"
    player.pull(3000)
    w.result_combo.setCurrentText("lstm-mask")  # while playing
    assert w.transport.is_playing
    fade = w.transport.mixer.fade
    player.pull(fade)
    out = player.pull(1000)
    assert w.transport.mixer.position == 4000 + fade
    np.testing.assert_allclose(
        out, aligned(w, "lstm-mask")[0][3000 + fade : 4000 + fade], atol=1e-6
    )
    assert w.lanes.lanes[0].solo.isChecked()


def test_space_plays_playhead_moves_click_seeks(qtbot, separated):
    w = separated
    player = w.transport.ensure_player()
    w.activateWindow()
    qtbot.keyClick(w, Qt.Key.Key_Space)
    assert w.transport.is_playing
    player.pull(8000)
    qtbot.waitUntil(
        lambda: w.lanes.lanes[0].wave.link.playhead.value() == pytest.approx(0.5), timeout=2000
    )
    assert w.lanes.mixture.spec.link.playhead.value() == pytest.approx(0.5)
    qtbot.keyClick(w, Qt.Key.Key_Space)
    assert not w.transport.is_playing
    # click on the mixture waveform: seek there
    plot = w.lanes.mixture.wave
    vb = plot.getPlotItem().getViewBox()
    scene = vb.mapViewToScene(vb.mapToView(vb.boundingRect().center()))
    target = vb.mapSceneToView(scene).x()
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=plot.mapFromScene(scene))
    assert w.transport.mixer.position_seconds == pytest.approx(target, abs=0.01)


def test_loop_range_follows_the_region(qtbot, separated):
    w = separated
    w.axis.set_range(0.0, 1.0)
    w.act_loop.trigger()
    region = w.lanes.loop_region
    assert region.isVisible() and w.act_loop.isChecked()
    sr = w.session.sample_rate
    assert w.transport.mixer.loop == (int(0.25 * sr), int(0.75 * sr))
    region.setRegion((0.1, 0.2))
    assert w.transport.mixer.loop == (int(0.1 * sr), int(0.2 * sr))
    player = w.transport.ensure_player()
    w.transport.seek(0.1)
    player.pull(w.transport.mixer.fade)
    out = player.pull(int(0.3 * sr))
    period = int(0.1 * sr)
    np.testing.assert_allclose(out[period : 2 * period], out[2 * period : 3 * period], atol=1e-6)
    w.act_loop.trigger()
    assert w.transport.mixer.loop is None and not region.isVisible()


def test_playback_unavailable_is_reported_and_harmless(qtbot, audio_files, monkeypatch):
    import app.player
    from app.main_window import MainWindow
    from app.settings import Settings

    monkeypatch.setattr(
        app.player, "_load_sounddevice", lambda: (None, "no audio output device (test)")
    )
    w = MainWindow(Settings(), quiet=True)
    qtbot.addWidget(w)
    w.show()
    w.start_background()
    qtbot.waitUntil(lambda: w.audio_label.text() == "Playback unavailable", timeout=5000)
    assert "no audio output device" in w.audio_label.toolTip()
    qtbot.waitUntil(lambda: w.models.ready, timeout=60000)
    open_mixture(qtbot, w, audio_files[0])
    w.act_play.trigger()
    assert not w.transport.is_playing
    assert "unavailable" in w.statusBar().currentMessage()
    w.runner.wait(5000)
