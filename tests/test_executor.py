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
    configs = _configs()
    data = get_task(configs[0].task).load(configs[0], False)
    seen = []
    serial = run_configs(configs, data, workers=1, threads=1, on_record=seen.append)
    assert seen == serial and all(r["status"] == "ok" for r in serial)
    parallel = run_configs(configs, data, workers=2, threads=1)
    assert _by_key(parallel) == _by_key(serial)
