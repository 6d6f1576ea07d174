import json
import math

import pytest
import torch

from balancedrnn.tasks import rad
from balancedrnn.tasks import TaskError, get_task
from balancedrnn.train import TrainConfig, loss_fn, run_trial, write_record


@pytest.fixture(scope="module")
def toy(mnist):
    """RAD with only the easy pair of transforms (identity vs strong perspective)."""
    return rad.generate(mnist, rad.RADConfig(n_train=600, n_val=200, n_test=200, seed=0, transforms=("baseline", "perspective_0.9")))


def test_loss_only_at_last_step():
    task = get_task("rad")
    out = torch.randn(8, 11, 10, requires_grad=True)
    target = torch.randint(0, 10, (8,))
    loss = loss_fn(task, out, target)
    loss.backward()
    assert torch.equal(out.grad[:, :-1], torch.zeros(8, 10, 10))
    assert out.grad[:, -1].abs().sum() > 0
    changed = out.detach().clone()
    changed[:, :-1] += 100.0
    assert loss_fn(task, changed, target).item() == pytest.approx(loss.item())


def test_tiny_model_learns_toy_rad_well_above_chance(toy):
    cfg = TrainConfig(model="balanced", budget=30_000, lr=3e-3, epochs=4, n_train=600, n_val=200, n_test=200, threads=1)
    record = run_trial(cfg, data=toy, progress=False)
    assert record["status"] == "ok", record["error"]
    assert record["final"]["value"] > 0.5  # chance is 0.1
    assert record["history"]["train_loss"][-1] < record["history"]["train_loss"][0]


def test_same_seed_same_numbers(toy):
    cfg = TrainConfig(model="uniform:0.3", budget=20_000, epochs=1, n_train=600, n_val=200, n_test=200, threads=1)
    a = run_trial(cfg, data=toy, progress=False)
    b = run_trial(cfg, data=toy, progress=False)
    assert a["history"] == b["history"] and a["final"] == b["final"]
    c = run_trial(TrainConfig(**{**cfg.__dict__, "seed": 1}), data=toy, progress=False)
    assert c["history"] != a["history"]


def test_record_contents(toy, tmp_path):
    cfg = TrainConfig(model="lstm", budget=120_000, epochs=1, n_train=600, n_val=200, n_test=200, threads=1)
    r = run_trial(cfg, data=toy, progress=False)
    assert r["status"] == "ok"
    for key in ("config", "seed", "model", "history", "final", "wall_time", "threads", "device", "versions", "git_revision", "trial_key"):
        assert key in r
    assert r["model"]["dh"] == r["model"]["dh"] and r["model"]["weights"] > 0
    assert set(r["final"]["test"]["accuracy_by_anomaly"]) <= set(rad.TRANSFORMS)
    path = write_record(r, tmp_path)
    assert json.loads(path.read_text())["trial_key"] == r["trial_key"]


def test_failures_become_records(toy):
    r = run_trial(TrainConfig(model="dense", budget=100, epochs=1, n_train=600, n_val=200, n_test=200), data=toy, progress=False)
    assert r["status"] == "failed" and "smallest feasible budget" in r["error"]
    r = run_trial(TrainConfig(model="dense", budget=30_000, lr=1e30, epochs=2, n_train=600, n_val=200, n_test=200, init_std=1e3), data=toy, progress=False)
    assert r["status"] == "diverged" and "loss became" in r["error"]


