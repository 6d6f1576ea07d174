"""balancedrnn.core.defaults: the one home of defaults and random distributions (issue 17)."""

import ast
import math
import random
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from balancedrnn.core import defaults
from balancedrnn.core.defaults import DEFAULT_DISTRIBUTIONS, DEFAULT_INIT, DEFAULT_LR, DENSITY_DISTRIBUTION, PAPER, QUICK, draw, draw_array


def test_defaults_is_a_leaf():
    tree = ast.parse(Path(defaults.__file__).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0 and not (node.module or "").startswith("balancedrnn"), ast.dump(node)
        if isinstance(node, ast.Import):
            assert not any(a.name.startswith("balancedrnn") for a in node.names)


def test_the_values():
    assert DEFAULT_INIT == (0.0, 0.05) and DEFAULT_LR == 1e-3
    assert QUICK == {"n_train": 2_000, "n_val": 500, "n_test": 1_000, "epochs": 3, "batch_size": 16, "lr": 1e-3}
    assert PAPER == {"n_train": 30_000, "n_val": 1_000, "n_test": 1_000, "epochs": 25, "batch_size": 16, "lr": 1e-4}
    assert DENSITY_DISTRIBUTION == {"abs_normal": [0.5, 0.25], "min": 0.02, "max": 1.0}


def test_every_user_reads_the_one_home():
    from balancedrnn import cli
    from balancedrnn.analysis import meta
    from balancedrnn.core import spec
    from balancedrnn.sweep import spec as sweep
    from balancedrnn.core.spec import BLOCKS, BlockSpec
    from balancedrnn.train import TrainConfig

    assert cli.QUICK is QUICK and cli.PAPER is PAPER
    assert spec.DEFAULT_INIT is DEFAULT_INIT and meta.DEFAULT_INIT is DEFAULT_INIT and meta.DEFAULT_LR == DEFAULT_LR
    assert sweep.DEFAULT_DISTRIBUTIONS is DEFAULT_DISTRIBUTIONS and sweep.draw is draw
    config = {f.name: f.default for f in fields(TrainConfig)}
    assert {k: config[k] for k in QUICK} == QUICK  # the quick protocol is TrainConfig's defaults
    assert (config["init_mean"], config["init_std"]) == DEFAULT_INIT
    assert BlockSpec(3, 2, 1, {b: 1.0 for b in BLOCKS}).init == {b: DEFAULT_INIT for b in BLOCKS}


def _phi(x):
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


@pytest.mark.parametrize("how", ["draw", "draw_array"])
def test_density_distribution_is_clipped_abs_normal(how):
    n = 40_000
    if how == "draw":
        rng = random.Random(0)
        v = np.array([draw(DENSITY_DISTRIBUTION, rng) for _ in range(n)])
    else:
        v = draw_array(DENSITY_DISTRIBUTION, np.random.RandomState(0), n)
    assert v.min() >= 0.02 and v.max() <= 1.0
    # |N(0.5, 0.25)| > 1 with probability 1 - Phi(2) + Phi(-6); < 0.02 with Phi(-1.92) - Phi(-2.08)
    p_top = 1 - _phi(2) + _phi(-6)
    p_bottom = _phi(-1.92) - _phi(-2.08)
    se = lambda p: 4 * math.sqrt(p * (1 - p) / n)  # noqa: E731
    assert abs((v == 1.0).mean() - p_top) < se(p_top)
    assert abs((v == 0.02).mean() - p_bottom) < se(p_bottom)
    inside = v[(v > 0.02) & (v < 1.0)]
    assert abs(np.median(inside) - 0.5) < 0.01


def test_draw_array_matches_the_recommenders_draw():
    a = draw_array(DENSITY_DISTRIBUTION, np.random.RandomState(7), (50, 6))
    b = np.clip(np.abs(np.random.RandomState(7).normal(0.5, 0.25, size=(50, 6))), 0.02, 1.0)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("dist,lo,hi", [({"uniform": [0.2, 0.3]}, 0.2, 0.3), ({"log_uniform": [1e-5, 1e-2]}, 1e-5, 1e-2),
                                        ({"normal": [0.0, 1.0], "min": -0.5, "max": 0.5}, -0.5, 0.5)])
def test_other_kinds_stay_in_their_bounds(dist, lo, hi):
    rng = random.Random(1)
    v = [draw(dist, rng) for _ in range(2000)]
    w = draw_array(dist, np.random.default_rng(1), 2000)
    assert lo <= min(v) and max(v) <= hi and lo <= w.min() and w.max() <= hi
    if "log_uniform" in dist:  # log-uniform: half the draws below the geometric mean
        gm = math.sqrt(lo * hi)
        assert abs(np.mean(np.array(v) < gm) - 0.5) < 0.05 and abs(np.mean(w < gm) - 0.5) < 0.05
