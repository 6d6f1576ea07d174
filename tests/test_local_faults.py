"""Faults of one machine: a full disk under the files and stores the library writes."""

import errno

import pytest
from clihelp import cli_env, run_main


class _FullFile:
    """A file on a full disk: every write fails with ENOSPC."""

    def __init__(self, f):
        self._f = f

    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name):
        return getattr(self._f, name)


def test_a_full_disk_under_torch_save_is_an_os_error_naming_the_file(tmp_path):
    import torch

    from balancedrnn.io import atomic_write

    target = tmp_path / "data.pt"
    with pytest.raises(OSError) as e:  # torch.save turns the write's OSError into RuntimeError "unexpected pos"
        atomic_write(target, lambda f: torch.save({"x": torch.zeros(1000)}, _FullFile(f)))
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(target)
    assert list(tmp_path.iterdir()) == []  # no temporary file, no half-written target


def test_a_full_disk_while_caching_rad_is_one_line_naming_the_file_and_exit_1(mnist_dir, tmp_path, monkeypatch,
                                                                             capsys):
    import torch

    cli_env(tmp_path, monkeypatch)
    save = torch.save
    monkeypatch.setattr(torch, "save", lambda obj, f, *a, **k: save(obj, _FullFile(f), *a, **k))
    code, err = run_main(["data", "rad", "--mnist-dir", mnist_dir, "--n-train", "40", "--n-val", "20",
                          "--n-test", "20", "--quiet"], capsys)
    lines = err.strip().splitlines()
    assert code == 1, err  # the machine failed, not the input: not the 2 of bad input
    assert len(lines) == 1 and lines[0].startswith("error: [Errno 28] No space left on device: "), err
    assert str(tmp_path / "cache" / "rad") in lines[0]
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]  # no cache file a later run would trust
