"""Progress bars (rich) that can be silenced for logs."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


@contextlib.contextmanager
def progress_bar(total: int, description: str, enabled: bool = True) -> Iterator[Callable[..., None]]:
    """Yield ``advance(n=1, **fields)``; draws a bar on stderr when ``enabled`` (no-op otherwise)."""
    if not enabled:
        yield lambda n=1, **fields: None
        return
    columns = (  # the texts are not Rich markup: a study named exp[v2] lost "[v2]", and x[/b] was a MarkupError
        TextColumn("{task.description}", style="progress.description", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}", markup=False),
    )
    from rich.console import Console

    console = Console(file=sys.stderr)
    if not console.is_terminal:  # logs: one line per reported event instead of a live bar
        done = [0]

        def log(n: int = 1, info: str | None = None) -> None:
            done[0] += n
            if info:
                print(f"{description}: {done[0]}/{total} {info}", file=sys.stderr, flush=True)

        yield log
        return
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(description, total=total, info="")

        def advance(n: int = 1, info: str | None = None) -> None:
            bar.update(task, advance=n, **({"info": info} if info is not None else {}))

        yield advance
