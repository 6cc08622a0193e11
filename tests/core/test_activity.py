"""Speech activity: silero-vad's probabilities and regions, checked against the package."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch

from separation_core.cancel import CancelToken, cancel_scope
from separation_core.conversation import activity as A
from separation_core.errors import Cancelled, CocktailError
from separation_core.io.audio_io import resample

SR = A.SAMPLE_RATE
FRAME = A.WINDOW / SR

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed"
)


@pytest.fixture(scope="module")
def package():
    """silero-vad's own functions and its streaming ONNX model. Importing the package sets torch's
    thread count to 1; the count is put back for the tests that follow."""
    threads = torch.get_num_threads()
    silero_vad = pytest.importorskip("silero_vad")
    with warnings.catch_warnings():  # its loader uses importlib.resources.path, deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        model = silero_vad.load_silero_vad(onnx=True)
    torch.set_num_threads(threads)
    return SimpleNamespace(
        model=model,
        timestamps=silero_vad.get_speech_timestamps,
        from_probs=silero_vad.get_speech_timestamps_from_probs,
    )


@pytest.fixture(scope="module")
def dialogue(tmp_path_factory):
    """Two espeak-ng voices with pauses: (float32 audio at espeak's rate, that rate)."""
    folder = tmp_path_factory.mktemp("espeak")
    parts, rate = [], None
    for k, (voice, text) in enumerate(
        [
            ("en+m3", "The quick brown fox jumps over the lazy dog."),
            ("en+f4", "Please call Stella and ask her to bring these things from the store."),
            ("en+m3", "Six spoons of fresh snow peas, and maybe a snack for her brother Bob."),
        ]
    ):
        path = folder / f"{k}.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-w", str(path), text],
            check=True,
            capture_output=True,
            timeout=30,
        )
        x, rate = sf.read(path, dtype="float32")
        parts += [
            np.zeros(int(rate * (0.7 + 0.4 * k)), dtype=np.float32),
            0.3 * x / np.abs(x).max(),
        ]
    parts.append(np.zeros(int(rate * 0.9), dtype=np.float32))
    return np.concatenate(parts), rate


def leveled(wav: np.ndarray) -> torch.Tensor:
    """``wav`` at the loudness speech_probability gives it, as a tensor for the package."""
    return torch.from_numpy(wav * np.float32(A.loudness_gain(wav)))


def package_probabilities(model, wav: np.ndarray, gain=None) -> np.ndarray:
    """The package's loop (as get_speech_timestamps runs it): 512-sample windows in order, the
    last one zero-padded, the state carried; ``wav`` times ``gain`` (default: its own level)."""
    model.reset_states()
    x = leveled(wav) if gain is None else torch.from_numpy(wav * np.float32(gain))
    x = torch.nn.functional.pad(x, (0, -len(wav) % A.WINDOW))
    with torch.no_grad():
        return np.array(
            [model(x[i : i + A.WINDOW], SR).item() for i in range(0, len(x), A.WINDOW)],
            dtype=np.float32,
        )


