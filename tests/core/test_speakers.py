"""The speaker encoder: resemblyzer's features and network rebuilt, checked against the package."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from helpers import espeak, needs_espeak
from separation_core.cancel import CancelToken
from separation_core.conversation import speakers as S
from separation_core.errors import Cancelled, CheckpointError, CocktailError
from separation_core.io.audio_io import resample

SR = S.SAMPLE_RATE


def synthetic_voice(seconds: float, f0: float, seed: int) -> np.ndarray:
    """A voiced buzz: 30 harmonics of a wandering pitch, shaped by a 4 Hz syllable envelope, plus
    a little noise, float32 at 16 kHz."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    pitch = f0 * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6)))
    phase = 2 * np.pi * np.cumsum(pitch) / SR
    k = np.arange(1, 31)[:, None]
    buzz = (np.sin(k * phase) / k).sum(0)
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2
    return (0.05 * buzz * envelope + 0.002 * rng.standard_normal(t.size)).astype(np.float32)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def package():
    """resemblyzer's own VoiceEncoder and audio module (need librosa and webrtcvad)."""
    pytest.importorskip("librosa", reason="librosa (test extra) compares the features")
    resemblyzer = pytest.importorskip(
        "resemblyzer", reason=f"resemblyzer not installed: {S.INSTALL}"
    )
    pytest.importorskip("webrtcvad", reason="resemblyzer imports webrtcvad (webrtcvad-wheels)")
    encoder = resemblyzer.VoiceEncoder("cpu", verbose=False)
    return SimpleNamespace(encoder=encoder, audio=resemblyzer.audio)


@pytest.fixture(scope="module")
def encoder() -> S.SpeakerEncoder:
    try:
        return S.SpeakerEncoder.shared()
    except CocktailError as err:
        pytest.skip(str(err))


def test_filterbank_equals_librosa():
    librosa = pytest.importorskip("librosa", reason="librosa (test extra) is the reference")
    ref = librosa.filters.mel(sr=SR, n_fft=S.N_FFT, n_mels=S.N_MELS)
    np.testing.assert_allclose(S.mel_filterbank(), ref, rtol=1e-6, atol=1e-6 * ref.max())


def test_mel_spectrogram_equals_resemblyzers_librosa_call():
    librosa = pytest.importorskip("librosa", reason="librosa (test extra) is the reference")
    wav = synthetic_voice(2.0, 140.0, seed=1)[:31_977]  # not a whole number of hops
    # resemblyzer.audio.wav_to_mel_spectrogram, spelled out
    ref = librosa.feature.melspectrogram(y=wav, sr=SR, n_fft=400, hop_length=160, n_mels=40).T
    mel = S.mel_spectrogram(wav)
    assert mel.shape == (1 + len(wav) // S.HOP, S.N_MELS) == ref.shape
    np.testing.assert_allclose(mel, ref, rtol=1e-5, atol=1e-5 * ref.max())


def test_mel_spectrogram_of_a_tone_peaks_in_its_band():
    f = 1234.0
    wav = np.sin(2 * np.pi * f * np.arange(SR) / SR).astype(np.float32)
    mel = S.mel_spectrogram(wav)
    bank = S.mel_filterbank()
    centres = np.fft.rfftfreq(S.N_FFT, 1 / SR)[bank.argmax(axis=1)]
    assert abs(centres[mel[50].argmax()] - f) < 150.0
    # frame 50 is centred on sample 50 * HOP: the bank over its periodic-Hann power spectrum
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(S.N_FFT) / S.N_FFT)
    frame = wav[50 * S.HOP - 200 : 50 * S.HOP + 200] * window
    power = np.abs(np.fft.rfft(frame)) ** 2
    np.testing.assert_allclose(mel[50], bank @ power, rtol=1e-5)


def test_volume_is_raised_to_minus_30_dbfs_never_lowered():
    quiet = synthetic_voice(1.0, 120.0, seed=2) * 0.01
    raised = S.normalize_volume(quiet)
    assert 20 * np.log10(np.sqrt(np.mean(raised.astype(np.float64) ** 2))) == pytest.approx(
        -30, abs=1e-4
    )
    np.testing.assert_allclose(raised / quiet, raised[0] / quiet[0], rtol=1e-5)
    loud = quiet * 1000
    np.testing.assert_array_equal(S.normalize_volume(loud), loud)
    np.testing.assert_array_equal(S.normalize_volume(np.zeros(100)), np.zeros(100))


