"""``cocktail train``: train a registry model on folders of speech (also under torchrun)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from separation_core.commands.common import allow_negative_ranges, number_arg, range_arg
from separation_core.commands.room_args import add_room_arguments
from separation_core.errors import CocktailError


def _value(text: str):
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_model_args(pairs) -> dict:
    args = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CocktailError(f"--model-arg expects key=value, got '{pair}'")
        args[key.replace("-", "_")] = _value(value)
    return args


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model on folders of speech",
        description="Train with dynamic mixing on the train split of the speakers in "
        "--speech, validate on a fixed validation set of held-out speakers. "
        "Run under `torchrun --nproc_per_node=N -m separation_core.cli train "
        "...` for DistributedDataParallel.",
    )
    allow_negative_ranges(p)
    p.add_argument("--model", required=True, help="registry name (see `cocktail models`)")
    p.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--speech", action="append", required=True, type=Path, metavar="DIR")
    p.add_argument("--noise", action="append", default=[], type=Path, metavar="DIR")
    p.add_argument("--out", required=True, type=Path, metavar="RUN_DIR")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=number_arg(int, 1), default=None)
    budget.add_argument("--epochs", type=number_arg(int, 1), default=None)
    p.add_argument("--steps-per-epoch", type=number_arg(int, 1), default=500)
    p.add_argument("--batch-size", type=number_arg(int, 1), default=4)
    p.add_argument("--segment-seconds", type=number_arg(float, 0, above=True), default=4.0)
    p.add_argument("--lr", type=number_arg(float, 0, above=True), default=1e-3)
    p.add_argument("--warmup-steps", type=number_arg(int, 0), default=100)
    p.add_argument("--clip-norm", type=number_arg(float, 0, above=True), default=5.0)
    p.add_argument(
        "--loss",
        choices=("si_sdr", "sa_sdr"),
        default="si_sdr",
        help="time-domain models' loss (convtasnet, dprnn)",
    )
    p.add_argument(
        "--mask-loss",
        choices=("psa", "si_sdr"),
        default="psa",
        help="mask estimators' and Chimera++'s mask loss: phase-sensitive mask approximation, "
        "or PIT SI-SDR of the masked mixture after the inverse STFT",
    )
    p.add_argument("--chimera-alpha", type=number_arg(float, 0, 1), default=0.5)
    p.add_argument(
        "--dc-weighting",
        choices=("threshold", "magnitude"),
        default="threshold",
        help="deep clustering bin weights (dc-blstm, chimera)",
    )
    p.add_argument(
        "--attractor-weight",
        type=number_arg(float, 0, 1),
        default=0.0,
        help="share W of the attractor loss in the deep clustering term, (1-W) dc + W attractor: "
        "the SI-SDR of the soft masks around each speaker's mean embedding",
    )
    p.add_argument(
        "--attractor-kmeans-steps",
        type=number_arg(int, 0, 100),
        default=0,
        help="k-means steps that the attractors take before the attractor loss's masks",
    )
    p.add_argument(
        "--ema-decay",
        type=number_arg(float, 0, 0.99999),
        default=0.0,
        metavar="D",
        help="validate and keep (best.pt) an exponential moving average of the weights, D per "
        "step (e.g. 0.999; 0: the weights themselves); may be added on --resume",
    )
    p.add_argument("--sir-range", type=range_arg, default=(-5.0, 5.0), metavar="LO,HI")
    p.add_argument("--snr-range", type=range_arg, default=None, metavar="LO,HI")
    p.add_argument(
        "--speed-range",
        type=range_arg,
        default=None,
        metavar="LO,HI",
        help="speed perturbation: each training source is played at a random speed factor in "
        "[LO, HI] (tempo and pitch, by resampling), e.g. 0.9,1.1; may be added on --resume",
    )
    add_room_arguments(p, bank=True)
    p.add_argument(
        "--schedule",
        choices=("cosine", "plateau"),
        default="cosine",
        help="cosine: warm-up, then cosine decay to lr x --min-lr-ratio over the planned steps "
        "(default); plateau: halve after 3 validations without a new best",
    )
    p.add_argument(
        "--min-lr-ratio",
        type=number_arg(float, 0, 1),
        default=0.02,
        metavar="R",
        help="the cosine schedule's final learning rate as a share of --lr (default 0.02)",
    )
    p.add_argument(
        "--schedule-steps",
        type=int,
        default=None,
        metavar="N",
        help="the cosine schedule's horizon (default: --steps at the run's start; kept on "
        "--resume unless given again, e.g. to extend a run)",
    )
    p.add_argument(
        "--rule",
        choices=("auto", "librispeech", "vctk", "digits", "folder"),
        default="auto",
        help="how file names give the speaker (folder: one folder per speaker)",
    )
    p.add_argument(
        "--speakers",
        type=number_arg(int, 2, 8),
        default=None,
        metavar="N",
        help="speakers in each training and validation mixture (default: the model's outputs); "
        "a deep clustering model learns from any number, e.g. 3 for K=3",
    )
    p.add_argument(
        "--alt-speakers",
        type=number_arg(int, 2, 8),
        default=None,
        metavar="N",
        help="deep clustering and Chimera++: every other training batch has N speakers, and a "
        "second validation set too (best.pt: the mean SI-SDRi of both); Chimera++ trains only its "
        "deep clustering head on them, e.g. 3 for K=3 beside its two-speaker masks",
    )
    p.add_argument(
        "--valid-num",
        type=number_arg(int, 1),
        default=40,
        help="validation mixtures (fixed set of valid-split speakers, same augmentation)",
    )
    p.add_argument("--valid-every", type=number_arg(int, 1), default=None, metavar="STEPS")
    p.add_argument(
        "--max-minutes",
        type=number_arg(float, 0, above=True),
        default=None,
        metavar="M",
        help="stop after M minutes of wall time, validated and saved (resume later)",
    )
    p.add_argument(
        "--workers",
        type=number_arg(int, 0, 64),
        default=0,
        metavar="N",
        help="processes that draw the training mixtures (0: in the training loop; a GPU run "
        "wants several); the mixtures are the same either way",
    )
    p.add_argument(
        "--seed",
        type=number_arg(int, 0),
        default=0,
        help="draws the initial weights and the stream of training mixtures (a new seed for a "
        "fine-tuning run gives it mixtures its starting model has not seen); the validation set "
        "is the same for every seed, so that runs compare",
    )
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        default="fp32",
        help="bf16: bfloat16 autocast for the forward pass (faster on CPUs with AVX512-BF16 "
        "and on recent GPUs; falls back to fp32 with one warning where bf16 kernels are "
        "missing; may be changed on --resume)",
    )
    p.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR from last.pt")
    p.add_argument(
        "--init",
        type=Path,
        default=None,
        metavar="CHECKPOINT",
        help="start from this checkpoint's weights and architecture (fine-tuning a trained "
        "model); with --model-arg that adds layers (convtasnet n_repeats=3 from an R=2 one) or "
        "another --model that contains it (chimera from a dc-blstm), from its weights, the new "
        "layers at random (a grown Conv-TasNet's new blocks add nothing at first)",
    )
    p.add_argument("--description", default="")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from separation_core.training.config import TrainConfig
    from separation_core.training.trainer import Trainer

    cfg = TrainConfig(
        model=args.model,
        out=str(args.out),
        speech_dirs=[str(d) for d in args.speech],
        noise_dirs=[str(d) for d in args.noise],
        model_args=parse_model_args(args.model_arg),
        steps=args.steps,
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        batch_size=args.batch_size,
        segment_seconds=args.segment_seconds,
        lr=args.lr,
        warmup_steps=args.warmup_steps,
        clip_norm=args.clip_norm,
        seed=args.seed,
        device=args.device,
        time_loss=args.loss,
        chimera_alpha=args.chimera_alpha,
        mask_loss=args.mask_loss,
        dc_weighting=args.dc_weighting,
        attractor_weight=args.attractor_weight,
        attractor_kmeans_steps=args.attractor_kmeans_steps,
        ema_decay=args.ema_decay,
        sir_range=args.sir_range,
        snr_range=args.snr_range,
        speed_range=args.speed_range,
        noise_prob=args.noise_prob,
        rir_dirs=[str(d) for d in args.rir],
        rooms=args.rooms,
        reverb_prob=args.reverb_prob,
        measured_prob=args.measured_prob,
        rt60_range=tuple(args.rt60_range),
        schedule=args.schedule,
        min_lr_ratio=args.min_lr_ratio,
        schedule_steps=args.schedule_steps,
        workers=args.workers,
        max_minutes=args.max_minutes,
        valid_num=args.valid_num,
        valid_every=args.valid_every,
        rule=args.rule,
        speakers=args.speakers,
        alt_speakers=args.alt_speakers,
        description=args.description,
        init=str(args.init) if args.init else None,
        precision=args.precision,
    )
    result = Trainer(cfg, resume=args.resume, quiet=args.quiet).run()
    if int(os.environ.get("RANK", 0)) == 0:
        print(json.dumps(result, indent=2, default=float))
    return 0
