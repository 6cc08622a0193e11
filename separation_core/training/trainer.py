"""The trainer: dynamic mixing, the family's loss, validation, best/last checkpoints, exact resume,
learning-rate warm-up then cosine decay (or plateau halving, for older runs), gradient clipping,
CSV and TensorBoard logs with the run's CPU time, and DistributedDataParallel under torchrun (gloo on CPU, NCCL on GPU; only rank 0 writes).

Batch ``i`` of the run is items ``[i*B, (i+1)*B)`` of epoch ``i // steps_per_epoch`` of the dynamic
dataset, which is a pure function of (seed, epoch, index, rank): resuming at step ``i`` replays
exactly what an uninterrupted run would have seen.
"""

from __future__ import annotations

import csv
import inspect
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from separation_core.cancel import CancelToken, check_cancel
from separation_core.checkpoints.store import (
    checkpoint_dict,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint_dict,
)
from separation_core.engine.hardware import cpu_name
from separation_core.engine.inference import EngineOptions, resolve_device, separate
from separation_core.errors import CocktailError
from separation_core.evaluation.metrics import PRIMARY_METRIC, evaluate_separation, metric_specs
from separation_core.models.base import (
    CLUSTERING_KINDS,
    KIND_CHIMERA,
    KIND_DEEP_CLUSTERING,
    KIND_MASK,
    KIND_TIME_DOMAIN,
    RunOptions,
)
from separation_core.models.registry import get_model_class
from separation_core.training.objectives import family_loss, loss_name
from separation_core.training.precision import effective_precision


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
    speed_range: Optional[tuple] = (
        None  # speed perturbation factors (lo, hi) for the training mixtures
    )
    noise_prob: float = 1.0  # share of the mixtures that get noise (when noise_dirs are given)
    rir_dirs: list = field(default_factory=list)  # measured room responses (each folder one room)
    rooms: int = 0  # simulated rooms in the bank (0: none)
    reverb_prob: float = 1.0  # share of the mixtures made reverberant (when there are rooms)
    measured_prob: float = 0.3  # share of the reverberant ones that take a measured room
    rt60_range: tuple = (0.1, 0.8)
    schedule: str = "cosine"  # "cosine": warm-up then cosine decay over the planned steps;
    # "plateau": halve after plateau_patience validations (old runs)
    min_lr_ratio: float = 0.02  # the cosine schedule's final rate, as a share of lr
    schedule_steps: Optional[int] = (
        None  # the cosine's horizon: the planned steps at the run's start,
    )
    # kept on resume unless given again
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


def truncate_log(path: Path, step: int) -> None:
    """Drop the rows of a CSV log written after ``step`` (a resumed run replays them)."""
    if not path.exists():
        return
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or all(float(r["step"]) <= step for r in rows):
        return
    kept = [r for r in rows if float(r["step"]) <= step]
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)
    os.replace(tmp, path)


def world_size_agrees(flag: bool, world: int, device) -> bool:
    """``flag`` of any rank, for all ranks (so that they stop together)."""
    if world <= 1:
        return flag
    import torch.distributed as dist

    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def _stack(items):
    return torch.stack([m for m, _ in items]), torch.stack([s for _, s in items])


def training_batches(train, steps_per_epoch: int, batch_size: int, step: int, workers: int = 0):
    """Batches ``(mixture [B, T], sources [B, S, T])`` from update ``step`` on: batch ``i`` is items
    ``[i*B, (i+1)*B)`` of epoch ``i // steps_per_epoch``, drawn inline or by ``workers`` processes
    (the same tensors either way: every item is a pure function of its epoch and index)."""
    from torch.utils.data import DataLoader

    while True:
        epoch, index = divmod(step, steps_per_epoch)
        train.set_epoch(epoch)
        sampler = [
            list(range(i * batch_size, (i + 1) * batch_size)) for i in range(index, steps_per_epoch)
        ]
        if workers > 0:
            yield from DataLoader(
                train, batch_sampler=sampler, num_workers=workers, collate_fn=_stack
            )
        else:
            for indices in sampler:
                yield _stack([train[i] for i in indices])
        step += len(sampler)


