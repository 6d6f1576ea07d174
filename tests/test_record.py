"""The run record schema (balancedrnn.record): round trips, old versions, refusals, and early stopping's record."""

import hashlib
import json
from dataclasses import asdict

import pytest

from balancedrnn.record import RECORD_VERSION, RecordError, RunRecord
from balancedrnn.tasks import rad
from balancedrnn.train import TrainConfig, run_trial


@pytest.fixture(scope="module")
def toy(mnist):
    return rad.generate(mnist, rad.RADConfig(n_train=400, n_val=200, n_test=200, seed=0, transforms=("baseline", "perspective_0.9")))


@pytest.fixture(scope="module")
def record(toy):
    cfg = TrainConfig(model="uniform:0.3", budget=20_000, epochs=2, n_train=400, n_val=200, n_test=200, threads=1)
    r = run_trial(cfg, data=toy, progress=False)
    assert r["status"] == "ok", r["error"]
    return r


def test_a_new_record_round_trips_through_json(record):
    stored = json.loads(json.dumps(record))
    assert RunRecord.from_dict(stored).to_dict() == stored
    assert stored["record_version"] == RECORD_VERSION


def test_typed_view_reads_what_the_trainer_wrote(record):
    rec = RunRecord.from_dict(record)
    assert rec.ok and rec.task_name == "rad" and rec.task.dx == 2500 and rec.task.dy == 10
    assert rec.value == record["final"]["value"] and rec.metric == "accuracy"
    assert rec.val_curve() == [v["accuracy"] for v in record["history"]["val"]]
    assert rec.history.best_epoch == rec.history.stopped_epoch == 2  # no early stopping: the last epoch is kept
    # the sequences each split really had, counted from the data the run was given
    assert rec.data_sizes == record["data_sizes"] == {"train": 400, "val": 200, "test": 200}  # the fixture's sizes


def test_a_version_1_record_is_upgraded(record):
    old = json.loads(json.dumps(record))
    old["record_version"] = 1
    for key in ("best_epoch", "stopped_epoch"):
        del old["history"][key]
    rec = RunRecord.from_dict(old)
    assert rec.history.best_epoch == rec.history.stopped_epoch == len(old["history"]["val"])
    new = rec.to_dict()
    assert new["record_version"] == RECORD_VERSION
    assert {k: v for k, v in new.items() if k not in ("record_version", "history")} == \
        {k: v for k, v in old.items() if k not in ("record_version", "history")}


def test_unknown_keys_are_kept(record):
    d = {**json.loads(json.dumps(record)), "_source": "somewhere.json"}
    assert RunRecord.from_dict(d).to_dict()["_source"] == "somewhere.json"


@pytest.mark.parametrize("bad, message", [
    ({"record_version": 99}, "record_version 99.*newer balancedrnn"),
    ({"record_version": "2"}, "record_version '2'"),
    ({"config": None}, "not a balancedrnn run record"),
    ({"task": {"name": "rad"}}, "does not fit the run-record schema"),
])
def test_records_it_cannot_read_are_refused_in_one_line(record, bad, message):
    with pytest.raises(RecordError, match=message) as e:
        RunRecord.from_dict({**record, **bad})
    assert "\n" not in str(e.value)


def test_early_stopping_keeps_the_best_epoch(toy):
    """A run with patience stops once the validation loss has not improved for that many epochs, and its result
    is the model of its best epoch: the same as a run trained for exactly that many epochs (same seed, same data
    order), which is the obviously-correct reference."""
    base = dict(model="dense", budget=30_000, lr=0.03, n_train=400, n_val=200, n_test=200, threads=1)
    stopped = run_trial(TrainConfig(**base, epochs=12, patience=1), data=toy, progress=False)
    assert stopped["status"] == "ok", stopped["error"]
    h = stopped["history"]
    losses = [v["loss"] for v in h["val"]]
    best = h["best_epoch"]
    assert best == 1 + losses.index(min(losses))
    assert h["stopped_epoch"] == len(losses) < 12, "lr 0.03 should make the validation loss turn up early"
    assert h["stopped_epoch"] - best == 1
    assert stopped["final"]["val"] == h["val"][best - 1]
    exact = run_trial(TrainConfig(**base, epochs=best), data=toy, progress=False)
    assert exact["final"]["test"] == stopped["final"]["test"]
    assert exact["history"]["val"] == h["val"][:best]


