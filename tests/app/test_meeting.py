"""The meeting model (app.meeting): corrections of who talks when on a synthetic three-person
meeting with known turns, the stems that follow, undo to the last sample, RTTM import."""

from __future__ import annotations

import numpy as np
import pytest
from meeting_helpers import HOP, SR, meeting_result, meeting_signals

from app.meeting import (
    CorrectionError,
    Meeting,
    Merge,
    Move,
    Nobody,
    Rename,
    ReplaceTurns,
    SplitAt,
    WhoTalks,
)
from separation_core.conversation.assembly import Plan, assemble
from separation_core.errors import CocktailError
from separation_core.io.rttm import Turn, read_rttm


def s(seconds: float) -> int:
    return int(round(seconds * SR))


@pytest.fixture
def meeting() -> Meeting:
    result, _, mixture = meeting_result()
    return Meeting.of_result(result, mixture)


def test_the_meeting_starts_from_the_engines_stems_and_turns(meeting):
    result, voices, mixture = meeting_result()
    np.testing.assert_array_equal(meeting.stems(), result.waveforms)
    assert meeting.plan.names == ("Person 1", "Person 2", "Person 3")
    assert [(t.speaker, t.start, t.end) for t in meeting.turns()] == [
        (0, 0.0, 3.0),
        (1, 2.5, 6.0),
        (2, 6.5, 9.0),
        (0, 9.5, 11.0),
    ]
    # an ideal separator: each stem is its person's voice, away from the crossfades
    inside = np.r_[s(0.1) : s(2.4), s(3.1) : s(5.9), s(6.6) : s(8.9)]
    np.testing.assert_allclose(meeting.stems()[:, inside], voices[:, inside], atol=1e-5)


def test_a_merge_yields_the_sum_of_the_two_stems(meeting):
    before = meeting.stems()
    change = meeting.apply(Merge(0, 2))
    after = meeting.stems()
    assert change.span is None and change.label == "merge Person 3 into Person 1"
    assert after.shape == (2, before.shape[1])
    np.testing.assert_array_equal(after[0], before[0] + before[2])
    np.testing.assert_array_equal(after[1], before[1])
    assert meeting.plan.names == ("Person 1", "Person 2")
    assert {(t.speaker, t.start, t.end) for t in meeting.turns()} >= {(0, 6.5, 9.0), (1, 2.5, 6.0)}


def test_merging_the_overlapping_people_adds_their_separated_outputs(meeting):
    before = meeting.stems()
    meeting.apply(Merge(1, 0))  # person 2 keeps; person 1 (who overlaps them) joins
    after = meeting.stems()
    np.testing.assert_array_equal(after[0], before[0] + before[1])
    assert meeting.plan.names == ("Person 2", "Person 3")


def test_a_moved_stretch_moves_its_audio(meeting):
    before = meeting.stems()
    change = meeting.apply(Move(2, 7.0, 8.0, to=0))
    after = meeting.stems()
    gained, lost = after[0] - before[0], before[2] - after[2]
    np.testing.assert_allclose(gained, lost, atol=1e-6)
    np.testing.assert_array_equal(after[1], before[1])
    inside = slice(s(7.05), s(7.95))
    np.testing.assert_allclose(after[0, inside], before[2, inside], atol=1e-6)
    assert np.abs(after[2, inside]).max() == 0.0
    a, b = change.span  # only the samples around the stretch were assembled again
    assert a > s(6.8) and b < s(8.2)
    np.testing.assert_array_equal(after[:, :a], before[:, :a] * [[1], [1], [1]])
    np.testing.assert_array_equal(after[:, b:], before[:, b:])


def test_a_stretch_moved_to_a_new_person_makes_their_stem(meeting):
    before = meeting.stems()
    meeting.apply(Move(1, 4.0, 5.0))
    after = meeting.stems()
    assert meeting.plan.names[-1] == "Person 4" and after.shape[0] == 4
    np.testing.assert_allclose(after[3] + after[1], before[1], atol=1e-6)
    assert np.abs(after[3, s(4.05) : s(4.95)]).max() > 0.01
    assert np.abs(after[1, s(4.05) : s(4.95)]).max() == 0.0


def test_an_overlap_moved_to_someone_talking_there_gets_a_row_of_its_own(meeting):
    """Person 1's separated output in the overlap goes to person 2, who talks there with the other
    output: person 2 then takes both (the mixture), and the stems still add up."""
    before = meeting.stems()
    meeting.apply(Move(0, 2.5, 3.0, to=1))
    after = meeting.stems()
    assert meeting.plan.rows.shape[0] == 4
    np.testing.assert_allclose(after.sum(0), before.sum(0), atol=1e-5)
    _, mixture, _, _ = meeting_signals()
    np.testing.assert_allclose(after[1, s(2.55) : s(2.95)], mixture[s(2.55) : s(2.95)], atol=1e-5)


