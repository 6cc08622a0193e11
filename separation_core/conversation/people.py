"""How many people, and who is who: clustering speaker embeddings of a recording's stretches.

The count is given (``SpeakerCount.exact``), or estimated within ``[min, max]`` by
average-linkage agglomerative clustering of the joint voice vectors (``voices``) on cosine
distances. Two clusters are one person when their windows' speaker embeddings (the judge's,
``SpeakerEncoder.judge``; not centred) are, across them, nearly as alike as within each
(``SAME_PERSON_RATIO``). One person when the first split is one person; else the tree is cut at
each count in range, each cut refined by moving windows to their nearest cluster mean
(``_refined``), the count with the best silhouette kept, clusters too small to be a person join
the one they resemble and clusters that are one person are joined; then the count grows while the
tree's next cut holds big clusters that are all clearly different people (``_grown``). On 86
development conversations, with the judge, one person split in two kept a ratio of 0.88-0.97
between the halves; two people 0.30-0.82 (5th-95th percentile), 2% of pairs above 0.86
(docs/conversations.md, session 27).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

import numpy as np

from separation_core.conversation.voices import unit_rows
from separation_core.errors import CocktailError

MAX_PEOPLE = 8
SAME_PERSON_RATIO = 0.86  # cross / within similarity of two clusters above which they are one
MIN_WINDOWS = 5  # a cluster of fewer windows (7.5 s) is no person of its own
REFINE_ROUNDS = 10  # at most this many passes moving windows to their nearest cluster mean
GROW_RATIO = 0.85  # one more person when every two clusters of the next cut are below this ratio
GROW_MIN_SHARE = 0.12  # ... and each holds this share of the windows
GROW_MIN_WINDOWS = 10  # ... and at least this many


@dataclass(frozen=True)
class SpeakerCount:
    """How many people a recording holds: ``exact``, or estimated within ``[low, high]``."""

    low: int = 1
    high: int = MAX_PEOPLE
    exact: Optional[int] = None

    @classmethod
    def parse(cls, text: str) -> SpeakerCount:
        """ "auto", "N" or "MIN-MAX" (1..8), or CocktailError in one line."""
        text = str(text).strip().lower()
        if text in ("", "auto"):
            return cls()
        m = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", text)
        if not m:
            raise CocktailError(
                f"--speakers {text}: give auto, a number of people (1-{MAX_PEOPLE}) or a range "
                "MIN-MAX"
            )
        low = int(m.group(1))
        high = int(m.group(2)) if m.group(2) else low
        if not (1 <= low <= MAX_PEOPLE and 1 <= high <= MAX_PEOPLE):
            raise CocktailError(f"--speakers {text}: the number of people is 1 to {MAX_PEOPLE}")
        if low > high:
            raise CocktailError(f"--speakers {text}: the minimum is above the maximum")
        return cls(low, high, low if low == high else None)

    def text(self) -> str:
        if self.exact is not None:
            return str(self.exact)
        return "auto" if (self.low, self.high) == (1, MAX_PEOPLE) else f"{self.low}-{self.high}"


@dataclass(frozen=True)
class People:
    """``labels [windows]`` a person index per embedding (0..count-1, in order of first
    appearance), ``centroids [count, dim]`` unit vectors, ``silhouette`` of the chosen split (None
    for one person)."""

    labels: np.ndarray
    centroids: np.ndarray
    silhouette: Optional[float] = None

    @property
    def count(self) -> int:
        return int(self.centroids.shape[0])


def _relabel(labels: np.ndarray, emb: np.ndarray, weights: np.ndarray) -> People:
    """Labels renumbered by first appearance, with their weighted mean centroids."""
    order = list(dict.fromkeys(labels.tolist()))
    labels = np.array([order.index(v) for v in labels], dtype=np.int64)
    centroids = np.stack(
        [
            unit_rows((emb[labels == k] * weights[labels == k, None]).sum(0))
            for k in range(len(order))
        ]
    )
    return People(labels, centroids)


def cluster_people(
    vectors: np.ndarray,
    count: SpeakerCount = SpeakerCount(),
    weights: Optional[np.ndarray] = None,
    embeddings: Optional[np.ndarray] = None,
) -> People:
    """People among ``vectors [windows, dim]`` (joint voice vectors; ``weights [windows]`` e.g.
    their seconds of speech; ``embeddings [windows, 256]`` the raw speaker embeddings that decide
    whether two clusters are one person, when the count is not given)."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from sklearn.metrics import silhouette_score

    vectors = unit_rows(np.asarray(vectors, dtype=np.float64))
    n = vectors.shape[0]
    weights = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    if n == 0:
        return People(np.zeros(0, np.int64), np.zeros((0, vectors.shape[-1])))
    high = min(count.exact or count.high, n if count.exact else max(1, n // MIN_WINDOWS))
    low = min(count.exact or count.low, high)
    if n == 1 or high == 1:
        return _relabel(np.zeros(n, dtype=np.int64), vectors, weights)
    tree = linkage(vectors, method="average", metric="cosine")
    judged = count.exact is None and embeddings is not None
    if judged:  # the embeddings' similarities, [windows, windows], shared by the rules below
        embeddings = np.asarray(embeddings, np.float64)
        sim = embeddings @ embeddings.T
    if judged and low <= 1:
        halves = _refined(vectors, fcluster(tree, 2, criterion="maxclust") - 1)
        if len(np.unique(_merge_same_people(halves, sim, 1))) == 1:
            return _relabel(np.zeros(n, dtype=np.int64), vectors, weights)  # one person
    best: Optional[tuple[float, np.ndarray]] = None
    for k in range(max(2, low), high + 1):
        labels = _refined(vectors, fcluster(tree, k, criterion="maxclust") - 1)
        if len(np.unique(labels)) < 2:
            continue
        score = float(silhouette_score(vectors, labels, metric="cosine"))
        if best is None or score > best[0]:
            best = (score, labels)
    if best is None:
        return _relabel(np.zeros(n, dtype=np.int64), vectors, weights)
    labels = best[1]
    if judged:
        labels = _merge_same_people(labels, sim, low)
        labels = _grown(vectors, tree, labels, sim, high)
    people = _relabel(labels, vectors, weights)
    return People(people.labels, people.centroids, best[0] if people.count > 1 else None)


def _refined(vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """A cut of the tree, each window of ``vectors [windows, dim]`` (unit rows) then moved to the
    cluster whose mean it resembles most, until none moves or REFINE_ROUNDS passes (spherical
    k-means from the cut): average linkage fixes a window's cluster when it first joins one, and
    a window between two people often joins the wrong one. The moves stop before a pass that
    would empty a cluster, so the number of clusters is kept; labels ``[windows]`` 0..k-1."""
    labels = np.unique(labels, return_inverse=True)[1]
    k = int(labels.max()) + 1
    for _ in range(REFINE_ROUNDS):
        means = unit_rows(np.stack([vectors[labels == c].mean(0) for c in range(k)]))
        moved = (vectors @ means.T).argmax(1)
        if np.array_equal(moved, labels) or len(np.unique(moved)) < k:
            break
        labels = moved
    return labels


def _grown(
    vectors: np.ndarray, tree: np.ndarray, labels: np.ndarray, sim: np.ndarray, high: int
) -> np.ndarray:
    """``labels`` of two or more people, or the tree's next cut (refined) while that cut's
    clusters all hold GROW_MIN_SHARE of the windows (and GROW_MIN_WINDOWS) and every two of them
    are clearly two people (ratio below GROW_RATIO): where people sound alike, the silhouette
    prefers fewer clusters than there are people. ``sim [windows, windows]``: the judge's
    embeddings' dot products."""
    from scipy.cluster.hierarchy import fcluster

    smallest = max(GROW_MIN_WINDOWS, int(np.ceil(GROW_MIN_SHARE * len(labels))))
    count = len(np.unique(labels))
    while 2 <= count < high:
        cut = _refined(vectors, fcluster(tree, count + 1, criterion="maxclust") - 1)
        masks = [cut == k for k in np.unique(cut)]
        if len(masks) != count + 1 or min(m.sum() for m in masks) < smallest:
            break
        if _same_person_ratios(sim, masks).max() >= GROW_RATIO:
            break
        labels, count = cut, count + 1
    return labels


def _same_person_ratios(sim: np.ndarray, masks: list) -> np.ndarray:
    """``[clusters, clusters]`` the mean cross similarity of each two clusters (``masks``, bool
    ``[windows]``, of 2 or more windows each) over the geometric mean of their mean within
    similarities (``sim [windows, windows]``, unit embeddings' dot products); -inf on the diagonal."""
    sizes = np.array([m.sum() for m in masks])
    cross = np.array([[sim[np.ix_(a, b)].mean() for b in masks] for a in masks])
    within = np.array([(sim[np.ix_(m, m)].sum() - n) / (n * (n - 1)) for m, n in zip(masks, sizes)])
    ratio = cross / np.sqrt(np.outer(within, within))
    np.fill_diagonal(ratio, -np.inf)
    return ratio


def _merge_same_people(labels: np.ndarray, sim: np.ndarray, low: int) -> np.ndarray:
    """Join clusters that are one person, while more than ``low`` remain: first any cluster of
    fewer than MIN_WINDOWS windows (too little to tell a person by) into the one it resembles most,
    then the two whose windows are, across them, most nearly as alike as within each (the ratio of
    their mean cross similarity to the geometric mean of their mean within similarities), while
    that ratio is above SAME_PERSON_RATIO. Unlike the similarity of the clusters' means, the ratio
    does not fall with the clusters' sizes. ``sim [windows, windows]``: the judge's embeddings'
    dot products."""
    labels = labels.copy()
    while len(np.unique(labels)) > max(1, low):
        ids = np.unique(labels)
        masks = [labels == k for k in ids]
        sizes = np.array([m.sum() for m in masks])
        if sizes.min() < MIN_WINDOWS:
            i = int(np.argmin(sizes))
            row = np.array([sim[np.ix_(masks[i], m)].mean() for m in masks])
            row[i] = -np.inf
            labels[masks[i]] = ids[int(np.argmax(row))]
            continue
        ratio = _same_person_ratios(sim, masks)
        i, j = np.unravel_index(np.argmax(ratio), ratio.shape)
        if ratio[i, j] <= SAME_PERSON_RATIO:
            break
        labels[masks[j]] = ids[i]
    return labels
