"""Adapting a separator to one recording (issue 35): solo stretches clear of every overlap, the
training mixtures made from them, a fine-tuning that raises the held-out figure, the adapted model
kept as a user model with its card, and every bad input ending in a note and the stock stems."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import SMALL_CONVTASNET, espeak, needs_espeak, turn_taking
from separation_core.adaptation.budget import Budget
from separation_core.adaptation.examples import (
    LEVEL_DB,
    groups,
    solo_pool,
    training_batch,
    validation_examples,
)
from separation_core.adaptation.finetune import FineTuneSettings, fine_tune
from separation_core.adaptation.recording import (
    AdaptOptions,
    adapt_conversation,
    adapt_model,
    adapted_record,
    adapted_stems,
)
from separation_core.adaptation.saving import save_adapted, weights_sha256
from separation_core.adaptation.solo import (
    FRAME_SECONDS,
    frame_activity,
    overlap_spans,
    solo_speech,
    split_held_out,
)
from separation_core.cancel import CancelToken
from separation_core.checkpoints.cards import write_card
from separation_core.checkpoints.catalog import list_models, load_model
from separation_core.checkpoints.store import load_checkpoint
from separation_core.conversation.assembly import assemble
from separation_core.engine.inference import EngineOptions, fit_length, separate
from separation_core.errors import CocktailError
from separation_core.io.audio_io import resample
from separation_core.models.registry import get_model_class
from separation_core.models.result import SeparationResult

SR = 8000
SMALL = SMALL_CONVTASNET


def _conversation(seconds: float = 60.0, seed: int = 0):
    """(mixture [T], sources [2, T], turns) at SR: ``helpers.turn_taking``."""
    return turn_taking(seconds, SR, seed)


@pytest.fixture(scope="module")
def conversation():
    return _conversation()


@pytest.fixture(scope="module")
def small_model():
    torch.manual_seed(0)
    return get_model_class("convtasnet")(**SMALL).eval()


# -- solo stretches and examples ---------------------------------------------------------------


def test_solo_stretches_keep_clear_of_overlaps_and_their_margin(conversation):
    mix, sources, turns = conversation
    margin = 0.5
    solo = solo_speech(turns, 2, len(mix), SR, margin_seconds=margin, min_stretch_seconds=1.0)
    overlaps = overlap_spans(turns, 2, len(mix) / SR)
    assert overlaps, "the conversation has overlaps"
    forbidden = np.zeros(len(mix), dtype=bool)
    for a, b in overlaps:
        forbidden[max(0, int((a - margin) * SR)) : int((b + margin) * SR)] = True
    for p in range(2):
        spans = list(solo.train[p]) + list(solo.valid[p])
        assert spans
        own = np.zeros(len(mix), dtype=bool)  # their turns, to the frame (a frame a turn touches)
        frame = int(FRAME_SECONDS * SR)
        for t in turns:
            if t.speaker == p:
                own[int(t.start * SR) - frame : int(math.ceil(t.end * SR)) + frame] = True
        for a, b in spans:
            assert b - a >= 1.0 * SR - FRAME_SECONDS * SR
            assert not forbidden[a:b].any()
            assert own[a:b].all()
            assert not (sources[1 - p, a:b] != 0).any()  # not a sample of the other voice
        assert not set(solo.train[p]) & set(solo.valid[p])


def test_training_examples_never_hold_a_sample_of_an_overlap(conversation):
    mix, sources, turns = conversation
    marked = mix.copy()
    for a, b in overlap_spans(turns, 2, len(mix) / SR):  # the overlaps and their margin: 9.0
        marked[max(0, int((a - 0.5) * SR)) : int((b + 0.5) * SR)] = 9.0
    solo = solo_speech(turns, 2, len(mix), SR, margin_seconds=0.5)
    pools = [solo_pool(marked, spans, SR) for spans in solo.train]
    assert all(len(p) > 5 * SR and np.abs(p).max() < 1.0 for p in pools)
    rng = np.random.default_rng(0)
    for step in range(20):
        mixture, src = training_batch(pools, 2, 4, step, SR, rng)
        assert src.shape[:2] == (4, 2) and 2 * SR <= src.shape[-1] <= 4 * SR
        torch.testing.assert_close(mixture, src.sum(1))
        assert src.abs().max() < 9.0 * 10 ** (LEVEL_DB / 20) / 10  # no marked sample, any gain
    for src in (e.sources for e in validation_examples(pools, 2, SR, seed=0)):
        level = 10 * np.log10((src[1] ** 2).mean() / (src[0] ** 2).mean())
        assert abs(level) <= LEVEL_DB + 1e-3


def test_every_pair_of_people_takes_its_turn():
    assert groups(3, 2) == [(0, 1), (0, 2), (1, 2)]
    pools = [np.full(5 * SR, k + 1, dtype=np.float32) for k in range(3)]
    _, src = training_batch(pools, 2, 3, 0, SR, np.random.default_rng(0))
    assert src.shape[:2] == (3, 2)
    firsts = [float(src[i, 0, 0]) for i in range(3)]
    assert firsts == [1.0, 1.0, 2.0]  # groups (0, 1), (0, 2), (1, 2): the first person unscaled


def test_held_out_stretches_are_spread_and_whole():
    spans = [(i * 100, i * 100 + 50) for i in range(10)]
    train, valid = split_held_out(spans, 0.2)
    assert sorted(train + valid) == spans
    assert 1 <= len(valid) <= 3 and valid[0] != spans[0]
    assert split_held_out([(0, 10)], 0.2) == ([(0, 10)], [])


# -- budgets --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(seconds=0.0), "outside 0"),
        (dict(seconds=-5.0), "outside 0"),
        (dict(seconds=float("nan")), "a number of seconds"),
        (dict(seconds=1e9), "outside 0"),
        (dict(steps=0), "outside 1"),
        (dict(steps=10**7), "outside 1"),
        (dict(steps=2.5), "a number of steps"),
        (dict(), "either seconds or steps"),
        (dict(seconds=10.0, steps=5), "either seconds or steps"),
    ],
)
def test_bad_budgets_are_refused_in_one_line(kwargs, words):
    with pytest.raises(CocktailError) as err:
        Budget(**kwargs)
    assert words in str(err.value) and "\n" not in str(err.value)


# -- fine-tuning ----------------------------------------------------------------------------------


def _options(steps: int, **settings) -> AdaptOptions:
    return AdaptOptions(
        Budget(steps=steps),
        FineTuneSettings(**{"lr": 2e-3, "validations": 2, **settings}),
        device="cpu",
        min_solo_seconds=5.0,
    )


def test_a_few_steps_raise_the_held_out_figure_and_repeat_exactly(conversation, small_model):
    mix, _, turns = conversation
    before = weights_sha256(small_model)
    adapted, record, solo = adapt_model(small_model, mix, SR, turns, 2, _options(24))
    rep = record.report
    assert weights_sha256(small_model) == before  # the stock model is left as it was
    assert adapted is not None and record.adapted, record.note
    assert rep.steps == 24 and rep.valid_after > rep.valid_before + 0.5
    assert [h[0] for h in rep.history] == [0, 12, 24]
    assert rep.valid_after == max(h[2] for h in rep.history)
    again, record2, _ = adapt_model(small_model, mix, SR, turns, 2, _options(24))
    assert weights_sha256(again) == weights_sha256(adapted)
    assert [(s, v) for s, _, v in record2.report.history] == [(s, v) for s, _, v in rep.history]


def test_adapted_stems_follow_the_turns(conversation, small_model):
    mix, sources, turns = conversation
    adapted, record, solo = adapt_model(small_model, mix, SR, turns, 2, _options(4))
    stems, plan, separated = adapted_stems(adapted, mix, SR, turns, 2, solo, "cpu")
    assert stems.shape == (2, len(mix)) and stems.dtype == np.float32
    trip = resample(resample(mix, SR, 16000), 16000, SR)  # stems are assembled at 16 kHz
    for p in range(2):  # where one person talks alone their stem is the mixture, the other silent
        for a, b in solo.train[p]:
            mid = slice(a + SR // 10, b - SR // 10)
            np.testing.assert_allclose(stems[p, mid], trip[mid], atol=1e-4)
            assert np.abs(stems[1 - p, mid]).max() < 1e-4
    # the plan and signals it returns (what the studio corrects) make the same stems again
    again = assemble(resample(mix, SR, 16000), 16000, plan, separated=separated)
    again = fit_length(resample(again, 16000, SR), len(mix))
    np.testing.assert_allclose(again, stems, atol=1e-6)
    both = frame_activity(turns, 2, plan.source.shape[1]).sum(0) >= 2
    assert both.any() and (plan.source[:, both] == np.array([[0], [1]])).all()


# -- the adapted model as a model -----------------------------------------------------------------


def test_the_adapted_model_is_kept_listed_carded_and_separates(
    conversation, small_model, tmp_path, monkeypatch
):
    monkeypatch.setenv("COCKTAIL_MODELS_DIR", str(tmp_path))
    mix, _, turns = conversation
    options = _options(6)
    adapted, record, _ = adapt_model(small_model, mix, SR, turns, 2, options)
    facts = adapted_record(
        record,
        options,
        input_name="meeting.wav",
        input_sha256="ab" * 32,
        from_sha256=None,
        turns_from="true turns (test)",
        loss="PIT si-sdr",
    )
    training = {"steps": record.report.steps, "description": "adapted to meeting.wav"}
    path = save_adapted(adapted, facts, training, "small-adapted-meeting")
    again = save_adapted(adapted, facts, training, "small-adapted-meeting")
    assert path.name == "small-adapted-meeting.pt" and again.name == "small-adapted-meeting-2.pt"
    ckpt = load_checkpoint(path)
    assert ckpt["adapted"]["valid_after"] == record.report.valid_after
    entry = next(e for e in list_models() if e.id == "small-adapted-meeting")
    assert entry.origin == "user" and entry.trained
    card = path.with_suffix(".md").read_text()
    solo = record.solo_seconds
    for text in (
        "`convtasnet` adapted to the recording `meeting.wav`",
        "ab" * 32,
        f"Person 1: {solo[0]:.1f} s, Person 2: {solo[1]:.1f} s",
        f"| steps | 6 of batch 4, kept step {record.report.best_step} |",
        f"| held-out SI-SDRi before | {record.report.valid_before:.2f} dB |",
        f"| held-out SI-SDRi after | {record.report.valid_after:.2f} dB |",
    ):
        assert text in card
    assert write_card(path, out=tmp_path / "again.md").read_text() == card  # no bench needed
    loaded = load_model("small-adapted-meeting")
    assert weights_sha256(loaded) == weights_sha256(adapted)
    out = separate(loaded, mix[: 4 * SR], SR, EngineOptions(device="cpu", keep_masks=False))
    np.testing.assert_allclose(
        out.waveforms, separate(adapted, mix[: 4 * SR], SR, EngineOptions(device="cpu")).waveforms
    )


# -- bad inputs: a note and the stock stems -------------------------------------------------------


def _stock(mix, turns, n_people=2) -> SeparationResult:
    return SeparationResult(
        waveforms=np.stack([mix] * n_people),
        sample_rate=SR,
        model_name="stock",
        turns=turns,
        people=[f"Person {k + 1}" for k in range(n_people)],
    )


def test_one_person_leaves_the_stock_stems_with_a_note(conversation, small_model):
    mix, _, turns = conversation
    alone = [t for t in turns if t.speaker == 0]
    stock = _stock(mix, alone, 1)
    result, adapted, record = adapt_conversation(small_model, mix, SR, stock, _options(2))
    assert adapted is None and not record.adapted
    assert "one person only" in record.note and record.note in result.notes
    np.testing.assert_array_equal(result.waveforms, stock.waveforms)


def test_too_little_solo_speech_is_named(conversation, small_model):
    mix, _, turns = conversation
    short = [t for t in turns if t.speaker == 0] + [t for t in turns if t.speaker == 1][:2]
    options = AdaptOptions(Budget(steps=2), device="cpu")
    _, record, _ = adapt_model(small_model, mix, SR, short, 2, options)
    assert "too little solo speech (under 10 s) for Person 2" in record.note


@pytest.mark.parametrize("name", ["oracle-irm", "denoise-wiener"])
def test_a_model_that_cannot_be_trained_is_named(conversation, name):
    mix, _, turns = conversation
    model = load_model(name)
    _, record, _ = adapt_model(model, mix, SR, turns, 2, _options(2))
    assert "cannot be trained" in record.note and record.report is None


def test_a_stop_in_the_middle_leaves_the_stock_stems(conversation, small_model):
    mix, _, turns = conversation
    token = CancelToken()

    def progress(fraction, stage):
        if "step 2" in stage:
            token.cancel()

    result, adapted, record = adapt_conversation(
        small_model, mix, SR, _stock(mix, turns), _options(50), progress, token
    )
    assert adapted is None and record.note == "adaptation stopped: the stock model's stems"
    assert record.note in result.notes


def test_finish_keeps_the_best_copy_so_far(conversation, small_model):
    """The studio's Stop while fine-tuning: no more steps, the last one validated, the best copy
    so far kept and used for the stems (a cancel would give the stock stems)."""
    mix, _, turns = conversation
    finish = CancelToken()

    def progress(fraction, stage):
        if "step 14," in stage:
            finish.cancel()

    options = _options(200, validations=20)  # validated every 10 steps
    result, adapted, record = adapt_conversation(
        small_model, mix, SR, _stock(mix, turns), options, progress, finish=finish
    )
    rep = record.report
    assert rep.finished_early and rep.steps == 14
    assert [h[0] for h in rep.history] == [0, 10, 14]
    assert adapted is not None and record.adapted, record.note
    assert rep.valid_after == max(h[2] for h in rep.history) > rep.valid_before
    assert record.note.startswith("stopped after 14 steps") and record.note in result.notes
    assert result.model_name.endswith("(adapted)")


def test_running_out_of_memory_is_a_note(conversation, small_model, monkeypatch):
    import separation_core.adaptation.recording as rec

    def out_of_memory(*args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(rec, "fine_tune", out_of_memory)
    mix, _, turns = conversation
    _, record, _ = adapt_model(small_model, mix, SR, turns, 2, _options(2))
    assert record.note == "not adapted: out of memory while fine-tuning; the stock model's stems"


def test_fine_tune_refuses_too_few_people(small_model):
    pools = [np.ones(SR * 4, dtype=np.float32)]
    with pytest.raises(CocktailError, match="1 people to mix"):
        fine_tune(small_model, pools, pools, Budget(steps=1))


def test_fine_tuning_hands_freed_memory_back_every_few_steps(small_model, monkeypatch):
    """Crops of varying length fragment the heap; without this the resident size of the bundled
    model's fine-tuning kept growing (tests/benchmarks/bench_adaptation_memory.py)."""
    import separation_core.adaptation.finetune as ft

    stepped, returned = [], []
    real_batch = ft.training_batch
    monkeypatch.setattr(ft, "return_freed_memory", lambda: returned.append(len(stepped)))
    monkeypatch.setattr(
        ft, "training_batch", lambda *a, **k: stepped.append(1) or real_batch(*a, **k)
    )
    rng = np.random.default_rng(0)
    pools = [rng.standard_normal(SR * 8).astype(np.float32) * 0.1 for _ in range(2)]
    fine_tune(small_model, pools, pools, Budget(steps=12))
    every = ft.RETURN_MEMORY_EVERY_STEPS
    assert returned[:-1] == list(range(0, 12, every))  # before these steps' batches
    assert returned[-1] == 12  # and once the training is over


