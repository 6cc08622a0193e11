"""The trainer's pieces alone: the run state and its checkpoints, the resumed configuration, the
run's clock and logs, the oracle cache, the ranks and the training record."""

import csv
import json
import math

import pytest
import torch

from separation_core.checkpoints.store import load_checkpoint
from separation_core.models import get_model_class
from separation_core.training import clock as clock_module
from separation_core.training import validation
from separation_core.training.clock import RunClock
from separation_core.training.config import TrainConfig, resumed_config
from separation_core.training.distributed import Ranks, barrier, data_parallel, world_size_agrees
from separation_core.training.logs import RunLogs
from separation_core.training.saving import RunState, save_checkpoints
from separation_core.training.schedule import learning_rate, weight_average
from separation_core.training.summary import reverb_summary, training_summary
from separation_core.training.validation import oracle_columns, oracle_metrics, valid_folder

TINY = dict(
    sample_rate=8000, n_filters=16, filter_length=16, bottleneck=8, hidden=16, skip=8, n_blocks=2
)


def _state(tmp_path, ema_decay=0.0, **kw) -> RunState:
    torch.manual_seed(0)
    cfg = TrainConfig(model="convtasnet", out=str(tmp_path), model_args=TINY, steps=10, **kw)
    model = get_model_class("convtasnet")(**TINY)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    return RunState(cfg, model, optimizer, weight_average(model, ema_decay, None))


def _train_once(state: RunState) -> None:
    loss = state.model(torch.randn(1, 800))["waveforms"].pow(2).mean()
    loss.backward()
    state.optimizer.step()
    if state.ema is not None:
        state.ema.update_parameters(state.model)
    state.step += 1


def test_a_score_improves_only_above_the_best_and_the_plateau_halves_the_rate(tmp_path):
    state = _state(tmp_path, schedule="plateau", plateau_patience=2)
    assert state.record_score(1.0) and state.best == 1.0
    assert not state.record_score(1.0)  # equal is no improvement
    assert (state.bad, state.lr_factor) == (1, 1.0)
    assert not state.record_score(0.5)
    assert (state.bad, state.lr_factor) == (0, 0.5)
    assert state.record_score(2.0) and (state.best, state.bad) == (2.0, 0)
    cosine = _state(tmp_path, plateau_patience=1)
    cosine.record_score(1.0)
    cosine.record_score(0.0)
    assert cosine.lr_factor == 1.0  # the cosine schedule never halves


def test_best_pt_is_written_only_when_improved_and_last_pt_holds_the_trainer_state(tmp_path):
    state = _state(tmp_path, ema_decay=0.5)
    state.metrics, state.oracle = {"si_sdri": 3.0, "mixtures": 2}, {"si_sdri": 9.0, "mixtures": 2}
    _train_once(state)
    save_checkpoints(tmp_path, state, {"steps": state.step}, improved=False)
    assert not (tmp_path / "best.pt").exists()
    last = load_checkpoint(tmp_path / "last.pt")
    assert last["training"] == {"steps": 1}
    assert last["metrics"] == {
        "valid_si_sdri": 3.0,
        "valid_mixtures": 2,
        "valid_oracle_irm_si_sdri": 9.0,
        "step": 1,
    }
    trainer = last["trainer"]
    assert set(trainer) == {
        "step", "best", "lr_factor", "bad", "seconds", "cpu_seconds", "optimizer", "config",
        "ema", "ema_updates",
    }  # fmt: skip
    assert trainer["config"]["model"] == "convtasnet" and trainer["ema_updates"] == 1
    _train_once(state)
    save_checkpoints(tmp_path, state, {"steps": state.step}, improved=True)
    best = load_checkpoint(tmp_path / "best.pt")
    assert "trainer" not in best and best["metrics"]["step"] == 2
    ema = state.ema.module.state_dict()
    assert all(torch.equal(best["state_dict"][k], ema[k].cpu()) for k in ema)  # the average
    weights = state.model.state_dict()
    last = load_checkpoint(tmp_path / "last.pt")
    assert all(torch.equal(last["state_dict"][k], weights[k]) for k in weights)  # the trained


def test_a_restored_state_goes_on_where_the_saved_one_stood(tmp_path):
    state = _state(tmp_path)
    _train_once(state)
    state.best, state.lr_factor, state.bad, state.seconds, state.cpu_seconds = 2.5, 0.5, 1, 7, 9
    saved = state.trainer_dict()
    again = _state(tmp_path)
    again.restore(saved)
    assert (again.step, again.best, again.lr_factor, again.bad) == (1, 2.5, 0.5, 1)
    assert (again.seconds, again.cpu_seconds) == (7.0, 9.0)
    moments = again.optimizer.state_dict()["state"][0]["exp_avg"]
    assert torch.equal(moments, state.optimizer.state_dict()["state"][0]["exp_avg"])
    del saved["cpu_seconds"]  # runs from before the CPU clock
    again.restore(saved)
    assert again.cpu_seconds == 0.0


