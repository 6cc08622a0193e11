"""Scores of conversation mode (one stem per person found) on a set of recordings: whole-file
SI-SDRi per person (the headline), the share of recordings with the right number of stems, and the
diarization error rate against the true turns."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np

from separation_core.evaluation.diarization import diarization_error_rate
from separation_core.evaluation.matching import ExtraStem
from separation_core.evaluation.scoring import evaluate_separation
from separation_core.io.rttm import Turn


@dataclass(frozen=True)
class ConversationScore:
    """One recording: the whole-file SI-SDRi of each person (reference order; 0 dB for a person
    without a stem), the number of stems, those left over, and the DER parts (None without turns)."""

    si_sdri: tuple[float, ...]
    n_stems: int
    extra_stems: tuple[ExtraStem, ...]
    diarization: Optional[dict[str, float]] = None

    @property
    def right_count(self) -> bool:
        return self.n_stems == len(self.si_sdri)


def score_conversation(
    stems,
    references,
    mixture,
    sample_rate: int,
    reference_turns: Optional[Sequence[Turn]] = None,
    hypothesis_turns: Optional[Sequence[Turn]] = None,
    collar: float = 0.25,
) -> ConversationScore:
    """Score ``stems [n_stem, T]`` against ``references [n_ref, T]`` of ``mixture [T]`` (the
    Hungarian pairing on SI-SDR; the counts may differ), and with both turn lists the DER with a
    ``collar`` of that many seconds either side of each reference boundary."""
    if (reference_turns is None) != (hypothesis_turns is None):
        raise ValueError("the DER needs both the reference and the hypothesis turns")
    ev = evaluate_separation(stems, references, mixture, sample_rate, metrics=("si_sdri",))
    der = (
        None
        if reference_turns is None
        else diarization_error_rate(reference_turns, hypothesis_turns, collar=collar)
    )
    return ConversationScore(
        tuple(d["si_sdri"] for d in ev.per_source),
        int(np.atleast_2d(stems).shape[0]),
        ev.extra_stems,
        der,
    )


@dataclass(frozen=True)
class ConversationSetReport:
    """A set's figures: ``si_sdri`` is the mean over every person of every recording, ``der`` the
    errors of all recordings over their reference speech, pooled (None when no recording has
    turns)."""

    recordings: int
    people: int
    si_sdri: float
    right_count_share: float
    der: Optional[float]


def summarize_conversations(scores: Iterable[ConversationScore]) -> ConversationSetReport:
    """Pool the ``ConversationScore`` of each recording of a set into its report."""
    scores = list(scores)
    if not scores:
        raise ValueError("no recording to summarize")
    people = [v for s in scores for v in s.si_sdri]
    parts = [s.diarization for s in scores if s.diarization is not None]
    der = None
    if parts:
        errors = sum(p["missed"] + p["false_alarm"] + p["confusion"] for p in parts)
        total = sum(p["total"] for p in parts)
        der = errors / total if total > 0 else float(errors > 0)  # pyannote's rule for no speech
    return ConversationSetReport(
        recordings=len(scores),
        people=len(people),
        si_sdri=float(np.mean(people)),
        right_count_share=float(np.mean([s.right_count for s in scores])),
        der=der,
    )
