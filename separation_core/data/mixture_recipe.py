"""The signal recipe of one mixture, shared by the mixture sets on disk (``mixing``), dynamic
mixing and conversations.

One mixture of S speakers (different speakers, one utterance each, resampled with soxr):

- length: "min" mode takes the shortest utterance's length, the longer ones give a random excerpt
  (``crop_start``); "max" mode takes the longest, the shorter ones sit at a random ``offset`` and are
  zero-padded.
- levels: each placed source is brought to unit RMS over the mixture, then given a relative level in
  dB: source 1 is louder than source k by a value drawn uniformly from ``sir_range`` (levels centred
  on 0 dB). So the SIR of s1 over s2 is the drawn value, as in wsj0-2mix.
- noise (optional): an excerpt of a noise file scaled so that the SNR of the speech sum over the
  noise is drawn uniformly from ``snr_range``. Noise files are split by time, not by file: train
  draws from the first 80% of every noise file, valid the next 10%, test the last 10% (the split
  fractions); an excerpt longer than its region wraps around inside it.
- scale: the speech sum is set to ``TARGET_DBFS`` RMS, then every signal (sources, noise, mixture)
  is scaled by one common factor if any of them would peak above ``PEAK_LIMIT``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np

from separation_core.data.splits import DEFAULT_FRACTIONS, SPLITS
from separation_core.errors import CocktailError

MODES = ("min", "max")  # the mixture takes the shortest or the longest utterance's length
TARGET_DBFS = -25.0  # RMS of the speech sum before the clip-safe scaling
PEAK_LIMIT = 0.9  # no written sample above this magnitude
SILENT_SEGMENT_DB = -30.0  # a segment this far below its utterance's RMS is levelled as if at it
PCM24_SCALE = 2.0**23
DEFAULT_SNR_RANGE = (0.0, 10.0)


@dataclass(frozen=True)
class Composition:
    """One simulated mixture: float32 ``mixture [T]``, ``sources [S, T]``, ``noise [T]`` or None;
    ``source_gains [S]`` and ``noise_gain`` are the linear factors applied to the placed raw signals."""

    mixture: np.ndarray
    sources: np.ndarray
    noise: Optional[np.ndarray]
    source_gains: np.ndarray
    noise_gain: float


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def db(x: float) -> Optional[float]:
    return 20.0 * math.log10(x) if x > 0 else None


def draw_levels(rng: np.random.Generator, n: int, sir_range: Sequence[float]) -> np.ndarray:
    """Relative levels in dB ``[n]``, centred on 0: ``levels[0] - levels[k]`` ~ U(sir_range)."""
    levels = np.zeros(n)
    levels[1:] = -rng.uniform(sir_range[0], sir_range[1], size=n - 1)
    return levels - levels.mean()


def draw_crop(rng: np.random.Generator, frames: int, length: int) -> tuple[int, int]:
    """``(crop_start, offset)``: a random excerpt of a longer utterance, or a random place for a
    shorter one inside ``length`` samples."""
    if frames >= length:
        return int(rng.integers(0, frames - length + 1)), 0
    return 0, int(rng.integers(0, length - frames + 1))


def place(x: np.ndarray, length: int, crop_start: int, offset: int) -> np.ndarray:
    """``x[crop_start:]`` written at ``offset`` in a zero float32 signal of ``length`` samples."""
    out = np.zeros(length, dtype=np.float32)
    segment = x[crop_start : crop_start + length - offset]
    out[offset : offset + len(segment)] = segment
    return out


SPEED_MARGIN = (
    256  # input samples resampled either side of an excerpt, so soxr's filter edges fall outside it
)


def check_speed_range(speed_range: Optional[Sequence[float]]) -> Optional[tuple[float, float]]:
    """``(lo, hi)`` speed factors with 0 < lo <= hi, or None (no speed perturbation)."""
    if speed_range is None:
        return None
    if len(speed_range) != 2 or not 0 < speed_range[0] <= speed_range[1]:
        raise CocktailError(
            f"speed range must be two factors low,high with 0 < low <= high, got {speed_range}"
        )
    return float(speed_range[0]), float(speed_range[1])


def place_at_speed(
    rng: np.random.Generator, x: np.ndarray, length: int, factor: float
) -> np.ndarray:
    """``x`` played ``factor`` times faster (tempo and pitch together, by soxr resampling), then a
    random excerpt of it placed in ``length`` samples as ``draw_crop`` and ``place`` do. Only the
    excerpt (and ``SPEED_MARGIN`` samples either side) is resampled.  -> float32 ``[length]``"""
    from separation_core.io.audio_io import resample

    crop, offset = draw_crop(rng, int(round(len(x) / factor)), length)
    lo = max(int(math.floor(crop * factor)) - SPEED_MARGIN, 0)
    hi = min(int(math.ceil((crop + length - offset) * factor)) + SPEED_MARGIN, len(x))
    y = resample(x[lo:hi], factor, 1.0)  # only the ratio of the two rates matters
    return place(y, length, max(int(round(crop - lo / factor)), 0), offset)


def noise_region(
    frames: int, split: str, fractions: Sequence[float] = DEFAULT_FRACTIONS
) -> tuple[int, int]:
    """``[start, stop)`` of a noise file (``frames`` long) that ``split`` draws from."""
    edges = np.concatenate([[0.0], np.cumsum(fractions)])
    k = SPLITS.index(split)
    return int(round(edges[k] * frames)), int(round(min(edges[k + 1], 1.0) * frames))


def noise_excerpt(
    noise: np.ndarray, region: tuple[int, int], start: int, length: int
) -> np.ndarray:
    """``length`` samples of ``noise`` from ``start``, wrapping around inside ``region``."""
    lo, hi = region
    return noise[lo + (start - lo + np.arange(length)) % (hi - lo)].astype(np.float32)


def compose(
    placed: np.ndarray,
    levels_db: np.ndarray,
    utterance_rms: Sequence[float],
    noise: Optional[np.ndarray] = None,
    snr_db: Optional[float] = None,
) -> Composition:
    """Level, sum and scale ``placed [S, T]`` sources (and ``noise [T]`` at ``snr_db``) as the module
    docstring says. ``utterance_rms [S]`` is each whole utterance's RMS (the silence floor)."""
    placed64 = placed.astype(np.float64)
    floor = 10.0 ** (SILENT_SEGMENT_DB / 20.0)
    gains = np.array(
        [
            10.0 ** (lv / 20.0) / max(rms(p), floor * u, 1e-12)
            for p, lv, u in zip(placed64, levels_db, utterance_rms)
        ]
    )
    speech = (placed64 * gains[:, None]).sum(axis=0)
    scale = 10.0 ** (TARGET_DBFS / 20.0) / max(rms(speech), 1e-12)
    gains *= scale
    speech *= scale
    noise_gain = 0.0
    if noise is not None:
        noise_gain = rms(speech) / 10.0 ** (snr_db / 20.0) / rms(noise) if rms(noise) > 0 else 0.0
    noise64 = noise.astype(np.float64) * noise_gain if noise is not None else np.zeros_like(speech)
    peak = max(
        np.abs(placed64 * gains[:, None]).max(),
        np.abs(noise64).max(),
        np.abs(speech + noise64).max(),
    )
    if peak > PEAK_LIMIT:
        gains *= PEAK_LIMIT / peak
        noise_gain *= PEAK_LIMIT / peak
    sources = (placed64 * gains[:, None]).astype(np.float32)
    noise32 = (
        (noise.astype(np.float64) * noise_gain).astype(np.float32) if noise is not None else None
    )
    mixture = sources.sum(axis=0, dtype=np.float32)
    if noise32 is not None:
        mixture = mixture + noise32
    return Composition(mixture, sources, noise32, gains, float(noise_gain))


