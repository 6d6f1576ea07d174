"""The one-command reproduction: every shipped plan at the smoke scale end to end, and bad input."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("optuna")
pytest.importorskip("sklearn")

from balancedrnn.reproduce.plan import SCALES, PlanError, forests, load_plan, plan_names, plans_dir, sweep_specs  # noqa: E402

BIN = [sys.executable, "-m", "balancedrnn"]


def run(*args, env=None, timeout=600):
    return subprocess.run([*BIN, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)


def test_shipped_plans_are_valid_at_every_scale():
    assert {"rad-100k", "hammer", "predictor"} <= set(plan_names())
    for name in plan_names():
        plan = load_plan(name)
        for scale in SCALES:
            assert sweep_specs(plan, scale)
    rad = load_plan("rad-100k")
    smoke, paper = sweep_specs(rad, "smoke")[0], sweep_specs(rad, "paper")[0]
    assert paper.base["n_train"] == 30_000 and paper.base["epochs"] == 25 and paper.sampler.seeds == [0, 1, 2, 3, 4]
    assert smoke.name == "rad-100k-smoke" and smoke.base["budget"] == 100_000
    bm = sweep_specs(load_plan("predictor"), "small")[2]
    assert bm.base["epochs"] == 30  # the sweep's own scale settings come after the plan's


@pytest.mark.parametrize("plan", ["rad-100k", "hammer", "predictor"])
def test_smoke_scale_writes_a_complete_report(plan, mnist_dir, tmp_path):
    import os

    env = {**os.environ, "BALANCEDRNN_MNIST_DIR": str(mnist_dir), "MINARI_DATASETS_PATH": str(tmp_path / "minari")}
    out = tmp_path / "report"
    res = run("reproduce", plan, "--scale", "smoke", "--out-dir", out, "--quiet", env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    html = (out / "report.html").read_text()
    md = (out / "report.md").read_text()
    assert "Verdicts" in html and "INCOMPLETE" not in html and "Smoke scale" in md and "core-minutes" in md
    assert f"(forests of {forests('smoke').trees} trees" in md  # a smoke run says its forests are small
    assert f"Command: `balancedrnn reproduce {plan} --scale smoke --out-dir {out}" in md
    assert "Data source:" in md and "not recorded" not in md  # every run says where its data came from
    runs = int(re.search(r"Runs: (\d+) of", md).group(1))
    per_run = md.split("## Runs (", 1)[1].split("\n## ", 1)[0]
    assert sum(line.startswith("| ") for line in per_run.splitlines()) == runs + 1  # a row per run and the header
    for claim in load_plan(plan).claims:
        assert any(word in md for word in ("supported", "contradicted", "inconclusive")), claim
    figures = sorted((out / "figures").rglob("*.png"))
    names = {p.name for p in figures}
    assert {"metric_vs_hidden_proportion.png", "learning_curves.png", "density_heatmap.png"} <= names
    if plan == "hammer":  # scored by rollouts, its checkpoint picked by rollouts: success column and selection figure
        assert "selection_curves.png" in names and "| success (%) |" in md
        # the claim's best dense config against every other config, each pair with Holm's p (the 13 configs' 12)
        pairs = md.split("dense against every configuration", 1)[1].split("\n## ", 1)[0]
        assert "p (Holm)" in pairs and sum(line.startswith("| ") for line in pairs.splitlines()) == 12 + 1
        assert "dense against every configuration" in html
    if plan == "predictor":
        assert {"predicted_vs_actual.png", "importances.png", "recommender.png"} <= names
        assert "## Recommender (leave one task out)" in md and "infeasible at this budget" in md  # dense RAD at 25K
        rec = md.split("## Recommender (leave one task out)", 1)[1].split("\n## ", 1)[0]
        assert " (accuracy) |" in rec  # says what the predictor predicts (a zoo predictor: its within-task rank)
    for p in figures:
        assert p.stat().st_size > 5_000, p  # a real picture, not an empty canvas
    assert html.count("data:image/png;base64,") >= 3  # self-contained
    assert "torch" in html.split("<footer>")[1]  # versions in the footer
    if plan == "hammer":  # a second run resumes from the store: nothing is trained again (one plan is enough)
        again = run("reproduce", plan, "--scale", "smoke", "--out-dir", out, "--quiet", env=env)
        assert again.returncode == 0 and "of" in again.stdout
        # --report-only reads the same store into another directory and trains nothing
        before = (out / "store.journal").read_bytes()
        interim = run("reproduce", plan, "--scale", "smoke", "--out-dir", tmp_path / "interim", "--report-only",
                      "--storage", out / "store.journal", "--quiet", env=env)
        assert interim.returncode == 0, interim.stderr[-2000:]
        assert (out / "store.journal").read_bytes() == before
        md2 = (tmp_path / "interim" / "report.md").read_text()
        assert f"Runs: {runs} of" in md2 and (md2.split("## Runs (", 1)[1].rsplit("written", 1)[0]
                                              == md.split("## Runs (", 1)[1].rsplit("written", 1)[0])


@pytest.mark.parametrize("args,pattern", [
    (["reproduce", "no-such-plan", "--scale", "smoke"], "unknown plan 'no-such-plan'"),
    (["reproduce", "rad-100k", "--scale", "huge"], "unknown scale 'huge'"),
    (["reproduce"], "give a plan"),
    (["reproduce", "/", "--scale", "smoke"], "plan file / is a directory"),
])
def test_bad_input_one_line(args, pattern, tmp_path):
    res = run(*args, "--out-dir", tmp_path / "out")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().count("\n") == 0 and pattern in res.stderr, res.stderr
    assert not (tmp_path / "out").exists()


def test_a_plan_whose_data_set_is_missing_leaves_no_output_directory(tmp_path):
    """The Hammer plan without its generated data set: one line saying how to make it, exit 2, and the output
    directory the command would have created is not left behind empty."""
    pytest.importorskip("minari")
    import os

    env = {**os.environ, "BALANCEDRNN_CACHE": str(tmp_path / "cache"), "BALANCEDRNN_OFFLINE": "1"}
    res = run("reproduce", "hammer", "--scale", "small", "--out-dir", tmp_path / "out", env=env)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    last = res.stderr.strip().splitlines()[-1]  # after the progress line naming the sweep
    assert last.startswith("error: no data set") and "never downloaded; make it with `balancedrnn data hammer" in last
    assert not (tmp_path / "out").exists()


def test_plan_file_with_a_typo(tmp_path):
    d = yaml.safe_load((plans_dir() / "rad-100k.yaml").read_text())
    d["sweeps"][0]["sampler"]["modles"] = d["sweeps"][0]["sampler"].pop("models")
    bad = tmp_path / "typo.yaml"
    bad.write_text(yaml.safe_dump(d))
    res = run("reproduce", bad, "--scale", "smoke", "--out-dir", tmp_path / "out")
    assert res.returncode == 2 and "unknown sampler key(s) modles" in res.stderr and "Traceback" not in res.stderr
    assert res.stderr.strip().count("\n") == 0
    assert not (tmp_path / "out").exists()
    d = yaml.safe_load((plans_dir() / "rad-100k.yaml").read_text())
    d["claims"] = ["balanced_beats_everything"]
    bad.write_text(yaml.safe_dump(d))
    with pytest.raises(PlanError, match="unknown claim 'balanced_beats_everything'"):
        load_plan(bad)


def test_a_shipped_plan_beside_a_directory_of_its_name_is_the_plan(tmp_path, monkeypatch):
    """`reproduce rad-100k --out-dir rad-100k` run again (to resume, or the report's command) found the directory
    it had made and said 'plan file rad-100k is a directory, not a plan file'."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rad-100k").mkdir()
    assert load_plan("rad-100k").source == str(plans_dir() / "rad-100k.yaml") and load_plan("rad-100k").shipped
    (tmp_path / "mine").mkdir()  # a directory named like no shipped plan is still refused as a plan file
    with pytest.raises(PlanError, match="plan file mine is a directory"):
        load_plan("mine")


