"""The search behind the stitching's speaker order: an HMM whose states are the permutations of the
outputs, its Viterbi path for given speaker centroids, the centroids re-estimated from a path, and
the starting centroids. Profiles here are normalised block means ``z [B, S, D]`` with evidence
weights ``w [B, S]`` (``stitching.solve_orders`` makes them); ``perms [P, S]`` lists the states.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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


def emissions(z: np.ndarray, w: np.ndarray, centroids: np.ndarray, perms: np.ndarray) -> np.ndarray:
    """``cost [B, P]`` of each block under each permutation: sum over speakers j of the evidence of
    output perms[p, j] times half its squared distance to centroid j (``centroids [S, D]``)."""
    d = 0.5 * ((z[:, :, None, :] - centroids[None, None, :, :]) ** 2).sum(-1)  # [B, S(out), S(spk)]
    d = d * w[:, :, None]
    spk = np.arange(perms.shape[1])
    return np.stack([d[:, perms[p], spk].sum(-1) for p in range(len(perms))], axis=1)


def viterbi(emit: np.ndarray, switch: np.ndarray, changes: np.ndarray) -> tuple[np.ndarray, float]:
    """Best state path ``[B]`` of ``emit [B, P]`` and its cost, with ``switch[b] * changes[p, q]``
    to go from p (block b-1) to q (block b)."""
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


def refit_centroids(
    z: np.ndarray, w: np.ndarray, perms: np.ndarray, path: np.ndarray, fallback: np.ndarray
) -> np.ndarray:
    """Centroids ``[S, D]``: the evidence-weighted mean of the profiles ``path`` gives each speaker
    (``fallback``'s row for a speaker without evidence)."""
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


def seed_centroids(z: np.ndarray, w: np.ndarray, count: int) -> list[np.ndarray]:
    """Starting centroids ``[S, D]``. For two outputs first the principal direction of the
    differences between a block's two profiles (each such difference is +-(speaker A - speaker B)
    plus noise, so its sign orders the block), then a k-means of all profiles (talkers who never
    overlap), then the outputs of the ``count`` blocks with the most evidence in every output and
    the most distinct profiles."""
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
