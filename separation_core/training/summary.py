"""The ``training`` record of a run's checkpoints: what was trained, on what data and hardware,
with which loss, and for how long (model cards and ``train_command`` read it)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from separation_core.engine.hardware import cpu_name
from separation_core.training.config import TrainConfig
from separation_core.training.datasets import run_speakers
from separation_core.training.objectives import loss_name, loss_options
from separation_core.training.saving import RunState


def training_summary(state: RunState, world: int) -> dict:
    """The record of ``state``'s run at its present step, trained by ``world`` processes."""
    cfg, model = state.config, state.model
    hardware = (
        torch.cuda.get_device_name(0)
        if torch.cuda.is_available() and cfg.device != "cpu"
        else f"{cpu_name()} CPU, {torch.get_num_threads()} threads"
    )
    return {
        "steps": state.step,
        "epochs": state.step / cfg.steps_per_epoch,
        "batch_size": cfg.batch_size,
        "segment_seconds": cfg.segment_seconds,
        "lr": cfg.lr,
        "loss": loss_name(
            model,
            time_loss=cfg.time_loss,
            mask_loss=cfg.mask_loss,
            attractor_weight=cfg.attractor_weight,
            attractor_kmeans_steps=cfg.attractor_kmeans_steps,
        ),
        "speech": [Path(d).name for d in cfg.speech_dirs],
        "loss_options": loss_options(model, cfg),
        "speakers": run_speakers(cfg, model),
        "alt_speakers": cfg.alt_speakers,
        "noise": [Path(d).name for d in cfg.noise_dirs],
        "split": "train (speaker-disjoint)",
        "seed": cfg.seed,
        "world_size": world,
        "hardware": hardware,
        "hours": state.seconds / 3600,
        "description": cfg.description,
        "initialised_from": Path(cfg.init).name if cfg.init else None,
        "ema_decay": cfg.ema_decay or None,
        "precision": cfg.precision,
        "speed_range": list(cfg.speed_range) if cfg.speed_range else None,
        "cpu_hours": state.cpu_seconds / 3600,
        "schedule": cfg.schedule,
        "noise_prob": cfg.noise_prob if cfg.noise_dirs else None,
        "snr_range": list(cfg.snr_range) if cfg.noise_dirs and cfg.snr_range else None,
        "reverb": reverb_summary(cfg),
    }


def reverb_summary(cfg: TrainConfig) -> Optional[dict]:
    """The rooms of the run's mixtures (None without reverberation)."""
    if not (cfg.rooms or cfg.rir_dirs):
        return None
    return {
        "prob": cfg.reverb_prob,
        "simulated_rooms": cfg.rooms,
        "rt60_range": list(cfg.rt60_range) if cfg.rooms else None,
        "measured_rooms": [Path(d).name for d in cfg.rir_dirs],
        "measured_prob": cfg.measured_prob if cfg.rir_dirs else None,
        "target": "reverberant image of each speaker",
    }