def test_unwritable_output_directory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    res = run("reproduce", "rad-100k", "--scale", "smoke", "--out-dir", blocker / "out")
    assert res.returncode == 2 and "is not writable" in res.stderr and "Traceback" not in res.stderr
    assert res.stderr.strip().count("\n") == 0


def dense_and_balanced_plan(tmp_path, mnist_dir, name: str, n_train: int, **base) -> Path:
    """A plan file of one RAD sweep, dense and balanced at 30,000 weights, one seed, ``base`` added to its base."""
    plan = {"name": name, "description": "two configs", "claims": ["balanced_beats_dense"],
            "sweeps": [{"name": name, "base": {"task": "rad", "budget": 30000, **base, "mnist_dir": str(mnist_dir)},
                        "sampler": {"kind": "grid", "models": ["dense", "balanced"]}}],
            "scales": {s: {"seeds": 1, "base": {"epochs": 1, "n_train": n_train, "n_val": 8, "n_test": 8}} for s in SCALES}}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


def test_failed_trials_make_an_incomplete_report(mnist_dir, tmp_path):
    path = dense_and_balanced_plan(tmp_path, mnist_dir, "broken", 64, lr=1.0e+30)  # trials that diverge
    out = tmp_path / "out"
    res = run("reproduce", path, "--scale", "smoke", "--out-dir", out, "--quiet", "--workers", "1")
    assert res.returncode == 1 and "incomplete" in res.stderr, res.stderr
    assert "INCOMPLETE: 2 of 2 trials have no ok record (diverged 2)" in (out / "report.md").read_text()
    assert "INCOMPLETE" in (out / "report.html").read_text()
    # diverged trials are outcomes: running the same command keeps them (it said "run the same command to retry")
    last = res.stderr.strip().splitlines()[-1]
    assert "2 ended diverged" in last and "--retry-failed runs them again" in last and "same command" not in last

    from balancedrnn.sweep import store

    def trials() -> int:
        return len(store.open_study(store.open_storage(None, out, create=False), "broken-smoke", create=False).trials)

    before = trials()
    again = run("reproduce", path, "--scale", "smoke", "--out-dir", out, "--quiet", "--workers", "1")
    assert again.returncode == 1 and trials() == before
    retried = run("reproduce", path, "--scale", "smoke", "--out-dir", out, "--quiet", "--workers", "1", "--retry-failed")
    assert retried.returncode == 1 and trials() == before + 2, retried.stderr
    both = run("reproduce", path, "--scale", "smoke", "--out-dir", out, "--report-only", "--retry-failed")
    assert both.returncode == 2 and "give one of them" in both.stderr and "Traceback" not in both.stderr


