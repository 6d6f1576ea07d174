"""Real time-series tasks from the data sets aeon ships: offline loading, true sizes, splits, normalisation,
pre-padding, errors, and one tiny training run."""

import socket
import subprocess
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("aeon")

from aeon.datasets import load_from_timeeval_csv_file, load_from_ts_file  # noqa: E402

from balancedrnn import tasks  # noqa: E402
from balancedrnn.tasks import timeseries as ts  # noqa: E402
from balancedrnn.io import DataError  # noqa: E402
from balancedrnn.tasks import TaskError, get_task, task_names  # noqa: E402
from balancedrnn.train import TrainConfig, run_trial  # noqa: E402

# the data sets of timeseries.DATASETS (the zoo adds other ts: tasks built on them; tests/test_zoo.py has those)
TS_TASKS = [n for n in task_names() if n.startswith(ts.TASK_PREFIX) and n.removeprefix(ts.TASK_PREFIX) in ts.DATASETS]
CLASSIFICATION = [n for n in TS_TASKS if ts.DATASETS[n.removeprefix(ts.TASK_PREFIX)].kind == "classification"]


@pytest.fixture(scope="module", autouse=True)
def _no_network():
    """Loading must work offline: any connection attempt in this module fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("a time-series loader tried to use the network")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket, "create_connection", refuse)
        yield


@pytest.fixture(scope="module")
def loaded(_no_network):
    """Every registered time-series data set, loaded once (they are small)."""
    return {name: get_task(name).load(TrainConfig(task=name), False) for name in TS_TASKS}


def _raw(name):
    info = ts.DATASETS[name]
    base = ts.aeon_data_dir()
    X_tr, y_tr = load_from_ts_file(str(base / info.files[0]))
    X_te, y_te = load_from_ts_file(str(base / info.files[1]))
    return list(X_tr), y_tr, list(X_te), y_te


def test_at_least_five_classification_sets_and_one_anomaly_set_are_registered():
    assert len(CLASSIFICATION) >= 5
    for name in ("ts:BasicMotions", "ts:GunPoint", "ts:ItalyPowerDemand", "ts:ArrowHead", "ts:JapaneseVowels"):
        assert name in TS_TASKS
    assert f"{ts.TASK_PREFIX}{ts.ANOMALY_NAME}" in TS_TASKS


@pytest.mark.parametrize("name", TS_TASKS)
def test_task_loads_offline_with_its_declared_sizes(name, loaded):
    task = get_task(name)
    info = ts.DATASETS[name.removeprefix(ts.TASK_PREFIX)]
    data = loaded[name]
    assert (task.loss, task.metric) == ("last", "accuracy")
    assert (data.dx, data.dy) == (task.dx, task.dy) == (info.dx, info.dy)
    assert "aeon" in data.source and info.name in data.source
    lengths = torch.cat([data[s].lengths for s in ts.SPLITS])
    assert (int(lengths.min()), int(lengths.max())) == info.lengths
    if info.kind == "classification":
        assert (len(data["train"]) + len(data["val"]), len(data["test"])) == info.sizes
    for split in ts.SPLITS:
        part = data[split]
        x, y = next(part.batches(7))
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.shape == (min(7, len(part)), info.lengths[1], info.dx)
        assert part.target.dtype == torch.int64
        assert 0 <= int(part.target.min()) and int(part.target.max()) < info.dy
        assert torch.isfinite(part.x).all()
    assert set(data["train"].target.tolist()) == set(range(info.dy))  # every class is trained on


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_standard_split_kept_and_validation_carved_from_train(name, loaded):
    data = loaded[name]
    info = ts.DATASETS[name.removeprefix(ts.TASK_PREFIX)]
    train, val, test = (data[s].index.tolist() for s in ts.SPLITS)
    assert not set(train) & set(val)
    assert sorted(train + val) == list(range(info.sizes[0]))
    assert test == list(range(info.sizes[1]))
    # no series (as content) is shared between the training files and the test file
    seen = {bytes(row.numpy().tobytes()) for s in ("train", "val") for row in data[s].x}
    assert not any(bytes(row.numpy().tobytes()) in seen for row in data["test"].x)


def test_validation_is_stratified_and_seeded():
    a = ts.load_dataset("JapaneseVowels", seed=0)
    b = ts.load_dataset("JapaneseVowels", seed=0)
    c = ts.load_dataset("JapaneseVowels", seed=1)
    assert torch.equal(a["val"].index, b["val"].index) and not torch.equal(a["val"].index, c["val"].index)
    counts_val = torch.bincount(a["val"].target, minlength=9)
    counts_all = counts_val + torch.bincount(a["train"].target, minlength=9)
    assert torch.all((counts_val - ts.VAL_FRACTION * counts_all).abs() <= 1)


def test_labels_map_to_sorted_order():
    assert ts.sort_labels(["10", "2", "1"]) == ("1", "2", "10")
    assert ts.sort_labels(["walking", "badminton"]) == ("badminton", "walking")
    data = ts.load_dataset("BasicMotions")
    assert data.classes == ("badminton", "running", "standing", "walking")
    X_tr, y_tr, _, _ = _raw("BasicMotions")
    rows = data["train"].index.numpy()
    assert [data.classes[t] for t in data["train"].target.tolist()] == [str(y_tr[r]) for r in rows]


@pytest.mark.parametrize("name", ["JapaneseVowels", "GunPoint"])
def test_normalisation_uses_training_statistics_only(name):
    data = ts.load_dataset(name)
    X_tr, _, X_te, _ = _raw(name)
    train_rows = data["train"].index.numpy()
    steps = np.concatenate([np.asarray(X_tr[r], dtype=np.float64).T for r in train_rows])
    np.testing.assert_allclose(data.mean, steps.mean(0), rtol=1e-10)
    np.testing.assert_allclose(data.std, np.maximum(steps.std(0), ts.STD_FLOOR), rtol=1e-10)
    # the training split's real steps have mean ~0 and std ~1 per channel
    part = data["train"]
    T = part.x.shape[1]
    real = torch.cat([part.x[i, T - int(n) :] for i, n in enumerate(part.lengths)]).double()
    assert torch.allclose(real.mean(0), torch.zeros(data.dx, dtype=torch.float64), atol=1e-4)
    assert torch.allclose(real.std(0, unbiased=False), torch.ones(data.dx, dtype=torch.float64), atol=1e-4)
    # the test split goes through the same (training) affine map
    for i in (0, len(X_te) - 1):
        s = np.asarray(X_te[i], dtype=np.float64).T
        expected = (s - data.mean) / data.std
        np.testing.assert_allclose(data["test"].x[i, T - s.shape[0] :].numpy(), expected, rtol=1e-5, atol=1e-5)


def test_constant_channel_is_floored_not_divided_by_zero():
    X = [np.ones((2, 5)) for _ in range(4)]
    raw = {s: (X, ["a", "b", "a", "b"]) for s in ts.SPLITS}
    data = ts.build_data("const", raw, "test")
    assert np.all(data.std == ts.STD_FLOOR) and torch.isfinite(data["train"].x).all()


@pytest.mark.parametrize("name", ["JapaneseVowels", "PickupGestureWiimoteZ"])
def test_padding_is_at_the_start_and_the_last_step_is_real(name):
    data = ts.load_dataset(name)
    raw = _raw(name)
    files = {"train": raw[0], "val": raw[0], "test": raw[2]}
    assert len(set(torch.cat([data[s].lengths for s in ts.SPLITS]).tolist())) > 1  # really variable length
    for split in ts.SPLITS:
        part = data[split]
        T = part.x.shape[1]
        for i in range(len(part)):
            n = int(part.lengths[i])
            series = np.asarray(files[split][int(part.index[i])], dtype=np.float64).T
            assert n == series.shape[0]
            assert torch.all(part.x[i, : T - n] == 0)
            expected = (series - data.mean) / data.std
            np.testing.assert_allclose(part.x[i, T - n :].numpy(), expected, rtol=1e-5, atol=1e-5)
            assert bool(part.x[i, -1].abs().sum() > 0)


def test_anomaly_windows_are_balanced_labelled_and_do_not_leak_normal_context():
    name = ts.ANOMALY_NAME
    data = ts.load_dataset(name)
    X, y = load_from_timeeval_csv_file(ts.aeon_data_dir() / ts.DATASETS[name].files[1])
    W = ts.ANOMALY_WINDOW
    spans = {}
    for split in ts.SPLITS:
        part = data[split]
        assert int(part.target.sum()) * 2 == len(part)  # balanced: chance is 0.5
        for end, label in zip(part.index.tolist(), part.target.tolist()):
            assert label == int(y[end - W + 1 : end + 1].any())
        spans[split] = [(e - W + 1, e) for e, lab in zip(part.index.tolist(), part.target.tolist()) if lab == 0]
    positives = torch.cat([data[s].index[data[s].target == 1] for s in ts.SPLITS])
    pos_lo, pos_hi = int(positives.min()) - W + 1, int(positives.max())
    for split, negs in spans.items():
        for lo, hi in negs:
            assert hi < pos_lo or lo > pos_hi  # normal windows never touch the anomalous stretch
            for other in ts.SPLITS:
                if other != split:
                    assert all(hi < lo2 or lo > hi2 for lo2, hi2 in spans[other])
    end = int(data["train"].index[0])
    expected = (X[end - W + 1 : end + 1] - data.mean[0]) / data.std[0]
    np.testing.assert_allclose(data["train"].x[0, :, 0].numpy(), expected, rtol=1e-5, atol=1e-5)


def test_unknown_task_lists_known_names():
    with pytest.raises(TaskError) as e:
        get_task("ts:NoSuchSet")
    assert "ts:BasicMotions" in str(e.value) and "rad" in str(e.value)
    with pytest.raises(DataError):
        ts.load_dataset("NoSuchSet")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_is_a_one_line_data_error(bad):
    X = [np.random.default_rng(0).normal(size=(3, 10)) for _ in range(4)]
    raw = {s: (list(X), ["a", "b", "a", "b"]) for s in ts.SPLITS}
    broken = [x.copy() for x in X]
    broken[2][1, 4] = bad
    raw["test"] = (broken, ["a", "b", "a", "b"])
    with pytest.raises(DataError) as e:
        ts.build_data("toy", raw, "test")
    assert "\n" not in str(e.value) and "test" in str(e.value) and "NaN" in str(e.value)


def test_registering_reads_no_data_and_does_not_import_aeon():
    code = "import sys, balancedrnn.tasks as t; t.task_names(); assert 'aeon' not in sys.modules, 'aeon imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_without_aeon_the_tasks_are_just_absent(monkeypatch):
    def missing():
        raise ImportError("aeon is not installed")

    monkeypatch.setattr(tasks, "_REGISTRY", {})
    monkeypatch.setattr(ts, "aeon_data_dir", missing)
    names = task_names()
    assert "rad" in names and not any(n.startswith(ts.TASK_PREFIX) for n in names)


def test_tiny_dense_run_on_basic_motions_beats_chance(loaded):
    # n_train/n_val/n_test are RAD's sizes and are ignored by time-series tasks (the archive fixes the sizes)
    cfg = TrainConfig(task="ts:BasicMotions", model="dense", budget=10_000, epochs=30, lr=3e-3, batch_size=8,
                      n_train=10, threads=1)
    record = run_trial(cfg, progress=False)
    assert record["status"] == "ok", record["error"]
    assert record["task"]["dx"] == 6 and record["task"]["dy"] == 4
    assert "BasicMotions" in record["data_source"]
    assert record["final"]["value"] > 0.4  # chance is 0.25 (four balanced classes)


def test_time_series_task_without_aeon_names_the_extra():
    """Without aeon a ts: task is not 'unknown': the error says which extra brings it."""
    import subprocess
    import sys

    code = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "aeon" or name.startswith("aeon."):
            raise ImportError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Block())
from balancedrnn.tasks import TaskError, get_task
try:
    get_task("ts:BasicMotions")
except TaskError as e:
    print(e)
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.stdout.strip() == "task 'ts:BasicMotions' needs aeon, which is not installed: pip install 'balancedrnn[timeseries]'", \
        res.stdout + res.stderr
