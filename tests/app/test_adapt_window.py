"""Issue 35, item 4: "Adapt to this recording" in the window. A synthetic two-person conversation
with known turns, a small trainable separator in the (temporary) user models folder; the run
options' tick and budget, a run that fine-tunes a few steps and shows the stock and the adapted
result side by side, the adapted model kept with its card and listed, Stop keeping the best copy
so far, and the inputs that give no adapted model (one person, a model that cannot be trained).

Who talks when comes from the known turns (the conversation pipeline stands in with them: voice
activity on synthetic voices is the pipeline's own tests' business); everything after it is real:
the fine-tuning, the overlaps separated again, the saving, the window."""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
import torch
from PySide6.QtCore import Qt

from conftest import open_mixture, run_models
from helpers import SMALL_CONVTASNET, turn_taking

SR = 16000
SECONDS = 50.0  # 18-20 s of solo speech each, over the 10 s an adaptation needs per person
MODEL = "tiny-convtasnet"
STEPS = 6  # the tests' budget: steps, not seconds (the same run twice, and quick)
SMALL = SMALL_CONVTASNET


def conversation(seconds: float = SECONDS, seed: int = 0, people: int = 2):
    """(mixture [T], sources [people, T], turns) at SR: ``helpers.turn_taking``."""
    return turn_taking(seconds, SR, seed, people)


def known_turns_pipeline(sources: np.ndarray, turns: list):
    """``separate_conversation`` with who talks when known: the plan takes the mixture where one
    person talks and their own voice where people overlap (an ideal separator)."""
    from separation_core.conversation.assembly import MIXTURE, SILENT, Plan, assemble
    from separation_core.conversation.turns import turns_from_activity
    from separation_core.models.result import SeparationResult

    hop = 0.01

    def separate_conversation(model, mixture, sample_rate, options, progress=None, cancel=None):
        people = sources.shape[0]
        source = np.full((people, int(np.ceil(len(mixture) / sample_rate / hop))), SILENT)
        for t in turns:
            source[t.speaker, int(t.start / hop) : int(np.ceil(t.end / hop))] = MIXTURE
        crowded = (source != SILENT).sum(0) >= 2
        for p in range(people):
            source[p, crowded & (source[p] == MIXTURE)] = p
        plan = Plan(source, hop)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], crowded.astype(np.int8), [0]])))
        return SeparationResult(
            waveforms=assemble(mixture, sample_rate, plan, separated=sources),
            sample_rate=sample_rate,
            model_name=model.name,
            turns=turns_from_activity(plan.active(), 1.0 / hop),
            people=[f"Person {k + 1}" for k in range(people)],
            separated_spans=[[a * hop, b * hop] for a, b in zip(edges[::2], edges[1::2])],
            plan_source=source,
            plan_hop=hop,
            plan_outputs=sources,
            plan_rate=sample_rate,
        )

    return separate_conversation


@pytest.fixture
def tiny_model(isolated_user_dirs):
    """A small Conv-TasNet (8 kHz) in the user models folder, as a checkpoint with its training
    learning rate (the adaptation's): listed when the window lists the models."""
    from separation_core.checkpoints.store import save_checkpoint
    from separation_core.models.registry import get_model_class

    torch.manual_seed(0)
    model = get_model_class("convtasnet")(**SMALL).eval()
    folder = isolated_user_dirs / "user-models"
    save_checkpoint(
        folder / f"{MODEL}.pt", model, training={"steps": 1, "lr": 2e-3, "description": "tiny"}
    )
    return model


def budget_in_steps(monkeypatch, steps: int) -> None:
    """The panel's tick, with a budget in steps instead of its seconds (as ``--adapt-steps``)."""
    from app.model_panel import ModelPanel

    panel_settings = ModelPanel.settings

    def settings(self):
        run = panel_settings(self)
        return replace(run, adapt_seconds=None, adapt_steps=steps) if run.adapts else run

    monkeypatch.setattr(ModelPanel, "settings", settings)


@pytest.fixture
def talk(qtbot, tiny_model, window, tmp_path, monkeypatch):
    """The window with the conversation open (talk.wav), the known turns standing in for the
    pipeline, Mode: Conversation and "Adapt to this recording" ticked (a budget of STEPS steps)."""
    return open_talk(qtbot, window, tmp_path, monkeypatch, people=2)