def test_recommender_cells_hold_out_each_task():
    """Each cell's recommendation comes from a forest fitted on the other tasks only (checked by refitting by
    hand), stays feasible, and is trained beside the references at the forest's lr and initialisation."""
    from test_meta import synthetic_records

    from balancedrnn.analysis.meta import MetaPredictor, recommend
    from balancedrnn.reproduce.plan import recommendation_cells
    from balancedrnn.core.spec import BlockSpec

    recs = synthetic_records(n_configs=12, seeds=2, tasks=("rad", "ts:BasicMotions"), seed=4)
    plan = load_plan("predictor")
    plan.recommend.n_candidates = 300
    cells, note = recommendation_cells(plan, "smoke", recs)
    # the plan's third task has no runs here: left out, and said so (it was left out silently)
    assert note == "ts:JapaneseVowels left out: no usable runs of its own (block models that finished ok)"
    assert [(c.task, c.budget) for c in cells] == [("rad", 25000.0), ("rad", 50000.0), ("ts:BasicMotions", 20000.0)]
    for cell in cells:
        others = [r for r in recs if r["config"]["task"] != cell.task]
        by_hand = MetaPredictor(n_estimators=forests("smoke").recommend_trees, random_state=0).fit(others)
        dx, dy = (2500, 10) if cell.task == "rad" else (6, 4)
        expected = recommend(dx, dy, cell.budget, by_hand, n_candidates=300, random_state=0)
        assert cell.fitted_on == sorted({r["config"]["task"] for r in others}) and cell.n_records == len(others)
        assert cell.model == expected.config and cell.recommendation.predicted_score == expected.predicted_score
        assert abs(BlockSpec.from_budget(dx, dy, cell.budget, expected.density).weights - cell.budget) <= 0.02 * cell.budget
        assert cell.spec.base["lr"] == pytest.approx(by_hand.defaults_["lr"]) and cell.spec.base["budget"] == cell.budget
        assert cell.spec.sampler.seeds == [0, 1] and cell.spec.name.startswith("recommend-")
        assert cell.references == [m for m in plan.recommend.references if m not in cell.infeasible]
    assert cells[0].infeasible == ["dense"] and "dense" in cells[1].references  # dense RAD needs 26,361 weights
    one_task = [r for r in recs if r["config"]["task"] == "rad"]
    assert recommendation_cells(plan, "smoke", one_task) == ([], "leave one task out needs runs of at least two tasks, got 1 (rad)")


