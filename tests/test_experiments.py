"""Helpers of the experiment scripts whose numbers go into docs/results.md, against slow, obvious references."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))


def test_zoo_recommend_counts_a_difference_of_exactly_the_tolerance_as_level() -> None:
    """Three-seed means of accuracies on a few hundred sequences differ by exactly 0.005 often; float noise
    (0.0533 − 0.0483 = 0.005000000000000004) must not make it "better"."""
    from zoo_recommend import TOL, tolerance_counts

    chosen = pd.Series([0.16 / 3, 0.7, 0.2, 0.5, np.nan])
    ref = pd.Series([0.145 / 3, 0.6, 0.3, 0.5 + TOL, 0.4])
    assert chosen[0] - ref[0] > TOL  # the float noise this guards against
    # by hand: level (exactly TOL), better, worse, level (exactly −TOL); the NaN row is left out
    assert tolerance_counts(chosen, ref) == "1 / 2 / 1"


def test_zoo_recommend_learnt_compares_the_best_config_with_the_tasks_chance() -> None:
    """A task is learnt when its best config's mean clears chance by more than LEARNT: by hand, with the chance
    levels of the zoo's registry (GunPoint two classes: 0.5; a forecasting skill: 0; JapaneseVowels 9 classes)."""
    from zoo_recommend import LEARNT, learnt

    table = pd.DataFrame({"task": ["ts:GunPoint", "ts:GunPoint", "ts:Lynx-next5", "ts:Lynx-next5", "ts:JapaneseVowels"],
                          "a": [0.5, 0.49, -0.2, 0.01, 1 / 9 + LEARNT + 0.001],
                          "b": [0.5 + LEARNT + 0.001, 0.5 + LEARNT, np.nan, LEARNT + 0.001, 0.0]})
    assert learnt(table, ["a", "b"]).tolist() == [True, False, False, True, True]


def test_zoo_long_keeps_the_zoo_sweep_but_its_epochs_budget_and_study_names() -> None:
    """zoo_long's sweeps are the zoo plan's, read again here: ``factor`` × the epochs, the smaller budget only, and
    study names that ``load_zoo_records`` (prefix ``zoo-``) does not pool with the short runs."""
    from zoo_long import long_specs

    from balancedrnn.reproduce.plan import load_plan, sweep_specs

    zoo = {str(s.base["task"]): s for s in sweep_specs(load_plan("zoo"), "small")}
    specs = long_specs(3, 7, 1, "unused.journal")
    assert set(specs) == set(zoo)
    for task, spec in specs.items():
        short = zoo[task]
        assert spec.base["epochs"] == 3 * short.base["epochs"]
        assert {k: v for k, v in spec.base.items() if k != "epochs"} == {k: v for k, v in short.base.items() if k != "epochs"}
        assert spec.sampler.budgets == [min(short.sampler.budgets)] and spec.sampler.n_trials == 7
        assert spec.sampler.hp_range == short.sampler.hp_range and spec.sampler.distributions == short.sampler.distributions
        assert spec.name.startswith("long3-") and not spec.name.startswith("zoo-")
    assert len({s.name for s in specs.values()}) == len(specs)


def test_zoo_long_report_compares_the_lengths_on_the_tasks_judged_at_every_length(tmp_path: Path) -> None:
    """Two lengths, a task judged at one only (left out), a dense that does not fit (counted as beaten in its own
    column only): the counts by hand."""
    from zoo_long import report

    cols = ["task", "recommended", "dense", "uniform:0.2", "balanced", "oracle"]
    base = pd.DataFrame([["ts:ArrowHead", 0.60, 0.70, 0.50, 0.60, 0.71],       # worse than dense
                         ["ts:BasicMotions", 0.80, np.nan, 0.50, 0.79, 0.80],   # dense does not fit
                         ["ts:GunPoint", 0.9, 0.5, 0.5, 0.5, 0.9]], columns=cols)  # only at this length
    long = pd.DataFrame([["ts:ArrowHead", 0.80, 0.70, 0.80, 0.60, 0.85],       # better than dense, level with uniform
                         ["ts:BasicMotions", 0.80, np.nan, 0.90, 0.80, 0.80]], columns=cols)
    for name, frame in (("base", base), ("long4", long)):
        (tmp_path / name).mkdir()
        frame = frame.assign(dx=[1, 6, 1][:len(frame)], dy=[3, 4, 2][:len(frame)])  # the figure orders by dx/dy
        frame.to_csv(tmp_path / name / "cells.csv", index=False)
    text = report({"base": tmp_path / "base", "long4": tmp_path / "long4"}, tmp_path / "out", tmp_path / "f.png")
    assert "left out: ts:GunPoint" in text
    rows = {tuple(c.strip() for c in line.split("|")[1:5]): [c.strip() for c in line.split("|")[5:10]]
            for line in text.splitlines() if line.startswith("| base") or line.startswith("| long4")}
    assert rows[("base", "all", "2", "recommended")] == ["0 / 0 / 1", "1 of 2", "2 / 0 / 0", "1 / 1 / 0", "0.055"]
    assert rows[("long4", "all", "2", "recommended")] == ["1 / 0 / 0", "2 of 2", "0 / 1 / 1", "1 / 1 / 0", "0.025"]
    assert rows[("long4", "all", "2", "oracle")][0] == "1 / 0 / 0"
    assert (tmp_path / "f.png").is_file() and (tmp_path / "out" / "report.md").read_text().strip() == text.strip()
