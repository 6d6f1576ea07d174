"""Pooling runs across the task zoo (issue 18): a per-task normalised target, dimension-free features, and the
validation curve of a run on a higher-is-better scale.

Raw metrics sit at different levels on different tasks (accuracy 0.1 is chance on RAD and bad on GunPoint; a
regression task's skill is 0 at chance), so runs of many tasks are pooled through :func:`normalized_target`:

* ``method="chance"`` (default): (metric − chance) / (task's best − chance). 0 is chance, 1 the best run of that
  task in the pooled records; a run below chance is negative. The best is taken over the task's ok runs in the
  records given (every budget together), so the target says "how close to the best this task allows".
* ``method="rank"``: the within-task percentile rank in [0, 1] (ties share their mean rank; a task with one
  run gets 0.5). Scale-free and robust to outliers, but blind to how much better the best is than chance.

Chance comes from the task's meta-features (:func:`balancedrnn.tasks.zoo.meta_features`): classification
1/classes (KDD-TSAD's balanced windows: 0.5), regression scored by skill 0, Hammer's normalised score 0 (a
random policy). A task whose best run is not above chance has nothing to normalise against: its runs get NaN
under ``chance`` (drop them, or use ``rank``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

METHODS = ("chance", "rank")

def _value(record: Mapping[str, Any]) -> float:
    """The record's final metric, or NaN when the run is not ok or has none."""
    if record.get("status") != "ok":
        return math.nan
    v = (record.get("final") or {}).get("value")
    try:
        v = float(v)
    except (TypeError, ValueError):
        return math.nan
    return v if math.isfinite(v) else math.nan


def _task_name(record: Mapping[str, Any]) -> str:
    task = record.get("task")
    if isinstance(task, Mapping) and task.get("name"):
        return str(task["name"])
    return str((record.get("config") or {}).get("task", ""))


def chance_level(record: Mapping[str, Any]) -> float:
    """The chance level of a record's metric: its task's meta-feature when the task is registered here, else
    (an unknown task, or a ``file:``/``ucr:`` task whose data this machine lacks) 1/dy for classification (loss at
    the last step) and 0 for skill or a normalised score."""
    from ..tasks import get_task
    from ..record import chance_level as default_chance
    from ..tasks.zoo import meta_features

    name = _task_name(record)
    try:
        chance = meta_features(get_task(name))["chance"]
    except ValueError:  # TaskError, or DataError: a file: task's file moved, a ucr: set offline
        chance = None
    if chance is not None:
        return float(chance)
    task = record.get("task") or {}
    chance = default_chance(task.get("dy"), task.get("loss"), task.get("metric"))
    if chance is not None:
        return chance
    raise ValueError(f"no chance level for task {name!r} (metric {task.get('metric')!r}); pass chance={{task: level}}")


