"""Helpers of the experiment scripts whose numbers go into docs/results.md, against slow, obvious references."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

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


def test_zoo_recommend_paired_counts_follow_the_t_table() -> None:
    """Per task, a paired t-test over seeds against the printed t table (df 9, two-sided 5 %: 2.262): a steady
    small win is better, a larger but noisy one is not, a steady loss is worse; seeds are paired by number, not by
    row order; a task with no common seed is left out and one with all-equal values is indistinguishable."""
    from zoo_recommend import paired_counts, paired_interval

    rng = np.random.default_rng(0)
    base = rng.normal(0.5, 0.05, 10)
    cases = {"steady-win": base + 0.01 + rng.normal(0, 0.002, 10), "noisy-win": base + 0.03 + rng.normal(0, 0.2, 10),
             "steady-loss": base - 0.02 + rng.normal(0, 0.01, 10), "equal": base.copy()}
    rows = []
    for task, rec in cases.items():
        order = rng.permutation(10)  # rows shuffled: pairing must go by seed
        rows += [{"task": task, "role": "dense", "seed": s, "value": base[s]} for s in range(10)]
        rows += [{"task": task, "role": "recommended", "seed": s, "value": rec[s]} for s in order]
    rows += [{"task": "unpaired", "role": "recommended", "seed": 0, "value": 1.0},
             {"task": "unpaired", "role": "dense", "seed": 1, "value": 0.0}]
    trials = pd.DataFrame(rows)
    for task, rec in cases.items():  # the reference: t = mean(d) / (sd(d) / sqrt(n)) against the table
        d = rec - base
        t = d.mean() / (d.std(ddof=1) / np.sqrt(10)) if d.std() else 0.0
        want = "1 / 0 / 0" if t > 2.262 else "0 / 0 / 1" if t < -2.262 else "0 / 1 / 0"
        assert paired_counts(trials, "recommended", "dense", [task]) == want, task
    assert paired_counts(trials, "recommended", "dense") == "1 / 2 / 1"
    assert paired_counts(trials, "recommended", "dense", ["unpaired"]) == "0 / 0 / 0"
    # Holm by hand: m tests, the k-th smallest p (k from 0) must be below 0.05 / (m − k), stopping at the first miss
    from scipy.stats import ttest_1samp

    ps = sorted(ttest_1samp(rec - base, 0.0).pvalue for task, rec in cases.items() if task != "equal") + [1.0]
    survive = 0
    for k, p in enumerate(ps):
        if p >= 0.05 / (len(ps) - k):
            break
        survive += 1
    holm = paired_counts(trials, "recommended", "dense", holm=True)
    assert sum(int(x) for x in holm.split(" / ")[::2]) == survive and holm.split(" / ")[1] == str(4 - survive)
    # four tasks whose p values are 0.01, 0.013, 0.03 and 0.04: 0.01 < 0.05/4 and 0.013 < 0.05/3 pass, 0.03 >= 0.05/2
    # fails, and Holm stops there though 0.04 < 0.05
    from scipy.stats import t as student

    rows = []
    for i, target in enumerate((0.01, 0.013, 0.03, 0.04)):
        tstat = student.isf(target / 2, 2)  # three seeds, differences 1 ± s with t = tstat
        spread = np.sqrt(3) / tstat
        for seed, dv in enumerate((1 - spread, 1.0, 1 + spread)):
            rows += [{"task": f"t{i}", "role": "a", "seed": seed, "value": dv}, {"task": f"t{i}", "role": "b",
                                                                                 "seed": seed, "value": 0.0}]
    four = pd.DataFrame(rows)
    assert paired_counts(four, "a", "b") == "4 / 0 / 0"
    assert paired_counts(four, "a", "b", holm=True) == "2 / 2 / 0"
    # the interval's half-width: t(0.975, 9) = 2.262 from the table, times the standard error
    d = cases["steady-loss"] - base
    half = paired_interval(trials, "recommended", "dense")
    assert abs(half["steady-loss"] - 2.262 * d.std(ddof=1) / np.sqrt(10)) < 1e-3 * half["steady-loss"]
    assert np.isnan(half["unpaired"]) and half["equal"] == 0.0


def test_zoo_recommend_pick_lr_chooses_by_validation_loss_never_by_test() -> None:
    """By hand: lr 0.005 has the lower mean validation loss (0.3 against 0.4) though 0.001's test values are higher;
    a run without a validation loss makes its lr lose; no runs give (nan, [])."""
    from zoo_recommend import pick_lr

    rows = [(0.001, 0, 0.9, 0.35), (0.001, 1, 0.9, 0.45), (0.005, 0, 0.5, 0.2), (0.005, 1, 0.6, 0.4),
            (0.01, 0, 1.0, 0.0), (0.01, 1, 1.0, None)]
    runs = [{"lr": lr, "seed": seed, "value": value, "val_loss": loss} for lr, seed, value, loss in rows]
    lr, chosen = pick_lr(runs)
    assert lr == 0.005 and [x["value"] for x in chosen] == [0.5, 0.6]
    lr, chosen = pick_lr([])
    assert np.isnan(lr) and chosen == []


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
    scaled = long_specs(3, 7, 1, "unused.journal", init_scale="density")  # the same sweeps at another init scale
    for task, spec in scaled.items():
        assert spec.base == {**specs[task].base, "init_scale": "density"} and spec.name == specs[task].name
    from balancedrnn.train import TrainConfig

    rewired = long_specs(3, 7, 1, "unused.journal", rewire=0.3)  # and with dynamic sparsity
    for task, spec in rewired.items():
        assert spec.base == {**specs[task].base, "rewire": 0.3} and spec.name == specs[task].name
        TrainConfig.from_dict({**spec.base, "model": "uniform:0.2"})  # a valid trial config


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
    # long4 kept its seeds: ArrowHead's recommendation above dense by 0.1 ± 0.001 on each of 4 seeds (t-test:
    # better), level with uniform by a noisy ± 0.1; BasicMotions has no dense (left out of that test)
    seeds = [{"task": "ts:ArrowHead", "role": role, "seed": k, "value": v} for k in range(4)
             for role, v in (("recommended", 0.8 + 0.001 * k), ("dense", 0.7), ("uniform:0.2", 0.8 + 0.1 * (-1) ** k))]
    seeds += [{"task": "ts:BasicMotions", "role": "recommended", "seed": k, "value": 0.8} for k in range(4)]
    pd.DataFrame(seeds).to_csv(tmp_path / "long4" / "trials.csv", index=False)
    text = report({"base": tmp_path / "base", "long4": tmp_path / "long4"}, tmp_path / "out", tmp_path / "f.png")
    assert "left out: ts:GunPoint" in text
    rows = {tuple(c.strip() for c in line.split("|")[1:5]): [c.strip() for c in line.split("|")[5:14]]
            for line in text.splitlines() if line.startswith("| base") or line.startswith("| long4")}
    assert rows[("base", "all", "2", "recommended")] == ["0 / 0 / 1", "—", "—", "1 of 2", "2 / 0 / 0", "—", "—",
                                                         "1 / 1 / 0", "0.055"]
    assert rows[("long4", "all", "2", "recommended")] == ["1 / 0 / 0", "1 / 0 / 0", "1 / 0 / 0", "2 of 2",
                                                          "0 / 1 / 1", "0 / 1 / 0", "0 / 1 / 0", "1 / 1 / 0", "0.025"]
    assert rows[("long4", "all", "2", "oracle")][0] == "1 / 0 / 0"
    assert (tmp_path / "f.png").is_file() and (tmp_path / "out" / "report.md").read_text().strip() == text.strip()
    judged = pd.read_csv(tmp_path / "out" / "judged.csv").set_index(["arm", "task"])["ci"]
    assert judged[("long4", "ts:ArrowHead")] > 0 and np.isnan(judged[("base", "ts:ArrowHead")])


def test_zoo_levers_init_scale_lines_compare_each_config_with_itself_at_the_fixed_init() -> None:
    """An init-scale arm against its fixed-init arm: per config the median change and better / level / worse by
    the tolerance (by hand), and a paired t-test over the seeds; the oracle gets no t-test (it may be another
    structure in each arm); an arm without its fixed counterpart is left out."""
    import zoo_levers

    cells = pd.DataFrame([
        {"arm": "long4", "task": "a", "dense": 0.50, "oracle": 0.60},
        {"arm": "long4", "task": "b", "dense": 0.70, "oracle": 0.70},
        {"arm": "long4-fan-in", "task": "a", "dense": 0.56, "oracle": 0.60},
        {"arm": "long4-fan-in", "task": "b", "dense": 0.69, "oracle": 0.72},
        {"arm": "tiny0.25-density", "task": "a", "dense": 0.1, "oracle": 0.1},  # no tiny0.25 arm: left out
    ])
    rows = []
    for s in range(4):  # task a: fan-in's dense steadily better by 0.06 (± 0.001); task b: noisy around −0.01
        rows += [{"arm": "long4", "task": "a", "role": "dense", "seed": 100 + s, "value": 0.50 + 0.01 * s},
                 {"arm": "long4-fan-in", "task": "a", "role": "dense", "seed": 100 + s,
                  "value": 0.56 + 0.01 * s + (0.001 if s % 2 else -0.001)},
                 {"arm": "long4", "task": "b", "role": "dense", "seed": 100 + s, "value": 0.70},
                 {"arm": "long4-fan-in", "task": "b", "role": "dense", "seed": 100 + s,
                  "value": 0.69 + (0.1 if s % 2 else -0.1)}]
    lines = zoo_levers.init_scale_lines(cells, pd.DataFrame(rows), ["dense", "oracle"])
    assert lines[0].startswith("## long4-fan-in against long4: each config at the fan-in init") and "(2 tasks;" in lines[0]
    dense = next(x for x in lines if x.startswith("- dense"))
    # changes +0.06 and −0.01: median +0.025, one better, one worse; t-test: a better, b indistinguishable
    assert dense == "- dense: median change +0.0250, better / level / worse by 0.005 1 / 0 / 1; paired t-test 1 / 1 / 0"
    oracle = next(x for x in lines if x.startswith("- oracle"))
    assert oracle == "- oracle: median change +0.0100, better / level / worse by 0.005 1 / 1 / 0"
    assert not any("tiny" in x for x in lines)


def test_zoo_levers_reads_the_arm_of_a_study_name_with_an_init_scale() -> None:
    from zoo_levers import arm_of_study

    assert arm_of_study("levers-long4-rad-r8f10-mini") == "long4"
    assert arm_of_study("levers-long4-fan-in-mnist-rows-refs") == "long4-fan-in"
    assert arm_of_study("levers-tiny0.25-density-ts-Lynx-next5-mini") == "tiny0.25-density"
    assert arm_of_study("zoo-rad") is None


def test_zoo_recommend_seeds_needed_is_the_paired_t_tests_power() -> None:
    """The seeds a paired t-test needs for 80 % power: the textbook values (one-sample t, two-sided 0.05: effect
    0.5 → 34, 0.8 → 15, 1.0 → 10), and a simulation of the test itself at that many seeds and one fewer."""
    import pandas as pd
    from scipy.stats import ttest_1samp
    from zoo_recommend import seeds_needed

    def diffs(effect: float) -> pd.Series:  # ten differences whose mean / sd is exactly ``effect``
        z = np.linspace(-1.0, 1.0, 10)
        return pd.Series(effect + z / z.std(ddof=1))

    assert [seeds_needed(diffs(e)) for e in (0.5, 0.8, 1.0)] == [34, 15, 10]
    assert seeds_needed(-diffs(0.8)) == 15  # either sign
    assert seeds_needed(diffs(0.0)) == np.inf and np.isnan(seeds_needed(pd.Series([0.1])))
    assert seeds_needed(pd.Series([0.2, 0.2])) == 2 and seeds_needed(diffs(0.01), most=100) == np.inf
    rng = np.random.default_rng(0)
    n = int(seeds_needed(diffs(0.8)))
    for seeds, above in ((n, True), (n - 1, False)):
        sims = rng.normal(0.8, 1.0, size=(20000, seeds))
        power = (ttest_1samp(sims, 0.0, axis=1).pvalue < 0.05).mean()
        assert (power >= 0.795) == above, (seeds, power)


def test_zoo_recommend_power_line_bounds_the_wins_by_the_positive_means() -> None:
    import pandas as pd
    from zoo_recommend import power_line, power_table

    rows = []
    for task, shift in (("up-big", 1.0), ("up-small", 0.05), ("down", -0.5), ("flat", 0.0)):
        for seed in range(10):
            rows += [{"task": task, "role": "a", "seed": seed, "value": shift + (0.1 if seed % 2 else -0.1)},
                     {"task": task, "role": "b", "seed": seed, "value": 0.0}]
    trials = pd.DataFrame(rows)
    table = power_table(trials, "a", "b").set_index("task")
    # effect 1.0 / 0.105 ≈ 9.5: two seeds leave one degree of freedom (critical t 12.7), three suffice
    assert table.loc["up-big", "seeds_needed"] == 3 and table.loc["flat", "seeds_needed"] == np.inf
    assert table.loc["up-small", "mean"] == pytest.approx(0.05) and table.loc["up-small", "seeds"] == 10
    assert power_line(trials, "a", "b") == ("a − b positive on 2 of 4 tasks; of those, 80% power at 10 seeds on 1, "
                                            "at 30 on 1, at 100 on 2")  # up-small: effect 0.47, ~37 seeds


def test_zoo_near_dense_picks_on_validation_never_on_test() -> None:
    from zoo_near_dense import near_dense, pick_on_validation

    configs = near_dense(0.2)
    assert configs["dense"] == "dense" and configs["hh sparse"] == "hx=1,hh=0.2,hy=1,yx=1,yh=1,yy=1" and len(configs) == 7
    rows = []
    for seed in range(3):  # "a" has the better test values, "b" the lower validation loss
        rows += [{"task": "t", "role": "a", "seed": seed, "value": 0.9, "val_loss": 1.0},
                 {"task": "t", "role": "b", "seed": seed, "value": 0.1, "val_loss": 0.5 if seed else np.nan}]
    picked = pick_on_validation(pd.DataFrame(rows), ["a", "b"])
    # b's mean validation loss counts its non-finite loss as +inf, so a is picked
    assert set(picked.role) == {"picked"} and set(picked.picked_label) == {"a"} and len(picked) == 3
    rows = [r for r in rows if not np.isnan(r["val_loss"])] + [{"task": "t", "role": "b", "seed": 0, "value": 0.1, "val_loss": 0.4}]
    assert set(pick_on_validation(pd.DataFrame(rows), ["a", "b"]).picked_label) == {"b"}


def test_zoo_recommend_fitting_keeps_the_configs_that_fit_the_budget() -> None:
    from zoo_recommend import fitting

    models = {"dense": "dense", "sparse": "uniform:0.2"}
    assert fitting(models, 2500, 10, 30_000) == models
    # dense's input-to-output block alone is 2,500 × 10 = 25,000 weights, above a budget of 20,000
    assert fitting(models, 2500, 10, 20_000) == {"sparse": "uniform:0.2"}


def test_zoo_init_choice_takes_each_roles_init_by_validation_per_task(tmp_path: Path) -> None:
    from zoo_init_choice import choose, load

    def judgement(label: str, val: dict[tuple[str, str], float], value: dict[tuple[str, str], float]) -> Path:
        rows = [{"task": task, "budget": 1.0, "role": role, "model": role, "lr": 1e-3, "seed": seed,
                 "value": value[task, role] + seed / 100, "val_loss": val[task, role]}
                for task in ("t1", "t2") for role in ("recommended", "dense") for seed in range(3)]
        path = tmp_path / label
        path.mkdir()
        pd.DataFrame(rows).to_csv(path / "trials.csv", index=False)
        return path

    # "a" has the lower validation loss for the recommendation on t1 and for dense on t2; "b" for the rest. The test
    # values point the other way, so a choice by test would differ everywhere.
    a = judgement("a", {("t1", "recommended"): 0.1, ("t1", "dense"): 0.9, ("t2", "recommended"): 0.9, ("t2", "dense"): 0.1},
                  {("t1", "recommended"): 0.1, ("t1", "dense"): 0.9, ("t2", "recommended"): 0.9, ("t2", "dense"): 0.1})
    b = judgement("b", {("t1", "recommended"): 0.5, ("t1", "dense"): 0.5, ("t2", "recommended"): 0.5, ("t2", "dense"): 0.5},
                  {("t1", "recommended"): 0.5, ("t1", "dense"): 0.5, ("t2", "recommended"): 0.5, ("t2", "dense"): 0.5})
    trials = load({"a": a, "b": b})
    assert set(trials.role) == {"recommended@a", "dense@a", "recommended@b", "dense@b"}
    chosen = choose(trials, ["a", "b"])
    got = chosen.groupby(["task", "role"])["init"].agg(lambda s: set(s)).to_dict()
    assert got == {("t1", "recommended"): {"a"}, ("t1", "dense"): {"b"}, ("t2", "recommended"): {"b"},
                   ("t2", "dense"): {"a"}}
    assert len(chosen) == 12 and sorted(chosen[chosen.task == "t1"].seed.unique()) == [0, 1, 2]
    # values are the chosen judgement's, seed by seed
    assert chosen[(chosen.task == "t1") & (chosen.role == "recommended")].value.tolist() == [0.1, 0.11, 0.12]


def test_zoo_init_choice_refuses_trials_without_validation_loss(tmp_path: Path) -> None:
    from zoo_init_choice import load

    pd.DataFrame([{"task": "t", "role": "dense", "seed": 0, "value": 0.5}]).to_csv(tmp_path / "trials.csv", index=False)
    with pytest.raises(SystemExit, match="no val_loss column"):
        load({"a": tmp_path})


def test_zoo_scripts_on_a_store_that_cannot_answer_say_so_in_one_line(tmp_path: Path) -> None:
    """A smoke-scale store (the runs of one task only) given to zoo_loto.py, and a missing store given to
    zoo_recommend.py: one ``error:`` line and exit 1, as the command line says it, not a ZooError traceback."""
    import subprocess

    pytest.importorskip("sklearn")
    from test_zoopred import SHAPES, _store_with, zoo_records

    store = _store_with(tmp_path / "zoo.journal", {"zoo-toy-wide": zoo_records({"toy-wide": SHAPES["toy-wide"]},
                                                                                n_configs=12)})
    root = Path(__file__).resolve().parents[1]
    runs = [[root / "experiments" / "zoo_loto.py", "--storage", store, "--out", tmp_path / "loto",
             "--figure", tmp_path / "best.png"],
            [root / "experiments" / "zoo_recommend.py", "--storage", tmp_path / "missing.journal", "--out",
             tmp_path / "rec"]]
    for argv, says in zip(runs, ("at least two tasks", "missing.journal")):
        done = subprocess.run([sys.executable, *map(str, argv)], capture_output=True, text=True, cwd=tmp_path,
                              timeout=300)
        assert done.returncode == 1, done.stderr
        assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert says in done.stderr


@pytest.mark.parametrize("script, argv, says", [
    ("continuum_mnist.py", ["--seeds", "0"], "--seeds"),
    ("continuum_mnist.py", ["--shares", "1.5"], "--shares"),
    ("continuum_mnist.py", ["--batch", "0"], "--batch"),
    ("continuum_mnist.py", ["--threads", "0"], "--threads"),
    ("continuum_mnist.py", ["--epochs", "-1"], "--epochs"),
    ("continuum_mnist.py", ["--lr", "nan"], "--lr"),
    ("continuum_mnist.py", ["--seeds", "two"], "--seeds"),
    ("continuum_mnist.py", [], "missing-mnist"),
    ("continuum_transformer.py", ["--d", "15"], "--heads"),
    ("continuum_transformer.py", ["--layers", "0"], "--layers"),
    ("continuum_transformer.py", ["--ffs", "64"], "--ffs"),
    ("continuum_transformer.py", ["--heads", "0"], "--heads"),
    ("continuum_transformer.py", ["--lr", "-1"], "--lr"),
    ("continuum_mnist.py", ["--first-seed", "-1"], "--first-seed"),
    ("continuum_transformer.py", ["--first-seed", "-2"], "--first-seed"),
])
def test_continuum_scripts_refuse_bad_arguments_in_one_line(tmp_path: Path, script: str, argv: list[str],
                                                            says: str) -> None:
    """A bad option of a continuum experiment: one ``error:`` line naming it and a non-zero exit, before any
    data is read or model trained (a missing MNIST directory is given: an option checked only after loading
    would report the directory, not the option). Good options and a missing directory: the same, naming it."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    mnist = ["--mnist-dir", str(tmp_path / "missing-mnist")]
    done = subprocess.run([sys.executable, str(root / "experiments" / script), "--epochs", "0", *mnist, *argv],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode != 0, done.stdout
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert says in done.stderr


def test_continuum_diagram_writes_its_figure_whole_or_says_why_in_one_line(tmp_path: Path) -> None:
    """continuum_diagram.py: an --out it cannot write (its folder is a file) is one ``error:`` line and a
    non-zero exit, not a traceback; a good --out is a whole PNG with no temporary file left beside it."""
    import subprocess

    script = Path(__file__).resolve().parents[1] / "experiments" / "continuum_diagram.py"
    (tmp_path / "a-file").write_text("not a folder")
    done = subprocess.run([sys.executable, str(script), "--out", str(tmp_path / "a-file" / "fig.png")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode != 0
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "a-file" in done.stderr
    done = subprocess.run([sys.executable, str(script), "--out", str(tmp_path / "out" / "fig.png")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["fig.png"]


def test_continuum_transformer_counts_the_encoders_budget_by_the_maps_rule() -> None:
    """The encoder's budget is counted by the one counting rule of iterative maps (trainable weight matrices),
    not by a second formula: a frozen layer's matrices are not weights a map would count."""
    import continuum_transformer as ct

    from balancedrnn import IterativeMap

    enc = ct.make_encoder(8, 2, 12, 2, seed=0)
    for p in enc.layers[0].parameters():
        p.requires_grad_(False)
    assert ct.body_weights(enc) == IterativeMap.from_transformer(enc).weights == 3 * 8 * 8 + 8 * 8 + 2 * 8 * 12


def test_continuum_mnist_runs_the_seeds_from_first_seed(tmp_path: Path, mnist_dir: Path) -> None:
    """--first-seed 2 --seeds 1 runs seed 2 alone (a long run split over machines); without it the seeds are 0..N-1,
    so seeds 3..5 could not be added to a run of 0..2."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, str(root / "experiments" / "continuum_mnist.py"), "--mnist-dir",
                           str(mnist_dir), "--epochs", "0", "--seeds", "1", "--first-seed", "2", "--shares", "0.5"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    seeds = {line.split()[1] for line in done.stdout.splitlines() if line.startswith("seed ")}
    assert seeds == {"2"}, done.stdout
