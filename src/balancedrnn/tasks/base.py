"""What a task is: the :class:`Task` record, the :class:`DataRequest` its loader reads, the batched split every
data module yields, and :func:`require` for optional dependencies. A leaf module, so that data modules can
define tasks without importing the registry (or the trainer).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal, Protocol

import torch

from ..io import DataError


class DataRequest(Protocol):
    """The fields of a run's config that a task's loader and scorer read (``TrainConfig`` has them all)."""

    n_train: int
    n_val: int
    n_test: int
    data_seed: int
    seed: int
    mnist_dir: str | None
    dataset: str | None
    rollouts: int
    device: str


class TaskError(ValueError):
    """Unknown task or a task that cannot be loaded."""


@dataclass(frozen=True)
class Task:
    """A learning task: sizes, where the loss is read, the metric, and how to load its data."""

    name: str
    """Registry name."""
    dx: int
    """Input size per step."""
    dy: int
    """Output size per step (classes for classification)."""
    loss: Literal["last", "all"]
    """``last``: cross-entropy at the last step only; ``all``: MSE at every step."""
    metric: str
    """Name of the main metric (higher is better for ``accuracy``)."""
    load: Callable[[DataRequest, bool], Any]
    """``load(config, progress)`` -> object with ``splits`` (``train``, ``val``, ``test``) and ``source``."""
    describe: str = ""
    """One line for listings."""
    default_budget: int = 100_000
    """Trainable-weight budget the command line uses when none is given: one that fits the task's (dx, dy), so
    ``balanced`` gets a sensible hidden size (RAD's 100,000 would give a 6-input series dh ~ 4,900)."""
    score: Callable[[Any, Any, DataRequest], dict[str, Any]] | None = None
    """Optional scoring after training, ``score(model, data, config)`` -> metrics (e.g. rollouts in a
    simulator); when set, the record's final value is ``score(...)[metric]`` instead of the test metric."""
    select: Callable[[Any, Any, DataRequest, int], dict[str, Any]] | None = None
    """Optional checkpoint scoring during training, ``select(model, data, config, episodes)`` -> metrics on
    episodes the final ``score`` never uses (``TrainConfig.select_rollouts``); ranked by ``success_rate``, then by
    the task's metric."""
    steps: int | None = None
    """Meta-feature: sequence length T (None: not declared; :func:`balancedrnn.tasks.zoo.meta_features` reads it
    from the data set's description where it can)."""
    n_train: int | None = None
    """Meta-feature: training sequences when the data fix them (None: the run's ``n_train`` sets them)."""
    chance: float | None = None
    """Meta-feature: the metric's chance level (classification: 1/classes unless said; regression scored by skill: 0)."""

    @property
    def kind(self) -> str:
        """``classification`` (loss at the last step) or ``regression`` (MSE at every step)."""
        return "classification" if self.loss == "last" else "regression"

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