def test_nobody_silences_the_stretch_in_that_persons_stem_only(meeting):
    before = meeting.stems()
    meeting.apply(Nobody(1, 4.0, 5.0))
    after = meeting.stems()
    # silent inside; the fades at its edges fall in the stretch (no speech is cut short)
    assert np.abs(after[1, s(4.03) : s(4.97)]).max() == 0.0
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[2], before[2])
    assert (1, 4.0, 5.0) not in {(t.speaker, t.start, t.end) for t in meeting.turns()}
    assert {(t.speaker, t.start, t.end) for t in meeting.turns() if t.speaker == 1} == {
        (1, 2.5, 4.0),
        (1, 5.0, 6.0),
    }


def test_a_split_at_a_time_gives_the_later_speech_to_a_new_person(meeting):
    before = meeting.stems()
    meeting.apply(SplitAt(0, 5.0))
    after = meeting.stems()
    assert meeting.plan.names == ("Person 1", "Person 2", "Person 3", "Person 4")
    np.testing.assert_allclose(after[3, s(9.5) : s(11.0)], before[0, s(9.5) : s(11.0)], atol=1e-6)
    np.testing.assert_array_equal(after[0, : s(4.0)], before[0, : s(4.0)])
    assert np.abs(after[0, s(9.0) :]).max() == 0.0


def test_the_stems_after_corrections_are_the_full_assembly_of_the_corrected_plan(meeting):
    meeting.apply(Move(1, 3.5, 4.5, to=2))
    meeting.apply(Nobody(0, 10.0, 10.5))
    meeting.apply(Merge(0, 2))
    plan = meeting.plan
    rows = assemble(meeting.mixture, SR, Plan(plan.rows, HOP), separated=meeting.outputs)
    np.testing.assert_allclose(meeting.row_stems, rows, atol=1e-6)


def test_undo_restores_to_the_last_sample_and_redo_makes_it_again(meeting):
    start = meeting.stems()
    plans = [meeting.plan]
    states = [start]
    for correction in (
        Move(2, 7.0, 8.0, to=0),
        SplitAt(1, 4.0),
        Merge(0, 1),
        Nobody(0, 1.0, 2.0),
        Rename(1, "Ada"),
        Move(0, 0.5, 1.0),
    ):
        meeting.apply(correction)
        plans.append(meeting.plan)
        states.append(meeting.stems())
    for k in range(len(states) - 2, -1, -1):
        assert meeting.undo() is not None
        np.testing.assert_array_equal(meeting.stems(), states[k])
        assert meeting.plan == plans[k] or np.array_equal(meeting.plan.rows, plans[k].rows)
    assert meeting.plan.names == ("Person 1", "Person 2", "Person 3")
    assert meeting.undo() is None  # past the start: nothing happens
    np.testing.assert_array_equal(meeting.stems(), start)
    for k in range(1, len(states)):
        assert meeting.redo() is not None
        np.testing.assert_array_equal(meeting.stems(), states[k])
    assert meeting.redo() is None


def test_a_new_correction_clears_what_could_be_redone(meeting):
    meeting.apply(Merge(0, 1))
    meeting.undo()
    meeting.apply(Nobody(2, 7.0, 8.0))
    assert not meeting.can_redo and meeting.corrections() == [
        {"correction": "nobody", "person": "Person 3", "start": 7.0, "end": 8.0}
    ]


@pytest.mark.parametrize(
    "correction, message",
    [
        (Merge(1, 1), "Person 2 cannot be merged with themselves"),
        (Move(0, 2.0, 2.0, to=1), "is empty"),
        (Move(0, 2.0, 2.004, to=1), "is empty"),
        (Nobody(2, 0.0, 5.0), "Person 3 does not talk between 0:00.0 and 0:05.0"),
        (Move(0, 1.0, 2.0, to=0), "already Person 1's"),
        (SplitAt(2, 10.0), "Person 3 says nothing after 0:10.0"),
        (SplitAt(1, 1.0), "says nothing before"),
        (Rename(0, "  "), "cannot be empty"),
        (Rename(0, "Person 2"), "another person is already called 'Person 2'"),
        (Merge(0, 7), "there is no person 8"),
    ],
)
def test_a_correction_that_cannot_be_made_says_why_and_changes_nothing(
    meeting, correction, message
):
    before, plan = meeting.stems(), meeting.plan
    with pytest.raises(CorrectionError, match=message):
        meeting.apply(correction)
    np.testing.assert_array_equal(meeting.stems(), before)
    assert meeting.plan is plan and not meeting.can_undo


