"""What the experiment scripts share."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn


@contextmanager
def one_line_errors() -> Iterator[None]:
    """The library's one-line errors (a store, a predictor, the zoo's runs, a data file) as ``error: …`` and
    exit 1, not a traceback: a script run on a store that cannot answer its question says so as the command
    line does."""
    from balancedrnn.analysis import meta, zoopred
    from balancedrnn.io import DataError
    from balancedrnn.sweep.store import StoreError

    try:
        yield
    except (meta.MetaError, zoopred.ZooError, StoreError, DataError) as e:
        raise SystemExit(f"error: {e}") from None


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one ``error: …`` line on stderr and exit 2, as the command line's."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see: {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def check_training_args(p: Parser, args: argparse.Namespace) -> None:
    """The options every training experiment shares, checked before any data is read: ``--seeds``,
    ``--batch`` and ``--threads`` at least 1, ``--epochs`` and ``--first-seed`` at least 0, ``--lr`` a finite positive number."""
    for name in ("seeds", "batch", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.epochs < 0:
        p.error(f"--epochs must be at least 0, got {args.epochs}")
    if getattr(args, "first_seed", 0) < 0:
        p.error(f"--first-seed must be at least 0, got {args.first_seed}")
    if not (math.isfinite(args.lr) and args.lr > 0):
        p.error(f"--lr must be a finite positive number, got {args.lr}")
