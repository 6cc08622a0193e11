"""``cocktail card CHECKPOINT [BENCH] [--out OUT.md]``: a model's card (Markdown)."""

from __future__ import annotations

import argparse
from pathlib import Path

DESCRIPTION = (
    "Write the model card of CHECKPOINT: training facts and validation figures from the "
    "checkpoint, test-set quality, speed and memory from BENCH (the output of `cocktail bench "
    "--json` naming the model by the file's name without .pt). An imported file (an Asteroid "
    "model) gets a card of what the file says of itself, marked as imported, with no benchmark."
)


def add_parser(sub) -> None:
    p = sub.add_parser("card", help="write a model's card (Markdown)", description=DESCRIPTION)
    p.add_argument("checkpoint", type=Path, metavar="CHECKPOINT")
    p.add_argument(
        "bench",
        type=Path,
        nargs="?",
        default=None,
        metavar="BENCH",
        help="output of `cocktail bench --json` naming this model (not for imported models)",
    )
    p.add_argument("--out", type=Path, metavar="OUT.md", help="default: CHECKPOINT with .md")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from separation_core.checkpoints.cards import write_card

    print(f"wrote {write_card(args.checkpoint, args.bench, args.out)}")
    return 0
