"""Bad input to sweeps, the run store and the Python API behind them: one line naming the problem, exit code 2,
no traceback, and no store or file written. The command-line cases run ``balancedrnn.cli.main`` in this process
(the same code path as the ``balancedrnn`` script, without an interpreter start per case); a few run the real
script to check the process boundary too. docs/bad_input.md lists them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("optuna")

from clihelp import one_line_error, run, run_main  # noqa: E402

GRID = "name: s\nbase: {task: rad, epochs: 1, n_train: 40, n_val: 20, n_test: 20, budget: 30000}\n"
"""A valid sweep file that the cases change."""

SWEEP_CASES: list[tuple[str, str | None, list[str], str]] = [
    # (id, sweep file text or None, extra arguments, message)
    ("sweep-file-empty", "", [], "is empty"),
    ("sweep-file-only-comments", "# nothing here\n", [], "is empty"),
    ("sweep-file-a-list", "- name: s\n- base: {}\n", [], "must be a mapping of keys to values, got a list"),
    ("sweep-file-a-scalar", "42\n", [], "must be a mapping of keys to values, got int 42"),
    ("sweep-file-bad-yaml", "name: [unclosed\n", [], "is not valid YAML at line"),
    ("sweep-file-missing", None, ["nope.yaml"], "sweep file nope.yaml does not exist"),
    ("sweep-file-is-a-directory", None, ["{dir}"], "is a directory"),
    ("sweep-file-binary", b"\xff\xfe\x00garbage".decode("latin-1"), [], "is not a text file"),
    ("sweep-seeds-an-int", GRID + "sampler: {kind: grid, models: [dense], seeds: 3}\n", [],
     "sampler.seeds must be a list of non-negative integers"),
    ("sweep-seeds-negative", GRID + "sampler: {kind: grid, models: [dense], seeds: [-1]}\n", [], "sampler.seeds"),
    ("sweep-models-a-string", GRID + "sampler: {kind: grid, models: dense}\n", [], "sampler.models must be a list"),
    ("sweep-models-empty", GRID + "sampler: {kind: grid, models: []}\n", [], "sampler.models must be a list"),
    ("sweep-models-malformed", GRID + "sampler: {kind: grid, models: [balanced0.3]}\n", [],
     "unknown model config 'balanced0.3'"),
    ("sweep-hp-range-a-number", GRID + "sampler: {kind: hidden_proportion, hp_range: 0.5}\n", [], "hp_range must be [low, high]"),
    ("sweep-hp-range-reversed", GRID + "sampler: {kind: hidden_proportion, hp_range: [0.9, 0.1]}\n", [], "hp_range"),
    ("sweep-timeout-text", GRID + "timeout: abc\n", [], "timeout must be a number of seconds >= 0"),
    ("sweep-timeout-negative-file", GRID + "timeout: -5\n", [], "timeout must be a number of seconds >= 0"),
    ("sweep-timeout-negative-option", GRID, ["--timeout", "-5"], "timeout must be a number of seconds >= 0 (0: no limit), got -5"),
    ("sweep-workers-zero", GRID + "workers: 0\n", [], "workers must be a positive integer"),
    ("sweep-budget-beyond-the-limit", GRID.replace("budget: 30000", "budget: 1e12"), [],  # one base: a second is refused
     "base: budget 1e+12 is above the limit of 100,000,000 trainable weights"),
    ("sweep-sampler-budget-beyond-the-limit", GRID + "sampler: {kind: grid, models: [dense], budget: 1e12}\n", [],
     "sampler.budget 1e+12 is above the limit of 100,000,000 trainable weights"),
    ("sweep-hammer-sizes", "name: s\nbase: {task: hammer, epochs: 1, n_train: 50}\n", [],
     "base.n_train does not apply to task hammer: its train/val/test splits are 90/5/5 %"),
    ("sweep-ts-sizes", "name: s\nbase: {task: 'ts:GunPoint', epochs: 1}\n", ["--set", "n_val=20"],
     "base.n_val does not apply to task ts:GunPoint: its data fix the train/validation/test splits"),
    ("sweep-random-base-lr", "name: s\nbase: {task: rad, epochs: 1, lr: 0.002}\nsampler: {kind: random, n_trials: 2}\n", [],
     "base.lr would be ignored: the random sampler draws lr itself; to hold it fixed, give sampler.distributions: "
     "{lr: {normal: [0.002, 0]}}"),
    ("sweep-tpe-base-lr", "name: s\nbase: {task: rad, epochs: 1}\nsampler: {kind: tpe, n_trials: 2}\n", ["--set", "lr=0.002"],
     "base.lr would be ignored: the tpe sampler draws lr itself (it searches a log-uniform lr in [1e-05, 0.01])"),
    ("sweep-models-twice", GRID + "sampler: {kind: grid, models: [dense, balanced, dense]}\n", [],
     "sampler.models lists dense more than once"),
    ("sweep-models-same-config", GRID + "sampler: {kind: grid, models: [uniform:0.2, balanced, Uniform:0.20]}\n", [],
     "sampler.models lists the same config more than once: Uniform:0.20, uniform:0.2"),
    ("sweep-models-same-densities", GRID + "sampler: {kind: grid, models: [dense, uniform:1]}\n", [],
     "sampler.models lists the same config more than once: dense, uniform:1"),
    ("sweep-seeds-twice", GRID + "sampler: {kind: grid, models: [dense], seeds: [0, 1, 0]}\n", [],
     "sampler.seeds lists 0 more than once"),
    ("sweep-budgets-twice", GRID + "sampler: {kind: random, n_trials: 4, budgets: [25000, 5.0e+4, 25000.0]}\n", [],
     "sampler.budgets lists 25000 more than once"),
    ("sweep-n-trials-negative", GRID + "sampler: {kind: random, n_trials: -1}\n", [], "sampler.n_trials must be a positive"),
    ("sweep-sampler-a-string", GRID + "sampler: grid\n", [], "sampler must be a mapping"),
    ("sweep-distribution-min-above-max", GRID + "sampler: {kind: random, n_trials: 2, distributions: "
     "{lr: {normal: [0.001, 0.0004], min: 0.01, max: 0.001}}}\n", [], "distribution lr: min 0.01 is above max 0.001"),
    ("sweep-distribution-clipped-to-one-value", GRID + "sampler: {kind: random, n_trials: 2, distributions: "
     "{lr: {uniform: [1e-4, 1e-3], min: 0.01}}}\n", [], "distribution lr: min 0.01 lies beyond every value uniform"),
    ("sweep-distribution-lr-not-positive", GRID + "sampler: {kind: random, n_trials: 2, distributions: "
     "{lr: {normal: [1e-3, 4e-4]}}}\n", [], "a learning rate must be positive, but this one can draw any negative value"),
    ("sweep-distribution-density-outside", GRID + "sampler: {kind: random, n_trials: 2, distributions: "
     "{density: {uniform: [1.5, 5]}}}\n", [], "draws lie in [1.5, 5], outside the densities (0, 1]"),
    ("sweep-distribution-ignored", GRID + "sampler: {kind: grid, models: [dense], distributions: "
     "{lr: {log_uniform: [1e-4, 1e-2]}}}\n", [], "the grid sampler would ignore it"),
    # an infinite budget drew 200 configs, then asked to "raise the budget"
    ("sweep-budgets-infinite", GRID + "sampler: {kind: hidden_proportion, n_trials: 2, budgets: [.inf]}\n", [],
     "sampler.budgets must be a list of positive numbers, got [inf]"),
    # the sampler's budget or budgets win over base.budget: a base.budget beside other ones reached no trial
    ("sweep-base-budget-ignored", GRID + "sampler: {kind: grid, models: [dense], budgets: [60000]}\n", [],
     "base.budget would be ignored: the grid sampler runs at sampler.budgets (60000); give the budget in one place"),
    # the tpe and qmc samplers run at one budget: a list of budgets reached no trial (they ran at base.budget)
    ("sweep-tpe-budget-fits-nothing", GRID.replace("30000", "500") + "sampler: {kind: tpe, n_trials: 2}\n", [],
     "budget 500 is too small for every config the tpe sampler searches (densities in [0.02, 1]) on task rad "
     "(dx=2500, dy=10); the smallest feasible budget is 528"),  # 0.02 * W(0.5) = 0.02 * 26360.25
    ("sweep-qmc-budget-fits-nothing", GRID + "sampler: {kind: qmc, n_trials: 2}\n", ["--budget", "200"],
     "budget 200 is too small for every config the qmc sampler searches"),
    ("sweep-tpe-budgets", GRID + "sampler: {kind: tpe, n_trials: 2, budgets: [30000, 60000]}\n", [],
     "sampler.budgets would be ignored: the tpe sampler runs every trial at one sampler.budget"),
    ("sweep-qmc-budgets", GRID + "sampler: {kind: qmc, n_trials: 2, budgets: [60000]}\n", [],
     "sampler.budgets would be ignored: the qmc sampler"),
    # the random sampler cycles over budgets: its budget reached no trial
    ("sweep-random-budget-and-budgets", GRID + "sampler: {kind: random, n_trials: 2, budget: 50000, budgets: [30000]}\n",
     [], "sampler.budget would be ignored: the random sampler cycles over sampler.budgets"),
    # a NaN bound compared False and was ignored (the trials ran unclipped); a NaN or infinite argument drew nonsense
    ("sweep-distribution-nan-min", GRID + "sampler: {kind: random, n_trials: 2, distributions: "
     "{lr: {uniform: [1e-4, 1e-3], min: .nan}}}\n", [], "distribution lr: min must be a number, got nan"),
    ("sweep-distribution-nan-mean", GRID + "sampler: {kind: random, n_trials: 2, distributions: "
     "{init_mean: {normal: [.nan, 0.1]}}}\n", [], "distribution init_mean: normal takes two finite numbers, got [nan, 0.1]"),
    # a sampler key the sampler does not read reached no trial: a random sweep's seeds (its trials' seeds are their
    # numbers), a grid's n_trials (from --n-trials too), a grid's budget beside other budgets, a tpe sweep's hp_range
    ("sweep-random-seeds-ignored", GRID + "sampler: {kind: random, n_trials: 2, seeds: [0, 1, 2]}\n", [],
     "sampler.seeds would be ignored: the random sampler reads n_trials, budget, budgets, distributions"),
    ("sweep-seeds-option-random", GRID + "sampler: {kind: random, n_trials: 2}\n", ["--seeds", "3"],
     "sampler.seeds would be ignored: the random sampler"),
    ("sweep-n-trials-option-grid", GRID + "sampler: {kind: grid, models: [dense]}\n", ["--n-trials", "5"],
     "sampler.n_trials would be ignored: the grid sampler reads models, seeds, budgets"),
    ("sweep-grid-budget-beside-budgets", GRID + "sampler: {kind: grid, models: [dense], budgets: [30000], budget: 60000}\n",
     [], "sampler.budget would be ignored: the grid sampler"),
    ("sweep-tpe-hp-range", GRID + "sampler: {kind: tpe, n_trials: 2, hp_range: [0.1, 0.5]}\n", [],
     "sampler.hp_range would be ignored: the tpe sampler reads n_trials, budget"),
    ("sweep-base-a-list", "name: s\nbase: [1, 2]\n", [], "base must be a mapping"),
    ("sweep-sampler-unknown", GRID + "sampler: {kind: bayes}\n", [], "unknown sampler 'bayes'"),
    ("sweep-seed-negative", GRID + "seed: -1\n", [], "seed must be a non-negative integer"),
    ("sweep-set-activation", GRID, ["--set", "activation=foo"], "unknown activation 'foo'"),
    ("sweep-set-init-std", GRID, ["--set", "init_std=-1"], "init_std must be >= 0, got -1"),
    ("sweep-set-budget", GRID, ["--set", "budget=-1"], "budget must be positive"),
    ("sweep-set-lr-text", GRID, ["--set", "lr=abc"], "lr must be a finite number"),
    ("sweep-set-task", GRID, ["--set", "task=nope"], "unknown task 'nope'"),
    ("sweep-set-readout", GRID, ["--set", "readout=both"], "readout must be 'lagged' or 'current'"),
    ("sweep-set-unknown-key", GRID, ["--set", "epoch=3"], "unknown config key(s) epoch"),
    ("sweep-set-no-equals", GRID, ["--set", "epochs"], "--set takes key=value"),
    ("sweep-set-checkpoint", GRID, ["--set", "checkpoint=ck.pt"], "base.checkpoint cannot be set in a sweep"),
    ("sweep-seeds-option-zero", GRID, ["--seeds", "0"], "--seeds must be at least 1"),
    ("sweep-storage-a-directory", GRID, ["--storage", "{dir}"], "is a directory, not a journal file"),
    # /dev/null took every record and kept none (a sweep that ran for nothing); /dev/full was read until memory ran out
    ("sweep-storage-a-device", GRID, ["--storage", "/dev/null"], "run store /dev/null is not a regular file"),
    # two tasks on one command line: --data won, silently
    ("sweep-data-and-set-task", GRID, ["--set", "task=ts:GunPoint", "--data", "sweep.yaml"],
     "give either --set task=... or --data, not both"),
    # two budgets (two devices) on one command line: --budget (--device) won, silently
    ("sweep-budget-and-set-budget", GRID, ["--set", "budget=50000", "--budget", "60000"],
     "give either --budget or --set budget=..., not both"),
    ("sweep-device-and-set-device", GRID, ["--set", "device=cpu", "--device", "cpu"],
     "give either --device or --set device=..., not both"),
    # a series cut in time gives the same windows for every data seed: the seed keyed the trials and changed nothing
    ("sweep-data-seed-time-cut", "name: s\nbase: {task: 'ts:Lynx-next5', epochs: 1}\n", ["--set", "data_seed=3"],
     "base.data_seed does not apply to task ts:Lynx-next5: its series is cut in time"),
]


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if "cache" not in p.relative_to(root).parts}


@pytest.mark.parametrize("text,extra,pattern", [pytest.param(t, a, p, id=i) for i, t, a, p in SWEEP_CASES])
def test_sweep_bad_input(text, extra, pattern, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-dir").mkdir()
    args = [a.replace("{dir}", str(tmp_path / "a-dir")) for a in extra]
    if text is not None:
        (tmp_path / "sweep.yaml").write_text(text, encoding="latin-1")
        args = ["sweep.yaml", *args]
    before = _files(tmp_path)
    run_dir = [] if "--storage" in args else ["--run-dir", str(tmp_path / "runs")]  # both: refused (a case below)
    code, err = run_main(["sweep", *args, *run_dir, "--quiet"], capsys)
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("error: ") and pattern in lines[0], lines[0]
    assert _files(tmp_path) == before, "a bad sweep must write nothing"


def test_sweep_bad_input_through_the_script(tmp_path):
    """The same boundary in a real process (exit code and stderr as a shell sees them)."""
    (tmp_path / "sweep.yaml").write_text(GRID + "sampler: {kind: grid, models: dense}\n")
    res = run(["sweep", "sweep.yaml", "--run-dir", "runs"], tmp_path, timeout=120)
    one_line_error(res, "sampler.models must be a list", code=2)
    assert not (tmp_path / "runs").exists()


STORE_CASES: list[tuple[str, list[str], str]] = [
    ("runs-no-store", ["runs", "--run-dir", "{tmp}/nowhere"], "no run store at"),
    ("runs-no-study", ["runs", "--run-dir", "{tmp}/store", "--name", "missing"], "no study 'missing'"),
    ("runs-garbage-line", ["runs", "--run-dir", "{tmp}/garbage"], "line 1: not a journal record"),
    ("runs-json-not-a-record", ["runs", "--storage", "{tmp}/json/store.journal"], "line 1: not a journal record"),
    ("runs-no-driver", ["runs", "--storage", "mysql://user@db.example/runs"],
     "needs a database driver that is not installed (the one SQLAlchemy uses for mysql://)"),
    ("reproduce-storage-no-driver", ["reproduce", "zoo", "--scale", "smoke", "--out-dir", "{tmp}/out", "--storage",
                                     "mysql://user@db.example/runs"], "needs a database driver that is not installed"),
    ("reproduce-storage-not-a-journal", ["reproduce", "zoo", "--scale", "smoke", "--out-dir", "{tmp}/out", "--storage",
                                         "{tmp}/garbage/store.journal"], "line 1: not a journal record"),
    ("sweep-store-under-a-file", ["sweep", "--models", "dense", "--seeds", "1", "--budget", "30000", "--storage",
                                  "{tmp}/garbage/store.journal/sub.journal"], "garbage/store.journal is a file, not a directory"),
    ("predictor-fit-no-store", ["predictor", "fit", "--run-dir", "{tmp}/nowhere", "--name", "s"], "no run store at"),
    ("sweep-storage-and-run-dir", ["sweep", "--models", "dense", "--seeds", "1", "--budget", "30000", "--storage",
                                   "{tmp}/s.journal", "--run-dir", "{tmp}/runs"],
     "give either --storage or --run-dir (the store in it), not both"),  # was accepted and --run-dir unread
    ("sweep-storage-url-without-slashes", ["sweep", "--models", "dense", "--seeds", "1", "--budget", "30000", "--storage",
                                           "postgresql:/user:pw@db.example/runs"],
     "storage postgresql:... looks like a database URL without '://'"),  # was a journal file ./postgresql:/...
    ("runs-storage-url-without-slashes", ["runs", "--storage", "sqlite:runs.db"],
     "storage sqlite:... looks like a database URL without '://'"),
    ("runs-storage-port-not-a-number", ["runs", "--storage", "postgresql://user:secret@db.example:54x2/runs"],
     "port '54x2' is not a number"),  # was "invalid literal for int() with base 10"
    ("sweep-storage-port-not-a-number", ["sweep", "--models", "dense", "--seeds", "1", "--budget", "30000",
                                         "--storage", "postgres://user:secret@db.example:5432abc/runs"],
     "port '5432abc' is not a number"),
]


@pytest.mark.parametrize("args,pattern", [pytest.param(a, p, id=i) for i, a, p in STORE_CASES])
def test_store_bad_input(args, pattern, tmp_path, monkeypatch, capsys):
    from balancedrnn.sweep import store

    monkeypatch.chdir(tmp_path)
    store.open_study(store.open_storage(None, tmp_path / "store"), "s")
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "store.journal").write_text("this is not a journal\n")
    (tmp_path / "json").mkdir()
    (tmp_path / "json" / "store.journal").write_text("{}\n")  # JSON, but no journal record
    before = _files(tmp_path)
    code, err = run_main([a.replace("{tmp}", str(tmp_path)) for a in args], capsys)
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("error: ") and pattern in lines[0], lines[0]
    assert "secret" not in err, "a password in a storage URL is never shown"
    assert _files(tmp_path) == before


# ------------------------------------------------------------------------------------------- Python API
@pytest.mark.parametrize("kwargs,pattern", [
    ({"budget": -1}, "budget must be positive"),
    ({"budget": float("inf")}, "budget must be a finite number"),
    ({"task": "nope"}, "unknown task 'nope'"),
    ({"model": "foo"}, "unknown model config 'foo'"),
    ({"model": "balanced0.3"}, "unknown model config 'balanced0.3'"),
    ({"init_std": -1}, "init_std must be >= 0"),
    ({"init_mean": float("nan")}, "init_mean must be a finite number"),
    ({"activation": "foo"}, "unknown activation 'foo'"),
    ({"readout": "both"}, "readout must be"),
    ({"device": "gpu9"}, "unknown device 'gpu9'"),
    ({"seed": -1}, "seed must be an integer from 0 to 4,294,967,295"),
    ({"rollouts": 0}, "rollouts must be a positive integer"),
    ({"lr": "fast"}, "lr must be a finite number"),
])
def test_train_config_validated_at_construction(kwargs, pattern):
    from balancedrnn.train import TrainConfig

    with pytest.raises(ValueError, match=pattern) as e:
        TrainConfig(**kwargs)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("d,pattern", [
    ([1, 2], "must be a mapping"),
    ({"sampler": {"kind": "grid", "seeds": 3}}, "sampler.seeds"),
    ({"timeout": "abc"}, "timeout must be"),
    ({"base": {"checkpoint": "x.pt"}}, "checkpoint cannot be set"),
    # a grid runs at sampler.budgets, else base.budget: its sampler.budget reached no trial (they ran at 100,000)
    ({"sampler": {"kind": "grid", "budget": 50000}}, "sampler.budget would be ignored: a grid runs at sampler.budgets"),
])
def test_sweep_spec_validated(d, pattern):
    from balancedrnn.sweep.spec import SweepError, SweepSpec

    with pytest.raises(SweepError, match=pattern):
        SweepSpec.from_dict(d)


def test_model_input_that_is_not_numbers():
    from balancedrnn import BlockRNN, BlockSpec

    m = BlockRNN(BlockSpec.from_budget(4, 2, 200, {b: 1.0 for b in ("hx", "hh", "hy", "yx", "yh", "yy")}))
    with pytest.raises(ValueError, match="tensor or array of numbers"):
        m("not numbers")
    with pytest.raises(ValueError, match=r"input must have shape \(batch, T, dx\) with dx=4"):
        m([[1.0, 2.0]])


USAGE_CASES: list[tuple[str, list[str], str]] = [
    ("usage-not-an-integer", ["runs", "--limit", "abc"], "Invalid value for '--limit'"),
    ("usage-not-a-number", ["train", "--budget", "x"], "Invalid value for '--budget'"),
    ("usage-unknown-option", ["train", "--budgt", "5"], "No such option: --budgt"),
    ("usage-unknown-command", ["bogus"], "No such command 'bogus'"),
    ("usage-missing-argument", ["spec"], "Missing argument"),
    ("usage-nested-command", ["data", "rad", "--n-train", "x"], "(see: balancedrnn data rad --help)"),
]


@pytest.mark.parametrize("args,pattern", [pytest.param(a, p, id=i) for i, a, p in USAGE_CASES])
def test_usage_errors_are_one_line(args, pattern, tmp_path, monkeypatch, capsys):
    """What click itself refuses (a value that does not parse, an unknown option) is one line too, exit 2."""
    monkeypatch.chdir(tmp_path)
    code, err = run_main(args, capsys)
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("error: ") and pattern in lines[0], lines[0]


@pytest.mark.parametrize("value", ["abc", "0", "-5", "nan"])
def test_a_bad_store_timeout_is_one_line_before_any_work(value, tmp_path, monkeypatch, capsys):
    """$BALANCEDRNN_STORE_TIMEOUT (how long a database server may take to answer) not a positive number: one line,
    exit 2, no store, as for $BALANCEDRNN_STORE_GRACE."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BALANCEDRNN_STORE_TIMEOUT", value)
    (tmp_path / "sweep.yaml").write_text(GRID)
    before = _files(tmp_path)
    line = one_line_error(run_main(["sweep", "sweep.yaml", "--run-dir", str(tmp_path / "runs"), "--quiet"], capsys),
                          "$BALANCEDRNN_STORE_TIMEOUT must be a positive number of seconds", code=2)
    assert repr(value) in line
    assert _files(tmp_path) == before


