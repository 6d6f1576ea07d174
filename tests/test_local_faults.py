"""Faults of one machine: a full disk under the files and stores the library writes."""

import errno

import pytest
from clihelp import cli_env, run_main


class _FullFile:
    """A file on a full disk: every write fails with ENOSPC."""

    def __init__(self, f):
        self._f = f

    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name):
        return getattr(self._f, name)


def test_a_full_disk_under_torch_save_is_an_os_error_naming_the_file(tmp_path):
    import torch

    from balancedrnn.io import atomic_write

    target = tmp_path / "data.pt"
    with pytest.raises(OSError) as e:  # torch.save turns the write's OSError into RuntimeError "unexpected pos"
        atomic_write(target, lambda f: torch.save({"x": torch.zeros(1000)}, _FullFile(f)))
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(target)
    assert list(tmp_path.iterdir()) == []  # no temporary file, no half-written target


def test_a_full_disk_while_caching_rad_is_one_line_naming_the_file_and_exit_1(mnist_dir, tmp_path, monkeypatch,
                                                                             capsys):
    import torch

    cli_env(tmp_path, monkeypatch)
    save = torch.save
    monkeypatch.setattr(torch, "save", lambda obj, f, *a, **k: save(obj, _FullFile(f), *a, **k))
    code, err = run_main(["data", "rad", "--mnist-dir", mnist_dir, "--n-train", "40", "--n-val", "20",
                          "--n-test", "20", "--quiet"], capsys)
    lines = err.strip().splitlines()
    assert code == 1, err  # the machine failed, not the input: not the 2 of bad input
    assert len(lines) == 1 and lines[0].startswith("error: [Errno 28] No space left on device: "), err
    assert str(tmp_path / "cache" / "rad") in lines[0]
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]  # no cache file a later run would trust


def _torn_journal(mnist_dir, tmp_path):
    """A real journal (a one-trial sweep) whose last record is torn, as a crash or a full disk leaves it."""
    from balancedrnn.sweep.executor import run_sweep
    from balancedrnn.sweep.spec import SweepSpec

    spec = SweepSpec.from_dict({"name": "torn", "base": {"task": "rad", "epochs": 1, "n_train": 40, "n_val": 20,
                                                         "n_test": 20, "budget": 30_000, "lr": 1e-3,
                                                         "mnist_dir": str(mnist_dir), "threads": 1},
                                "sampler": {"kind": "grid", "models": ["dense"], "seeds": [0]}})
    run_sweep(spec, run_dir=tmp_path, progress=False)
    path = tmp_path / "store.journal"
    with open(path, "ab") as f:
        f.write(b'{"op_code":7,"worker_id":"x","trial_id":0,"user_a')
    return path


def test_a_journal_that_cannot_be_repaired_on_a_full_disk_is_left_as_it_was(mnist_dir, tmp_path, monkeypatch):
    import shutil

    from balancedrnn.sweep import store

    path = _torn_journal(mnist_dir, tmp_path)
    before = path.read_bytes()

    def copy_on_a_full_disk(src, dst, *a, **k):
        open(dst, "wb").close()  # the backup is created, then its first write fails
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copy2", copy_on_a_full_disk)
    with pytest.raises(store.StoreError, match=r"store\.journal needs repair .* No space left on device"):
        store.repair_journal(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("store.journal")) == ["store.journal"]


def test_a_store_that_fails_after_the_sweeps_work_is_exit_1_not_2(mnist_dir, tmp_path, monkeypatch, capsys):
    from balancedrnn.sweep import store

    cli_env(tmp_path, monkeypatch)
    open_storage = store.open_storage

    def full_when_read(storage, run_dir="runs", create=True, log=None):
        if not create:  # the results table, read once the workers have ended, meets a full disk
            raise store.StoreError(f"run store {run_dir}/store.journal needs repair (a torn record) but cannot be "
                                   "written: No space left on device; it was not changed")
        return open_storage(storage, run_dir, create, log)

    monkeypatch.setattr(store, "open_storage", full_when_read)
    code, err = run_main(["sweep", "--models", "dense", "--seeds", "1", "--budget", "30000", "--set", "epochs=1",
                          "--set", "n_train=40", "--set", "n_val=20", "--set", "n_test=20", "--set",
                          f"mnist_dir={mnist_dir}", "--run-dir", tmp_path, "--name", "full", "--quiet"], capsys)
    assert code == 1, err  # the trial ran and was recorded: not bad input
    assert err.strip().splitlines()[-1].startswith("error: sweep full lost its run store (run store "), err


def test_trials_that_finish_while_stale_ones_are_sought_are_not_counted_as_released(tmp_path, monkeypatch):
    import optuna

    from balancedrnn.sweep import store

    monkeypatch.setenv("BALANCEDRNN_STORE_GRACE", "1")  # Optuna's heartbeat: every second, stale after 2 s
    study = store.open_study(store.open_storage(f"sqlite:///{tmp_path / 'store.db'}"), "race")
    store.enqueue_missing(study, [{"model": "dense"}, {"model": "balanced"}], ["a", "b"])
    live = store.claim(study)
    fail_stale = optuna.storages.fail_stale_trials

    def a_live_worker_finishes_meanwhile(s):
        fail_stale(s)
        live.set_user_attr("status", "ok")
        s.tell(live, values=0.5)

    monkeypatch.setattr(optuna.storages, "fail_stale_trials", a_live_worker_finishes_meanwhile)
    assert store.release_stale(study) == 0  # before: 1, "took over 1 trial(s) of workers that died"
    monkeypatch.setattr(optuna.storages, "fail_stale_trials", fail_stale)
    dead = store.claim(study)  # claimed, beat once, then its worker is gone (on another machine)
    dead.set_user_attr("worker", {"host": "elsewhere", "pid": 1})
    import time

    time.sleep(3)
    assert store.release_stale(study) == 1


