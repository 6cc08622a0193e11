"""Numpy helpers of the views: envelopes, display spectrogram, mask slices, selections, alignment."""

import numpy as np
import pytest

from app.selection import points_in_polygon, points_in_rect, selection_mask
from app.session import align_sources
from app.views.envelope import Envelope
from app.views.spectrogram import display_spectrogram, grid_slice


def test_envelope_keeps_peaks_and_bounds_points():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(1_000_000).astype(np.float32) * 0.1
    x[123_456] = 0.99
    x[654_321] = -0.97
    env = Envelope(x)
    xs, ys = env.segment(0, len(x), 2000)
    assert len(ys) <= 2000
    assert ys.max() == pytest.approx(0.99) and ys.min() == pytest.approx(-0.97)
    xs, ys = env.segment(1000, 1500, 2000)  # few samples: drawn as they are
    np.testing.assert_array_equal(ys, x[1000:1500])
    np.testing.assert_array_equal(xs, np.arange(1000, 1500))
    xs, ys = env.segment(600_000, 700_000, 500)
    assert ys.min() == pytest.approx(-0.97)
    assert xs.min() >= 600_000 - 1024 and xs.max() <= 700_000 + 1024


def test_display_spectrogram_finds_a_tone_and_bounds_columns():
    sr = 16000
    t = np.arange(sr * 60) / sr
    x = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    for t0, t1 in ((0.0, 60.0), (10.0, 11.0)):
        img = display_spectrogram(x, sr, t0, t1, 800)
        assert img.data.shape[1] <= 800 + 1
        assert img.t_start <= t0 + 1e-9 and img.t_end >= t1 - 0.1
        peak_bin = int(np.median(np.argmax(img.data, axis=0)))
        assert peak_bin * sr / 512 == pytest.approx(1000, abs=sr / 512)
        # a 0.5 amplitude sine: power about 0.25 -> -6 dB near the peak
        assert img.data.max() == pytest.approx(10 * np.log10(0.25), abs=1.5)


def test_grid_slice_maps_frames_to_time():
    mask = np.tile(np.arange(1000, dtype=np.float32), (5, 1))  # value = frame index
    img = grid_slice(mask, hop=100, sample_rate=1000, t0=2.0, t1=3.0, max_cols=100)  # 10 frames/s
    assert img.data[0, 0] == 20 and img.data[0, -1] >= 30
    assert img.t_start == pytest.approx(1.95)
    big = grid_slice(mask, hop=100, sample_rate=1000, t0=0.0, t1=100.0, max_cols=100)
    assert big.data.shape[1] <= 128


def test_point_selections():
    pts = np.array([[0, 0], [1, 1], [2, 2], [0.5, 0.2], [3, -1]], dtype=np.float64)
    np.testing.assert_array_equal(points_in_rect(pts, 1.5, 1.5, -0.5, -0.5), [1, 1, 0, 1, 0])
    triangle = np.array([[-1, -1], [2.5, -1], [-1, 2.5]])  # below the line x + y = 1.5
    np.testing.assert_array_equal(points_in_polygon(pts, triangle), [1, 0, 0, 1, 0])


def test_selection_mask_exact_with_every_bin_and_smooth_when_sparse():
    shape = (8, 10)
    f, t = np.meshgrid(np.arange(8), np.arange(10), indexing="ij")
    bins = np.stack([f.ravel(), t.ravel()], 1)
    chosen = bins[:, 0] < 4
    mask = selection_mask(bins, chosen, shape)
    np.testing.assert_array_equal(mask, (f < 4).astype(np.float32))
    rng = np.random.default_rng(0)
    big = (64, 200)
    f, t = np.meshgrid(np.arange(64), np.arange(200), indexing="ij")
    all_bins = np.stack([f.ravel(), t.ravel()], 1)
    keep = rng.random(len(all_bins)) < 0.25
    bins = all_bins[keep]
    mask = selection_mask(bins, bins[:, 0] < 32, big)
    assert mask[:24, 10:190].mean() > 0.95 and mask[40:, 10:190].mean() < 0.05


def test_align_sources_recovers_permutation():
    rng = np.random.default_rng(0)
    refs = rng.standard_normal((3, 8000))
    est = refs[[2, 0, 1]] + 0.1 * rng.standard_normal((3, 8000))
    assert align_sources(est, refs) == [1, 2, 0]
    extra = np.concatenate([est, rng.standard_normal((1, 8000))])
    assert align_sources(extra, refs) == [1, 2, 0, 3]
    assert align_sources(est[:2], refs) == [1, -1, 0]


def test_clock_labels_and_steps(qtbot):
    from app.views.timeplot import TimeAxisItem, clock

    assert clock(75.5) == "1:15" and clock(75.5, with_fraction=True) == "1:15.5"
    assert clock(3725) == "1:02:05"
    axis = TimeAxisItem()
    (major, _), (minor, _) = axis.tickSpacing(0.0, 3600.0, 900)
    assert major == 600 and minor == 120  # an hour over 900 px: every 10 minutes
    assert axis.tickStrings([600.0, 900.0], 1.0, 300.0) == ["10:00", "15:00"]
