"""The trainer: dynamic mixing, the family's loss, validation, best/last checkpoints, exact resume,
learning-rate warm-up then cosine decay (or plateau halving, for older runs), gradient clipping,
CSV and TensorBoard logs with the run's CPU time, and DistributedDataParallel under torchrun (gloo
on CPU, NCCL on GPU; only rank 0 validates and writes).

Batch ``i`` of the run is items ``[i*B, (i+1)*B)`` of epoch ``i // steps_per_epoch`` of the dynamic
dataset, which is a pure function of (seed, epoch, index, rank): resuming at step ``i`` replays
exactly what an uninterrupted run would have seen.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import torch

from separation_core.cancel import CancelToken, check_cancel
from separation_core.checkpoints.store import load_checkpoint, model_from_checkpoint
from separation_core.errors import CocktailError
from separation_core.models.registry import get_model_class
from separation_core.training.batches import alternating_batches
from separation_core.training.clock import RunClock
from separation_core.training.config import TrainConfig, resumed_config
from separation_core.training.datasets import run_datasets, run_speakers
from separation_core.training.distributed import (
    Ranks,
    barrier,
    data_parallel,
    join_process_group,
    rank_device,
    world_size_agrees,
)
from separation_core.training.logs import LOG_FILES, RunLogs, truncate_log
from separation_core.training.objectives import family_loss
from separation_core.training.precision import effective_precision
from separation_core.training.saving import RunState, save_checkpoints
from separation_core.training.schedule import learning_rate, weight_average
from separation_core.training.summary import training_summary
from separation_core.training.validation import oracle_columns, oracle_metrics, validate_sets
from separation_core.training.warm_start import warm_started_model


@dataclass
class _Session:
    """This process's part of the run, from its start (or resume) to its end: the state that
    the updates change, and what validating, logging and saving them takes (rank 0's alone)."""

    state: RunState
    net: torch.nn.Module  # the model, or its DistributedDataParallel wrapper
    device: torch.device
    valids: list  # (suffix, items) of each validation set (empty sets off rank 0)
    oracles: dict  # the oracle IRM's metrics of each validation set, by suffix
    clock: RunClock
    logs: Optional[RunLogs] = None
    bar: Any = None  # tqdm's progress bar


class Trainer:
    def __init__(
        self,
        config: TrainConfig,
        *,
        resume: bool = False,
        cancel: Optional[CancelToken] = None,
        quiet: bool = False,
    ):
        self.cfg, self.resume, self.cancel, self.quiet = config, resume, cancel, quiet
        self.ranks = Ranks.from_environment()
        self.run_dir = Path(config.out)

    def run(self) -> dict:
        """Train to the planned step (or the time limit), validating every ``valid_every`` steps
        and saving then and every ``save_every_seconds``. -> {step, best_si_sdri, last, oracle_irm}."""
        s, trains = self._start()
        cfg, state = self.cfg, s.state
        total, valid_every = cfg.total_steps(), cfg.valid_every or cfg.steps_per_epoch
        state.model.train()
        batches = alternating_batches(
            trains, cfg.steps_per_epoch, cfg.batch_size, state.step, cfg.workers
        )
        s.clock.start_updates()
        while state.step < total:
            check_cancel(self.cancel)
            self._update(s, *next(batches))
            out_of_time = (
                cfg.max_minutes is not None and s.clock.session_seconds() > 60 * cfg.max_minutes
            )
            if world_size_agrees(out_of_time, self.ranks.world, s.device):
                total = state.step  # stop here: validate and save as at the planned end
            if state.step % valid_every == 0 or state.step == total:
                if self.ranks.is_main:
                    self._validate(s)
                barrier(self.ranks.world)
            elif self.ranks.is_main and s.clock.since_save() > cfg.save_every_seconds:
                self._save(s, improved=False)
        if s.bar is not None:
            s.bar.close()
        if s.logs is not None:
            s.logs.close()
        barrier(self.ranks.world)
        return {
            "step": state.step,
            "best_si_sdri": state.best,
            "last": state.metrics,
            "oracle_irm": state.oracle,
        }

    # -- setup -------------------------------------------------------------------------------
    def _start(self) -> tuple[_Session, list]:
        """Join the other ranks, build or resume the model, its data and its state, and (rank 0)
        open the logs. -> (the session, the training datasets)."""
        device = rank_device(self.cfg.device, self.ranks)
        join_process_group(self.ranks, device)
        if self.ranks.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        barrier(self.ranks.world)
        model, recorded = self._build()
        if recorded:  # a resumed run keeps its recorded configuration (see resumed_config)
            self.cfg = resumed_config(self.cfg, recorded["config"])
        cfg = self.cfg
        if cfg.schedule_steps is None:
            cfg.schedule_steps = cfg.total_steps()
        cfg.precision = effective_precision(cfg.precision, device.type)  # bf16 may fall back
        trains, valids = self._datasets(model)
        model.to(device)
        net = data_parallel(model, device, self.ranks.world)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        state = RunState(cfg, model, optimizer, weight_average(model, cfg.ema_decay, recorded))
        if recorded:
            state.restore(recorded)
            if self.ranks.is_main:
                for name in LOG_FILES:
                    truncate_log(self.run_dir / name, state.step)
        s = _Session(state, net, device, valids, {}, RunClock(state.seconds, state.cpu_seconds))
        if self.ranks.is_main:
            self._open_logs(s)
        return s, trains

    def _open_logs(self, s: _Session) -> None:
        """Rank 0: the logs, config.json, the oracle's metrics, the untrained baseline (a new
        run's valid.csv row at step 0) and the progress bar."""
        cfg, state = self.cfg, s.state
        s.logs = RunLogs(self.run_dir)
        (self.run_dir / "config.json").write_text(json.dumps(asdict(cfg), indent=2, default=list))
        s.oracles = oracle_metrics(self.run_dir, s.valids, state.model.sample_rate)
        state.oracle = s.oracles.get("", {})
        if state.step == 0:
            metrics, _ = validate_sets(state.scored, s.valids, str(s.device), self.cancel)
            row = {**metrics, **oracle_columns(s.oracles), "cpu_hours": 0.0}
            s.logs.scalars("valid", 0, row)
        if not self.quiet:
            from tqdm import tqdm

            s.bar = tqdm(
                total=cfg.total_steps(),
                initial=state.step,
                desc=f"train {state.model.name}",
                dynamic_ncols=True,
            )

    def _build(self):
        """The model to train and, on resume, last.pt's trainer state (else None)."""
        last = self.run_dir / "last.pt"
        recorded = None
        if self.resume:
            if not last.exists():
                raise CocktailError(
                    f"{last}: nothing to resume from (no last.pt in the run folder)"
                )
            ckpt = load_checkpoint(last)
            recorded = ckpt.get("trainer")
            if not recorded:
                raise CocktailError(f"{last}: holds no trainer state to resume from")
            model = model_from_checkpoint(ckpt)
        else:
            if last.exists():
                raise CocktailError(
                    f"{self.run_dir}: already holds a run (use --resume to continue it, "
                    "or another --out)"
                )
            torch.manual_seed(self.cfg.seed)
            if self.cfg.init:
                model = warm_started_model(
                    self.cfg.init, self.cfg.model, self.cfg.model_args, quiet=self.quiet
                )
            else:
                model = get_model_class(self.cfg.model)(**self.cfg.model_args)
        if not model.trainable:
            raise CocktailError(f"model '{model.name}' has no parameters to train")
        speakers = run_speakers(self.cfg, model)
        if speakers != model.n_src and not model.trains_on_any_speaker_count:
            raise CocktailError(
                f"--speakers {speakers}: a '{model.name}' model gives {model.n_src} sources "
                f"(give --model-arg n_src={speakers} to a new one); only deep clustering "
                "learns from any number of speakers"
            )
        alt = self.cfg.alt_speakers
        if alt is not None and not model.takes_num_speakers:
            raise CocktailError(
                f"--alt-speakers {alt}: a '{model.name}' model has a fixed number of outputs; "
                "only deep clustering and Chimera++ models learn from two numbers of speakers"
            )
        if alt is not None and alt == speakers:
            raise CocktailError(f"--alt-speakers {alt}: the run's mixtures already have {alt}")
        return model, recorded

    def _datasets(self, model):
        """The training datasets and validation sets of this run (see ``run_datasets``)."""
        return run_datasets(self.cfg, self.run_dir, model, self.ranks)

    # -- the loop ----------------------------------------------------------------------------
    def _update(self, s: _Session, mix: torch.Tensor, src: torch.Tensor) -> None:
        """One optimizer step on ``mix [B, T]``, ``src [B, S, T]``, logged by rank 0."""
        cfg, state = self.cfg, s.state
        epoch = state.step // cfg.steps_per_epoch
        scale = mix.std(dim=-1, keepdim=True).clamp_min(1e-5)  # as the inference engine does
        mix, src = (mix / scale).to(s.device), (src / scale.unsqueeze(1)).to(s.device)
        for group in state.optimizer.param_groups:
            group["lr"] = learning_rate(cfg, state.step, state.lr_factor)
        loss = family_loss(
            state.model,
            s.net,
            mix,
            src,
            time_loss=cfg.time_loss,
            chimera_alpha=cfg.chimera_alpha,
            mask_loss=cfg.mask_loss,
            dc_weighting=cfg.dc_weighting,
            attractor_weight=cfg.attractor_weight,
            attractor_kmeans_steps=cfg.attractor_kmeans_steps,
            precision=cfg.precision,
        )
        state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(state.model.parameters(), cfg.clip_norm)
        state.optimizer.step()
        if state.ema is not None:
            state.ema.update_parameters(state.model)
        state.step += 1
        if s.logs is not None:
            lr = state.optimizer.param_groups[0]["lr"]
            row = {"loss": loss.item(), "grad_norm": float(grad_norm), "lr": lr, "epoch": epoch}
            s.logs.scalars("train", state.step, row)
        if s.bar is not None:
            s.bar.update(1)
            s.bar.set_postfix(loss=f"{loss.item():.3f}")

    def _validate(self, s: _Session) -> None:
        """Validate the scored weights, log them, and save (best.pt too where they improved)."""
        state = s.state
        state.metrics, score = validate_sets(state.scored, s.valids, str(s.device), self.cancel)
        state.model.train()
        improved = state.record_score(score)
        cpu_hours = s.clock.cpu_seconds() / 3600
        s.logs.scalars(
            "valid",
            state.step,
            {**state.metrics, **oracle_columns(s.oracles), "cpu_hours": cpu_hours},
        )
        self._save(s, improved)

    def _save(self, s: _Session, improved: bool) -> None:
        """last.pt (and best.pt where ``improved``) of the state now, its time taken."""
        state = s.state
        state.seconds, state.cpu_seconds = s.clock.seconds(), s.clock.cpu_seconds()
        save_checkpoints(self.run_dir, state, training_summary(state, self.ranks.world), improved)
        s.clock.saved()