def on_pcm24_grid(comp: Composition) -> Composition:
    """``comp`` with sources and noise rounded to 24-bit PCM steps and the mixture their exact sum."""

    def grid(x: np.ndarray) -> np.ndarray:
        return np.round(x.astype(np.float64) * PCM24_SCALE) / PCM24_SCALE

    sources = grid(comp.sources)
    noise = grid(comp.noise) if comp.noise is not None else None
    mixture = sources.sum(axis=0) + (noise if noise is not None else 0.0)
    return Composition(
        mixture.astype(np.float32),
        sources.astype(np.float32),
        None if noise is None else noise.astype(np.float32),
        comp.source_gains,
        comp.noise_gain,
    )


def check_mix_options(
    speakers: int, mode: str, sir_range: Sequence[float], noise_dirs, snr_range, split: str
) -> Optional[tuple[float, float]]:
    """Validate the shared options; returns the SNR range to use (None without noise)."""
    if int(speakers) < 2:
        raise CocktailError(f"a mixture needs at least 2 speakers, got {speakers}")
    if mode not in MODES:
        raise CocktailError(f"unknown length mode {mode!r}; choose min or max")
    if split not in SPLITS:
        raise CocktailError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    for name, bounds in (("SIR", sir_range), ("SNR", snr_range)):
        if bounds is not None and (len(bounds) != 2 or not bounds[0] <= bounds[1]):
            raise CocktailError(
                f"{name} range must be two numbers low,high with low <= high, got {bounds}"
            )
    if not noise_dirs:
        if snr_range is not None:
            raise CocktailError("an SNR range was given without a noise folder")
        return None
    return tuple(float(v) for v in (snr_range or DEFAULT_SNR_RANGE))  # type: ignore[return-value]
