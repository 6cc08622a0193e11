"""N references against M stems: what is scored when the counts differ.

The pairing is the Hungarian one on the pairwise SI-SDR matrix ``[n_ref, n_stem]``
(``metrics.solve_permutation``), for any N and M. Then:

* a reference without a stem (N > M) keeps the unprocessed mixture, so every improvement over the
  mixture (SI-SDRi, SDRi) is 0 dB; the absolute metrics (SI-SDR, SDR, PESQ, STOI) have no stem to
  score and are missing (NaN). Each metric's value for this case is its ``Metric.unmatched``;
* a stem without a reference (M > N) is not scored but reported, with its level relative to the
  mixture (a loud extra stem is a person split in two or a voice that is not in the references; a
  quiet one is residue).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_EPS = np.finfo(np.float64).eps


@dataclass(frozen=True)
class ExtraStem:
    """A stem no reference was matched to: its index among the stems and its power relative to
    the mixture's, ``10 log10(||stem||^2 / ||mixture||^2)`` dB."""

    index: int
    level_db: float


def extra_stems(stems, permutation, mixture) -> tuple[ExtraStem, ...]:
    """The stems ``[n_stem, T]`` that ``permutation [n_ref]`` (stem of each reference, -1 for
    none) leaves out, in index order, each with its level relative to ``mixture [T]``."""
    stems = np.atleast_2d(np.asarray(stems, dtype=np.float64))
    matched = {int(j) for j in np.asarray(permutation).reshape(-1) if j >= 0}
    mix_power = float(np.sum(np.asarray(mixture, dtype=np.float64) ** 2))
    return tuple(
        ExtraStem(k, float(10.0 * np.log10((np.sum(s**2) + _EPS) / (mix_power + _EPS))))
        for k, s in enumerate(stems)
        if k not in matched
    )