def test_recommend_section_is_validated(tmp_path):
    d = yaml.safe_load((plans_dir() / "predictor.yaml").read_text())
    bad = tmp_path / "bad.yaml"
    for change, pattern in [({"refrences": ["dense"]}, "plan bad.yaml: unknown recommend key"),
                            ({"references": ["dense", "sparse-ish"]}, "unknown model config 'sparse-ish'"),
                            ({"seeds": {"smoke": 2}}, "must give a number of seeds for each of smoke, small, paper"),
                            ({"seeds": {"smoke": 0, "small": 3, "paper": 5}}, "seeds.smoke must be a positive integer"),
                            # accepted, then refused by the stage's grid sweeps after the whole first stage had run
                            ({"references": ["dense", "uniform:0.2", "dense"]}, "references lists dense more than once")]:
        bad.write_text(yaml.safe_dump({**d, "recommend": {**d["recommend"], **change}}))
        with pytest.raises(PlanError, match=pattern.replace("(", r"\(")):
            load_plan(bad)
    bad.write_text(yaml.safe_dump({k: v for k, v in d.items() if k != "recommend"}))
    with pytest.raises(PlanError, match="recommender_beats_defaults needs a recommend section"):
        load_plan(bad)


def test_runs_of_other_settings_in_the_store_are_not_this_reproductions(mnist_dir, tmp_path):
    """The same plan re-run into one out-dir with another --set: its report counts and judges only the runs of
    these settings (before, the earlier runs joined them: '4 of 2 runs', seeds counted twice, 'INCOMPLETE: -2 of 2',
    exit 1), and --report-only with settings never run finds no runs."""
    path = dense_and_balanced_plan(tmp_path, mnist_dir, "tiny", 32)
    out = tmp_path / "out"
    first = run("reproduce", path, "--scale", "smoke", "--out-dir", out, "--quiet", "--workers", "1")
    assert first.returncode == 0, first.stderr[-2000:]
    again = run("reproduce", path, "--scale", "smoke", "--out-dir", out, "--quiet", "--workers", "1", "--set", "epochs=2")
    assert again.returncode == 0, again.stderr[-2000:]
    md = (out / "report.md").read_text()
    assert "Runs: 2 of 2 (ok 2)" in md and "INCOMPLETE" not in md
    per_run = md.split("## Runs (", 1)[1].split("\n## ", 1)[0]
    assert sum(line.startswith("| rad |") for line in per_run.splitlines()) == 2
    interim = run("reproduce", path, "--scale", "smoke", "--out-dir", out, "--quiet", "--report-only", "--set", "epochs=3")
    assert interim.returncode == 2 and "no finished runs" in interim.stderr, interim.stderr


