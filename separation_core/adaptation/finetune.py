"""Fine-tuning a copy of a separator on a recording's solo mixtures, for a budget of seconds or
steps, validated on held-out solo mixtures; the best validated weights are kept.

The pieces are the trainer's: the family's objective (``training.objectives.family_loss``) with the
loss options its checkpoint was trained with, Adam, gradient clipping, the warm-up of
``training.schedule.learning_rate`` (then a constant rate: a budget in seconds has no known end to
decay towards), and ``training.validation.validation_metrics`` through the inference engine.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np
import torch

from separation_core.adaptation.budget import Budget
from separation_core.adaptation.examples import training_batch, validation_examples
from separation_core.cancel import CancelToken, ProgressFn, check_cancel, report
from separation_core.engine.inference import resolve_device
from separation_core.engine.memory_check import return_freed_memory
from separation_core.engine.run_estimate import human_duration
from separation_core.errors import ModelError
from separation_core.evaluation.scoring import PRIMARY_METRIC
from separation_core.models.base import SeparationModel
from separation_core.training.config import TrainConfig
from separation_core.training.objectives import LossOptions, family_loss, objective_for
from separation_core.training.schedule import learning_rate
from separation_core.training.validation import validation_metrics

LR = 2e-4
WARMUP_STEPS = 5
BATCH_SIZE = 4
VALIDATIONS = 6  # per budget, besides the one before any step
VALID_SHARE_OF_TIME = 0.25  # a budget in seconds validates at most this share of its time
# Crops of varying length fragment the C allocator's heap: without handing freed memory back, the
# resident size of chimera-tcn-rooms-16k's fine-tuning kept growing (3.0 to 6.4 GB over 84 steps,
# 13 GB seen after more); every 5 steps it stays bounded, at 5-7 GB, for about 6% more time per
# step (every step: 3.2 GB, but 20% more time per step, so fewer steps in a budget in seconds).
RETURN_MEMORY_EVERY_STEPS = 5


@dataclass(frozen=True)
class FineTuneSettings:
    lr: float = LR  # ``settings_for`` takes the stock model's own
    batch_size: int = BATCH_SIZE
    warmup_steps: int = WARMUP_STEPS
    clip_norm: float = 5.0
    seed: int = 0
    validations: int = VALIDATIONS


@dataclass
class FineTuneReport:
    """What a fine-tuning did: ``steps`` taken in ``seconds`` (validation included) on ``device``;
    the held-out SI-SDRi (dB) of the stock weights (``valid_before``) and of the kept ones
    (``valid_after``, at ``best_step``; 0 keeps the stock weights); ``history``: one
    ``(step, seconds, SI-SDRi)`` per validation."""

    steps: int = 0
    seconds: float = 0.0
    device: str = "cpu"
    valid_before: float = math.nan
    valid_after: float = math.nan
    best_step: int = 0
    history: list = field(default_factory=list)
    finished_early: bool = False  # ``finish`` was set: the best copy so far was kept

    @property
    def improved(self) -> bool:
        return self.best_step > 0


def settings_for(stock_training: dict, **overrides) -> FineTuneSettings:
    """The settings for a model whose checkpoint records ``stock_training``: its own training
    learning rate (the rate it was trained at, a safe step size for its weights), else LR."""
    lr = stock_training.get("lr")
    lr = float(lr) if isinstance(lr, (int, float)) and 0 < lr < 1 else LR
    return FineTuneSettings(**{"lr": lr, **overrides})


def trainable_reason(model: SeparationModel) -> Optional[str]:
    """Why ``model`` cannot be fine-tuned (None when it can): no objective (classical, oracle),
    no parameters (an ONNX graph), or more outputs than people to mix."""
    if not model.trainable or not model.objective:
        return f"model '{model.name}' cannot be trained (an ONNX graph, classical or oracle model)"
    try:
        objective_for(model)
    except ModelError as e:
        return str(e)
    if not any(p.requires_grad for p in model.parameters()):
        return f"model '{model.name}' has no parameters to train"
    return None


def _known_loss_options(loss_options: dict) -> dict:
    return {k: v for k, v in loss_options.items() if k in LossOptions.__dataclass_fields__}


def loss_words(model: SeparationModel, loss_options: dict) -> str:
    """The loss the fine-tuning used, in words (for the card)."""
    return objective_for(model).describe(LossOptions(**_known_loss_options(loss_options)))


def adaptation_config(model: SeparationModel, loss_options: dict, settings: FineTuneSettings):
    """The TrainConfig that records the run (the card's and the schedule's): constant rate after
    the warm-up (the schedule without decay), the model's own loss options."""
    known = _known_loss_options(loss_options)
    return TrainConfig(
        model=model.name,
        out="",
        lr=settings.lr,
        batch_size=settings.batch_size,
        warmup_steps=settings.warmup_steps,
        clip_norm=settings.clip_norm,
        seed=settings.seed,
        schedule="plateau",
        segment_seconds=3.0,
        **known,
    )


