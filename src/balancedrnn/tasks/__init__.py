"""Task registry: one interface (data, loss, metric, dx, dy) so training and comparisons take any task by name.

A task turns a run's config (a :class:`~balancedrnn.tasks.base.DataRequest`, which ``TrainConfig`` is) into
train/validation/test splits. Each split yields ``(inputs, targets)`` batches; the task's ``loss`` says where the
loss is read (``last`` step or ``all``). The built-in tasks register on first use; data modules describe their
tasks with :mod:`.base` and never import this registry.
"""

from __future__ import annotations

import os
from typing import Any

from .base import BatchedSplit, DataRequest, MissingExtra, Task, TaskError, require

__all__ = ["BatchedSplit", "DataRequest", "MissingExtra", "Task", "TaskError", "get_task", "register", "require",
           "task_names"]


_REGISTRY: dict[str, Task] = {}
_TIMESERIES_MISSING = ""
"""Why the time-series tasks are absent ("not installed", or aeon's import error), for the error naming the extra."""


def register(task: Task) -> Task:
    """Add a task to the registry (by its name)."""
    _REGISTRY[task.name] = task
    return task


def get_task(name: str) -> Task:
    """The registered task called ``name``; the error lists the known ones."""
    _ensure_builtin()
    stamp = _file_stamp(name)
    if name.startswith(("file:", "ucr:")) and (name not in _REGISTRY or _FILE_STAMPS.get(name) != stamp):
        from .files import task_for, ucr_names  # your own data, resolved in any process; a changed file is read again

        ours = [t for t in _REGISTRY if name.startswith("ucr:") and t.startswith("ts:") and t[3:] == name[4:]]
        if ours and name[4:] not in ucr_names():  # aeon's regression sets are ts: tasks here, not UCR/UEA problems
            raise TaskError(f"unknown UCR/UEA data set {name[4:]!r} (the UCR/UEA archive lists classification "
                            f"problems); this library has it as --task {ours[0]}")
        task = register(task_for(name))
        _FILE_STAMPS[name] = stamp
        return task
    try:
        return _REGISTRY[name]
    except KeyError:
        if name.startswith("ts:") and _TIMESERIES_MISSING:
            why = ("is not installed" if _TIMESERIES_MISSING == "not installed"
                   else f"cannot be used here ({_TIMESERIES_MISSING})")
            raise TaskError(f"task {name!r} needs aeon, which {why}: pip install 'balancedrnn[timeseries]'") from None
        if name.startswith("ts:"):
            from .zoo import unshipped_aeon_task

            unshipped = unshipped_aeon_task(name)
            if unshipped:
                raise TaskError(unshipped) from None
        known = sorted(n for n in _REGISTRY if not n.startswith(("file:", "ucr:")))  # not the files read so far
        raise TaskError(f"unknown task {name!r}; known tasks: {', '.join(known)} (and file:PATH, ucr:NAME)") from None


_FILE_STAMPS: dict[str, tuple[tuple[int, int], ...] | None] = {}
"""(modification time, size) of each ``file:`` task's file, and of its ``NAME_TEST`` sibling, when its task was read
(None: not a file task)."""


def _file_stamp(name: str) -> tuple[tuple[int, int], ...] | None:
    """(modification time in ns, size) of a ``file:PATH`` task's file and of the ``NAME_TEST`` file beside a
    ``NAME_TRAIN`` one (whose test split, sizes and length the task reads too), None for other names or a missing
    file."""
    if not name.startswith("file:"):
        return None
    from pathlib import Path

    from .files import _test_sibling

    path = Path(name[len("file:"):])
    try:
        stamps = [os.stat(p) for p in (path, _test_sibling(path)) if p is not None]
    except OSError:
        return None
    return tuple((st.st_mtime_ns, st.st_size) for st in stamps)


def task_names() -> list[str]:
    """Names of all registered tasks."""
    _ensure_builtin()
    return sorted(_REGISTRY)


def _load_rad(config: DataRequest, progress: bool) -> Any:
    from . import rad
    from .mnist import load_mnist

    mnist = load_mnist(config.mnist_dir)
    rad_config = rad.RADConfig(
        n_train=config.n_train, n_val=config.n_val, n_test=config.n_test, seed=config.data_seed
    )
    return rad.build_or_load(mnist, rad_config, rebuild=False, progress=progress)


def _load_hammer(config: DataRequest, progress: bool) -> Any:
    from .hammer.dataset import cloning_data, episodes_digest, load_requested
    from .hammer.env import require_simulator

    require_simulator()  # the run is scored (and selected) by rollouts: refused now, not after training
    dataset_id, episodes = load_requested(config.dataset)
    return cloning_data(episodes, seed=config.data_seed, source=f"Minari data set {dataset_id} ({len(episodes)} episodes, "
                                                                f"content {episodes_digest(episodes)})")


def _hammer_rollouts(model: Any, data: Any, config: DataRequest, episodes: int, first_seed: int) -> dict[str, Any]:
    from .hammer.rollout import rollout

    model.eval()
    return rollout(model, episodes=episodes, seed=first_seed, obs_mean=data.obs_mean, obs_std=data.obs_std,
                   device=config.device).summary()


def _score_hammer(model: Any, data: Any, config: DataRequest) -> dict[str, Any]:
    from .hammer.rollout import score_seeds

    return _hammer_rollouts(model, data, config, config.rollouts, score_seeds(config.seed))


def _select_hammer(model: Any, data: Any, config: DataRequest, episodes: int) -> dict[str, Any]:
    from .hammer.rollout import select_seeds

    return _hammer_rollouts(model, data, config, episodes, select_seeds(config.seed))


def _register_hammer() -> None:
    register(
        Task(
            name="hammer",
            dx=46,
            dy=26,
            loss="all",
            metric="normalized_score",
            load=_load_hammer,
            score=_score_hammer,
            select=_select_hammer,
            describe="Adroit Hammer behaviour cloning from expert episodes (Minari), scored by rollouts in MuJoCo",
            default_budget=100_000,  # the reproduce plan's small scale; its paper scale uses 400,000
        )
    )


def _ensure_builtin() -> None:
    if "rad" not in _REGISTRY:
        register(
            Task(
                name="rad",
                dx=2500,
                dy=10,
                loss="last",
                metric="accuracy",
                load=_load_rad,
                describe="random anomaly detection on real MNIST: 11 frames of 50x50, find the anomalous frame",
                default_budget=100_000,  # the paper's RAD budget
                steps=11,
                chance=0.1,
            )
        )
        _register_hammer()
        from .zoo import zoo_tasks  # the task zoo (issue 18): MNIST tasks always, aeon ones with aeon

        for task in zoo_tasks():
            register(task)
        global _TIMESERIES_MISSING
        try:  # real time-series tasks need the optional aeon (extra "timeseries"); without it they are absent
            from .timeseries import timeseries_tasks

            for task in timeseries_tasks():
                register(task)
            _TIMESERIES_MISSING = ""  # registered: an earlier registration's failure no longer holds
        except ImportError as e:
            absent = getattr(e, "name", None) == "aeon" or str(e).startswith("aeon is not installed")
            _TIMESERIES_MISSING = "not installed" if absent else (str(e).splitlines()[0] if str(e) else "ImportError")
