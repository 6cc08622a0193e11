"""``cocktail card CHECKPOINT [BENCH] [--out OUT.md]``: a model's card (Markdown)."""

from __future__ import annotations

import argparse
from pathlib import Path

DESCRIPTION = (
    "Write the model card of CHECKPOINT: training facts and validation figures from the "
    "checkpoint, test-set quality, speed and memory from BENCH (the output of `cocktail bench "
    "--json` naming the model by the file's name without .pt). An imported file (an Asteroid, "
    "SpeechBrain or torchaudio model) gets a card of what the file says of itself, marked as "
    "imported, with no benchmark; it replaces another card only with --force."
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
    p.add_argument(
        "--force",
        action="store_true",
        help="replace another card of a model trained elsewhere (it may hold figures measured "
        "apart from the file, as the bundled gtcrn-dns3-16k's)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from separation_core.checkpoints.cards import write_card

    print(f"wrote {write_card(args.checkpoint, args.bench, args.out, args.force)}")
    return 0
