"""Run store: run records kept in an Optuna study, embedded (a journal file) or in PostgreSQL.

Every trial carries the hash of its config (``key``). A config counts as *done* once a trial with its key
has finished with a record (``ok``, ``failed``, ``diverged`` or ``timeout``); a trial that was interrupted,
or whose worker died (its heartbeat went stale or its process is gone), is released and its config runs
again. Several processes or machines can work on one study at once: claiming goes through Optuna's
queue of waiting trials, and when two trials of one key run at once the lower-numbered one wins.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FINISHED_STATUSES = ("ok", "failed", "diverged", "timeout")
HEARTBEAT_SECONDS = 20.0
GRACE_SECONDS = 120.0


class StoreError(ValueError):
    """A storage URL or study that cannot be used. The message is one line."""


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise StoreError("sweeps need Optuna: pip install 'balancedrnn[sweep]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def open_storage(storage: str | Path | None, run_dir: str | Path = "runs") -> Any:
    """An Optuna storage: ``None`` → journal file ``<run_dir>/store.journal``; a path → that journal file;
    ``postgresql://...`` (or any SQLAlchemy URL) → an RDB storage. Unreachable servers fail with one line."""
    optuna = _optuna()
    if storage is None or "://" not in str(storage):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

        path = Path(storage) if storage is not None else Path(run_dir) / "store.journal"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                path.touch()
        except OSError as e:
            raise StoreError(f"cannot create the run store {path}: {e.strerror}") from None
        if not os.access(path, os.W_OK):
            raise StoreError(f"run store {path} is not writable")
        return JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path))))
    url = _driver_url(str(storage))
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True, "connect_args": _connect_args(url)})
    except ImportError as e:
        raise StoreError(f"storage {_redact(url)} needs a database driver that is not installed ({e.name})") from None
    except Exception as e:  # noqa: BLE001 - SQLAlchemy/driver errors of every kind
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise StoreError(f"cannot open storage {_redact(url)}: {first}") from None


def _driver_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 when psycopg2 is not installed (the ``sweep`` extra ships psycopg 3)."""
    if url.startswith(("postgresql://", "postgres://")):
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _connect_args(url: str) -> dict[str, Any]:
    return {"connect_timeout": 10} if url.startswith("postgresql") else {}


def _redact(url: str) -> str:
    """URL without its password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        cred, host = rest.rsplit("@", 1)
        user = cred.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


def open_study(storage: Any, name: str, create: bool = True) -> Any:
    """The study ``name`` in ``storage`` (created when ``create``); direction: maximise the metric."""
    optuna = _optuna()
    if create:
        return optuna.create_study(storage=storage, study_name=name, load_if_exists=True, direction="maximize")
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        raise StoreError(f"no study {name!r} in this store; studies: {', '.join(names) or 'none'}") from None


def _trials(study: Any, states: tuple[Any, ...] | None = None) -> list[Any]:
    return study.get_trials(deepcopy=False, states=states)


def _status(trial: Any) -> str | None:
    rec = trial.user_attrs.get("record")
    return rec.get("status") if isinstance(rec, dict) else trial.user_attrs.get("status")


def is_done(trial: Any) -> bool:
    """A finished trial with a final record (not interrupted, not a duplicate)."""
    from optuna.trial import TrialState

    return trial.state in (TrialState.COMPLETE, TrialState.FAIL) and _status(trial) in FINISHED_STATUSES


def done_keys(study: Any) -> set[str]:
    """Keys of the configs that already have a final record."""
    return {t.user_attrs["key"] for t in _trials(study) if "key" in t.user_attrs and is_done(t)}


