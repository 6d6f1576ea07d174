"""What every command of the command line shares: the consoles, the one-line user error, the checks made at the
boundary before any work, and the one ``--set`` parser."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console

from ..core.spec import check_budget_limit

# markup off: no message uses Rich's [tags], and a path or task name such as exp[v2]/d.npz must print as written
out = Console(width=None if sys.stdout.isatty() else 160, markup=False)
err = Console(stderr=True, soft_wrap=True, markup=False)  # one message, one line (logs and tests read them)


class UserError(Exception):
    """An error to show as one line (exit code 2)."""


RUN_STATUSES = ("ok", "failed", "diverged", "timeout", "interrupted")
"""Statuses a run record can have (``runs --status``)."""


def check_positive(option: str, value: int | float | None, kind: str = "integer") -> None:
    """UserError unless ``value`` (if given) is a positive number; ``option`` is the flag, e.g. ``--epochs``."""
    import math

    if value is not None and not (math.isfinite(value) and value > 0):
        raise UserError(f"{option} must be a positive {kind}, got {value:g}")


def check_non_negative(option: str, value: int | None) -> None:
    """UserError unless ``value`` (if given) is 0 or more (seeds, --limit, --rounds)."""
    if value is not None and value < 0:
        raise UserError(f"{option} must be 0 or more, got {value}")


def check_seed_option(option: str, value: int | None) -> None:
    """UserError unless ``value`` (if given) is a seed runs accept (:func:`~balancedrnn.core.spec.check_seed`)."""
    from ..core.spec import SpecError, check_seed

    if value is not None:
        try:
            check_seed(option, value)
        except SpecError as e:
            raise UserError(str(e)) from None


def check_budget(budget: float, option: str = "--budget") -> float:
    """A positive finite budget no larger than :data:`~balancedrnn.core.spec.MAX_BUDGET`, or a one-line UserError naming the limit."""
    import math

    if not (math.isfinite(budget) and budget > 0):
        raise UserError(f"{option} must be a positive finite number, got {budget:g}")
    try:
        check_budget_limit(budget, option)
    except ValueError as e:
        raise UserError(str(e)) from None
    return budget


def check_choice(option: str, value: str, choices: tuple[str, ...] | list[str]) -> str:
    """UserError unless ``value`` is one of ``choices`` (the message lists them)."""
    if value not in choices:
        raise UserError(f"{option} {value!r} is not one of {', '.join(choices)}")
    return value


def check_writable(path: Path, option: str, directory: bool = False) -> Path:
    """Fail before any work when ``path`` (a file, or a directory if ``directory``) cannot be written, naming the
    user's path; creates nothing. Tries a real file in the nearest existing ancestor, because permission bits
    say nothing for root."""
    from ..io import probe_writable

    path = Path(path)
    if path.exists():
        if directory and not path.is_dir():
            raise UserError(f"{option} {path} is not writable: it is a file, not a directory")
        if not directory and path.is_dir():
            raise UserError(f"{option} {path} is not writable: it is a directory")
    probe = path if directory and path.is_dir() else path.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(f"{option} {path} is not writable: {probe} is not a directory")
    try:
        probe_writable(probe)
    except OSError as e:
        raise UserError(f"{option} {path} is not writable: cannot create files in {probe} ({e.strerror or e})") from None
    return path


def given_options(ctx: Any, options: dict[str, str]) -> list[str]:
    """The ``options`` (parameter name -> option as the user writes it) given on the command line, not left at
    their defaults: for options that a choice made elsewhere would ignore."""
    return [option for name, option in options.items()
            if getattr(ctx.get_parameter_source(name), "name", None) == "COMMANDLINE"]  # click's or typer's enum


def check_run_dir(ctx: Any, records: Path | None, storage: str | None) -> bool:
    """Whether --run-dir was given on the command line; UserError when --records or --storage is given too, which
    would leave the directory unread (its store is <run-dir>/store.journal)."""
    given = bool(given_options(ctx, {"run_dir": "--run-dir"}))
    other = "--records" if records is not None else "--storage" if storage is not None else None
    if given and other:
        raise UserError(f"give either {other} or --run-dir (the store in it), not both")
    return given


DEFAULT_TASK = "rad"
"""The task ``train`` and ``compare`` run when given neither ``--task`` nor ``--data``."""


def data_task(task: str | None, data: Path | None) -> str:
    """The task a command runs: ``file:PATH`` for ``--data PATH`` (which must be an existing file; not together
    with ``--task``, even ``--task rad``), else ``task`` (None: not given, :data:`DEFAULT_TASK`). The file itself
    is read and checked by the task registry."""
    if data is None:
        return DEFAULT_TASK if task is None else task
    if task is not None:
        raise UserError("give either --task or --data, not both")
    if not Path(data).is_file():
        raise UserError(f"--data {data} does not exist" if not Path(data).exists() else f"--data {data} is not a file")
    return f"file:{data}"


@contextmanager
def warnings_on_success() -> Iterator[None]:
    """Hold the warnings raised inside and show them only when the block succeeds, so that a bad input's error
    stays the one line it should be."""
    with warnings.catch_warnings(record=True) as caught:  # the filters in force stay: only the showing waits
        yield
    for w in caught:
        warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def _parse_sets(items: list[str] | None) -> dict[str, Any]:
    """``--set key=value`` options as a mapping (values parsed as YAML scalars); the one ``--set`` parser."""
    if not items:
        return {}  # no --set: no need for yaml (recommend runs without the sweep extra)
    from ..sweep.spec import yaml_load
    from ..tasks.base import require

    yaml = require("yaml", "sweep", "--set")
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set takes key=value, got {item!r}")
        try:
            out[key.strip()] = yaml_load(value, "--set")
        except yaml.YAMLError:
            raise UserError(f"--set {key.strip()}: {value!r} is not a value (a number, a word, or a quoted string)") from None
    return out
