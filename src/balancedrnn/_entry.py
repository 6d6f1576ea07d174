"""The ``balancedrnn`` command's entry point: imports the command line (and with it PyTorch, about a second)
where a Ctrl-C in that second is "interrupted" and exit 130, not a traceback."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from .cli import main as cli_main
    except KeyboardInterrupt:
        print("interrupted: before the command started; nothing was done", file=sys.stderr)  # the documented form
        sys.exit(130)
    cli_main()
