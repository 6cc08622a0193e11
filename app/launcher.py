"""The ``cocktail`` console script: a command of ``separation_core.cli.COMMANDS`` runs headless (no
Qt import); anything else opens the desktop program (``cocktail [FILE] [options]``).

It decides from the first word before importing Qt or torch: a command, ``--version``, ``--help``
(the window's options and the commands), a bare word that names no file (a mistyped command:
refused in one line, exit status 2), or the window's arguments.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

# a word a command could be: no dot, slash or option dash that a file name or an option would have
_COMMAND_LIKE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from separation_core.cli import COMMANDS, unknown_command  # argparse only

    first = argv[0] if argv else ""
    if first in ("-h", "--help"):
        from app.main import build_parser  # the window's options and the commands; no Qt import

        build_parser().print_help()
        return 0
    if first in COMMANDS or first == "--version":
        from separation_core.cli import main as cli_main

        return cli_main(argv)
    if _COMMAND_LIKE.fullmatch(first) and not Path(first).exists():
        print(f"cocktail: error: {unknown_command(first)}", file=sys.stderr)
        return 2
    from app.main import main as gui_main

    return gui_main(argv)


if __name__ == "__main__":
    sys.exit(main())
