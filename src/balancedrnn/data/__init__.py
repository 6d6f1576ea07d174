"""Data sets: MNIST sources, the random anomaly detection (RAD) task, real time-series sets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch


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