# -- the command line -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def meeting(tmp_path_factory):
    import soundfile as sf

    mix, _, _ = _conversation(30.0)
    path = tmp_path_factory.mktemp("meeting") / "meeting.wav"
    sf.write(path, mix, SR)
    return path


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--adapt", "0"], "must be above 0"),
        (["--adapt", "-5"], "must be above 0"),
        (["--adapt", "nan"], "expected a finite number"),
        (["--adapt", "1e9"], "must be at most 14400"),
        (["--adapt-steps", "0"], "must be at least 1"),
        (["--adapt-steps", "2.5"], "expected an integer"),
    ],
)
def test_bad_adapt_values_are_refused_in_one_line(meeting, tmp_path, capsys, extra, words):
    from separation_core.cli import main

    with pytest.raises(SystemExit) as code:
        main(["separate", str(meeting), "--out", str(tmp_path / "o"), *extra])
    assert code.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert words in err[-1]


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--adapt", "60", "--adapt-steps", "5"], "not both"),
        (["--keep-adapted"], "--keep-adapted needs --adapt"),
        (["--adapt", "60", "--mode", "model"], "not --mode model"),
        (["--adapt", "60", "--model", "denoise-wiener"], "--adapt needs conversation mode"),
    ],
)
def test_adapt_options_that_do_not_go_together(meeting, tmp_path, capsys, extra, words):
    from separation_core.cli import main

    assert main(["separate", str(meeting), "--out", str(tmp_path / "o"), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0]
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


LINES = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It is easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
]


