"""Pieces shared by subcommands: progress bars on stderr, distributed rank, float lists."""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Optional


class ProgressBar:
    """A ``progress(fraction, stage)`` callback drawing a tqdm bar on stderr."""

    def __init__(self, label: str, enabled: bool = True):
        from tqdm import tqdm
        self._bar = tqdm(total=1000, desc=label, file=sys.stderr, disable=not enabled, leave=False,
                         bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix} [{elapsed}<{remaining}]")
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
    if lo > hi:
        raise ValueError(f"range '{text}' has its low end above its high end")
    return lo, hi


def optional_int(value: Optional[str]) -> Optional[int]:
    return None if value is None else int(value)


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