def test_a_resumed_run_keeps_its_recorded_configuration_but_the_budget_and_hardware():
    from dataclasses import asdict

    recorded = asdict(TrainConfig(model="convtasnet", out="old", steps=100, lr=1e-3, seed=4))
    recorded.update(sir_range=[-3.0, 3.0], speed_range=[0.9, 1.1], schedule_steps=100)
    given = TrainConfig(
        model="dprnn", out="new", steps=200, lr=5.0, device="cpu", workers=2, ema_decay=0.9
    )
    cfg = resumed_config(given, recorded)
    assert (cfg.model, cfg.lr, cfg.seed) == ("convtasnet", 1e-3, 4)  # recorded
    assert (cfg.out, cfg.steps, cfg.device, cfg.workers) == ("new", 200, "cpu", 2)  # given
    assert cfg.ema_decay == 0.9 and cfg.schedule_steps == 100 and cfg.speed_range == (0.9, 1.1)
    assert cfg.sir_range == (-3.0, 3.0) and cfg.rt60_range == (0.1, 0.8)
    given.schedule_steps, given.speed_range = 300, (0.8, 1.2)
    assert resumed_config(given, recorded).schedule_steps == 300
    assert resumed_config(given, recorded).speed_range == (0.8, 1.2)
    del recorded["schedule"]  # a run from before the cosine schedule
    assert resumed_config(given, recorded).schedule == "plateau"


def test_the_cosine_horizon_defaults_to_the_planned_steps():
    cfg = TrainConfig(
        model="m", out="x", epochs=2, steps_per_epoch=50, lr=1.0, warmup_steps=10, min_lr_ratio=0
    )
    for step in (10, 32, 55, 99):
        expected = 0.5 * (1 + math.cos(math.pi * (step - 10) / (100 - 10)))
        assert learning_rate(cfg, step) == pytest.approx(expected)
    assert learning_rate(cfg, 4) == pytest.approx(0.5)  # warm-up: (step + 1) / warmup_steps


def test_the_clock_adds_this_session_to_the_earlier_ones(monkeypatch):
    now = {"wall": 100.0, "cpu": 50.0}
    monkeypatch.setattr(clock_module.time, "perf_counter", lambda: now["wall"])
    monkeypatch.setattr(clock_module.time, "process_time", lambda: now["cpu"])
    clock = RunClock(seconds=1000.0, cpu_seconds=2000.0)
    now["wall"], now["cpu"] = 130.0, 60.0  # the set-up: CPU time counts, wall time not
    clock.start_updates()
    now["wall"], now["cpu"] = 140.0, 65.0
    assert clock.session_seconds() == 10.0 and clock.seconds() == 1010.0
    assert clock.cpu_seconds() == 2015.0 and clock.since_save() == 10.0
    clock.saved()
    now["wall"] = 143.0
    assert clock.since_save() == 3.0 and clock.seconds() == 1013.0


def test_run_logs_write_one_header_and_a_row_per_call(tmp_path):
    logs = RunLogs(tmp_path)
    logs.scalars("train", 1, {"loss": 0.5, "lr": 1e-3})
    logs.scalars("train", 2, {"loss": float("nan"), "lr": 2e-3})  # not finite: CSV only
    logs.close()
    rows = list(csv.DictReader((tmp_path / "train.csv").open()))
    assert rows == [
        {"step": "1", "loss": "0.5", "lr": "0.001"},
        {"step": "2", "loss": "nan", "lr": "0.002"},
    ]


def test_the_oracle_metrics_are_computed_once_and_read_back(tmp_path, monkeypatch):
    calls = []

    def fake_reference(items, sample_rate):
        calls.append((len(items), sample_rate))
        return {"si_sdri": 10.0 + len(items), "mixtures": len(items)}

    monkeypatch.setattr(validation, "oracle_reference", fake_reference)
    valids = [("", [1, 2]), ("_3spk", [1, 2, 3])]
    first = oracle_metrics(tmp_path, valids, 8000)
    assert first == {
        "": {"si_sdri": 12.0, "mixtures": 2},
        "_3spk": {"si_sdri": 13.0, "mixtures": 3},
    }
    assert json.loads((tmp_path / "valid-3spk_oracle_irm.json").read_text())["si_sdri"] == 13.0
    assert oracle_metrics(tmp_path, valids, 8000) == first and len(calls) == 2
    assert oracle_columns(first) == {"oracle_irm_si_sdri": 12.0, "oracle_irm_si_sdri_3spk": 13.0}
    assert valid_folder(tmp_path, "_3spk") == tmp_path / "valid-3spk"


def test_ranks_come_from_torchrun_and_a_single_process_needs_no_group(monkeypatch):
    for name, value in (("RANK", "1"), ("WORLD_SIZE", "4"), ("LOCAL_RANK", "1")):
        monkeypatch.setenv(name, value)
    ranks = Ranks.from_environment()
    assert ranks == Ranks(rank=1, world=4, local=1) and not ranks.is_main
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name)
    assert Ranks.from_environment() == Ranks() and Ranks().is_main
    model = torch.nn.Linear(2, 2)
    assert data_parallel(model, torch.device("cpu"), 1) is model
    assert world_size_agrees(True, 1, "cpu") and not world_size_agrees(False, 1, "cpu")
    barrier(1)  # no process group: returns at once


def test_the_training_record_reads_the_state(tmp_path):
    state = _state(tmp_path, rooms=4, rir_dirs=["/x/hall"], speed_range=(0.9, 1.1))
    state.step, state.seconds, state.cpu_seconds = 250, 1800.0, 7200.0
    summary = training_summary(state, world=2)
    assert summary["steps"] == 250 and summary["epochs"] == 0.5
    assert (summary["hours"], summary["cpu_hours"]) == (0.5, 2.0)
    assert summary["world_size"] == 2 and summary["speakers"] == 2
    assert summary["loss"] == "PIT si-sdr" and summary["loss_options"] == {"loss": "si_sdr"}
    assert summary["speed_range"] == [0.9, 1.1] and summary["reverb"]["measured_rooms"] == ["hall"]
    assert reverb_summary(TrainConfig(model="m", out="x")) is None
