"""Blind A/B/X listening between two results for one source: the test itself, without widgets.

Each trial plays a clip of the source as separated by result A, by result B, and X, which is A or B
at random. The listener says which; after N trials the tally and the binomial p-value (the chance
of at least that many right answers by guessing) say whether the two were told apart.

- **Loudness matching**: a louder version tends to be preferred and recognised, so in every trial A
  and B are brought to the same level: the RMS over the clip's *active* samples (20 ms frames whose
  RMS is within 40 dB of the clip's loudest frame; silence does not dilute the figure). The louder
  clip is turned down to the quieter one (never up, so nothing clips). No K-weighting: both are the
  same speaker's voice, so a frequency weighting changes little.
- **Randomisation**: one seeded ``numpy.random.Generator`` draws X (A or B) for every trial, then the
  clips; ``seed`` is kept, so a test can be replayed and checked.
- **Clips**: ``clip_seconds`` long, at random places where the source is active (a draw whose RMS
  is more than 15 dB below the whole source's is drawn again, up to 20 times), or all at the play head.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

TRIALS = 10
CLIP_SECONDS = 4.0
FRAME_SECONDS = 0.02
GATE_DB = -40.0
QUIET_CLIP_DB = -15.0
DRAWS = 20


def active_rms(x: np.ndarray, sample_rate: int, gate_db: float = GATE_DB) -> float:
    """RMS over the active samples of ``x``: the 20 ms frames within ``gate_db`` of the loudest."""
    x = np.asarray(x, dtype=np.float64)
    frame = max(1, int(round(FRAME_SECONDS * sample_rate)))
    n = len(x) // frame * frame
    if n == 0:
        return float(np.sqrt(np.mean(x**2))) if len(x) else 0.0
    power = np.mean(x[:n].reshape(-1, frame) ** 2, axis=1)
    top = power.max()
    if top <= 0:
        return 0.0
    active = power >= top * 10 ** (gate_db / 10)
    return float(np.sqrt(power[active].mean()))


def match_loudness(a: np.ndarray, b: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """``a`` and ``b`` at the same active RMS (the louder turned down to the quieter), float32."""
    ra, rb = active_rms(a, sample_rate), active_rms(b, sample_rate)
    target = min(ra, rb)
    ga = target / ra if ra > 0 else 1.0
    gb = target / rb if rb > 0 else 1.0
    return (
        (np.asarray(a, np.float64) * ga).astype(np.float32),
        (np.asarray(b, np.float64) * gb).astype(np.float32),
    )


def binomial_p(correct: int, trials: int) -> float:
    """P(at least ``correct`` right out of ``trials`` by guessing): sum_{k>=correct} C(n, k) / 2^n."""
    if trials <= 0:
        return 1.0
    return sum(math.comb(trials, k) for k in range(max(correct, 0), trials + 1)) / 2**trials


def pick_clips(
    source: np.ndarray,
    sample_rate: int,
    count: int,
    clip_seconds: float,
    rng: np.random.Generator,
    at: Optional[float] = None,
) -> list[tuple[int, int]]:
    """``count`` clips ``(start, stop)`` in samples: at ``at`` seconds (all the same), or at random
    places where ``source`` is active."""
    n = len(source)
    length = min(n, max(1, int(round(clip_seconds * sample_rate))))
    if at is not None:
        start = min(max(int(round(at * sample_rate)), 0), n - length)
        return [(start, start + length)] * count
    whole = float(np.sqrt(np.mean(np.square(source, dtype=np.float64)))) if n else 0.0
    floor = whole * 10 ** (QUIET_CLIP_DB / 20)
    clips = []
    for _ in range(count):
        start = 0
        for _draw in range(DRAWS):
            start = int(rng.integers(0, n - length + 1))
            seg = np.asarray(source[start : start + length], dtype=np.float64)
            if np.sqrt(np.mean(seg**2)) >= floor:
                break
        clips.append((start, start + length))
    return clips


@dataclass
class AbxTest:
    """One test: ``x_is_a[i]`` says what X is in trial ``i``; ``answers[i]`` the listener's "A"/"B"."""

    a_key: str
    b_key: str
    column: int  # the source (column of the Listen view), 0-based
    sample_rate: int
    seed: int
    clips: list
    x_is_a: list
    a_wave: np.ndarray = field(repr=False)
    b_wave: np.ndarray = field(repr=False)
    answers: list = field(default_factory=list)
    trial: int = 0

    @property
    def trials(self) -> int:
        return len(self.x_is_a)

    @property
    def finished(self) -> bool:
        return self.trial >= self.trials

    def clip(self, which: str, trial: Optional[int] = None) -> np.ndarray:
        """The loudness-matched clip "A", "B" or "X" of ``trial`` (default: the current one)."""
        i = self.trial if trial is None else trial
        s, e = self.clips[i]
        a, b = match_loudness(self.a_wave[s:e], self.b_wave[s:e], self.sample_rate)
        if which == "X":
            which = "A" if self.x_is_a[i] else "B"
        return a if which == "A" else b

    def answer(self, choice: str) -> None:
        """Record "A" or "B" ("X is A" / "X is B") for the current trial; a second answer replaces it."""
        if self.finished or choice not in ("A", "B"):
            return
        if len(self.answers) > self.trial:
            self.answers[self.trial] = choice
        else:
            self.answers.append(choice)

    @property
    def answered(self) -> bool:
        return len(self.answers) > self.trial

    def next(self) -> bool:
        """Go to the next trial once this one is answered; False when there is none left."""
        if self.answered and not self.finished:
            self.trial += 1
        return not self.finished

    @property
    def correct(self) -> int:
        return sum((ans == "A") == x for ans, x in zip(self.answers, self.x_is_a))

    @property
    def p_value(self) -> float:
        return binomial_p(self.correct, len(self.answers))

    def tally(self) -> str:
        n, k = len(self.answers), self.correct
        verdict = (
            "told apart (p < 0.05)"
            if self.p_value < 0.05
            else "not told apart: this many right answers is likely by guessing"
        )
        return (
            f"{k} of {n} correct; p = {self.p_value:.3f} (the chance of {k} or more right "
            f"answers by guessing): {verdict}."
        )


def new_test(
    a_wave: np.ndarray,
    b_wave: np.ndarray,
    sample_rate: int,
    a_key: str,
    b_key: str,
    column: int,
    *,
    trials: int = TRIALS,
    clip_seconds: float = CLIP_SECONDS,
    seed: Optional[int] = None,
    at: Optional[float] = None,
) -> AbxTest:
    """A test of ``trials`` trials on clips of the two versions of one source (same length)."""
    seed = secrets.randbits(32) if seed is None else int(seed)
    rng = np.random.default_rng(seed)
    x_is_a = [bool(v) for v in rng.random(trials) < 0.5]
    clips = pick_clips(a_wave, sample_rate, trials, clip_seconds, rng, at)
    return AbxTest(a_key, b_key, column, int(sample_rate), seed, clips, x_is_a, a_wave, b_wave)
