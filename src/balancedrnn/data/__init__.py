"""Data sets: MNIST sources, the random anomaly detection (RAD) task, real time-series sets."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import torch

from ..io import DataError


class MissingExtra(DataError):
    """An optional dependency is not installed. The message is one line naming the package and the pip extra
    that brings it (a ``ValueError``, so the command line shows it as one line with exit code 2)."""


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import an optional dependency, or raise :class:`MissingExtra` saying ``purpose`` needs it and which
    ``balancedrnn[extra]`` to install. Imported only here, when needed, so the core install stays light."""
    top = module.split(".")[0]
    try:
        return importlib.import_module(module)
    except ImportError as e:
        hint = f"pip install 'balancedrnn[{extra}]'"
        if getattr(e, "name", None) in (top, module):
            raise MissingExtra(f"{purpose} needs {top}, which is not installed: {hint}") from None
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise MissingExtra(f"{purpose} needs {top}, which is installed but cannot be imported ({first}): {hint}") from None


class BatchedSplit:
    """Mixin for a data split holding a ``target`` tensor and an ``inputs(index)`` method: length and
    ``(inputs, targets)`` batches in a given order (the training loop's whole view of a split)."""

    target: torch.Tensor

    def inputs(self, index: Any = None) -> torch.Tensor:  # pragma: no cover - defined by each split
        raise NotImplementedError

    def __len__(self) -> int:
        return int(self.target.shape[0])

    def batches(self, batch_size: int, order: torch.Tensor | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``(inputs, targets)`` batches in ``order`` (default: stored order)."""
        order = torch.arange(len(self)) if order is None else order
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            yield self.inputs(idx), self.target[idx]