def enqueue_missing(study: Any, configs: list[dict[str, Any]], keys: list[str]) -> int:
    """Queue every config whose key is neither done, running nor waiting. Returns how many were queued."""
    from optuna.trial import TrialState

    present = set()
    for t in _trials(study):
        key = t.user_attrs.get("key")
        if key is None:
            continue
        if t.state in (TrialState.WAITING, TrialState.RUNNING) or is_done(t):
            present.add(key)
    n = 0
    for cfg, key in zip(configs, keys):
        if key not in present:
            study.enqueue_trial({}, user_attrs={"key": key, "config": cfg})
            present.add(key)
            n += 1
    return n


def _pid_alive(pid: int) -> bool:
    """Whether a process of this host is alive (a zombie, killed but not yet reaped, counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True


def release_stale(study: Any, grace: float = GRACE_SECONDS) -> int:
    """Mark running trials of dead workers as interrupted and queue their configs again. Returns how many."""
    from optuna.trial import TrialState

    storage = study._storage
    host, now, n = socket.gethostname(), time.time(), 0
    for t in _trials(study, (TrialState.RUNNING,)):
        w = t.user_attrs.get("worker") or {}
        beat = t.user_attrs.get("heartbeat", w.get("started", 0.0))
        dead = (w.get("host") == host and w.get("pid") and not _pid_alive(int(w["pid"]))) or now - float(beat) > grace
        if not dead:
            continue
        try:
            storage.set_trial_user_attr(t._trial_id, "status", "interrupted")
            storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
        except Exception:  # noqa: BLE001 - another process finished or released it first
            continue
        if "config" in t.user_attrs:
            enqueue_missing(study, [t.user_attrs["config"]], [t.user_attrs["key"]])
        n += 1
    return n


def worker_info() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}


def claim(study: Any) -> Any | None:
    """Pop one queued trial for this worker, or None when the queue is empty.

    A popped trial whose key is already done, or is being run by a lower-numbered trial, is dropped (marked
    a duplicate) and the next one is taken.
    """
    from optuna.trial import TrialState

    while True:
        if not _trials(study, (TrialState.WAITING,)):
            return None
        trial = study.ask()
        key = trial.user_attrs.get("key")
        if key is None:  # the queue emptied between the check and the pop: this trial has no work
            study.tell(trial, state=TrialState.FAIL)
            study._storage.set_trial_user_attr(trial._trial_id, "status", "no-work")
            continue
        trial.set_user_attr("worker", worker_info())
        trial.set_user_attr("heartbeat", time.time())
        rivals = [
            t for t in _trials(study)
            if t.user_attrs.get("key") == key and t.number != trial.number
            and (is_done(t) or (t.state == TrialState.RUNNING and t.number < trial.number))
        ]
        if rivals:
            trial.set_user_attr("status", "duplicate")
            study.tell(trial, state=TrialState.FAIL)
            continue
        return trial


class Heartbeat:
    """Context manager that refreshes a running trial's heartbeat from a background thread."""

    def __init__(self, trial: Any, every: float = HEARTBEAT_SECONDS) -> None:
        self.trial, self.every = trial, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.trial.set_user_attr("heartbeat", time.time())
            except Exception:  # noqa: BLE001 - the trial may have been finished meanwhile
                return

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def finish(study: Any, trial: Any, record: dict[str, Any]) -> None:
    """Store the record on the trial and close it: COMPLETE with the metric when ok, FAIL otherwise."""
    from optuna.trial import TrialState

    trial.set_user_attr("record", json.loads(json.dumps(record, default=str, allow_nan=True)))
    trial.set_user_attr("status", record["status"])
    value = (record.get("final") or {}).get("value")
    if record["status"] == "ok" and value is not None:
        study.tell(trial, values=float(value))
    else:
        study.tell(trial, state=TrialState.FAIL)


def iter_records(study: Any, include_unfinished: bool = False) -> Iterator[dict[str, Any]]:
    """Final run records of a study (and, with ``include_unfinished``, interrupted ones)."""
    for t in _trials(study):
        rec = t.user_attrs.get("record")
        if isinstance(rec, dict) and (include_unfinished or rec.get("status") in FINISHED_STATUSES):
            yield rec
