"""Speaker order over a whole recording: who each output sounds like, solved over all blocks at once.

The chunked engine first lines up each chunk with the previous one on their shared samples (the
*overlap* cue, ``inference.stitch_permutation``) and overlap-adds them in that *working order*. That
order is right wherever speech runs through the overlaps, and arbitrary after a pause longer than
the overlap; worse, a model with a short receptive field (the bundled Conv-TasNet sees about a
second) swaps its outputs inside a chunk, after pauses and at changes of talker. This module then
re-orders the working-order signal in short blocks (``BLOCK_SECONDS``), after all chunks are in:

1. *Profiles* (``block_profiles``): per block and output, the mean of frame features (20 cepstra of
   a 40-band log-mel spectrum and a voicing-weighted log-F0 with its voicing, 32 ms frames every
   16 ms) over the frames where that output is active and holds most of the energy, and their count
   (the evidence). Only these sums are kept (about 750 bytes a block), read from the accumulated
   signal one group of blocks at a time.
2. *Distance*: profiles are centred on the recording's mean and whitened by a within-speaker
   covariance learnt once from 300 train-split speakers (``speaker_whitening.py``, made by
   ``scripts/train_speaker_whitening.py``): a linear speaker embedding (the LDA metric), so that
   what is being said weighs less than who says it.
3. *Order* (``solve_orders``): an HMM whose states are the permutations of the outputs. A block
   costs, under permutation p, its outputs' evidence-weighted squared distances to the speakers'
   centroids; changing the permutation between two blocks costs ``SWITCH_COST`` times how much
   speech runs through their boundary (silence: almost free, as the model swaps after pauses).
   Viterbi finds the best permutations for given centroids, centroids are re-estimated from them
   (k-means with the constraint that one block's outputs are different speakers), from several
   starts (the principal direction of the differences between a block's two profiles; an
   unconstrained k-means, for talkers who never overlap; the most distinct blocks), keeping the
   lowest total cost.

Memory: per-block sums (an hour at 0.25 s blocks is about 11 MB) and the features of
``GROUP_BLOCKS`` blocks; the signal is re-ordered in place (``apply_orders``).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy.fft import dct

from separation_core.cancel import check_current_cancel

BLOCK_SECONDS = 0.25
FRAME_SECONDS = 0.016  # hop; frames are two hops long
N_MELS = 40
N_CEPS = 20  # cepstra 1..20 (c0, the level, left out)
PITCH = True  # two pitch features after the cepstra
ACTIVE_DB = -35.0  # a frame this far below the output's loud frames is silence
DOMINANT_SHARE = 0.6  # an output's frame counts for its profile when it holds this much energy
FRAME_CORRELATION = 8.0  # neighbouring frames are not independent: evidence = frames / this
SWITCH_COST = 1.5  # cost of re-ordering between two blocks where speech runs through
MAX_PERMUTED_OUTPUTS = 4  # more outputs: 5! states per block; not re-ordered
SEEDS = 6
GROUP_BLOCKS = 128  # blocks whose features are computed together (32 s)
LEARNT_WHITENING = True  # False: whiten by the recording's own feature variances
ITERATIONS = 12


def _mel_bank(sample_rate: int, n_fft: int, n_mels: int = N_MELS) -> np.ndarray:
    """Triangular filters on the mel scale ``[n_mels, n_fft // 2 + 1]`` (HTK formula)."""

    def mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def hz(m):
        return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)

    top = min(sample_rate / 2, 8000.0)
    edges = hz(np.linspace(mel(50.0), mel(top), n_mels + 2))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs - lo) / np.maximum(mid - lo, 1e-9)
    down = (hi - freqs) / np.maximum(hi - mid, 1e-9)
    return np.maximum(0.0, np.minimum(up, down)).astype(np.float32)


