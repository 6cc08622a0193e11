"""Shared test helpers: where the real data lives, and small synthetic signals.

Import as ``from helpers import ...`` (tests/conftest.py puts this folder on ``sys.path``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LIBRISPEECH_DIR = DATA_DIR / "speech" / "librispeech-train-clean-100"
FSDD_DIR = DATA_DIR / "speech" / "fsdd" / "recordings"
NOISE_DIR = DATA_DIR / "noise" / "speech-commands"

needs_data = pytest.mark.skipif(
    not DATA_DIR.exists(), reason=f"shared data not found at {DATA_DIR}"
)


def tone(
    freq: float,
    seconds: float = 1.0,
    sample_rate: int = 16000,
    amplitude: float = 0.5,
    phase: float = 0.0,
) -> np.ndarray:
    """Sine ``[time]`` float32."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def voice(
    f0: float = 140.0,
    seconds: float = 1.0,
    sample_rate: int = 16000,
    *,
    vibrato_hz: float = 5.0,
    vibrato_depth: float = 0.03,
    n_harmonics: int = 20,
    syllable_hz: float = 3.0,
    seed: int = 0,
    amplitude: float = 0.3,
) -> np.ndarray:
    """Voice-like harmonic tone ``[time]`` float32: a vibrato f0 with harmonics falling 6 dB per
    octave (only those below Nyquist), a random formant-like tilt, and syllable-rate
    amplitude modulation. Peak is ``amplitude``."""
    rng = np.random.default_rng(seed)
    n = round(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    f_inst = f0 * (
        1.0 + vibrato_depth * np.sin(2 * np.pi * vibrato_hz * t + rng.uniform(0, 2 * np.pi))
    )
    phase = 2 * np.pi * np.cumsum(f_inst) / sample_rate
    x = np.zeros(n)
    for k in range(1, n_harmonics + 1):
        if k * f0 * (1 + vibrato_depth) >= sample_rate / 2:
            break
        x += rng.uniform(0.5, 1.0) / k * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * syllable_hz * t + rng.uniform(0, 2 * np.pi))
    x *= envelope
    return (amplitude * x / np.abs(x).max()).astype(np.float32)


def noise(
    seconds: float = 1.0,
    sample_rate: int = 16000,
    *,
    seed: int = 0,
    color: str = "white",
    rms: float = 0.1,
) -> np.ndarray:
    """White or pink (1/f power) Gaussian noise ``[time]`` float32 with the given RMS."""
    rng = np.random.default_rng(seed)
    n = round(seconds * sample_rate)
    x = rng.standard_normal(n)
    if color == "pink":
        spec = np.fft.rfft(x)
        f = np.fft.rfftfreq(n)
        f[0] = f[1] if n > 1 else 1.0
        x = np.fft.irfft(spec / np.sqrt(f), n)
    elif color != "white":
        raise ValueError(f"unknown noise color {color!r}")
    return (rms * x / np.sqrt(np.mean(x**2))).astype(np.float32)


def two_voices(
    seconds: float = 1.0, sample_rate: int = 16000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Two voice-like sources ``[2, time]`` with distinct pitch, and their sum ``[time]``."""
    s = np.stack(
        [
            voice(120.0, seconds, sample_rate, seed=seed, syllable_hz=3.0),
            voice(210.0, seconds, sample_rate, seed=seed + 1, syllable_hz=4.3),
        ]
    )
    return s, s.sum(axis=0)


def si_sdr_reference(est: np.ndarray, ref: np.ndarray) -> float:
    """SI-SDR in dB written out from its definition (float64), for checking other code."""
    est = np.asarray(est, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    target = (est @ ref) / (ref @ ref) * ref
    return float(10 * np.log10((target @ target) / ((est - target) @ (est - target))))


needs_espeak = pytest.mark.skipif(
    __import__("shutil").which("espeak-ng") is None, reason="espeak-ng is not installed"
)


def espeak(text: str, voice: str = "en", sample_rate: int = 16000) -> np.ndarray:
    """``text`` spoken by espeak-ng's ``voice`` (e.g. "en+m3", "en+f4"), float32 at
    ``sample_rate``, peak 0.3."""
    import subprocess
    import tempfile

    import soundfile as sf

    from separation_core.io.audio_io import resample

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "speech.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-w", str(path), text],
            check=True,
            capture_output=True,
            timeout=60,
        )
        x, rate = sf.read(path, dtype="float32")
    x = resample(x, rate, sample_rate) if rate != sample_rate else x
    return (0.3 * x / max(float(np.abs(x).max()), 1e-9)).astype(np.float32)


SPOKEN_LINES = (
    ("The quick brown fox jumps over the lazy dog.", "en+m3"),
    ("She sells sea shells by the sea shore today.", "en+f4"),
    ("A large cat sat on the warm mat at noon.", "en+m7"),
)


def spoken_mixture(sample_rate: int, speakers: int = 2, seconds: float = 2.0) -> np.ndarray:
    """The first ``speakers`` of ``SPOKEN_LINES`` (espeak-ng voices saying different sentences),
    summed: ``[seconds * sample_rate]``."""
    n = int(seconds * sample_rate)
    out = np.zeros(n, np.float32)
    for text, voice_name in SPOKEN_LINES[:speakers]:
        x = espeak(text, voice_name, sample_rate)[:n]
        out[: len(x)] += x
    return out


# A Conv-TasNet small enough to fine-tune in a test (8 kHz).
SMALL_CONVTASNET = dict(
    sample_rate=8000,
    n_filters=32,
    filter_length=16,
    bottleneck=32,
    hidden=64,
    skip=32,
    n_blocks=4,
    n_repeats=1,
)


def turn_taking(seconds: float, sample_rate: int, seed: int = 0, people: int = 2):
    """Two synthetic voices (110 Hz and 210 Hz) taking turns of 2.5-4.5 s, a pause or an overlap of
    0.5-1.5 s between turns -> (mixture [T], sources [people, T], turns). One person: the first
    voice's turns alone."""
    from separation_core.io.rttm import Turn

    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    sources = np.zeros((2, n), dtype=np.float32)
    turns, t, who = [], 0.3, 0
    while True:
        length = float(rng.uniform(2.5, 4.5))
        if t + length > seconds - 0.2:
            break
        a = int(t * sample_rate)
        x = voice([110.0, 210.0][who], length, sample_rate, seed=int(rng.integers(1 << 30)))
        sources[who, a : a + len(x)] += x
        turns.append(Turn(who, a / sample_rate, (a + len(x)) / sample_rate))
        gap = float(rng.uniform(-1.5, 0.6))
        if -0.5 < gap < 0.2:
            gap = 0.3
        t += length + gap
        who = 1 - who
    if people == 1:
        sources, turns = sources[:1], [t for t in turns if t.speaker == 0]
    return sources.sum(0), sources, turns