def test_a_run_whose_validation_loss_blows_up_is_diverged_not_ok(toy, monkeypatch):
    """A zoo run once trained with a finite training loss of ~1e13 and an infinite validation loss at every epoch,
    and was recorded ok with a test skill of -8e15. The validation loss is checked like the training loss."""
    import balancedrnn.train as train

    real = train.evaluate

    def overflowing(model, split, task, **kw):
        out = real(model, split, task, **kw)
        return {**out, "loss": float("inf")} if split is toy.splits["val"] else out

    monkeypatch.setattr(train, "evaluate", overflowing)
    cfg = TrainConfig(model="dense", budget=30_000, epochs=2, n_train=600, n_val=200, n_test=200, threads=1)
    r = run_trial(cfg, data=toy, progress=False)
    assert r["status"] == "diverged" and "validation loss became inf in epoch 1" in r["error"]

    def test_overflows(model, split, task, **kw):  # finite on the validation split, not on the test split
        out = real(model, split, task, **kw)
        return {**out, "loss": float("nan")} if split is toy.splits["test"] else out

    monkeypatch.setattr(train, "evaluate", test_overflows)  # was recorded ok, with the accuracy of NaN outputs
    r = run_trial(TrainConfig(**{**cfg.__dict__, "epochs": 1}), data=toy, progress=False)
    assert r["status"] == "diverged" and r["error"].startswith("test loss became nan"), r["error"]
    assert "final" not in r and len(r["history"]["val"]) == 1


def test_config_errors():
    with pytest.raises(ValueError, match="unknown config key"):
        TrainConfig.from_dict({"modle": "dense"})
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=-1)
    with pytest.raises(TaskError, match="known tasks: .*rad"):
        get_task("nope")
    assert not math.isnan(TrainConfig().budget)


def test_checkpoint_written_atomically_each_epoch(toy, tmp_path):
    path = tmp_path / "ckpt" / "model.pt"
    cfg = TrainConfig(model="uniform:0.3", budget=20_000, epochs=2, n_train=600, n_val=200, n_test=200, threads=1,
                      checkpoint=str(path))
    record = run_trial(cfg, data=toy, progress=False)
    assert record["status"] == "ok"
    state = torch.load(path, weights_only=False)
    assert state["epoch"] == 2 and "model" in state and "optimizer" in state
    assert not list(path.parent.glob(".*.tmp"))  # no temporary file left behind


def test_on_epoch_sees_every_validated_epoch_and_leaves_training_unchanged(toy):
    from balancedrnn.train import build_for_task, fit

    cfg = TrainConfig(model="uniform:0.3", budget=20_000, epochs=2, n_train=600, n_val=200, n_test=200, threads=1)
    task = get_task("rad")
    plain = fit(build_for_task(cfg, task), toy, task, cfg, progress=False)
    seen = []

    def look(epoch, model, val):
        seen.append((epoch, val["loss"]))
        model.eval()  # the loop puts the model back in training mode

    hooked = fit(build_for_task(cfg, task), toy, task, cfg, progress=False, on_epoch=look)
    assert seen == [(i + 1, v["loss"]) for i, v in enumerate(plain.val)]
    assert hooked.train_loss == plain.train_loss


def test_config_refuses_rollouts_and_dataset_a_task_would_not_read():
    """``rollouts`` and ``dataset`` are read only by the Hammer tasks. Set on another task (a sweep file's base, or
    ``reproduce --set``), they were accepted, changed the trial's key and record, and changed nothing else, so two
    sweeps that differed only in them ran the same trials twice under different keys."""
    with pytest.raises(ValueError, match=r"rollouts is for a task scored by rollouts \(hammer\), not 'rad'"):
        TrainConfig(task="rad", rollouts=5)
    with pytest.raises(ValueError, match=r"rollouts is for a task scored by rollouts \(hammer\), not 'hammer:actions'"):
        TrainConfig(task="hammer:actions", rollouts=5)  # the zoo's Hammer regression task runs no rollouts
    with pytest.raises(ValueError, match=r"dataset is for the Hammer tasks \(hammer, hammer:actions\), not 'mnist:rows'"):
        TrainConfig(task="mnist:rows", dataset="x/y-v0")
    assert TrainConfig(task="hammer", rollouts=5, dataset="x/y-v0").rollouts == 5
    assert TrainConfig(task="hammer:actions", dataset="x/y-v0").dataset == "x/y-v0"
    assert TrainConfig(task="rad", rollouts=TrainConfig.rollouts).key() == TrainConfig(task="rad").key()
    # select_every likewise, without select_rollouts (a sweep file's or --set's): it was keyed, recorded and ignored
    with pytest.raises(ValueError, match="select_every sets how often select_rollouts checks the policy; with "
                                         "select_rollouts 0 it is read by nothing"):
        TrainConfig(task="hammer", select_every=4)
    assert TrainConfig(task="hammer", select_rollouts=3, select_every=3).select_every == 3
    assert TrainConfig(task="hammer", select_every=TrainConfig.select_every).key() == TrainConfig(task="hammer").key()


