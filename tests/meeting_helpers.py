"""A synthetic three-person meeting with known turns, its ideal separator outputs and the plan the
conversation engine would make of it (shared by the meeting model's and the window's tests)."""

from __future__ import annotations

import numpy as np

from helpers import voice
from separation_core.conversation.assembly import MIXTURE, SILENT

SR = 16000
HOP = 0.01
SECONDS = 12.0
# (person, start, end) seconds: 0 and 1 overlap at 2.5-3 s, where the separator's outputs are used
TURNS = ((0, 0.0, 3.0), (1, 2.5, 6.0), (2, 6.5, 9.0), (0, 9.5, 11.0))
PITCHES = (120.0, 210.0, 320.0)


def frames(seconds: float) -> int:
    return int(round(seconds / HOP))


def meeting_signals():
    """``(voices [3, T], mixture [T], outputs [2, T], source [3, frames])``: the outputs are the
    voices of persons 0 and 1 (an ideal two-output separator); the plan takes the mixture where one
    person talks and output 0 / 1 in the overlap."""
    n = int(SECONDS * SR)
    voices = np.zeros((3, n), dtype=np.float32)
    for k, (person, a, b) in enumerate(TURNS):
        i, j = int(a * SR), int(b * SR)
        voices[person, i:j] = voice(PITCHES[person], b - a, SR, seed=k)[: j - i]
    mixture = voices.sum(0)
    outputs = voices[:2].copy()
    source = np.full((3, frames(SECONDS)), SILENT, dtype=np.int64)
    for person, a, b in TURNS:
        source[person, frames(a) : frames(b)] = MIXTURE
    source[0, frames(2.5) : frames(3.0)] = 0
    source[1, frames(2.5) : frames(3.0)] = 1
    return voices, mixture, outputs, source


GRID = dict(n_fft=512, hop=128, win_length=512, sample_rate=SR)
SPAN = (1.5, 4.0)  # seconds the separator read: the overlap with 1 s of context


def span_masks(outputs: np.ndarray):
    """The ideal separator's masks where it ran (``conversation.masks.SpanMasks``): each output's
    share of the magnitudes, ``|S_k| / sum_j |S_j|``, over SPAN on GRID."""
    from scipy.signal import stft

    from separation_core.conversation.masks import SpanMasks
    from separation_core.models.transforms import StftParams

    grid = StftParams(**GRID)
    a, b = int(SPAN[0] * SR), int(SPAN[1] * SR)
    _, _, spec = stft(outputs[:, a:b], nperseg=grid.n_fft, noverlap=grid.n_fft - grid.hop)
    mag = np.abs(spec)
    masks = (mag / np.maximum(mag.sum(0, keepdims=True), 1e-8)).astype(np.float32)
    n_frames = int(SECONDS * SR) // grid.hop + 1
    return SpanMasks(grid, n_frames, "effective", [a // grid.hop], [masks])


def meeting_result(model_name: str = "convtasnet-test"):
    """A SeparationResult as ``separate_conversation`` returns it for the synthetic meeting."""
    from separation_core.conversation.assembly import Plan, assemble
    from separation_core.conversation.turns import turns_from_activity
    from separation_core.models.result import SeparationResult

    voices, mixture, outputs, source = meeting_signals()
    plan = Plan(source, HOP)
    return (
        SeparationResult(
            waveforms=assemble(mixture, SR, plan, separated=outputs),
            sample_rate=SR,
            model_name=model_name,
            turns=turns_from_activity(plan.active(), 1.0 / HOP),
            people=["Person 1", "Person 2", "Person 3"],
            separated_spans=[[2.5, 3.0]],
            plan_source=source,
            plan_hop=HOP,
            plan_outputs=outputs,
            plan_rate=SR,
            separator_reads=[list(SPAN)],
            plan_masks=span_masks(outputs),
        ),
        voices,
        mixture,
    )


LINES = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It is easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
)
# espeak-ng voices A and B, found as one person (Person 1), and C (Person 2), in turn
VOICES = ("en+m3", "en+f4", "en+m1")
SPEAKING = (0, 2, 1, 0, 1, 2, 0, 1)  # the voice of each line


def two_voices_as_one():
    """A meeting of three espeak-ng voices, one line each in turn with pauses, where the engine
    heard voices A and B as one person: ``(result, voices [3, T], mixture [T], turns)`` with
    ``turns`` the ``(voice, start, end)`` seconds of each line."""
    from helpers import espeak
    from separation_core.conversation.assembly import Plan, assemble
    from separation_core.conversation.turns import turns_from_activity
    from separation_core.models.result import SeparationResult

    parts = [espeak(line, VOICES[v], SR) for line, v in zip(LINES, SPEAKING)]
    t, turns = 0.3, []
    for v, x in zip(SPEAKING, parts):
        turns.append((v, t, t + len(x) / SR))
        t += len(x) / SR + 0.4
    n = int(np.ceil((t + 0.3) * SR))
    voices = np.zeros((3, n), dtype=np.float32)
    source = np.full((2, frames(n / SR)), SILENT, dtype=np.int64)
    for (v, a, b), x in zip(turns, parts):
        voices[v, int(a * SR) : int(a * SR) + len(x)] = x
        source[0 if v < 2 else 1, frames(a) : frames(b)] = MIXTURE
    mixture = voices.sum(0)
    plan = Plan(source, HOP)
    result = SeparationResult(
        waveforms=assemble(mixture, SR, plan),
        sample_rate=SR,
        model_name="convtasnet-test",
        turns=turns_from_activity(plan.active(), 1.0 / HOP),
        people=["Person 1", "Person 2"],
        plan_source=source,
        plan_hop=HOP,
        plan_rate=SR,
    )
    return result, voices, mixture, turns
