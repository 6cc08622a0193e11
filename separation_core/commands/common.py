"""Pieces shared by subcommands: the parser of a model command (model and --overwrite arguments),
progress bars on stderr, distributed rank, float lists, argparse types that refuse non-finite and
out-of-range numbers in one line."""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from collections.abc import Callable
from typing import Optional

MODEL_HELP = "model id, registry name or checkpoint path (see `cocktail models`)"


def add_command(
    sub, name: str, *, help: str, description: str, model: str = "", overwrite: str = ""
) -> argparse.ArgumentParser:
    """A subcommand's parser with the arguments the model commands share: the model to use
    (``model="positional"``: a MODEL argument; ``"option"``: ``--model``, default the bundled
    default model) and ``--overwrite`` (``overwrite``: its help; empty: none)."""
    p = sub.add_parser(name, help=help, description=description)
    if model == "positional":
        p.add_argument("model", help=MODEL_HELP)
    elif model == "option":
        p.add_argument("--model", default=None, help=f"{MODEL_HELP}; default: the bundled default")
    elif model:
        raise ValueError(f"model must be 'positional', 'option' or '', not {model!r}")
    if overwrite:
        p.add_argument("--overwrite", action="store_true", help=overwrite)
    return p


class ProgressBar:
    """A ``progress(fraction, stage)`` callback drawing a tqdm bar on stderr."""

    def __init__(self, label: str, enabled: bool = True):
        from tqdm import tqdm

        self._bar = tqdm(
            total=1000,
            desc=label,
            file=sys.stderr,
            disable=not enabled,
            leave=False,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix} [{elapsed}<{remaining}]",
        )
        self._last = 0

    def __call__(self, fraction: float, stage: str) -> None:
        target = int(round(fraction * 1000))
        if target > self._last:
            self._bar.update(target - self._last)
            self._last = target
        self._bar.set_postfix_str(stage, refresh=False)

    def close(self) -> None:
        self._bar.close()


def dist_rank_world() -> tuple[int, int]:
    """(rank, world size) under torchrun (RANK / WORLD_SIZE), else (0, 1)."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def float_pair(text: str) -> tuple[float, float]:
    """'-5,5' -> (-5.0, 5.0)."""
    parts = [p for p in text.replace(" ", "").split(",") if p]
    if len(parts) != 2:
        raise ValueError(f"expected two numbers like -5,5, got '{text}'")
    lo, hi = float(parts[0]), float(parts[1])
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"expected two finite numbers like -5,5, got '{text}'")
    if lo > hi:
        raise ValueError(f"range '{text}' has its low end above its high end")
    return lo, hi


def number_arg(
    kind: type = float,
    low: Optional[float] = None,
    high: Optional[float] = None,
    *,
    above: bool = False,
    or_zero: bool = False,
) -> Callable[[str], float]:
    """An argparse type: a finite ``kind`` (int or float) at least ``low`` (``above``: more than
    ``low``) and at most ``high``; ``or_zero`` also takes 0 (e.g. "0: the whole input")."""
    noun = "an integer" if kind is int else "a number"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun}, got '{text}'") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got '{text}'")
        if or_zero and value == 0:
            return value
        if low is not None and (value <= low if above else value < low):
            bound = f"above {low:g}" if above else f"at least {low:g}"
            raise argparse.ArgumentTypeError(
                f"must be {bound}{' (or 0)' if or_zero else ''}, got '{text}'"
            )
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:g}, got '{text}'")
        return value

    parse.__name__ = "integer" if kind is int else "number"
    return parse


# argparse takes "-5,5" for an option flag (only "-5" and "-.5" look like negative numbers to it), so
# "--sir-range -5,5" would fail with "expected one argument". This matcher also counts "low,high"
# pairs with a leading minus as values; no option of ours starts with a digit.
_NUMBER_OR_PAIR = re.compile(r"^-\d+$|^-\d*\.\d+$|^-\d*\.?\d+(e-?\d+)?\s*,\s*-?\d*\.?\d+(e-?\d+)?$")


def allow_negative_ranges(parser: argparse.ArgumentParser) -> None:
    parser._negative_number_matcher = _NUMBER_OR_PAIR


def range_arg(text: str) -> tuple[float, float]:
    """argparse type for 'LO,HI'."""
    try:
        return float_pair(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