def test_a_diverged_run_keeps_the_curve_of_the_epochs_it_validated(toy, monkeypatch):
    """A run that diverged in its second epoch was recorded without any history: the first epoch's training loss and
    validation (the learning curve a meta-learner reads, SPEC §7-8) were lost. The record now holds the epochs
    validated before the failure, equal to those of the same run stopped after them, and keeps no epoch."""
    import balancedrnn.train as train

    cfg = TrainConfig(model="dense", budget=30_000, epochs=3, n_train=600, n_val=200, n_test=200, threads=1)
    one = run_trial(TrainConfig(**{**cfg.__dict__, "epochs": 1}), data=toy, progress=False)
    real, calls = train.evaluate, []

    def blows_up_in_epoch_2(model, split, task, **kw):
        out = real(model, split, task, **kw)
        if split is toy.splits["val"]:
            calls.append(1)
            if len(calls) == 2:
                return {**out, "loss": float("nan")}
        return out

    monkeypatch.setattr(train, "evaluate", blows_up_in_epoch_2)
    r = run_trial(cfg, data=toy, progress=False)
    assert r["status"] == "diverged" and "epoch 2" in r["error"]
    assert r["history"]["val"] == one["history"]["val"]
    assert r["history"]["train_loss"] == one["history"]["train_loss"]
    assert r["history"]["stopped_epoch"] == 1 and "best_epoch" not in r["history"]
    from balancedrnn.record import RunRecord

    assert RunRecord.from_dict(r).history.best_epoch is None  # read back: still no kept epoch


def test_checkpoint_holds_the_weights_early_stopping_kept(toy, tmp_path):
    """With --patience the run restores its best epoch's weights and scores them, but the checkpoint still held the
    last epoch's: a user who loaded it got a model other than the one the record's test metric describes. Reference:
    the same run's own model after fit, and a plain run stopped after the best epoch."""
    import balancedrnn.train as train
    from balancedrnn.train import build_for_task, fit

    real, calls = train.evaluate, []

    def best_at_epoch_1(model, split, task, **kw):  # validation loss rises after epoch 1: best epoch 1, stop at 2
        out = real(model, split, task, **kw)
        if split is toy.splits["val"]:
            calls.append(1)
            out = {**out, "loss": float(len(calls))}
        return out

    path = tmp_path / "ck.pt"
    cfg = TrainConfig(model="uniform:0.3", budget=20_000, epochs=4, patience=1, n_train=600, n_val=200, n_test=200,
                      threads=1, checkpoint=str(path))
    task = get_task("rad")
    train.evaluate = best_at_epoch_1
    try:
        model = build_for_task(cfg, task)
        history = fit(model, toy, task, cfg, progress=False)
    finally:
        train.evaluate = real
    assert (history.best_epoch, history.stopped_epoch) == (1, 2)
    state = torch.load(path, weights_only=False)
    assert state["epoch"] == 1 and state["stopped_epoch"] == 2
    kept = model.state_dict()
    assert all(torch.equal(state["model"][k], kept[k]) for k in kept)
    plain = TrainConfig(**{**cfg.__dict__, "epochs": 1, "patience": 0, "checkpoint": None})
    one = build_for_task(plain, task)
    fit(one, toy, task, plain, progress=False)
    assert all(torch.equal(state["model"][k], v) for k, v in one.state_dict().items())


