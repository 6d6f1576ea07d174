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



def density(text: str) -> float:
    """An argparse type: a block density in (0, 1] (0 times an empty block, above 1 is no density, NaN none)."""
    value = float(text)  # argparse turns a ValueError into "invalid density value: ..."
    if not 0 < value <= 1:  # NaN fails this too
        raise argparse.ArgumentTypeError(f"must be a density in (0, 1], got {text}")
    return value

def parse_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """``parser.parse_args()``, then the library's on/off variables read as the library will read them: a bad value
    (``BALANCEDRNN_NATIVE=maybe``) is argparse's one-line error (exit 2) before any work, not a ValueError traceback
    from deep inside the first model built."""
    from balancedrnn.io import check_env_flags

    args = parser.parse_args()
    try:
        check_env_flags()
    except ValueError as e:
        parser.error(str(e))
    return args


def build_or_error(parser: argparse.ArgumentParser, config: str, dx: int, dy: int, budget: float):  # noqa: ANN201
    """``build_model(config, dx, dy, budget, seed=0)``, or argparse's one-line error (exit 2) for a config or
    budget the library refuses (an unknown config, a budget too small for the shape, a budget that is not a
    positive number) instead of a traceback."""
    from balancedrnn import SpecError, build_model

    try:
        return build_model(config, dx, dy, budget, seed=0)
    except SpecError as e:
        parser.error(f"argument --config/--budget: {e}")


def check_entries(parser: argparse.ArgumentParser, dh: int, density: float) -> None:
    """argparse's one-line error when a dh x dh block at ``density`` holds no entry (the library's count), so a
    benchmark does not time an empty block under a header naming the density given."""
    from balancedrnn.core.spec import exact_count

    if exact_count(density, dh, dh) == 0:
        parser.error(f"argument --density: {density:g} of a {dh} x {dh} block is no entry; raise --density or --dh")