def test_report_only_on_a_store_that_fails_to_answer_says_so(mnist_dir, tmp_path, monkeypatch):
    """--report-only whose store fails while its study is read (a server gone or hung between opening the store
    and reading it) stops with that failure (before: it was taken for "this sweep has not started", and the
    reproduction said there were no finished runs, exit 2). A study that does not exist yet still means no runs."""
    from balancedrnn.reproduce.plan import run_plan
    from balancedrnn.sweep import store

    path = dense_and_balanced_plan(tmp_path, mnist_dir, "away", 16)
    out = tmp_path / "out"
    store.open_study(store.open_storage(None, out), "other")  # a store, without this plan's study
    with pytest.raises(PlanError, match="no finished runs"):
        run_plan(load_plan(path), "smoke", out, report_only=True)

    def away(*args, **kwargs):
        raise store.StoreUnavailable("cannot read the run store db: the database server did not answer for 60 s")

    monkeypatch.setattr(store, "open_study", away)
    with pytest.raises(store.StoreUnavailable, match="did not answer"):
        run_plan(load_plan(path), "smoke", out, report_only=True)


@pytest.mark.parametrize("change,pattern", [
    ({"sampler": None}, "sweep rad-100k of plan bad.yaml: sampler must be a mapping"),
    ({"sampler": ["grid"]}, "sweep rad-100k of plan bad.yaml: sampler must be a mapping"),
    ({"base": "rad"}, "sweep rad-100k of plan bad.yaml: base must be a mapping of config fields"),
    ({"claims": [["balanced_beats_dense"]]}, "plan bad.yaml: claims must be a list of claim names"),
    ({"data": {"hammer_smoke_episodes": "lots"}}, "plan bad.yaml: data.hammer_smoke_episodes must be a positive integer"),
    ({"data": {"hammer_smoke_episodes": 0}}, "plan bad.yaml: data.hammer_smoke_episodes must be a positive integer"),
])
def test_malformed_plan_fields_are_one_line_plan_errors(change, pattern, tmp_path):
    """A sweep's sampler or base that is not a mapping, a claim that is not a name, a smoke data size that is not a
    count: a one-line PlanError naming the field (before: a TypeError traceback, 'dictionary update sequence
    element #0 has length 1', or 'invalid literal for int()' after the output directory was made)."""
    d = yaml.safe_load((plans_dir() / "rad-100k.yaml").read_text())
    for key, value in change.items():
        if key in ("sampler", "base"):
            d["sweeps"][0][key] = value
        else:
            d[key] = value
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(d))
    with pytest.raises(PlanError, match=re.escape(pattern)) as e:
        load_plan(bad)
    assert "\n" not in str(e.value)


