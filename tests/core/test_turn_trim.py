"""A person's turn given the mixture starts and ends TURN_TRIM_SECONDS inside each stretch of the
speech activity (whose pad is there for the people stage), and only then are short pauses
bridged."""

from __future__ import annotations

import numpy as np
import pytest

from separation_core.conversation import pipeline as P
from separation_core.conversation.assembly import MIXTURE, SILENT, Plan
from separation_core.conversation.turns import turns_from_activity

TRIM = int(round(P.TURN_TRIM_SECONDS / P.HOP))


def _speech(n: int, *runs: tuple[int, int]) -> np.ndarray:
    speech = np.zeros(n, dtype=bool)
    for a, b in runs:
        speech[a:b] = True
    return speech


def test_the_mixture_is_trimmed_at_both_ends_of_each_stretch_of_speech():
    speech = _speech(400, (50, 150), (200, 300))
    source = np.full((2, 400), SILENT, dtype=np.int64)
    source[0, 50:150] = MIXTURE
    source[1, 200:260] = MIXTURE
    source[0, 250:300] = 1  # a separated output at the stretch's end: not the mixture
    P._trim_turns(source, speech, TRIM)
    expected = np.full((2, 400), SILENT, dtype=np.int64)
    expected[0, 50 + TRIM : 150 - TRIM] = MIXTURE
    expected[1, 200 + TRIM : 260] = MIXTURE
    expected[0, 250:300] = 1
    np.testing.assert_array_equal(source, expected)
    turns = turns_from_activity(Plan(source, P.HOP).active(), 1.0 / P.HOP)
    first = [t for t in turns if t.speaker == 0][0]
    assert first.start == pytest.approx(0.5 + P.TURN_TRIM_SECONDS)
    assert first.end == pytest.approx(1.5 - P.TURN_TRIM_SECONDS)


def test_speech_that_reaches_the_recordings_ends_is_not_trimmed_there():
    speech = _speech(300, (0, 100), (200, 300))
    source = np.where(speech, MIXTURE, SILENT)[None].astype(np.int64)
    P._trim_turns(source, speech, TRIM)
    assert (source[0, :TRIM] == MIXTURE).all() and (source[0, 300 - TRIM :] == MIXTURE).all()
    assert (source[0, 100 - TRIM : 100] == SILENT).all()
    assert (source[0, 200 : 200 + TRIM] == SILENT).all()


def test_a_stretch_shorter_than_two_trims_goes_silent_without_error():
    speech = _speech(100, (40, 40 + TRIM))
    source = np.where(speech, MIXTURE, SILENT)[None].astype(np.int64)
    P._trim_turns(source, speech, TRIM)
    assert (source == SILENT).all()


def _one_person_plan(speech: np.ndarray) -> np.ndarray:
    class Found:  # one person, talking alone wherever there is speech
        people = space = None
        n_people = 1
        labels = np.where(speech, 0, -1)

    n = speech.shape[0]
    none = np.zeros(n, dtype=bool)
    mixture = np.zeros(n * int(P.HOP * P.RATE), np.float32)
    return P.plan_people(mixture, None, speech, none, None, Found)[0].source[0]


@pytest.mark.parametrize("wider", [0, 1])
def test_the_plan_trims_then_bridges_the_pauses_left(monkeypatch, wider):
    """A gap in the speech that the trim widens to at most PAUSE_BRIDGE_SECONDS is bridged, one
    frame wider it is not; without the trim both would be."""
    bridge = int(round(P.PAUSE_BRIDGE_SECONDS / P.HOP))
    gap = bridge - 2 * TRIM + wider
    speech = _speech(600, (100, 250), (250 + gap, 450))
    expected = np.full(600, SILENT)
    expected[100 + TRIM : 450 - TRIM] = MIXTURE
    if wider:
        expected[250 - TRIM : 250 + gap + TRIM] = SILENT
    np.testing.assert_array_equal(_one_person_plan(speech), expected)
    monkeypatch.setattr(P, "TURN_TRIM_SECONDS", 0.0)
    untrimmed = np.full(600, SILENT)
    untrimmed[100:450] = MIXTURE
    np.testing.assert_array_equal(_one_person_plan(speech), untrimmed)