def test_predictor_evaluate_checks_its_output_directory_first(tmp_path, monkeypatch, capsys):
    """An unwritable --out-dir is refused before the evaluation runs (it used to fail after all of it)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "recs").mkdir()
    code, err = run_main(["predictor", "evaluate", "--records", "recs", "--out-dir", "a-file/out"], capsys)
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "--out-dir a-file/out is not writable" in lines[0], err


@pytest.mark.parametrize("grace", ["abc", "0", "-5", "nan"])
def test_a_bad_store_grace_is_one_line_before_any_work(grace, tmp_path, monkeypatch, capsys):
    """$BALANCEDRNN_STORE_GRACE not a positive number: one line, exit 2, no store (before: 'abc' killed the worker
    mid-claim, exit 1 as 'a worker died'; 0 or less released every live worker's trial at the next sweep start)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BALANCEDRNN_STORE_GRACE", grace)
    (tmp_path / "sweep.yaml").write_text(GRID)
    before = _files(tmp_path)
    line = one_line_error(run_main(["sweep", "sweep.yaml", "--run-dir", str(tmp_path / "runs"), "--quiet"], capsys),
                          "$BALANCEDRNN_STORE_GRACE must be a positive number of seconds", code=2)
    assert repr(grace) in line
    assert _files(tmp_path) == before
