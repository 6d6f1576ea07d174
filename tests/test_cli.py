"""The command line as a user runs it: real processes, real exit codes, real files."""

import json

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


@pytest.mark.parametrize(
    "args,pattern",
    [
        (["train", "--model", "sparse-ish"], "unknown model config"),
        (["train", "--model", "uniform:1.5"], "in [0, 1]"),
        (["train", "--budget", "500"], "smallest feasible budget"),
        (["train", "--task", "cifar"], "unknown task"),
        (["train", "--mnist-dir", "does-not-exist"], "does not exist"),
        (["train", "--epochs", "0"], "epochs"),
        (["compare", "--models", "dense,hx=2"], "density is missing"),
        (["spec", "dense", "--dx", "0"], "dx must be a positive integer"),
    ],
)
def test_bad_input_one_line(args, pattern, tmp_path):
    one_line_error(run(args, tmp_path), pattern)


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
                   f"cannot write --out-dir {blocker / 'sub'}")