def test_patience_beyond_the_epochs_trains_every_epoch_and_keeps_the_best(toy):
    """--patience at least --epochs never stops early but still keeps the best epoch (the documented meaning), the
    same model as a run trained for exactly that many epochs."""
    base = dict(model="dense", budget=30_000, lr=0.03, n_train=400, n_val=200, n_test=200, threads=1)
    run = run_trial(TrainConfig(**base, epochs=5, patience=9), data=toy, progress=False)
    assert run["status"] == "ok", run["error"]
    h = run["history"]
    losses = [v["loss"] for v in h["val"]]
    assert h["stopped_epoch"] == len(losses) == 5
    assert h["best_epoch"] == 1 + losses.index(min(losses)) < 5, "lr 0.03 should make the validation loss turn up"
    exact = run_trial(TrainConfig(**base, epochs=h["best_epoch"]), data=toy, progress=False)
    assert exact["final"]["test"] == run["final"]["test"]


def test_patience_is_validated_and_keeps_old_trial_keys():
    with pytest.raises(ValueError, match="patience must be a non-negative integer"):
        TrainConfig(patience=-1)
    assert TrainConfig(patience=0).key() == TrainConfig().key()
    assert TrainConfig(patience=3).key() != TrainConfig().key()


def test_init_scale_is_validated_and_keeps_old_trial_keys():
    with pytest.raises(ValueError, match="init_scale must be one of fixed, density, fan-in"):
        TrainConfig(init_scale="he")
    assert TrainConfig(init_scale="fixed").key() == TrainConfig().key()
    assert TrainConfig(init_scale="fan-in").key() != TrainConfig(init_scale="density").key() != TrainConfig().key()


def test_records_name_the_data_libraries_installed_without_importing_them():
    """A run's versions name every installed library that makes or reads task data (another kornia could change RAD
    under the same data id), found as a module here, and naming them imports none of them."""
    import importlib.util
    import subprocess
    import sys

    from balancedrnn.env import DATA_LIBRARIES

    code = ("import sys; from balancedrnn.env import versions, DATA_LIBRARIES; v = versions(); "
            "print(sorted(k for k in DATA_LIBRARIES if k in v)); "
            "print(sorted(m for m in ('kornia', 'aeon', 'mujoco', 'gymnasium_robotics', 'minari') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    named, imported = done.stdout.splitlines()
    here = sorted(n for n in DATA_LIBRARIES if importlib.util.find_spec(n.replace("-", "_")) is not None)
    assert named == str(here) and imported == "[]"


def test_what_only_a_block_rnn_reads_does_not_change_a_baselines_trial_key() -> None:
    """A baseline (lstm, ...) has no masked blocks and its own init, so the kernel, readout, activation and init
    leave its run unchanged: they must not name another trial (a sweep over kernels ran the same LSTM once per
    kernel), while a block RNN's still do, and a baseline's key at the defaults is the one stores already hold."""
    lstm = TrainConfig(model="lstm")
    d = {k: v for k, v in asdict(lstm).items() if k not in ("device", "checkpoint", "mnist_dir")}
    for optional in ("dataset", "rollouts", "kernel", "patience", "select_rollouts", "select_every", "init_scale",
                     "rewire", "prune"):  # as older versions wrote it: defaults left out
        d.pop(optional)
    assert lstm.key() == hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]
    for change in ({"kernel": "sparse"}, {"readout": "current"}, {"activation": "tanh"}, {"init_std": 0.5},
                   {"init_mean": 0.1}, {"init_scale": "fan-in"}):
        assert TrainConfig(model="lstm", **change).key() == lstm.key(), change
        assert TrainConfig(model="uniform:0.2", **change).key() != TrainConfig(model="uniform:0.2").key(), change


def test_a_record_file_it_cannot_read_is_named_by_its_file(record, tmp_path):
    """A damaged record in a directory of records (``--records``) is named by its file: the line named the trial
    key, which the intact copy it was made from shares, so it pointed at the wrong file or at none."""
    from balancedrnn.analysis import meta

    (tmp_path / "a-good.json").write_text(json.dumps(record))
    (tmp_path / "b-edited.json").write_text(json.dumps({**record, "record_version": 99}))
    (tmp_path / "c-schema.json").write_text(json.dumps({**record, "task": {"name": "rad"}}))
    records = meta.load_record_dir(tmp_path)
    for i, (rec, name) in enumerate(zip(records[1:], ("b-edited.json", "c-schema.json")), 1):
        with pytest.raises(meta.MetaError) as e:
            meta.record_features(rec, i)
        assert f"record {name} " in str(e.value) and "\n" not in str(e.value)
    stored = {**record, "record_version": 99}  # a store's record has no file: its trial key names it
    with pytest.raises(RecordError, match=f"record {record['trial_key']} has record_version 99"):
        RunRecord.from_dict(stored)


