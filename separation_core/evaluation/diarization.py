"""Diarization error rate (DER) of who-talks-when turns against the true turns, by pyannote.metrics.

DER = (missed speech + false alarm + speaker confusion) / reference speech, all in seconds, after
the best one-to-one mapping of hypothesis people to reference people (labels need not agree).
Overlapping speech counts once per person talking.
"""

from __future__ import annotations

from collections.abc import Iterable

from separation_core.io.rttm import Turn


def diarization_error_rate(
    reference_turns: Iterable[Turn],
    hypothesis_turns: Iterable[Turn],
    collar: float = 0.25,
    skip_overlap: bool = False,
) -> dict[str, float]:
    """DER of ``hypothesis_turns`` against ``reference_turns``:
    ``dict(der, missed, false_alarm, confusion, total)``, the last four in seconds (``total``: the
    reference speech scored).

    ``collar`` is the NIST md-eval one: that many seconds either side of every reference turn's
    start and end are not scored (pyannote's ``collar`` is the whole width, so it gets twice this).
    ``skip_overlap`` leaves out the time where reference people overlap. With no reference speech
    the DER is 0 without a false alarm, else 1 (pyannote's convention).
    """
    import warnings

    from pyannote.core import Segment, Timeline  # not at import: pyannote takes a second to load
    from pyannote.metrics.diarization import DiarizationErrorRate

    reference, ref_end = _annotation(reference_turns)
    hypothesis, hyp_end = _annotation(hypothesis_turns)
    # The scored span: all of both, from 0 (given, so pyannote does not warn that it guessed it).
    uem = Timeline([Segment(0.0, max(ref_end, hyp_end))])
    metric = DiarizationErrorRate(collar=2.0 * collar, skip_overlap=skip_overlap)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyannote warns about the empty annotations it handles
        parts = metric(reference, hypothesis, uem=uem, detailed=True)
    return {
        "der": float(parts["diarization error rate"]),
        "missed": float(parts["missed detection"]),
        "false_alarm": float(parts["false alarm"]),
        "confusion": float(parts["confusion"]),
        "total": float(parts["total"]),
    }


def _annotation(turns: Iterable[Turn]):
    """A pyannote ``Annotation`` of ``turns`` (one track each, labelled by the person's index) and
    the end of the last turn (0 without turns)."""
    from pyannote.core import Annotation, Segment

    out, end = Annotation(), 0.0
    for k, t in enumerate(turns):
        out[Segment(t.start, t.end), k] = t.speaker
        end = max(end, t.end)
    return out, end
