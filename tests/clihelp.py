"""Helpers to run the real command line, in a subprocess (``run``) or in this process through the same entry point
(``run_main``), and check its one-line errors (shared by the CLI tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

BIN = [sys.executable, "-m", "balancedrnn"]


def run(args: list[str], tmp_path: Path, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    """``balancedrnn <args>`` with cwd ``tmp_path``, its own cache ``tmp_path/cache`` and no network."""
    e = {k: v for k, v in os.environ.items() if k != "BALANCEDRNN_MNIST_DIR"}  # only what the test gives
    e.update({"BALANCEDRNN_CACHE": str(tmp_path / "cache"), "BALANCEDRNN_OFFLINE": "1", **env})
    return subprocess.run(BIN + [str(a) for a in args], capture_output=True, text=True, env=e, cwd=tmp_path, timeout=timeout)


def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``run`` gives its subprocess, for ``run_main`` in this process: cwd ``tmp_path``, its own cache
    ``tmp_path/cache``, no network, no MNIST directory from the environment (all undone after the test)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BALANCEDRNN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BALANCEDRNN_OFFLINE", "1")
    monkeypatch.delenv("BALANCEDRNN_MNIST_DIR", raising=False)


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``balancedrnn <args>`` in this process; returns (exit code, stderr). See :func:`run_main_full`."""
    code, _, err = run_main_full(args, capsys)
    return code, err


def run_main_full(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``balancedrnn <args>`` in this process: the script's entry point ``balancedrnn.cli.main``, which always ends
    in ``SystemExit``; returns (exit code, stdout, stderr). What ``main`` changes in the process (its SIGTERM
    handler, environment variables it sets) is put back, so one case cannot leak into the next."""
    from balancedrnn.cli import main

    capsys.readouterr()  # only this run's output
    sigterm, environ = signal.getsignal(signal.SIGTERM), dict(os.environ)
    try:
        with pytest.raises(SystemExit) as e:
            main([str(a) for a in args])
    finally:
        signal.signal(signal.SIGTERM, sigterm)
        for k in set(os.environ) - set(environ):
            del os.environ[k]
        os.environ.update(environ)
    code = e.value.code
    captured = capsys.readouterr()
    return (code if isinstance(code, int) else 0 if code is None else 1), captured.out, captured.err


def one_line_error(res: subprocess.CompletedProcess | tuple[int, str], pattern: str, code: int | None = None) -> str:
    """Assert a failed run (a subprocess from ``run`` or ``(code, stderr)`` from ``run_main``) printed exactly one
    non-empty stderr line ``error: ...`` containing ``pattern``, no traceback, and (if given) exited with ``code``;
    returns the line."""
    if isinstance(res, tuple):
        returncode, stdout, stderr = res[0], "", res[1]
    else:
        returncode, stdout, stderr = res.returncode, res.stdout, res.stderr
    assert returncode != 0, (stdout, stderr)
    if code is not None:
        assert returncode == code, (returncode, stderr)
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and pattern in lines[0], lines[0]
    return lines[0]