def open_talk(qtbot, w, tmp_path, monkeypatch, people: int, steps: int = STEPS):
    import separation_core.conversation.pipeline as pipeline

    mixture, sources, turns = conversation(people=people)
    path = tmp_path / "talk.wav"
    sf.write(path, mixture, SR, subtype="FLOAT")
    monkeypatch.setattr(pipeline, "separate_conversation", known_turns_pipeline(sources, turns))
    budget_in_steps(monkeypatch, steps)
    open_mixture(qtbot, w, path)
    w.panel.mode.setCurrentIndex(w.panel.mode.findData("conversation"))
    w.panel.device.setCurrentText("cpu")
    w.panel.adapt.setChecked(True)
    return w, path, mixture, sources, turns


def adapted_files(tmp_path) -> list:
    return sorted(p.name for p in (tmp_path / "user-models").glob(f"{MODEL}-adapted-*"))


def exported_sidecars(qtbot, w, out) -> dict:
    """Every result exported through the window's export dialog (sidecars ticked) -> model id ->
    its sidecar."""
    from app.export_dialog import ExportDialog

    dialog = ExportDialog(w)
    qtbot.addWidget(dialog)
    dialog.folder.setText(str(out))
    dialog.sidecar.setChecked(True)
    for i in range(dialog.results.count()):
        dialog.results.item(i).setCheckState(Qt.CheckState.Checked)
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(dialog.written) or bool(dialog.error), timeout=20000)
    assert not dialog.error, dialog.error
    sidecars = [json.loads(p.read_text()) for p in dialog.written if p.suffix == ".json"]
    return {sidecar["model"]["id"]: sidecar for sidecar in sidecars}


def cli_sidecar(path, out, model: str = MODEL, steps: int = STEPS) -> dict:
    """``cocktail separate --mode conversation --adapt-steps`` on ``path`` -> its sidecar."""
    from separation_core.cli import main

    args = ["separate", str(path), "--model", model, "--mode", "conversation"]
    args += ["--adapt-steps", str(steps), "--device", "cpu", "--out", str(out), "--quiet"]
    assert main(args) == 0
    return json.loads((out / f"{path.stem}.json").read_text())


def step_shown(w) -> int:
    """The fine-tuning step the status bar shows ("adapting: step 12, held-out ..."), else -1."""
    found = re.search(r"adapting: step (\d+), held-out -?\d+\.\d\d dB", w.stage_label.text())
    return int(found[1]) if found else -1


# -- the run options --------------------------------------------------------------------------------


def test_the_tick_and_budget_are_run_options_kept_between_runs(qtbot, window, tmp_path):
    from app.main_window import MainWindow
    from app.settings import Settings
    from separation_core.adaptation.budget import DEFAULT_SECONDS, MAX_SECONDS
    from separation_core.engine.inference import resolve_device

    panel = window.panel
    assert panel.adapt_budget.value() == DEFAULT_SECONDS == 180
    assert panel.settings().adapt_seconds is None and panel.settings().to_dict()["adapt"] is None
    panel.mode.setCurrentIndex(panel.mode.findData("auto"))
    assert panel.adapt.isEnabled() and not panel.adapt_budget.isEnabled()
    panel.adapt.setChecked(True)
    panel.adapt_budget.setValue(300)
    assert panel.adapt_budget.isEnabled() and panel.adapt_estimate.isVisible()
    where = "the CPU" if resolve_device("auto").type == "cpu" else "the GPU"
    assert panel.adapt_estimate.text().startswith(f"about 5 min 00 s of fine-tuning on {where}")
    assert panel.adapt_estimate.text().endswith(", then the overlaps again")
    panel.device.setCurrentText("cpu")
    assert "of fine-tuning on the CPU" in panel.adapt_estimate.text()
    run = panel.settings()
    assert run.adapt_seconds == 300.0 and run.to_dict()["adapt"] == {
        "seconds": 300.0,
        "steps": None,
    }
    # Model outputs: no adaptation, the tick and the budget greyed
    panel.mode.setCurrentIndex(panel.mode.findData("model"))
    assert not panel.adapt.isEnabled() and not panel.adapt_budget.isEnabled()
    assert panel.settings().adapt_seconds is None and not panel.adapt_estimate.isVisible()
    panel.mode.setCurrentIndex(panel.mode.findData("conversation"))
    assert panel.settings().adapt_seconds == 300.0
    # the budget stays in its range: 10 s to the core's most
    for typed, kept in ((0, 10), (-5, 10), (10**9, MAX_SECONDS)):
        panel.adapt_budget.setValue(typed)
        assert panel.settings().adapt_seconds == kept
    panel.adapt_budget.setValue(300)
    window.close()  # the run options are saved when the window closes
    again = MainWindow(Settings(), quiet=True)
    qtbot.addWidget(again)
    assert again.panel.adapt.isChecked() and again.panel.adapt_budget.value() == 300
    assert again.panel.settings().adapt_seconds == 300.0


