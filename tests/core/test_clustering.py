"""Clustering of bin embeddings and their 2-D projection."""

import numpy as np
import pytest

from separation_core.errors import ModelError
from separation_core.models.clustering import cluster_embeddings, nearest_centre, pca_2d


def blobs(centres, n_per, scale, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.asarray(centres, dtype=np.float32)
    x = np.concatenate(
        [c + scale * rng.standard_normal((n_per, centres.shape[1])) for c in centres]
    )
    truth = np.repeat(np.arange(len(centres)), n_per)
    perm = rng.permutation(len(x))
    return x[perm].astype(np.float32), truth[perm]


def same_partition(labels, truth):
    """True if ``labels`` equals ``truth`` up to renaming the clusters."""
    pairs = set(zip(labels.tolist(), truth.tolist()))
    return len(pairs) == len(set(truth.tolist())) == len(set(labels.tolist()))


TWO = np.stack([np.eye(20)[0], -np.eye(20)[0]])
THREE = 3.0 * np.eye(20)[:3]


@pytest.mark.parametrize("method", ["kmeans", "meanshift"])
def test_two_blobs_recovered(method):
    x, truth = blobs(TWO, 400, 0.05)
    labels, centres = cluster_embeddings(x, method=method, k=2)
    assert labels.shape == (800,) and labels.dtype == np.int64
    assert centres.shape == (2, 20)
    assert same_partition(labels, truth)
    # Each centre is the mean of its blob (to within the noise).
    for c in centres:
        assert min(np.linalg.norm(c - TWO[0]), np.linalg.norm(c - TWO[1])) < 0.05


def test_meanshift_finds_three_blobs():
    x, truth = blobs(THREE, 300, 0.1, seed=1)
    labels, centres = cluster_embeddings(x, method="meanshift")
    assert len(centres) == 3
    assert same_partition(labels, truth)


def test_meanshift_on_the_unit_sphere_with_unequal_clusters():
    # Deep clustering's geometry: one direction per speaker, orthogonal, unit norm.
    rng = np.random.default_rng(6)
    sizes = [1200, 600, 300, 150]
    x = np.concatenate(
        [np.eye(20)[i] + 0.08 * rng.standard_normal((n, 20)) for i, n in enumerate(sizes)]
    ).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    truth = np.repeat(np.arange(4), sizes)
    labels, centres = cluster_embeddings(x, method="meanshift")
    assert len(centres) == 4
    assert same_partition(labels, truth)


def test_subsampled_fit_still_assigns_every_point():
    x, truth = blobs(TWO, 1500, 0.05, seed=2)
    labels, centres = cluster_embeddings(x, method="kmeans", k=2, max_fit_points=200)
    assert labels.shape == (3000,)
    assert same_partition(labels, truth)
    np.testing.assert_array_equal(labels, nearest_centre(x, centres))


def test_nearest_centre_matches_brute_force():
    rng = np.random.default_rng(3)
    x, c = rng.standard_normal((50, 4)), rng.standard_normal((3, 4))
    brute = np.linalg.norm(x[:, None, :] - c[None], axis=-1).argmin(axis=1)
    np.testing.assert_array_equal(nearest_centre(x, c), brute)


def test_kmeans_deterministic_for_a_seed():
    x = np.random.default_rng(4).standard_normal((600, 5)).astype(np.float32)
    a = cluster_embeddings(x, k=3, seed=7, max_fit_points=300)
    b = cluster_embeddings(x, k=3, seed=7, max_fit_points=300)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_identical_points_do_not_fail():
    x = np.ones((100, 4), dtype=np.float32)
    labels, centres = cluster_embeddings(x, method="meanshift")
    assert len(centres) == 1 and (labels == 0).all()
    labels, centres = cluster_embeddings(x, method="kmeans", k=2)
    assert centres.shape == (2, 4) and labels.shape == (100,)


def test_bad_arguments_refused():
    x = np.zeros((5, 3), dtype=np.float32)
    with pytest.raises(ModelError):
        cluster_embeddings(x, method="kmeans", k=None)
    with pytest.raises(ModelError):
        cluster_embeddings(x, method="kmeans", k=6)
    with pytest.raises(ModelError):
        cluster_embeddings(x, method="dbscan", k=2)
    with pytest.raises(ModelError):
        cluster_embeddings(np.zeros((0, 3)), k=2)


def test_pca_2d_matches_svd_and_is_deterministic():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((300, 6)) * np.array([5.0, 2.0, 1.0, 0.5, 0.2, 0.1])
    p = pca_2d(x)
    assert p.shape == (300, 2) and p.dtype == np.float32
    np.testing.assert_array_equal(p, pca_2d(x.copy()))
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    ref = centred @ vt[:2].T
    # Same projection up to the sign of each axis.
    for j in range(2):
        sign = np.sign(np.dot(ref[:, j], p[:, j]))
        np.testing.assert_allclose(p[:, j], sign * ref[:, j], rtol=1e-4, atol=1e-4)


def test_pca_2d_degenerate_inputs():
    one_dim = pca_2d(np.arange(10, dtype=np.float32)[:, None])
    assert one_dim.shape == (10, 2) and (one_dim[:, 1] == 0).all()
    assert pca_2d(np.ones((1, 20))).shape == (1, 2)


def test_kmeans_weights_pull_the_centres():
    near = np.stack([np.eye(20)[0], 0.8 * np.eye(20)[0] + 0.6 * np.eye(20)[1]])
    x, truth = blobs(near, 200, 0.02)
    crowd = np.tile(np.eye(20, dtype=np.float32)[5], (2000, 1))  # many points of no weight
    points = np.concatenate([x, crowd])
    weights = np.concatenate([np.ones(len(x)), np.full(len(crowd), 1e-6)])
    labels, centres = cluster_embeddings(points, k=2, weights=weights)
    assert same_partition(labels[: len(x)], truth)
    assert all(
        min(np.linalg.norm(c - near[0]), np.linalg.norm(c - near[1])) < 0.05 for c in centres
    )
    plain, _ = cluster_embeddings(points, k=2)
    assert not same_partition(plain[: len(x)], truth)  # unweighted, the crowd takes a centre