def test_a_plan_that_skips_every_sweep_at_a_scale_is_refused(tmp_path):
    """Every sweep skipped at one scale: refused in one line when the plan is read (before: the command trained
    nothing, wrote a report of '0 of 0 runs' and exited 0, as if the reproduction had succeeded)."""
    d = yaml.safe_load((plans_dir() / "rad-100k.yaml").read_text())
    d["sweeps"][0]["scales"] = {"smoke": {"skip": True}}
    bad = tmp_path / "skips.yaml"
    bad.write_text(yaml.safe_dump(d))
    res = run("reproduce", bad, "--scale", "smoke", "--out-dir", tmp_path / "out")
    assert res.returncode == 2 and "Traceback" not in res.stderr and res.stderr.strip().count("\n") == 0, res.stderr
    assert "plan rad-100k runs no sweep at the smoke scale: every sweep skips it" in res.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("plan,key,value,pattern", [
    ("rad-100k", "model", "lstm", "base.model would be ignored: the grid sampler sets each trial's model"),
    ("rad-100k", "seed", 5, "base.seed would be ignored: the grid sampler sets each trial's seed"),
    ("predictor", "model", "dense", "base.model would be ignored: the hidden_proportion sampler sets each trial's model"),
    ("predictor", "budget", 30000, "sweep predictor-rad, scale smoke: budget 30000 would be ignored: the sweep's sampler "
                                   "sets each trial's budget ([25000, 50000])"),
])
def test_set_of_a_field_the_sampler_sets_is_refused(plan, key, value, pattern):
    """``--set model=lstm`` (or seed, or a budget the sampler sets) reached no trial: every trial ran the sampler's
    models, seeds and budgets and the report said nothing. Now refused, naming why, before anything runs."""
    p = load_plan(plan)
    with pytest.raises(PlanError, match=re.escape(pattern)):
        sweep_specs(p, "smoke", overrides={key: value})
    assert sweep_specs(load_plan("rad-100k"), "smoke", overrides={"budget": 30000})[0].base["budget"] == 30000


def test_set_split_size_no_task_of_the_plan_takes_is_refused():
    """``reproduce hammer --set n_train=5``: hammer's splits are fixed by its data set, so the size reached no
    trial and nothing said so. Refused now; a plan with some tasks that take it (zoo) still sets it for those."""
    with pytest.raises(PlanError, match=re.escape("plan hammer, scale smoke: n_train applies to none of its sweeps' "
                                                  "tasks (hammer), whose data fix their splits")):
        sweep_specs(load_plan("hammer"), "smoke", overrides={"n_train": 5})
    zoo = sweep_specs(load_plan("zoo"), "smoke", overrides={"n_train": 5})
    assert [s.base.get("n_train") for s in zoo] == [5, 5, None]


@pytest.mark.parametrize("plan,where,key,pattern", [
    ("rad-100k", "plan", "n_trials", "plan rad-100k: scales.smoke.n_trials would be ignored: none of its sweeps at "
                                     "this scale draws trials (a grid runs sampler.models x seeds)"),
    ("predictor", "plan", "seeds", "plan predictor: scales.smoke.seeds would be ignored: none of its sweeps at this "
                                   "scale is a grid (the others number their trials' seeds)"),
    ("predictor", "sweep", "seeds", "plan predictor, sweep predictor-rad, scale smoke: seeds would be ignored: the "
                                    "hidden_proportion sampler reads n_trials"),
    ("rad-100k", "sweep", "n_trials", "plan rad-100k, sweep rad-100k, scale smoke: n_trials would be ignored: the grid "
                                      "sampler reads seeds"),
])
def test_scale_settings_no_sampler_reads_are_refused(plan, where, key, pattern, tmp_path):
    """A scale's ``seeds`` where no sweep is a grid, or ``n_trials`` where every sweep is one, changed no trial and
    nothing said so (a plan asking 3 seeds of its random sweeps ran 1 trial per draw). Refused when read."""
    d = yaml.safe_load((plans_dir() / f"{plan}.yaml").read_text())
    if where == "plan":
        d["scales"]["smoke"][key] = 3
    else:
        d["sweeps"][0]["scales"] = {"smoke": {key: 3}}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(d))
    with pytest.raises(PlanError, match=re.escape(pattern)):
        load_plan(bad)


def test_plan_file_with_a_key_twice(tmp_path):
    """A sweep's ``base:`` given twice: the second silently replaced the first; now one line naming the key."""
    bad = tmp_path / "dup.yaml"
    bad.write_text("name: x\nsweeps:\n  - name: a\n    base: {task: rad, epochs: 3}\n    sampler: {kind: grid}\n"
                   "    base: {budget: 30000}\nscales: {smoke: {}, small: {}, paper: {}}\n")
    with pytest.raises(PlanError, match=re.escape(f"plan file {bad} is not valid YAML at line 6: found duplicate key 'base'")):
        load_plan(bad)


