"""The one-command reproduction: every shipped plan at the smoke scale end to end, and bad input."""

import subprocess
import sys

import pytest
import yaml

pytest.importorskip("optuna")
pytest.importorskip("sklearn")

from balancedrnn.reproduce import SCALES, PlanError, load_plan, plan_names, plans_dir, sweep_specs  # noqa: E402

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
    bm = sweep_specs(load_plan("predictor"), "small")[1]
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
    assert "Verdicts" in html and "INCOMPLETE" not in html and "Smoke scale" in md
    for claim in load_plan(plan).claims:
        assert any(word in md for word in ("supported", "contradicted", "inconclusive")), claim
    figures = sorted((out / "figures").rglob("*.png"))
    names = {p.name for p in figures}
    assert {"metric_vs_hidden_proportion.png", "learning_curves.png", "density_heatmap.png"} <= names
    if plan == "predictor":
        assert {"predicted_vs_actual.png", "importances.png"} <= names
    for p in figures:
        assert p.stat().st_size > 5_000, p  # a real picture, not an empty canvas
    assert html.count("data:image/png;base64,") >= 3  # self-contained
    assert "torch" in html.split("<footer>")[1]  # versions in the footer
    # a second run resumes from the store: nothing is trained again
    again = run("reproduce", plan, "--scale", "smoke", "--out-dir", out, "--quiet", env=env)
    assert again.returncode == 0 and "of" in again.stdout


@pytest.mark.parametrize("args,pattern", [
    (["reproduce", "no-such-plan", "--scale", "smoke"], "unknown plan 'no-such-plan'"),
    (["reproduce", "rad-100k", "--scale", "huge"], "unknown scale 'huge'"),
    (["reproduce"], "give a plan"),
])
def test_bad_input_one_line(args, pattern, tmp_path):
    res = run(*args, "--out-dir", tmp_path / "out")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().count("\n") == 0 and pattern in res.stderr, res.stderr
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


def test_unwritable_output_directory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    res = run("reproduce", "rad-100k", "--scale", "smoke", "--out-dir", blocker / "out")
    assert res.returncode == 2 and "is not writable" in res.stderr and "Traceback" not in res.stderr
    assert res.stderr.strip().count("\n") == 0


def test_failed_trials_make_an_incomplete_report(mnist_dir, tmp_path):
    plan = {"name": "broken", "description": "trials that diverge", "claims": ["balanced_beats_dense"],
            "sweeps": [{"name": "broken", "base": {"task": "rad", "budget": 30000, "lr": 1.0e+30, "mnist_dir": str(mnist_dir)},
                        "sampler": {"kind": "grid", "models": ["dense", "balanced"]}}],
            "scales": {s: {"seeds": 1, "base": {"epochs": 1, "n_train": 64, "n_val": 8, "n_test": 8}} for s in SCALES}}
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(plan))
    out = tmp_path / "out"
    res = run("reproduce", path, "--scale", "smoke", "--out-dir", out, "--quiet", "--workers", "1")
    assert res.returncode == 1 and "incomplete" in res.stderr, res.stderr
    assert "INCOMPLETE: 2 of 2 trials have no ok record (diverged 2)" in (out / "report.md").read_text()
    assert "INCOMPLETE" in (out / "report.html").read_text()