def _espeak_talk(rate: int = 16000) -> np.ndarray:
    """Two espeak-ng voices taking 16 turns, four of them overlapping the one before: ``[T]``."""
    parts = [espeak(line, ("en+m3", "en+f4")[k % 2], rate) for k, line in enumerate(LINES)]
    n = sum(len(x) for x in parts) + rate * 12
    mix, t = np.zeros(n, dtype=np.float32), int(0.5 * rate)
    for k, x in enumerate(parts):
        if k in (3, 7, 11, 14):
            t -= int(1.0 * rate)
        mix[t : t + len(x)] += x
        t += len(x) + int(0.5 * rate)
    return mix[: t + rate]


@needs_espeak
def test_separate_adapt_writes_the_adaptation_in_the_sidecar(tmp_path, monkeypatch, capsys):
    import json

    import soundfile as sf

    from separation_core.cli import main

    monkeypatch.setenv("COCKTAIL_MODELS_DIR", str(tmp_path / "models"))
    path = tmp_path / "talk.wav"
    sf.write(path, _espeak_talk(), 16000)
    args = ["separate", str(path), "--out", str(tmp_path / "o"), "--quiet"]
    args += ["--model", "convtasnet-rooms-16k", "--mode", "conversation"]
    assert main([*args, "--adapt-steps", "2", "--keep-adapted"]) == 0
    err = capsys.readouterr().err
    assert "adapting convtasnet-rooms-16k to this recording: 2 steps of fine-tuning" in err
    sidecar = json.loads((tmp_path / "o" / "talk.json").read_text())
    adaptation = sidecar["adaptation"]
    assert sidecar["options"]["adapt"] == {"seconds": None, "steps": 2}
    assert adaptation["from_model"] == "convtasnet" and adaptation["note"] in sidecar["notes"]
    if adaptation["adapted"]:
        assert adaptation["steps"] == 2 and len(adaptation["weights_sha256"]) == 64
        kept = Path(adaptation["saved"])
        assert kept.parent == tmp_path / "models" and kept.with_suffix(".md").is_file()
        assert weights_sha256(load_model(str(kept))) == adaptation["weights_sha256"]
    else:
        assert "did not raise the held-out SI-SDRi" in adaptation["note"]


