"""One stem per person from who talks when: the mixture where a person talks alone, their separated
output where people overlap, silence where they are silent, with short crossfades.

The decision is made per frame (``hop`` seconds) in a ``Plan``: for each person and frame, which
signal they take: ``SILENT``, ``MIXTURE`` or separated output ``j`` (an index >= 0 into the
separator's outputs). Gains are the frame decisions held over each frame and smoothed by a
raised-cosine window of ``fade`` seconds, so a person's gains over their signals add up to one
inside a stretch and ramp over ``fade`` at its edges; where one person hands over to another with
no pause, their ramps cross and the stems still add up to the mixture; at the edges of speech the
decisions are held half a fade into the silence, so the ramps fade silence, not speech. Stems are built in blocks,
so memory beyond the stems themselves stays bounded on hour-long recordings, and only where a
person's gain is not zero: their silences stay unwritten and take no memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from separation_core.cancel import check_current_cancel
from separation_core.conversation.turns import runs_of
from separation_core.engine.memory_check import sparse_zeros

SILENT = -2
MIXTURE = -1
DEFAULT_FADE_SECONDS = 0.02
BLOCK_SECONDS = 30.0
SHARE_FRAME_SECONDS = 0.01  # ``consistent_outputs`` shares the remainder by the outputs' power in
SHARE_SMOOTH_FRAMES = 5  # frames of this length, averaged over this many


@dataclass(frozen=True)
class Plan:
    """``source [people, frames]`` int: SILENT, MIXTURE or a separated output's index, for frames
    of ``hop`` seconds starting at 0."""

    source: np.ndarray
    hop: float

    @property
    def n_people(self) -> int:
        return int(self.source.shape[0])

    def active(self) -> np.ndarray:
        """Who talks per frame: bool ``[people, frames]``."""
        return self.source != SILENT


def _frame_gains(
    decision: np.ndarray, start: int, stop: int, sample_rate: int, hop: float, fade: int
) -> np.ndarray:
    """The smoothed 0/1 frame ``decision [frames]`` on samples ``start:stop`` -> ``[stop - start]``."""
    pad = fade // 2 + 1
    lo, hi = start - pad, stop + pad  # past either end the first or last frame's decision holds
    frames = np.clip(np.floor(np.arange(lo, hi) / (sample_rate * hop)), 0, len(decision) - 1)
    step = decision[frames.astype(np.int64)].astype(np.float32)
    if fade > 1:
        window = np.hanning(fade + 2)[1:-1].astype(np.float32)
        step = np.convolve(step, window / window.sum(), mode="same")
    return step[start - lo : start - lo + (stop - start)]


def _held_into_silence(source: np.ndarray, frames: int) -> np.ndarray:
    """``source`` with each stretch of speech held ``frames`` frames into the silence around it
    (each silent frame taking the decisions of the nearer speech frame), so that the fades at the
    edges of speech fall in the silence and no speech is faded."""
    talking = (source != SILENT).any(axis=0)
    if frames < 1 or not talking.any() or talking.all():
        return source
    idx = np.arange(source.shape[1])
    last = np.maximum.accumulate(np.where(talking, idx, -1))  # the latest speech frame so far
    upcoming = np.where(talking, idx, source.shape[1])
    following = np.minimum.accumulate(upcoming[::-1])[::-1]  # the next speech frame
    left = np.where(last >= 0, idx - last, np.iinfo(np.int64).max)
    right = np.where(following < source.shape[1], following - idx, np.iinfo(np.int64).max)
    take = np.where(left <= right, last, following)
    near = ~talking & (np.minimum(left, right) <= frames)
    held = source.copy()
    held[:, near] = source[:, take[near]]
    return held


def consistent_outputs(mixture: np.ndarray, outputs: np.ndarray, sample_rate: int) -> np.ndarray:
    """The separator's ``outputs [S, T]`` on ``mixture [T]`` made to add up to it: what they leave
    out (the mixture minus their sum) is shared among them in proportion to their power in each
    SHARE_FRAME_SECONDS frame (averaged over SHARE_SMOOTH_FRAMES; equal shares where all are
    silent) -> ``[S, T]`` float32. A mask separator's sigmoid masks need not add up to one; where
    each output goes to one person the stems then add up to the mixture there too, and on the
    development conversations the stems came closer to the people (docs/conversations.md)."""
    mixture = np.asarray(mixture, dtype=np.float32)
    outputs = np.asarray(outputs, dtype=np.float32)
    if outputs.ndim != 2 or outputs.shape[-1] != mixture.shape[-1]:
        raise ValueError(f"outputs {outputs.shape} do not match a mixture of {mixture.shape[-1]}")
    n, t = outputs.shape
    hop = max(1, int(round(SHARE_FRAME_SECONDS * sample_rate)))
    frames = -(-t // hop)
    padded = np.zeros((n, frames * hop), dtype=np.float32)  # frames of samples: [S, frames, hop]
    padded[:, :t] = outputs
    padded = padded.reshape(n, frames, hop)
    rest = np.zeros(frames * hop, dtype=np.float32)
    rest[:t] = mixture - outputs.sum(0)
    power = np.square(padded, dtype=np.float64).mean(-1)  # [S, frames]
    kernel = np.ones(SHARE_SMOOTH_FRAMES) / SHARE_SMOOTH_FRAMES
    lo = (SHARE_SMOOTH_FRAMES - 1) // 2  # "same" alignment, kept when there are fewer frames
    power = np.stack([np.convolve(row, kernel, mode="full")[lo : lo + frames] for row in power])
    total = power.sum(0, keepdims=True)
    share = np.where(total > 0, power / np.where(total > 0, total, 1.0), 1.0 / n)
    padded += share.astype(np.float32)[..., None] * rest.reshape(frames, hop)
    return padded.reshape(n, frames * hop)[:, :t]


def assemble(
    mixture: np.ndarray,
    sample_rate: int,
    plan: Plan,
    separated: Optional[np.ndarray] = None,
    fade_seconds: float = DEFAULT_FADE_SECONDS,
) -> np.ndarray:
    """Stems ``[people, time]`` float32 from ``mixture [time]`` and the separator's outputs
    ``separated [outputs, time]`` (same rate and length) by ``plan``."""
    n = np.asarray(mixture).shape[-1]
    return assemble_span(mixture, sample_rate, plan, separated, 0, n, fade_seconds)


def assemble_span(
    mixture: np.ndarray,
    sample_rate: int,
    plan: Plan,
    separated: Optional[np.ndarray],
    start: int,
    stop: int,
    fade_seconds: float = DEFAULT_FADE_SECONDS,
) -> np.ndarray:
    """Samples ``start:stop`` of ``assemble``'s stems: ``[people, stop - start]`` float32, the same
    values (up to float rounding), so that a change of the plan re-assembles only what it changes
    (``affected_samples``)."""
    mixture = np.asarray(mixture, dtype=np.float32)
    n = mixture.shape[-1]
    start, stop = max(0, int(start)), min(n, int(stop))
    used = np.unique(plan.source[plan.source >= 0])
    if used.size and (separated is None or int(used.max()) >= separated.shape[0]):
        raise ValueError("the plan names separated outputs that were not given")
    stems = sparse_zeros((plan.n_people, max(0, stop - start)), dtype=np.float32)
    fade = max(1, int(round(fade_seconds * sample_rate)))
    source = _held_into_silence(plan.source, _hold_frames(fade_seconds, plan.hop))
    block = max(fade * 4, int(BLOCK_SECONDS * sample_rate))
    for a in range(start, stop, block):
        check_current_cancel()
        b = min(stop, a + block)
        for p in range(plan.n_people):
            row = source[p]
            for src in np.unique(row):
                if src == SILENT:
                    continue
                gain = _frame_gains(row == src, a, b, sample_rate, plan.hop, fade)
                signal = mixture if src == MIXTURE else separated[int(src)]
                for lo, hi in runs_of(gain != 0):
                    stems[p, a - start + lo : a - start + hi] += (
                        gain[lo:hi] * signal[a + lo : a + hi]
                    )
    return stems


def _hold_frames(fade_seconds: float, hop: float) -> int:
    return int(np.ceil(fade_seconds / 2 / hop))


def affected_samples(
    frames: tuple[int, int],
    hop: float,
    sample_rate: int,
    n_samples: int,
    fade_seconds: float = DEFAULT_FADE_SECONDS,
) -> tuple[int, int]:
    """The samples ``[start, stop)`` whose stems can change when the plan changes on ``frames``
    ``[first, stop)``: the frames, the decisions held into the silence around them, and the fades."""
    frame = sample_rate * hop
    hold = _hold_frames(fade_seconds, hop) + 1
    margin = int(round(fade_seconds * sample_rate)) + 2
    start = int(np.floor((frames[0] - hold) * frame)) - margin
    stop = int(np.ceil((frames[1] + hold) * frame)) + margin
    return max(0, start), min(n_samples, stop)
