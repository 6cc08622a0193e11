"""The ``cocktail`` console script: subcommands run headless (no Qt import); anything else opens the
desktop program (``cocktail [FILE] [options]``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Optional


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from separation_core.cli import COMMANDS

    if argv and argv[0] in ("-h", "--help"):
        from app.main import build_parser  # the window's options and the subcommands; no Qt import

        build_parser().print_help()
        return 0
    if argv and (argv[0] in COMMANDS or argv[0] == "--version"):
        from separation_core.cli import main as cli_main

        return cli_main(argv)
    from app.main import main as gui_main

    return gui_main(argv)


if __name__ == "__main__":
    sys.exit(main())
