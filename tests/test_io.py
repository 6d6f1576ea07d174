"""io: on/off environment variables read one way, and a cache that cannot be written costing only a rebuild."""

import errno
import json
import warnings

import pytest
from clihelp import cli_env, run_main, run_main_full

from balancedrnn.io import FLAG_ENVS, CacheWarning, cache_write, env_flag


@pytest.mark.parametrize("text,value", [("1", True), ("TRUE", True), (" yes ", True), ("On", True),
                                        ("0", False), ("false", False), ("NO", False), ("off", False)])
def test_an_on_off_variable_reads_every_spelling_of_on_and_off(text, value, monkeypatch):
    for variable in FLAG_ENVS:
        monkeypatch.setenv(variable, text)
        assert env_flag(variable, not value) is value


def test_an_unset_or_empty_variable_is_the_default_and_anything_else_is_refused(monkeypatch):
    monkeypatch.delenv("BALANCEDRNN_OFFLINE", raising=False)
    assert env_flag("BALANCEDRNN_OFFLINE", True) is True and env_flag("BALANCEDRNN_OFFLINE", False) is False
    monkeypatch.setenv("BALANCEDRNN_OFFLINE", "  ")
    assert env_flag("BALANCEDRNN_OFFLINE", True) is True
    for text in ("2", "maybe", "enabled"):
        monkeypatch.setenv("BALANCEDRNN_OFFLINE", text)
        with pytest.raises(ValueError, match=rf"^\$BALANCEDRNN_OFFLINE must be 1/true/yes/on or 0/false/no/off, got '{text}'$"):
            env_flag("BALANCEDRNN_OFFLINE", False)


def test_offline_on_means_offline_and_native_off_means_the_csr_operators(monkeypatch):
    """``on`` used to read as online (only 1/true/yes counted), while BALANCEDRNN_NATIVE took ``off``."""
    from balancedrnn.io import offline
    from balancedrnn.kernels import native

    monkeypatch.setenv("BALANCEDRNN_OFFLINE", "on")
    assert offline()
    monkeypatch.setenv("BALANCEDRNN_NATIVE", "Off")
    with pytest.raises(native.NativeUnavailable, match="disabled"):
        native._open()


@pytest.mark.parametrize("variable", FLAG_ENVS)
def test_a_command_refuses_a_bad_flag_before_any_work(variable, tmp_path, monkeypatch, capsys):
    cli_env(tmp_path, monkeypatch)
    monkeypatch.setenv(variable, "maybe")
    code, err = run_main(["spec", "dense"], capsys)
    assert code == 2 and err == f"error: ${variable} must be 1/true/yes/on or 0/false/no/off, got 'maybe'\n"
    assert list(tmp_path.iterdir()) == []


def test_a_cache_write_that_fails_is_a_warning_and_leaves_nothing(tmp_path):
    target = tmp_path / "sub" / "data.bin"

    def full(f):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.warns(CacheWarning, match=r"^thing not cached: cannot write .*sub \(No space left on device\)"):
        assert cache_write(target, full, "thing") is False
    assert list((tmp_path / "sub").iterdir()) == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache_write(target, lambda f: f.write(b"x"), "thing") is True
    assert target.read_bytes() == b"x"


def test_a_run_whose_rad_data_cannot_be_cached_trains_and_says_so(mnist_dir, tmp_path, monkeypatch, capsys):
    """A full disk under the RAD cache used to end ``train`` after the data were built; the cache only saves a rebuild
    (``data rad``, whose job is the cache, still fails: tests/test_local_faults.py)."""
    import torch

    from test_local_faults import _FullFile

    cli_env(tmp_path, monkeypatch)
    save = torch.save
    monkeypatch.setattr(torch, "save", lambda obj, f, *a, **k: save(obj, _FullFile(f), *a, **k))
    code, out, err = run_main_full(["train", "--task", "rad", "--mnist-dir", mnist_dir, "--n-train", "40", "--n-val",
                                    "20", "--n-test", "20", "--epochs", "1", "--budget", "5000", "--out-dir", "out"],
                                   capsys)
    assert code == 0, err
    notes = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(notes) == 1 and "RAD data set not cached" in notes[0] and "No space left on device" in notes[0], err
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file() and "rad" in p.parts]
    [record] = list((tmp_path / "out").glob("*.json"))
    # the same data id as the run on a cached copy: a sweep does not take the uncached run for other data
    monkeypatch.setattr(torch, "save", save)
    code, _, err = run_main_full(["train", "--task", "rad", "--mnist-dir", mnist_dir, "--n-train", "40", "--n-val",
                                  "20", "--n-test", "20", "--epochs", "1", "--budget", "5000", "--out-dir", "cached"],
                                 capsys)
    assert code == 0 and "warning" not in err, err
    [cached] = list((tmp_path / "cached").glob("*.json"))
    assert json.loads(record.read_text())["data_id"] == json.loads(cached.read_text())["data_id"]


def test_data_rad_refuses_a_cache_it_cannot_write_before_generating(mnist_dir, tmp_path, monkeypatch, capsys):
    cli_env(tmp_path, monkeypatch)
    (tmp_path / "cache").write_text("a file, not a directory")
    code, err = run_main(["data", "rad", "--mnist-dir", mnist_dir, "--n-train", "40", "--n-val", "20", "--n-test",
                          "20", "--quiet"], capsys)
    assert code == 2 and err.startswith(f"error: cache directory {tmp_path / 'cache' / 'rad'} is not writable"), err
    assert err.rstrip().endswith("(set $BALANCEDRNN_CACHE to a writable directory)") and err.count("\n") == 1, err


def test_data_hammer_refuses_a_cache_it_cannot_write_before_any_episode(tmp_path, monkeypatch, capsys):
    """``data hammer`` planned its demonstrations and then died on ``[Errno 20] Not a directory: ...``: now both
    of its cache directories are checked first, each error naming the variable that moves it."""
    pytest.importorskip("mujoco")
    from balancedrnn.tasks.hammer import expert

    cli_env(tmp_path, monkeypatch)
    monkeypatch.setattr(expert, "collect_planner_demos", lambda *a, **k: pytest.fail("planned before the check"))
    (tmp_path / "cache").write_text("a file, not a directory")
    code, err = run_main(["data", "hammer", "--quiet"], capsys)
    assert code == 2 and err == (f"error: cache directory {tmp_path / 'cache' / 'hammer'} is not writable: Not a "
                                 "directory (set $BALANCEDRNN_CACHE to a writable directory)\n"), err
    (tmp_path / "cache").unlink()
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari-file"))
    (tmp_path / "minari-file").write_text("a file")
    code, err = run_main(["data", "hammer", "--quiet"], capsys)
    assert code == 2 and err.startswith(f"error: cache directory {tmp_path / 'minari-file'} is not writable"), err
    assert err.rstrip().endswith("(set $MINARI_DATASETS_PATH to a writable directory)"), err