def test_plan_file_that_is_not_text(tmp_path):
    """A binary file: one line saying so (before: a bare 'utf-8 codec can't decode byte 0xfc' line)."""
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(bytes(range(128, 256)))
    with pytest.raises(PlanError, match=re.escape(f"plan file {binary} is not a text file")):
        load_plan(binary)


@pytest.mark.parametrize("name", ["", "../../elsewhere", "a/b", None])
def test_plan_name_that_is_not_a_plain_name_is_refused(name, tmp_path):
    """The plan's name makes the default output directory (runs/reproduce/<name>-<scale>): an empty one gave
    'runs/reproduce/-smoke', '../../elsewhere' wrote outside runs/, and null became the plan 'None'."""
    d = yaml.safe_load((plans_dir() / "rad-100k.yaml").read_text())
    d["name"] = name
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(d))
    with pytest.raises(PlanError, match="plan bad.yaml: name must be a plain name"):
        load_plan(bad)


@pytest.mark.parametrize("name", [None, "", "  ", ["a"]])
def test_sweep_name_that_is_not_a_name_is_refused(name, tmp_path):
    """A sweep's name makes its study (<name>-<scale>): null ran as the study 'None-smoke', a list as "['a']-smoke"."""
    d = yaml.safe_load((plans_dir() / "rad-100k.yaml").read_text())
    d["sweeps"][0]["name"] = name
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(d))
    with pytest.raises(PlanError, match="sweep 1 of plan bad.yaml: name must be a non-empty string"):
        load_plan(bad)


def test_set_task_drops_the_plans_split_sizes_its_data_fix():
    """``reproduce rad-100k --scale smoke --set task=ts:GunPoint``: the plan's smoke sizes (n_train 64, ...) were
    judged against RAD, kept, then refused for ts:GunPoint ('base.n_train does not apply'), a size the user never
    set. They are judged against the task the trials run, as for a plan's own series tasks."""
    (spec,) = sweep_specs(load_plan("rad-100k"), "smoke", overrides={"task": "ts:GunPoint"})
    assert spec.base["task"] == "ts:GunPoint" and "n_train" not in spec.base and spec.base["epochs"] == 1
    (spec,) = sweep_specs(load_plan("rad-100k"), "smoke", overrides={"task": "mnist:rows"})
    assert spec.base["n_train"] == 64


def test_set_data_seed_reaches_only_the_tasks_it_changes():
    """``reproduce zoo --set data_seed=2``: a series cut in time (ts:Lynx-next5) gives the same windows for every
    data seed, so the seed is dropped for it (as split sizes are for tasks whose data fix them) and kept for the
    others; a plan of such series alone refuses it. A sweep's own base.data_seed on one is refused in one line."""
    from balancedrnn.sweep.spec import SweepError, SweepSpec

    specs = sweep_specs(load_plan("zoo"), "smoke", overrides={"data_seed": 2})
    assert [(s.base["task"], s.base.get("data_seed")) for s in specs] == [
        ("mnist:rows", 2), ("mnist:halfrows14-next28", 2), ("ts:Lynx-next5", None)]
    assert sweep_specs(load_plan("zoo"), "smoke", overrides={"data_seed": 0})  # the default: nothing to refuse
    with pytest.raises(SweepError, match="base.data_seed does not apply to task ts:Lynx-next5: its series is cut in time"):
        SweepSpec.from_dict({"name": "s", "base": {"task": "ts:Lynx-next5", "data_seed": 3}})
    SweepSpec.from_dict({"name": "s", "base": {"task": "ts:Lynx-next5", "data_seed": 0}})


