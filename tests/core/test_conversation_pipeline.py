"""Conversation mode end to end on espeak-ng voices with known turns: who talks when, one stem per
person, the separator only where people overlap; and what it does with one voice or none."""

from __future__ import annotations

import numpy as np
import pytest
from meeting_helpers import LINES

from helpers import DATA_DIR, espeak, needs_data, needs_espeak, si_sdr_reference
from separation_core.checkpoints.catalog import default_model_id, load_model
from separation_core.conversation.assembly import MIXTURE, SILENT, Plan
from separation_core.conversation.people import SpeakerCount
from separation_core.conversation.pipeline import (
    ConversationOptions,
    _people_notes,
    separate_conversation,
)
from separation_core.errors import CocktailError
from separation_core.evaluation.diarization import diarization_error_rate
from separation_core.io.rttm import Turn

SR = 16000


def _dialogue(voices=("en+m3", "en+f4"), overlap_at=(2, 5)):
    """Turns of ``voices`` in order, a pause between turns, and turn k in ``overlap_at`` starting
    1 s before the previous one ends: (sources [people, T], turns)."""
    parts = [espeak(line, voices[k % len(voices)], SR) for k, line in enumerate(LINES)]
    starts, t = [], 0.5
    for k, x in enumerate(parts):
        if k in overlap_at:
            t -= 1.0 + 0.6
        starts.append(t)
        t += len(x) / SR + 0.6
    n = int((t + 0.5) * SR)
    people = len(set(voices))
    sources = np.zeros((people, n), dtype=np.float32)
    turns = []
    for k, (x, s) in enumerate(zip(parts, starts)):
        who = voices.index(voices[k % len(voices)])
        a = int(s * SR)
        sources[who, a : a + len(x)] += x
        turns.append(Turn(who, s, s + len(x) / SR))
    return sources, turns


@pytest.fixture(scope="module")
def model():
    return load_model(default_model_id())


@needs_espeak
def test_two_people_get_a_stem_each_and_the_turns_are_found(model):
    sources, turns = _dialogue()
    mix = sources.sum(0)
    result = separate_conversation(model, mix, SR)
    assert result.waveforms.shape == sources.shape  # two people, the input's length
    assert result.people == ["Person 1", "Person 2"]
    order = [
        int(np.argmax([abs(np.corrcoef(s, r)[0, 1]) for s in result.waveforms])) for r in sources
    ]
    assert sorted(order) == [0, 1]
    for ref, k in zip(sources, order):
        gain = si_sdr_reference(result.waveforms[k], ref) - si_sdr_reference(mix, ref)
        assert gain > 6.0
    der = diarization_error_rate(turns, result.turns, collar=0.25)["der"]
    assert der < 0.25
    assert 0 < sum(b - a for a, b in result.separated_spans) < 0.5 * len(mix) / SR
    both = (result.plan_source >= 0).all(0)  # each takes a separated output: they add up to the mix
    inner = both & np.roll(both, 3) & np.roll(both, -3)  # away from the crossfades
    at = np.repeat(inner, int(result.plan_hop * SR))[: len(mix)]
    assert at.sum() > 0.1 * SR
    np.testing.assert_allclose(result.waveforms.sum(0)[at], mix[at], atol=1e-4)


class _HearsOneVoice:
    """A judge to whom every stretch sounds alike."""

    def embed_windows(self, wav, starts, length):
        return np.ones((len(starts), 256), np.float32) / 16.0

    def embed_segment(self, wav):
        return np.ones(256, np.float32) / 16.0


class _NotToBeAsked:
    def embed_windows(self, wav, starts, length):
        raise AssertionError("the judge was asked although the count was given")

    embed_segment = embed_windows


@needs_espeak
def test_the_judge_decides_whether_two_clusters_are_one_person():
    from separation_core.conversation import pipeline as P
    from separation_core.conversation.speakers import SpeakerEncoder

    mix = _dialogue()[0].sum(0)
    speech = P.speech_frames(mix)
    none = np.zeros_like(speech)
    voices = SpeakerEncoder.shared()
    assert P.find_people(mix, speech, none, voices, SpeakerCount()).n_people == 2
    assert P.find_people(mix, speech, none, voices, SpeakerCount(), _HearsOneVoice()).n_people == 1
    given = P.find_people(mix, speech, none, voices, SpeakerCount.parse("2"), _NotToBeAsked())
    assert given.n_people == 2


