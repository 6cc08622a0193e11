"""What the separator's time-frequency views show in conversation mode: its masks and embedding
samples on the spans where it ran (``SpanMasks``), and each person's mask made of them by a plan.

A person's mask, on the separator's STFT grid, is the share of each bin of the mixture that their
stem holds, frame by frame as the plan decides (before the crossfades): the mask of the separated
output they take in an overlap, 1 where they talk alone (their stem is the mixture there), 0 where
they are silent. A person made of several plan rows (a correction by hand) gets the sum of theirs.

Memory stays within the engine's bound on masks (``inference.MAX_MASK_BYTES``): half of it for the
spans' masks, half for the people's. Past that, frames are averaged in time (the spans') or taken
one in ``m`` (the people's), and the grid's hop says so (``SpanMasks.stft.hop`` is then a multiple
of the separator's); embedding samples are kept on the separator's own grid only, where a selection
of them can be heard through the STFT they were computed on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Optional

import numpy as np

from separation_core.conversation.assembly import MIXTURE

if TYPE_CHECKING:  # the window reads the masks without importing torch
    from separation_core.engine.inference import EngineOptions
    from separation_core.models.result import SeparationResult
    from separation_core.models.transforms import StftParams

# for the spans' masks; as much for the people's (float32): half of the engine's
# ``inference.MAX_MASK_BYTES`` each (that module imports torch)
SHARE_BYTES = 384 * 2**20
RATE = 16000  # the pipeline's rate, at which spans are given


@dataclass
class SpanMasks:
    """The separator's masks where it ran, on the grid ``stft`` (``n_frames`` frames over the
    whole recording): per span its first frame (``starts``) and ``masks [outputs, freq, frames]``;
    ``kind`` the separator's mask kind. Embedding samples (the separator's own grid only):
    ``embeddings [points, dim]``, ``bins [points, 2]`` (freq, frame) and ``labels [points]`` the
    separator output of each point (-1: none)."""

    stft: StftParams
    n_frames: int
    kind: Optional[str]
    starts: list = field(default_factory=list)
    masks: list = field(default_factory=list)
    embeddings: Optional[np.ndarray] = None
    bins: Optional[np.ndarray] = None
    labels: Optional[np.ndarray] = None

    @property
    def n_freq(self) -> int:
        return int(self.masks[0].shape[1])

    def astype(self, dtype) -> SpanMasks:
        """The same with masks (and embeddings) in ``dtype`` (float16 halves what a GUI holds)."""
        return replace(
            self,
            masks=[m.astype(dtype, copy=False) for m in self.masks],
            embeddings=None if self.embeddings is None else self.embeddings.astype(dtype),
        )

    def output_mask(self, output: int, frames: np.ndarray) -> np.ndarray:
        """Output ``output``'s mask at grid ``frames [n]`` -> ``[freq, n]`` float32 (0 outside
        the spans, or where a span has fewer outputs)."""
        out = np.zeros((self.n_freq, len(frames)), dtype=np.float32)
        if not self.starts or not len(frames):
            return out
        starts = np.asarray(self.starts)
        span = np.searchsorted(starts, frames, side="right") - 1
        for s in np.unique(span[span >= 0]):
            masks = self.masks[s]
            local = frames - starts[s]
            cols = np.flatnonzero((span == s) & (local < masks.shape[-1]))
            if output < masks.shape[0] and cols.size:
                out[:, cols] = masks[output][:, local[cols]]
        return out


class MaskKeeper:
    """Collects the masks and embedding samples of ``separate`` on each span the separator runs
    (``pipeline.separate_overlaps``) into a ``SpanMasks``; ``max_points`` embedding samples in all,
    shared by the spans in proportion to their length."""

    def __init__(self, max_points: int = 0) -> None:
        self.max_points = int(max_points)
        self.spans: list = []
        self.n_samples = 0
        self.pool = 1
        self.kept: Optional[SpanMasks] = None
        self._points: list = []  # (embeddings, bins, labels) per span

    def expect(self, spans: list, n_samples: int) -> None:
        """The sample spans ``[(start, stop)]`` at RATE that will be separated, of ``n_samples``."""
        self.spans, self.n_samples = list(spans), int(n_samples)

    def options(self, engine: EngineOptions, length: int) -> EngineOptions:
        """The engine options for a span of ``length`` samples: masks kept, and its share of the
        embedding samples."""
        total = sum(b - a for a, b in self.spans) or 1
        points = int(round(self.max_points * length / total))
        return replace(engine, keep_masks=True, max_embedding_points=points)

    def add(self, start: int, result: SeparationResult) -> None:
        """The span's ``result`` (masks on ``result.stft``, relative to the span) from sample
        ``start`` at RATE."""
        if result.masks is None or result.stft is None:
            return
        grid = result.stft
        if self.kept is None:
            self._start(grid, result.masks.shape[0], result.masks.shape[1], result.mask_kind)
        elif replace(grid, hop=grid.hop * self.pool) != self.kept.stft:
            return  # one separator, one grid: never met
        first = int(round(start * grid.sample_rate / RATE / grid.hop))
        masks = np.asarray(result.masks, dtype=np.float32)
        if self.pool > 1:
            first, masks = _pooled(masks, first, self.pool)
        self.kept.starts.append(first)
        self.kept.masks.append(masks)
        if self.pool == 1 and result.embeddings is not None and len(result.embeddings):
            bins = np.asarray(result.embedding_bins, dtype=np.int64).copy()
            bins[:, 1] += first
            labels = result.embedding_labels
            if labels is None:
                labels = np.full(len(bins), -1, dtype=np.int64)
            self._points.append((np.asarray(result.embeddings, np.float32), bins, labels))

    def _start(self, grid: StftParams, n_outputs: int, n_freq: int, kind) -> None:
        """The grid: the separator's, its frames averaged ``pool`` at a time when the spans'
        masks would pass SHARE_BYTES."""
        frames = sum((b - a) * grid.sample_rate / RATE / grid.hop + 1 for a, b in self.spans)
        self.pool = max(1, math.ceil(4 * n_outputs * n_freq * frames / SHARE_BYTES))
        hop = grid.hop * self.pool
        total = int(round(self.n_samples * grid.sample_rate / RATE)) // grid.hop + 1
        self.kept = SpanMasks(replace(grid, hop=hop), math.ceil(total / self.pool), kind)

    def result(self) -> Optional[SpanMasks]:
        """What was kept (None: the separator gave no masks)."""
        if self.kept is not None and self._points:
            emb, bins, labels = (np.concatenate(p) for p in zip(*self._points))
            self.kept.embeddings, self.kept.bins = emb, bins
            self.kept.labels = labels.astype(np.int64)
        return self.kept


def _pooled(masks: np.ndarray, first: int, pool: int) -> tuple[int, np.ndarray]:
    """``masks [..., frames]`` whose frame 0 is grid frame ``first``, averaged over the coarse
    frames ``frame // pool`` -> (the first coarse frame, ``[..., coarse frames]``)."""
    coarse = (first + np.arange(masks.shape[-1])) // pool
    edges = np.flatnonzero(np.diff(coarse)) + 1
    starts = np.concatenate([[0], edges])
    sums = np.add.reduceat(masks, starts, axis=-1)
    counts = np.diff(np.concatenate([starts, [masks.shape[-1]]]))
    return int(coarse[0]), (sums / counts).astype(np.float32)


