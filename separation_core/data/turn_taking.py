"""Who talks when in a simulated conversation of 1-8 people: turns, pauses and overlaps.

A recording is built one turn at a time. Each person gets a talkativeness weight (uniform in
0.5-1.5). After a turn, the same person goes on with probability ``SAME_SPEAKER_PROB`` (always when
alone), otherwise another person takes the floor: one who has not spoken yet while there is one (so all
talk early on), drawn with probability proportional to their weight times one plus the number of
turns since they last spoke (the quiet ones come in). A turn is
a crop of one of the person's utterances, its length drawn log-uniformly from ``turn_range``
seconds (cut to the utterance), trimmed to its first and last speech frame (so a turn starts and
ends with speech), faded in and out over 10 ms and given a gain within +-3 dB.

The next turn starts after a pause drawn from ``pause_range``, or, at a change of speaker, before
the previous turn ends. Overlaps are steered to ``overlap_share``, the share of speech time (time
where anyone talks) where two people talk at once: with the totals so far, ``wanted`` is the overlap
that would bring the share to its target after the next turn; an overlap length ``l`` is drawn from
``overlap_range`` and taken with probability ``2 * wanted / l - 1/2`` (never when under a quarter of
it is wanted, always from three quarters on). So overlaps keep their drawn lengths, fall at random,
and the share stays within about half an overlap of its target (on 3-minute recordings of 2-8
people, 0.02 and 0.12 are met within 0.015; above 0.3 the limits below keep it short). An overlap is
at most half of either turn and never reaches into the turn before the previous one: at most two
people talk at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from separation_core.errors import CocktailError

SAME_SPEAKER_PROB = 0.15
WEIGHT_RANGE = (0.5, 1.5)
TURN_GAIN_DB = 3.0
FADE_SECONDS = 0.01
FRAME_SECONDS = 0.01  # speech-edge frames of a turn
EDGE_DB = -35.0  # a frame this far below the utterance's loud frames (95th percentile) is silence
PIECE_TRIES = 20  # crops drawn for a turn before the longest one found is taken
ACTIVE_DB = -40.0  # activity_shares: a 20 ms frame this far below its person's active RMS is silent


@dataclass(frozen=True)
class PlacedTurn:
    """One turn in samples: person ``speaker`` (index) talks on ``[start, stop)``; the audio is
    ``clip`` (index in the person's utterances) from ``crop_start``."""

    speaker: int
    start: int
    stop: int
    clip: int
    crop_start: int


def speech_frames(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """Bool ``[frames]``: the ``FRAME_SECONDS`` frames of ``x [T]`` louder than ``EDGE_DB`` under
    its loud frames."""
    hop = max(1, int(FRAME_SECONDS * sample_rate))
    frames = len(x) // hop
    power = np.mean(x[: frames * hop].reshape(frames, hop).astype(np.float64) ** 2, axis=-1)
    if frames == 0 or not np.any(power > 0):
        return np.zeros(frames, dtype=bool)
    return power > np.percentile(power, 95) * 10 ** (EDGE_DB / 10)


def _fade(x: np.ndarray, n: int) -> np.ndarray:
    n = min(n, len(x) // 2)
    if n > 0:
        ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
        x[:n] *= ramp
        x[-n:] *= ramp[::-1]
    return x


def _draw_piece(
    rng: np.random.Generator,
    clips: Sequence[np.ndarray],
    active: Sequence[np.ndarray],
    turn_range: Sequence[float],
    sample_rate: int,
) -> tuple[int, int, int]:
    """``(clip, start, stop)`` of one turn's audio: a crop trimmed to speech. Crops are redrawn until
    the trimmed one keeps half the drawn length (``PIECE_TRIES`` at most, then the longest)."""
    hop = max(1, int(FRAME_SECONDS * sample_rate))
    best = (0, 0, 0)
    for _ in range(PIECE_TRIES):
        k = int(rng.integers(len(clips)))
        want = int(np.exp(rng.uniform(*np.log(turn_range))) * sample_rate)
        n = min(want, len(clips[k]))
        crop = int(rng.integers(0, len(clips[k]) - n + 1))
        first, last = -(-crop // hop), (crop + n) // hop  # frames wholly inside the crop
        inside = np.flatnonzero(active[k][first:last])
        if inside.size:
            start, stop = int(first + inside[0]) * hop, int(first + inside[-1] + 1) * hop
            if stop - start > best[2] - best[1]:
                best = (k, start, stop)
            if stop - start >= n / 2:
                break
    return best


def draw_turns(
    rng: np.random.Generator,
    clips: Sequence[Sequence[np.ndarray]],
    length: int,
    sample_rate: int,
    *,
    turn_range: Sequence[float],
    pause_range: Sequence[float],
    overlap_range: Sequence[float],
    overlap_share: float,
) -> tuple[np.ndarray, list[PlacedTurn]]:
    """The dry tracks ``[P, length]`` of a conversation of ``P = len(clips)`` people (``clips[p]``:
    person p's utterances) and its turns in time order (see the module docstring)."""
    people = len(clips)
    active = [[speech_frames(c, sample_rate) for c in person] for person in clips]
    for p, person in enumerate(active):
        if not any(a.any() for a in person):
            raise CocktailError(f"person {p + 1}'s utterances hold no speech (all silent)")
    weights = rng.uniform(*WEIGHT_RANGE, size=people)
    quiet = np.ones(people)  # turns since each person last spoke
    spoken = np.zeros(people, dtype=bool)
    tracks = np.zeros((people, length), dtype=np.float32)
    turns: list[PlacedTurn] = []
    who = int(rng.choice(people, p=weights / weights.sum()))
    union = overlapped = 0  # samples where someone talks / where two do
    before = 0  # end of the turn before the previous one
    while True:
        k, a, b = _draw_piece(rng, clips[who], active[who], turn_range, sample_rate)
        n = b - a
        if n == 0:  # every crop missed this person's speech: draw again
            continue
        overlap = 0
        if not turns:
            start = int(rng.uniform(0.0, 1.0) * sample_rate)
        else:
            prev = turns[-1]
            wanted = (overlap_share * (union + n) - overlapped) / (1.0 + overlap_share)
            if who != prev.speaker and wanted > 0:
                amount = rng.uniform(*overlap_range) * sample_rate
                if rng.uniform() < 2 * wanted / amount - 0.5:
                    room = prev.stop - max(before, prev.start)
                    overlap = int(min(amount, room, (prev.stop - prev.start) / 2, n / 2))
            if overlap > 0:
                start = prev.stop - overlap
            else:
                start = prev.stop + int(rng.uniform(*pause_range) * sample_rate)
            before = prev.stop
        if start >= length:
            break
        n = min(n, length - start)
        gain = np.float32(10 ** (rng.uniform(-TURN_GAIN_DB, TURN_GAIN_DB) / 20))
        piece = clips[who][k][a : a + n].astype(np.float32) * gain
        tracks[who, start : start + n] += _fade(piece, int(FADE_SECONDS * sample_rate))
        turns.append(PlacedTurn(who, start, start + n, k, a))
        overlapped += min(overlap, n)
        union += n - min(overlap, n)
        quiet += 1
        quiet[who] = 0
        spoken[who] = True
        if people > 1 and rng.uniform() >= SAME_SPEAKER_PROB:
            others = (np.arange(people) != who) & (~spoken if not spoken.all() else True)
            chance = np.where(others, weights * (1 + quiet), 0.0)
            who = int(rng.choice(people, p=chance / chance.sum()))
    return tracks, turns


def measure_overlap_share(turns: Sequence[PlacedTurn], length: int) -> float:
    """Share of the speech time (anyone talking) where two or more people talk, from the turns."""
    count = np.zeros(length, dtype=np.int8)  # people talking at each sample
    for t in turns:
        count[t.start : t.stop] += 1
    speech = int(np.count_nonzero(count))
    return float(np.count_nonzero(count >= 2) / speech) if speech else 0.0


def activity_shares(tracks: np.ndarray, sample_rate: int) -> dict[str, float]:
    """From the signals ``[P, T]``: share of 20 ms frames where nobody, one person, or two or more
    people are active, and the overlap share of the active frames."""
    hop = max(1, int(0.02 * sample_rate))
    frames = tracks.shape[1] // hop
    power = np.mean(
        tracks[:, : frames * hop].reshape(len(tracks), frames, hop).astype(np.float64) ** 2,
        axis=-1,
    )
    active_power = np.array([p[p > 0].mean() if np.any(p > 0) else 0.0 for p in power])
    count = (power > active_power[:, None] * 10 ** (ACTIVE_DB / 10)).sum(axis=0)
    speech = np.count_nonzero(count)
    return {
        "none": round(float(np.mean(count == 0)), 4),
        "one": round(float(np.mean(count == 1)), 4),
        "two": round(float(np.mean(count >= 2)), 4),
        "overlap_share": round(float(np.count_nonzero(count >= 2) / speech), 4) if speech else 0.0,
    }