def mask_of(timestamps: list[dict], frames: int) -> np.ndarray:
    """silero's timestamps (samples) as a frame mask."""
    mask = np.zeros(frames, dtype=bool)
    for t in timestamps:
        mask[t["start"] // A.WINDOW : -(-t["end"] // A.WINDOW)] = True
    return mask


@needs_espeak
@pytest.mark.parametrize("block_frames", [37, A.BLOCK_FRAMES])
def test_probabilities_equal_the_packages_streaming_model(
    package, dialogue, monkeypatch, block_frames
):
    monkeypatch.setattr(A, "BLOCK_FRAMES", block_frames)  # 37: the state crosses many blocks
    monkeypatch.setattr(A, "COLD_START_SECONDS", 0.0)  # the file read forwards only
    wav = resample(*dialogue, SR)
    probs, frame_seconds = A.speech_probability(wav, SR)
    assert frame_seconds == pytest.approx(0.032)
    assert len(probs) == -(-len(wav) // A.WINDOW) > 10 * 37
    np.testing.assert_allclose(probs, package_probabilities(package.model, wav), atol=1e-6)


@needs_espeak
def test_the_first_second_is_also_read_backwards(package, dialogue):
    # the recording starts mid-sentence: the first 0.7 s of silence and 0.2 s of speech cut
    wav = resample(*dialogue, SR)[int(0.9 * SR) :]
    probs, _ = A.speech_probability(wav, SR)
    gain = A.loudness_gain(wav)
    forward = package_probabilities(package.model, wav, gain)
    head = int(A.BACKWARD_SECONDS * SR) // A.WINDOW * A.WINDOW
    backward = package_probabilities(package.model, np.ascontiguousarray(wav[:head][::-1]), gain)
    backward = backward[::-1]
    cold = round(A.COLD_START_SECONDS * SR / A.WINDOW)
    np.testing.assert_allclose(probs[:cold], np.maximum(forward[:cold], backward[:cold]), atol=1e-6)
    np.testing.assert_allclose(probs[cold:], forward[cold:], atol=1e-6)
    assert (backward[:cold] > forward[:cold] + 0.1).any()  # the backward read changed something


@needs_espeak
def test_the_backward_read_is_the_packages_model_on_the_reversed_recording(package, dialogue):
    wav = resample(*dialogue, SR)[: 5 * SR + 300]  # the last frame partial
    padded = np.pad(wav, (0, -len(wav) % A.WINDOW))
    theirs = package_probabilities(
        package.model, np.ascontiguousarray(padded[::-1]), A.loudness_gain(wav)
    )[::-1]
    backward = A.backward_probability(wav, SR)
    assert len(backward) == len(A.speech_probability(wav, SR)[0])
    np.testing.assert_allclose(backward, theirs, atol=1e-6)


def test_add_missed_adds_only_the_regions_that_touch_no_found_speech():
    found = np.array([0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0], bool)
    other = np.array([0, 0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 1], bool)
    # (2, 5) overlaps found speech: its edges stay; (7, 9) and (11, 12) were missed whole
    assert A.add_missed(found, other).nonzero()[0].tolist() == [1, 2, 7, 8, 11]
    assert A.add_missed(found, np.roll(found, 2)).nonzero()[0].tolist() == [1, 2]  # touching
    assert not A.add_missed(np.zeros(4, bool), np.zeros(4, bool)).any()


def test_the_pipeline_s_speech_holds_what_only_the_backward_read_hears(monkeypatch):
    from separation_core.conversation import pipeline as P

    frames = 200  # 6.4 s
    forward = np.zeros(frames, np.float32)
    forward[20:60] = 0.9
    backward = forward.copy()
    backward[120:150] = 0.9  # a word the forward read missed
    backward[15:20] = 0.9  # an earlier onset of found speech: not taken
    monkeypatch.setattr(A, "speech_probability", lambda x, rate: (forward, FRAME))
    monkeypatch.setattr(A, "backward_probability", lambda x, rate: backward)
    speech = P.speech_frames(np.zeros(frames * A.WINDOW, np.float32))
    at = (np.arange(len(speech)) * P.HOP / FRAME).astype(int)  # each 10 ms frame's VAD frame
    expected = A.speech_regions(forward, FRAME) | A.speech_regions(
        np.where(np.arange(frames) >= 100, backward, 0), FRAME
    )
    np.testing.assert_array_equal(speech, expected[np.minimum(at, frames - 1)])
    assert speech[int(135 * FRAME / P.HOP)] and not speech[int(10 * FRAME / P.HOP)]


def test_speech_cut_by_the_recordings_start_or_end_is_kept_however_short():
    p = np.array([0.6, 0.6, 0.1, 0.1, 0.1, 0.6, 0.6, 0.1, 0.1, 0.1, 0.1, 0.6], np.float32)
    # min_speech 0.1 s (3 frames): the 2 frames in the middle go, those at either end stay
    kept = A.speech_regions(p, FRAME, 0.5, 0.05, 0.1, 0.0).nonzero()[0].tolist()
    assert kept == [0, 1, 11]
    assert not A.speech_regions(p[1:-1], FRAME, 0.5, 0.05, 0.1, 0.0)[2:].any()


@needs_espeak
@pytest.mark.parametrize("threshold, min_silence_ms", [(0.5, 100), (0.3, 300), (0.2, 60)])
def test_regions_equal_get_speech_timestamps(
    package, dialogue, threshold, min_silence_ms, monkeypatch
):
    monkeypatch.setattr(A, "COLD_START_SECONDS", 0.0)  # the file read forwards, as silero reads it
    wav = resample(*dialogue, SR)
    probs, frame_seconds = A.speech_probability(wav, SR)
    theirs = package.timestamps(
        leveled(wav),
        package.model,
        threshold=threshold,
        min_silence_duration_ms=min_silence_ms,
        speech_pad_ms=0,
    )
    mine = A.speech_regions(probs, frame_seconds, threshold, min_silence_ms / 1000, 0.25, 0.0)
    assert len(theirs) >= 3
    np.testing.assert_array_equal(mine, mask_of(theirs, len(probs)))
    padded = package.timestamps(
        leveled(wav),
        package.model,
        threshold=threshold,
        min_silence_duration_ms=min_silence_ms,
        speech_pad_ms=100,
    )
    joined = []  # silero pads gaps shorter than twice the pad until they touch
    for t in padded:
        if joined and t["start"] <= joined[-1][1]:
            joined[-1][1] = t["end"]
        else:
            joined.append([t["start"], t["end"]])
    intervals = A.speech_intervals(
        A.speech_regions(probs, frame_seconds, threshold, min_silence_ms / 1000, 0.25, 0.1),
        frame_seconds,
        len(wav) / SR,
    )
    assert len(intervals) == len(joined)
    for (a, b), (start, end) in zip(intervals, joined):
        assert abs(a - start / SR) <= FRAME and abs(b - end / SR) <= FRAME


@pytest.mark.parametrize("seed", range(20))
def test_hysteresis_is_silero_s_on_random_probabilities(package, seed):
    rng = np.random.default_rng(seed)
    # runs of speech-like and silence-like probabilities, with a little jitter in between
    probs = np.repeat(rng.uniform(0, 1, 60), rng.integers(1, 25, 60))
    probs = np.clip(probs + rng.normal(0, 0.1, len(probs)), 0, 1).astype(np.float32)
    threshold = float(rng.uniform(0.2, 0.8))
    min_silence, min_speech = float(rng.uniform(0, 0.5)), float(rng.uniform(0, 0.4))
    theirs = package.from_probs(
        probs.tolist(),
        threshold=threshold,
        min_silence_duration_ms=1000 * min_silence,
        min_speech_duration_ms=1000 * min_speech,
        speech_pad_ms=0,
    )
    mine = A.speech_regions(probs, FRAME, threshold, min_silence, min_speech, 0.0)
    np.testing.assert_array_equal(mine, mask_of(theirs, len(probs)))


def test_hysteresis_by_hand():
    p = np.array([0.1, 0.6, 0.45, 0.4, 0.3, 0.2, 0.2, 0.2, 0.6, 0.1, 0.1, 0.1, 0.1], np.float32)
    # on at 0.6; 0.45 and 0.4 stay above the offset 0.35, so the silence starts at frame 4. With
    # 0.05 s (1.6 frames) it ends the speech there; with 0.2 s it is not long enough before speech
    # returns at frame 8, and the speech runs to the end
    assert A.speech_regions(p, FRAME, 0.5, 0.05, 0.0, 0.0).nonzero()[0].tolist() == [1, 2, 3, 8]
    assert A.speech_regions(p, FRAME, 0.5, 0.2, 0.0, 0.0).nonzero()[0].tolist() == list(
        range(1, 13)
    )
    # speech of 3 frames (0.096 s) is dropped at min_speech 0.1 s; frame 8 alone too
    assert not A.speech_regions(p, FRAME, 0.5, 0.05, 0.1, 0.0).any()
    # a pad of 0.064 s is two frames each side: the gap of 4 frames closes
    assert A.speech_regions(p, FRAME, 0.5, 0.05, 0.0, 0.064).nonzero()[0].tolist() == list(
        range(0, 11)
    )


@needs_espeak
def test_the_loud_frames_are_brought_to_one_level_so_the_gain_does_not_matter(dialogue):
    wav = resample(*dialogue, SR)
    n = len(wav) // A.WINDOW
    rms = np.sqrt(np.mean(wav[: n * A.WINDOW].reshape(n, -1).astype(np.float64) ** 2, axis=1))
    loud = np.percentile(rms, A.LOUD_PERCENTILE)
    assert 20 * np.log10(A.loudness_gain(wav) * loud) == pytest.approx(A.LOUD_DBFS, abs=1e-4)
    assert A.loudness_gain(np.zeros(1000, np.float32)) == 1.0
    probs, frame_seconds = A.speech_probability(wav, SR)
    for scale in (0.05, 4.0):
        other, _ = A.speech_probability(np.float32(scale) * wav, SR)
        np.testing.assert_allclose(other, probs, atol=1e-3)
        np.testing.assert_array_equal(
            A.speech_regions(other, frame_seconds), A.speech_regions(probs, frame_seconds)
        )


def test_silence_and_white_noise_are_not_speech():
    probs, frame_seconds = A.speech_probability(np.zeros(10 * SR, np.float32), SR)
    assert not A.speech_regions(probs, frame_seconds).any()
    rng = np.random.default_rng(0)
    for level in (0.01, 0.1):
        noise = (level * rng.standard_normal(20 * SR)).astype(np.float32)
        probs, frame_seconds = A.speech_probability(noise, SR)
        assert A.speech_regions(probs, frame_seconds).mean() < 0.05


@needs_espeak
@pytest.mark.parametrize(
    "rate, frames",
    [
        (44100, 1),
        # 8 kHz holds nothing above 4 kHz: the model hears other audio, and at the default
        # threshold one onset of this dialogue comes two frames earlier (within one at 0.5)
        (8000, 2),
    ],
)
def test_other_rates_give_the_same_regions_within_a_frame_or_two(dialogue, rate, frames):
    reference = A.speech_intervals(
        A.speech_regions(*A.speech_probability(resample(*dialogue, SR), SR)), FRAME
    )
    probs, frame_seconds = A.speech_probability(resample(*dialogue, rate), rate)
    other = A.speech_intervals(A.speech_regions(probs, frame_seconds), frame_seconds)
    assert len(reference) == len(other) >= 3
    for (a, b), (c, d) in zip(reference, other):
        assert abs(a - c) <= frames * FRAME + 1e-9 and abs(b - d) <= frames * FRAME + 1e-9


def test_progress_runs_to_one_and_cancel_stops_between_blocks():
    wav = np.zeros(3 * A.BLOCK_FRAMES * A.WINDOW, np.float32)
    seen = []
    A.speech_probability(wav, SR, progress=lambda f, stage: seen.append((f, stage)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert len(fractions) == 4 and {s for _, s in seen} == {"voice activity"}

    token = CancelToken()

    def cancel_after_first_block(fraction, stage):
        if fraction > 0:
            token.cancel()

    with cancel_scope(token), pytest.raises(Cancelled):
        A.speech_probability(wav, SR, progress=cancel_after_first_block)
    token = CancelToken()
    token.cancel()
    with cancel_scope(token), pytest.raises(Cancelled):
        A.speech_probability(wav, SR)


def test_empty_input_and_intervals():
    probs, frame_seconds = A.speech_probability(np.zeros(0, np.float32), SR)
    assert probs.shape == (0,) and not A.speech_regions(probs, frame_seconds).any()
    mask = np.array([1, 1, 0, 0, 1, 1, 1], bool)
    assert A.speech_intervals(mask, 0.5) == [(0.0, 1.0), (2.0, 3.5)]
    assert A.speech_intervals(mask, 0.5, duration=3.2) == [(0.0, 1.0), (2.0, 3.2)]


def test_bad_input_and_settings_are_refused_in_one_line():
    with pytest.raises(CocktailError, match=r"one channel \[time\], got shape \(2, 100\)"):
        A.speech_probability(np.zeros((2, 100), np.float32), SR)
    probs = np.full(10, 0.9, np.float32)
    with pytest.raises(CocktailError, match="threshold must be in"):
        A.speech_regions(probs, FRAME, threshold=1.5)
    with pytest.raises(CocktailError, match="pad must be >= 0"):
        A.speech_regions(probs, FRAME, pad=-0.1)


def test_a_missing_package_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(CocktailError) as caught:
        A.model_path()
    assert A.INSTALL in str(caught.value) and "\n" not in str(caught.value)
    spec = SimpleNamespace(submodule_search_locations=[str(tmp_path)])
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: spec)
    with pytest.raises(CocktailError, match="model is missing; reinstall") as caught:
        A.model_path()
    assert str(tmp_path / "data" / A.MODEL_FILE) in str(caught.value)