@dataclass
class FeatureGrid:
    """Frame parameters at one sample rate."""

    sample_rate: int
    hop: int
    n_fft: int
    bank: np.ndarray

    @classmethod
    def at(cls, sample_rate: int) -> FeatureGrid:
        hop = max(1, int(round(FRAME_SECONDS * sample_rate)))
        n_fft = 1 << max(4, int(math.ceil(math.log2(2 * hop))))
        return cls(sample_rate, hop, n_fft, _mel_bank(sample_rate, n_fft))

    def frames(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``x [S, n]`` -> (cepstra ``[S, F, N_CEPS]``, frame energy ``[S, F]``), F = n // hop."""
        n = x.shape[-1]
        count = n // self.hop
        if count == 0:
            return np.zeros(x.shape[:1] + (0, N_CEPS + 2 * bool(PITCH)), np.float32), np.zeros(
                x.shape[:1] + (0,), np.float32
            )
        pad = self.n_fft - self.hop
        xp = np.pad(x.astype(np.float32), ((0, 0), (pad // 2, pad - pad // 2)))
        idx = np.arange(count)[:, None] * self.hop + np.arange(self.n_fft)[None, :]
        window = np.hanning(self.n_fft + 2)[1:-1].astype(np.float32)
        spec = np.abs(np.fft.rfft(xp[:, idx] * window, axis=-1)) ** 2  # [S, F, bins]
        energy = spec.sum(-1) / self.n_fft
        logmel = np.log(spec @ self.bank.T + 1e-10)
        ceps = dct(logmel, type=2, norm="ortho", axis=-1)[..., 1 : N_CEPS + 1]
        if PITCH:
            ceps = np.concatenate([ceps, self._pitch(spec)], axis=-1)
        return ceps.astype(np.float32), energy.astype(np.float32)

    def _pitch(self, spec: np.ndarray) -> np.ndarray:
        """Voicing-weighted log-F0 ``[S, F, 2]``: (v * log2(f0 / 150 Hz), v), v the normalised
        autocorrelation peak over 60-400 Hz lags (0 when unvoiced)."""
        ac = np.fft.irfft(spec, n=self.n_fft, axis=-1)
        lo, hi = int(self.sample_rate / 400), min(int(self.sample_rate / 60), self.n_fft // 2 - 1)
        seg = ac[..., lo:hi] / np.maximum(ac[..., :1], 1e-20)
        lag = np.argmax(seg, axis=-1)
        peak = np.take_along_axis(seg, lag[..., None], -1)[..., 0]
        v = np.clip((peak - 0.3) / 0.5, 0.0, 1.0)
        f0 = self.sample_rate / (lag + lo)
        return np.stack([v * np.log2(f0 / 150.0), v], axis=-1)


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
    dim = N_CEPS + 2 * bool(PITCH)
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


@dataclass
class Solution:
    """``orders [B, S]``: block b's output ``orders[b][j]`` is speaker j; ``margin [B]``: how much
    worse the best other order of that block alone would fit the speakers (0: no evidence; negative
    where its neighbours outweighed it); ``weight [B]``: the block's evidence (0: silence)."""

    orders: np.ndarray
    margin: np.ndarray
    weight: np.ndarray

    @property
    def evidence(self) -> np.ndarray:
        return self.weight > 0

    def confidence(self, blocks, order: np.ndarray) -> float:
        """0..1: how consistently the evidenced ``blocks``, each on its own, point at ``order``
        (evidence-weighted share of agreeing blocks, rescaled so that a coin toss gives 0)."""
        blocks = [b for b in blocks if self.weight[b] > 0]
        if not blocks:
            return 0.0
        same = np.array([np.array_equal(self.orders[b], order) for b in blocks])
        agree = np.where(same, self.margin[blocks] > 0, self.margin[blocks] < 0)
        share = float(np.sum(self.weight[blocks] * agree) / np.sum(self.weight[blocks]))
        return max(0.0, 2.0 * share - 1.0)


def _whitening(dim: int) -> Optional[np.ndarray]:
    """The learnt within-speaker whitening ``[D, D]`` (``speaker_whitening.py``), when it was made
    for these features; None otherwise."""
    from separation_core.engine import speaker_whitening as sw

    ell = np.asarray(sw.WHITENING, dtype=np.float64)
    same = sw.N_CEPS == N_CEPS and sw.PITCH == bool(PITCH) and ell.shape == (dim, dim)
    return ell if same and LEARNT_WHITENING else None


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


def _emissions(
    z: np.ndarray, w: np.ndarray, centroids: np.ndarray, perms: np.ndarray
) -> np.ndarray:
    """``cost [B, P]`` of each block under each permutation: sum over speakers j of the evidence of
    output perms[p, j] times half its squared distance to centroid j."""
    d = 0.5 * ((z[:, :, None, :] - centroids[None, None, :, :]) ** 2).sum(-1)  # [B, S(out), S(spk)]
    d = d * w[:, :, None]
    spk = np.arange(perms.shape[1])
    return np.stack([d[:, perms[p], spk].sum(-1) for p in range(len(perms))], axis=1)


def _viterbi(emit: np.ndarray, switch: np.ndarray, changes: np.ndarray) -> tuple[np.ndarray, float]:
    """Best state path of ``emit [B, P]`` with ``switch[b] * changes[p, q]`` to go from p (block
    b-1) to q (block b)."""
    count, states = emit.shape
    back = np.zeros((count, states), np.int64)
    cost = emit[0].copy()
    for b in range(1, count):
        total = cost[:, None] + switch[b] * changes  # [from, to]
        back[b] = np.argmin(total, axis=0)
        cost = total[back[b], np.arange(states)] + emit[b]
    path = np.zeros(count, np.int64)
    path[-1] = int(np.argmin(cost))
    for b in range(count - 1, 0, -1):
        path[b - 1] = back[b, path[b]]
    return path, float(cost.min())


def _centroids(
    z: np.ndarray, w: np.ndarray, perms: np.ndarray, path: np.ndarray, fallback: np.ndarray
) -> np.ndarray:
    s = perms.shape[1]
    out = fallback.copy()
    for j in range(s):
        outs = perms[path, j]  # [B] output that is speaker j
        ww = w[np.arange(len(path)), outs]
        if ww.sum() > 0:
            out[j] = (ww[:, None] * z[np.arange(len(path)), outs]).sum(0) / ww.sum()
    return out


def _kmeans(points: np.ndarray, weights: np.ndarray, k: int, rounds: int = 20) -> np.ndarray:
    """Weighted k-means of ``points [N, D]`` (farthest-point start from the heaviest point),
    ignoring which block a profile came from: the seed for talkers who never overlap."""
    if len(points) == 0:
        return np.zeros((k, 0 if points.ndim < 2 else points.shape[1]))
    centres = [points[int(np.argmax(weights))]]
    while len(centres) < k:
        d = np.min([((points - c) ** 2).sum(1) for c in centres], axis=0)
        centres.append(points[int(np.argmax(d * weights))])
    centres = np.array(centres)
    for _ in range(rounds):
        label = np.argmin(((points[:, None] - centres[None]) ** 2).sum(-1), axis=1)
        for j in range(k):
            if np.any(label == j):
                centres[j] = np.average(points[label == j], axis=0, weights=weights[label == j])
    return centres


def _seed_centroids(z: np.ndarray, w: np.ndarray, count: int) -> list[np.ndarray]:
    """Starting centroids ``[S, D]``. For two outputs first the principal direction of the
    differences between a block's two profiles (each such difference is +-(speaker A - speaker B)
    plus noise, so its sign orders the block), then a k-means of all profiles (talkers who never
    overlap), then the outputs of the blocks with the most evidence in every output and the most
    distinct profiles."""
    seeds = []
    both = w.min(1)
    if z.shape[1] == 2 and np.count_nonzero(both) >= 2:
        diff = z[:, 0] - z[:, 1]
        moment = (both[:, None] * diff).T @ diff
        u = np.linalg.eigh(moment)[1][:, -1]
        proj = diff @ u
        half = 0.5 * np.sum(both * np.abs(proj)) / both.sum()
        mean = (w[..., None] * z).sum((0, 1)) / max(w.sum(), 1e-9)
        seeds.append(np.stack([mean + half * u, mean - half * u]))
    seeds.append(_kmeans(z[w > 0], w[w > 0], z.shape[1]))
    spread = np.array([np.linalg.norm(z[b, 0] - z[b, 1]) for b in range(len(z))])
    score = both * np.minimum(spread, 3.0)
    for b in np.argsort(-score, kind="stable")[:count]:
        if score[b] > 0:
            seeds.append(z[b].copy())
    return seeds


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
    seeds = _seed_centroids(z, w, SEEDS)
    best: Optional[tuple[float, np.ndarray, np.ndarray]] = None
    for seed in seeds:
        centroids = seed
        path = np.zeros(count, np.int64)
        for rnd in range(ITERATIONS):
            check_current_cancel()
            emit = _emissions(z, w, centroids, perms)
            new_path, total = _viterbi(emit, switch, changes)
            if rnd > 0 and np.array_equal(new_path, path):
                break
            path = new_path
            centroids = _centroids(z, w, perms, path, centroids)
        if best is None or total < best[0] - 1e-9:
            best = (total, path.copy(), centroids.copy())
    _, path, centroids = best
    emit = _emissions(z, w, centroids, perms)
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
