"""Issue 15: blind A/B/X listening between two results for one source: seeded randomisation,
loudness matching, keyboard-only trials through the app's player, the tally and its p-value."""

import math

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import Qt

from app.abx import active_rms, binomial_p, match_loudness, new_test, pick_clips
from conftest import SR, FakePlayer, open_mixture, synthetic_sources
from fakes import add_records, record


def test_x_is_drawn_from_the_stored_seed():
    a = b = synthetic_sources(5.0)[0]
    t1 = new_test(a, b, SR, "m1", "m2", 0, trials=200, seed=1234)
    assert t1.seed == 1234
    assert t1.x_is_a == list(np.random.default_rng(1234).random(200) < 0.5)  # replayable
    t2 = new_test(a, b, SR, "m1", "m2", 0, trials=200, seed=1234)
    assert (t2.x_is_a, t2.clips) == (t1.x_is_a, t1.clips)
    assert new_test(a, b, SR, "m1", "m2", 0, trials=200, seed=99).x_is_a != t1.x_is_a
    assert 70 < sum(t1.x_is_a) < 130  # about half are A
    fresh = new_test(a, b, SR, "m1", "m2", 0)  # a random seed, kept
    assert isinstance(fresh.seed, int) and fresh.x_is_a == list(
        np.random.default_rng(fresh.seed).random(10) < 0.5
    )


def test_clips_avoid_silence_or_sit_at_the_play_head():
    x = synthetic_sources(8.0)[0].copy()
    x[: 4 * SR] = 0.0  # silent first half
    rng = np.random.default_rng(0)
    clips = pick_clips(x, SR, 10, 3.0, rng)
    assert all(e - s == 3 * SR for s, e in clips)
    assert all(np.sqrt(np.mean(x[s:e] ** 2)) > 0.1 * np.sqrt(np.mean(x**2)) for s, e in clips)
    assert pick_clips(x, SR, 3, 3.0, rng, at=6.5) == [(5 * SR, 8 * SR)] * 3  # clamped to the end


def test_loudness_matching_over_active_samples():
    s = synthetic_sources(3.0)[0]
    gap = np.zeros(SR, np.float32)
    a = np.concatenate([0.5 * s, gap])  # loud, with a second of silence
    b = np.concatenate([gap, 0.1 * s])  # quiet, the silence elsewhere
    assert active_rms(np.concatenate([s, gap, gap]), SR) == pytest.approx(
        active_rms(s, SR), rel=1e-6
    )
    ma, mb = match_loudness(a, b, SR)
    assert active_rms(ma, SR) == pytest.approx(active_rms(mb, SR), rel=1e-5)
    np.testing.assert_allclose(mb, b)  # the quieter stays
    np.testing.assert_allclose(ma, 0.2 * a, rtol=1e-5, atol=1e-7)  # the louder turned down


def test_binomial_p_value():
    assert binomial_p(10, 10) == pytest.approx(1 / 1024)
    assert binomial_p(0, 10) == 1.0
    assert binomial_p(7, 10) == pytest.approx(176 / 1024)
    assert binomial_p(9, 12) == pytest.approx(sum(math.comb(12, k) for k in range(9, 13)) / 4096)


@pytest.fixture
def two_results(qtbot, window, tmp_path):
    src = synthetic_sources(6.0, seed=4)
    path = tmp_path / "mix.wav"
    sf.write(path, src.sum(0), SR, subtype="FLOAT")
    open_mixture(qtbot, window, path)
    rng = np.random.default_rng(0)
    loud = 0.9 * src + 0.01 * rng.standard_normal(src.shape).astype(np.float32)
    quiet = 0.2 * src[::-1] + 0.02 * rng.standard_normal(src.shape).astype(
        np.float32
    )  # other order
    add_records(window, record("loud", loud, None, None), record("quiet", quiet, None, None))
    return window, loud, quiet


def heard(transport, n):
    player = transport.ensure_player()
    fade = transport.mixer.fade
    return player.pull(n)[fade:]


