"""The overlapped-speech detector: the bundled weights load, long inputs read in windows give what
one window gives, it finds two readers at once more than one reader (real speech), bad files are
refused in one line; and the separator's spans around the overlaps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import DATA_DIR, needs_data
from separation_core.conversation import overlap as od
from separation_core.conversation.pipeline import (
    HOP,
    RATE,
    SEPARATION_CONTEXT_SECONDS,
    separator_spans,
)
from separation_core.conversation.speakers import mel_spectrogram
from separation_core.errors import CheckpointError


def test_the_bundled_detector_loads_with_its_training_record():
    net = od.bundled_detector()
    payload = torch.load(od.resources_dir() / od.WEIGHTS_FILE, weights_only=True)
    assert payload["format"] == od.FORMAT
    assert payload["info"]["valid_at_0.5"]["f1"] > 0
    assert sum(p.numel() for p in net.parameters()) < 500_000


def test_windows_give_one_probability_per_frame_and_match_a_single_window():
    rng = np.random.default_rng(0)
    x = (0.05 * rng.standard_normal(RATE * 21)).astype(np.float32)
    p = od.overlap_probability(x)
    assert p.shape == (1 + len(x) // 160,)
    assert np.all((p >= 0) & (p <= 1))
    # The first window's answer (its frames before the first margin of the next) is what that
    # window alone gives: windows are normalised and run independently.
    feats = torch.from_numpy(od.log_mel(x))
    alone = od._window(feats, -od.MARGIN_FRAMES)[None]
    with torch.no_grad():
        ref = torch.softmax(od.bundled_detector()(od.normalised_windows(alone)), -1)[0, :, 2]
    step = od.WINDOW_FRAMES - 2 * od.MARGIN_FRAMES
    np.testing.assert_allclose(p[:step], ref[od.MARGIN_FRAMES : od.MARGIN_FRAMES + step], atol=1e-5)


def test_short_inputs_work():
    assert od.overlap_probability(np.zeros(800, np.float32)).shape == (6,)


def test_the_level_of_the_recording_does_not_matter():
    rng = np.random.default_rng(1)
    x = (0.05 * rng.standard_normal(RATE * 5)).astype(np.float32)
    np.testing.assert_allclose(od.overlap_probability(x), od.overlap_probability(8 * x), atol=2e-3)


@needs_data
def test_two_voices_at_once_read_as_overlap_more_than_one_voice():
    """Two LibriSpeech readers at the same level, one after the other and at once."""
    import soundfile as sf

    from separation_core.io.audio_io import resample

    folder = DATA_DIR / "speech" / "librispeech-train-clean-100"
    voices = []
    for name in ("103-1240-0000.flac", "1034-121119-0000.flac"):
        x, rate = sf.read(folder / name, dtype="float32")
        voices.append(resample(x, rate, RATE)[: 8 * RATE])
    n = min(len(v) for v in voices)
    a, b = (v[:n] for v in voices)
    b = b * (np.std(a) / np.std(b))
    one = od.overlap_probability(np.concatenate([a, b]))
    both = od.overlap_probability(a + b)
    assert both.mean() > one.mean() + 0.1


def test_a_file_that_is_not_a_detector_is_refused_in_one_line(tmp_path):
    bad = tmp_path / "x.pt"
    torch.save({"format": "something else"}, bad)
    with pytest.raises(CheckpointError, match="not an overlap detector") as err:
        od.load_detector(bad)
    assert "\n" not in str(err.value)
    (tmp_path / "y.pt").write_bytes(b"\x00" * 10)
    with pytest.raises(CheckpointError, match="y.pt"):
        od.load_detector(tmp_path / "y.pt")


def test_a_saved_detector_loads_back_equal(tmp_path):
    torch.manual_seed(0)
    net = od.OverlapNet(channels=8, hidden=4)
    od.save_detector(net, tmp_path / "d.pt", {"note": "test"})
    back = od.load_detector(tmp_path / "d.pt")
    x = torch.randn(1, 50, od.N_MELS)
    torch.testing.assert_close(back(x), net(x))


def test_separator_spans_widen_each_overlap_and_merge_those_that_meet():
    frames = np.zeros(3000, dtype=bool)  # 30 s
    frames[500:600] = True  # 5-6 s
    frames[700:750] = True  # 7-7.5 s: its context meets the first's
    frames[2950:3000] = True  # at the end: cut there
    hop = int(HOP * RATE)
    n = 3000 * hop
    ctx = int(SEPARATION_CONTEXT_SECONDS * RATE)
    assert separator_spans(frames, n) == [(500 * hop - ctx, 750 * hop + ctx), (2950 * hop - ctx, n)]
    assert separator_spans(np.zeros(10, bool), 10 * hop) == []


def test_log_mel_is_the_log_of_the_mel_frames():
    x = (np.random.default_rng(5).standard_normal(16_000 * 3) * 0.1).astype(np.float32)
    expected = np.log(mel_spectrogram(x) + np.float32(1e-8))
    feats = od.log_mel(x)
    assert feats.dtype == np.float32
    np.testing.assert_array_equal(feats, expected)
