"""The mixer behind playback: solo / mute / gain, switching without a gap, loop range."""

import numpy as np
import pytest

from app.mixer import Mixer, TrackState, track_weights


def tracks(n=4000):
    rng = np.random.default_rng(1)
    return {name: rng.standard_normal(n).astype(np.float32) for name in ("mixture", "s1", "s2")}


def test_weights_follow_solo_mute_gain():
    states = {"a": TrackState(gain_db=-6.0), "b": TrackState(mute=True), "c": TrackState()}
    w = track_weights(states)
    assert w["a"] == pytest.approx(10 ** (-6 / 20))
    assert w["b"] == 0.0 and w["c"] == 1.0
    states["c"] = TrackState(solo=True)
    w = track_weights(states)
    assert w == {"a": 0.0, "b": 0.0, "c": 1.0}
    states["b"] = TrackState(solo=True, mute=True)  # mute wins over solo
    assert track_weights(states)["b"] == 0.0


def test_render_mixes_audible_tracks_and_advances():
    t = tracks()
    m = Mixer(16000)
    m.set_tracks(t, {"mixture": TrackState(mute=True)})
    out = m.render(1000)
    np.testing.assert_allclose(out, t["s1"][:1000] + t["s2"][:1000], rtol=1e-6, atol=1e-6)
    assert m.position == 1000
    m.set_solo("s2", True)
    m.set_gain_db("s2", 20 * np.log10(0.5))
    m.render(m.fade)  # the cross-fade block
    out = m.render(500)
    np.testing.assert_allclose(
        out, 0.5 * t["s2"][1000 + m.fade : 1500 + m.fade], rtol=1e-5, atol=1e-6
    )


def test_switch_while_playing_has_no_gap_and_crossfades():
    t = tracks()
    m = Mixer(16000, fade=64)
    m.set_tracks(t)
    m.solo_only("s1")
    a = m.render(256)
    m.solo_only("s2")  # switch what is heard between two blocks
    b = m.render(256)
    assert m.position == 512  # the position ran on: no gap, no restart
    np.testing.assert_allclose(a, t["s1"][:256], atol=1e-6)
    ramp = (np.arange(64) + 1.0) / 65.0
    expected = t["s1"][256:320] * (1 - ramp) + t["s2"][256:320] * ramp
    np.testing.assert_allclose(b[:64], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b[64:], t["s2"][320:512], atol=1e-6)
    # replacing the tracks keeps each name's state
    m.set_tracks({"mixture": t["mixture"], "s1": t["s2"], "s2": t["s1"]})
    assert m.state("s2").solo and not m.state("s1").solo


def test_loop_range_repeats_and_end_is_reported():
    x = np.arange(1000, dtype=np.float32)
    m = Mixer(1000)
    m.set_tracks({"x": x})
    m.set_loop(100, 200)
    m.seek(150)
    out = m.render(250)
    expected = np.concatenate([x[150:200], x[100:200], x[100:200]])
    np.testing.assert_array_equal(out, expected)
    assert not m.at_end
    m.set_loop(None)
    m.seek(900)
    out = m.render(300)
    np.testing.assert_array_equal(out[:100], x[900:])
    assert np.all(out[100:] == 0) and m.at_end


def test_seek_is_clamped():
    m = Mixer(100)
    m.set_tracks({"x": np.zeros(50, np.float32)})
    m.seek(-5)
    assert m.position == 0
    m.seek_seconds(10)
    assert m.position == 50
