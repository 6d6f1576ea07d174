"""The run record: the one schema of what a trial produces (SPEC §7), with its version.

Records travel as JSON mappings (record files, the sweep store's trial attributes); :class:`RunRecord` is the
typed view every reader goes through, so the schema lives here and nowhere else. ``from_dict`` reads every
version this library has written (older ones are upgraded) and refuses newer ones with one line.

Versions:

* 1: sessions up to the subpackage layout.
* 2: ``history`` gains ``best_epoch`` and ``stopped_epoch`` (early stopping keeps the best epoch's weights, and
  ``final.val`` is that epoch's validation result). A version-1 record reads as ``best_epoch = stopped_epoch =``
  its last epoch, which is what it was. ``history.selection`` (checkpoint selection by rollouts) is optional: a
  record without it was trained without selection.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

RECORD_VERSION = 2
"""The version this library writes."""
READABLE_VERSIONS = (1, 2)
"""The versions :meth:`RunRecord.from_dict` reads."""
STATUSES = ("running", "ok", "failed", "diverged", "timeout", "interrupted")


class RecordError(ValueError):
    """A mapping that is not a run record this library can read. The message is one line naming the record."""


ZERO_CHANCE_METRICS = ("skill", "normalized_score")
"""Metrics whose chance level is 0: skill (1 - MSE / the training mean's MSE) and Hammer's normalised score."""


def chance_level(dy: int | None, loss: str | None, metric: str | None = None) -> float | None:
    """The chance level of a task's metric when the task declares none: 1/dy for classification (loss at the
    last step), 0 for a metric in :data:`ZERO_CHANCE_METRICS`, None otherwise (a raw MSE has no chance level)."""
    if loss == "last" and dy:
        return 1.0 / dy
    if metric in ZERO_CHANCE_METRICS:
        return 0.0
    return None


@dataclass
class TaskInfo:
    """The task a run trained on, as recorded (sizes and how it is scored)."""

    name: str
    dx: int
    dy: int
    loss: str
    """``last`` (classification) or ``all`` (MSE at every step)."""
    metric: str

    @property
    def chance(self) -> float | None:
        """The chance level of the task's metric by :func:`chance_level`'s rule."""
        return chance_level(self.dy, self.loss, self.metric)


@dataclass
class History:
    """Per-epoch training loss and validation results: the run's learning curve."""

    train_loss: list[float] = field(default_factory=list)
    val: list[dict[str, Any]] = field(default_factory=list)
    """Validation result of every epoch (``loss`` and the task's metric)."""
    best_epoch: int | None = None
    """1-based epoch whose weights the run kept (the selection rollouts' pick when selecting, the lowest validation
    loss when early stopping, else the last)."""
    stopped_epoch: int | None = None
    """Epochs actually trained (fewer than configured when early stopping stopped the run)."""
    selection: list[dict[str, Any]] = field(default_factory=list)
    """Checkpoint selection by rollouts (``select_rollouts``): the epoch and the rollouts' summary at every check;
    ``best_epoch`` is then the check with the highest success rate."""

    def curve(self, metric: str) -> list[float]:
        """The validation ``metric`` per epoch (NaN where an epoch lacks it)."""
        return [float(v.get(metric, math.nan)) for v in self.val]

    def kept_check(self) -> dict[str, Any] | None:
        """The selection rollouts' summary of the kept checkpoint (None without selection): the validation of a run
        whose checkpoint the rollouts picked."""
        return next((c for c in self.selection if c.get("epoch") == self.best_epoch), None)


@dataclass
class Final:
    """The run's result: validation at the kept epoch, test, and the metric the run is judged by."""

    val: dict[str, Any]
    test: dict[str, Any]
    metric: str
    value: float | None
    """The judged value: the test metric, or the task's score (for example rollouts) when it has one."""
    baseline: dict[str, Any] | None = None
    score: dict[str, Any] | None = None


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