@pytest.mark.parametrize(
    "saved, ticked, seconds",
    [
        ({"seconds": 240.0, "steps": None}, True, 240),
        ({"seconds": float("nan"), "steps": None}, False, 180),
        ({"seconds": -5, "steps": None}, False, 180),
        ({"seconds": "a lot"}, False, 180),
        ({"seconds": 1e12}, True, 14400),
        (None, False, 180),
    ],
)
def test_saved_budgets_are_read_back_or_left_out(qtbot, saved, ticked, seconds):
    from app.model_panel import ModelPanel

    panel = ModelPanel()
    qtbot.addWidget(panel)
    panel.set_settings({"mode": "conversation", "adapt": saved})
    assert panel.adapt.isChecked() == ticked and panel.adapt_budget.value() == seconds


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(adapt_seconds=0.0), "outside 0"),
        (dict(adapt_seconds=-5.0), "outside 0"),
        (dict(adapt_seconds=float("nan")), "a number of seconds"),
        (dict(adapt_seconds=1e9), "outside 0"),
        (dict(adapt_steps=0), "outside 1"),
        (dict(adapt_seconds=60.0, adapt_steps=5), "not both"),
    ],
)
def test_a_bad_budget_fails_the_run_in_one_line(
    qtbot, window, audio_files, monkeypatch, kwargs, words
):
    from app.model_panel import ModelPanel

    panel_settings = ModelPanel.settings
    monkeypatch.setattr(
        ModelPanel, "settings", lambda self: replace(panel_settings(self), **kwargs)
    )
    open_mixture(qtbot, window, audio_files[0])
    assert run_models(qtbot, window, ["ff-mask"]) is None
    assert len(window.errors) == 1 and words in window.errors[0]
    assert "\n" not in window.errors[0] and not window.session.results


def test_the_run_estimate_adds_the_budget(qtbot, window, tmp_path):
    from app.estimate_view import adapt_line

    path = tmp_path / "long.wav"
    sf.write(path, conversation(30.0)[0], SR, subtype="FLOAT")
    open_mixture(qtbot, window, path)
    panel = window.panel
    panel.mode.setCurrentIndex(panel.mode.findData("auto"))
    panel.device.setCurrentText("cpu")
    panel.adapt.setChecked(True)
    panel.adapt_budget.setValue(120)
    text = window.estimates.text()
    conversations = sum(e.conversation for e in window.estimates.estimates)
    assert conversations >= 1
    assert adapt_line(120, "cpu", conversations) in text
    assert "about 2 min 00 s of fine-tuning on the CPU, then the overlaps again" in text
    panel.adapt.setChecked(False)
    assert "adapting" not in window.estimates.text()
    assert adapt_line(60, "cpu", 0) == (
        "Adapt to this recording: conversation mode only, so not on this run."
    )


# -- a run from the window ----------------------------------------------------------------------


