"""The headless command line: ``cocktail COMMAND ...`` (also ``python -m separation_core.cli``).

Never imports Qt. ``COMMANDS`` is the one table of the commands: the name a user types and the
module of ``separation_core/commands/`` that has its ``add_parser(subparsers)`` and
``run(args) -> int``; the ``cocktail`` launcher (app/launcher.py) reads it to tell a command from a
file to open. The exit status follows ``EXIT_STATUS``.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import sys
from collections.abc import Sequence
from typing import Optional

from separation_core.errors import CocktailError

COMMANDS = {
    "separate": "separate",
    "evaluate": "evaluate",
    "models": "models",
    "mix": "mix",
    "train": "train",
    "bench": "bench",
    "export-onnx": "export_onnx",
    "card": "card",
}

EXIT_STATUS = (
    "Exit status: 0 success; 1 some inputs failed (separate: each is named in one line, the "
    "others are done); 2 an error stopped the command: a wrong command line or option, or a "
    "model, file or folder it cannot use (one line 'cocktail: error: ...'); 130 interrupted."
)


class CommandParser(argparse.ArgumentParser):
    """A command's parser: arguments it does not know are refused with its own usage (not the
    top-level one), naming the option that was probably meant."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}{self._nearest_option(extras)}")
        return namespace, extras

    def _nearest_option(self, extras: list[str]) -> str:
        for word in extras:
            if word.startswith("--"):
                near = difflib.get_close_matches(word.split("=")[0], self._option_string_actions, 1)
                if near:
                    return f" (did you mean {near[0]}?)"
        return ""


def unknown_command(word: str) -> str:
    """The refusal of ``word`` as a command, in one line, with the nearest command if any."""
    near = difflib.get_close_matches(word, COMMANDS, 1)
    hint = (
        f"did you mean {near[0]}?"
        if near
        else f"commands: {', '.join(COMMANDS)}; see cocktail --help"
    )
    return f"unknown command '{word}' ({hint})"


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with a sub-parser per command of ``COMMANDS`` whose module exists."""
    parser = argparse.ArgumentParser(
        prog="cocktail",
        description="Cocktail: speech source separation. Without a command, `cocktail [FILE]` "
        "opens the desktop program.",
        epilog=EXIT_STATUS,
    )
    from separation_core import __version__

    parser.add_argument("--version", action="version", version=f"cocktail {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CommandParser)
    for module_name in COMMANDS.values():
        try:
            module = importlib.import_module(f"separation_core.commands.{module_name}")
        except ModuleNotFoundError as e:
            if e.name != f"separation_core.commands.{module_name}":
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
        parser.error(unknown_command(argv[0]))
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
