"""``cocktail models``: every available model (bundled, user folder, registry)."""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(sub) -> None:
    p = sub.add_parser(
        "models",
        help="list available models",
        description="List bundled checkpoints, the user's models folder "
        "(COCKTAIL_MODELS_DIR overrides it) and every registry model.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run)


def _size(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e5 else f"{n / 1e3:.1f}k" if n else "0"


def run(args: argparse.Namespace) -> int:
    from separation_core.checkpoints.catalog import default_model_id, list_models, user_models_dir
    from separation_core.errors import ModelError

    problems: list[str] = []
    entries = list_models(problems)
    try:
        default = default_model_id()
    except ModelError:
        default = None
    if args.json:
        payload = {
            "default": default,
            "user_models_dir": str(user_models_dir()),
            "models": [e.to_dict() for e in entries],
            "problems": problems,
        }
        print(json.dumps(payload, indent=2))
        return 0
    header = f"{'id':<28} {'kind':<16} {'rate':>6} {'src':>3} {'params':>8}  {'origin':<8} notes"
    print(header)
    print("-" * len(header))
    for e in entries:
        notes = []
        if e.id == default:
            notes.append("default")
        if e.needs_references:
            notes.append("needs references")
        if not e.trained:
            notes.append("untrained")
        if not e.outputs_are_voices:
            notes.append("speech and noise")
        if getattr(e, "imported_from", ""):
            notes.append(f"imported: {e.imported_from}")
        if e.checkpoint:
            notes.append(str(e.checkpoint))
        print(
            f"{e.id:<28} {e.kind:<16} {e.sample_rate:>6} {e.n_src:>3} {_size(e.num_parameters):>8}"
            f"  {e.origin:<8} {', '.join(notes)}"
        )
    print(f"\nuser models folder: {user_models_dir()}")
    for problem in problems:
        print(f"cocktail: warning: skipped {problem}", file=sys.stderr)
    return 0
