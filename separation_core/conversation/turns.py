"""Who talks when, on the sample and frame grids: activity matrices and turns from them.
Turns themselves and RTTM files are ``separation_core.io.rttm``'s."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from separation_core.io.rttm import Turn, sorted_turns


def activity(turns: Iterable[Turn], n_people: int, n_samples: int, sample_rate: int) -> np.ndarray:
    """Who talks at each sample: bool ``[n_people, n_samples]``."""
    out = np.zeros((n_people, n_samples), dtype=bool)
    for t in turns:
        a = max(0, int(round(t.start * sample_rate)))
        b = min(n_samples, int(round(t.end * sample_rate)))
        if b > a:
            out[t.speaker, a:b] = True
    return out


def runs_of(mask: np.ndarray) -> list[tuple[int, int]]:
    """The ``(start, stop)`` index spans where the bool ``mask [n]`` is True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], np.asarray(mask).astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def turns_from_activity(active: np.ndarray, rate: float) -> list[Turn]:
    """The turns of a bool ``[n_people, frames]`` activity at ``rate`` frames per second."""
    turns = []
    for k, row in enumerate(np.asarray(active, dtype=bool)):
        for a, b in runs_of(row):
            turns.append(Turn(k, float(a / rate), float(b / rate)))
    return sorted_turns(turns)