def _score(model, examples, device: str, cancel) -> float:
    value = validation_metrics(model, examples, device, cancel)[PRIMARY_METRIC]
    model.train()
    return float(value)


def fine_tune(
    model: SeparationModel,
    train_pools: Sequence[np.ndarray],
    valid_pools: Sequence[np.ndarray],
    budget: Budget,
    *,
    loss_options: Optional[dict] = None,
    settings: FineTuneSettings = FineTuneSettings(),
    device: str = "auto",
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
    on_validation: Optional[Callable[[FineTuneReport, SeparationModel], None]] = None,
    finish: Optional[CancelToken] = None,
) -> tuple[SeparationModel, FineTuneReport]:
    """A fine-tuned copy of ``model`` (``model`` itself is left as it was) and its report.

    ``train_pools`` / ``valid_pools``: each person's solo audio at the model's rate (see
    ``examples.solo_pool``). The copy learns from mixtures of ``model.n_src`` people drawn from
    ``train_pools`` and is validated on fixed mixtures of ``valid_pools`` before the first step,
    ``settings.validations`` times over the budget and at its end; the best validated weights are
    returned (the stock weights where nothing beat them). Seeded by ``settings.seed``: a budget in
    steps gives the same weights twice on the same machine. ``on_validation(report, model)`` is
    called after each validation (the model holds the weights just validated). ``finish`` set:
    stop stepping, validate the last step and keep the best copy so far (the studio's Stop); a
    set ``cancel`` raises Cancelled instead."""
    reason = trainable_reason(model)
    if reason:
        raise ModelError(reason)
    size = model.n_src
    if len(train_pools) < size:
        raise ModelError(
            f"{len(train_pools)} people to mix, but '{model.name}' separates {size} voices"
        )
    t0 = time.perf_counter()
    run_device = resolve_device(device)
    cfg = adaptation_config(model, loss_options or {}, settings)
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng([settings.seed, 0])
    net = copy.deepcopy(model).to(run_device)
    net.train()
    valid = validation_examples(valid_pools, size, model.sample_rate, settings.seed)
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    rep = FineTuneReport(device=run_device.type)
    best_state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}

    def validate(step: int) -> None:
        score = _score(net, valid, str(run_device), cancel)
        rep.seconds = time.perf_counter() - t0
        rep.history.append((step, round(rep.seconds, 2), score))
        if step == 0:
            rep.valid_before = rep.valid_after = score
        elif score > rep.valid_after:
            rep.valid_after, rep.best_step = score, step
            best_state.update({k: v.detach().cpu().clone() for k, v in net.state_dict().items()})
        if on_validation is not None:
            on_validation(rep, net)

    report(progress, 0.0, "adapting: validating the stock model")
    validate(0)
    every_steps = max(1, math.ceil((budget.steps or 0) / settings.validations))
    valid_cost = rep.seconds  # one validation's time, reserved at the end of a seconds budget
    every_seconds = max(
        (budget.seconds or 0.0) / settings.validations, valid_cost / VALID_SHARE_OF_TIME
    )
    next_valid = every_seconds
    step = 0
    while True:
        check_cancel(cancel)
        if finish is not None and finish.cancelled:
            rep.finished_early = True
            break
        elapsed = time.perf_counter() - t0
        if budget.steps is not None and step >= budget.steps:
            break
        if budget.seconds is not None and elapsed + valid_cost >= budget.seconds:
            break
        if step % RETURN_MEMORY_EVERY_STEPS == 0:
            return_freed_memory()
        mix, src = training_batch(train_pools, size, cfg.batch_size, step, model.sample_rate, rng)
        scale = mix.std(dim=-1, keepdim=True).clamp_min(1e-5)  # as the trainer and the engine do
        mix, src = (mix / scale).to(run_device), (src / scale.unsqueeze(1)).to(run_device)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(cfg, step)
        loss = family_loss(net, net, mix, src, **asdict(LossOptions.of(cfg)))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.clip_norm)
        optimizer.step()
        step += 1
        rep.steps = step
        elapsed = time.perf_counter() - t0
        if budget.steps is not None:
            done = step / budget.steps
            due = step % every_steps == 0 or step == budget.steps
            left = elapsed / step * (budget.steps - step)
        else:
            done = min(1.0, elapsed / budget.seconds)
            due = elapsed >= next_valid
            left = max(0.0, budget.seconds - elapsed)
        report(
            progress,
            done,
            f"adapting: step {step}, held-out {rep.valid_after:.2f} dB, "
            f"≈ {human_duration(left)} left",
        )
        if due and step != (rep.history[-1][0] if rep.history else -1):
            t_valid = time.perf_counter()
            validate(step)
            valid_cost = time.perf_counter() - t_valid
            while next_valid <= time.perf_counter() - t0:
                next_valid += every_seconds or math.inf
    if rep.history[-1][0] != step:
        validate(step)
    rep.seconds = time.perf_counter() - t0
    net.load_state_dict(best_state)
    net.eval()
    return_freed_memory()  # the training's activations (GBs on a CPU) go back to the system
    return net.cpu(), rep
