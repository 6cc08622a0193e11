"""Speaker order over a whole recording: who each output sounds like, solved over all blocks at once.

The chunked engine first lines up each chunk with the previous one on their shared samples (the
*overlap* cue, ``overlap_add.stitch_permutation``) and overlap-adds them in that *working order*. That
order is right wherever speech runs through the overlaps, and arbitrary after a pause longer than
the overlap; worse, a model with a short receptive field (the bundled Conv-TasNet sees about a
second) swaps its outputs inside a chunk, after pauses and at changes of talker. This module then
re-orders the working-order signal in short blocks (``BLOCK_SECONDS``), after all chunks are in:

1. *Profiles* (``block_profiles``): per block and output, the mean of frame features
   (``speaker_features``: 20 cepstra of a 40-band log-mel spectrum and a voicing-weighted log-F0
   with its voicing, 32 ms frames every 16 ms) over the frames where that output is active and
   holds most of the energy, and their count (the evidence). Only these sums are kept (about 750
   bytes a block), read from the accumulated signal one group of blocks at a time.
2. *Distance*: profiles are centred on the recording's mean and whitened by a within-speaker
   covariance learnt once from 300 train-split speakers (``resources/speaker_whitening.npy``, made
   by ``scripts/train_speaker_whitening.py``): a linear speaker embedding (the LDA metric), so that
   what is being said weighs less than who says it.
3. *Order* (``solve_orders``, searched by ``permutation_hmm``): an HMM whose states are the
   permutations of the outputs. A block costs, under permutation p, its outputs' evidence-weighted
   squared distances to the speakers' centroids; changing the permutation between two blocks
   costs ``SWITCH_COST`` times how much speech runs through their boundary (silence: almost free,
   as the model swaps after pauses). Viterbi finds the best permutations for given centroids,
   centroids are re-estimated from them (k-means with the constraint that one block's outputs are
   different speakers), from several starts (the principal direction of the differences between a
   block's two profiles; an unconstrained k-means, for talkers who never overlap; the most
   distinct blocks), keeping the lowest total cost.

Memory: per-block sums (an hour at 0.25 s blocks is about 11 MB) and the features of
``GROUP_BLOCKS`` blocks; the signal is re-ordered in place (``apply_orders``).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from separation_core.cancel import check_current_cancel
from separation_core.engine.permutation_hmm import (
    Solution,
    emissions,
    refit_centroids,
    seed_centroids,
    viterbi,
)
from separation_core.engine.speaker_features import FEATURE_DIM, FeatureGrid, learnt_whitening

BLOCK_SECONDS = 0.25
ACTIVE_DB = -35.0  # a frame this far below the output's loud frames is silence
DOMINANT_SHARE = 0.6  # an output's frame counts for its profile when it holds this much energy
FRAME_CORRELATION = 8.0  # neighbouring frames are not independent: evidence = frames / this
SWITCH_COST = 1.5  # cost of re-ordering between two blocks where speech runs through
MAX_PERMUTED_OUTPUTS = 4  # more outputs: 5! states per block; not re-ordered
SEEDS = 6
GROUP_BLOCKS = 128  # blocks whose features are computed together (32 s)
LEARNT_WHITENING = True  # False: whiten by the recording's own feature variances
ITERATIONS = 12


@dataclass
class Profiles:
    """Per block ``b`` and output ``k``: ``mass [B, S]`` (frames counted), ``sums [B, S, D]`` and
    ``squares [B, S, D]`` of the features over those frames, and ``continuity [B]`` (0..1) of the
    working order between block b-1 and b (how much speech runs through their boundary)."""

    mass: np.ndarray
    sums: np.ndarray
    squares: np.ndarray
    continuity: np.ndarray
    block: int  # samples per block


def block_profiles(
    wave: np.ndarray, sample_rate: int, block_seconds: Optional[float] = None
) -> Profiles:
    """Profiles of ``wave [S, n]`` (the working-order signal), block by block; the features of
    ``GROUP_BLOCKS`` blocks at a time are in memory, never the whole signal's."""
    block_seconds = BLOCK_SECONDS if block_seconds is None else block_seconds
    grid = FeatureGrid.at(sample_rate)
    s, n = wave.shape
    per_block = max(1, int(round(block_seconds * sample_rate / grid.hop)))
    block = per_block * grid.hop
    count = max(1, math.ceil(n / block))
    # The loud-frame level of each output, from a strided sample of blocks.
    probe = [
        grid.frames(wave[:, b * block : (b + 1) * block])[1]
        for b in range(0, count, max(1, count // 400))
    ]
    probe = np.concatenate(probe, axis=1)
    loud = np.array([np.percentile(p, 95) if p.size else 0.0 for p in probe])
    floor = np.maximum(loud, 1e-12) * 10 ** (ACTIVE_DB / 10)
    dim = FEATURE_DIM
    mass = np.zeros((count, s), np.float64)
    sums = np.zeros((count, s, dim), np.float64)
    squares = np.zeros((count, s, dim), np.float64)
    edges = np.zeros((count, 2), np.float64)  # share of active frames at the block's start and end
    edge = max(1, min(per_block // 4, int(round(0.25 * sample_rate / grid.hop))))
    for g0 in range(0, count, GROUP_BLOCKS):
        check_current_cancel()
        ceps, energy = grid.frames(wave[:, g0 * block : (g0 + GROUP_BLOCKS) * block])
        frames = energy.shape[1]
        if frames == 0:
            continue
        nb = -(-frames // per_block)
        pad = nb * per_block - frames
        active = energy > floor[:, None]
        share = energy / np.maximum(energy.sum(0, keepdims=True), 1e-20)
        weight = np.pad((active & (share >= DOMINANT_SHARE)).astype(np.float64), ((0, 0), (0, pad)))
        weight = weight.reshape(s, nb, per_block)
        feats = np.pad(ceps.astype(np.float64), ((0, 0), (0, pad), (0, 0))).reshape(
            s, nb, per_block, dim
        )
        mass[g0 : g0 + nb] = weight.sum(-1).T
        sums[g0 : g0 + nb] = np.einsum("kbf,kbfd->bkd", weight, feats)
        squares[g0 : g0 + nb] = np.einsum("kbf,kbfd->bkd", weight, feats**2)
        any_active = np.pad(active.any(0), (0, pad)).reshape(nb, per_block)
        edges[g0 : g0 + nb] = np.stack(
            [any_active[:, :edge].mean(1), any_active[:, -edge:].mean(1)], axis=1
        )
    continuity = np.zeros(count)
    continuity[1:] = np.minimum(edges[:-1, 1], edges[1:, 0])
    return Profiles(mass, sums, squares, continuity, block)


def _whitening(dim: int) -> Optional[np.ndarray]:
    """The learnt within-speaker whitening ``[D, D]`` (``speaker_features.learnt_whitening``), when
    it was made for features of this dimension; None otherwise."""
    if not LEARNT_WHITENING:
        return None
    ell = learnt_whitening()
    return ell if ell.shape == (dim, dim) else None


def _normalised(p: Profiles) -> tuple[np.ndarray, np.ndarray]:
    """Per-block mean profiles, centred on the recording's mean and whitened ``[B, S, D]``, and
    evidence weights ``[B, S]``. Whitened by the learnt within-speaker covariance (distances are then
    the LDA metric), else by the recording's own per-feature variance."""
    total = p.mass.sum()
    if total <= 0:
        return np.zeros_like(p.sums), np.zeros_like(p.mass)
    mean = p.sums.sum((0, 1)) / total
    means = p.sums / np.maximum(p.mass, 1e-9)[..., None]
    ell = _whitening(p.sums.shape[-1])
    if ell is not None:
        z = (means - mean) @ ell
    else:
        var = np.maximum(p.squares.sum((0, 1)) / total - mean**2, 1e-6)
        z = (means - mean) / np.sqrt(var)
    return z, p.mass / FRAME_CORRELATION


def solve_orders(p: Profiles, switch_cost: Optional[float] = None) -> Solution:
    """The speaker order of every block (see the module docstring)."""
    count, s = p.mass.shape
    identity = np.tile(np.arange(s), (count, 1))
    if s < 2 or s > MAX_PERMUTED_OUTPUTS or count < 2:
        return Solution(identity, np.zeros(count), np.zeros(count))
    z, w = _normalised(p)
    perms = np.array(list(itertools.permutations(range(s))))
    changes = np.array([[float(np.any(a != b)) for b in perms] for a in perms])
    switch = (SWITCH_COST if switch_cost is None else switch_cost) * np.clip(
        p.continuity, 0.02, 1.0
    )
    if not np.any(w > 0):
        return Solution(identity, np.zeros(count), np.zeros(count))
    seeds = seed_centroids(z, w, SEEDS)
    best: Optional[tuple[float, np.ndarray, np.ndarray]] = None
    for seed in seeds:
        centroids = seed
        path = np.zeros(count, np.int64)
        for rnd in range(ITERATIONS):
            check_current_cancel()
            emit = emissions(z, w, centroids, perms)
            new_path, total = viterbi(emit, switch, changes)
            if rnd > 0 and np.array_equal(new_path, path):
                break
            path = new_path
            centroids = refit_centroids(z, w, perms, path, centroids)
        if best is None or total < best[0] - 1e-9:
            best = (total, path.copy(), centroids.copy())
    _, path, centroids = best
    emit = emissions(z, w, centroids, perms)
    # Canonical speaker numbering: speaker 0 is the one the first evidenced block's output 0 holds
    # in the working order, so an unambiguous file keeps the model's own output order.
    first = int(np.argmax(w.sum(1) > 0)) if np.any(w.sum(1) > 0) else 0
    relabel = np.argsort(perms[path[first]])  # speaker -> new index
    orders = np.array([perms[q][relabel] for q in path])
    own = emit[np.arange(count), path]
    other = np.where(np.eye(len(perms), dtype=bool)[path], np.inf, emit).min(1)
    return Solution(orders, other - own, w.sum(1))


# --- applying the orders -----------------------------------------------------------------------

FADE_SECONDS = 0.01  # cross-fade where the order changes between two blocks
MIN_REORDER_SECONDS = (
    20.0  # shorter inputs keep the working order (too little to learn speakers from)
)


def apply_orders(wave: np.ndarray, orders: np.ndarray, block: int, fade: int) -> None:
    """Re-order ``wave [S, n]`` in place block by block (``wave[:, b] <- wave[orders[b], b]``),
    cross-fading ``fade`` samples either side of every boundary where the order changes. Extra
    memory: one block and the fades."""
    s, n = wave.shape
    count = len(orders)
    edges = []
    for b in range(1, count):
        e = b * block
        if e < n and not np.array_equal(orders[b], orders[b - 1]):
            lo, hi = max(e - fade, (b - 1) * block), min(e + fade, n, (b + 1) * block)
            edges.append((b, lo, hi, wave[:, lo:hi].copy()))
    for b, order in enumerate(orders):
        if not np.array_equal(order, np.arange(s)):
            wave[:, b * block : (b + 1) * block] = wave[order, b * block : (b + 1) * block]
    for b, lo, hi, orig in edges:
        ramp = ((np.arange(hi - lo) + 0.5) / (hi - lo)).astype(wave.dtype)
        wave[:, lo:hi] = (1 - ramp) * orig[orders[b - 1]] + ramp * orig[orders[b]]


def apply_orders_frames(masks: np.ndarray, orders: np.ndarray, block: int, hop: int) -> None:
    """The same re-ordering of ``masks [S, freq, frames]`` on a grid of ``hop`` samples, in place."""
    frames = masks.shape[-1]
    for b, order in enumerate(orders):
        lo, hi = -(-b * block // hop), min(frames, -(-(b + 1) * block // hop))
        if hi > lo and not np.array_equal(order, np.arange(len(order))):
            masks[: len(order), :, lo:hi] = masks[order, :, lo:hi]


def relabel_points(
    labels: np.ndarray, frames: np.ndarray, orders: np.ndarray, block: int, hop: int
) -> np.ndarray:
    """Labels (working-order output indices, -1 unassigned) of points at ``frames`` -> speaker indices."""
    b = np.minimum(frames * hop // block, len(orders) - 1)
    inverse = np.argsort(orders, axis=1)  # [B, S]: output -> speaker
    out = labels.copy()
    ok = (labels >= 0) & (labels < orders.shape[1])
    out[ok] = inverse[b[ok], labels[ok]]
    return out


def chunk_records(
    chunks: list[dict],
    solution: Optional[Solution],
    block: int,
    ratio: float,
    n_out: int,
    length: int,
) -> list[dict]:
    """One dict per chunk for ``SeparationResult.stitching``.

    ``chunks`` hold ``start``, ``stop`` (model-rate samples), ``perm`` (the chunk's outputs in the
    working order) and ``overlap`` (the overlap cue's confidence, None for the first chunk).
    ``ratio`` turns model-rate samples into the result's (``length`` samples long). The chunk's
    ``order`` is the working
    permutation followed by the block order that covers most of its evidence; sub-ranges whose
    block order differs are listed in ``sub_orders`` as ``[start, stop, order]``. An output the
    chunk did not have (clustering models may give fewer) is -1 in an order."""

    def at(sample: int) -> int:
        return min(int(round(sample * ratio)), length)

    records = []
    prev_major = None
    for c in chunks:
        perm = np.asarray(c["perm"])
        start, stop = c["start"], c["stop"]
        if solution is None:
            major, conf_blocks, evidenced, subs = None, None, False, []
        else:
            lo, hi = start // block, min(len(solution.orders), -(-stop // block))
            blocks = range(lo, max(hi, lo + 1))
            weights: dict[tuple, float] = {}
            for b in blocks:
                key = tuple(int(v) for v in solution.orders[b])
                weights[key] = weights.get(key, 0.0) + 1e-3 + float(solution.evidence[b])
            major = np.array(max(weights, key=weights.get))
            evidenced = bool(np.any(solution.evidence[list(blocks)]))
            conf_blocks = solution.confidence(blocks, major)
            subs = []
            for b in blocks:
                if not np.array_equal(solution.orders[b], major):
                    s0, s1 = max(start, b * block), min(stop, (b + 1) * block)
                    order = [
                        int(perm[solution.orders[b][j]])
                        if solution.orders[b][j] < len(perm)
                        else -1
                        for j in range(len(solution.orders[b]))
                    ]
                    if subs and subs[-1][1] == at(s0) and subs[-1][2] == order:
                        subs[-1][1] = at(s1)
                    elif at(s1) > at(s0):
                        subs.append([at(s0), at(s1), order])
        if major is None:
            order = [int(v) for v in perm[:n_out]]
        else:
            order = [int(perm[major[j]]) if major[j] < len(perm) else -1 for j in range(len(major))]
        overlap = c["overlap"]
        if overlap is None:
            cue, confidence = "first", None
        elif major is None or (
            prev_major is not None and np.array_equal(major, prev_major) and overlap >= 0.5
        ):
            cue, confidence = "overlap", float(overlap)
        elif evidenced:
            cue, confidence = "profile", conf_blocks
        else:
            cue, confidence = "global", conf_blocks
        prev_major = major
        records.append(
            {
                "start": at(start),
                "stop": at(stop),
                "order": order,
                "confidence": None
                if confidence is None
                else round(min(max(confidence, 0.0), 1.0), 4),
                "cue": cue,
                "sub_orders": subs,
            }
        )
    if records:
        records[-1]["stop"] = length
    return records
