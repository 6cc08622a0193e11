"""Clustering and 2-D projection of time-frequency bin embeddings (scikit-learn).

Clusterers are fitted on a seeded subsample for speed; every point is then assigned to its nearest
centre, so labels and centres always agree and results are deterministic for a given seed.
"""

from __future__ import annotations

import warnings

import numpy as np

from separation_core.cancel import check_current_cancel
from separation_core.errors import ModelError

# Mean-shift is the slow path: sklearn runs one radius query per seed and iteration.
_BANDWIDTH_POINTS = 1000  # estimate_bandwidth is quadratic in its sample
_MEANSHIFT_POINTS = 3000
_MEANSHIFT_SEEDS = 150  # a cluster of 3 % of the bins misses every seed with probability 1 %


def _subsample(n: int, size: int, seed: int) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


_NEAREST_BLOCK = 131072  # points per step of nearest_centre (a cancel check between steps)


def nearest_centre(emb: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """``emb [N, D]``, ``centers [K, D]`` -> index of the nearest centre ``[N]`` (int64).
    Works in blocks of points, checking the current cancel token between them."""
    # |e - c|^2 = |e|^2 - 2 e.c + |c|^2; |e|^2 is the same for every centre.
    c2 = (centers * centers).sum(axis=1)[None, :]
    out = np.empty(emb.shape[0], dtype=np.int64)
    for i in range(0, emb.shape[0], _NEAREST_BLOCK):
        check_current_cancel()
        block = emb[i : i + _NEAREST_BLOCK]
        out[i : i + len(block)] = (c2 - 2.0 * block @ centers.T).argmin(axis=1)
    return out


def cluster_embeddings(
    emb: np.ndarray,
    method: str = "kmeans",
    k: int | None = None,
    seed: int = 0,
    max_fit_points: int = 20000,
    min_cluster_fraction: float = 0.02,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster ``emb [N, D]`` -> (labels ``[N]`` int64, centres ``[K, D]`` float32).

    method "kmeans": K = ``k`` (required), k-means++ with ``seed``; ``weights [N]`` (>= 0) weight
      each point in the centres (mean-shift ignores them).
    method "meanshift": K found by the data; bandwidth estimated on a subsample; seeds are a seeded
      subsample of the points. (Bin seeding rounds points to a grid of cell ``bandwidth``: for unit
      vectors in 20 dimensions the grid nodes lie far from the sphere, so it loses or splits clusters.)
      Clusters holding less than ``min_cluster_fraction`` of the fitted points are dropped (their
      points go to the nearest remaining centre), so a few stray bins do not become a "speaker".
    """
    x = np.ascontiguousarray(emb, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ModelError(f"cannot cluster embeddings of shape {x.shape}")
    chosen = _subsample(x.shape[0], max_fit_points, seed)
    fit = x[chosen]
    check_current_cancel()
    if method == "kmeans":
        centers = _kmeans(fit, k, seed, None if weights is None else np.asarray(weights)[chosen])
    elif method == "meanshift":
        centers = _meanshift(fit, seed, min_cluster_fraction)
    else:
        raise ModelError(f"unknown clustering method '{method}' (known: kmeans, meanshift)")
    check_current_cancel()
    return nearest_centre(x, centers), centers.astype(np.float32)


def _kmeans(
    x: np.ndarray, k: int | None, seed: int, weights: np.ndarray | None = None
) -> np.ndarray:
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    if k is None or k < 1:
        raise ModelError(f"k-means needs a number of clusters >= 1 (got {k})")
    if x.shape[0] < k:
        raise ModelError(f"cannot find {k} clusters in {x.shape[0]} points")
    with warnings.catch_warnings():
        # Fewer distinct points than k (e.g. silence) is not an error: some clusters stay empty.
        warnings.simplefilter("ignore", ConvergenceWarning)
        km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(x, sample_weight=weights)
    return km.cluster_centers_


def _meanshift(x: np.ndarray, seed: int, min_cluster_fraction: float) -> np.ndarray:
    from sklearn.cluster import MeanShift, estimate_bandwidth

    x = x[_subsample(x.shape[0], _MEANSHIFT_POINTS, seed)]
    bw_sample = x[_subsample(x.shape[0], _BANDWIDTH_POINTS, seed + 1)]
    bandwidth = float(estimate_bandwidth(bw_sample, quantile=0.3, random_state=seed))
    if not np.isfinite(bandwidth) or bandwidth <= 1e-6:
        return x.mean(axis=0, keepdims=True)  # all points (nearly) identical: one cluster
    # Seeds are data points, so every seed has at least itself within the bandwidth.
    seeds = x[_subsample(x.shape[0], _MEANSHIFT_SEEDS, seed + 2)]
    ms = MeanShift(bandwidth=bandwidth, seeds=seeds).fit(x)
    centers = ms.cluster_centers_
    counts = np.bincount(ms.labels_, minlength=len(centers))
    keep = counts >= min_cluster_fraction * x.shape[0]
    if not keep.any():
        keep = counts == counts.max()
    return centers[keep]


def pca_2d(emb: np.ndarray) -> np.ndarray:
    """``emb [N, D]`` -> ``[N, 2]`` float32 projection on the first two principal components.

    Deterministic (full SVD, sklearn's sign convention). Missing components (D < 2, N < 2) are 0.
    """
    from sklearn.decomposition import PCA

    x = np.asarray(emb, dtype=np.float64)
    n = x.shape[0]
    out = np.zeros((n, 2), dtype=np.float32)
    n_comp = min(2, x.shape[1], n)
    if n_comp >= 1 and n >= 2:
        out[:, :n_comp] = PCA(n_components=n_comp, svd_solver="full").fit_transform(x)
    return out