@needs_data
def test_one_voice_gives_one_stem_and_says_so(model):
    """One speechocean762 reader, eight sentences with pauses (real speech: espeak-ng's voices
    vary too much from sentence to sentence for a speaker encoder trained on people)."""
    import soundfile as sf

    from separation_core.io.audio_io import resample

    folder = sorted((DATA_DIR / "speech" / "speechocean762").iterdir())[0]
    parts = []
    for path in sorted(folder.glob("*.ogg"))[:8]:
        x, rate = sf.read(path, dtype="float32")
        parts += [resample(x, rate, SR), np.zeros(SR // 2, dtype=np.float32)]
    mix = np.concatenate(parts)
    result = separate_conversation(model, mix, SR)
    assert result.n_src == 1 and "one voice found: one stem" in result.notes
    assert si_sdr_reference(result.waveforms[0], mix) > 15.0  # the mixture, but for its pauses


def test_a_recording_without_speech_is_refused_in_one_line_or_left_to_the_model(model):
    rng = np.random.default_rng(0)
    tones = np.sin(2 * np.pi * 440 * np.arange(25 * SR) / SR).astype(np.float32) * 0.1
    tones += 0.01 * rng.standard_normal(len(tones)).astype(np.float32)
    with pytest.raises(CocktailError, match="no speech"):
        separate_conversation(model, tones, SR)
    auto = separate_conversation(
        model, tones, SR, ConversationOptions(model_outputs_without_speech=True)
    )
    assert auto.turns is None and auto.waveforms.shape == (2, len(tones))
    assert any("no speech found" in note for note in auto.notes)


@needs_espeak
def test_auto_mode_gives_one_stem_per_person_with_as_many_people_as_outputs(model):
    sources, _ = _dialogue()
    options = ConversationOptions(model_outputs_without_speech=True)
    result = separate_conversation(model, sources.sum(0), SR, options)
    assert result.turns is not None and result.waveforms.shape == sources.shape
    assert result.people == ["Person 1", "Person 2"]


@needs_espeak
def test_a_given_count_is_kept(model):
    sources, _ = _dialogue()
    options = ConversationOptions(speakers=SpeakerCount.parse("3"))
    assert separate_conversation(model, sources.sum(0), SR, options).n_src == 3


@needs_espeak
def test_a_two_second_recording_gets_stems_of_its_length_and_its_people(model):
    sources, _ = _dialogue()
    mix = sources.sum(0)[: 2 * SR]  # 1.5 s of the first voice
    result = separate_conversation(model, mix, SR)
    assert result.waveforms.shape == (result.n_src, len(mix)) and result.n_src == 1
    assert result.people == ["Person 1"] and len(result.turns) >= 1
    assert "one voice found: one stem" in result.notes


def test_people_who_talk_very_little_are_noted():
    """Three people, the third for 1 s of 61 s of speech: the count may be too high."""
    source = np.full((3, 6100), SILENT)
    source[0, :3000] = MIXTURE
    source[1, 3000:6000] = MIXTURE
    source[2, 6000:] = MIXTURE
    notes = _people_notes(Plan(source, 0.01))
    assert len(notes) == 1 and "Person 3 (1.0 s)" in notes[0] and "fewer people" in notes[0]
    source[2, 4000:6100] = MIXTURE  # now 21 s: no note
    assert _people_notes(Plan(source, 0.01)) == []
    assert _people_notes(Plan(source[:1], 0.01)) == ["one voice found: one stem"]


@pytest.mark.parametrize(
    "text, expected",
    [("auto", (1, 8, None)), ("3", (3, 3, 3)), ("2-4", (2, 4, None)), (" 2 - 5 ", (2, 5, None))],
)
def test_speaker_counts_parse(text, expected):
    c = SpeakerCount.parse(text)
    assert (c.low, c.high, c.exact) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("0", "1 to 8"),
        ("9", "1 to 8"),
        ("4-2", "minimum is above the maximum"),
        ("many", "give auto"),
    ],
)
def test_bad_speaker_counts_are_refused_in_one_line(text, message):
    with pytest.raises(CocktailError, match=message):
        SpeakerCount.parse(text)


@needs_espeak
def test_bench_scores_conversation_mode_on_a_set_with_true_turns(model, tmp_path, capsys):
    import json

    import soundfile as sf

    from separation_core.checkpoints.catalog import default_model_id
    from separation_core.cli import main
    from separation_core.data.mixing import FORMAT_NAME, FORMAT_VERSION

    sources, turns = _dialogue()
    files = {"mix": "mix/00000.wav", "sources": ["s1/00000.wav", "s2/00000.wav"], "noise": None}
    for rel, x in zip([files["mix"], *files["sources"]], [sources.sum(0), *sources]):
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        sf.write(tmp_path / rel, x, SR, subtype="FLOAT")
    entry = {
        "id": "00000",
        "files": files,
        "sources": [{"speaker": "m3"}, {"speaker": "f4"}],
        "turns": [{"speaker": t.speaker, "start": t.start, "end": t.end} for t in turns],
    }
    meta = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "sample_rate": SR}
    (tmp_path / "metadata.json").write_text(json.dumps(meta | {"mixtures": [entry]}))
    args = ["bench", "--models", default_model_id(), "--seconds", "1", "--long-minutes", "0"]
    assert main([*args, "--conversation-set", f"talk={tmp_path}", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["models"][default_model_id()]
    q = row["conversation_by_set"]["talk"]
    assert q["recordings"] == 1 and q["people"] == 2 and q["right_count"] == 1.0
    assert q["si_sdri"] > 6.0 and q["der"] < 0.25 and q["speed_x_realtime"] > 0
    assert main([*args, "--conversation-set", str(tmp_path)]) == 0
    assert "conversation mode: SI-SDRi per person" in capsys.readouterr().out