def test_recommender_cells_of_a_sweep_that_leaves_the_task_or_budget_at_its_default(tmp_path):
    """A plan sweep without base.task trains RAD (TrainConfig's default); the recommender stage then failed with a
    KeyError traceback ('task') after every trial of the first stage had run. A sweep without a budget trains at
    TrainConfig's 100,000 weights; the stage left its task out, silently (no cell, no note)."""
    from test_meta import synthetic_records

    from balancedrnn.reproduce.plan import recommendation_cells

    plan = yaml.safe_load((plans_dir() / "predictor.yaml").read_text())
    del plan["sweeps"][0]["base"]["task"]
    del plan["sweeps"][2]["sampler"]["budget"]  # BasicMotions at the default budget
    path = tmp_path / "default-task.yaml"
    path.write_text(yaml.safe_dump(plan))
    p = load_plan(path)
    p.recommend.n_candidates = 100
    recs = synthetic_records(n_configs=6, seeds=2, tasks=("rad", "ts:BasicMotions"), seed=4)
    cells, note = recommendation_cells(p, "smoke", recs)
    assert note.startswith("ts:JapaneseVowels left out") and [(c.task, c.budget) for c in cells] == [("rad", 25000.0), ("rad", 50000.0), ("ts:BasicMotions", 100000.0)]
    assert all(c.spec.base.get("task", "rad") == c.task for c in cells)


def test_report_only_of_a_tpe_plan_counts_only_the_runs_of_its_settings(tmp_path, monkeypatch):
    """A TPE sweep's configs are drawn, so its runs cannot be matched by key: --report-only --set epochs=2 on a store of
    1-epoch runs reported those as the epochs=2 reproduction's ('Runs: 2 of 2 (ok 2)', exit 0), as a grid plan did
    before it was fixed; now it finds no runs of these settings, and the runs of the plan's own settings stay its."""
    from dataclasses import asdict

    from balancedrnn.reproduce import plan as plan_module
    from balancedrnn.reproduce.plan import run_plan
    from balancedrnn.record import RECORD_VERSION
    from balancedrnn.sweep import store
    from balancedrnn.train import TrainConfig

    monkeypatch.setattr(plan_module, "write_report", lambda *args, **kwargs: [])  # the runs, not their figures
    sizes = {"epochs": 1, "n_train": 16, "n_val": 8, "n_test": 8}
    plan = {"name": "tpe", "description": "drawn densities", "claims": [],
            "sweeps": [{"name": "tpe", "base": {"task": "rad", "budget": 30000}, "sampler": {"kind": "tpe", "n_trials": 2}}],
            "scales": {s: {"base": sizes} for s in SCALES}}
    path = tmp_path / "tpe.yaml"
    path.write_text(yaml.safe_dump(plan))
    study = store.open_study(store.open_storage(None, tmp_path), "tpe-smoke")
    for seed, model in enumerate(["uniform:0.3", "balanced:0.4"]):  # two runs the plan's TPE sweep could have drawn
        cfg = TrainConfig(task="rad", model=model, budget=30000.0, lr=2e-3, seed=seed, **sizes)
        store.finish(study, study.ask(), {"record_version": RECORD_VERSION, "trial_key": cfg.key(), "status": "ok",
                                          "config": asdict(cfg), "final": {"metric": "accuracy", "value": 0.1, "test": {}}})
    journal = str(tmp_path / "store.journal")
    p = load_plan(path)
    rep = run_plan(p, "smoke", tmp_path / "interim", storage=journal, report_only=True, progress=False)
    assert len(rep.records) == 2 and rep.complete
    with pytest.raises(PlanError, match="no finished runs"):
        run_plan(p, "smoke", tmp_path / "other", storage=journal, overrides={"epochs": 2}, report_only=True, progress=False)
    # the plan now asks for one trial, and the store holds two of its settings: 'Runs: 2 of 1', 'INCOMPLETE: -1 of 1'
    p.sweeps[0].sampler["n_trials"] = 1
    rep = run_plan(p, "smoke", tmp_path / "fewer", storage=journal, report_only=True, progress=False)
    assert len(rep.records) == 2 and rep.expected == 2 and rep.not_ok == 0 and rep.complete