def test_volume_equals_the_packages(package):
    for gain in (0.003, 3.0):
        wav = synthetic_voice(1.0, 120.0, seed=3) * gain
        ref = package.audio.normalize_volume(wav, -30, increase_only=True)
        np.testing.assert_allclose(S.normalize_volume(wav), ref, rtol=1e-5)


@pytest.mark.parametrize("seconds", [0.9, 2.55, 6.2])
def test_segment_embedding_equals_embed_utterance(package, encoder, seconds):
    wav = synthetic_voice(seconds, 110.0, seed=4) * 0.2
    ref = package.encoder.embed_utterance(
        package.audio.normalize_volume(wav, -30, increase_only=True)
    )
    mine = encoder.embed_segment(wav)
    assert mine.shape == (S.EMBEDDING_DIM,)
    assert np.linalg.norm(mine) == pytest.approx(1.0, abs=1e-5)
    assert cosine(mine, ref) > 0.9999


def test_partial_windows_equal_the_packages(package, encoder):
    wav = synthetic_voice(4.0, 180.0, seed=5)
    normalised = package.audio.normalize_volume(wav, -30, increase_only=True)
    # rate=16: a partial every 6 frames, the sliding windows resemblyzer's diarization demo uses
    _, partials, slices = package.encoder.embed_utterance(normalised, return_partials=True, rate=16)
    starts = [s.start for s in slices]
    assert starts[-1] + 160 * S.HOP > len(wav)  # the last windows run past the end
    mine = encoder.embed_windows(wav, starts, 160 * S.HOP)
    assert mine.shape == partials.shape
    assert min(cosine(a, b) for a, b in zip(mine, partials)) > 0.9999
    wav_slices, _ = package.encoder.compute_partial_slices(len(wav), rate=1.3, min_coverage=0.75)
    np.testing.assert_array_equal(S.partial_starts(len(wav)) * S.HOP, [s.start for s in wav_slices])


def test_windows_are_placed_on_the_frame_grid_at_any_rate(encoder):
    wav = synthetic_voice(3.0, 150.0, seed=6) * 4  # loud: no volume change, padded or not
    starts = np.array([0, 8000, 16000, 40000])
    assert S.SpeakerEncoder.shared() is encoder and not encoder.training
    base = encoder.embed_windows(wav, starts, 24000)
    assert base.shape == (4, S.EMBEDDING_DIM)
    np.testing.assert_allclose(np.linalg.norm(base, axis=1), 1.0, atol=1e-5)
    # the same windows through the 16 kHz grid: windows running past the end see silence
    padded = np.concatenate([wav, np.zeros(30000, np.float32)])
    np.testing.assert_allclose(encoder.embed_windows(padded, starts, 24000), base, atol=1e-5)
    # the same windows at 48 kHz (resampled on the way in)
    at48 = resample(wav, SR, 48000)
    other = encoder.embed_windows(at48, starts * 3, 72000, sample_rate=48000)
    assert min(cosine(a, b) for a, b in zip(other, base)) > 0.999
    assert encoder.embed_windows(wav, [], 24000).shape == (0, S.EMBEDDING_DIM)


def test_window_arguments_are_checked_and_work_can_be_cancelled(encoder):
    wav = synthetic_voice(1.0, 150.0, seed=7)
    with pytest.raises(ValueError, match="start"):
        encoder.embed_windows(wav, [-160], 1600)
    with pytest.raises(ValueError, match="under one 10 ms frame"):
        encoder.embed_windows(wav, [0], 50)
    with pytest.raises(ValueError, match="empty"):
        encoder.embed_segment(np.zeros(0, np.float32))
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        encoder.embed_windows(wav, [0, 1600], 1600, cancel=token)


@needs_espeak
def test_two_voices_are_farther_apart_than_two_utterances_of_one(encoder):
    lines = [
        "The quick brown fox jumps over the lazy dog while the farmer watches.",
        "Please call Stella and ask her to bring these things with her from the store.",
    ]
    male = [encoder.embed_segment(espeak(text, "en+m3", SR)) for text in lines]
    female = [encoder.embed_segment(espeak(text, "en+f4", SR)) for text in lines]
    same = min(cosine(*male), cosine(*female))
    across = max(cosine(m, f) for m in male for f in female)
    assert same > across + 0.1


def test_missing_package_names_the_install_command(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(CocktailError) as caught:
        S.pretrained_weights_path()
    message = str(caught.value)
    assert "pip install --no-deps resemblyzer==0.1.4" in message and "\n" not in message


def test_missing_weights_file_names_it(monkeypatch, tmp_path):
    spec = SimpleNamespace(submodule_search_locations=[str(tmp_path)])
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: spec)
    with pytest.raises(CocktailError, match="pretrained.pt.*resemblyzer==0.1.4") as caught:
        S.pretrained_weights_path()
    assert str(tmp_path / "pretrained.pt") in str(caught.value)


