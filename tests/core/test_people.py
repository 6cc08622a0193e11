"""Counting people: the clustering of a recording's voice vectors, on synthetic vectors."""

import numpy as np

from separation_core.conversation import people as PE
from separation_core.conversation.people import SpeakerCount, cluster_people
from separation_core.conversation.voices import unit_rows


def _voices(rng, centres: np.ndarray, per: int, spread: float):
    """``per`` unit vectors around each of ``centres [k, dim]`` -> (vectors, true labels)."""
    vectors = np.concatenate([c + spread * rng.standard_normal((per, c.size)) for c in centres])
    return unit_rows(vectors), np.repeat(np.arange(len(centres)), per)


def test_a_cut_is_refined_to_the_nearest_means():
    rng = np.random.default_rng(0)
    vectors, truth = _voices(rng, 3 * rng.standard_normal((2, 16)), 20, 0.5)
    cut = truth.copy()
    cut[[0, 1, 2]] = 1  # three windows of the first person joined the second
    refined = PE._refined(vectors, cut)
    np.testing.assert_array_equal(refined, truth)
    np.testing.assert_array_equal(PE._refined(vectors, truth), truth)  # nothing to move


def test_the_refinement_keeps_the_number_of_clusters():
    rng = np.random.default_rng(1)
    vectors, truth = _voices(rng, 3 * rng.standard_normal((2, 16)), 20, 0.3)
    cut = truth * 2  # labels 0 and 2: renumbered 0 and 1
    np.testing.assert_array_equal(PE._refined(vectors, cut), truth)
    # three clusters cut from two people: the pass that would empty one is not taken
    cut = truth.copy()
    cut[:10] = 2
    refined = PE._refined(vectors, cut)
    assert sorted(np.unique(refined).tolist()) == [0, 1, 2]
    assert (refined[truth == 1] == refined[truth == 1][0]).all()


def test_people_are_counted_and_one_voice_is_one_person():
    rng = np.random.default_rng(2)
    centres = 3 * rng.standard_normal((3, 32))
    vectors, truth = _voices(rng, centres, 25, 0.6)
    found = cluster_people(vectors, SpeakerCount(), embeddings=vectors)
    assert found.count == 3
    # each found person is one true person
    for k in range(3):
        assert len(np.unique(truth[found.labels == k])) == 1
    one, _ = _voices(rng, centres[:1], 60, 0.6)
    assert cluster_people(one, SpeakerCount(), embeddings=one).count == 1


def test_a_given_count_or_range_is_kept():
    rng = np.random.default_rng(3)
    vectors, _ = _voices(rng, 3 * rng.standard_normal((3, 32)), 25, 0.6)
    assert cluster_people(vectors, SpeakerCount.parse("4"), embeddings=vectors).count == 4
    assert cluster_people(vectors, SpeakerCount.parse("1-2"), embeddings=vectors).count == 2


def _two_alike_and_one_apart(rng, per: int, second: int = 0):
    """Voice vectors of three people, ``per`` windows each (``second`` for the second when given),
    the first two close (the silhouette prefers two clusters), and judge embeddings that tell all
    three apart -> (vectors, judge, true labels)."""
    near, far = 3 * rng.standard_normal((2, 32))
    centres = np.stack([near, near + rng.standard_normal(32), far])
    sizes = [per, second or per, per]
    vectors = np.concatenate([_voices(rng, c[None], n, 0.4)[0] for c, n in zip(centres, sizes)])
    judge = np.concatenate(
        [_voices(rng, 3 * rng.standard_normal((1, 32)), n, 0.6)[0] for n in sizes]
    )
    return vectors, judge, np.repeat(np.arange(3), sizes)


def test_the_count_grows_while_the_judge_hears_different_people_in_big_enough_clusters():
    from scipy.cluster.hierarchy import fcluster, linkage
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(4)
    vectors, judge, truth = _two_alike_and_one_apart(rng, 40)
    tree = linkage(vectors, method="average", metric="cosine")
    cuts = {k: PE._refined(vectors, fcluster(tree, k, criterion="maxclust") - 1) for k in (2, 3)}
    silhouette = {k: silhouette_score(vectors, cut, metric="cosine") for k, cut in cuts.items()}
    assert silhouette[2] > silhouette[3]  # the silhouette alone would say two
    found = cluster_people(vectors, SpeakerCount(), embeddings=judge)
    assert found.count == 3
    assert all(len(np.unique(truth[found.labels == k])) == 1 for k in range(3))
    # the judge hears the first two as one person: two
    alike = judge.copy()
    alike[40:80] = unit_rows(judge[:40] + 0.05 * rng.standard_normal((40, 32)))
    assert cluster_people(vectors, SpeakerCount(), embeddings=alike).count == 2
    # a maximum is kept
    assert cluster_people(vectors, SpeakerCount.parse("1-2"), embeddings=judge).count == 2
    # too little speech in a cluster to add a person on: too few windows, or too small a share
    small, judge_small, _ = _two_alike_and_one_apart(rng, PE.GROW_MIN_WINDOWS - 2)
    assert cluster_people(small, SpeakerCount(), embeddings=judge_small).count == 2
    few = int(PE.GROW_MIN_SHARE * 200) - 4  # of about 200 windows, at least GROW_MIN_WINDOWS
    assert few >= PE.GROW_MIN_WINDOWS
    rare, judge_rare, _ = _two_alike_and_one_apart(rng, 100, second=few)
    assert cluster_people(rare, SpeakerCount(), embeddings=judge_rare).count == 2