def alternating_batches(trains, steps_per_epoch: int, batch_size: int, step: int, workers: int = 0):
    """Batches from update ``step`` on, update ``s`` drawn from ``trains[s % len(trains)]`` (each
    dataset at its own place, so a resumed run draws the same batches as an unbroken one)."""
    n = len(trains)
    streams = [
        training_batches(train, steps_per_epoch, batch_size, (step - i + n - 1) // n, workers)
        for i, train in enumerate(trains)
    ]
    while True:
        yield next(streams[step % n])
        step += 1


def _write_csv_row(path: Path, row: dict) -> None:
    new = not path.exists()
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


class _Logs:
    """CSV files always; TensorBoard when it is installed (rank 0 only)."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(run_dir / "tensorboard"))
        except Exception:  # tensorboard is optional (the "train" extra)
            self.tb = None

    def scalars(self, name: str, step: int, values: dict) -> None:
        _write_csv_row(self.run_dir / f"{name}.csv", {"step": step, **values})
        if self.tb is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)) and math.isfinite(value):
                    self.tb.add_scalar(f"{name}/{key}", value, step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def _distributed() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", 1))
    rank = int(os.environ.get("RANK", 0))
    local = int(os.environ.get("LOCAL_RANK", 0))
    return rank, world, local


def _init_process_group(world: int, device: torch.device) -> None:
    import torch.distributed as dist

    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def _barrier(world: int) -> None:
    if world > 1:
        import torch.distributed as dist

        dist.barrier()


def validation_metrics(model, items, device: str, cancel: Optional[CancelToken] = None) -> dict:
    """Mean of each validation metric of the registry (SI-SDR, SI-SDRi, ...) of ``model`` over
    mixture-set items, through the inference engine."""
    names = tuple(m.name for m in metric_specs(validation=True))
    values: dict[str, list] = {n: [] for n in names}
    model.eval()
    clustering = model.kind in CLUSTERING_KINDS
    for item in items:
        check_cancel(cancel)
        run = RunOptions(num_speakers=item.sources.shape[0] if clustering else None)
        res = separate(
            model,
            item.mixture,
            item.sample_rate,
            EngineOptions(device=device, keep_masks=False, max_embedding_points=0, run=run),
            references=item.sources if model.needs_references else None,
        )
        ev = evaluate_separation(
            res.waveforms, item.sources, item.mixture, item.sample_rate, metrics=names
        )
        for n in names:
            values[n].append(ev.mean[n])
    return {n: float(np.mean(v)) for n, v in values.items()} | {"mixtures": len(items)}


def validate_sets(model, valids, device: str, cancel: Optional[CancelToken] = None):
    """``validation_metrics`` of every ``(suffix, items)`` set, each name carrying its set's suffix
    ("" for the run's speakers, "_3spk" for three), and the score that picks best.pt: the mean
    SI-SDRi over the sets. -> (metrics, score)."""
    metrics, scores = {}, []
    for suffix, items in valids:
        values = validation_metrics(model, items, device, cancel)
        metrics.update({f"{k}{suffix}": v for k, v in values.items()})
        scores.append(values[PRIMARY_METRIC])
    return metrics, float(np.mean(scores))


def valid_folder(run_dir: Path, suffix: str) -> Path:
    """The validation set of ``suffix``: ``valid`` or ``valid-3spk``."""
    return Path(run_dir) / f"valid{suffix.replace('_', '-')}"


def oracle_reference(items, sample_rate: int) -> dict:
    """The oracle IRM's SI-SDRi on the validation items: the ceiling to compare against."""
    oracle = get_model_class("oracle-irm")(sample_rate=sample_rate, n_src=items[0].sources.shape[0])
    return validation_metrics(oracle, items, "cpu")


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
        self.rank, self.world, self.local_rank = _distributed()
        self.run_dir = Path(config.out)
        self.is_main = self.rank == 0

    # -- setup -------------------------------------------------------------------------------
    def _device(self) -> torch.device:
        device = resolve_device(self.cfg.device)
        if device.type == "cuda" and self.world > 1:
            device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(device)
        return device

    def _build(self):
        last = self.run_dir / "last.pt"
        state = None
        if self.resume:
            if not last.exists():
                raise CocktailError(
                    f"{last}: nothing to resume from (no last.pt in the run folder)"
                )
            ckpt = load_checkpoint(last)
            state = ckpt.get("trainer")
            if not state:
                raise CocktailError(f"{last}: holds no trainer state to resume from")
            model = model_from_checkpoint(ckpt)
        else:
            if (self.run_dir / "last.pt").exists():
                raise CocktailError(
                    f"{self.run_dir}: already holds a run (use --resume to continue it, "
                    "or another --out)"
                )
            torch.manual_seed(self.cfg.seed)
            if self.cfg.init:
                model = self._initial_weights(self.cfg.init)
            else:
                model = get_model_class(self.cfg.model)(**self.cfg.model_args)
        if not model.trainable:
            raise CocktailError(f"model '{model.name}' has no parameters to train")
        speakers = self._speakers(model)
        if speakers != model.n_src and model.kind != KIND_DEEP_CLUSTERING:
            raise CocktailError(
                f"--speakers {speakers}: a '{model.name}' model gives {model.n_src} sources "
                f"(give --model-arg n_src={speakers} to a new one); only deep clustering "
                "learns from any number of speakers"
            )
        alt = self.cfg.alt_speakers
        if alt is not None and model.kind not in CLUSTERING_KINDS:
            raise CocktailError(
                f"--alt-speakers {alt}: a '{model.name}' model has a fixed number of outputs; "
                "only deep clustering and Chimera++ models learn from two numbers of speakers"
            )
        if alt is not None and alt == speakers:
            raise CocktailError(f"--alt-speakers {alt}: the run's mixtures already have {alt}")
        return model, state

    def _initial_weights(self, path: str):
        """The model to fine-tune from checkpoint ``path``.

        Same model: its architecture and weights. A model that contains the checkpoint's (e.g.
        ``chimera``, a ``dc-blstm`` plus a mask head, or a Conv-TasNet with more repeats through
        ``--model-arg``): the checkpoint's arguments that the new model takes, overridden by
        ``--model-arg``, all its tensors, and the new layers as ``init_new_layers`` sets them. A
        model of another family takes all but the layers its ``warm_start_drops`` name
        (``chimera-tcn`` from a ``convtasnet``: the trunk, not the decoder).
        """
        from separation_core.checkpoints.store import load_checkpoint

        ckpt = load_checkpoint(path)
        cls = get_model_class(self.cfg.model)
        same = ckpt["model_name"] == cls.name
        if same and not self.cfg.model_args:
            return model_from_checkpoint(ckpt)
        accepted = inspect.signature(cls.__init__).parameters
        args = {k: v for k, v in ckpt["model_args"].items() if k in accepted}
        model = cls(**{**args, **self.cfg.model_args})
        own = model.state_dict()
        shared = {
            k: v for k, v in ckpt["state_dict"].items() if k in own and own[k].shape == v.shape
        }
        drops = () if same else cls.warm_start_drops
        lacking = [k for k in ckpt["state_dict"] if k not in shared and not k.startswith(drops)]
        if lacking:
            new = (
                f"the '{cls.name}' that --model-arg asks for"
                if same
                else f"holds a '{ckpt['model_name']}' model, not '{cls.name}', and '{cls.name}'"
            )
            raise CocktailError(
                f"{path}: {new} has no place for its layer '{lacking[0]}' (a warm start may add "
                "layers, not resize them)"
            )
        model.load_state_dict(shared, strict=False)
        model.init_new_layers(set(shared))
        if not self.quiet:
            print(
                f"--init: {len(shared)} of {len(own)} tensors from a '{ckpt['model_name']}' "
                "model, the others new",
                file=sys.stderr,
            )
        return model

    def _reverb(self, sample_rate: int, *, fixed_set: bool):
        """The run's rooms: a cached bank of simulated rooms for training; for the validation set a
        fresh simulated room per mixture. Measured rooms are the same for both."""
        from separation_core.data.rooms import ReverbOptions, measured_rooms, simulated_bank

        cfg = self.cfg
        measured = tuple(measured_rooms(cfg.rir_dirs, sample_rate)) if cfg.rir_dirs else ()
        bank = ()
        if cfg.rooms > 0 and not fixed_set:
            bank = tuple(
                simulated_bank(
                    cfg.rooms,
                    sample_rate,
                    cfg.seed,
                    cfg.rt60_range,
                    cache_dir=self.run_dir / "rooms",
                )
            )
        return ReverbOptions(
            simulated=bank,
            measured=measured,
            prob=cfg.reverb_prob,
            measured_prob=cfg.measured_prob,
            simulate_each=fixed_set and cfg.rooms > 0,
            sample_rate=sample_rate,
            rt60_range=tuple(cfg.rt60_range),
        )

    def _speakers(self, model) -> int:
        return self.cfg.speakers or model.n_src

    def _speaker_counts(self, model) -> tuple[int, ...]:
        """Speakers per mixture: the run's, then ``alt_speakers`` (every other batch)."""
        first = self._speakers(model)
        return (first,) if self.cfg.alt_speakers is None else (first, self.cfg.alt_speakers)

    def _datasets(self, model):
        """The training datasets, one per speaker count, and the validation sets as
        ``(suffix, items)``: suffix "" for the run's speakers, "_3spk" for ``alt_speakers=3``."""
        rooms = (
            self._reverb(model.sample_rate, fixed_set=False),
            self._reverb(model.sample_rate, fixed_set=True),
        )
        trains, valids = [], []
        for i, speakers in enumerate(self._speaker_counts(model)):
            suffix = "" if i == 0 else f"_{speakers}spk"
            train, valid = self._datasets_of(model, speakers, suffix, rooms)
            trains.append(train)
            valids.append(valid)
        return trains, valids

    def _datasets_of(self, model, speakers: int, suffix: str, rooms: tuple):
        """The training dataset and validation set of ``speakers`` per mixture; ``rooms``: the
        reverberation options of training and of the validation set."""
        from separation_core.data.dynamic import DynamicMixDataset
        from separation_core.data.mixing import build_mixture_set, load_mixture_set

        cfg = self.cfg
        offset = 0 if not suffix else 1000 * speakers  # the alternate mixtures draw anew
        train = DynamicMixDataset(
            cfg.speech_dirs,
            split="train",
            speakers=speakers,
            sample_rate=model.sample_rate,
            segment_seconds=cfg.segment_seconds,
            sir_range=cfg.sir_range,
            noise_dirs=cfg.noise_dirs or None,
            snr_range=cfg.snr_range,
            speed_range=cfg.speed_range,
            noise_prob=cfg.noise_prob,
            reverb=rooms[0],
            epoch_size=cfg.steps_per_epoch * cfg.batch_size * self.world,
            seed=cfg.seed + offset,
            rank=self.rank,
            world_size=self.world,
            rule=cfg.rule,
        )
        valid_dir = valid_folder(self.run_dir, suffix)
        if self.is_main and not (valid_dir / "metadata.json").exists():
            build_mixture_set(
                cfg.speech_dirs,
                valid_dir,
                num=cfg.valid_num,
                speakers=speakers,
                mode="min",
                sir_range=cfg.sir_range,
                snr_range=cfg.snr_range,
                noise_dirs=cfg.noise_dirs or None,
                split="valid",
                seed=1000 + offset,  # not cfg.seed: runs of any seed validate alike
                sample_rate=model.sample_rate,
                rule=cfg.rule,
                overwrite=True,
                noise_prob=cfg.noise_prob,
                reverb=rooms[1],
                skip_unreadable=True,
            )
        _barrier(self.world)
        valid = load_mixture_set(valid_dir, sample_rate=model.sample_rate) if self.is_main else []
        return train, (suffix, valid)

    # -- the loop ----------------------------------------------------------------------------
    def run(self) -> dict:
        cfg = self.cfg
        device = self._device()
        _init_process_group(self.world, device)
        if device.type == "cpu" and self.world > 1:
            torch.set_num_threads(
                max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", self.world)))
            )
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        _barrier(self.world)
        model, state = self._build()
        if state:  # a resumed run keeps its recorded configuration, except budget, hardware, a new speed range or schedule horizon
            recorded = {
                "schedule": "plateau",
                **state["config"],
            }  # runs from before the cosine schedule
            saved = TrainConfig(
                **{
                    **recorded,
                    "steps": cfg.steps,
                    "epochs": cfg.epochs,
                    "out": cfg.out,
                    "device": cfg.device,
                    "precision": cfg.precision,
                    "speed_range": cfg.speed_range or recorded.get("speed_range"),
                    "schedule_steps": cfg.schedule_steps or recorded.get("schedule_steps"),
                    "max_minutes": cfg.max_minutes,
                    "workers": cfg.workers,
                    "ema_decay": cfg.ema_decay or recorded.get("ema_decay", 0.0),
                }
            )
            saved.sir_range = tuple(saved.sir_range)
            saved.snr_range = tuple(saved.snr_range) if saved.snr_range else None
            saved.speed_range = tuple(saved.speed_range) if saved.speed_range else None
            saved.rt60_range = tuple(saved.rt60_range)
            self.cfg = cfg = saved
        if cfg.schedule_steps is None:
            cfg.schedule_steps = cfg.total_steps()
        cfg.precision = effective_precision(
            cfg.precision, device.type
        )  # bf16 falls back where unsupported
        trains, valids = self._datasets(model)
        model.to(device)
        net = model
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            net = DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None
            )
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        ema = weight_average(model, cfg.ema_decay, state)
        scored = ema.module if ema is not None else model  # the weights validated and kept
        step, best, lr_factor, bad, elapsed0, cpu0 = 0, -math.inf, 1.0, 0, 0.0, 0.0
        if state:
            optimizer.load_state_dict(state["optimizer"])
            step, best = int(state["step"]), float(state["best"])
            lr_factor, bad, elapsed0 = (
                float(state["lr_factor"]),
                int(state["bad"]),
                float(state["seconds"]),
            )
            cpu0 = float(state.get("cpu_seconds", 0.0))
            if self.is_main:
                for name in ("train.csv", "valid.csv"):
                    truncate_log(self.run_dir / name, step)
        self._cpu0, self._cpu_start = cpu0, time.process_time()
        logs = _Logs(self.run_dir) if self.is_main else None
        if self.is_main:
            (self.run_dir / "config.json").write_text(
                json.dumps(asdict(cfg), indent=2, default=list)
            )
        oracles = self._oracles(valids, model) if self.is_main else {}
        oracle = oracles.get("", {})
        if self.is_main and step == 0:  # the untrained baseline, logged as step 0
            metrics, _ = validate_sets(scored, valids, str(device), self.cancel)
            logs.scalars("valid", 0, {**metrics, **self._oracle_columns(oracles), "cpu_hours": 0.0})
        total = cfg.total_steps()
        valid_every = cfg.valid_every or cfg.steps_per_epoch
        bar = None
        if self.is_main and not self.quiet:
            from tqdm import tqdm

            bar = tqdm(total=total, initial=step, desc=f"train {model.name}", dynamic_ncols=True)
        t_start, last_save = time.perf_counter(), time.perf_counter()
        metrics = {}

        def save(improved: bool) -> None:  # reads the loop's present step, best, metrics, ...
            nonlocal last_save
            seconds = elapsed0 + time.perf_counter() - t_start
            self._save(
                model,
                ema,
                optimizer,
                step,
                best,
                lr_factor,
                bad,
                seconds,
                metrics,
                oracle,
                improved,
            )
            last_save = time.perf_counter()

        model.train()
        batches = alternating_batches(
            trains, cfg.steps_per_epoch, cfg.batch_size, step, cfg.workers
        )
        while step < total:
            check_cancel(self.cancel)
            epoch = step // cfg.steps_per_epoch
            mix, src = next(batches)
            scale = mix.std(dim=-1, keepdim=True).clamp_min(1e-5)  # as the inference engine does
            mix, src = (mix / scale).to(device), (src / scale.unsqueeze(1)).to(device)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(cfg, step, lr_factor)
            loss = family_loss(
                model,
                net,
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
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_norm)
            optimizer.step()
            if ema is not None:
                ema.update_parameters(model)
            step += 1
            if self.is_main:
                logs.scalars(
                    "train",
                    step,
                    {
                        "loss": loss.item(),
                        "grad_norm": float(grad_norm),
                        "lr": optimizer.param_groups[0]["lr"],
                        "epoch": epoch,
                    },
                )
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss.item():.3f}")
            out_of_time = (
                cfg.max_minutes is not None and time.perf_counter() - t_start > 60 * cfg.max_minutes
            )
            if world_size_agrees(out_of_time, self.world, device):
                total = step  # stop here: validate and save as at the planned end
            finished = step == total
            if step % valid_every == 0 or finished:
                if self.is_main:
                    metrics, score = validate_sets(scored, valids, str(device), self.cancel)
                    model.train()
                    improved = score > best
                    if improved:
                        best, bad = score, 0
                    else:
                        bad += 1
                        if bad >= cfg.plateau_patience and cfg.schedule == "plateau":
                            lr_factor, bad = lr_factor * 0.5, 0
                    logs.scalars(
                        "valid",
                        step,
                        {
                            **metrics,
                            **self._oracle_columns(oracles),
                            "cpu_hours": self._cpu_seconds() / 3600,
                        },
                    )
                    save(improved)
                _barrier(self.world)
            elif self.is_main and time.perf_counter() - last_save > cfg.save_every_seconds:
                save(False)
        if bar is not None:
            bar.close()
        if logs is not None:
            logs.close()
        _barrier(self.world)
        return {"step": step, "best_si_sdri": best, "last": metrics, "oracle_irm": oracle}

    def _cpu_seconds(self) -> float:
        """CPU time of this process over the whole run (all threads, across resumes)."""
        return self._cpu0 + time.process_time() - self._cpu_start

    def _oracles(self, valids, model) -> dict:
        """The oracle IRM's metrics on each validation set, by suffix (cached in the run folder)."""
        result = {}
        for suffix, items in valids:
            folder = valid_folder(self.run_dir, suffix)
            path = folder.with_name(f"{folder.name}_oracle_irm.json")
            if not path.exists():
                path.write_text(json.dumps(oracle_reference(items, model.sample_rate), indent=2))
            result[suffix] = json.loads(path.read_text())
        return result

    @staticmethod
    def _oracle_columns(oracles: dict) -> dict:
        return {f"oracle_irm_si_sdri{k}": v.get("si_sdri") for k, v in oracles.items()}

    def _summary(self, model, step: int, seconds: float) -> dict:
        cfg = self.cfg
        hardware = (
            torch.cuda.get_device_name(0)
            if torch.cuda.is_available() and cfg.device != "cpu"
            else f"{cpu_name()} CPU, {torch.get_num_threads()} threads"
        )
        return {
            "steps": step,
            "epochs": step / cfg.steps_per_epoch,
            "batch_size": cfg.batch_size,
            "segment_seconds": cfg.segment_seconds,
            "lr": cfg.lr,
            "loss": loss_name(
                model,
                cfg.time_loss,
                cfg.mask_loss,
                cfg.attractor_weight,
                cfg.attractor_kmeans_steps,
            ),
            "speech": [Path(d).name for d in cfg.speech_dirs],
            "loss_options": self._loss_options(model),
            "speakers": self._speakers(model),
            "alt_speakers": cfg.alt_speakers,
            "noise": [Path(d).name for d in cfg.noise_dirs],
            "split": "train (speaker-disjoint)",
            "seed": cfg.seed,
            "world_size": self.world,
            "hardware": hardware,
            "hours": seconds / 3600,
            "description": cfg.description,
            "initialised_from": Path(cfg.init).name if cfg.init else None,
            "ema_decay": cfg.ema_decay or None,
            "precision": cfg.precision,
            "speed_range": list(cfg.speed_range) if cfg.speed_range else None,
            "cpu_hours": self._cpu_seconds() / 3600,
            "schedule": cfg.schedule,
            "noise_prob": cfg.noise_prob if cfg.noise_dirs else None,
            "snr_range": list(cfg.snr_range) if cfg.noise_dirs and cfg.snr_range else None,
            "reverb": self._reverb_summary(),
        }

    def _loss_options(self, model) -> dict:
        """The ``cocktail train`` loss options that shaped this model's loss (for its card)."""
        cfg = self.cfg
        if model.kind == KIND_TIME_DOMAIN:
            return {"loss": cfg.time_loss}
        options = {}
        if model.kind in (KIND_MASK, KIND_CHIMERA):
            options["mask_loss"] = cfg.mask_loss
        if model.kind in (KIND_DEEP_CLUSTERING, KIND_CHIMERA):
            options["dc_weighting"] = cfg.dc_weighting
            if cfg.attractor_weight > 0:
                options["attractor_weight"] = cfg.attractor_weight
                options["attractor_kmeans_steps"] = cfg.attractor_kmeans_steps
        if model.kind == KIND_CHIMERA:
            options["chimera_alpha"] = cfg.chimera_alpha
        return options

    def _reverb_summary(self) -> Optional[dict]:
        cfg = self.cfg
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

    def _save(
        self, model, ema, optimizer, step, best, lr_factor, bad, seconds, metrics, oracle, improved
    ):
        """best.pt: the validated weights (the moving average where there is one); last.pt: the
        trained weights, with the average and the optimizer to resume from."""
        summary = self._summary(model, step, seconds)
        report = {f"valid_{k}": v for k, v in metrics.items()}
        report.update({f"valid_oracle_irm_{k}": v for k, v in oracle.items() if k != "mixtures"})
        report["step"] = step
        if improved:
            kept = ema.module if ema is not None else model
            save_checkpoint_dict(
                self.run_dir / "best.pt", checkpoint_dict(kept, training=summary, metrics=report)
            )
        ckpt = checkpoint_dict(model, training=summary, metrics=report)
        ckpt["trainer"] = {
            "step": step,
            "best": best,
            "lr_factor": lr_factor,
            "bad": bad,
            "seconds": seconds,
            "cpu_seconds": self._cpu_seconds(),
            "optimizer": optimizer.state_dict(),
            "config": asdict(self.cfg),
        }
        if ema is not None:
            ckpt["trainer"]["ema"] = ema.module.state_dict()
            ckpt["trainer"]["ema_updates"] = int(ema.n_averaged)
        save_checkpoint_dict(self.run_dir / "last.pt", ckpt)
