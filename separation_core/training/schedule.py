"""The learning rate of each update (warm-up, then cosine decay or plateau halving) and the
exponential moving average of the weights."""

from __future__ import annotations

import math
from typing import Optional

import torch

from separation_core.training.config import TrainConfig


def learning_rate(cfg: TrainConfig, step: int, lr_factor: float = 1.0) -> float:
    """The rate of update ``step`` (0-based): linear warm-up, then the cosine decay from ``lr`` to
    ``lr * min_lr_ratio`` over the planned steps, or the plateau schedule's ``lr * lr_factor``."""
    warm = min(1.0, (step + 1) / max(cfg.warmup_steps, 1))
    if cfg.schedule == "plateau":
        return cfg.lr * lr_factor * warm
    total = max((cfg.schedule_steps or cfg.total_steps()) - cfg.warmup_steps, 1)
    progress = min(max(step - cfg.warmup_steps, 0) / total, 1.0)
    cosine = cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * 0.5 * (
        1.0 + math.cos(math.pi * progress)
    )
    return cfg.lr * warm * cosine


def weight_average(model: torch.nn.Module, decay: float, state: Optional[dict]):
    """The exponential moving average of ``model``'s weights (``decay`` per step; None at 0),
    restored from a resumed run's trainer ``state`` where it holds one, else started from the
    model's present weights."""
    if not decay:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))
    if state and "ema" in state:
        ema.module.load_state_dict(state["ema"])
        ema.n_averaged.fill_(int(state["ema_updates"]))
    return ema
