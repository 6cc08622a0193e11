"""STFT conventions, perfect reconstruction and the display spectrogram."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import tone, voice
from separation_core.models.transforms import StftParams, db_spectrogram, istft, magnitude, stft

PARAMS = [
    StftParams(),
    StftParams(n_fft=256, hop=64, win_length=256, sample_rate=8000),
    StftParams(n_fft=512, hop=100, win_length=400),
]


@pytest.mark.parametrize("p", PARAMS, ids=lambda p: f"{p.n_fft}-{p.hop}-{p.win_length}")
@pytest.mark.parametrize("length", [300, 512, 1001, 4097, 16000])
def test_perfect_reconstruction(p, length):
    x = torch.from_numpy(np.random.default_rng(length).standard_normal(length).astype(np.float32))
    spec = stft(x, p)
    assert spec.shape == (p.n_fft // 2 + 1, length // p.hop + 1) == (p.n_freq, p.n_frames(length))
    y = istft(spec, p, length)
    assert y.shape == x.shape and y.dtype == torch.float32
    assert (y - x).abs().max().item() < 1e-5


def test_batch_shapes_and_float64():
    p = StftParams()
    x = torch.randn(2, 3, 2000, dtype=torch.float64)
    spec = stft(x, p)
    assert spec.shape == (2, 3, 257, 2000 // 128 + 1) and spec.dtype == torch.complex128
    y = istft(spec, p, 2000)
    assert y.shape == x.shape and y.dtype == torch.float64
    assert (y - x).abs().max().item() < 1e-10
    np.testing.assert_allclose(stft(x[1, 2], p).numpy(), spec[1, 2].numpy(), atol=1e-10)
    assert torch.equal(magnitude(x, p), spec.abs())


def test_frame_t_is_centred_on_sample_t_times_hop():
    p = StftParams(n_fft=256, hop=64, win_length=256)
    x = np.random.default_rng(0).standard_normal(1000)
    spec = stft(torch.from_numpy(x), p).numpy()
    padded = np.pad(x, p.n_fft // 2, mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(p.n_fft) / p.n_fft)  # periodic Hann
    for t in (0, 5, 15):
        expected = np.fft.rfft(window * padded[t * p.hop : t * p.hop + p.n_fft])
        np.testing.assert_allclose(spec[:, t], expected, atol=1e-9)


@pytest.mark.parametrize("freq", [1000.0, 1500.0, 3125.0])
def test_db_spectrogram_of_a_sine_peaks_at_its_bin(freq):
    p = StftParams()
    amp = 0.5
    db = db_spectrogram(tone(freq, seconds=0.5, amplitude=amp), p)
    assert db.dtype == np.float32 and db.shape == (257, 8000 // 128 + 1)
    middle = db[:, 5:-5]
    expected_bin = round(freq * p.n_fft / p.sample_rate)
    assert (middle.argmax(axis=0) == expected_bin).all()
    assert p.freqs()[expected_bin] == pytest.approx(freq)
    # a bin-centred sine of amplitude A under a periodic Hann window of N points: |X| = A N / 4
    assert middle[expected_bin].mean() == pytest.approx(20 * np.log10(amp * p.n_fft / 4), abs=0.05)


def test_db_spectrogram_floor():
    p = StftParams()
    db = db_spectrogram(np.zeros(1600, np.float32), p, floor_db=-80.0)
    assert np.all(db == np.float32(-80.0))
    quiet = db_spectrogram(voice(seconds=0.1) * 1e-3, p, floor_db=-60.0)
    assert quiet.min() >= -60.0


def test_params_dict_round_trip_and_axes():
    p = StftParams(n_fft=1024, hop=256, win_length=800, sample_rate=22050)
    d = p.to_dict()
    assert d == {"n_fft": 1024, "hop": 256, "win_length": 800, "sample_rate": 22050}
    assert StftParams.from_dict(d) == p
    assert (
        StftParams.from_dict({**d, "n_fft": np.int64(1024), "hop": 256.0, "extra": "ignored"}) == p
    )
    assert p.n_freq == 513 and p.n_frames(22050) == 22050 // 256 + 1
    np.testing.assert_allclose(p.freqs(), np.arange(513) * 22050 / 1024)
    np.testing.assert_allclose(p.frame_times(4), [0, 256 / 22050, 512 / 22050, 768 / 22050])
