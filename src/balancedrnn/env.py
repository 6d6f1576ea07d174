"""What a run record says about where it ran: versions, threads, device, git revision."""

from __future__ import annotations

import platform
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any


@lru_cache(maxsize=1)
def git_revision() -> str | None:
    """Commit of the source tree this library was imported from, if it is a git checkout (this file tracked in it:
    a copy installed into a virtual environment inside some checkout is not that checkout's source)."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=False
        )
        tracked = subprocess.run(["git", "ls-files", "--", Path(__file__).name], cwd=here, capture_output=True,
                                 text=True, timeout=5, check=False)
        if out.returncode != 0 or not tracked.stdout.strip():
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=here, capture_output=True, text=True,
                               timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


DATA_LIBRARIES = ("kornia", "aeon", "mujoco", "gymnasium-robotics", "minari")
"""Libraries that make or read a task's data (RAD's transforms, the aeon sets, the Hammer simulator and its data
sets): a run record names those installed, since another version can change the data under the same data id."""


def versions() -> dict[str, Any]:
    """Versions of Python and of the libraries a result depends on: torch and numpy, and those of
    :data:`DATA_LIBRARIES` that are installed (read from their metadata, not imported)."""
    from importlib import metadata

    import numpy
    import torch

    from ._version import __version__

    data: dict[str, str] = {}
    for name in DATA_LIBRARIES:
        try:
            data[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "python": platform.python_version(),
        "balancedrnn": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        **data,
        "platform": platform.platform(),
    }


def parse_device(device: str) -> Any:
    """The ``torch.device`` a name means, or a one-line ValueError for a name torch does not know (any machine:
    a config naming a GPU stays readable where there is none)."""
    import torch

    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r}; expected e.g. 'cpu' or 'cuda:0'") from None


def check_device(device: str) -> None:
    """Refuse, in one line (ValueError), a torch device this machine cannot run: an unknown name, or CUDA/MPS that
    this torch build or machine lacks. Checked before any data is built or a record written."""
    import torch

    dev = parse_device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: this torch ({torch.__version__}) sees no CUDA GPU; use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r}: MPS is not available in this torch on this machine; use --device cpu")
    elif dev.type == "meta":
        raise ValueError(f"device {device!r} holds shapes, not numbers: nothing can be trained or predicted on it; "
                         "use --device cpu")
    elif dev.type != "cpu" and not getattr(getattr(torch, dev.type, None), "is_available", lambda: True)():
        raise ValueError(f"device {device!r}: this torch ({torch.__version__}) sees no {dev.type} device; use --device cpu")
