"""A store written by an older balancedrnn (before the subpackage layout, run records of version 1) resumes
without re-running its trials, and its records read through the current schema."""

import shutil
from pathlib import Path

import pytest

pytest.importorskip("optuna")
pytest.importorskip("aeon")

from balancedrnn.record import RECORD_VERSION, RunRecord  # noqa: E402
from balancedrnn.sweep import store  # noqa: E402
from balancedrnn.sweep.executor import run_sweep  # noqa: E402
from balancedrnn.sweep.spec import SweepSpec, load_sweep_file  # noqa: E402
from clihelp import run_main_full  # noqa: E402

OLD = Path(__file__).parent / "data" / "old-store"


@pytest.fixture
def old_store(tmp_path):
    shutil.copy(OLD / "store.journal", tmp_path / "store.journal")
    return tmp_path


def test_old_store_resumes_without_rerunning(old_store):
    spec = SweepSpec.from_dict(load_sweep_file(OLD / "sweep.yaml"))
    result = run_sweep(spec, run_dir=old_store, progress=False)
    assert (result.total, result.done, result.queued, result.counts) == (6, 6, 0, {})
    assert result.exit_code == 0


def test_old_records_read_through_the_current_schema(old_store):
    study = store.open_study(store.open_storage(None, old_store, create=False), "old-grid", create=False)
    raw = list(store.iter_records(study))
    assert len(raw) == 6 and {r["record_version"] for r in raw} == {1}
    typed = [RunRecord.from_dict(r) for r in raw]
    assert all(t.ok and t.value is not None and t.record_version == RECORD_VERSION for t in typed)
    assert all(t.history.best_epoch == t.history.stopped_epoch == 1 for t in typed)
    assert {t.config["model"] for t in typed} == {"dense", "uniform:0.3", "balanced"}


def test_old_store_through_the_command_line(old_store, capsys, monkeypatch):
    monkeypatch.chdir(old_store)
    code, out, err = run_main_full(["runs", "--run-dir", ".", "--name", "old-grid"], capsys)
    assert code == 0, err
    assert "6 runs" in out
    code, out, err = run_main_full(["sweep", str(OLD / "sweep.yaml"), "--run-dir", ".", "-q"], capsys)
    assert code == 0, err