@needs_espeak
def test_a_conversation_result_is_separated_again_from_who_talks_when_it_found(
    small_model, monkeypatch
):
    """A result of conversation mode keeps who talks when (``found_talk``): the adapted copy
    takes over from there, without finding people again, and separates the same spans."""
    from separation_core.conversation import pipeline as P

    rate = 16000
    mix = _espeak_talk(rate)
    engine = EngineOptions(device="cpu", keep_masks=False)
    stock = P.separate_conversation(small_model, mix, rate, P.ConversationOptions(engine=engine))
    assert stock.n_src == 2 and stock.found_talk is not None

    def found_again(*args, **kwargs):
        raise AssertionError("who talks when was looked for again")

    monkeypatch.setattr(P, "speech_frames", found_again)
    monkeypatch.setattr(P, "find_people", found_again)
    result, adapted, record = adapt_conversation(small_model, mix, rate, stock, _options(4))
    assert adapted is not None and record.adapted, record.note
    assert result.found_talk is stock.found_talk and result.n_src == stock.n_src
    assert result.separator_reads == stock.separator_reads
    assert result.model_name == f"{stock.model_name} (adapted)" and record.note in result.notes
    assert result.waveforms.shape == stock.waveforms.shape
    read = np.zeros(len(mix), dtype=bool)
    for a, b in result.separator_reads:
        read[int(a * rate) : int(b * rate)] = True
    assert read.any()
    new, old = result.plan_outputs[:, read], stock.plan_outputs[:, read]  # the adapted outputs
    assert new.shape == old.shape and not np.allclose(new, old, atol=1e-3)
    apart = ~np.convolve(read, np.ones(rate // 10), mode="same").astype(bool)  # past the fades
    np.testing.assert_allclose(result.waveforms[:, apart], stock.waveforms[:, apart], atol=1e-5)


@needs_espeak
def test_who_talks_when_is_taken_over_on_the_same_recording_only(small_model):
    from separation_core.conversation import pipeline as P

    mix = _espeak_talk(16000)
    engine = EngineOptions(device="cpu", keep_masks=False)
    options = P.ConversationOptions(engine=engine)
    stock = P.separate_conversation(small_model, mix, 16000, options)
    with pytest.raises(ValueError, match="another recording"):
        P.separate_conversation(small_model, mix[:-1600], 16000, options, found=stock.found_talk)