def test_run_trial_leaves_the_callers_thread_count_as_it_found_it(toy):
    """run_trial set torch's process-wide thread count to the config's and left it there: a Python user who ran one
    trial with threads=1 found the rest of the process single-threaded. The record still says what the trial used."""
    before = torch.get_num_threads()
    other = 2 if before != 2 else 3
    torch.set_num_threads(other)
    try:
        for cfg in (TrainConfig(model="uniform:0.3", budget=20_000, epochs=1, n_train=600, n_val=200, n_test=200,
                                threads=1),
                    TrainConfig(model="uniform:0.3", budget=1, epochs=1, threads=1)):  # a failing trial too
            r = run_trial(cfg, data=toy, progress=False)
            assert r["threads"] == 1
            assert torch.get_num_threads() == other, r["status"]
    finally:
        torch.set_num_threads(before)


def test_a_missing_simulator_after_training_is_an_environment_failure(toy, monkeypatch):
    """Hammer runs the simulator only to score (and select) after training, and a missing MuJoCo said so as a plain
    DataError: the record called the failure ``config``, so the next sweep did not retry it once the extra was
    installed (only ``environment`` failures are retried by default). A missing package is the machine's failure."""
    import sys

    import balancedrnn.train as train
    from balancedrnn.tasks import MissingExtra
    from balancedrnn.tasks.hammer.env import require_simulator

    real = train.evaluate

    def scored_by_the_simulator(model, split, task, **kw):
        if split is toy.splits["test"]:
            require_simulator()
        return real(model, split, task, **kw)

    monkeypatch.setitem(sys.modules, "mujoco", None)  # import mujoco: ImportError, as where it is not installed
    monkeypatch.setattr(train, "evaluate", scored_by_the_simulator)
    cfg = TrainConfig(model="uniform:0.3", budget=20_000, epochs=1, n_train=600, n_val=200, n_test=200, threads=1)
    r = run_trial(cfg, data=toy, progress=False)
    assert r["status"] == "failed" and "balancedrnn[hammer]" in r["error"], r["error"]
    assert r["failure"] == "environment"
    assert train.failure_cause(MissingExtra("x needs y"), "train") == "environment"
    assert train.failure_cause(ValueError("bad config"), "train") == "config"


def test_a_time_limit_that_fires_while_the_data_loads_is_a_timeout(mnist_dir, monkeypatch):
    """The sweep's time limit covers loading the data, but the loaders turn any Exception of an unpickling into a
    one-line "corrupt" DataError: a limit that fired while a RAD cache loaded was recorded as a failed trial whose
    cache was corrupt (delete it, it said), not as a timeout. A timeout now passes through every such handler."""
    import balancedrnn.train as train

    cfg = TrainConfig(task="rad", model="uniform:0.3", budget=20_000, epochs=1, n_train=20, n_val=10, n_test=10,
                      threads=1, mnist_dir=str(mnist_dir))
    assert run_trial(cfg, progress=False)["status"] == "ok"  # generates and caches the data set

    def alarm(*args, **kwargs):
        raise train.TrialTimeout("trial ran past the sweep's time limit")

    monkeypatch.setattr(torch, "load", alarm)  # the alarm fires inside torch.load of the cached data set
    r = run_trial(cfg, progress=False)
    assert (r["status"], r["error"]) == ("timeout", "trial ran past the sweep's time limit"), r.get("error")


def test_a_record_is_written_after_its_data_file_moved(tmp_path):
    """write_record named the file by building the record's config again, which reads a --data file again: a file
    moved or deleted while the run trained (an hour's run, say) lost the finished record ("data file ... does not
    exist", exit 2), and ``compare`` stopped at its next record. The name comes from the record itself now."""
    import numpy as np

    from balancedrnn.train import record_path

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5, 2)).astype("float32")
    data = tmp_path / "series.npz"
    np.savez(data, X=X, y=(X[:, :, 0].sum(1) > 0).astype(int))
    cfg = TrainConfig(task=f"file:{data}", model="dense", budget=2_000, epochs=1, threads=1)
    record = run_trial(cfg, progress=False)
    assert record["status"] == "ok", record["error"]
    expected = record_path(tmp_path / "runs", cfg)
    data.unlink()
    path = write_record(record, tmp_path / "runs")
    assert path == expected and json.loads(path.read_text()) == json.loads(json.dumps(record))
