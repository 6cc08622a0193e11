"""Overlap-add of chunk outputs: each chunk's sources reordered to agree with the previous chunk on
their shared samples (Hungarian assignment on the squared error), weighted by a trapezoid window and
normalised by the summed window; masks and embedding samples placed on the whole signal's grid."""

from __future__ import annotations

from typing import Optional

import numpy as np
from scipy.optimize import linear_sum_assignment

from separation_core.errors import ModelError


def _window(length: int, overlap: int, first: bool, last: bool) -> np.ndarray:
    """Trapezoid: linear ramps over the overlaps (none at the signal's ends), flat between."""
    w = np.ones(length, dtype=np.float32)
    if overlap > 0:
        ramp = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
        if not first:
            w[:overlap] = ramp
        if not last:
            w[-overlap:] = ramp[::-1]
    return w


def stitch_permutation(previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Order of ``current``'s sources that best matches ``previous`` on their shared samples.

    previous [n_prev, overlap], current [n_cur, overlap] -> perm [n_cur]: ``current[perm]`` lines up
    with ``previous`` (sources beyond ``n_prev`` come last, in their own order).
    """
    cost = ((previous[:, None, :] - current[None, :, :]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(cost)
    order = [int(c) for _, c in sorted(zip(rows, cols))]
    rest = [k for k in range(current.shape[0]) if k not in order]
    return np.asarray(order + rest, dtype=np.int64)


OVERLAP_ACTIVE = 10 ** (-35 / 10)  # power, relative to the unit-variance chunk input, of speech


def overlap_confidence(
    previous: np.ndarray, current: np.ndarray, perm: np.ndarray, hop: int = 256
) -> float:
    """How sure the overlap cue is of ``perm`` (0..1): the relative margin of its squared error over
    the next best order's, times the share of ``hop`` frames of the overlap where an output is active
    (silence says nothing, whatever the margin)."""
    import itertools

    k = min(previous.shape[0], current.shape[0])
    if k < 2 or previous.shape[1] == 0:
        return 1.0
    cost = ((previous[:k, None, :] - current[None, :k, :]) ** 2).sum(-1)
    best = float(sum(cost[i, perm[i]] for i in range(k) if perm[i] < k))
    if k <= 4:
        others = [
            float(cost[np.arange(k), list(p)].sum())
            for p in itertools.permutations(range(k))
            if list(p) != [int(v) for v in perm[:k]]
        ]
        second = min(others) if others else best
    else:
        second = best * 2
    margin = max(second - best, 0.0) / max(second + best, 1e-20)
    frames = previous.shape[1] // hop
    if frames == 0:
        return float(margin)
    power = np.concatenate([previous, current])[:, : frames * hop].reshape(-1, frames, hop)
    active = np.mean((power**2).mean(-1).max(0) > OVERLAP_ACTIVE)
    return float(margin * active)


class Accumulator:
    """Overlap-adds chunk outputs (waveforms, masks, embedding samples) into the full signal."""

    def __init__(self, n: int, plan, n_chunks: int, keep_masks: bool, max_points: int):
        self.n, self.plan, self.n_chunks = n, plan, n_chunks
        self.wave: Optional[np.ndarray] = None
        self.weight = np.zeros(n, dtype=np.float32)
        self.keep_masks = keep_masks
        self.masks: Optional[np.ndarray] = None
        self.mask_weight: Optional[np.ndarray] = None
        self.points_per_chunk = max(1, max_points // max(n_chunks, 1))
        self.emb, self.emb_bins, self.emb_labels = [], [], []
        self.prev_tail: Optional[np.ndarray] = None
        self.chunks: list[
            dict
        ] = []  # per chunk: start, stop, perm (outputs in working order), overlap cue

    def _grow(self, k: int) -> None:
        if self.wave is None:
            self.wave = np.zeros((k, self.n), dtype=np.float32)
        elif k > self.wave.shape[0]:
            self.wave = np.concatenate(
                [self.wave, np.zeros((k - self.wave.shape[0], self.n), np.float32)]
            )
        if self.masks is not None and k > self.masks.shape[0]:
            extra = np.zeros((k - self.masks.shape[0],) + self.masks.shape[1:], np.float32)
            self.masks = np.concatenate([self.masks, extra])

    def add(self, index: int, start: int, out, stitch: bool) -> None:
        wav = out.waveforms.detach().float().cpu().numpy()
        length = min(wav.shape[1], self.n - start)
        wav = wav[:, :length]
        ov = self.plan.overlap
        perm = np.arange(wav.shape[0])
        confidence = None
        if stitch and self.prev_tail is not None and ov > 0:
            perm = stitch_permutation(self.prev_tail, wav[:, :ov])
            confidence = overlap_confidence(self.prev_tail, wav[perm, :ov], np.arange(len(perm)))
        elif index > 0:
            confidence = 0.0
        self.chunks.append(
            {"start": start, "stop": start + length, "perm": perm.tolist(), "overlap": confidence}
        )
        wav = wav[perm]
        self._grow(wav.shape[0])
        first, last = index == 0, index == self.n_chunks - 1
        w = _window(length, ov, first, last)
        self.wave[: wav.shape[0], start : start + length] += wav * w
        self.weight[start : start + length] += w
        step = self.plan.chunk - ov
        self.prev_tail = wav[:, step : step + ov] if ov > 0 and length >= step + ov else None
        if out.masks is not None and self.keep_masks:
            self._add_masks(out.masks.detach().float().cpu().numpy()[perm], start, w)
        if out.embeddings is not None:
            self._add_embeddings(index, out, perm, start)

    def _add_masks(self, masks: np.ndarray, start: int, w: np.ndarray) -> None:
        hop = self.plan.hop
        k, n_freq, frames = masks.shape
        total_frames = self.n // hop + 1
        if self.masks is None:
            self.masks = np.zeros((max(k, self.wave.shape[0]), n_freq, total_frames), np.float32)
            self.mask_weight = np.zeros(total_frames, np.float32)
        f0 = start // hop
        frames = min(frames, total_frames - f0)
        fw = w[np.minimum(np.arange(frames) * hop, len(w) - 1)]
        self.masks[:k, :, f0 : f0 + frames] += masks[:, :, :frames] * fw
        self.mask_weight[f0 : f0 + frames] += fw

    def _add_embeddings(self, index: int, out, perm: np.ndarray, start: int) -> None:
        emb = out.embeddings.detach().float().cpu().numpy()
        frames = emb.shape[0] // out_freqs(out)
        labels = (
            out.labels.detach().cpu().numpy().astype(np.int64)
            if out.labels is not None
            else np.full(emb.shape[0], -1, np.int64)
        )
        inverse = np.full(max(len(perm), int(labels.max(initial=-1)) + 1), -1, np.int64)
        inverse[perm] = np.arange(len(perm))  # chunk source perm[j] became stitched source j
        mapped = np.where(labels >= 0, inverse[np.clip(labels, 0, None)], -1)
        # Sample the bins this chunk owns (its middle), active bins first.
        hop, ov = self.plan.hop, self.plan.overlap
        lo = 0 if index == 0 else (ov // 2) // hop
        hi = (
            frames
            if index == self.n_chunks - 1
            else max(lo + 1, (self.plan.chunk - ov // 2) // hop)
        )
        hi = min(hi, self.n // hop + 1 - start // hop)  # the last chunk may be padded past the end
        t_idx = np.arange(emb.shape[0]) % frames
        owned = np.flatnonzero((t_idx >= lo) & (t_idx < hi))
        active = owned[mapped[owned] >= 0]
        pool = active if len(active) >= self.points_per_chunk // 2 else owned
        rng = np.random.default_rng(index)
        take = np.sort(rng.choice(pool, size=min(len(pool), self.points_per_chunk), replace=False))
        self.emb.append(emb[take])
        self.emb_bins.append(np.stack([take // frames, take % frames + start // hop], axis=1))
        self.emb_labels.append(mapped[take])

    def result_arrays(self):
        # In place: for an hour of audio each full-length copy costs hundreds of megabytes.
        np.maximum(self.weight, 1e-8, out=self.weight)
        wave = np.divide(self.wave, self.weight, out=self.wave)
        self.weight = None
        masks = None
        if self.masks is not None:
            masks = np.divide(self.masks, np.maximum(self.mask_weight, 1e-8), out=self.masks)
            self.masks = self.mask_weight = None
        emb = bins = labels = None
        if self.emb:
            emb = np.concatenate(self.emb).astype(np.float32)
            bins = np.concatenate(self.emb_bins).astype(np.int64)
            labels = np.concatenate(self.emb_labels).astype(np.int64)
        return wave, masks, emb, bins, labels


def out_freqs(out) -> int:
    """Number of frequency bins of a chunk output (from its masks, or its labels' grid)."""
    if out.masks is not None:
        return int(out.masks.shape[1])
    raise ModelError(
        "a model returned embeddings without masks; cannot place them on the STFT grid"
    )
