"""Handovers: where one person hands the floor to another with no pause, conversation mode also
runs the separator, and the two people take one output each where its outputs hold both."""

from __future__ import annotations

import numpy as np
import pytest
from meeting_helpers import LINES

from helpers import espeak, needs_espeak, si_sdr_reference
from separation_core.conversation import pipeline as P
from separation_core.conversation.assembly import MIXTURE, SILENT, assemble
from separation_core.conversation.people import SpeakerCount
from separation_core.errors import CocktailError

SR = 16000
HOP = int(P.HOP * SR)
REACH = int(round(P.HANDOVER_SECONDS / P.HOP))


def _labels(*runs: tuple[int, int, int], n: int = 1000):
    """labels [n]: person k on [a, b) for each (k, a, b), -1 elsewhere; speech where labelled."""
    labels = np.full(n, -1)
    for k, a, b in runs:
        labels[a:b] = k
    return labels, labels >= 0


def test_a_handover_reaches_the_set_time_either_side():
    labels, speech = _labels((0, 0, 400), (1, 400, 900))
    runs = P.handovers(labels, speech, np.zeros(1000, bool))
    assert runs == [(399 - REACH, 401 + REACH, 0, 1)]  # REACH frames beyond each side's last
    frames = P.handover_frames(runs, 1000)
    assert frames.sum() == 2 * REACH + 2 and frames[399 - REACH] and not frames[401 + REACH]


def test_a_handover_stops_at_a_pause_and_the_edges():
    labels, speech = _labels((0, 0, 300), (0, 330, 400), (1, 400, 450))
    assert P.handovers(labels, speech, np.zeros(1000, bool)) == [(330, 450, 0, 1)]


def test_a_short_unlabelled_stretch_of_speech_still_joins_two_people():
    labels, speech = _labels((1, 100, 400), (0, 405, 700))
    speech[400:405] = True  # speech nobody was given (e.g. too short a stretch)
    gap = int(round(P.HANDOVER_GAP_SECONDS / P.HOP))
    assert P.handovers(labels, speech, np.zeros(1000, bool)) == [(399 - REACH, 406 + REACH, 1, 0)]
    labels, speech = _labels((1, 100, 400), (0, 402 + gap, 700))
    speech[400 : 402 + gap] = True
    assert P.handovers(labels, speech, np.zeros(1000, bool)) == []


@pytest.mark.parametrize("case", ["pause", "long unlabelled speech", "same person"])
def test_no_handover_across_a_pause_or_within_one_voice(case):
    labels, speech = _labels((0, 100, 400), (1, 400, 700))
    if case == "pause":
        labels, speech = _labels((0, 100, 400), (1, 420, 700))
    elif case == "long unlabelled speech":
        labels[400:420] = -1
    elif case == "same person":
        labels[labels >= 0] = 0
    assert P.handovers(labels, speech, np.zeros(1000, bool)) == []


def test_a_detected_overlap_between_two_people_lies_inside_their_handover():
    labels, speech = _labels((0, 100, 380), (1, 420, 700))
    speech[380:420] = True
    overlap = np.zeros(1000, bool)
    overlap[380:420] = True
    assert P.handovers(labels, speech, overlap) == [(379 - REACH, 421 + REACH, 0, 1)]


def test_a_handover_stops_at_a_third_person_and_close_ones_share_the_frames_between():
    labels, speech = _labels((2, 0, 300), (0, 300, 400), (1, 400, 450), (0, 450, 900))
    runs = P.handovers(labels, speech, np.zeros(1000, bool))
    assert [r[2:] for r in runs] == [(2, 0), (0, 1), (1, 0)]
    assert runs[1][0] == runs[0][1] and runs[2][0] == runs[1][1]  # they meet, never overlap
    assert runs[1][0] >= 300 and runs[1][1] <= 450  # 0 -> 1 reaches no frame of person 2
    assert runs[0][0] == 299 - REACH and runs[2][1] == 451 + REACH


@pytest.fixture(scope="module")
def encoder():
    from separation_core.conversation.speakers import SpeakerEncoder

    try:
        return SpeakerEncoder.shared()
    except CocktailError as err:
        pytest.skip(str(err))