def test_commands_creating_one_database_stores_tables_at_once_all_open_it(tmp_path, monkeypatch):
    import optuna
    import sqlalchemy

    from balancedrnn.sweep import store

    url = f"sqlite:///{tmp_path / 'store.db'}"
    rdb = optuna.storages.RDBStorage
    raced = []

    class SecondToCreate(rdb):  # another command created the tables a moment before this one
        def __init__(self, *args, **kwargs):
            if not raced:
                raced.append(rdb(url))
                raise sqlalchemy.exc.OperationalError("CREATE TABLE studies", {},
                                                      Exception("table studies already exists"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(optuna.storages, "RDBStorage", SecondToCreate)
    study = store.open_study(store.open_storage(url), "together")  # before: "cannot open storage ...", exit 2
    assert raced and study.study_name == "together"


def test_records_of_a_resumed_sweep_come_in_the_order_of_an_uninterrupted_one(tmp_path):
    from balancedrnn.sweep import store

    study = store.open_study(store.open_storage(tmp_path / "store.journal"), "order")
    keys = ["k0", "k1", "k2"]
    store.enqueue_missing(study, [{"model": k} for k in keys], keys)

    def run(status):
        trial = store.claim(study)
        key = trial.user_attrs["key"]
        store.finish(study, trial, {"status": status, "trial_key": key, "final": {"value": 0.5}})
        return key

    assert run("ok") == "k0"
    assert run("interrupted") == "k1"  # Ctrl-C: the next command queues k1 again, as a new trial
    assert store.enqueue_missing(study, [{"model": k} for k in keys], keys) == 1
    assert sorted([run("ok"), run("ok")]) == ["k1", "k2"]
    assert [r["trial_key"] for r in store.iter_records(study)] == keys  # before: k0, k2, k1 (trial numbers)
    assert [r["status"] for r in store.iter_records(study, include_unfinished=True, latest=False)] == [
        "ok", "interrupted", "ok", "ok"]


def test_the_runs_command_a_failed_sweep_suggests_finds_its_store(mnist_dir, tmp_path, monkeypatch, capsys):
    cli_env(tmp_path, monkeypatch)
    store_dir = tmp_path / "elsewhere"
    code, err = run_main(["sweep", "--models", "dense", "--seeds", "1", "--budget", "30000", "--set", "epochs=1",
                          "--set", "n_train=40", "--set", "n_val=20", "--set", "n_test=20", "--set", "lr=1e30",
                          "--set", f"mnist_dir={mnist_dir}", "--run-dir", store_dir, "--name", "nan", "--quiet"],
                         capsys)
    assert code == 1, err
    suggested = err.split("(see `balancedrnn ", 1)[1].split("`", 1)[0].split()
    assert suggested[:3] == ["runs", "--name", "nan"], err
    code, err = run_main(suggested, capsys)  # before: no --run-dir, "no run store at runs/store.journal"
    assert code == 0, err


def test_a_killed_worker_whose_trial_another_worker_finished_is_not_told_to_be_run_again():
    from balancedrnn.cli import _sweep_shortfall
    from balancedrnn.sweep.executor import SweepResult

    killed = ["worker 0 (pid 7) was killed by signal 9"]
    taken_over = SweepResult(total=6, done=6, queued=6, released=1, crashed=killed, final_counts={"ok": 6})
    assert taken_over.exit_code == 1  # a worker died: said, as docs/sweeps.md's exit codes promise
    assert "run the same command" not in _sweep_shortfall("k9", taken_over)  # nothing is left to run
    left = SweepResult(total=6, done=5, queued=6, released=1, crashed=killed, final_counts={"ok": 5})
    assert "run the same command to finish its trial" in _sweep_shortfall("k9", left)


def test_a_read_only_command_on_a_missing_sqlite_file_creates_nothing(tmp_path, monkeypatch, capsys):
    cli_env(tmp_path, monkeypatch)
    code, err = run_main(["runs", "--storage", f"sqlite:///{tmp_path / 'none.db'}", "--name", "x"], capsys)
    assert code == 2 and err.strip() == f"error: no run store at {tmp_path / 'none.db'} (nothing has been run there; " \
                                        "give --run-dir or --storage)", err
    assert not (tmp_path / "none.db").exists()  # before: SQLite created an empty file


def test_an_atomic_write_flushes_the_directory_after_the_rename(tmp_path, monkeypatch):
    """A record is durable only when its rename is: after os.replace the directory itself is fsynced (it was not,
    so a power cut could leave the old file or none, though the new bytes were on disk)."""
    import os
    import stat

    from balancedrnn import io

    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", stat.S_ISDIR(os.fstat(fd).st_mode))),
                                                 real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("replace", None)), real_replace(a, b))[1])
    io.atomic_write_json(tmp_path / "r.json", {"a": 1})
    assert events == [("fsync", False), ("replace", None), ("fsync", True)]
