"""The command line as a user runs it: real processes, real exit codes, real files."""

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from clihelp import one_line_error, run


def test_compare_end_to_end(mnist_dir, tmp_path):
    res = run(["compare", "--models", "dense,balanced,lstm", "--seeds", "2", "--n-train", "200", "--n-val", "50",
               "--n-test", "100", "--epochs", "1", "--mnist-dir", str(mnist_dir), "--out-dir", "out", "--quiet",
               "--threads", "1"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert "balanced" in res.stdout and "±" in res.stdout and "cannot get down to the budget" in res.stdout
    out = tmp_path / "out"
    records = sorted((out / "records").glob("*.json"))
    assert len(records) == 6
    assert all(json.loads(p.read_text())["status"] == "ok" for p in records)
    png = out / "accuracy_vs_hidden_proportion.png"
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"
    assert "| balanced | 2 |" in (out / "summary.md").read_text()
    assert "sample standard deviation (ddof 1)" in res.stdout and "(ddof 1)" in (out / "summary.md").read_text()


EXPLICIT = "hx=0.2,hh=1,hy=1,yx=1,yh=1,yy=1"


def test_compare_at_an_init_scale(mnist_dir, tmp_path):
    """``compare --init-scale`` trains every config at that scale (recorded in each run's config): a sparse
    config's run differs from the same seed at the fixed scale, dense's is the same to the bit (its blocks have
    density 1, so the scale leaves them alone)."""
    values = {}
    for scale in ("fixed", "density"):
        res = run(["compare", "--models", f"dense,uniform:0.2,{EXPLICIT}", "--seeds", "1", "--n-train", "100", "--n-val", "20",
                   "--n-test", "50", "--epochs", "1", "--budget", "30000", "--mnist-dir", str(mnist_dir),
                   "--out-dir", scale, "--quiet", "--threads", "1", "--init-scale", scale], tmp_path)
        assert res.returncode == 0, res.stderr
        assert ("1 epoch, 1 seed(s), init scale density" in res.stdout) == (scale == "density"), res.stdout
        assert "±" not in (tmp_path / scale / "summary.md").read_text()  # one seed: no spread was measured
        for path in (tmp_path / scale / "records").glob("*.json"):
            rec = json.loads(path.read_text())
            assert rec["status"] == "ok" and rec["config"]["init_scale"] == scale
            values[scale, rec["config"]["model"]] = rec["history"]["train_loss"]
    assert len(values) == 6  # explicit densities in the list keep their commas: one config, not six fragments
    assert values["fixed", "dense"] == values["density", "dense"]
    assert values["fixed", "uniform:0.2"] != values["density", "uniform:0.2"]
    assert values["fixed", EXPLICIT] != values["density", EXPLICIT]


@pytest.mark.parametrize("option", ["rewire", "prune"])
def test_compare_moves_the_masks_of_block_rnns_only(option, mnist_dir, tmp_path):
    """``compare --rewire`` / ``--prune`` moves the block RNNs' masks and trains the LSTM as it is; the title says
    it."""
    res = run(["compare", "--models", "uniform:0.2,lstm", "--seeds", "1", "--n-train", "100", "--n-val", "20",
               "--n-test", "50", "--epochs", "2", "--budget", "120000", "--mnist-dir", str(mnist_dir),
               "--out-dir", "out", "--quiet", "--threads", "1", f"--{option}", "0.3"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert f"{option} 0.3" in res.stdout
    given = {}
    for path in (tmp_path / "out" / "records").glob("*.json"):
        rec = json.loads(path.read_text())
        assert rec["status"] == "ok"
        given[rec["config"]["model"]] = rec["config"][option]
    assert given == {"uniform:0.2": 0.3, "lstm": 0.0}


def test_train_and_data(mnist_dir, tmp_path):
    res = run(["data", "rad", "--n-train", "100", "--n-val", "20", "--n-test", "20", "--mnist-dir", str(mnist_dir), "--quiet"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert "distinct source images" in res.stdout
    res = run(["train", "--model", "uniform:0.2", "--budget", "20000", "--n-train", "100", "--n-val", "20", "--n-test", "20",
               "--epochs", "1", "--mnist-dir", str(mnist_dir), "--out-dir", "runs", "--quiet"], tmp_path)
    assert res.returncode == 0, res.stderr
    rec = json.loads(next((tmp_path / "runs").glob("*.json")).read_text())
    assert rec["status"] == "ok" and rec["config"]["model"] == "uniform:0.2"
    assert "idx files" in rec["data_source"]


def test_corrupt_mnist_file(mnist_dir, tmp_path):
    bad = tmp_path / "mnist"
    bad.mkdir()
    (bad / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8bnot really gzip")
    (bad / "t10k-labels-idx1-ubyte.gz").write_bytes((mnist_dir / "t10k-labels-idx1-ubyte.gz").read_bytes())
    res = run(["data", "rad", "--mnist-dir", str(bad), "--quiet"], tmp_path)
    one_line_error(res, "corrupt")
    assert not (tmp_path / "cache" / "rad").exists() or not list((tmp_path / "cache" / "rad").iterdir())


def test_stale_cache_version(mnist_dir, tmp_path):
    import torch

    args = ["data", "rad", "--n-train", "50", "--n-val", "20", "--n-test", "20", "--mnist-dir", str(mnist_dir), "--quiet"]
    assert run(args, tmp_path).returncode == 0
    (path,) = (tmp_path / "cache" / "rad").glob("*.pt")
    payload = torch.load(path, weights_only=True)
    payload["generator_version"] = 0
    torch.save(payload, path)
    one_line_error(run(args, tmp_path), "generator version 0")
    assert run(args + ["--rebuild"], tmp_path).returncode == 0


def test_unwritable_out_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    one_line_error(run(["train", "--out-dir", str(blocker / "sub"), "--budget", "20000"], tmp_path),
                   f"--out-dir {blocker / 'sub'} is not writable")


def test_compare_keys_do_not_change_with_workers(mnist_dir, tmp_path):
    """The same configs compared with another --workers are the same trials: one record per config in the records
    directory, the same keys (the threads per worker, cores divided by --workers, went into every config's key,
    so a second run added a second record of each config that a report over the directory counted twice)."""
    import json

    from balancedrnn.train import TrainConfig

    keys = {}
    for workers in ("1", "2"):
        res = run(["compare", "--models", "dense,uniform:0.2", "--seeds", "1", "--n-train", "40", "--n-val", "20",
                   "--n-test", "20", "--epochs", "1", "--budget", "30000", "--mnist-dir", str(mnist_dir),
                   "--out-dir", "out", "--quiet", "--workers", workers], tmp_path)
        assert res.returncode == 0, res.stderr
        recs = [json.loads(p.read_text()) for p in (tmp_path / "out" / "records").glob("*.json")]
        assert len(recs) == 2, sorted(r["trial_key"] for r in recs)
        assert all(r["trial_key"] == TrainConfig.from_dict(r["config"]).key() for r in recs)
        keys[workers] = sorted(r["trial_key"] for r in recs)
    assert keys["1"] == keys["2"]


# ------------------------------------------------------------------------------------- help and output
HELP_COMMANDS = [["train"], ["compare"], ["data", "rad"], ["data", "hammer"], ["reproduce"], ["sweep"], ["runs"],
                 ["spec"], ["recommend"]]
FLAGS = {"--help", "--paper", "--quiet", "--list", "--regression", "--retry-failed", "--extrapolate", "--zoo",
         "--successes-only", "--report-only"}
"""On/off flags: their default is off, said by their help text; every other option must show a default."""


def _option_blocks(text: str) -> dict[str, str]:
    """Each option of a Rich --help screen with the text of all its lines."""
    blocks: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"^│\s*\*?\s*(--[\w-]+)", line)
        if m:
            current = m.group(1)
            blocks[current] = line.rstrip().removesuffix("│").rstrip()  # the box's right edge ends each line
        elif current and line.startswith("│"):
            blocks[current] += " " + line.strip("│ ")
        else:
            current = None
    return blocks


@pytest.mark.parametrize("command", HELP_COMMANDS, ids=" ".join)
def test_help_shows_every_default(command, tmp_path):
    res = run(command + ["--help"], tmp_path, COLUMNS="200")
    assert res.returncode == 0, res.stderr
    blocks = _option_blocks(res.stdout)
    assert len(blocks) >= 3, res.stdout
    missing = [opt for opt, text in blocks.items()
               if opt not in FLAGS and "[default:" not in text and "[required]" not in text]
    assert not missing, f"options without a visible default: {missing}"
    assert "[default" not in res.stdout.replace("[default:", ""), "a default text was not rendered"
    lost = re.search(r"\w \.(\s|$)", res.stdout)  # "Epochs ." where Rich ate "[default 3; --paper 25]"
    assert not lost, f"a help text lost its bracketed part: {lost.group(0)!r}"


def test_train_help_states_the_hammer_protocol_of_paper(tmp_path):
    """--paper on the Hammer tasks is batch 64 episodes and the 4,500/250/250 split (SPEC §5): the help's default
    texts say so (before: "--paper 16" for --batch-size and only RAD's sizes, whatever the task)."""
    res = run(["train", "--help"], tmp_path, COLUMNS="200")
    blocks = _option_blocks(res.stdout)
    assert "hammer" in blocks["--batch-size"] and "64" in blocks["--batch-size"], blocks["--batch-size"]
    for option, rad, hammer in (("--n-train", "30000", "4500"), ("--n-val", "1000", "250"), ("--n-test", "1000", "250")):
        assert rad in blocks[option] and hammer in blocks[option] and "hammer" in blocks[option], blocks[option]


@pytest.mark.parametrize("command", ["train", "compare"])
def test_data_seed_help_says_what_it_seeds(command, tmp_path):
    """--data-seed's help said "Seed of the generated data set", true of RAD only: for a --data file and the
    time-series sets it seeds the split (the help of --data says so), and a series cut in time takes none."""
    blocks = _option_blocks(run([command, "--help"], tmp_path, COLUMNS="200").stdout)
    text = blocks["--data-seed"]
    assert "generated data set" not in text and "--data file" in text and "split" in text and "cut in time" in text, text


def test_recommend_help_says_what_epochs_and_set_feed(tmp_path):
    """--epochs' help said "Length of the predicted validation curve (zoo predictor)", but every recommender prints it
    in the train command it suggests; --set's did not say that the shipped (zoo) predictor refuses it."""
    blocks = _option_blocks(run(["recommend", "--help"], tmp_path, COLUMNS="200").stdout)
    assert "train command" in blocks["--epochs"] and "any predictor" in blocks["--epochs"], blocks["--epochs"]
    assert "predictor fit" in blocks["--set"] and "not by the zoo" in blocks["--set"], blocks["--set"]


def test_tasks_is_a_table_with_default_budgets(tmp_path):
    res = run(["tasks"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert "default budget" in res.stdout and "┃ name" in res.stdout
    rad = next(line for line in res.stdout.splitlines() if line.startswith("│ rad "))
    assert "100,000" in rad and "2500" in rad and "accuracy" in rad


def test_tasks_zoo_marks_the_task_that_needs_its_data(tmp_path):
    """``--zoo`` lists the zoo that ``reproduce zoo`` sweeps as "yes", and hammer:actions, which joins only
    where its expert data exist, as such (the README counts the zoo as 31 plus Hammer)."""
    from balancedrnn.tasks import task_names
    from balancedrnn.tasks.zoo import ZOO, zoo_names

    res = run(["tasks", "--zoo"], tmp_path)
    assert res.returncode == 0, res.stderr
    hammer = next(line for line in res.stdout.splitlines() if line.startswith("│ hammer:actions "))
    assert "│ if data" in hammer
    yes = res.stdout.count("│ yes ")
    assert yes == len(zoo_names(task_names())) and "│ if data" not in res.stdout.replace(hammer, "")
    if "ts:BasicMotions" in task_names():
        assert yes == len(ZOO) == 31


def test_per_task_default_budget():
    from balancedrnn.core.configs import build_model
    from balancedrnn.tasks import get_task, task_names

    assert get_task("rad").default_budget == 100_000 and get_task("hammer").default_budget == 100_000
    if "ts:BasicMotions" not in task_names():
        pytest.skip("aeon (extra 'timeseries') is not installed")
    t = get_task("ts:BasicMotions")
    assert t.default_budget == 5_000  # 100,000 gave balanced dh 4,902 at hh density 0.002
    s = build_model("balanced", t.dx, t.dy, t.default_budget).summary()
    assert 100 <= s["dh"] <= 400 and s["density"]["hh"] > 0.02 and abs(s["hidden_proportion"] - 0.5) < 0.02
    for name in task_names():
        if name.startswith("ts:"):
            task = get_task(name)
            assert 1_000 <= task.default_budget <= 10_000 and task.default_budget % 100 == 0


@pytest.mark.parametrize("config", ["dense", "standard", "balanced", "uniform:0.2", "110100", "balanced:0.3", "lstm", "gru", "rnn"])
@pytest.mark.parametrize("dx,dy,budget", [(2500, 10, 100_000), (6, 4, 5_000), (46, 26, 100_000)])
def test_spec_table_is_computed_without_building(config, dx, dy, budget):
    from balancedrnn.core.configs import config_summary as spec_summary
    from balancedrnn.core.configs import build_model

    built = build_model(config, dx, dy, budget).summary()  # type: ignore[operator]
    fast = spec_summary(config, dx, dy, budget)
    for key in ("dh", "weights", "parameters", "hidden_proportion", "density"):
        assert fast[key] == built[key], key
    assert fast["budget_note"] == (built.get("budget_note") or "")


def test_spec_at_the_limit_is_instant(tmp_path):
    res = run(["spec", "dense", "balanced", "lstm", "--budget", "1e8"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert "100,003,584" in res.stdout and "8,818" in res.stdout


def test_runs_cells_are_formatted():
    from balancedrnn.cli import format_cell

    assert format_cell("budget", 100_000.0) == "100,000"
    assert format_cell("weights", 99_021) == "99,021"
    assert format_cell("dh", 4902.0) == "4,902"
    assert format_cell("hidden_proportion", 0.50123) == "0.501"
    assert format_cell("test", 0.123456) == "0.1235"
    assert format_cell("wall_time", 12.345) == "12.3s"
    assert format_cell("success_rate", 0.97) == "97%" and format_cell("success_rate", 1.0) == "100%"
    assert format_cell("test", float("nan")) == "-" and format_cell("test", None) == "-"
    assert format_cell("model", "dense") == "dense" and format_cell("seed", 3) == "3"


def test_recommend_prints_its_top_candidates_as_a_table(tmp_path):
    pytest.importorskip("sklearn")
    from test_meta import synthetic_records

    from balancedrnn.analysis import meta

    predictor = meta.MetaPredictor(n_estimators=20, random_state=0).fit(meta.prepare_records(synthetic_records(n_configs=12, seeds=1)))
    meta.save_predictor(predictor, tmp_path / "p.pkl")
    res = run(["recommend", "--dx", "100", "--dy", "3", "--budget", "30000", "--predictor", "p.pkl", "--candidates", "200"], tmp_path,
              COLUMNS="250")
    assert res.returncode == 0, res.stderr
    assert "best 5 of" in res.stdout and "┃ origin" in res.stdout and "density_hx" not in res.stdout
    # this predictor predicts the runs' metric (accuracy), and every place the score is printed names it
    flat = " ".join(res.stdout.split())
    assert "predicted accuracy of named configs at this budget" in flat and "predicted accuracy: the final accuracy" in flat
    assert "predicted accuracy (class)" in flat and "┃ predicted ┃" not in res.stdout


def test_compare_with_every_trial_failed_exits_1(tmp_path):
    from balancedrnn.tasks import task_names

    if "ts:ItalyPowerDemand" not in task_names():
        pytest.skip("aeon (extra 'timeseries') is not installed")
    res = run(["compare", "--task", "ts:ItalyPowerDemand", "--models", "dense", "--seeds", "2", "--epochs", "1",
               "--lr", "1e30", "--threads", "1", "--quiet", "--out-dir", "out"], tmp_path)
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("error: every one of the 2 trials failed (2 diverged)") and "training loss became nan" in last
    assert len(list((tmp_path / "out" / "records").glob("*.json"))) == 2  # the failures are recorded


def test_reproduce_interrupted_says_so_and_exits_130(tmp_path, monkeypatch, capsys):
    from balancedrnn.reproduce import plan as reproduce
    from balancedrnn.cli import main

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(reproduce, "run_plan", interrupted)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["reproduce", "rad-100k", "--scale", "smoke", "--quiet"])
    assert e.value.code == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["interrupted: finished trials are kept; run the same command to resume"]


def test_train_with_early_stopping(tmp_path):
    """--patience stops once the validation loss has not improved for that many epochs; the record keeps the best
    epoch (its validation result is the final one)."""
    pytest.importorskip("aeon")
    res = run(["train", "--task", "ts:ItalyPowerDemand", "--model", "dense", "--budget", "3000", "--epochs", "40",
               "--lr", "0.05", "--patience", "1", "--threads", "1", "--out-dir", "out", "--quiet"], tmp_path)
    assert res.returncode == 0, res.stderr
    record = json.loads(next((tmp_path / "out").glob("*.json")).read_text())
    h = record["history"]
    losses = [v["loss"] for v in h["val"]]
    assert record["config"]["patience"] == 1
    assert h["stopped_epoch"] == len(losses) < 40 and h["stopped_epoch"] - h["best_epoch"] == 1
    assert losses[h["best_epoch"] - 1] == min(losses) and record["final"]["val"] == h["val"][h["best_epoch"] - 1]
    # it says so: the table's numbers are an earlier epoch's than the last trained (it once said nothing)
    assert (f"epochs: early stopping ended the run after {h['stopped_epoch']} of 40 epochs (patience 1); the scores "
            f"above are epoch {h['best_epoch']}'s (the lowest validation loss)") in " ".join(res.stdout.split())


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a CUDA GPU")
@pytest.mark.parametrize("command", [["train"], ["compare", "--models", "dense"],
                                     ["sweep", "--models", "dense", "--seeds", "1", "--budget", "30000"]])
def test_a_gpu_the_machine_lacks_is_bad_input(command, tmp_path, mnist_dir, monkeypatch, capsys):
    """--device cuda without CUDA: one line before any data or record (it once failed after loading the data, and
    its failed record replaced the CPU run's record of the same key)."""
    from clihelp import run_main

    monkeypatch.chdir(tmp_path)
    before = set(tmp_path.rglob("*"))
    one_line_error(run_main([*command, "--device", "cuda", "--mnist-dir", str(mnist_dir), "--n-train", "40"]
                            if command[0] != "sweep" else [*command, "--device", "cuda", "--set",
                                                           f"mnist_dir={mnist_dir}"], capsys),
                   "sees no CUDA GPU; use --device cpu", code=2)
    assert set(tmp_path.rglob("*")) == before


def test_estimators_refuse_a_gpu_the_machine_lacks():
    import numpy as np
    import torch

    from balancedrnn import BlockRNNClassifier

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    with pytest.raises(ValueError, match="sees no CUDA GPU"):
        BlockRNNClassifier(device="cuda:0", epochs=1).fit(np.zeros((6, 1, 4)), [0, 1] * 3)


@pytest.mark.parametrize("device, message", [("meta", "holds shapes, not numbers"),
                                             ("xpu", "sees no xpu device; use --device cpu")])
def test_a_device_that_cannot_run_is_refused(device, message):
    """The meta device (shapes, no numbers) and an accelerator this torch has a backend for but sees none of
    (XPU here) are refused by the one device check, as CUDA is."""
    import torch

    from balancedrnn.env import check_device

    if device == "xpu" and (not hasattr(torch, "xpu") or torch.xpu.is_available()):
        pytest.skip("this torch has no XPU backend, or sees an XPU")
    with pytest.raises(ValueError, match=message):
        check_device(device)
    check_device("cpu")


def test_spec_shows_the_configs_that_fit_beside_one_that_does_not(capsys):
    """One infeasible config among several is a row and a line naming it, not an error hiding the others."""
    from clihelp import run_main_full

    code, out, err = run_main_full(["spec", "balanced", "uniform:0.5", "dense", "--budget", "26000"], capsys)
    assert code == 0, err
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.startswith("│")}
    assert set(rows) == {"balanced", "uniform:0.5", "dense"} and "infeasible" in rows["dense"]
    assert "infeasible" not in rows["balanced"] + rows["uniform:0.5"]
    assert "infeasible: dense: budget 26000 is too small" in out and "smallest feasible budget is 26361" in out
    code, out, err = run_main_full(["spec", "dense", "--budget", "26000"], capsys)  # alone: bad input, as before
    assert code == 2 and err.strip().startswith("error: budget 26000 is too small")


@pytest.mark.parametrize("how", ["script", "module"])
def test_ctrl_c_while_the_command_starts_is_interrupted_not_a_traceback(tmp_path, how):
    """A Ctrl-C while the command still imports PyTorch (about a second) is one "interrupted: ..." line and exit 130
    (it was a KeyboardInterrupt traceback: the import came before main could catch it). A hook holds the import
    of torch so that the signal lands inside it."""
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import time

    hook = tmp_path / "hook"
    hook.mkdir()
    mark = tmp_path / "importing-torch"
    (hook / "sitecustomize.py").write_text(
        "import os, sys, time\n"
        "class _Slow:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch':\n"
        "            open(os.environ['SLOW_MARK'], 'w').close()\n"
        "            time.sleep(30)\n"
        "        return None\n"
        "sys.meta_path.insert(0, _Slow())\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")])),
           "SLOW_MARK": str(mark)}
    script = shutil.which("balancedrnn", path=str(Path(sys.executable).parent))
    if how == "script" and script is None:
        pytest.skip("no balancedrnn script beside this interpreter")
    cmd = [script] if how == "script" else [sys.executable, "-m", "balancedrnn"]
    proc = subprocess.Popen([*cmd, "spec", "dense", "--dx", "3", "--dy", "2", "--budget", "1000"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    while not mark.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert mark.exists(), "the command never imported torch"
    proc.send_signal(signal.SIGINT)
    out, errtext = proc.communicate(timeout=60)
    lines = errtext.strip().splitlines()  # the documented form (docs/bad_input.md): one line `interrupted: ...`
    assert proc.returncode == 130 and len(lines) == 1 and lines[0].startswith("interrupted: "), errtext


def test_paper_on_hammer_is_the_papers_hammer_protocol():
    """``--paper`` on hammer used RAD's batch of 16; SPEC §5's Hammer protocol is batch 64 episodes, lr 1e-4, 25
    epochs. Options given still win, and RAD keeps its protocol."""
    from balancedrnn.cli import _resolve

    opts = {"epochs": None, "lr": None, "batch_size": None}
    assert _resolve(True, "hammer", **opts) == {"epochs": 25, "lr": 1e-4, "batch_size": 64}
    assert _resolve(True, "rad", **opts) == {"epochs": 25, "lr": 1e-4, "batch_size": 16}
    assert _resolve(True, "hammer", **{**opts, "batch_size": 8})["batch_size"] == 8
    assert _resolve(False, "hammer", **opts)["batch_size"] == 16  # the quick protocol is the same for every task


def _store_with(tmp_path, records, name="s"):
    """A journal store under tmp_path/runs holding ``records`` as finished trials of study ``name``."""
    from balancedrnn.sweep import store

    study = store.open_study(store.open_storage(None, tmp_path / "runs"), name)
    for r in records:
        store.finish(study, study.ask(), r)


def test_runs_plots_of_runs_none_of_which_finished_ok_write_no_empty_plot(tmp_path, monkeypatch, capsys):
    """`runs --plots` over failed runs only (a sweep that failed, or --status failed) has no point to draw: one line
    says so and nothing is written. It wrote a blank 'test metric' plot titled '0 finished runs' and printed
    matplotlib's two-line 'No artists with labels found to put in legend' warning."""
    pytest.importorskip("optuna")
    import warnings

    from test_report import rad_records

    from balancedrnn.cli import main

    recs = rad_records(configs=["dense", "balanced"], seeds=1)
    for r in recs:
        r.update(status="failed", error="RuntimeError: injected", final=None)
        del r["final"]
    _store_with(tmp_path, recs)
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(SystemExit) as e:
            main(["runs", "--name", "s", "--plots", "plots", "--limit", "0"])
    assert e.value.code in (0, None)
    out = capsys.readouterr().out
    assert "no runs that finished ok to plot: nothing written to plots" in out
    assert not list((tmp_path / "plots").glob("*.png"))


def test_compare_summary_md_names_a_config_whose_every_trial_failed(mnist_dir, tmp_path, monkeypatch, capsys):
    """compare's summary.md is the comparison's written record: a config whose every trial failed has no row in
    its table, and summary.md said nothing of it (only the terminal's warning did), so the file read as if the
    config had never been asked for. It now says which config failed and why, as the terminal does."""
    import balancedrnn.train as train
    from balancedrnn.cli import main

    real = train.build_for_task

    def flaky(config, task):
        if config.model == "balanced":
            raise RuntimeError("injected failure of balanced")
        return real(config, task)

    monkeypatch.setattr(train, "build_for_task", flaky)
    with pytest.raises(SystemExit) as e:
        main(["compare", "--models", "dense,balanced", "--seeds", "1", "--n-train", "50", "--n-val", "20",
              "--n-test", "20", "--epochs", "1", "--budget", "30000", "--mnist-dir", str(mnist_dir),
              "--out-dir", str(tmp_path / "out"), "--quiet", "--threads", "1"])
    assert e.value.code == 1
    assert "warning (balanced): every trial failed" in capsys.readouterr().out
    md = (tmp_path / "out" / "summary.md").read_text()
    assert "| dense | 1 |" in md
    assert "balanced: every trial failed (1 of 1): RuntimeError: injected failure of balanced" in md
    csv = pd.read_csv(tmp_path / "out" / "summary.csv", index_col="model")  # the CSV lists it too, with 0 runs
    assert list(csv.index) == ["dense", "balanced"]
    assert csv.loc["balanced", "runs"] == 0 and csv.loc["balanced", "failed"] == 1
    assert csv.loc["balanced", "note"].startswith("RuntimeError: injected failure of balanced")
    assert csv.loc["dense", "runs"] == 1 and csv.loc["dense", "failed"] == 0


def test_compare_whose_every_trial_failed_leaves_no_earlier_summary_or_plot(mnist_dir, tmp_path, monkeypatch, capsys):
    """A compare into a directory an earlier compare wrote, whose every trial fails, exited 1 but left the earlier
    run's summary.md, summary.csv and plot in place, to be read as this run's results. They now say that every
    trial failed, and the earlier plot is removed."""
    import balancedrnn.train as train
    from balancedrnn.cli import main

    args = ["compare", "--models", "dense", "--seeds", "1", "--n-train", "50", "--n-val", "20", "--n-test", "20",
            "--epochs", "1", "--budget", "30000", "--mnist-dir", str(mnist_dir), "--out-dir", str(tmp_path / "out"),
            "--quiet", "--threads", "1"]
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 0
    assert (tmp_path / "out" / "accuracy_vs_hidden_proportion.png").exists()

    def broken(config, task):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(train, "build_for_task", broken)
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 1
    assert not (tmp_path / "out" / "accuracy_vs_hidden_proportion.png").exists()
    md = (tmp_path / "out" / "summary.md").read_text()
    assert md.startswith("Every trial failed (1 failed)")
    assert "- dense: every trial failed (1 of 1): RuntimeError: injected failure" in md
    csv = pd.read_csv(tmp_path / "out" / "summary.csv", index_col="model")
    assert list(csv.index) == ["dense"] and csv.loc["dense", "runs"] == 0 and csv.loc["dense", "failed"] == 1
    # likewise an interrupted compare (it left the earlier summary in place): its summary holds what finished
    monkeypatch.undo()
    run_trial, calls = train.run_trial, []

    def interrupted_at(n):
        def trial(*a, **k):
            calls.append(1)
            if len(calls) == n:
                raise KeyboardInterrupt
            return run_trial(*a, **k)
        return trial

    for seeds, finished in (("2", 1), ("3", 0)):
        calls.clear()
        monkeypatch.setattr(train, "run_trial", interrupted_at(finished + 1))
        with pytest.raises(SystemExit) as e:
            main([*args[:4], seeds, *args[5:]])
        assert e.value.code == 130
        md = (tmp_path / "out" / "summary.md").read_text()
        assert md.startswith(f"Interrupted: {finished} of {seeds} trials finished"), md
        assert ("| dense | 1 |" in md) == bool(finished), md
        assert not (tmp_path / "out" / "accuracy_vs_hidden_proportion.png").exists()


def test_help_texts_show_as_written():
    """Rich renders --help: it dropped "[with DART noise]" from `data hammer`'s text as a markup tag, and kept a
    docstring's source line breaks (`sweep --help` broke "trials" / "are missing" mid-sentence). Every command's
    help, option help and default text must survive Rich's markup, and no paragraph may hold a line break."""
    import typer
    from rich.text import Text

    from balancedrnn.cli import app

    def commands(cmd, path=()):
        yield path, cmd
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from commands(sub, (*path, name))

    checked = 0
    for path, cmd in commands(typer.main.get_command(app)):
        texts = [cmd.help or ""] + [t for p in cmd.params for t in (getattr(p, "help", None), p.show_default)
                                    if isinstance(t, str)]
        for text in texts:
            assert Text.from_markup(text).plain == text, (path, text)
            checked += 1
        assert all("\n" not in para for para in (cmd.help or "").split("\n\n")), (path, cmd.help)
    assert checked > 200


def test_spec_names_the_block_config_whose_weights_miss_the_budget(capsys):
    """At budget 15 (dx=4, dy=2) the balanced model's dh rounds to 3 and holds 19 weights: the note says so and
    names the config; the dense model beside it, within 2 %, gets no note."""
    from clihelp import run_main_full

    code, out, err = run_main_full(["spec", "balanced", "lstm", "--dx", "4", "--dy", "2", "--budget", "15"], capsys)
    assert code == 0, err
    assert "note: balanced: the model holds 19 weights, +27% off the budget 15" in " ".join(out.split())
    code, out, err = run_main_full(["spec", "dense", "--dx", "4", "--dy", "2", "--budget", "2000"], capsys)
    assert code == 0 and "note:" not in out


def test_a_storage_default_names_a_directory_option_its_command_has():
    # `reproduce --help` said the store defaulted to <run-dir>/store.journal, but reproduce has no --run-dir: its
    # store is <out-dir>/store.journal
    import typer

    from balancedrnn.cli import app

    def commands(cmd, path=()):
        if hasattr(cmd, "commands"):  # a group (typer's own click)
            for name, sub in cmd.commands.items():
                yield from commands(sub, (*path, name))
        else:
            yield path, cmd

    checked = 0
    for path, cmd in commands(typer.main.get_command(app)):
        params = {p.name: p for p in cmd.params}
        if "storage" not in params or not isinstance(params["storage"].show_default, str):
            continue
        named = params["storage"].show_default.split(">")[0].lstrip("(<")  # "<run-dir>/store.journal" -> run-dir
        if "/" in params["storage"].show_default and params["storage"].show_default.lstrip("(").startswith("<"):
            assert named.replace("-", "_") in params, f"{' '.join(path)} --storage default names --{named}, which it lacks"
            checked += 1
    assert checked >= 3



def test_compare_on_a_regression_task_names_its_plot_by_the_metric_and_draws_skill_0(mnist_dir, tmp_path):
    """A regression task's compare wrote 'accuracy_vs_hidden_proportion.png' (its metric is skill) with no chance
    line, and its records' chance column was empty although skill's chance level is 0 by construction. A later
    run of another metric into the same directory leaves no earlier plot behind."""
    from balancedrnn.analysis.report import records_frame

    common = ["--models", "dense", "--seeds", "1", "--n-train", "40", "--n-val", "16", "--n-test", "16", "--epochs", "1",
              "--mnist-dir", str(mnist_dir), "--out-dir", "out", "--quiet", "--threads", "1"]
    res = run(["compare", "--task", "mnist:next2rows", "--budget", "6000", *common], tmp_path)
    assert res.returncode == 0, res.stderr
    out = tmp_path / "out"
    assert [p.name for p in out.glob("*.png")] == ["skill_vs_hidden_proportion.png"]
    frame = records_frame(json.loads(p.read_text()) for p in (out / "records").glob("*.json"))
    assert frame["metric"].tolist() == ["skill"] and frame["chance"].tolist() == [0.0]
    res = run(["compare", "--budget", "30000", *common], tmp_path)  # RAD: accuracy
    assert res.returncode == 0, res.stderr
    assert [p.name for p in out.glob("*.png")] == ["accuracy_vs_hidden_proportion.png"]


def test_spec_title_and_notes_show_a_fractional_budget_as_given(tmp_path):
    """`spec --budget 10.5` printed "budget=10" in the title and notes without a word."""
    res = run(["spec", "dense", "lstm", "--budget", "10.5", "--dx", "1", "--dy", "1"], tmp_path)
    assert res.returncode == 0, res.stderr
    text = " ".join(res.stdout.split())
    assert "budget=10.5" in text
    assert "budget 10 " not in text and "budget 10:" not in text and "budget=10 " not in text
    assert "budget 10.5" in text  # the notes name it too