def test_keyboard_only_trials_through_the_player(qtbot, two_results):
    w, loud, quiet = two_results
    tr = w.transport
    tr.seek(1.25)
    before = {n: tr.mixer.state(n) for n in tr.mixer.track_names()}
    assert w.act_abx.isEnabled()
    dlg = w.abx_dialog()
    qtbot.addWidget(dlg)
    dlg.seed = 7
    dlg.source.setCurrentIndex(1)  # source 2, in the columns' order
    dlg.clip_seconds.setValue(3.0)
    dlg.show()
    from app.abx_dialog import KEYS_HELP

    assert all(k in KEYS_HELP for k in ("<b>A</b>", "<b>X</b>", "<b>1</b>", "<b>Enter</b>"))
    qtbot.keyClick(dlg, Qt.Key.Key_Return)  # Enter starts
    t = dlg.test
    assert (
        t is not None and t.seed == 7 and t.trials == 10 and (t.a_key, t.b_key) == ("loud", "quiet")
    )
    a_src = loud[w.session.order("loud")[1]]
    b_src = quiet[w.session.order("quiet")[1]]
    answers = []
    for i in range(t.trials):
        s, e = t.clips[i]
        assert e - s == 3 * SR
        qtbot.keyClick(dlg, Qt.Key.Key_A)
        hear_a = heard(tr, 8000)
        qtbot.keyClick(dlg, Qt.Key.Key_B)
        hear_b = heard(tr, 8000)
        qtbot.keyClick(dlg, Qt.Key.Key_X)
        hear_x = heard(tr, 8000)
        fade = tr.mixer.fade
        ma, mb = match_loudness(a_src[s:e], b_src[s:e], SR)
        np.testing.assert_allclose(hear_a, ma[fade:8000], atol=1e-6)  # A is result A's source
        np.testing.assert_allclose(hear_b, mb[fade:8000], atol=1e-6)
        np.testing.assert_allclose(hear_x, (ma if t.x_is_a[i] else mb)[fade:8000], atol=1e-6)
        # the two versions differ by several dB; what is played has one loudness
        assert active_rms(a_src[s:e], SR) > 2 * active_rms(b_src[s:e], SR)
        assert active_rms(ma, SR) == pytest.approx(active_rms(mb, SR), rel=1e-5)
        right = "A" if t.x_is_a[i] else "B"
        choice = right if i < 8 else ("B" if right == "A" else "A")  # 8 right, 2 wrong
        qtbot.keyClick(dlg, Qt.Key.Key_1 if choice == "A" else Qt.Key.Key_2)
        answers.append(choice)
        assert t.answers[i] == choice and f"X is {choice}" in dlg.choice_label.text()
        qtbot.keyClick(dlg, Qt.Key.Key_Return)  # next
    assert t.finished and t.answers == answers and t.correct == 8
    assert dlg.played[:3] == [("A", 0), ("B", 0), ("X", 0)]
    assert "8 of 10 correct" in dlg.result_label.text()
    assert (
        f"p = {binomial_p(8, 10):.3f}" in dlg.result_label.text()
        and "0.055" in dlg.result_label.text()
    )
    assert dlg.isVisible()  # Enter never closed the dialog
    dlg.reject()
    # the window's tracks, their states and the position are back
    assert tr.mixer.track_names() == ["mixture", "s1", "s2"]
    assert {n: tr.mixer.state(n) for n in tr.mixer.track_names()} == before
    assert tr.mixer.position_seconds == pytest.approx(1.25)


def test_next_needs_an_answer_and_clips_at_the_play_head(qtbot, two_results):
    w, loud, quiet = two_results
    w.transport.seek(2.0)
    dlg = w.abx_dialog()
    qtbot.addWidget(dlg)
    dlg.clip_from.setCurrentIndex(1)  # at the play head
    dlg.trials.setValue(3)
    t = dlg.start()
    assert t.clips == [(2 * SR, 6 * SR)] * 3  # 4 s from the play head
    qtbot.keyClick(dlg, Qt.Key.Key_Return)  # not answered: stays
    assert t.trial == 0 and not dlg.next_button.isEnabled()
    qtbot.keyClick(dlg, Qt.Key.Key_2)
    assert dlg.next_button.isEnabled()
    qtbot.keyClick(dlg, Qt.Key.Key_Return)
    assert t.trial == 1
    dlg.reject()


def test_needs_two_results(qtbot, window, audio_files):
    open_mixture(qtbot, window, audio_files[0])
    add_records(window, record("one", synthetic_sources(1.5), None, None))
    assert not window.act_abx.isEnabled()
    window.playback.show_abx()
    assert "two results" in window.errors[-1]


class SilentPlayer(FakePlayer):
    """A machine without an audio output."""

    available = False

    def __init__(self, mixer) -> None:
        super().__init__(mixer)
        self.unavailable_reason = "no output device"

    def play(self) -> bool:
        return False


def test_no_test_without_an_audio_output(qtbot, audio_files):
    """Issue 30: with "Playback unavailable" the test could be started and "played", giving a
    p-value from silence."""
    from app.main_window import MainWindow
    from app.settings import Settings

    w = MainWindow(Settings(), quiet=True, player_factory=SilentPlayer)
    qtbot.addWidget(w)
    w.show()
    w.start_background()
    qtbot.waitUntil(lambda: w.models.ready and w.audio_label.text() != "", timeout=60000)
    open_mixture(qtbot, w, audio_files[0])
    src = synthetic_sources(1.5)
    add_records(w, record("a", src, None, None), record("b", src[::-1], None, None))
    assert not w.act_abx.isEnabled() and "no output device" in w.act_abx.toolTip()
    w.playback.show_abx()
    assert "no output device" in w.errors[-1]
    dlg = w.abx_dialog()
    qtbot.addWidget(dlg)
    assert not dlg.start_button.isEnabled() and "no output device" in dlg.start_button.toolTip()
    assert dlg.start() is None and dlg.test is None
