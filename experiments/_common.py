"""What the experiment scripts share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def one_line_errors() -> Iterator[None]:
    """The library's one-line errors (a store, a predictor, the zoo's runs) as ``error: …`` and exit 1, not a
    traceback: a script run on a store that cannot answer its question says so as the command line does."""
    from balancedrnn.analysis import meta, zoopred
    from balancedrnn.sweep.store import StoreError

    try:
        yield
    except (meta.MetaError, zoopred.ZooError, StoreError) as e:
        raise SystemExit(f"error: {e}") from None