def person_masks(
    rows: np.ndarray,
    owner,
    n_people: int,
    plan_hop: float,
    kept: SpanMasks,
    dtype=np.float32,
) -> tuple[np.ndarray, StftParams]:
    """The people's masks ``[people, freq, frames]`` in ``dtype`` and their grid, from plan
    ``rows [rows, plan frames]`` (SILENT, MIXTURE or an output's index; ``owner[r]`` the person of
    row r, on frames of ``plan_hop`` s): one frame in ``m`` of ``kept``'s grid, ``m`` the least
    that keeps them within SHARE_BYTES as float32."""
    n_freq = kept.n_freq
    step = max(1, math.ceil(4 * n_people * n_freq * kept.n_frames / SHARE_BYTES))
    frames = np.arange(0, kept.n_frames, step)
    seconds = frames * kept.stft.hop / kept.stft.sample_rate
    plan_frames = np.minimum((seconds / plan_hop).astype(np.int64), rows.shape[1] - 1)
    out = np.zeros((n_people, n_freq, len(frames)), dtype=dtype)
    for r, person in enumerate(owner):
        take = rows[r, plan_frames]
        stem = out[person]
        stem[:, take == MIXTURE] += 1
        for output in np.unique(take[take >= 0]):
            cols = np.flatnonzero(take == output)
            stem[:, cols] += kept.output_mask(int(output), frames[cols])
    return out, replace(kept.stft, hop=kept.stft.hop * step)


def person_labels(rows: np.ndarray, owner, plan_hop: float, kept: SpanMasks) -> np.ndarray:
    """The person each of ``kept``'s embedding samples stands for: the one whose plan row takes
    its output at its frame -> ``[points]`` int64 (-1: no one)."""
    seconds = kept.bins[:, 1] * kept.stft.hop / kept.stft.sample_rate
    plan_frames = np.minimum((seconds / plan_hop).astype(np.int64), rows.shape[1] - 1)
    out = np.full(len(kept.bins), -1, dtype=np.int64)
    for r, person in enumerate(owner):
        out[(kept.labels >= 0) & (rows[r, plan_frames] == kept.labels)] = person
    return out


def views_of_plan(
    rows: np.ndarray, owner, n_people: int, plan_hop: float, kept: Optional[SpanMasks], dtype
) -> dict:
    """The SeparationResult fields the masks and embeddings views read, for a plan (all None
    when nothing was kept)."""
    if kept is None or not kept.masks:
        return dict(
            masks=None,
            mask_kind=None,
            stft=None,
            embeddings=None,
            embedding_bins=None,
            embedding_labels=None,
        )
    masks, grid = person_masks(rows, owner, n_people, plan_hop, kept, dtype)
    points = kept.embeddings is not None and grid == kept.stft
    return dict(
        masks=masks,
        mask_kind=kept.kind,
        stft=grid,
        embeddings=kept.embeddings if points else None,
        embedding_bins=kept.bins if points else None,
        embedding_labels=person_labels(rows, owner, plan_hop, kept) if points else None,
    )
