"""The configuration of a training run (what ``cocktail train`` sets), and the one a resumed run
goes on with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class TrainConfig:
    model: str
    out: str
    speech_dirs: list = field(default_factory=list)
    noise_dirs: list = field(default_factory=list)
    model_args: dict = field(default_factory=dict)
    steps: Optional[int] = None
    epochs: Optional[int] = None
    steps_per_epoch: int = 500
    batch_size: int = 4
    segment_seconds: float = 4.0
    lr: float = 1e-3
    warmup_steps: int = 100
    plateau_patience: int = 3  # validations without improvement before the rate is halved
    clip_norm: float = 5.0
    seed: int = 0
    device: str = "auto"
    time_loss: str = "si_sdr"
    chimera_alpha: float = 0.5
    mask_loss: str = "psa"  # mask estimators and Chimera++: "psa" or "si_sdr"
    dc_weighting: str = "threshold"
    attractor_weight: float = 0.0  # deep clustering: share of the attractor loss beside the dc loss
    attractor_kmeans_steps: int = 0  # k-means steps from the oracle attractors before the masks
    sir_range: tuple = (-5.0, 5.0)
    snr_range: Optional[tuple] = None
    speed_range: Optional[tuple] = None  # speed perturbation factors (lo, hi) of the mixtures
    noise_prob: float = 1.0  # share of the mixtures that get noise (when noise_dirs are given)
    rir_dirs: list = field(default_factory=list)  # measured room responses (each folder one room)
    rooms: int = 0  # simulated rooms in the bank (0: none)
    reverb_prob: float = 1.0  # share of the mixtures made reverberant (when there are rooms)
    measured_prob: float = 0.3  # share of the reverberant ones that take a measured room
    rt60_range: tuple = (0.1, 0.8)
    schedule: str = "cosine"  # "cosine": warm-up then cosine decay over the planned steps;
    # "plateau": halve after plateau_patience validations (old runs)
    min_lr_ratio: float = 0.02  # the cosine schedule's final rate, as a share of lr
    schedule_steps: Optional[int] = None  # the cosine's horizon: the planned steps at the run's
    # start, kept on resume unless given again
    valid_num: int = 40
    max_minutes: Optional[float] = None  # stop (validated and saved) after this much wall time
    workers: int = 0  # processes drawing training mixtures (0: in the training loop)
    valid_every: Optional[int] = None  # steps; default: once per epoch
    save_every_seconds: float = 300.0
    rule: str = "auto"
    speakers: Optional[int] = None  # per mixture (None: the model's n_src); deep clustering: any
    alt_speakers: Optional[int] = None  # clustering models: every other batch and a second
    # validation set have this many speakers (Chimera++ trains its deep clustering head alone on them)
    description: str = ""
    init: Optional[str] = None  # start from this checkpoint's weights (fine-tuning), not at random
    precision: str = "fp32"  # "bf16": forward pass under bfloat16 autocast (1.8x per step on the AVX512-BF16 dev CPU)
    ema_decay: float = 0.0  # > 0: validate and keep an exponential moving average of the weights

    def total_steps(self) -> int:
        if self.steps is not None:
            return int(self.steps)
        return int(self.epochs or 1) * self.steps_per_epoch


def resumed_config(given: TrainConfig, recorded: dict) -> TrainConfig:
    """The configuration a resumed run goes on with: the ``recorded`` one (last.pt's), except the
    budget, output folder, device, precision, time limit and workers of ``given``, and the speed
    range, schedule horizon and weight average that ``given`` sets anew."""
    recorded = {"schedule": "plateau", **recorded}  # runs from before the cosine schedule
    cfg = TrainConfig(
        **{
            **recorded,
            "steps": given.steps,
            "epochs": given.epochs,
            "out": given.out,
            "device": given.device,
            "precision": given.precision,
            "speed_range": given.speed_range or recorded.get("speed_range"),
            "schedule_steps": given.schedule_steps or recorded.get("schedule_steps"),
            "max_minutes": given.max_minutes,
            "workers": given.workers,
            "ema_decay": given.ema_decay or recorded.get("ema_decay", 0.0),
        }
    )
    cfg.sir_range = tuple(cfg.sir_range)  # JSON and torch.save give lists back
    cfg.snr_range = tuple(cfg.snr_range) if cfg.snr_range else None
    cfg.speed_range = tuple(cfg.speed_range) if cfg.speed_range else None
    cfg.rt60_range = tuple(cfg.rt60_range)
    return cfg