def test_a_rename_changes_no_sample(meeting):
    before = meeting.stems()
    change = meeting.apply(Rename(2, "  Grace   Hopper "))
    assert change.span is None and meeting.plan.names[2] == "Grace Hopper"
    np.testing.assert_array_equal(meeting.stems(), before)


def test_turns_from_another_tool_assemble_the_stems_keeping_the_separated_overlap(meeting):
    """Imported turns with person 2 and 3 swapped in name order: the overlap still takes the
    separator's outputs of the people they match, and the rest the mixture."""
    turns = (
        Turn(1, 0.0, 3.0),
        Turn(0, 2.5, 6.0),
        Turn(2, 6.5, 9.0),
        Turn(1, 9.5, 11.0),
    )
    change = meeting.apply(ReplaceTurns(turns, ("bob", "alice", "carol"), "x.rttm"))
    assert change.label == "who talks when from x.rttm"
    assert meeting.plan.names == ("bob", "alice", "carol")
    voices, mixture, _, _ = meeting_signals()
    stems = meeting.stems()
    overlap = slice(s(2.55), s(2.95))
    np.testing.assert_allclose(stems[1, overlap], voices[0, overlap], atol=1e-5)  # alice = output 0
    np.testing.assert_allclose(stems[0, overlap], voices[1, overlap], atol=1e-5)
    np.testing.assert_allclose(stems[2, s(6.6) : s(8.9)], mixture[s(6.6) : s(8.9)], atol=1e-6)
    meeting.undo()
    np.testing.assert_array_equal(meeting.stems(), meeting_result()[0].waveforms)


def test_imported_overlaps_without_a_separated_output_take_the_mixture():
    _, mixture, _, source = meeting_signals()
    plan = WhoTalks.of_plan(np.where(source >= 0, -1, source), HOP, ())
    meeting = Meeting(mixture, SR, plan, outputs=None)
    meeting.apply(ReplaceTurns((Turn(0, 1.0, 4.0), Turn(1, 2.0, 5.0)), ("a", "b")))
    stems = meeting.stems()
    both = slice(s(2.1), s(3.9))
    np.testing.assert_allclose(stems[0, both], mixture[both], atol=1e-6)
    np.testing.assert_allclose(stems[1, both], mixture[both], atol=1e-6)


def _rttm(tmp_path, text: str):
    path = tmp_path / "turns.rttm"
    path.write_text(text)
    return path


def test_rttm_bad_inputs_read_as_one_line_or_are_mended(tmp_path):
    past_end = _rttm(
        tmp_path,
        "SPEAKER m 1 10.0 5.0 <NA> <NA> ann <NA> <NA>\n"
        "SPEAKER m 1 20.0 1.0 <NA> <NA> bob <NA> <NA>\n",
    )
    turns, names = read_rttm(past_end, duration=12.0)
    assert [(t.speaker, t.start, t.end) for t in turns] == [(0, 10.0, 12.0)]
    overlapping = _rttm(
        tmp_path,
        "SPKR-INFO m 1 <NA> <NA> <NA> unknown ann <NA> <NA>\n"
        "SPEAKER m 1 1.0 2.0 <NA> <NA> ann <NA> <NA> extra fields\n"
        "SPEAKER m 1 2.0 2.0 <NA> <NA> ann <NA> <NA>\n",
    )
    turns, names = read_rttm(overlapping, duration=12.0)
    assert [(t.speaker, t.start, t.end) for t in turns] == [(0, 1.0, 4.0)] and names == ["ann"]
    for text, message in (("", "holds no SPEAKER turn"), ("SPEAKER m 1 x 1\n", "line 1")):
        with pytest.raises(CocktailError, match=message):
            read_rttm(_rttm(tmp_path, text), duration=12.0)


def test_turns_that_all_fall_in_under_a_frame_are_refused(meeting):
    with pytest.raises(CorrectionError, match="shorter than a frame"):
        meeting.apply(ReplaceTurns((Turn(0, 1.0, 1.001),), ("a",), "x.rttm"))
    assert not meeting.can_undo