@pytest.mark.parametrize("content", ["null", "[1, 2]", "\"text\"", "3"])
def test_a_record_file_that_holds_no_json_object_is_named_by_its_file(record, tmp_path, content):
    """A *.json file in a records directory that is JSON but not an object (null, a list) was named by its position
    among the files ('record #1'), which no one can map back to a file; the line names the file."""
    from balancedrnn.analysis import meta

    (tmp_path / "a-good.json").write_text(json.dumps(record))
    (tmp_path / "b-other.json").write_text(content)
    with pytest.raises(meta.MetaError) as e:
        meta.prepare_records(meta.load_record_dir(tmp_path))
    assert "b-other.json" in str(e.value) and "\n" not in str(e.value)


def test_git_revision_of_a_copy_installed_inside_a_checkout_is_none(tmp_path):
    """A non-editable install into a virtual environment inside a git checkout (``.venv/`` is ignored) is not that
    checkout's source: its records must not name the checkout's commit (before: ``git rev-parse HEAD`` run from the
    installed package's directory answered with the surrounding repository's HEAD, clean)."""
    import importlib.util
    import shutil
    import subprocess

    import balancedrnn.env

    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text(".venv/\n")
    subprocess.run([*git, "-C", str(tmp_path), "add", ".gitignore"], check=True)
    subprocess.run([*git, "-C", str(tmp_path), "commit", "-qm", "x"], check=True)
    pkg = tmp_path / ".venv" / "site-packages" / "balancedrnn"
    pkg.mkdir(parents=True)
    shutil.copy(balancedrnn.env.__file__, pkg / "env.py")
    spec = importlib.util.spec_from_file_location("installed_env", pkg / "env.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.git_revision() is None
    tracked = tmp_path / "src" / "balancedrnn"  # the checkout's own source: its commit
    tracked.mkdir(parents=True)
    shutil.copy(balancedrnn.env.__file__, tracked / "env.py")
    subprocess.run([*git, "-C", str(tmp_path), "add", "src"], check=True)
    subprocess.run([*git, "-C", str(tmp_path), "commit", "-qm", "src"], check=True)
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    spec = importlib.util.spec_from_file_location("checkout_env", tracked / "env.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.git_revision() == head


@pytest.mark.parametrize("version", [True, 2.0, "2", None])
def test_a_version_that_is_not_an_integer_is_refused(version):
    # JSON true equals 1 and 2.0 equals 2 in Python: neither is a version this library wrote
    with pytest.raises(RecordError, match="has record_version"):
        RunRecord.from_dict({"record_version": version, "trial_key": "k", "config": {"task": "rad"}})


def test_a_record_name_fits_the_file_system_whatever_the_task_and_model(tmp_path):
    """A ``--data`` file's task is named by its whole path, and explicit densities are long: a data file some 250
    characters deep gave a record name over the file system's 255 bytes, so ``train`` trained, then failed to write
    the record ("File name too long", exit 2) and the run was lost (``compare``: every trial's). Long names are now
    cut (the task keeps its end, the data file's name; the key keeps them apart); short ones are as they were."""
    from balancedrnn.io import atomic_write_json
    from balancedrnn.record import record_name

    assert record_name("mnist:cols14", "uniform:0.3", 6500.0, 2, "0123456789abcdef") == \
        "mnist_cols14-uniform_0.3-b6500-s2-01234567.json"
    deep = "file:/" + "/".join(["d" * 100, "e" * 100, "é" * 60, "my_series.csv"])
    dens = ",".join(f"{b}=0.123456789012345" for b in ("hx", "hh", "hy", "yx", "yh", "yy"))
    names = {record_name(deep, m, 1e6, 2**40, k) for m, k in ((dens, "a" * 16), (dens, "b" * 16), ("lstm", "a" * 16))}
    assert len(names) == 3
    for name in names:
        assert len(name.encode()) <= 200 and name.endswith(".json"), name
        assert "my_series.csv-" in name and "-s1099511627776-" in name
        assert atomic_write_json(tmp_path / name, {"ok": 1}).read_text().strip().endswith("}")
    assert record_name(deep, dens, 1e6, 0, "a" * 16).endswith("-b1000000-s0-aaaaaaaa.json")
