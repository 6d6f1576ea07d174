"""What the benchmark scripts share: the argparse type of their count options, so a count below 1 is argparse's
one-line error (exit 2) instead of a traceback from inside the run (a median of no timings, a division by zero)."""

from __future__ import annotations

import argparse


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    value = int(text)  # argparse turns a ValueError into "invalid positive value: ..."
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