def test_adapting_shows_the_stock_and_the_adapted_result_and_keeps_the_model(qtbot, talk, tmp_path):
    from app.jobs.separation import ModelDone
    from app.meeting import Merge
    from separation_core.checkpoints.store import load_checkpoint

    w, path, mixture, sources, turns = talk
    outcomes = run_models(qtbot, w, [MODEL], timeout=180000)
    assert [type(o) for o in outcomes] == [ModelDone, ModelDone], outcomes
    stock, adapted = outcomes
    key = f"{MODEL}-adapted-talk"
    assert list(w.session.results) == [MODEL, key] and not w.errors
    assert adapted.adapted_from == MODEL and adapted.entry.id == key
    assert adapted.entry.origin == "user"
    # the adapted model is a user model with its card, listed beside the others (not ticked)
    assert adapted_files(tmp_path) == [f"{key}.md", f"{key}.pt"]
    assert adapted.entry.checkpoint == tmp_path / "user-models" / f"{key}.pt"
    card = (tmp_path / "user-models" / f"{key}.md").read_text()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert "`talk.wav`" in card and digest in card
    facts = load_checkpoint(adapted.entry.checkpoint)["adapted"]
    assert facts["input"] == "talk.wav" and facts["input_sha256"] == digest
    assert facts["steps"] == STEPS and facts["turns_from"].endswith("(Cocktail's window)")
    assert facts["valid_after"] > facts["valid_before"]
    assert key in w.panel.entries and key not in w.panel.checked_ids()
    assert not w.panel.item(key).isHidden()
    # the adapted result: its note, its stems (the mixture where one person talks alone)
    note = w.session.results[key].result.notes[-1]
    assert note.startswith(f"adapted in {STEPS} steps") and "held-out SI-SDRi" in note
    assert not any("adapted" in n for n in w.session.results[MODEL].result.notes)
    stems = w.session.results[key].result.waveforms
    assert stems.shape == (2, len(mixture))
    alone = solo_samples(turns, len(mixture))
    for p in range(2):
        np.testing.assert_allclose(stems[p, alone[p]], mixture[alone[p]], atol=1e-4)
        assert np.abs(stems[1 - p, alone[p]]).max() < 1e-4
    assert not np.allclose(stems, w.session.results[MODEL].result.waveforms, atol=1e-3)
    # its who talks when can be corrected like any conversation result: a merge sums the stems
    meeting = w.session.results[key].meeting
    assert meeting is not None
    before = meeting.stems()
    np.testing.assert_allclose(before, stems, atol=1e-4)
    meeting.apply(Merge(0, 1))
    np.testing.assert_array_equal(meeting.stems()[0], before[0] + before[1])
    meeting.undo()
    assert w.session.order(key) is not None and w.session.order(MODEL) is not None
    # side by side: the "Listen to" box, the A/B/X test, the status bar
    assert [w.result_combo.itemText(i) for i in range(w.result_combo.count())] == [MODEL, key]
    assert w.act_abx.isEnabled() or w.status.no_playback
    assert "Separated with 2 model(s)" in w.statusBar().currentMessage()

    # nothing overwritten: a second run keeps the first model and names the new one anew
    first = (tmp_path / "user-models" / f"{key}.pt").read_bytes()
    outcomes = run_models(qtbot, w, [MODEL], timeout=180000)
    assert [o.entry.id for o in outcomes] == [MODEL, f"{key}-2"]
    assert adapted_files(tmp_path) == [f"{key}-2.md", f"{key}-2.pt", f"{key}.md", f"{key}.pt"]
    assert (tmp_path / "user-models" / f"{key}.pt").read_bytes() == first
    assert list(w.session.results) == [key, MODEL, f"{key}-2"]
    assert f"{key}-2" in w.panel.entries


def test_the_exported_sidecar_records_the_adaptation_as_the_cli_does(qtbot, talk, tmp_path):
    from separation_core.adaptation.saving import weights_sha256
    from separation_core.checkpoints.catalog import load_model

    w, path, *_ = talk
    stock, adapted = run_models(qtbot, w, [MODEL], timeout=180000)
    sidecars = exported_sidecars(qtbot, w, tmp_path / "stems")
    key = f"{MODEL}-adapted-talk"
    assert set(sidecars) == {MODEL, key}
    record = sidecars[key]["adaptation"]
    assert record["adapted"] is True and record["from_model"] == "convtasnet"
    assert record["budget"] == f"{STEPS} steps" and record["steps"] == STEPS
    assert 0 <= record["best_step"] <= STEPS and len(record["history"]) >= 1
    assert record["valid_after_si_sdri"] > record["valid_before_si_sdri"]
    assert record["note"] == sidecars[key]["notes"][-1] == adapted.result.notes[-1]
    assert record["saved"] == str(adapted.entry.checkpoint)
    assert record["weights_sha256"] == weights_sha256(load_model(adapted.entry))
    assert sidecars[key]["model"]["checkpoint"] == record["saved"]
    # the stock result's stems were not adapted; its sidecar is that of a run without adaptation
    assert "adaptation" not in sidecars[MODEL]
    # the command line writes the same entry, with the same keys beside it
    cli = cli_sidecar(path, tmp_path / "cli")
    assert set(cli) == set(sidecars[key]) and set(cli["adaptation"]) == set(record)
    for name in ("from_model", "budget", "adapted", "steps", "solo_seconds"):
        assert cli["adaptation"][name] == record[name], name
    assert cli["adaptation"]["saved"] is None  # no --keep-adapted


