"""``cocktail separate --adapt SECONDS | --adapt-steps N [--keep-adapted]``: the options, their
checks, the estimate printed before the work starts, and the adaptation of one input's
conversation result (``separation_core.adaptation``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

from separation_core.adaptation.budget import MAX_SECONDS, MAX_STEPS, Budget
from separation_core.commands.common import number_arg
from separation_core.errors import CocktailError

# A training step (forward and backward on BATCH_SIZE x 3 s) against the bench's separation of
# the same audio, both on the 2 cores of the development CPU as `cocktail separate` runs them:
# 2.8x for convtasnet-rooms-16k, 2.0x for chimera-tcn-rooms-16k (2.2x with the validations: 100
# steps took 150 s where 6.0x had estimated 7 min 19 s).
TRAIN_STEP_FACTOR = 2.5


def add_adapt_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--adapt",
        type=number_arg(float, 0.0, MAX_SECONDS, above=True),
        default=None,
        metavar="SECONDS",
        help="conversation mode: fine-tune a copy of the model for SECONDS on mixtures of the "
        "recording's own solo stretches, then separate the overlaps with it (180 is a good "
        "start; a GPU is used where there is one)",
    )
    p.add_argument(
        "--adapt-steps",
        type=number_arg(int, 1, MAX_STEPS),
        default=None,
        metavar="N",
        help="as --adapt, for N training steps (the same result twice on the same machine)",
    )
    p.add_argument(
        "--keep-adapted",
        action="store_true",
        help="keep the adapted model as a user model (a new name, with its card), to use on "
        "other recordings of the same room and people",
    )


def adapt_budget(args: argparse.Namespace) -> Optional[Budget]:
    """The budget asked for (None: no adaptation); refuses options that do not go together."""
    if args.adapt is not None and args.adapt_steps is not None:
        raise CocktailError("give --adapt SECONDS or --adapt-steps N, not both")
    if args.keep_adapted and args.adapt is None and args.adapt_steps is None:
        raise CocktailError("--keep-adapted needs --adapt SECONDS or --adapt-steps N")
    if args.adapt is None and args.adapt_steps is None:
        return None
    if args.mode == "model":
        raise CocktailError("--adapt is for conversation mode (who talks when); not --mode model")
    if args.adapt is not None:
        return Budget(seconds=float(args.adapt))
    return Budget(steps=int(args.adapt_steps))


def estimate_text(entry, budget: Budget, device: str) -> str:
    """The adaptation's time in words, before it starts: the budget itself in seconds, or the
    steps at TRAIN_STEP_FACTOR times the bench's time for a batch of audio (rough)."""
    from separation_core.adaptation.finetune import BATCH_SIZE
    from separation_core.engine.run_estimate import estimate_run, human_duration, load_bench

    if budget.seconds is not None:
        return f"{human_duration(budget.seconds)} of fine-tuning"
    batch = estimate_run(entry, BATCH_SIZE * 3.0, load_bench(), device=device)
    if batch.seconds is None:
        return f"{budget.steps} steps of fine-tuning (no estimate of their time: {batch.text()})"
    seconds = budget.steps * TRAIN_STEP_FACTOR * batch.seconds
    return f"{budget.steps} steps of fine-tuning, ≈ {human_duration(seconds)} (rough)"


def adapt_result(path: Path, audio, model, entry, result, args, budget: Budget):
    """Adapt ``model`` to one input's conversation ``result``; -> (the result to write, the
    sidecar's ``adaptation`` entry). Prints the estimate first and the outcome after."""
    from separation_core.adaptation.recording import adapt_conversation
    from separation_core.adaptation.saving import keep_adapted, stock_options, weights_sha256
    from separation_core.commands.common import ProgressBar

    options = stock_options(entry, budget, args.device)
    print(
        f"cocktail: {path.name}: adapting {entry.id} to this recording: "
        f"{estimate_text(entry, budget, args.device)}, then the overlaps separated again by the "
        "adapted copy",
        file=sys.stderr,
    )
    bar = ProgressBar(f"{path.name} (adapting)", enabled=not args.quiet)
    try:
        adapted_result, adapted, record = adapt_conversation(
            model, audio.samples, audio.sample_rate, result, options, progress=bar
        )
    finally:
        bar.close()
    if adapted is not None:
        record.weights_sha256 = weights_sha256(adapted)
        if args.keep_adapted:
            saved = keep_adapted(
                adapted,
                record,
                options,
                entry,
                path,
                "conversation mode's estimate (`cocktail separate --adapt`)",
            )
            print(
                f"cocktail: {path.name}: adapted model kept as {saved.stem} ({saved})",
                file=sys.stderr,
            )
    return adapted_result, record.to_dict()
