"""scripts/train_overlap_detector.py's frame targets: how many people are heard at each 10 ms frame
(``--target energy``), from the sources, against a count made by hand."""

import importlib.util
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train_overlap_detector.py"
SR, HOP = 16000, 160


def _script():
    spec = importlib.util.spec_from_file_location("train_overlap_detector", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tone(seconds: float, level_db: float, start: float, total: float, freq: float) -> np.ndarray:
    out = np.zeros(int(total * SR), dtype=np.float32)
    t = np.arange(int(seconds * SR)) / SR
    a = int(start * SR)
    out[a : a + len(t)] = 10 ** (level_db / 20) * np.sin(2 * np.pi * freq * t)
    return out


def test_energy_counts_hear_each_source_where_it_sounds_and_not_where_it_is_masked():
    total = 4.0
    loud = _tone(2.0, -10.0, 0.0, total, 220.0)  # 0-2 s
    other = _tone(2.0, -14.0, 1.0, total, 330.0)  # 1-3 s: both at 1-2 s
    masked = _tone(1.0, -40.0, 0.0, total, 440.0)  # 0-1 s, 30 dB under the loud one
    n = int(total * SR) // HOP
    counts = _script().energy_counts(np.stack([loud, other, masked]), n)
    assert counts.shape == (n,) and counts.dtype == np.int8
    frames = np.arange(n) * HOP / SR
    inside = lambda a, b: (frames > a + 0.05) & (frames < b - 0.05)  # noqa: E731
    assert (counts[inside(0.0, 1.0)] == 1).all()  # the masked source is not heard
    assert (counts[inside(1.0, 2.0)] == 2).all()
    assert (counts[inside(2.0, 3.0)] == 1).all()
    assert (counts[inside(3.0, 4.0)] == 0).all()


def test_energy_counts_cap_at_two_and_fit_the_frames_asked_for():
    total = 1.0
    sources = np.stack([_tone(1.0, -10.0 - k, 0.0, total, 200.0 + 100 * k) for k in range(3)])
    counts = _script().energy_counts(sources, 120)  # more frames than the audio: zeros past it
    assert counts.shape == (120,)
    assert (counts[5:95] == 2).all() and (counts[105:] == 0).all()


def test_a_source_that_talks_little_is_not_heard_in_silence():
    total = 10.0
    brief = _tone(0.2, -20.0, 5.0, total, 300.0)  # 2% of the recording
    silent = np.zeros_like(brief)
    counts = _script().energy_counts(np.stack([brief, silent]), int(total * SR) // HOP)
    assert counts.sum() > 0 and (counts <= 1).all()
    assert (counts[:480] == 0).all() and (counts[560:] == 0).all()
