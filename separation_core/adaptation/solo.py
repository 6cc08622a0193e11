"""Where each person talks alone: the solo stretches of a recording from who talks when, with a
margin kept clear around every overlap, split into a training and a held-out part.

Everything is decided on a frame grid of ``FRAME_SECONDS`` and returned as sample spans."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import binary_dilation

from separation_core.conversation.turns import runs_of
from separation_core.io.rttm import Turn

FRAME_SECONDS = 0.01
MARGIN_SECONDS = 0.5  # kept clear either side of an overlap (reverberant tails, turn edges)
MIN_STRETCH_SECONDS = 1.0  # a shorter solo stretch is left out
VALID_SHARE = 0.2  # of each person's solo speech, held out for validation


@dataclass(frozen=True)
class SoloSpeech:
    """Per person, sample spans ``(start, stop)`` at ``sample_rate`` where they talk alone:
    ``train[p]`` to make training mixtures from, ``valid[p]`` held out for validation."""

    sample_rate: int
    train: tuple[tuple[tuple[int, int], ...], ...]
    valid: tuple[tuple[tuple[int, int], ...], ...]

    @property
    def n_people(self) -> int:
        return len(self.train)

    def seconds(self) -> list[float]:
        """Solo seconds of each person, training and held-out parts together."""
        return [
            (sum(b - a for a, b in t) + sum(b - a for a, b in v)) / self.sample_rate
            for t, v in zip(self.train, self.valid)
        ]


def frame_activity(turns: Iterable[Turn], n_people: int, n_frames: int) -> np.ndarray:
    """Who talks in each frame: bool ``[n_people, n_frames]`` (a frame a turn touches counts)."""
    active = np.zeros((n_people, n_frames), dtype=bool)
    for t in turns:
        a = max(0, int(np.floor(t.start / FRAME_SECONDS)))
        b = min(n_frames, int(np.ceil(t.end / FRAME_SECONDS)))
        if b > a and 0 <= t.speaker < n_people:
            active[t.speaker, a:b] = True
    return active


def overlap_spans(
    turns: Iterable[Turn], n_people: int, duration: float
) -> list[tuple[float, float]]:
    """``[start, stop]`` seconds where two or more people talk, from ``turns``."""
    n_frames = int(np.ceil(duration / FRAME_SECONDS))
    both = frame_activity(turns, n_people, n_frames).sum(0) >= 2
    return [(a * FRAME_SECONDS, b * FRAME_SECONDS) for a, b in runs_of(both)]


def solo_frames(
    turns: Iterable[Turn],
    n_people: int,
    n_frames: int,
    exclude: Sequence[Sequence[float]] = (),
    margin_seconds: float = MARGIN_SECONDS,
    min_stretch_seconds: float = MIN_STRETCH_SECONDS,
) -> np.ndarray:
    """Frames where each person talks alone, clear of every overlap (two people in ``turns``, or
    a ``[start, stop]`` second span of ``exclude``) by ``margin_seconds``, in stretches of at least
    ``min_stretch_seconds``: bool ``[n_people, n_frames]``."""
    active = frame_activity(turns, n_people, n_frames)
    crowded = active.sum(0) >= 2
    for start, stop in exclude:
        crowded[
            max(0, int(np.floor(start / FRAME_SECONDS))) : int(np.ceil(stop / FRAME_SECONDS))
        ] = True
    margin = int(round(margin_seconds / FRAME_SECONDS))
    if margin > 0 and crowded.any():
        crowded = binary_dilation(crowded, structure=np.ones(2 * margin + 1, dtype=bool))
    solo = active & (active.sum(0) == 1) & ~crowded
    shortest = int(round(min_stretch_seconds / FRAME_SECONDS))
    for p in range(n_people):
        for a, b in runs_of(solo[p]):
            if b - a < shortest:
                solo[p, a:b] = False
    return solo


def split_held_out(
    spans: Sequence[tuple[int, int]], share: float = VALID_SHARE
) -> tuple[list, list]:
    """Whole stretches ``spans`` (time order) -> (training, held out): walking through them, a
    stretch is held out while the held-out time is under ``share`` of the time so far, so the
    held-out part is spread over the recording. Two stretches at least keep one of each."""
    train, valid = [], []
    seen = held = 0
    for a, b in spans:
        seen += b - a
        if held < share * seen and len(spans) > 1 and train:
            valid.append((a, b))
            held += b - a
        else:
            train.append((a, b))
    return train, valid


def solo_speech(
    turns: Iterable[Turn],
    n_people: int,
    n_samples: int,
    sample_rate: int,
    exclude: Sequence[Sequence[float]] = (),
    margin_seconds: float = MARGIN_SECONDS,
    min_stretch_seconds: float = MIN_STRETCH_SECONDS,
    valid_share: float = VALID_SHARE,
) -> SoloSpeech:
    """The solo stretches of each of ``n_people`` in a recording of ``n_samples`` at
    ``sample_rate`` (see ``solo_frames``), split by ``split_held_out``."""
    turns = list(turns)
    n_frames = int(np.ceil(n_samples / (FRAME_SECONDS * sample_rate)))
    solo = solo_frames(turns, n_people, n_frames, exclude, margin_seconds, min_stretch_seconds)
    hop = FRAME_SECONDS * sample_rate
    train, valid = [], []
    for p in range(n_people):
        spans = [
            (int(round(a * hop)), min(n_samples, int(round(b * hop)))) for a, b in runs_of(solo[p])
        ]
        t, v = split_held_out([s for s in spans if s[1] > s[0]], valid_share)
        train.append(tuple(t))
        valid.append(tuple(v))
    return SoloSpeech(int(sample_rate), tuple(train), tuple(valid))
