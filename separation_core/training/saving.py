"""A run's state from update to update, and the checkpoints it writes: ``best.pt`` (the validated
weights, when they improve) and ``last.pt`` (the trained weights with all it takes to resume)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import torch

from separation_core.checkpoints.store import checkpoint_dict, save_checkpoint_dict
from separation_core.training.config import TrainConfig


@dataclass
class RunState:
    """What a run carries from one update to the next, and what ``last.pt`` keeps of it.

    ``ema``: the moving average of the weights (None without one); ``best``: the best validation
    score so far; ``lr_factor`` and ``bad`` (validations since the last improvement): the plateau
    schedule's; ``seconds`` / ``cpu_seconds``: the run's time at the last save; ``metrics``: the
    last validation's; ``oracle``: the oracle IRM's on the run's validation set."""

    config: TrainConfig
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    ema: Optional[torch.nn.Module] = None
    step: int = 0
    best: float = -math.inf
    lr_factor: float = 1.0
    bad: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    metrics: dict = field(default_factory=dict)
    oracle: dict = field(default_factory=dict)

    @property
    def scored(self) -> torch.nn.Module:
        """The weights validated and kept in best.pt: the moving average where there is one."""
        return self.ema.module if self.ema is not None else self.model

    def record_score(self, score: float) -> bool:
        """Take a validation ``score``: True where it beats the best so far. Under the plateau
        schedule, ``plateau_patience`` validations without improvement halve the rate."""
        if score > self.best:
            self.best, self.bad = score, 0
            return True
        self.bad += 1
        if self.bad >= self.config.plateau_patience and self.config.schedule == "plateau":
            self.lr_factor, self.bad = self.lr_factor * 0.5, 0
        return False

    def trainer_dict(self) -> dict:
        """``last.pt``'s ``trainer`` entry: the state to resume from (the weights aside)."""
        state = {
            "step": self.step,
            "best": self.best,
            "lr_factor": self.lr_factor,
            "bad": self.bad,
            "seconds": self.seconds,
            "cpu_seconds": self.cpu_seconds,
            "optimizer": self.optimizer.state_dict(),
            "config": asdict(self.config),
        }
        if self.ema is not None:
            state["ema"] = self.ema.module.state_dict()
            state["ema_updates"] = int(self.ema.n_averaged)
        return state

    def restore(self, trainer: dict) -> None:
        """Go on from a ``trainer_dict`` (the moving average aside: ``weight_average`` takes it)."""
        self.optimizer.load_state_dict(trainer["optimizer"])
        self.step, self.best = int(trainer["step"]), float(trainer["best"])
        self.lr_factor, self.bad = float(trainer["lr_factor"]), int(trainer["bad"])
        self.seconds = float(trainer["seconds"])
        self.cpu_seconds = float(trainer.get("cpu_seconds", 0.0))


def save_checkpoints(run_dir: Path, state: RunState, summary: dict, improved: bool) -> None:
    """Write ``last.pt`` (the trained weights and ``state.trainer_dict()``), and ``best.pt`` (the
    scored weights, no trainer state) when the last validation ``improved``; both carry the
    ``summary`` as their ``training`` record and the last validation's metrics."""
    report = {f"valid_{k}": v for k, v in state.metrics.items()}
    report.update({f"valid_oracle_irm_{k}": v for k, v in state.oracle.items() if k != "mixtures"})
    report["step"] = state.step
    if improved:
        best = checkpoint_dict(state.scored, training=summary, metrics=report)
        save_checkpoint_dict(run_dir / "best.pt", best)
    last = checkpoint_dict(state.model, training=summary, metrics=report)
    last["trainer"] = state.trainer_dict()
    save_checkpoint_dict(run_dir / "last.pt", last)
