"""Bad input on the command line (and the Python functions behind it): one line naming the problem, no traceback,
exit code 2, and nothing written. Every case is caught at the boundary, before any data is built. The cases run
``balancedrnn.cli.main`` in this process (the code path of the ``balancedrnn`` script, without an interpreter start
and a torch import per case); a few also run the real script to check the process boundary (exit code and stderr
as a shell sees them). docs/bad_input.md lists the cases and their messages.

Placeholders in the arguments: ``{file}`` an existing regular file (a path under it cannot be created, even by
root), ``{empty}`` an existing empty directory, ``{ro}`` a directory with mode 0o500 (only for non-root users).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from clihelp import cli_env, one_line_error, run, run_main

REC = ["recommend", "--dx", "10", "--dy", "2", "--budget", "5000"]

CASES: list[tuple[str, list[str], str]] = [
    # ------------------------------------------------------------------------------------------------ train
    ("train-model-unknown", ["train", "--model", "sparse-ish"], "unknown model config 'sparse-ish'"),
    ("train-model-uniform-out-of-range", ["train", "--model", "uniform:1.5"], "in [0, 1]"),
    ("train-model-uniform-no-density", ["train", "--model", "uniform"], "uniform needs a density"),
    ("train-model-uniform-not-a-number", ["train", "--model", "uniform:abc"], "uniform density must be a number"),
    ("train-model-structured-base", ["train", "--model", "110100:2"], "in [0, 1]"),
    ("train-model-balanced-target", ["train", "--model", "balanced:1.5"], "strictly between 0 and 1"),
    ("train-model-density-too-low", ["train", "--model", "uniform:1e-9"], "above the limit of 1,000,000,000"),
    ("train-model-explicit-missing-block", ["train", "--model", "hx=0.5"], "density is missing block(s)"),
    ("train-model-explicit-unknown-block", ["train", "--model", "hx=1,hh=1,hy=1,yx=1,yh=1,zz=1"], "unknown block name 'zz'"),
    ("train-model-explicit-syntax", ["train", "--model", "hx=1,hh"], "written name=value"),
    ("train-budget-infeasible", ["train", "--budget", "500"], "smallest feasible budget"),
    ("train-budget-negative", ["train", "--budget", "-5"], "--budget must be a positive finite number, got -5"),
    ("train-budget-zero", ["train", "--budget", "0"], "--budget must be a positive finite number"),
    ("train-budget-nan", ["train", "--budget", "nan"], "--budget must be a positive finite number, got nan"),
    ("train-budget-absurd", ["train", "--budget", "1e12"], "above the limit of 100,000,000 trainable weights"),
    ("train-task-unknown", ["train", "--task", "cifar"], "unknown task 'cifar'; known tasks:"),
    ("train-epochs-zero", ["train", "--epochs", "0"], "--epochs must be a positive integer, got 0"),
    ("train-epochs-negative", ["train", "--epochs", "-3"], "--epochs must be a positive integer, got -3"),
    ("train-patience-negative", ["train", "--patience", "-1"], "patience must be a non-negative integer, got -1"),
    ("train-lr-negative", ["train", "--lr", "-1"], "--lr must be a positive number, got -1"),
    ("train-lr-zero", ["train", "--lr", "0"], "--lr must be a positive number"),
    ("train-batch-size-zero", ["train", "--batch-size", "0"], "--batch-size must be a positive integer"),
    ("train-n-train-negative", ["train", "--n-train", "-5"], "--n-train must be a positive integer, got -5"),
    ("train-n-val-zero", ["train", "--n-val", "0"], "--n-val must be a positive integer"),
    ("train-n-test-zero", ["train", "--n-test", "0"], "--n-test must be a positive integer"),
    ("train-readout", ["train", "--readout", "foo"], "--readout 'foo' is not one of lagged, current"),
    ("train-activation", ["train", "--activation", "foo"], "--activation 'foo' is not one of relu"),
    ("train-activation-baseline", ["train", "--model", "lstm", "--activation", "foo"], "--activation 'foo'"),
    ("compare-rewire-baselines-only", ["compare", "--models", "lstm,mlp", "--rewire", "0.2"],
     "every config of --models is a baseline (lstm, mlp)"),
    ("train-kernel-baseline", ["train", "--model", "lstm", "--kernel", "sparse"], "the baseline 'lstm' ignores it"),
    ("train-init-scale-readout-baseline", ["train", "--model", "gru", "--init-scale", "density", "--readout", "current"],
     "--readout, --init-scale shape a block RNN"),
    ("train-kernel", ["train", "--kernel", "fast"], "--kernel 'fast' is not one of auto, dense, sparse"),
    ("train-init-scale", ["train", "--init-scale", "he"], "--init-scale 'he' is not one of fixed, density, fan-in"),
    ("train-rewire", ["train", "--rewire", "1"], "--rewire must be a fraction in [0, 1), got 1.0"),
    ("train-rewire-lstm", ["train", "--model", "lstm", "--rewire", "0.3"], "rewire moves the entries of a block RNN's masks; 'lstm' has none"),
    ("train-prune-rewire", ["train", "--prune", "0.5", "--rewire", "0.3"], "--rewire and --prune are two ways to move masks; choose one"),
    ("train-prune-patience", ["train", "--prune", "0.5", "--patience", "2"], "prune keeps the last epoch's weights: it does not combine with patience or select_rollouts (an earlier epoch's network is denser than the budget)"),
    ("train-threads-zero", ["train", "--threads", "0"], "--threads must be a positive integer"),
    ("train-rollouts-zero", ["train", "--task", "hammer", "--rollouts", "0"], "--rollouts must be a positive integer"),
    ("train-rollouts-not-hammer", ["train", "--task", "rad", "--rollouts", "5"],
     "--rollouts is for a task scored by rollouts (hammer), not rad"),  # was ignored, yet recorded and keyed
    ("compare-rollouts-not-hammer", ["compare", "--task", "mnist:cols14", "--models", "dense", "--rollouts", "5"],
     "--rollouts is for a task scored by rollouts (hammer), not mnist:cols14"),
    ("train-select-every-without-select-rollouts", ["train", "--task", "hammer", "--select-every", "3"],
     "--select-every sets how often --select-rollouts checks the policy; give --select-rollouts too"),  # was ignored
    ("train-select-rollouts-not-hammer", ["train", "--task", "rad", "--select-rollouts", "5"],
     "select_rollouts needs a task scored by rollouts (hammer), not 'rad'"),
    ("train-select-every-zero", ["train", "--task", "hammer", "--select-rollouts", "5", "--select-every", "0"],
     "select_every must be a positive integer, got 0"),
    ("train-select-every-over-epochs", ["train", "--task", "hammer", "--epochs", "1", "--select-rollouts", "5"],
     "select_every 2 is more than the 1 epoch(s): select_rollouts would check only the last epoch, which is kept anyway"),
    ("train-seed-negative", ["train", "--seed", "-1"], "--seed must be an integer from 0 to 4,294,967,295"),
    ("train-data-seed-negative", ["train", "--data-seed", "-2"], "--data-seed must be an integer from 0 to 4,294,967,295"),
    ("train-seed-too-large", ["train", "--seed", "18446744073709551616"], "--seed must be an integer from 0 to 4,294,967,295"),
    ("train-mnist-dir-missing", ["train", "--mnist-dir", "does-not-exist"], "MNIST directory does-not-exist does not exist"),
    ("train-mnist-dir-no-idx-files", ["train", "--mnist-dir", "{empty}"], "no MNIST idx files"),
    ("train-mnist-dir-is-a-file", ["train", "--mnist-dir", "{file}"], "is not a directory"),
    ("train-mnist-dir-other-task", ["train", "--task", "hammer", "--mnist-dir", "{empty}"], "--mnist-dir is for the rad task"),
    ("train-zoo-task-data-missing", ["train", "--task", "hammer:actions"], "no expert data set balancedrnn/hammer/expert-v0 yet"),
    ("train-dataset-other-task", ["train", "--dataset", "x/y-v0"], "--dataset is for the Hammer tasks"),
    ("train-hammer-n-train", ["train", "--task", "hammer", "--n-train", "50"], "--n-train does not apply to task hammer"),
    ("compare-hammer-n-test", ["compare", "--task", "hammer", "--models", "dense", "--n-test", "5"],
     "--n-test does not apply to task hammer"),
    ("train-ts-n-train", ["train", "--task", "ts:GunPoint", "--n-train", "50"],
     "--n-train does not apply to task ts:GunPoint: its data fix the train/validation/test splits"),
    ("train-forecast-data-seed", ["train", "--task", "ts:Airline-next6", "--data-seed", "3"],
     "--data-seed does not apply to task ts:Airline-next6: its series is cut in time"),
    ("compare-forecast-data-seed", ["compare", "--task", "ts:Lynx-next5", "--models", "dense", "--data-seed", "1"],
     "--data-seed does not apply to task ts:Lynx-next5"),
    ("train-out-dir-under-a-file", ["train", "--out-dir", "{file}/sub"], "--out-dir {file}/sub is not writable"),
    ("train-out-dir-is-a-file", ["train", "--out-dir", "{file}"], "it is a file, not a directory"),
    ("train-checkpoint-under-a-file", ["train", "--checkpoint", "{file}/ck.pt"], "--checkpoint {file}/ck.pt is not writable"),
    ("train-checkpoint-is-a-directory", ["train", "--checkpoint", "{empty}"], "it is a directory"),
    ("train-checkpoint-read-only", ["train", "--checkpoint", "{ro}/sub/ck.pt"], "--checkpoint {ro}/sub/ck.pt is not writable"),
    # ---------------------------------------------------------------------------------------------- compare
    ("compare-models-empty", ["compare", "--models", ","], "--models is empty"),
    ("compare-models-twice", ["compare", "--models", "dense,dense"], "--models lists dense more than once"),
    ("compare-models-same-config", ["compare", "--models", "uniform:0.2,Uniform:0.20"],
     "--models lists the same config more than once: Uniform:0.20, uniform:0.2"),
    ("compare-models-same-densities", ["compare", "--models", "dense,lstm,uniform:1"],
     "--models lists the same config more than once: dense, uniform:1"),
    ("compare-models-unknown", ["compare", "--models", "dense,foo"], "unknown model config 'foo'"),
    ("compare-budget-infeasible", ["compare", "--models", "lstm,dense,uniform:0.5", "--budget", "20000"],
     "--models dense: budget 20000 is too small"),
    ("compare-seeds-zero", ["compare", "--seeds", "0"], "--seeds must be a positive integer"),
    ("compare-workers-zero", ["compare", "--workers", "0"], "--workers must be a positive integer"),
    ("compare-init-scale", ["compare", "--init-scale", "he"], "--init-scale 'he' is not one of fixed, density, fan-in"),
    ("compare-rewire", ["compare", "--rewire", "-0.1"], "--rewire must be a fraction in [0, 1), got -0.1"),
    ("compare-prune", ["compare", "--prune", "2"], "--prune must be a fraction in [0, 1], got 2.0"),
    ("compare-epochs-zero", ["compare", "--epochs", "0"], "--epochs must be a positive integer"),
    ("compare-task-unknown", ["compare", "--task", "nope"], "unknown task 'nope'"),
    ("compare-budget-absurd", ["compare", "--budget", "1e12"], "above the limit"),
    ("compare-out-dir-under-a-file", ["compare", "--out-dir", "{file}/out"], "--out-dir {file}/out is not writable"),
    # -------------------------------------------------------------------------------------------- data rad
    ("data-rad-n-train-zero", ["data", "rad", "--n-train", "0"], "--n-train must be a positive integer"),
    ("data-rad-seed-negative", ["data", "rad", "--seed", "-1"], "--seed must be an integer from 0 to 4,294,967,295"),
    ("data-rad-mnist-dir-missing", ["data", "rad", "--mnist-dir", "nope"], "MNIST directory nope does not exist"),
    ("data-rad-paper-ignored", ["data", "rad", "--paper", "--n-train", "10", "--n-val", "5", "--n-test", "5"],
     "--paper would be ignored"),
    ("data-rad-mnist-dir-no-idx-files", ["data", "rad", "--mnist-dir", "{empty}"], "no MNIST idx files"),
    # ----------------------------------------------------------------------------------------- data hammer
    ("data-hammer-expert", ["data", "hammer", "--expert", "foo"], "--expert 'foo' is not one of nn, mlp, planner"),
    ("data-hammer-dataset-id-no-version", ["data", "hammer", "--dataset-id", "balancedrnn/hammer/mine"],
     "'balancedrnn/hammer/mine' is not a Minari data set id: it must look like [namespace/]name-v<version>"),
    ("data-hammer-dataset-id-public", ["data", "hammer", "--dataset-id", "D4RL/hammer/expert-v2"],
     "--dataset-id D4RL/hammer/expert-v2: the D4RL/ namespace is Minari's published data"),
    ("train-hammer-dataset-malformed", ["train", "--task", "hammer", "--dataset", "hammer expert"],
     "'hammer expert' is not a Minari data set id"),
    ("data-hammer-planner-distil", ["data", "hammer", "--expert", "planner", "--distil-rounds", "2"],
     "--distil-rounds distils a policy; --expert planner has none"),
    ("data-hammer-planner-dagger-options", ["data", "hammer", "--expert", "planner", "--rounds", "2", "--min-success", "0.5"],
     "--rounds, --min-success set the DAgger expert of --expert nn or mlp; --expert planner has none"),
    ("data-hammer-temperature-negative", ["data", "hammer", "--expert", "planner", "--planner-temperature", "-1"],
     "--planner-temperature must be 0 or more"),
    ("data-hammer-temperature-without-planner", ["data", "hammer", "--planner-temperature", "1"],
     "--planner-temperature sets the guided planner of --expert planner; --expert nn does not plan"),
    ("data-hammer-shared-grasp-too-long", ["data", "hammer", "--shared-grasp", "200"],
     "--shared-grasp must be a number of steps in [0, 200), got 200"),
    ("data-hammer-blind-zero", ["data", "hammer", "--expert", "planner", "--guide-blind-below", "0"],
     "--guide-blind-below must be a height above 0 (m), got 0"),
    ("data-hammer-blind-without-planner", ["data", "hammer", "--guide-blind-below", "0.1"],
     "--guide-blind-below sets the guide of --expert planner; --expert nn does not plan"),
    ("data-hammer-demo-noise-without-noisy-demos", ["data", "hammer", "--demo-noise", "0.2"],
     "--demo-noise sets the noise of --noisy-demos"),
    ("data-hammer-noisy-demos-shared-grasp", ["data", "hammer", "--noisy-demos", "4", "--shared-grasp", "15"],
     "--noisy-demos are planned from the reset without --shared-grasp's grasp"),
    ("data-hammer-episodes-per-round-without-rounds", ["data", "hammer", "--rounds", "0", "--episodes-per-round", "5"],
     "--episodes-per-round sets the rollouts the planner labels in each DAgger round; with --rounds 0"),
    ("data-hammer-distil-episodes-without-rounds", ["data", "hammer", "--distil-episodes", "50"],
     "--distil-episodes sets the rounds of --distil-rounds"),
    ("data-hammer-demos-zero", ["data", "hammer", "--demos", "0"], "--demos must be a positive integer"),
    ("data-hammer-workers-zero", ["data", "hammer", "--workers", "0"], "--workers must be a positive integer"),
    ("data-hammer-rounds-negative", ["data", "hammer", "--rounds", "-1"], "--rounds must be 0 or more"),
    ("data-hammer-min-success", ["data", "hammer", "--min-success", "1.5"], "--min-success must be a success rate in [0, 1]"),
    # ------------------------------------------------------------------------------------------------- spec
    ("spec-dx-zero", ["spec", "dense", "--dx", "0"], "--dx must be a positive integer"),
    ("spec-dy-negative", ["spec", "dense", "--dy", "-1"], "--dy must be a positive integer"),
    ("spec-budget-absurd", ["spec", "dense", "--budget", "1e12"], "--budget 1e+12 is above the limit of 100,000,000"),
    ("spec-budget-zero", ["spec", "dense", "--budget", "0"], "--budget must be a positive finite number"),
    ("spec-budget-infeasible", ["spec", "dense", "--budget", "100"], "smallest feasible budget"),
    ("spec-model-unknown", ["spec", "dense", "foo"], "unknown model config 'foo'"),
    # -------------------------------------------------------------------------------------------- reproduce
    ("reproduce-no-plan", ["reproduce"], "give a plan"),
    ("reproduce-plan-unknown", ["reproduce", "nope"], "unknown plan 'nope'"),
    ("reproduce-scale", ["reproduce", "rad-100k", "--scale", "huge"], "unknown scale 'huge'"),
    ("reproduce-workers-zero", ["reproduce", "rad-100k", "--workers", "0"], "--workers must be a positive integer"),
    ("reproduce-set-syntax", ["reproduce", "rad-100k", "--set", "epochs"], "--set takes key=value"),
    ("reproduce-set-bad-value", ["reproduce", "rad-100k", "--set", "epochs=0"], "epochs must be a positive integer"),
    ("reproduce-set-unknown-key", ["reproduce", "rad-100k", "--set", "foo=1"], "unknown config key(s) foo"),
    ("reproduce-set-model", ["reproduce", "rad-100k", "--set", "model=lstm"], "base.model would be ignored"),
    ("reproduce-set-select-every-without-select-rollouts", ["reproduce", "hammer", "--scale", "smoke", "--set",
                                                           "select_rollouts=0"],
     "with select_rollouts 0 it is read by nothing: leave it at 2 (got 1)"),  # was keyed, recorded and ignored
    ("reproduce-set-rollouts-not-hammer", ["reproduce", "rad-100k", "--set", "rollouts=5"],
     "rollouts is for a task scored by rollouts (hammer), not 'rad'"),  # was accepted, keyed, recorded and ignored
    ("reproduce-set-dataset-not-hammer", ["reproduce", "rad-100k", "--set", "dataset=x/y-v0"],
     "dataset is for the Hammer tasks (hammer, hammer:actions), not 'rad'"),  # likewise
    ("reproduce-report-only-nothing-run", ["reproduce", "rad-100k", "--scale", "smoke", "--report-only", "--out-dir", "{empty}/rep"],
     "no finished runs of plan 'rad-100k' at the smoke scale"),
    ("reproduce-retry-failed-report-only", ["reproduce", "rad-100k", "--report-only", "--retry-failed"],
     "--retry-failed runs trials again; --report-only trains nothing"),
    ("reproduce-set-mnist-dir-missing", ["reproduce", "rad-100k", "--set", "mnist_dir=nope"], "MNIST directory nope does not exist"),
    ("reproduce-out-dir-under-a-file", ["reproduce", "rad-100k", "--scale", "smoke", "--out-dir", "{file}/rep"],
     "--out-dir {file}/rep is not writable"),
    # ------------------------------------------------------------------------------------------------- runs
    ("runs-limit-negative", ["runs", "--limit", "-1"], "--limit must be 0 or more, got -1"),
    ("runs-status-bogus", ["runs", "--status", "bogus"], "--status 'bogus' is not one of ok, failed, diverged, timeout, interrupted"),
    ("runs-export-suffix", ["runs", "--export", "runs.txt"], "--export must end in .parquet or .csv"),
    ("runs-export-under-a-file", ["runs", "--export", "{file}/runs.csv"], "--export {file}/runs.csv is not writable"),
    ("runs-plots-under-a-file", ["runs", "--plots", "{file}/plots"], "--plots {file}/plots is not writable"),
    # -------------------------------------------------------------------------------------------- recommend
    ("recommend-candidates-zero", [*REC, "--candidates", "0"], "--candidates must be a positive integer"),
    ("recommend-top-zero", [*REC, "--top", "0"], "--top must be a positive integer"),
    ("recommend-lr-negative", [*REC, "--lr", "-1"], "--lr must be a positive number, got -1"),
    ("recommend-seed-negative", [*REC, "--seed", "-1"], "--seed must be an integer from 0 to 4,294,967,295"),
    ("recommend-steps-zero", [*REC, "--steps", "0"], "--steps must be a positive integer"),
    ("recommend-n-train-negative", [*REC, "--n-train", "-5"], "--n-train must be a positive integer"),
    ("recommend-dx-zero", ["recommend", "--dx", "0", "--dy", "2", "--budget", "5000"], "--dx must be a positive integer"),
    ("recommend-budget-negative", ["recommend", "--dx", "10", "--dy", "2", "--budget", "-1"], "--budget must be a positive"),
    ("recommend-budget-absurd", ["recommend", "--dx", "10", "--dy", "2", "--budget", "1e12"], "above the limit"),
    ("recommend-budget-infeasible", ["recommend", "--dx", "2500", "--dy", "10", "--budget", "40"], "smallest feasible budget"),
    ("recommend-regression-classification-task", ["recommend", "--task", "rad", "--regression"],
     "--regression: rad is a classification task"),
    ("recommend-set-syntax", [*REC, "--set", "chance"], "--set takes key=value"),
    ("recommend-set-not-a-number", [*REC, "--set", "chance=abc"], "--set chance needs a finite number"),
    ("recommend-set-nan", [*REC, "--set", "chance=nan"], "--set chance needs a finite number, got 'nan'"),
    ("recommend-set-zoo-predictor", [*REC, "--set", "chance=0.1"], "are read by predictors fitted with"),
    ("recommend-predictor-missing", [*REC, "--predictor", "nope.pkl"], "predictor file nope.pkl does not exist"),
    ("recommend-records-missing", [*REC, "--records", "nope"], "records directory nope does not exist"),
    ("recommend-predictor-and-records", [*REC, "--predictor", "{file}", "--records", "{empty}"], "not both"),
    ("recommend-steps-records", [*REC, "--records", "{empty}", "--steps", "50"], "--steps is read by the zoo predictor"),
    ("recommend-run-dir-no-store", [*REC, "--run-dir", "{empty}"], "no run store at {empty}/store.journal"),
    ("recommend-run-dir-records", [*REC, "--run-dir", "{empty}", "--records", "{empty}"],
     "give either --records or --run-dir"),
    ("recommend-run-dir-storage", [*REC, "--run-dir", "{empty}", "--storage", "{empty}/s.journal"],
     "give either --storage or --run-dir"),
    # ---------------------------------------------------------------------------------------- predictor fit
    ("predictor-fit-out-under-a-file", ["predictor", "fit", "--records", "{empty}", "--out", "{file}/p.pkl"],
     "--out {file}/p.pkl is not writable"),
    ("predictor-fit-out-is-a-directory", ["predictor", "fit", "--records", "{empty}", "--out", "{empty}"], "it is a directory"),
    ("runs-storage-and-run-dir", ["runs", "--storage", "{empty}/s.journal", "--run-dir", "{empty}"],
     "give either --storage or --run-dir"),
    ("predictor-fit-records-and-run-dir", ["predictor", "fit", "--records", "{empty}", "--run-dir", "{empty}"],
     "give either --records or --run-dir"),
    ("predictor-evaluate-storage-and-run-dir", ["predictor", "evaluate", "--storage", "{empty}/s.journal", "--run-dir",
                                                "{empty}"], "give either --storage or --run-dir"),
    ("predictor-fit-n-classes-one", ["predictor", "fit", "--records", "{empty}", "--n-classes", "1"],
     "--n-classes must be at least 2, got 1"),
    ("predictor-fit-zoo-n-classes", ["predictor", "fit", "--zoo", "--storage", "{empty}/s.journal", "--n-classes", "5", "--parent"],
     "--n-classes, --parent/--no-parent shape the per-study predictor; the zoo predictor (--zoo) has no classes"),
    ("predictor-fit-zoo-prefix-and-name", ["predictor", "fit", "--zoo", "--storage", "{empty}/s.journal", "--name", "zoo-a",
                                           "--study-prefix", "long4-"], "--study-prefix selects the studies by prefix"),
    ("predictor-fit-n-estimators-zero", ["predictor", "fit", "--records", "{empty}", "--n-estimators", "0"],
     "--n-estimators must be a positive integer"),
    ("predictor-fit-seed-negative", ["predictor", "fit", "--records", "{empty}", "--seed", "-1"],
     "--seed must be an integer from 0 to 4,294,967,295, got -1"),
    ("predictor-evaluate-seed-too-large", ["predictor", "evaluate", "--records", "{empty}", "--seed", "5000000000"],
     "--seed must be an integer from 0 to 4,294,967,295"),
]


def _files(root: Path) -> set[Path]:
    """Every path under ``root`` except the cache directory (which holds only the environment's own caches)."""
    return {p for p in root.rglob("*") if "cache" not in p.relative_to(root).parts}


@contextmanager
def _places(tmp_path: Path, args: list[str]) -> Iterator[Callable[[str], str]]:
    """Make the placeholders' files under ``tmp_path``; yields the function that fills them into a string."""
    if any("{ro}" in a for a in args) and os.geteuid() == 0:
        pytest.skip("root writes into a 0o500 directory; the cases under a regular file cover root")
    places = {"{file}": tmp_path / "a-file", "{empty}": tmp_path / "empty", "{ro}": tmp_path / "read-only"}
    places["{file}"].write_text("not a directory\n")
    places["{empty}"].mkdir()
    places["{ro}"].mkdir()
    places["{ro}"].chmod(0o500)

    def fill(text: str) -> str:
        for key, path in places.items():
            text = text.replace(key, str(path))
        return text

    try:
        yield fill
    finally:
        places["{ro}"].chmod(0o700)


DOC = Path(__file__).resolve().parents[1] / "docs" / "bad_input.md"
REGEN = os.environ.get("BALANCEDRNN_REGEN_DOCS") == "1"
"""``BALANCEDRNN_REGEN_DOCS=1 .venv/bin/python -m pytest tests/test_bad_input.py -k test_cli_bad_input`` writes each
case's real message into docs/bad_input.md instead of checking it."""


def _doc_row(case: str) -> tuple[list[str], int, list[str]] | None:
    """The doc's lines, the index of ``case``'s row and that row's cells (None: no row)."""
    lines = DOC.read_bytes().decode("utf-8").split("\n")
    for i, line in enumerate(lines):
        if line.startswith(f"| {case} | "):
            return lines, i, [c.strip() for c in line.strip().strip("|").split(" | ")]
    return None


def _code_span(text: str) -> str:
    """``text`` as a markdown code span (double backticks when it holds one)."""
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _check_doc_message(case: str, line: str) -> None:
    """The message docs/bad_input.md gives for ``case`` is the one the command prints (or, in regeneration mode,
    becomes it)."""
    found = _doc_row(case)
    assert found is not None, f"docs/bad_input.md has no row for {case}"
    lines, i, cells = found
    if REGEN:
        cells[-1] = _code_span(line)
        lines[i] = "| " + " | ".join(cells) + " |"
        DOC.write_bytes("\n".join(lines).encode("utf-8"))
    else:
        assert cells[-1] == _code_span(line), (
            f"docs/bad_input.md's message for {case} is stale; the command prints {line!r} "
            "(regenerate: see REGEN in this file)")


@pytest.mark.parametrize("case,args,pattern", [pytest.param(i, a, p, id=i) for i, a, p in CASES])
def test_cli_bad_input(case: str, args: list[str], pattern: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                       capsys: pytest.CaptureFixture[str]) -> None:
    cli_env(tmp_path, monkeypatch)
    with _places(tmp_path, args) as fill:
        before = _files(tmp_path)
        line = one_line_error(run_main([fill(a) for a in args], capsys), fill(pattern), code=2)
        assert _files(tmp_path) == before, sorted(map(str, _files(tmp_path) - before))
    _check_doc_message(case, line.replace(f"{tmp_path}{os.sep}", "").replace(str(tmp_path), "."))


SCRIPT_CASES = ["train-budget-negative", "data-rad-mnist-dir-no-idx-files", "reproduce-set-bad-value",
                "runs-export-under-a-file", "predictor-fit-n-classes-one"]
"""Cases also run through the real script (one per command family, nested commands and placeholders included)."""


@pytest.mark.parametrize("args,pattern", [pytest.param(a, p, id=i) for i, a, p in CASES if i in SCRIPT_CASES])
def test_cli_bad_input_through_the_script(args: list[str], pattern: str, tmp_path: Path) -> None:
    """The same boundary in a real process: exit code 2 and one stderr line as a shell sees them, nothing written."""
    with _places(tmp_path, args) as fill:
        before = _files(tmp_path)
        res = run([fill(a) for a in args], tmp_path, timeout=120)
        one_line_error(res, fill(pattern), code=2)
        assert _files(tmp_path) == before, sorted(map(str, _files(tmp_path) - before))


def test_enough_cases() -> None:
    """The issue asks for at least 45 command-line cases in this part of the suite, each with its own name."""
    assert len(CASES) >= 45
    assert len({c[0] for c in CASES}) == len(CASES)
    assert set(SCRIPT_CASES) <= {c[0] for c in CASES}


def test_docs_list_every_case() -> None:
    """docs/bad_input.md has a row per case (regenerate its table when a case is added)."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "bad_input.md").read_text()
    missing = [c[0] for c in CASES if f"| {c[0]} |" not in doc]
    assert not missing, f"cases not listed in docs/bad_input.md: {missing}"


# ------------------------------------------------------------------------------------------- Python API
def test_api_unknown_task() -> None:
    from balancedrnn.tasks import TaskError, get_task

    with pytest.raises(TaskError, match=r"^unknown task 'nope'; known tasks: .*rad") as e:
        get_task("nope")
    assert isinstance(e.value, ValueError) and "\n" not in str(e.value)


@pytest.mark.parametrize("dx,dy,pattern", [(0, 2, "dx must be a positive integer"), (3, -1, "dy must be a positive integer"),
                                           (2.5, 2, "dx must be a positive integer")])
def test_api_default_budget_bad_shape(dx, dy, pattern) -> None:
    from balancedrnn.tasks.timeseries import default_budget

    with pytest.raises(ValueError, match=pattern) as e:
        default_budget(dx, dy)
    assert "\n" not in str(e.value)


def test_api_unknown_timeseries_dataset() -> None:
    from balancedrnn.tasks.timeseries import load_dataset
    from balancedrnn.io import DataError

    with pytest.raises(DataError, match=r"unknown time-series data set 'nope'; known: ArrowHead") as e:
        load_dataset("ts:nope")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("config,budget,pattern", [("foo", 1e5, "unknown model config 'foo'"),
                                                   ("dense", 100, "smallest feasible budget"),
                                                   ("uniform:2", 1e5, r"in \[0, 1\]"),
                                                   ("lstm", -1, "budget must be a positive finite number")])
def test_api_spec_summary_bad_config(config, budget, pattern) -> None:
    from balancedrnn.core.configs import config_summary as spec_summary

    with pytest.raises(ValueError, match=pattern) as e:
        spec_summary(config, 2500, 10, budget)
    assert "\n" not in str(e.value)


# --- sweep and store cases (added separately) ---