@pytest.fixture(scope="module")
def handover():
    """Two espeak-ng voices, the second starting 0.8 s before the first ends, which no overlap
    detector reported: (sources [2, T], mixture, speech [frames], the frames of the overlap)."""
    a = espeak(" ".join(LINES[:2]), "en+m3", SR)
    b = espeak(" ".join(LINES[2:4]), "en+f4", SR)
    start = len(a) + int(0.3 * SR) - int(0.8 * SR)
    n = start + len(b) + int(0.3 * SR)
    sources = np.zeros((2, n), np.float32)
    sources[0, int(0.3 * SR) : int(0.3 * SR) + len(a)] = a
    sources[1, start : start + len(b)] = b
    frames = int(np.ceil(n / HOP))
    speech = np.zeros(frames, bool)
    speech[int(0.3 * SR) // HOP : (start + len(b)) // HOP] = True
    both = np.zeros(frames, bool)
    both[start // HOP : (int(0.3 * SR) + len(a)) // HOP] = True
    return sources, sources.sum(0), speech, both


@needs_espeak
def test_the_two_people_of_a_missed_overlap_take_one_output_each(encoder, handover):
    sources, mix, speech, both = handover
    none = np.zeros_like(speech)
    found = P.find_people(mix, speech, none, encoder, SpeakerCount.parse("2"))
    assert found.n_people == 2
    runs = P.handovers(found.labels, speech, none)
    assert len(runs) == 1
    a, b, before, after = runs[0]
    assert a < np.flatnonzero(both)[0] and b > np.flatnonzero(both)[-1]  # it covers the overlap
    # a separator that returns the two voices (in the other order, 5 % of the other left in)
    outputs = np.zeros_like(sources)
    outputs[:, a * HOP : b * HOP] = (0.95 * sources[::-1] + 0.05 * sources)[:, a * HOP : b * HOP]
    plan, _, separated = P.plan_people(mix, outputs, speech, none, encoder, found, runs)
    assert separated[a:b].all() and separated.sum() == b - a
    # both talking: one output each (where a voice is QUIET_BESIDE_SOLO_DB below the mixture
    # and the clustering labelled the other voice alone, it may be taken for leak: silent);
    # where one of them has stopped (or not yet begun) their output holds only the leak of the
    # other, and they are silent
    frames = np.pad(sources, ((0, 0), (0, len(speech) * HOP - sources.shape[1])))
    mute = ~np.abs(frames.reshape(2, len(speech), HOP)).any(-1)
    talking = ~mute[0] & ~mute[1]
    assert talking[a:b].sum() > 30  # 0.3 s or more of both voices at once
    level = P._frame_energy(np.vstack([frames, frames.sum(0)]), len(speech))
    loud = (level[:2] > level[2] * 10 ** (-P.QUIET_BESIDE_SOLO_DB / 10)).all(0) & talking
    assert loud[a:b].sum() >= 10  # 0.1 s or more where both are within that of the mixture
    assert (plan.source[before, loud] == 1).all() and (plan.source[after, loud] == 0).all()
    assert set(np.unique(plan.source[before, talking])) <= {1, SILENT}
    assert set(np.unique(plan.source[after, talking])) <= {0, SILENT}
    for person, voice, output in ((before, 0, 1), (after, 1, 0)):
        row = plan.source[person, a:b]
        assert set(np.unique(row)) <= {output, SILENT}
        quiet = mute[voice, a:b]
        # (their voice's faint frames under the other's labelled solo speech count as leak)
        assert (row[quiet] == SILENT).mean() > 0.8 and (row[~quiet] == output).mean() > 0.8
    assert (plan.source[:, :a] < 0).all() and (plan.source[:, b:] < 0).all()
    stems = assemble(mix, SR, plan, separated=outputs)
    without, _, _ = P.plan_people(mix, outputs, speech, none, encoder, found, [])
    labels_only = assemble(mix, SR, without, separated=outputs)
    for person, voice in ((before, 0), (after, 1)):
        gained = si_sdr_reference(stems[person], sources[voice])
        kept = si_sdr_reference(labels_only[person], sources[voice])
        assert gained > kept + 3.0, (person, gained, kept)


@needs_espeak
def test_a_handover_whose_outputs_hold_one_voice_keeps_its_labels(encoder, handover, monkeypatch):
    monkeypatch.setattr(P, "TURN_TRIM_SECONDS", 0.0)  # the labels as they are, edges and all
    sources, mix, speech, _ = handover
    none = np.zeros_like(speech)
    found = P.find_people(mix, speech, none, encoder, SpeakerCount.parse("2"))
    runs = P.handovers(found.labels, speech, none)
    a, b, before, _ = runs[0]
    first = np.flatnonzero(found.labels == before)[0]
    voice = int(np.argmax(np.abs(sources[:, first * HOP : (first + 50) * HOP]).sum(1)))
    outputs = np.zeros_like(sources)
    outputs[0, a * HOP : b * HOP] = sources[voice, a * HOP : b * HOP]
    outputs[1, a * HOP : b * HOP] = 0.3 * sources[voice, a * HOP : b * HOP]
    plan, _, separated = P.plan_people(mix, outputs, speech, none, encoder, found, runs)
    assert not separated.any()
    expected = np.where(found.labels[None, :] == np.arange(2)[:, None], MIXTURE, SILENT)
    np.testing.assert_array_equal(plan.source, expected)


@needs_espeak
def test_the_plan_keeps_a_short_pause_of_one_person_in_their_turn(encoder, handover, monkeypatch):
    """The pipeline's own plan: a pause inside the first voice, which the activity did not call
    speech and which the turns' trim widens to PAUSE_BRIDGE_SECONDS, is that person's (the
    mixture); without the rule it is silent."""
    sources, mix, speech, _ = handover
    speech = speech.copy()
    trim = int(round(P.TURN_TRIM_SECONDS / P.HOP))
    width = int(round(P.PAUSE_BRIDGE_SECONDS / P.HOP)) - 2 * trim
    pause = slice(np.flatnonzero(speech)[0] + 150, np.flatnonzero(speech)[0] + 150 + width)
    speech[pause] = False
    none = np.zeros_like(speech)
    found = P.find_people(mix, speech, none, encoder, SpeakerCount.parse("2"))
    person = found.labels[pause.start - 1]
    assert person >= 0 and found.labels[pause.stop] == person
    plan, _, _ = P.plan_people(mix, None, speech, none, encoder, found, [])
    assert (plan.source[person, pause] == MIXTURE).all()
    assert (plan.source[1 - person, pause] == SILENT).all()
    monkeypatch.setattr(P, "PAUSE_BRIDGE_SECONDS", 0.0)
    plan, _, _ = P.plan_people(mix, None, speech, none, encoder, found, [])
    assert (plan.source[:, pause] == SILENT).all()


def test_nothing_to_hand_over_without_solo_frames():
    assert P.handovers(np.full(50, -1), np.ones(50, bool), np.zeros(50, bool)) == []
    assert P.handovers(np.zeros(0, int), np.zeros(0, bool), np.zeros(0, bool)) == []
    assert not P.handover_frames([], 50).any()


@needs_espeak
def test_in_an_overlap_each_person_takes_the_output_that_carries_their_voice_next_to_it(
    encoder, handover, monkeypatch
):
    """The separator reads an overlap with a second of context, where each person talks alone:
    the output that carries a person's voice there carries it in the overlap too, even where the
    outputs' voices cannot be told apart (here the voice vectors are made all alike)."""
    sources, mix, speech, both = handover
    found = P.find_people(mix, speech, both, encoder, SpeakerCount.parse("2"))
    assert found.n_people == 2
    lo, hi = np.flatnonzero(both)[[0, -1]]
    first, second = found.labels[lo - 1], found.labels[hi + 1]
    assert first >= 0 and second >= 0 and first != second
    ctx = int(round(P.SEPARATION_CONTEXT_SECONDS / P.HOP))
    span = slice((lo - ctx) * HOP, (hi + 1 + ctx) * HOP)
    outputs = np.zeros_like(sources)  # the voices in the other order, 5 % of the other left in
    outputs[:, span] = (0.95 * sources[::-1] + 0.05 * sources)[:, span]
    monkeypatch.setattr(encoder, "embed_segment", lambda x: np.full(256, 256**-0.5, np.float32))
    monkeypatch.setattr(P, "profile", lambda x: np.ones_like(found.space.profile_mean))
    plan, _, separated = P.plan_people(mix, outputs, speech, both, encoder, found, [])
    assert separated[both].all()
    frames = np.pad(sources, ((0, 0), (0, len(speech) * HOP - sources.shape[1])))
    talking = np.abs(frames.reshape(2, len(speech), HOP)).any(-1).all(0) & both
    assert talking.sum() > 30
    assert (plan.source[first, talking] == 1).all() and (plan.source[second, talking] == 0).all()
    monkeypatch.setattr(P, "CARRIER_DB", 200.0)  # the voices alone: one voice, one person
    plan, _, separated = P.plan_people(mix, outputs, speech, both, encoder, found, [])
    assert not separated[both].any()
    assert sorted({int(plan.source[0, talking][0]), int(plan.source[1, talking][0])}) == [
        SILENT,
        MIXTURE,
    ]


def test_carriers_are_the_outputs_loud_where_each_person_talks_alone_next_to_the_run():
    rng = np.random.default_rng(1)
    n = 400
    labels = np.full(n, -1)
    labels[100:200], labels[250:350] = 0, 1  # person 0 before the run [200, 250), 1 after
    overlap = np.zeros(n, bool)
    overlap[200:250] = True
    voices = rng.standard_normal((2, n * HOP)).astype(np.float32)
    outputs = np.zeros((3, n * HOP), np.float32)  # output 2 is quiet throughout
    outputs[0, : 225 * HOP] = voices[0, : 225 * HOP]  # person 0's voice, 20 dB above the leak
    outputs[1, : 225 * HOP] = 0.1 * voices[0, : 225 * HOP]
    outputs[1, 225 * HOP :] = voices[1, 225 * HOP :]  # then person 1's, in the other output
    outputs[0, 225 * HOP :] = 0.1 * voices[1, 225 * HOP :]
    outs = np.array([1, 0])
    assert P._carriers(outputs, outs, labels, overlap, 200, 250) == {1: 0, 0: 1}
    # the context ends SEPARATION_CONTEXT_SECONDS from the run: person 1 from frame 360 is not in it
    ctx = int(round(P.SEPARATION_CONTEXT_SECONDS / P.HOP))
    far = labels.copy()
    far[250:350] = -1
    far[250 + ctx : 350] = 1
    assert P._carriers(outputs, outs, far, overlap, 200, 250) == {1: 0}
    # under CARRIER_MIN_SECONDS of a person alone, or outputs within CARRIER_DB: no carrier
    short = labels.copy()
    short[100:200] = -1
    short[200 - int(P.CARRIER_MIN_SECONDS / P.HOP) + 1 : 200] = 0
    assert P._carriers(outputs, outs, short, overlap, 200, 250) == {0: 1}
    even = outputs.copy()
    even[1, : 225 * HOP] = 0.9 * voices[0, : 225 * HOP]
    assert P._carriers(even, outs, labels, overlap, 200, 250) == {0: 1}
    # one output loud for both people: it carries the one with more frames next to the run
    one = outputs.copy()
    one[0] = voices.sum(0)
    one[1] = 0.05 * voices.sum(0)
    fewer_after, fewer_before = labels.copy(), labels.copy()
    half = ctx // 2  # one person keeps half the frames of the context on their side
    fewer_after[250 + half : 350], fewer_before[100 : 200 - half] = -1, -1
    assert P._carriers(one, outs, fewer_after, overlap, 200, 250) == {1: 0}
    assert P._carriers(one, outs, fewer_before, overlap, 200, 250) == {1: 1}


def test_an_output_that_barely_resembles_the_one_person_both_resemble_is_a_second_voice():
    """In an overlap whose two outputs both sound most like one person, the output that does so
    far less clearly than the other is the next person's voice; two halves of one voice are not."""
    sim = np.array([[0.6, -0.6], [0.1, -0.05]])  # margins over the next person: 1.2 and 0.15
    assert P._second_voice(sim, np.array([-2.0, -6.0])) == (0, 1)
    assert P._second_voice(sim[::-1], np.array([-6.0, -2.0])) == (1, 0)
    halves = np.array([[0.6, -0.6], [0.5, -0.45]])  # both clearly person 0: one voice split
    assert P._second_voice(halves, np.array([-3.0, -4.0])) is None
    quiet = np.array([-1.0, -P.SECOND_VOICE_FLOOR_DB - 1])  # far below the mixture: a leak
    assert P._second_voice(sim, quiet) is None
    three = np.array([[0.6, -0.6, 0.0], [0.2, -0.3, 0.15]])  # to the person it resembles next
    assert P._second_voice(three, np.array([-2.0, -5.0])) == (0, 2)
    assert P._second_voice(np.array([[0.5], [0.1]]), np.array([-2.0, -3.0])) is None
    mixture = np.random.default_rng(3).standard_normal(100 * HOP)
    outputs = np.stack([0.5 * mixture, np.zeros_like(mixture), mixture])
    outputs[0, 50 * HOP :] = 0  # the levels are those of frames [10, 40) alone
    levels = P._levels_db(outputs, [2, 0], mixture, 10, 40)
    assert levels == pytest.approx([0.0, 20 * np.log10(0.5)], abs=1e-9)


def test_a_handover_output_must_carry_its_person_where_they_talk_alone_in_the_run(monkeypatch):
    rng = np.random.default_rng(2)
    n = 300
    labels = np.full(n, -1)
    labels[0:140], labels[160:300] = 0, 1  # person 0 hands over to person 1 at frames 140-160
    overlap = np.zeros(n, bool)
    voices = rng.standard_normal((2, n * HOP)).astype(np.float32)
    split = np.zeros((2, n * HOP), np.float32)  # one voice per output, 20 dB over the leak
    split[0, : 150 * HOP], split[1, 150 * HOP :] = voices[0, : 150 * HOP], voices[1, 150 * HOP :]
    split[1, : 150 * HOP], split[0, 150 * HOP :] = (
        0.1 * split[0, : 150 * HOP],
        0.1 * split[1, 150 * HOP :],
    )
    assert P._carry_their_sides(split, np.array([0, 1]), labels, overlap, 0, n, (0, 1))
    assert not P._carry_their_sides(split, np.array([1, 0]), labels, overlap, 0, n, (0, 1))
    # one output holds both people one after the other: whichever way round, a side disagrees
    sequential = np.stack([voices[0] + voices[1], 0.01 * (voices[0] + voices[1])])
    sequential[0, : 150 * HOP] = voices[0, : 150 * HOP]
    sequential[0, 150 * HOP :] = voices[1, 150 * HOP :]
    for outs in ([0, 1], [1, 0]):
        assert not P._carry_their_sides(sequential, np.array(outs), labels, overlap, 0, n, (0, 1))
    # a side with under CARRIER_MIN_SECONDS alone (or only overlap there) is not checked
    short = labels.copy()
    short[160 : 300 - int(P.CARRIER_MIN_SECONDS / P.HOP) + 1] = -1
    assert P._carry_their_sides(sequential, np.array([0, 1]), short, overlap, 0, n, (0, 1))
    hidden = overlap.copy()
    hidden[160:] = True
    assert P._carry_their_sides(sequential, np.array([0, 1]), labels, hidden, 0, n, (0, 1))
    # the rule's level: an output 40 dB below the other passes where 50 dB is allowed
    monkeypatch.setattr(P, "HANDOVER_CARRIER_DB", -50.0)
    assert P._carry_their_sides(sequential, np.array([0, 1]), labels, overlap, 0, n, (0, 1))


@needs_espeak
def test_a_handover_whose_one_output_holds_both_people_in_turn_keeps_its_labels(
    encoder, handover, monkeypatch
):
    """A separator that hears one voice at a time leaves both people in one output, one after
    the other, and only a faint copy in the other: whatever the outputs' voices resemble, the
    run is not taken as two voices."""
    sources, mix, speech, _ = handover
    none = np.zeros_like(speech)
    found = P.find_people(mix, speech, none, encoder, SpeakerCount.parse("2"))
    runs = P.handovers(found.labels, speech, none)
    a, b, _, _ = runs[0]
    outputs = np.zeros_like(sources)
    outputs[0, a * HOP : b * HOP] = mix[a * HOP : b * HOP]
    outputs[1, a * HOP : b * HOP] = 0.01 * mix[a * HOP : b * HOP]
    monkeypatch.setattr(P, "HANDOVER_MARGIN", -2.0)  # the voices' similarity lets any run through
    monkeypatch.setattr(P, "TURN_TRIM_SECONDS", 0.0)  # the labels as they are, edges and all
    plan, _, separated = P.plan_people(mix, outputs, speech, none, encoder, found, runs)
    assert not separated.any()
    expected = np.where(found.labels[None, :] == np.arange(2)[:, None], MIXTURE, SILENT)
    np.testing.assert_array_equal(plan.source, expected)
    monkeypatch.setattr(P, "HANDOVER_CARRIER_DB", -1000.0)  # without the rule it would be taken
    plan, _, separated = P.plan_people(mix, outputs, speech, none, encoder, found, runs)
    assert separated[a:b].all()
