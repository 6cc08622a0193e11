"""The headless command line: ``python -m separation_core.cli SUBCOMMAND ...`` (also ``cocktail``).

Never imports Qt. Each subcommand lives in ``separation_core/commands/<name>.py`` with
``add_parser(subparsers)`` and ``run(args) -> int``. A CocktailError ends the command with a one-line
``cocktail: error: ...`` and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Optional

from separation_core.errors import CocktailError

COMMANDS = ("separate", "evaluate", "models", "mix", "train", "bench", "export_onnx")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cocktail",
        description="Cocktail: speech source separation. Without a subcommand, opens the desktop "
        "program (`cocktail [FILE]`).",
    )
    from separation_core import __version__

    parser.add_argument("--version", action="version", version=f"cocktail {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"separation_core.commands.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"separation_core.commands.{name}":
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    try:
        return int(args.run(args) or 0)
    except CocktailError as e:
        print(f"cocktail: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cocktail: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
