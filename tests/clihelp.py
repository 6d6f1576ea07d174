"""Helpers to run the real command line in a subprocess and check its one-line errors (shared by the CLI tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIN = [sys.executable, "-m", "balancedrnn"]


def run(args: list[str], tmp_path: Path, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    """``balancedrnn <args>`` with cwd ``tmp_path``, its own cache ``tmp_path/cache`` and no network."""
    e = {k: v for k, v in os.environ.items() if k != "BALANCEDRNN_MNIST_DIR"}  # only what the test gives
    e.update({"BALANCEDRNN_CACHE": str(tmp_path / "cache"), "BALANCEDRNN_OFFLINE": "1", **env})
    return subprocess.run(BIN + [str(a) for a in args], capture_output=True, text=True, env=e, cwd=tmp_path, timeout=timeout)


def one_line_error(res: subprocess.CompletedProcess, pattern: str, code: int | None = None) -> str:
    """Assert a failed run printed exactly one non-empty stderr line ``error: ...`` containing ``pattern``, no
    traceback, and (if given) exited with ``code``; returns the line."""
    assert res.returncode != 0, (res.stdout, res.stderr)
    if code is not None:
        assert res.returncode == code, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr, res.stderr
    lines = [line for line in res.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ") and pattern in lines[0], lines[0]
    return lines[0]
