"""Stems from who talks when and a separator run on the overlaps alone: the mixture where a person
talks alone, the separator's output that sounds like them where people overlap, silence elsewhere.

Each overlap is separated in a window reaching ``CONTEXT_SECONDS`` either side (windows that
touch are merged), and the outputs are given to the people who talk there by their voices (the
speaker embedding of each output over its window against each person's, from their solo speech),
then made to add up to the mixture (``consistent_outputs``).
Everything runs at 16 kHz, the rate of the speaker encoder and of the conversation pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import numpy as np
from scipy.optimize import linear_sum_assignment

from separation_core.adaptation.solo import FRAME_SECONDS
from separation_core.cancel import CancelToken, ProgressFn, check_cancel, report
from separation_core.conversation.assembly import MIXTURE, SILENT, Plan, consistent_outputs
from separation_core.conversation.turns import runs_of
from separation_core.engine.inference import EngineOptions, fit_length, separate

RATE = 16000
CONTEXT_SECONDS = 1.0
EDGE_SECONDS = 0.05  # an output is laid a little past its overlap, under the assembly's fades
PROFILE_SECONDS = 60.0  # of each person's solo speech, for their voice


def voice_profiles(encoder, pools16: Sequence[np.ndarray]) -> np.ndarray:
    """Each person's voice: the unit speaker embedding ``[people, dim]`` of up to PROFILE_SECONDS
    of their solo audio (16 kHz)."""
    return np.stack([encoder.embed_segment(p[: int(PROFILE_SECONDS * RATE)]) for p in pools16])


def _windows(overlaps: list[tuple[int, int]], n_frames: int) -> list[tuple[int, int, list]]:
    """Frame windows around the overlaps, merged where they touch: ``(start, stop, overlaps)``."""
    ctx = int(round(CONTEXT_SECONDS / FRAME_SECONDS))
    out: list[tuple[int, int, list]] = []
    for a, b in overlaps:
        lo, hi = max(0, a - ctx), min(n_frames, b + ctx)
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], hi, out[-1][2] + [(a, b)])
        else:
            out.append((lo, hi, [(a, b)]))
    return out


def separator_reads(active: np.ndarray) -> list[list[float]]:
    """The ``[start, stop]`` seconds the separator reads for ``active [people, frames]``."""
    crowded = active.sum(0) >= 2
    return [
        [lo * FRAME_SECONDS, hi * FRAME_SECONDS]
        for lo, hi, _ in _windows(runs_of(crowded), active.shape[1])
    ]


def separate_overlaps(
    model,
    wav16: np.ndarray,
    active: np.ndarray,
    profiles: np.ndarray,
    encoder,
    device: str = "auto",
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
) -> tuple[Plan, np.ndarray]:
    """The plan of who takes which signal and the signals it names: ``(plan, separated [people,
    T])``, where ``separated[p]`` holds person ``p``'s separator output in the overlaps they are
    part of. ``active [people, frames]``: who talks per FRAME_SECONDS frame; ``profiles [people,
    dim]``: their voices (``voice_profiles``)."""
    n_people, n_frames = active.shape
    hop = int(FRAME_SECONDS * RATE)
    edge = int(EDGE_SECONDS * RATE)
    crowded = active.sum(0) >= 2
    source = np.where(active, MIXTURE, SILENT).astype(np.int64)
    separated = np.zeros((n_people, len(wav16)), dtype=np.float32)
    options = EngineOptions(
        device=device,
        keep_masks=False,
        max_embedding_points=0,
        speaker_order=False,
        input_notes=False,
    )
    windows = _windows(runs_of(crowded), n_frames)
    for i, (lo, hi, spans) in enumerate(windows):
        check_cancel(cancel)
        report(progress, i / max(1, len(windows)), "separating the overlaps")
        start, stop = lo * hop, min(len(wav16), hi * hop)
        outputs = separate(model, wav16[start:stop], RATE, options, cancel=cancel).waveforms
        outputs = fit_length(outputs, stop - start)
        voices = np.stack([encoder.embed_segment(o) for o in outputs])  # [outputs, dim]
        outputs = consistent_outputs(wav16[start:stop], outputs, RATE)  # heard as separated
        for a, b in spans:
            who = np.flatnonzero(active[:, a:b].any(1))
            rows, cols = linear_sum_assignment(-(voices @ profiles[who].T))
            for j, k in zip(rows, cols):
                p = who[k]
                source[p, a:b] = p
                s0, s1 = max(start, a * hop - edge), min(stop, b * hop + edge)
                separated[p, s0:s1] = outputs[j, s0 - start : s1 - start]
    report(progress, 1.0, "separating the overlaps")
    return Plan(source, FRAME_SECONDS), separated