@dataclass
class RunRecord:
    """One trial's record. Build it with :meth:`start`, read stored ones with :meth:`from_dict`, store it with
    :meth:`to_dict`."""

    trial_key: str
    config: dict[str, Any]
    """The :class:`~balancedrnn.train.TrainConfig` as a mapping."""
    seed: int | None = None
    status: str = "running"
    """One of :data:`STATUSES`."""
    error: str | None = None
    started: str | None = None
    versions: dict[str, Any] | None = None
    git_revision: str | None = None
    device: str | None = None
    threads: int | None = None
    task: TaskInfo | None = None
    data_source: str | None = None
    data_id: str | None = None
    data_sizes: dict[str, int] | None = None
    """Sequences per split as loaded (train, val, test). The config's ``n_train``/``n_val``/``n_test`` size the
    generated data sets (RAD) only; a file's or aeon's data set has its own sizes, and this says them."""
    model: dict[str, Any] | None = None
    """The model's summary (kind, dx, dh, dy, densities, weights, hidden proportion, ...)."""
    history: History | None = None
    final: Final | None = None
    failure: str | None = None
    """For a failed run: ``environment`` (worth retrying as it is) or ``config``."""
    traceback: str | None = None
    wall_time: float | None = None
    record_version: int = RECORD_VERSION
    extra: dict[str, Any] = field(default_factory=dict)
    """Keys this schema does not name (kept and written back unchanged, e.g. a store's bookkeeping)."""

    # ------------------------------------------------------------------------------------------ reading
    @classmethod
    def from_dict(cls, d: Any, name: str | None = None) -> RunRecord:
        """Read a stored record of any readable version; :class:`RecordError` (one line) when it is not one."""
        label = name or record_label(d, "?")
        if not isinstance(d, Mapping) or not isinstance(d.get("config"), Mapping):
            raise RecordError(f"record {label} is not a balancedrnn run record (it has no 'config' mapping)")
        version = d.get("record_version")
        if type(version) is not int or version not in READABLE_VERSIONS:  # true == 1 and 2.0 == 2 in Python: not versions
            newer = isinstance(version, int) and not isinstance(version, bool) and version > RECORD_VERSION
            raise RecordError(
                f"record {label} has record_version {version!r}; this library reads versions "
                f"{', '.join(map(str, READABLE_VERSIONS))}" + (" (it was written by a newer balancedrnn: upgrade)" if newer else ""))
        known = {f.name for f in fields(cls)} - {"extra"}
        try:
            task = d.get("task")
            hist = d.get("history")
            fin = d.get("final")
            history = None
            if isinstance(hist, Mapping):
                val = list(hist.get("val") or [])
                history = History(list(hist.get("train_loss") or []), val,
                                  hist.get("best_epoch", len(val) if val and version == 1 else None),  # v2: a run
                                  # that kept no weights (diverged, failed) has none
                                  hist.get("stopped_epoch", len(val) if val else None),
                                  list(hist.get("selection") or []))
            return cls(
                trial_key=str(d.get("trial_key") or ""),
                config=dict(d["config"]),
                seed=d.get("seed"),
                status=str(d.get("status") or "running"),
                error=d.get("error"),
                started=d.get("started"),
                versions=d.get("versions"),
                git_revision=d.get("git_revision"),
                device=d.get("device"),
                threads=d.get("threads"),
                task=TaskInfo(str(task["name"]), int(task["dx"]), int(task["dy"]), str(task["loss"]), str(task["metric"]))
                if isinstance(task, Mapping) else None,
                data_source=d.get("data_source"),
                data_id=d.get("data_id"),
                data_sizes=dict(d["data_sizes"]) if isinstance(d.get("data_sizes"), Mapping) else None,
                model=dict(d["model"]) if isinstance(d.get("model"), Mapping) else None,
                history=history,
                final=Final(dict(fin.get("val") or {}), dict(fin.get("test") or {}), str(fin.get("metric") or ""),
                            fin.get("value"), fin.get("baseline"), fin.get("score"))
                if isinstance(fin, Mapping) else None,
                failure=d.get("failure"),
                traceback=d.get("traceback"),
                wall_time=d.get("wall_time"),
                record_version=RECORD_VERSION,
                extra={k: v for k, v in d.items() if k not in known},
            )
        except (KeyError, TypeError, ValueError) as e:
            raise RecordError(f"record {label} does not fit the run-record schema: {type(e).__name__}: {e}") from None

    # ------------------------------------------------------------------------------------------ writing
    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready mapping that is stored (keys without a value are left out; ``error`` always present)."""
        out: dict[str, Any] = {
            "record_version": self.record_version, "trial_key": self.trial_key, "config": self.config, "seed": self.seed,
            "status": self.status, "error": self.error, "started": self.started, "versions": self.versions,
            "git_revision": self.git_revision, "device": self.device, "threads": self.threads,
        }
        if self.task is not None:
            out["task"] = {"name": self.task.name, "dx": self.task.dx, "dy": self.task.dy, "loss": self.task.loss,
                           "metric": self.task.metric}
        out.update(_drop_none({"data_source": self.data_source, "data_id": self.data_id, "data_sizes": self.data_sizes,
                               "model": self.model}))
        if self.history is not None:
            h = self.history
            out["history"] = _drop_none({"train_loss": h.train_loss, "val": h.val, "best_epoch": h.best_epoch,
                                         "stopped_epoch": h.stopped_epoch, "selection": h.selection or None})
        if self.final is not None:
            f = self.final
            out["final"] = {"val": f.val, "test": f.test, "metric": f.metric, "value": f.value,
                            **_drop_none({"baseline": f.baseline, "score": f.score})}
        out.update(_drop_none({"failure": self.failure, "traceback": self.traceback, "wall_time": self.wall_time}))
        out.update(self.extra)
        return out

    # ------------------------------------------------------------------------------------------ derived
    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def value(self) -> float | None:
        """The judged metric when it is a finite number, else None."""
        v = self.final.value if self.final is not None else None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return None
        return float(v)

    @property
    def task_name(self) -> str:
        return self.task.name if self.task is not None else str(self.config.get("task"))

    @property
    def metric(self) -> str:
        if self.final is not None and self.final.metric:
            return self.final.metric
        return self.task.metric if self.task is not None else "metric"

    def file_name(self) -> str:
        """The name :func:`balancedrnn.train.write_record` gives this record's file (:func:`record_name`)."""
        c = self.config
        return record_name(str(c.get("task")), str(c.get("model")), float(c.get("budget") or 0), c.get("seed"),
                           self.trial_key)

    def val_curve(self) -> list[float]:
        """The validation curve of the judged metric (or of the loss for tasks scored after training)."""
        if self.history is None:
            return []
        m = self.metric
        name = m if any(m in v for v in self.history.val) else "loss"
        return self.history.curve(name)


