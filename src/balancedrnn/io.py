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


def ensure_writable_dir(directory: str | Path, what: str = "output directory") -> Path:
    """Create ``directory`` and check a file can be written in it (before any long work): a DataError naming it as
    ``what`` otherwise."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe_writable(directory)
    except OSError as e:
        raise DataError(f"{what} {directory} is not writable: {e.strerror or e}") from None
    return directory


def ensure_cache_dir(directory: str | Path, variable: str = "BALANCEDRNN_CACHE") -> Path:
    """:func:`ensure_writable_dir` for a cache directory that ``$variable`` places: its error says to move it."""
    try:
        return ensure_writable_dir(directory, "cache directory")
    except DataError as e:
        raise DataError(f"{e} (set ${variable} to a writable directory)") from None


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


OFFLINE_ENV = "BALANCEDRNN_OFFLINE"
"""Set to 1 (or true, yes, on) and no loader tries a download: MNIST, the UCR archive and Minari's data sets."""

NATIVE_ENV = "BALANCEDRNN_NATIVE"
"""Set to 0 (or false, no, off) and the sparse blocks run on PyTorch's CSR operators, not the compiled kernels."""

FLAG_ENVS = (OFFLINE_ENV, NATIVE_ENV)
"""The on/off environment variables, read by :func:`env_flag` and checked together by :func:`check_env_flags`."""

_FLAG_WORDS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def env_flag(variable: str, default: bool) -> bool:
    """An on/off environment variable: 1/true/yes/on or 0/false/no/off in any case (``default`` when unset or empty);
    any other value is a one-line ValueError, not a silent default (``BALANCEDRNN_OFFLINE=on`` used to mean online)."""
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    try:
        return _FLAG_WORDS[text.lower()]
    except KeyError:
        raise ValueError(f"${variable} must be 1/true/yes/on or 0/false/no/off, got {text!r}") from None


def check_env_flags() -> None:
    """Read every on/off variable of :data:`FLAG_ENVS` (a one-line ValueError for a bad value), before any work."""
    for variable in FLAG_ENVS:
        env_flag(variable, False)


def offline() -> bool:
    """Whether downloads are switched off (``BALANCEDRNN_OFFLINE=1``)."""
    return env_flag(OFFLINE_ENV, False)


class CacheWarning(UserWarning):
    """Generated data could not be written to the cache (unwritable, or a full disk): the run goes on with the data in
    memory, and the next run builds them again."""


def cache_write(path: Path, write: Callable[[IO[bytes]], Any], what: str) -> bool:
    """:func:`atomic_write` of a cache file, where failing costs only a rebuild next time: on an OSError a one-line
    :class:`CacheWarning` naming ``what`` and the directory, and False (nothing half-written is left)."""
    import warnings

    try:
        atomic_write(path, write)
    except OSError as e:
        warnings.warn(f"{what} not cached: cannot write {path.parent} ({e.strerror or e}); it is built again next "
                      f"time (set $BALANCEDRNN_CACHE to a writable directory)", CacheWarning, stacklevel=2)
        return False
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(f)`` on a temporary file beside ``path`` and move it into place only when it succeeded. A write
    the system refused (a full disk) is an OSError naming ``path``, whatever the writer wrapped it in."""
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
        _fsync_directory(path.parent)  # the rename itself survives a power cut, not only the file's bytes
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        cause = _os_error(e) if isinstance(e, Exception) else None  # an interrupt stays an interrupt
        if cause is None:
            raise
        raise OSError(cause.errno, cause.strerror or str(cause), str(path)) from None
    return path


def _fsync_directory(directory: Path) -> None:
    """Flush a directory's entries to disk (where the system lets a directory be opened; Windows does not)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a directory: the file's own fsync is what they offer
        pass
    finally:
        os.close(fd)


def _os_error(e: BaseException) -> OSError | None:
    """The OSError behind a failed write (a full disk), also when a writer wrapped it (``torch.save`` raises
    RuntimeError "unexpected pos"), or None for other failures."""
    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, OSError):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__  # type: ignore[assignment]
    return None


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