def test_unusable_weights_are_checkpoint_errors(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    wrong = tmp_path / "wrong.pt"
    torch.save({"model_state": {"linear.weight": torch.zeros(3, 3)}}, wrong)
    cases = [
        (garbage, "not a readable torch checkpoint"),
        (wrong, "model_state['lstm.weight_ih_l0'] is missing or not of shape (1024, 40)"),
        (tmp_path / "absent.pt", "weights are missing"),
    ]
    for path, problem in cases:
        with pytest.raises(CheckpointError) as caught:
            S.SpeakerEncoder.from_file(path)
        message = str(caught.value)
        assert message.startswith(f"{path}: ") and problem in message and "\n" not in message


def test_mel_blocks_read_the_audio_as_one_padded_array(monkeypatch):
    """Frames computed block by block from slices of the audio (zero-extended, scaled) are those of
    the padded, scaled audio computed at once."""
    wav = synthetic_voice(1.3, 150.0, seed=3)[:20_811]
    whole = S.mel_spectrogram(wav)
    monkeypatch.setattr(S, "MEL_BLOCK", 7)  # many blocks, edges inside the audio and its padding
    np.testing.assert_allclose(S.mel_spectrogram(wav), whole, rtol=1e-6, atol=1e-9 * whole.max())
    monkeypatch.undo()
    gain = 3.7
    extended = S.mel_spectrogram(wav, length=len(wav) + 1_000, gain=gain)
    scaled = np.pad((wav * gain).astype(np.float32), (0, 1_000))
    np.testing.assert_array_equal(extended, S.mel_spectrogram(scaled))
    assert extended.shape == (1 + (len(wav) + 1_000) // S.HOP, S.N_MELS)
    assert S.mel_spectrogram(wav, length=10).shape == whole.shape  # never shorter than the audio


@pytest.mark.parametrize("n", [1, 129, 999, 1_000, 4_321, 65_536 + 17])
def test_the_sum_of_squares_is_numpys(monkeypatch, n):
    """Split as numpy's pairwise sum splits (equal to the last bit with today's numpy; within
    rounding whatever numpy's order)."""
    monkeypatch.setattr(S, "SQUARES_BLOCK", 128)  # deep splits on small arrays
    x = (np.random.default_rng(n).standard_normal(n) * 0.1).astype(np.float32)
    expected = float(np.sum(np.square(x, dtype=np.float64)))
    assert S._sum_of_squares(x) == pytest.approx(expected, rel=1e-13, abs=0)


def test_volume_gain_is_what_normalize_volume_applies():
    quiet = synthetic_voice(1.0, 120.0, seed=4) * np.float32(0.01)
    gain = S.volume_gain(quiet)
    np.testing.assert_array_equal(S.normalize_volume(quiet), (quiet * gain).astype(np.float32))
    assert S.volume_gain(quiet * np.float32(1000)) is None and S.volume_gain(np.zeros(9)) is None


@needs_espeak
def test_the_bundled_judge_is_a_fine_tuned_copy_of_the_encoder(encoder):
    """The judge loads from resources/ (weights_only), once per process, in eval mode; it embeds
    like resemblyzer's network (unit vectors, same size) but is not resemblyzer's weights, and it
    still hears one voice as more alike than two."""
    from separation_core.io.paths import resources_dir

    judge = S.SpeakerEncoder.judge()
    assert S.SpeakerEncoder.judge() is judge and not judge.training and judge is not encoder
    info = torch.load(resources_dir() / S.JUDGE_FILE, weights_only=True)["info"]
    assert (resources_dir() / S.JUDGE_FILE).with_name(info["card"]).is_file()
    a1, a2 = (espeak(text, "en+m3", SR) for text in ("Good morning to you.", "See you later."))
    b = espeak("Good morning to you.", "en+f4", SR)
    mine = np.stack([judge.embed_segment(x) for x in (a1, a2, b)])
    np.testing.assert_allclose(np.linalg.norm(mine, axis=1), 1.0, atol=1e-5)
    theirs = np.stack([encoder.embed_segment(x) for x in (a1, a2, b)])
    assert max(cosine(m, t) for m, t in zip(mine, theirs)) < 0.999
    assert cosine(mine[0], mine[1]) > cosine(mine[0], mine[2])