def record_label(d: Any, fallback: str) -> str:
    """How a message names a stored record: its file (``_source``, set when read from a directory of records; the
    trial key is shared by copies of a file), else its trial key, else ``fallback``."""
    if not isinstance(d, Mapping):
        return fallback
    return str(d.get("_source") or d.get("trial_key") or fallback)


RECORD_NAME_MAX = 200
"""Longest record file name, in bytes: file systems allow 255 per name, and an atomic write's temporary name adds a
few characters to it."""


def record_name(task: str, model: str, budget: float, seed: Any, key: str) -> str:
    """File name of a run record: task, model, budget and seed, plus the config hash. Predictors read records in
    this order, so a set of records fits the same predictor from any directory or store. A name longer than
    :data:`RECORD_NAME_MAX` bytes (a ``--data`` file deep in directories, long explicit densities) is cut: the task
    keeps its end (the data file's name), the model its start; the hash keeps such names apart."""
    def slug(text: str) -> str:
        return "".join(c if c.isalnum() or c in ".-" else "_" for c in text)

    tail = f"-b{int(budget)}-s{seed}-{key[:8]}.json"
    name_task, name_model = slug(task), slug(model)
    name = f"{name_task}-{name_model}{tail}"
    if len(name.encode()) <= RECORD_NAME_MAX:
        return name
    room = RECORD_NAME_MAX - len(tail.encode()) - 1  # task and model, without the '-' between them
    model_bytes = name_model.encode()[: max(room // 2, room - len(name_task.encode()))]
    name_model = model_bytes.decode(errors="ignore")  # a character cut in two is dropped
    name_task = name_task.encode()[len(name_task.encode()) - (room - len(name_model.encode())):].decode(errors="ignore")
    return f"{name_task}-{name_model}{tail}"


def interrupted_record(config: dict[str, Any], key: str | None) -> dict[str, Any]:
    """The record of a trial stopped by Ctrl-C or SIGTERM: a run record of status ``interrupted``, no result.
    Records written before this carried no version or key; :func:`readable` completes them."""
    return {"record_version": RECORD_VERSION, "trial_key": key or "", "status": "interrupted",
            "error": "interrupted by the user", "config": config}


def readable(record: dict[str, Any]) -> dict[str, Any]:
    """A stored record as :meth:`RunRecord.from_dict` reads it: an interrupted trial's record from before
    interrupted records carried a version is completed; every other record is returned as it is."""
    if "record_version" in record or record.get("status") != "interrupted":
        return record
    return {**interrupted_record(record.get("config") or {}, record.get("trial_key")), **record}