def normalized_target(records: Iterable[Mapping[str, Any]], method: str = "chance",
                      chance: Mapping[str, float] | None = None) -> np.ndarray:
    """The per-task normalised target of each record, aligned with ``records`` (NaN for runs that are not ok).

    ``chance``: (metric − chance) / (best − chance) per task, where best is the task's best ok run among
    ``records`` (NaN for every run of a task whose best is not above chance). ``rank``: within-task percentile
    rank in [0, 1], ties averaged. ``chance`` (mapping) overrides the chance level of named tasks."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    records = list(records)
    values = np.array([_value(r) for r in records], dtype=float)
    tasks = np.array([_task_name(r) for r in records], dtype=object)
    out = np.full(len(records), np.nan)
    for task in sorted(set(tasks)):
        idx = np.flatnonzero((tasks == task) & np.isfinite(values))
        if idx.size == 0:
            continue
        v = values[idx]
        if method == "rank":
            if idx.size == 1:
                out[idx] = 0.5
                continue
            order = np.argsort(v, kind="stable")
            ranks = np.empty(idx.size)
            ranks[order] = np.arange(idx.size, dtype=float)
            for u in np.unique(v):  # ties share their mean rank
                tie = v == u
                ranks[tie] = ranks[tie].mean()
            out[idx] = ranks / (idx.size - 1)
            continue
        level = float(chance[task]) if chance and task in chance else chance_level(records[int(idx[0])])
        best = float(v.max())
        if best - level <= 1e-12:
            continue  # no run above chance: nothing to normalise against
        out[idx] = (v - level) / (best - level)
    return out


def dimensionless_features(record: Mapping[str, Any]) -> dict[str, float]:
    """Features of a run that do not depend on the task's units or sizes, so they transfer between tasks:
    the hidden proportion, the six densities, log dx/dy, log budget/(dx·dy), dh/dx, dh/dy, log dh, log T,
    log training sequences, log lr, and whether the task is classification (1) or regression (0).

    T comes from the task's meta-features when the task is registered here (NaN otherwise, as for a ``file:`` or
    ``ucr:`` task whose data this machine lacks). The training sequences
    are the record's loaded training split (``data_sizes``) when it has one: what the run trained on, which the
    meta-features cannot always say (an MNIST task caps ``n_train`` at its pool of source digits, 8,000 of the real
    test set's 10,000; M1's windows depend on the data seed; an aeon set's file when aeon is not installed); else the
    meta-features' count (the config's ``n_train`` for tasks whose size the config sets)."""
    from ..tasks import get_task
    from ..tasks.zoo import meta_features

    model = record.get("model") or {}
    config = record.get("config") or {}
    task = record.get("task") or {}
    try:
        meta = meta_features(get_task(_task_name(record)), n_train=config.get("n_train"))
    except ValueError:  # TaskError, or DataError: a file: task's file moved, a ucr: set offline
        meta = {"T": None, "n_train": None, "kind": "classification" if task.get("loss") == "last" else "regression"}
    sizes = record.get("data_sizes")
    loaded = sizes.get("train") if isinstance(sizes, Mapping) else None
    if isinstance(loaded, (int, float)) and not isinstance(loaded, bool) and loaded > 0:
        meta = {**meta, "n_train": loaded}  # as loaded: what the run trained on
    return shape_features(
        dx=float(model.get("dx") or task.get("dx")), dy=float(model.get("dy") or task.get("dy")),
        dh=float(model.get("dh", math.nan)), budget=float(config.get("budget", math.nan)),
        density=model.get("density") or {}, hidden_proportion=float(model.get("hidden_proportion", math.nan)),
        T=meta["T"], n_train=meta["n_train"], lr=config.get("lr"), classification=meta["kind"] == "classification")


def log_dx_over_dy(dx: float, dy: float) -> float:
    """ln(dx/dy): the shape feature of both predictors, and the zoo's coverage test (NaN for a size not above 0)."""
    return math.log(dx / dy) if dx > 0 and dy > 0 else math.nan


def shape_features(dx: float, dy: float, dh: float, budget: float, density: Mapping[str, float],
                   hidden_proportion: float, T: float | None, n_train: float | None, lr: float | None,
                   classification: bool) -> dict[str, float]:
    """The row of :func:`dimensionless_features` from its ingredients (the one formula, for run records and for
    candidate configurations alike); a missing or non-positive size gives NaN in its log."""
    from ..core.spec import BLOCKS

    def log(x: Any) -> float:
        return math.log(float(x)) if x is not None and float(x) > 0 else math.nan

    row = {"hidden_proportion": float(hidden_proportion)}
    row.update({f"density_{b}": float(density.get(b, math.nan)) for b in BLOCKS})
    row.update({
        "log_dx_over_dy": log_dx_over_dy(float(dx), float(dy)),
        "log_budget_over_dxdy": log(budget / (dx * dy)),
        "dh_over_dx": dh / dx,
        "dh_over_dy": dh / dy,
        "log_dh": log(dh),
        "log_T": log(T),
        "log_n_train": log(n_train),
        "log_lr": log(lr),
        "classification": 1.0 if classification else 0.0,
    })
    return row


def curve(record: Mapping[str, Any]) -> list[float]:
    """The validation curve of a run (one value per epoch) on its metric's higher-is-better scale: accuracy for
    classification; for regression scored by skill, 1 − val MSE / the validation split's chance MSE (from the
    record's ``final.score``)."""
    history = (record.get("history") or {}).get("val") or []
    final = record.get("final") or {}
    metric = final.get("metric") or (record.get("task") or {}).get("metric")
    if metric == "skill":
        chance = (final.get("score") or {}).get("val_chance_mse")
        if not chance:
            raise ValueError("this skill record has no final.score.val_chance_mse to turn its val MSE into skill")
        return [1.0 - float(v["loss"]) / float(chance) for v in history]
    if all(metric in v for v in history):
        return [float(v[metric]) for v in history]
    raise ValueError(f"the validation history holds no {metric!r} per epoch (keys: {sorted(history[0]) if history else []})")
