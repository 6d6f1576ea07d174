"""Atomic file writing and the cache directory: nothing is ever left half-written."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


class DataError(ValueError):
    """A data file or data set is missing, corrupt or does not fit. The message is one line."""


def ensure_writable_dir(directory: str | Path) -> Path:
    """Create ``directory`` and check a file can be written in it (before any long work): DataError otherwise."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe_writable(directory)
    except OSError as e:
        raise DataError(f"output directory {directory} is not writable: {e.strerror or e}") from None
    return directory


def probe_writable(directory: Path) -> None:
    """Create and remove a file in an existing ``directory`` (OSError when that fails): permission bits say
    nothing for root, a real file does."""
    fd, name = tempfile.mkstemp(dir=directory, prefix=".balancedrnn-write-check-")
    os.close(fd)
    os.unlink(name)


def cache_dir() -> Path:
    """Where large generated data lives: ``$BALANCEDRNN_CACHE``, else ``$XDG_CACHE_HOME/balancedrnn``,
    else ``~/.cache/balancedrnn``."""
    env = os.environ.get("BALANCEDRNN_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "balancedrnn"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(f)`` on a temporary file beside ``path`` and move it into place only when it succeeded."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # the permissions a plain open() would give (mkstemp makes 0600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    data = json.dumps(obj, indent=2, sort_keys=False, default=_json_default, allow_nan=True).encode()
    return atomic_write(path, lambda f: f.write(data + b"\n"))


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def torch_load(path: str | Path, what: str, hint: str = "") -> Any:
    """``torch.load`` (tensors only) with one-line errors for a missing or corrupt file."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DataError(f"{what} {path} does not exist") from None
    except Exception as e:  # noqa: BLE001 - any unpickling failure means a corrupt file
        raise DataError(f"{what} {path} is corrupt ({type(e).__name__}){hint}") from None


_YAML12_FLOAT = r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$"""
"""YAML 1.2's floats, exponent without a dot included (``1e-3``), which YAML 1.1 (PyYAML) reads as text."""


def _yaml12(base: str, purpose: str) -> Any:
    """yaml's ``SafeLoader`` or ``SafeDumper`` (``base``) with YAML 1.2's floats added, made once."""
    import re

    from .tasks.base import require

    yaml = require("yaml", "sweep", purpose)
    made = _YAML12_CLASSES.get(base)
    if made is None:
        made = type(f"Yaml12{base}", (getattr(yaml, base),), {})
        made.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(_YAML12_FLOAT, re.X), list("-+0123456789."))
        _YAML12_CLASSES[base] = made
    return made


_YAML12_CLASSES: dict[str, Any] = {}


def yaml_load(text: str, purpose: str) -> Any:
    """YAML as sweep files, plan files and ``--set`` are read: safe, and with ``1e-3`` a number as a user
    means it (PyYAML follows YAML 1.1, where it is the text "1e-3"). ``purpose`` names what needs yaml when the
    ``sweep`` extra is missing. YAML errors are ``yaml.YAMLError``."""
    loader = _yaml12("SafeLoader", purpose)  # first: names the extra when yaml is missing
    import yaml

    return yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader subclass


def yaml_scalar(value: Any) -> str:
    """``value`` as one ``--set`` value that :func:`yaml_load` reads back equal (a flow scalar; a string that
    would read as a number, ``1e-3`` included, is quoted)."""
    dumper = _yaml12("SafeDumper", "writing --set")
    import yaml

    text = yaml.dump(value, Dumper=dumper, default_flow_style=True, width=1 << 30).strip()
    return text[:-3].rstrip() if text.endswith("\n...") else text