def solo_samples(turns, n: int) -> list:
    """Per person, the samples well inside their turns where nobody else talks (bool [T])."""
    own = np.zeros((2, n), dtype=bool)
    for t in turns:
        own[t.speaker, int(t.start * SR) : int(t.end * SR)] = True
    alone = []
    for p in range(2):
        mask = own[p] & ~own[1 - p]
        runs = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
        inner = np.zeros(n, dtype=bool)
        for a, b in zip(runs[::2], runs[1::2]):
            inner[a + SR // 5 : b - SR // 5] = True  # clear of the assembly's fades
        alone.append(inner)
    return alone


def test_stop_while_adapting_keeps_the_best_copy_so_far(
    qtbot, tiny_model, window, tmp_path, monkeypatch
):
    w, *_ = open_talk(qtbot, window, tmp_path, monkeypatch, people=2, steps=2000)
    outcomes = []
    w.run_finished.connect(outcomes.append)
    w.separate([MODEL])
    qtbot.waitUntil(lambda: MODEL in w.session.results, timeout=60000)  # the stock result, at once
    qtbot.waitUntil(lambda: step_shown(w) >= 12, timeout=120000)
    w.stop()
    assert (
        w.statusBar().currentMessage() == "Stopping the adaptation: keeping the best copy so far…"
    )
    assert w.act_stop.isEnabled()  # the run goes on: the overlaps are separated with the copy
    qtbot.waitUntil(lambda: bool(outcomes), timeout=120000)
    assert outcomes[0] is not None and len(outcomes[0]) == 2
    key = f"{MODEL}-adapted-talk"
    note = w.session.results[key].result.notes[-1]
    steps = int(re.match(r"stopped after (\d+) steps", note)[1])
    assert 12 <= steps < 2000
    assert adapted_files(tmp_path) == [f"{key}.md", f"{key}.pt"] and not w.errors


def test_stop_while_adapting_says_which_models_were_not_run(
    qtbot, tiny_model, window, tmp_path, monkeypatch
):
    w, *_ = open_talk(qtbot, window, tmp_path, monkeypatch, people=2, steps=2000)
    outcomes = []
    w.run_finished.connect(outcomes.append)
    w.separate([MODEL, "ff-mask", "denoise-wiener"])
    qtbot.waitUntil(lambda: step_shown(w) >= 1, timeout=120000)
    w.stop()
    qtbot.waitUntil(lambda: bool(outcomes), timeout=120000)
    key = f"{MODEL}-adapted-talk"
    assert [o.entry.id for o in outcomes[0]] == [MODEL, key]
    assert list(w.session.results) == [MODEL, key] and not w.errors
    message = w.statusBar().currentMessage()
    assert message.startswith("Separated with 2 model(s)")
    assert message.endswith("; Stopped: ff-mask, denoise-wiener not run")


def test_stop_twice_cancels_and_the_stock_result_stays(
    qtbot, tiny_model, window, tmp_path, monkeypatch
):
    w, *_ = open_talk(qtbot, window, tmp_path, monkeypatch, people=2, steps=2000)
    outcomes = []
    w.run_finished.connect(outcomes.append)
    w.separate([MODEL])
    qtbot.waitUntil(lambda: step_shown(w) >= 1, timeout=120000)
    w.stop()
    w.stop()
    qtbot.waitUntil(lambda: bool(outcomes), timeout=60000)
    assert outcomes == [None] and list(w.session.results) == [MODEL]
    assert w.statusBar().currentMessage() == "Stopped"
    qtbot.waitUntil(lambda: not w.runner.running(), timeout=60000)
    assert adapted_files(tmp_path) == [] and not w.errors
    assert w.act_separate.isEnabled() and not w.act_stop.isEnabled()


# -- no adapted model: one line, the stock result ------------------------------------------------------


def test_one_person_gives_the_stock_result_with_the_reason(
    qtbot, tiny_model, window, tmp_path, monkeypatch
):
    w, *_ = open_talk(qtbot, window, tmp_path, monkeypatch, people=1)
    outcomes = run_models(qtbot, w, [MODEL], timeout=120000)
    assert len(outcomes) == 1 and list(w.session.results) == [MODEL]
    reason = (
        "not adapted: one person only: there is no one to mix them with; the stock model's stems"
    )
    assert outcomes[0].result.notes[-1] == reason
    assert w.session.results[MODEL].result.notes[-1] == reason
    assert reason in w.statusBar().currentMessage()
    assert reason in w.result_combo.itemData(0, Qt.ItemDataRole.ToolTipRole)  # "Listen to"
    assert adapted_files(tmp_path) == [] and not w.errors and w.act_separate.isEnabled()
    # the exported sidecar says why, as the command line's does (but for the time taken)
    sidecar = exported_sidecars(qtbot, w, tmp_path / "stems")[MODEL]
    record = sidecar["adaptation"]
    assert record["adapted"] is False and record["note"] == reason == sidecar["notes"][-1]
    assert record["steps"] == 0 and record["weights_sha256"] is None and record["saved"] is None
    assert outcomes[0].adaptation == record
    cli = cli_sidecar(w.session.path, tmp_path / "cli")
    assert {k: v for k, v in cli["adaptation"].items() if k != "seconds"} == {
        k: v for k, v in record.items() if k != "seconds"
    }


def test_a_model_that_cannot_be_trained_gives_the_stock_result(
    qtbot, tiny_model, window, tmp_path, monkeypatch
):
    from separation_core.checkpoints.onnx_export import export_onnx

    export_onnx(tiny_model, tmp_path / "user-models" / "tiny.onnx")
    w, *_ = open_talk(qtbot, window, tmp_path, monkeypatch, people=2)
    outcomes = run_models(qtbot, w, [str(tmp_path / "user-models" / "tiny.onnx")], timeout=120000)
    assert len(outcomes) == 1 and len(w.session.results) == 1
    note = outcomes[0].result.notes[-1]
    assert note.startswith("not adapted: model ") and "cannot be trained" in note
    assert not list((tmp_path / "user-models").glob("*adapted*")) and not w.errors
    assert outcomes[0].adaptation["adapted"] is False and outcomes[0].adaptation["note"] == note


def test_a_run_that_gives_no_conversation_says_so(
    qtbot, tiny_model, window, audio_files, monkeypatch
):
    """Auto on a recording under 20 s gives the model's outputs: nothing to adapt to."""
    from app.jobs.separation import NOT_CONVERSATION

    budget_in_steps(monkeypatch, STEPS)
    open_mixture(qtbot, window, audio_files[0])
    window.panel.mode.setCurrentIndex(window.panel.mode.findData("auto"))
    window.panel.adapt.setChecked(True)
    outcomes = run_models(qtbot, window, [MODEL])
    assert len(outcomes) == 1 and outcomes[0].result.notes[-1] == NOT_CONVERSATION
    assert outcomes[0].adaptation is None  # no attempt: the command line writes no entry either
    assert not window.errors and math.isfinite(outcomes[0].seconds)


def test_running_out_of_memory_gives_the_stock_result(qtbot, talk, tmp_path, monkeypatch):
    import separation_core.adaptation.recording as recording

    def out_of_memory(*args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(recording, "fine_tune", out_of_memory)
    w, *_ = talk
    outcomes = run_models(qtbot, w, [MODEL], timeout=120000)
    reason = "not adapted: out of memory while fine-tuning; the stock model's stems"
    assert len(outcomes) == 1 and outcomes[0].result.notes[-1] == reason
    assert list(w.session.results) == [MODEL] and reason in w.statusBar().currentMessage()
    assert adapted_files(tmp_path) == [] and not w.errors
    record = w.session.results[MODEL].adaptation
    assert record["adapted"] is False and record["note"] == reason and record["steps"] == 0
