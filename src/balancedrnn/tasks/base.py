"""What a task is: the :class:`Task` record and the :class:`DataRequest` its loader reads. A leaf module, so
that data modules can define tasks without importing the registry (or the trainer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol


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
