"""A person's short pauses stay in their turn: where nobody talks for at most PAUSE_BRIDGE_SECONDS
between two stretches of one person talking alone, the plan gives that person the mixture."""

from __future__ import annotations

import numpy as np

from separation_core.conversation import pipeline as P
from separation_core.conversation.assembly import MIXTURE, SILENT, Plan
from separation_core.conversation.turns import turns_from_activity

BRIDGE = int(round(P.PAUSE_BRIDGE_SECONDS / P.HOP))


def _plan(*runs: tuple[int, int, int], people: int = 2, n: int = 400) -> np.ndarray:
    """source [people, n]: person k takes the mixture on [a, b) for each (k, a, b)."""
    source = np.full((people, n), SILENT, dtype=np.int64)
    for k, a, b in runs:
        source[k, a:b] = MIXTURE
    return source


def test_a_short_pause_of_one_person_is_bridged_and_makes_one_turn():
    source = _plan((0, 10, 100), (0, 100 + BRIDGE, 200))
    P._bridge_pauses(source, BRIDGE)
    assert (source[0, 10:200] == MIXTURE).all() and (source[1] == SILENT).all()
    turns = turns_from_activity(Plan(source, P.HOP).active(), 1.0 / P.HOP)
    assert [(t.speaker, round(t.start, 2), round(t.end, 2)) for t in turns] == [(0, 0.1, 2.0)]


def test_longer_pauses_changes_of_person_and_the_edges_are_left_silent():
    longer = _plan((0, 10, 100), (0, 101 + BRIDGE, 200))
    other = _plan((0, 10, 100), (1, 110, 200))
    edges = _plan((0, 5, 100), (0, 110, 395))  # silent frames at both ends
    for source in (longer, other, edges):
        before = source.copy()
        P._bridge_pauses(source, BRIDGE)
        gaps = before == SILENT
        inner = np.zeros_like(gaps)
        inner[:, 100:110] = True
        assert (source[gaps & ~inner] == SILENT).all()
    assert (longer[0, 100 : 101 + BRIDGE] == SILENT).all()
    assert (other[:, 100:110] == SILENT).all()
    assert (edges[0, :5] == SILENT).all() and (edges[0, 395:] == SILENT).all()
    assert (edges[0, 100:110] == MIXTURE).all()  # the pause inside is bridged


def test_a_pause_next_to_an_overlap_is_left_silent():
    """Two people on one side: whose pause it is cannot be told."""
    source = _plan((0, 10, 100), (1, 60, 100), (0, 110, 200))
    P._bridge_pauses(source, BRIDGE)
    assert (source[:, 100:110] == SILENT).all()


def test_separated_outputs_on_either_side_count_as_that_person():
    source = _plan((0, 10, 100), (0, 110, 200))
    source[0, 80:100] = 1  # the person's separated output just before the pause
    P._bridge_pauses(source, BRIDGE)
    assert (source[0, 100:110] == MIXTURE).all() and (source[0, 80:100] == 1).all()