def test_the_masks_follow_the_corrections_and_their_undo(meeting):
    """Per person: the separator's mask where they take its output, 1 where they talk alone, 0
    where silent; a merge sums two people's masks, a move carries its frames, undo restores."""
    from meeting_helpers import span_masks

    result, _, _ = meeting_result()
    kept = span_masks(result.plan_outputs)
    start, grid = kept.starts[0], kept.stft

    def frame(seconds: float) -> int:
        return int(round(seconds * SR / grid.hop))

    first = meeting.result(result)
    masks = first.masks.astype(np.float32)
    assert first.stft == grid and masks.shape == (3, grid.n_freq, kept.n_frames)
    assert first.plan_masks is None and first.separator_reads == [[1.5, 4.0]]
    overlap = np.arange(frame(2.52), frame(2.98))
    for person in (0, 1):
        np.testing.assert_allclose(
            masks[person][:, overlap], kept.masks[0][person][:, overlap - start], atol=1e-3
        )
    np.testing.assert_array_equal(masks[0][:, frame(1.0)], 1.0)  # alone
    np.testing.assert_array_equal(masks[2][:, frame(1.0)], 0.0)  # silent
    meeting.apply(Merge(0, 1))
    merged = meeting.result(result).masks.astype(np.float32)
    assert merged.shape[0] == 2
    np.testing.assert_allclose(merged[0], masks[0] + masks[1], atol=2e-3)
    meeting.undo()
    meeting.apply(Move(2, 7.0, 8.0, to=0))
    moved = meeting.result(result).masks.astype(np.float32)
    np.testing.assert_array_equal(moved[0][:, frame(7.5)], 1.0)
    np.testing.assert_array_equal(moved[2][:, frame(7.5)], 0.0)
    meeting.undo()
    np.testing.assert_array_equal(meeting.result(result).masks, first.masks)


@pytest.fixture(scope="module")
def two_as_one():
    import shutil

    from meeting_helpers import two_voices_as_one

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")

    return two_voices_as_one()


def voice_frames(turns, voice: int, n_frames: int) -> np.ndarray:
    """The plan frames inside voice ``voice``'s lines, 5 frames clear of their edges."""
    out = np.zeros(n_frames, dtype=bool)
    for v, a, b in turns:
        if v == voice:
            out[int(round(a / HOP)) + 5 : int(round(b / HOP)) - 5] = True
    return out


def test_a_second_clustering_splits_two_voices_found_as_one(two_as_one):
    """Person 1 is voices A and B: clustered again, B's lines go to a new person, whose stem is B's
    voice; A's stay; undo restores every sample."""
    from app.meeting import SplitVoices
    from separation_core.conversation.pipeline import split_voices
    from separation_core.conversation.speakers import SpeakerEncoder

    result, voices, mixture, turns = two_as_one
    meeting = Meeting.of_result(result, mixture)
    before = meeting.stems()
    talks, solo = meeting.alone(0)
    labels = split_voices(mixture, talks, solo, SpeakerEncoder.shared())
    assert set(np.unique(labels[talks])) == {0, 1} and (labels[~talks] == -1).all()
    a_frames, b_frames = (voice_frames(turns, v, meeting.plan.n_frames) for v in (0, 1))
    assert (labels[a_frames] == 0).mean() > 0.9  # A talks first: the first voice
    assert (labels[b_frames] == 1).mean() > 0.9
    change = meeting.apply(SplitVoices(0, labels == 1))
    assert change.label.startswith("split Person 1 by voice (Person 3: ")
    after = meeting.stems()
    assert after.shape[0] == 3 and meeting.plan.names[-1] == "Person 3"
    np.testing.assert_allclose(after[0] + after[2], before[0], atol=1e-6)
    for v, a, b in turns:
        inside = slice(s(a + 0.05), s(b - 0.05))
        if v == 1:  # B's line: the new person's stem is B's voice, Person 1's is silent
            np.testing.assert_allclose(after[2, inside], voices[1, inside], atol=1e-5)
            assert np.abs(after[0, inside]).max() == 0.0
        elif v == 0:
            np.testing.assert_allclose(after[0, inside], voices[0, inside], atol=1e-5)
    meeting.undo()
    np.testing.assert_array_equal(meeting.stems(), before)


def test_a_split_by_voice_refuses_one_voice_and_too_little_speech(two_as_one):
    from app.meeting import SplitVoices
    from separation_core.conversation.pipeline import split_voices
    from separation_core.conversation.speakers import SpeakerEncoder

    result, _, mixture, _ = two_as_one
    meeting = Meeting.of_result(result, mixture)
    talks, solo = meeting.alone(1)
    with pytest.raises(CorrectionError, match="Person 2 sounds like one voice"):
        meeting.apply(SplitVoices(1, np.zeros_like(talks)))
    with pytest.raises(CorrectionError, match="Person 2 sounds like one voice"):
        meeting.apply(SplitVoices(1, talks))  # all of them: no split either
    # a second clustering of one voice finds one
    labels = split_voices(mixture, talks, solo, SpeakerEncoder.shared())
    assert (labels[talks] == 0).all()
    short = np.zeros_like(talks)
    short[np.flatnonzero(talks)[:100]] = True  # one second alone
    with pytest.raises(CocktailError, match="too little speech alone to tell two voices apart"):
        split_voices(mixture, short, short, SpeakerEncoder.shared())
    assert not meeting.done
