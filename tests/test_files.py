"""Your own data on the command line (issue 20): .npz, .ts and .csv files and ucr:NAME as tasks, the stated and
seeded split, ``--data``/``--device``/``--model auto`` on train, compare, sweep and recommend, and every bad input
as one line and a non-zero exit, with nothing written."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("aeon")

from balancedrnn.io import DataError  # noqa: E402
from balancedrnn.tasks import get_task  # noqa: E402
from balancedrnn.tasks import files  # noqa: E402
from balancedrnn.tasks.timeseries import aeon_data_dir, default_budget  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from clihelp import cli_env, one_line_error, run_main, run_main_full  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # the fixture is in conftest.py


def make_data(n: int = 30, channels: int = 2, length: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    return rng.normal(size=(n, channels, length)) + y[:, None, None], y


def write_csv(path: Path, X: np.ndarray, y: np.ndarray, header: bool = True, sep: str = ",") -> Path:
    lines = [sep.join(["label", *(f"t{i}" for i in range(X.shape[-1]))])] if header else []
    lines += [sep.join([f"c{label}", *(repr(float(v)) for v in row)]) for row, label in zip(X[:, 0, :], y)]
    path.write_text("\n".join(lines) + "\n")
    return path


# ------------------------------------------------------------------------------------------- reading
def test_npz_3d_and_2d(tmp_path: Path) -> None:
    X, y = make_data()
    np.savez(tmp_path / "d.npz", X=X, y=y)
    series, labels = files.read_file(tmp_path / "d.npz")
    assert len(series) == 30 and series[0].shape == (2, 8)
    np.testing.assert_array_equal(np.stack(series), X)
    np.testing.assert_array_equal(labels, y)
    np.savez(tmp_path / "u.npz", X=X[:, 0, :], y=y)  # 2-D: univariate series
    series, _ = files.read_file(tmp_path / "u.npz")
    assert series[0].shape == (1, 8)


def test_csv_label_first_with_and_without_header(tmp_path: Path) -> None:
    X, y = make_data(channels=1)
    for header, sep, name in ((True, ",", "a.csv"), (False, ",", "b.csv"), (False, "\t", "c.tsv")):
        series, labels = files.read_file(write_csv(tmp_path / name, X, y, header, sep))
        np.testing.assert_array_equal(np.stack(series), X)
        assert list(labels) == [f"c{v}" for v in y]


def test_csv_header_of_column_numbers_is_a_header(tmp_path: Path) -> None:
    """pandas writes a frame made from an array with the header ``label,0,1,...,T-1``: a header, not a series of a
    class 'label' (which made dy one too many)."""
    X, y = make_data(channels=1)
    body = write_csv(tmp_path / "body.csv", X, y, header=False).read_text()
    path = tmp_path / "pandas.csv"
    path.write_text(",".join(["label", *(str(i) for i in range(X.shape[-1]))]) + "\n" + body)
    series, labels = files.read_file(path)
    np.testing.assert_array_equal(np.stack(series), X)
    assert sorted(set(labels)) == ["c0", "c1", "c2"] and files.file_task(path).dy == 3
    for first in ("c0," + ",".join(str(i) for i in range(X.shape[-1])),  # 0..T-1 under a label of the data
                  "c0," + ",".join(str(i + 1) for i in range(X.shape[-1]))):  # 1..T under a label of the data
        path.write_text(first + "\n" + body)
        assert len(files.read_file(path)[0]) == len(X) + 1, first
    # other numbered columns (time points 1..T, years) under a word that is no row's label, or any numbers under the
    # label column's name: a header too. They were read as one more series, of a class "label" (dy one too many),
    # whose values 1990, 1991, ... also swamped the training split's mean and std.
    numbered = "".join(f"{lab}," + ",".join(repr(float(v)) for v in row) + "\n" for lab, row in zip(y, X[:, 0, :]))
    years = ",".join(str(1990 + i) for i in range(X.shape[-1]))
    seconds = ",".join(str(0.5 * i) for i in range(X.shape[-1]))
    for first, rest, classes in ((f"label,{years}", body, ["c0", "c1", "c2"]), (f"Class,{seconds}", numbered, ["0", "1", "2"]),
                                 (f"id,{years}", numbered, ["0", "1", "2"]),
                                 ("series," + ",".join(str(i + 1) for i in range(X.shape[-1])), body, ["c0", "c1", "c2"])):
        path.write_text(first + "\n" + rest)
        series, labels = files.read_file(path)
        np.testing.assert_array_equal(np.stack(series), X)
        assert sorted(set(labels)) == classes and files.file_task(path).dy == 3, first
        train = files.load_file(path)["train"]
        assert len(train) + len(files.load_file(path)["val"]) + len(files.load_file(path)["test"]) == len(X)
        assert abs(float(train.x.mean())) < 1e-5 and abs(float(train.x.std()) - 1) < 0.05  # normalised on the data
    path.write_text("c1x," + ",".join(repr(float(v)) for v in X[0, 0]) + "\n" + body)  # a label typo over real values
    assert len(files.read_file(path)[0]) == len(X) + 1  # a series still, as before, not a header dropped silently



def test_csv_written_back_by_pandas_has_a_header_not_a_series(tmp_path: Path) -> None:
    """A UCR file (no header, integer labels first) read with ``pd.read_csv(header=None)`` and written back with
    ``to_csv(index=False)`` starts with the column numbers of the whole frame, ``0,1,...,T``. Before: that row was
    read as one more series, of class '0' (a class of the data when the labels are 0, 1, 2: a series 1, 2, ..., T
    added to it silently; else a class of one series, dy one too many)."""
    import pandas as pd

    X, y = make_data(channels=1)
    for labels in (y, y + 1, y.astype(float)):  # '0' a class; '0' no class; labels written as 0.0, 1.0, ...
        ucr = tmp_path / "ucr.tsv"
        ucr.write_text("".join("\t".join([str(lab), *(repr(float(v)) for v in row)]) + "\n"
                               for lab, row in zip(labels, X[:, 0, :])))
        path = tmp_path / "round-trip.csv"
        pd.read_csv(ucr, sep="\t", header=None).to_csv(path, index=False)
        assert path.read_text().splitlines()[0] == ",".join(str(i) for i in range(X.shape[-1] + 1))
        series, read = files.read_file(path)
        np.testing.assert_allclose(np.stack(series), X, rtol=1e-12)  # pandas writes floats to about 15 digits
        assert [float(v) for v in read] == [float(v) for v in labels] and files.file_task(path).dy == 3


def test_csv_with_a_byte_order_mark_keeps_the_first_label(tmp_path: Path) -> None:
    """Excel's "CSV UTF-8" starts the file with a byte order mark: the first row's label is still its class (it was
    read as '\ufeffc0', a class of one series, so dy was one too many)."""
    X, y = make_data(channels=1)
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + write_csv(tmp_path / "plain.csv", X, y, header=False).read_bytes())
    series, labels = files.read_file(path)
    np.testing.assert_array_equal(np.stack(series), X)
    assert list(labels) == [f"c{v}" for v in y] and files.file_task(path).dy == 3


@pytest.mark.parametrize("frame", ["label and series", "one array"])
def test_a_csv_written_with_pandas_index_is_refused_not_read_with_the_index_as_labels(tmp_path: Path, frame: str) -> None:
    """``DataFrame.to_csv(path)`` writes the row index first unless ``index=False``. read_file took the index as the
    labels (one class per series) and the real label as the series' first point: the command line blamed a
    'regression target', and read_file (the README's way into the estimators) returned it silently."""
    import pandas as pd

    X, y = make_data(channels=1)
    table = (pd.DataFrame(X[:, 0, :]).assign(label=y)[["label", *range(X.shape[-1])]] if frame == "label and series"
             else pd.DataFrame(np.column_stack([y, X[:, 0, :]])))
    path = tmp_path / "indexed.csv"
    table.to_csv(path)  # pandas' default: index=True
    assert [line.split(",")[0] for line in path.read_text().splitlines()[1:4]] == ["0", "1", "2"]  # the index column
    with pytest.raises(DataError, match=r"indexed.csv: the first column numbers the rows \(0, 1, \.\.\., 29\).*index=False"):
        files.read_file(path)
    table.to_csv(path, index=False)  # the way the message says: read as written
    series, labels = files.read_file(path)
    np.testing.assert_allclose(np.stack(series), X, rtol=1e-12)
    assert [float(v) for v in labels] == [float(v) for v in y]


def test_a_ucr_tsv_of_unequal_lengths_padded_with_nan_reads_as_its_ts_file(tmp_path: Path) -> None:
    """The UCR archive's .tsv files pad shorter series with NaN at their end (its 11 sets of unequal lengths): that
    layout, which the module calls its own, was refused as 'NaN or infinite values'. It now reads as the same
    series written as a .ts file of unequal lengths (aeon's reader, the reference); a NaN inside a series, and a row
    of NaN only, are still refused."""
    rng = np.random.default_rng(3)
    lengths = [5 + (i * 7) % 9 for i in range(30)]
    series = [rng.normal(size=n) for n in lengths]
    y = [f"c{i % 3}" for i in range(30)]
    width = max(lengths)
    tsv = tmp_path / "ucr.tsv"
    tsv.write_text("".join("\t".join([lab, *(repr(float(v)) for v in s), *["NaN"] * (width - len(s))]) + "\n"
                           for lab, s in zip(y, series)))
    ts = tmp_path / "same.ts"
    ts.write_text("@problemName same\n@timeStamps false\n@univariate true\n@equalLength false\n"
                  "@classLabel true c0 c1 c2\n@data\n"
                  + "".join(",".join(repr(float(v)) for v in s) + f":{lab}\n" for lab, s in zip(y, series)))
    got, labels = files.read_file(tsv)
    assert [s.shape for s in got] == [(1, n) for n in lengths] and list(labels) == y
    for a, b in zip(got, series):
        np.testing.assert_array_equal(a[0], b)
    from_tsv, from_ts = files.load_file(tsv, seed=4), files.load_file(ts, seed=4)
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(from_tsv[split].x.numpy(), from_ts[split].x.numpy())
        np.testing.assert_array_equal(from_tsv[split].lengths.numpy(), from_ts[split].lengths.numpy())
        np.testing.assert_array_equal(from_tsv[split].target.numpy(), from_ts[split].target.numpy())
    assert files.file_task(tsv).steps == width
    import pandas as pd

    written_back = tmp_path / "pandas.csv"  # read with pandas and written back: its NaN become empty fields
    pd.read_csv(tsv, sep="\t", header=None).to_csv(written_back, index=False, header=False)
    assert ",," in written_back.read_text()
    again, labels = files.read_file(written_back)
    assert [s.shape for s in again] == [(1, n) for n in lengths] and list(labels) == y
    inner = tmp_path / "inner.csv"
    inner.write_text("a,1,nan,3\nb,1,2,NaN\na,1,2,3\nb,4,5,6\n")
    with pytest.raises(DataError, match="NaN or infinite values"):
        files.read_file(inner)
    blank = tmp_path / "blank.csv"
    blank.write_text("a,1,2,3\nb,nan,nan,nan\na,1,2,3\n")
    with pytest.raises(DataError, match="row 2 has no values"):
        files.read_file(blank)


@pytest.mark.parametrize("name", ["label", "Class", "target"])
def test_a_header_naming_a_later_column_the_label_is_refused(tmp_path: Path, name: str) -> None:
    """A frame with the label column last (``df["label"] = y; df.to_csv(index=False)``): the header was skipped and
    the first time point read as the labels, the label as the last time point; read_file returned that silently."""
    import pandas as pd

    X, y = make_data(channels=1)
    path = tmp_path / "last.csv"
    pd.DataFrame(X[:, 0, :], columns=[f"t{i}" for i in range(X.shape[-1])]).assign(**{name: y}).to_csv(path, index=False)
    with pytest.raises(DataError, match=rf"last.csv: the header names column {X.shape[-1] + 1} '{name}', but the label "
                                        r"must be the first column \(its first column, 't0'"):
        files.read_file(path)
    frame = pd.read_csv(path)  # moved first, as the message says: read as written
    frame[[name, *frame.columns[:-1]]].to_csv(path, index=False)
    series, labels = files.read_file(path)
    np.testing.assert_allclose(np.stack(series), X, rtol=1e-12)
    assert [int(v) for v in labels] == list(y)


def test_an_npz_of_unequal_lengths_padded_with_nan_reads_as_its_ts_file(tmp_path: Path) -> None:
    """tslearn's arrays of unequal lengths (``to_time_series_dataset``) pad every channel of a shorter series with
    NaN at its end: an .npz of one was refused as 'NaN or infinite values'. It reads as the same series in a
    multivariate .ts file of unequal lengths (aeon's reader, the reference); a NaN inside a series, or in one
    channel only at the end, is still refused, as is a series of NaN only."""
    rng = np.random.default_rng(5)
    lengths = [6 + (i * 5) % 7 for i in range(30)]
    series = [rng.normal(size=(2, n)) for n in lengths]
    y = np.arange(30) % 3
    X = np.full((30, 2, max(lengths)), np.nan)
    for k, s in enumerate(series):
        X[k, :, : s.shape[1]] = s
    npz = _npz(tmp_path / "padded.npz", X=X, y=y)
    ts = tmp_path / "same.ts"
    ts.write_text("@problemName same\n@timeStamps false\n@univariate false\n@dimensions 2\n@equalLength false\n"
                  "@classLabel true 0 1 2\n@data\n"
                  + "".join(":".join(",".join(repr(float(v)) for v in ch) for ch in s) + f":{lab}\n"
                            for lab, s in zip(y, series)))
    got, labels = files.read_file(npz)
    assert [g.shape for g in got] == [s.shape for s in series] and [int(v) for v in labels] == list(y)
    for a, b in zip(got, series):
        np.testing.assert_array_equal(a, b)
    from_npz, from_ts = files.load_file(npz, seed=2), files.load_file(ts, seed=2)
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(from_npz[split].x.numpy(), from_ts[split].x.numpy())
        np.testing.assert_array_equal(from_npz[split].target.numpy(), from_ts[split].target.numpy())
    for k, bad in (("inner", (0, 0, 2)), ("one channel", (1, 1, lengths[1] - 1))):
        X2 = X.copy()
        X2[bad] = np.nan
        with pytest.raises(DataError, match="NaN or infinite values"):
            files.read_file(_npz(tmp_path / "bad.npz", X=X2, y=y))
    X3 = X.copy()
    X3[4] = np.nan
    with pytest.raises(DataError, match="series 4 has no values"):
        files.read_file(_npz(tmp_path / "blank.npz", X=X3, y=y))


def test_a_first_data_row_with_a_typo_is_an_error_not_a_header(tmp_path: Path) -> None:
    """A first row that is a series (its label is a class of the other rows, its fields numbers) with one field that
    is not a number is refused naming row 1, as the same typo in any other row is; it was taken for a header and the
    series silently dropped."""
    X, y = make_data(channels=1)
    lines = write_csv(tmp_path / "plain.csv", X, y, header=False).read_text().splitlines()
    fields = lines[0].split(",")
    fields[3] = "O.5"  # a letter O for a zero
    path = tmp_path / "typo.csv"
    path.write_text("\n".join([",".join(fields), *lines[1:]]) + "\n")
    with pytest.raises(DataError, match=r"row 1, column 4: 'O.5' is not a number"):
        files.read_file(path)


def test_an_empty_label_in_an_npz_is_a_missing_label(tmp_path: Path) -> None:
    """An empty (or blank) string label is missing, in an .npz as in a CSV (where an empty first field is refused);
    it was a class of its own named ''."""
    X, y = make_data(channels=1)
    labels = np.array([f"c{v}" for v in y])
    labels[[4, 7]] = ["", "  "]
    np.savez(tmp_path / "gaps.npz", X=X, y=labels)
    with pytest.raises(DataError, match=r"y holds .* at series 4, 7 \(a missing label\?\)"):
        files.read_file(tmp_path / "gaps.npz")
    # a missing number written as text: labels made with astype(str) from a float column with a gap, or a CSV's
    # "nan". They were a class of their own named 'nan' (dy one too many, its series trained as that class)
    labels = np.array([f"{v:.1f}" for v in y.astype(float)], dtype="<U12")
    labels[[2, 9]] = str(np.nan), "NaN"
    np.savez(tmp_path / "gaps.npz", X=X, y=labels)
    with pytest.raises(DataError, match=r"y holds an empty, NaN or inf label at series 2, 9 \(a missing label\?\)"):
        files.read_file(tmp_path / "gaps.npz")
    (tmp_path / "gaps.csv").write_text("".join(f"{lab},{i},{i + 1}\n" for i, lab in enumerate(labels)))
    with pytest.raises(DataError, match=r"gaps.csv: y holds .* at series 2, 9 \(a missing label\?\)"):
        files.read_file(tmp_path / "gaps.csv")
    labels[[2, 9]] = "nano", "Inference"  # words that merely start like one are labels
    np.savez(tmp_path / "fine.npz", X=X, y=labels)
    assert sorted(set(files.read_file(tmp_path / "fine.npz")[1])) == ["0.0", "1.0", "2.0", "Inference", "nano"]


def test_a_data_file_changed_in_the_same_process_is_read_again(tmp_path: Path) -> None:
    """The task of a file that changed since it was first asked for (a notebook rewriting its data, a long-lived
    worker) has the file's new sizes: the registry kept the first read, so a run on a 2-channel, 4-class file was
    recorded (and built) as dx=1, dy=3."""
    path = tmp_path / "edit.npz"
    X, y = make_data(n=30, channels=1)
    np.savez(path, X=X, y=y)
    assert (get_task(f"file:{path}").dx, get_task(f"file:{path}").dy) == (1, 3)
    X, _ = make_data(n=40, channels=2)
    np.savez(path, X=X, y=np.arange(40) % 4)
    task = get_task(f"file:{path}")
    assert (task.dx, task.dy) == (2, 4) and "40 series" in task.describe
    # the NAME_TEST file beside a NAME_TRAIN one is read by the task too (its split, length): one added or changed
    # later left the task of the first read (n_train of a 60/20/20 split, the old length) for the loader's new data
    train, test = tmp_path / "edit_TRAIN.npz", tmp_path / "edit_TEST.npz"
    np.savez(train, X=X, y=np.arange(40) % 4)
    assert get_task(f"file:{train}").n_train == len(files.load_file(train)["train"]) == 24  # alone: 60 %
    np.savez(test, X=make_data(n=8, channels=2, length=12)[0], y=np.arange(8) % 4)
    task = get_task(f"file:{train}")
    assert task.n_train == len(files.load_file(train)["train"]) == 32 and task.steps == 12  # TRAIN less 20 %
    np.savez(test, X=make_data(n=8, channels=2, length=15)[0], y=np.arange(8) % 4)
    assert get_task(f"file:{train}").steps == files.load_file(train)["test"].x.shape[1] == 15


def test_ts_file_and_its_test_sibling(tmp_path: Path) -> None:
    """A .ts file reads as aeon reads it; NAME_TRAIN.ts beside NAME_TEST.ts keeps the archive's test split."""
    from aeon.datasets import load_from_ts_file

    src = aeon_data_dir() / "UnitTest"
    shutil.copy(src / "UnitTest_TRAIN.ts", tmp_path / "UnitTest_TRAIN.ts")
    X_ref, y_ref = load_from_ts_file(str(src / "UnitTest_TRAIN.ts"))
    series, labels = files.read_file(tmp_path / "UnitTest_TRAIN.ts")
    np.testing.assert_array_equal(np.stack(series), X_ref)
    data = files.load_file(tmp_path / "UnitTest_TRAIN.ts")  # alone: 60/20/20 of its 20 series
    assert sum(len(data[s]) for s in ("train", "val", "test")) == 20
    shutil.copy(src / "UnitTest_TEST.ts", tmp_path / "UnitTest_TEST.ts")
    data = files.load_file(tmp_path / "UnitTest_TRAIN.ts")
    assert len(data["test"]) == 22 and len(data["train"]) + len(data["val"]) == 20


@pytest.mark.parametrize("suffix", [".tsv", ".csv", ".npz"])
def test_a_ucr_tsv_train_test_pair_keeps_its_test_split_as_the_ts_pair_does(tmp_path: Path, suffix: str) -> None:
    """The UCR archive ships NAME_TRAIN.tsv and NAME_TEST.tsv: --data NAME_TRAIN.tsv ignored the TEST file and
    split TRAIN 60/20/20, silently (only a .ts pair kept the archive's split). Any type now keeps it: the splits
    equal those of the same data as a .ts pair (the reference), and a lone TRAIN file is still split 60/20/20."""
    rng = np.random.default_rng(7)
    parts = {}
    for part, n in (("TRAIN", 30), ("TEST", 18)):
        y = np.arange(n) % 3
        X = rng.normal(size=(n, 1, 9)) + y[:, None, None]
        parts[part] = (X, y)
        lines = [f"{lab}\t" + "\t".join(repr(float(v)) for v in row) for lab, row in zip(y, X[:, 0, :])]
        (tmp_path / f"Toy_{part}.ts").write_text(
            "@problemName Toy\n@timeStamps false\n@univariate true\n@classLabel true 0 1 2\n@data\n"
            + "".join(",".join(repr(float(v)) for v in row) + f":{lab}\n" for lab, row in zip(y, X[:, 0, :])))
        if suffix == ".npz":
            np.savez(tmp_path / f"Toy_{part}{suffix}", X=X, y=y)
        else:
            sep = "," if suffix == ".csv" else "\t"
            (tmp_path / f"Toy_{part}{suffix}").write_text("\n".join(line.replace("\t", sep) for line in lines) + "\n")
    got = files.load_file(tmp_path / f"Toy_TRAIN{suffix}", seed=1)
    ref = files.load_file(tmp_path / "Toy_TRAIN.ts", seed=1)
    assert len(got["test"]) == 18 and "Toy_TEST" in got.source
    for split in ("train", "val", "test"):
        np.testing.assert_allclose(got[split].x.numpy(), ref[split].x.numpy(), rtol=1e-6)
        np.testing.assert_array_equal(got[split].target.numpy(), ref[split].target.numpy())
    task = files.file_task(tmp_path / f"Toy_TRAIN{suffix}")
    assert task.n_train == len(got["train"]) == 24
    (tmp_path / f"Toy_TEST{suffix}").unlink()  # alone: split 60/20/20
    assert len(files.load_file(tmp_path / f"Toy_TRAIN{suffix}", seed=1)["test"]) == 6


def test_a_lower_case_train_test_pair_keeps_its_test_split(tmp_path: Path) -> None:
    """``name_train.ts`` is recognised as a TRAIN file (any case); its ``name_test.ts`` sibling is its test split,
    not ignored (the TRAIN file alone was split 60/20/20 and the user's test series silently left out)."""
    src = aeon_data_dir() / "UnitTest"
    for part in ("train", "Train"):
        folder = tmp_path / part
        folder.mkdir()
        shutil.copy(src / "UnitTest_TRAIN.ts", folder / f"unittest_{part}.ts")
        shutil.copy(src / "UnitTest_TEST.ts", folder / f"unittest_{part.replace('rain', 'est')}.ts")
        data = files.load_file(folder / f"unittest_{part}.ts")
        assert len(data["test"]) == 22 and len(data["train"]) + len(data["val"]) == 20, part


def test_steps_of_a_train_test_pair_are_the_padded_length(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """T (the predictor's ``steps``) of file:NAME_TRAIN.ts and ucr:NAME is the length every series is padded to, the
    longest of TRAIN and TEST, as ts:NAME declares it: JapaneseVowels' TRAIN is at most 26 steps, its TEST 29."""
    monkeypatch.setenv("BALANCEDRNN_OFFLINE", "1")
    src = aeon_data_dir() / "JapaneseVowels"
    for split in ("TRAIN", "TEST"):
        shutil.copy(src / f"JapaneseVowels_{split}.ts", tmp_path / f"JapaneseVowels_{split}.ts")
    data = files.load_file(tmp_path / "JapaneseVowels_TRAIN.ts")
    assert data["train"].x.shape[1] == 29
    for task in (files.file_task(tmp_path / "JapaneseVowels_TRAIN.ts"), files.ucr_task("JapaneseVowels")):
        assert task.steps == 29, task.name


def test_test_labels_outside_the_training_classes_are_named_plainly(tmp_path: Path) -> None:
    X, y = make_data(n=12)
    raw = {"train": (list(X[:6]), ["a", "b"] * 3), "val": (list(X[6:8]), ["a", "b"]),
           "test": (list(X[8:]), ["a", "z", "b", "z"])}
    from balancedrnn.tasks.timeseries import build_data

    with pytest.raises(DataError) as e:
        build_data("pair", raw, "test")
    assert str(e.value) == "pair: test labels ['z'] are not among the classes ['a', 'b']"


def test_a_ts_file_that_declares_regression_is_not_classified(tmp_path: Path) -> None:
    """A .ts file whose header says @targetlabel true (aeon's regression files) is refused by the command line's
    classifier even when its targets take few values; read_file still reads it (for BlockRNNRegressor)."""
    text = (aeon_data_dir() / "Covid3Month" / "Covid3Month_TRAIN.ts").read_text()
    assert "@targetlabel true" in text.lower()
    head, data = text.split("@data", 1)
    rows = [r for r in data.strip().splitlines() if r.strip()][:30]
    coarse = [r.rsplit(":", 1)[0] + f":{i % 3}" for i, r in enumerate(rows)]  # three target values only
    path = tmp_path / "coarse.ts"
    path.write_text(head + "@data\n" + "\n".join(coarse) + "\n")
    X, y = files.read_file(path)
    assert len(X) == 30 and len(set(map(float, y))) == 3
    with pytest.raises(DataError, match=r"coarse.ts declares a regression target \(@targetlabel true\)"):
        files.file_task(path)
    files.file_task(aeon_data_dir() / "UnitTest" / "UnitTest_TRAIN.ts")  # a classification file passes


def test_split_is_stratified_seeded_and_disjoint(tmp_path: Path) -> None:
    X, y = make_data(n=60)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    a, b, c = (files.load_file(tmp_path / "d.npz", seed=s) for s in (0, 0, 1))
    idx = {s: set(a[s].index.tolist()) for s in ("train", "val", "test")}
    assert set().union(*idx.values()) == set(range(60)) and sum(map(len, idx.values())) == 60
    assert (len(idx["train"]), len(idx["val"]), len(idx["test"])) == (36, 12, 12)  # 60/20/20
    for s in ("train", "val", "test"):  # each class 1/3 of every split (stratified)
        assert np.bincount(a[s].target.numpy()).tolist() == [len(idx[s]) // 3] * 3
        assert a[s].index.tolist() == b[s].index.tolist()
    assert a["test"].index.tolist() != c["test"].index.tolist()


def test_file_task_sizes_and_default_budget(tmp_path: Path) -> None:
    X, y = make_data(channels=4)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    task = get_task(f"file:{tmp_path / 'd.npz'}")
    assert (task.dx, task.dy, task.loss) == (4, 3, "last")
    assert task.default_budget == default_budget(4, 3)
    data = files.load_file(tmp_path / "d.npz", seed=5)  # what the zoo predictor is told is what training gets
    assert task.n_train == len(data["train"]) and task.steps == max(s.shape[-1] for s in X)


def test_ucr_task_offline_reads_what_aeon_ships(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BALANCEDRNN_OFFLINE", "1")
    task = get_task("ucr:GunPoint")
    assert (task.dx, task.dy) == (1, 2)
    data = files.load_ucr("GunPoint")
    assert len(data["test"]) == 150 and len(data["train"]) + len(data["val"]) == 50
    assert task.n_train == len(data["train"]) and task.steps == 150


# ------------------------------------------------------------------------------------------- bad files
BAD = {
    "empty.csv": ("", "is empty"),
    "ragged.csv": ("a,1,2,3\nb,1,2\n", "row 2 has 3 fields but row 1 has 4"),
    "text.csv": ("a,1,2,3\nb,1,x,3\n", "row 2, column 3: 'x' is not a number"),
    "header-only.csv": ("label,t0,t1\n", "holds no series"),
    "nan.csv": ("a,1,2\nb,nan,2\na,1,2\nb,1,2\n", "NaN or infinite"),
    "one-class.csv": ("a,1,2\na,3,4\na,5,6\n", "single class"),
    "indexed.csv": (",label,0,1\n0,a,1,2\n1,b,3,4\n2,a,5,6\n3,b,7,8\n", "the first column numbers the rows (0, 1, ..., 3)"),
    "data.xlsx": ("x", "unknown type '.xlsx'"),
    # Excel's CSV in many locales: ';' between fields, decimal commas. The line said only "row 1 has 1 field" or
    # "'5;2' is not a number", not what was wrong with the file
    "semicolons.csv": ("a;1;2\nb;3;4\n", "row 1 has 1 field; each row needs a label and at least one value; its fields "
                       "look separated by semicolons, but a .csv file is read comma-separated: save it with commas"),
    "decimal-commas.csv": ("a;1,5;2\nb;3,5;4\na;2,5;1\n", "row 2, column 2: '5;4' is not a number (the label is the "
                           "first column, every other field a number); its fields look separated by semicolons"),
    "tabs.csv": ("a\t1\t2\nb\t3\t4\n", "look separated by tabs, but a .csv file is read comma-separated: save it "
                 "with tabs as a .tsv"),
    "text.ts": ("not a .ts file\n", "text.ts holds no series"),
    "header-only.ts": ("@problemName x\n@univariate true\n@classLabel true a b\n@data\n", "holds no series"),
}


def _npz(path: Path, **arrays: object) -> Path:
    np.savez(path, **arrays)
    return path


def bad_npz(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    X, y = make_data()
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = np.zeros((1, 3)), np.zeros((1, 4))
    return {
        "lengths": (_npz(tmp_path / "len.npz", X=X, y=y[:-1]), "len.npz: y has 29 labels but X has 30 series"),
        "nan label": (_npz(tmp_path / "ynan.npz", X=X, y=np.where(np.arange(len(y)) == 2, np.nan, y.astype(float))),
                      "ynan.npz: y holds NaN or inf at series 2 (a missing label?)"),
        "no y": (_npz(tmp_path / "noy.npz", X=X), "has no array y"),
        "inf": (_npz(tmp_path / "inf.npz", X=np.where(X > 2, np.inf, X), y=y), "NaN or infinite"),
        "objects": (_npz(tmp_path / "obj.npz", X=ragged, y=[0, 1]), "object (pickled) arrays"),
        "1-D X": (_npz(tmp_path / "flat.npz", X=np.zeros(5), y=np.zeros(5)), "Reshape your data"),
        "npy": (_npy_as_npz(tmp_path / "one.npz", X), "one.npz holds one .npy array, not an .npz archive"),
        "not zip": (_text(tmp_path / "text.npz", "X,y\n1,2\n"), "text.npz is not a readable .npz file (not a zip"),
        "corrupt compressed": (_corrupt_compressed(tmp_path / "zc.npz", X, y), "zc.npz is not a readable .npz file"),
    }


def _corrupt_compressed(path: Path, X: np.ndarray, y: np.ndarray) -> Path:
    """np.savez_compressed's archive with bytes of X's deflated data flipped (zlib fails before the CRC check)."""
    np.savez_compressed(path, X=X, y=y)
    data = bytearray(path.read_bytes())
    for k in range(60, 80):
        data[k] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def _npy_as_npz(path: Path, X: np.ndarray) -> Path:
    """np.save's single array under an .npz name (np.load returns the array, not an archive)."""
    with open(path, "wb") as f:
        np.save(f, X)
    return path


def _text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_file_python(tmp_path: Path, name: str) -> None:
    text, pattern = BAD[name]
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(DataError) as e:
        files.file_task(path)
    assert pattern in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_bad_npz_python(tmp_path: Path) -> None:
    for case, (path, pattern) in bad_npz(tmp_path).items():
        with pytest.raises(ValueError) as e:
            files.file_task(path)
        assert pattern in str(e.value) and "\n" not in str(e.value), (case, str(e.value))


def test_values_too_large_to_normalise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Finite values whose squares overflow made the training std inf and every input 0, and training ran on
    nothing with exit 0; now a one-line error before anything is trained or written."""
    cli_env(tmp_path, monkeypatch)
    X, y = make_data()
    path = _npz(tmp_path / "huge.npz", X=X * 1e300, y=y)
    with pytest.raises(DataError, match="too large to normalise"):
        files.load_file(path)
    one_line_error(run_main(["train", "--data", path, "--out-dir", "out"], capsys), "too large to normalise", 2)
    assert not (tmp_path / "out").exists()
    assert np.isfinite(files.load_file(_npz(tmp_path / "big.npz", X=X * 1e150, y=y))["test"].x.numpy()).all()


def test_too_few_series_to_split(tmp_path: Path) -> None:
    path = tmp_path / "few.csv"
    path.write_text("a,1,2\nb,3,4\na,1,2\nb,3,3\n")
    with pytest.raises(DataError, match="too few to split"):
        files.load_file(path)
    path.write_text("a,1,2\nb,3,4\na,1,2\nb,3,3\na,2,2\nb,4,4\n")  # 3 per class: the line said 3 were enough
    with pytest.raises(DataError, match="too few to split") as e:
        files.load_file(path)
    need = int(re.search(r"at least (\d+)", str(e.value)).group(1))
    # the size the line names is the smallest that works, counted by hand: a class of n holds out round(0.2 n) for
    # test (half to even) and round(0.25 (n - that)) of the rest for validation, each leaving one behind
    by_hand = next(n for n in range(2, 20) if min(round(0.2 * n), n - 1) and
                   min(round(0.25 * (n - min(round(0.2 * n), n - 1))), n - min(round(0.2 * n), n - 1) - 1))
    assert need == by_hand == 4
    path.write_text("a,1,2\nb,3,4\na,1,2\n" + "c,3,3\n" * need)  # one class that large: train, val and test
    assert [len(files.load_file(path)[s]) for s in ("train", "val", "test")] == [need - 2 + 3, 1, 1]
    # a TRAIN/TEST pair holds out 20 % of TRAIN per class, rounded: 2 per class leave none (the line said only
    # "too few training series"); the size it names, 3 by hand (round(0.2 * 3) = 1), is enough
    (tmp_path / "p_TEST.csv").write_text("a,1,2\nb,3,4\n")
    (tmp_path / "p_TRAIN.csv").write_text("a,1,2\nb,3,4\na,2,2\nb,4,4\n")
    with pytest.raises(DataError, match=r"4 training series are too few to hold out 20% for validation \(some class "
                                        r"needs at least 3"):
        files.load_file(tmp_path / "p_TRAIN.csv")
    (tmp_path / "p_TRAIN.csv").write_text("a,1,2\nb,3,4\na,2,2\nb,4,4\na,1,1\n")
    assert [len(files.load_file(tmp_path / "p_TRAIN.csv")[s]) for s in ("train", "val", "test")] == [4, 1, 2]


def test_unknown_and_unshipped_ucr_names_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BALANCEDRNN_OFFLINE", "1")
    monkeypatch.setenv("BALANCEDRNN_CACHE", str(tmp_path))
    with pytest.raises(DataError, match="unknown UCR/UEA data set 'NoSuchSet'"):
        files.ucr_files("NoSuchSet")
    with pytest.raises(DataError, match="did you mean GunPoint"):
        files.ucr_files("gunpoint")
    from balancedrnn.tasks import TaskError, get_task

    with pytest.raises(TaskError, match="this library has it as --task ts:Covid3Month"):  # it said only "unknown"
        get_task("ucr:Covid3Month")
    with pytest.raises(DataError, match="Adiac is not shipped with aeon .* downloads are off") as e:
        files.ucr_files("Adiac")
    offered = str(e.value).split("offline, use one of ")[1].split(", ")
    assert "GunPoint" in offered
    for name in offered:  # every name the error offers works offline (UnitTest and the regression sets did not)
        assert files.ucr_files(name)[2].startswith("shipped with aeon"), name


def test_a_failed_ucr_download_leaves_nothing_half_written(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """aeon extracts a download straight into the directory it is given: a full disk (or Ctrl-C) mid-extraction
    left a half-written TEST file in the cache, which every later run read as the data set ("cached")."""
    import aeon.datasets

    monkeypatch.setenv("BALANCEDRNN_OFFLINE", "0")
    monkeypatch.setenv("BALANCEDRNN_CACHE", str(tmp_path))
    real = aeon_data_dir() / "GunPoint"  # stands in for the archive's Adiac, which aeon does not ship
    test_text = (real / "GunPoint_TEST.ts").read_text()
    calls = []

    def extract(name: str, split: str, extract_path: str, full_disk: bool = False) -> None:
        calls.append(name)
        d = Path(extract_path) / name
        d.mkdir(parents=True)
        shutil.copy(real / "GunPoint_TRAIN.ts", d / f"{name}_TRAIN.ts")
        cut = test_text.index("\n", len(test_text) // 2) + 1  # at a line's end: the half file parses
        (d / f"{name}_TEST.ts").write_text(test_text[:cut] if full_disk else test_text)
        if full_disk:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(aeon.datasets, "load_classification", lambda *a, **k: extract(*a, **k, full_disk=True))
    with pytest.raises(DataError, match="could not be downloaded .*No space left on device"):
        files.ucr_files("Adiac")
    assert list((tmp_path / "ucr").iterdir()) == []  # neither the half-written set nor the staging directory
    monkeypatch.setattr(aeon.datasets, "load_classification", extract)
    train, test, where = files.ucr_files("Adiac")
    assert where.startswith("downloaded") and calls == ["Adiac", "Adiac"]
    assert test.read_text() == test_text and [p.name for p in (tmp_path / "ucr").iterdir()] == ["Adiac"]
    assert files.ucr_files("Adiac")[2] == "cached" and len(calls) == 2  # the next run reads it, downloads nothing
    assert len(files.read_file(test)[0]) == test_text.split("@data")[-1].strip().count("\n") + 1
    # a cached copy damaged later (or left half-written by a version that extracted in place): the line said only
    # "Adiac_TEST.ts is not a readable .ts file", naming neither where that file is nor what to do
    test.write_text(test_text[: len(test_text) // 2])  # cut inside a line
    with pytest.raises(DataError, match=rf"Adiac_TEST.ts is not a readable .ts file .*cached download of UCR/UEA "
                                        rf"data set Adiac: delete {re.escape(str(test.parent))} and the next run"):
        files.load_ucr("Adiac")


# ------------------------------------------------------------------------------------------- command line
@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    X, y = make_data(n=30, channels=1, length=6)
    return write_csv(tmp_path / "series.csv", X, y % 2)


def test_cli_train_on_a_csv_with_auto(csv_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The README's lines: recommend on the file, then train what it recommends (auto), on the CPU."""
    cli_env(tmp_path, monkeypatch)
    code, out, err = run_main_full(["recommend", "--data", csv_file], capsys)
    assert code == 0, err
    recommended = re.search(r"config: (\S+)", out).group(1)
    task = get_task(f"file:{csv_file}")
    code, out_dx, _ = run_main_full(["recommend", "--dx", 1, "--dy", 2, "--steps", task.steps,  # the same, by hand
                                     "--n-train", task.n_train], capsys)
    assert re.search(r"config: (\S+)", out_dx).group(1) == recommended
    code, out, err = run_main_full(["train", "--data", csv_file, "--model", "auto", "--epochs", 1, "--device", "cpu",
                                    "--threads", 1, "--out-dir", tmp_path / "runs", "-q"], capsys)
    assert code == 0, err
    assert f"auto (balanced rule): {recommended}" in err or f"): {recommended}" in err
    records = list((tmp_path / "runs").glob("*.json"))
    assert len(records) == 1
    import json

    record = json.loads(records[0].read_text())
    assert record["config"]["model"] == recommended and record["config"]["task"] == f"file:{csv_file}"
    assert "split 60%/20%/20%" in record["data_source"]


def test_cli_compare_and_sweep_on_a_file(csv_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    cli_env(tmp_path, monkeypatch)
    code, out, err = run_main_full(["compare", "--data", csv_file, "--models", "auto,dense", "--seeds", 1, "--epochs", 1,
                                    "--threads", 1, "--out-dir", tmp_path / "cmp", "-q"], capsys)
    assert code == 0, err
    assert "dense" in out and "runs" in out
    pytest.importorskip("optuna")
    code, out, err = run_main_full(["sweep", "--data", csv_file, "--models", "dense", "--seeds", 1, "--set", "epochs=1",
                                    "--device", "cpu", "--run-dir", tmp_path / "sw", "-q"], capsys)
    assert code == 0, err
    assert "1/1 trials done" in out


def test_cli_compare_trains_auto_once_when_it_is_a_listed_config(csv_file: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """``compare --models auto,X`` where auto chooses X trained X twice as two rows of one config; it trains it
    once and says so."""
    cli_env(tmp_path, monkeypatch)
    code, out, err = run_main_full(["recommend", "--data", csv_file], capsys)
    assert code == 0, err
    recommended = re.search(r"config: (\S+)", out).group(1)
    code, out, err = run_main_full(["compare", "--data", csv_file, "--models", f"{recommended},auto", "--seeds", 2,
                                    "--epochs", 1, "--threads", 1, "--out-dir", tmp_path / "cmp", "-q"], capsys)
    assert code == 0, err
    assert "auto is a config --models already lists; it is trained once" in err
    assert len(list((tmp_path / "cmp" / "records").glob("*.json"))) == 2  # 1 config x 2 seeds
    assert "trials: 2 ok" in out


def test_cli_ucr_task_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    cli_env(tmp_path, monkeypatch)
    code, out, err = run_main_full(["train", "--task", "ucr:ItalyPowerDemand", "--model", "dense", "--epochs", 1,
                                    "--threads", 1, "--out-dir", tmp_path / "runs", "-q"], capsys)
    assert code == 0, err
    one_line_error(run_main(["train", "--task", "ucr:Adiac", "--out-dir", tmp_path / "r2"], capsys), "not shipped", 2)
    one_line_error(run_main(["train", "--task", "ucr:NoSuchSet", "--out-dir", tmp_path / "r2"], capsys), "unknown UCR/UEA", 2)
    assert not (tmp_path / "r2").exists()


@pytest.mark.parametrize("name", sorted(BAD))
def test_cli_bad_file_is_one_line(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    cli_env(tmp_path, monkeypatch)
    text, pattern = BAD[name]
    (tmp_path / name).write_text(text)
    for args in (["train", "--data", name, "--out-dir", "out"], ["recommend", "--data", name]):
        one_line_error(run_main(args, capsys), pattern, 2)
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_cli_bad_npz_and_options(csv_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    cli_env(tmp_path, monkeypatch)
    for case, (path, pattern) in bad_npz(tmp_path).items():
        one_line_error(run_main(["train", "--data", path, "--out-dir", "out"], capsys), pattern, 2)
    cases = [
        (["train", "--data", "missing.csv"], "--data missing.csv does not exist"),
        (["train", "--data", csv_file, "--task", "ts:GunPoint"], "either --task or --data"),
        (["train", "--data", csv_file, "--task", "rad"], "either --task or --data"),  # the default, given: once ignored
        (["compare", "--data", csv_file, "--task", "rad", "--out-dir", "out"], "either --task or --data"),
        (["train", "--data", csv_file, "--budget", 1, "--out-dir", "out"], "smallest feasible budget"),
        (["train", "--data", csv_file, "--model", "auto", "--budget", 1, "--out-dir", "out"], "smallest feasible budget"),
        (["train", "--data", csv_file, "--device", "nowhere", "--out-dir", "out"], "unknown device"),
        (["train", "--data", csv_file, "--n-train", 10, "--out-dir", "out"], "--n-train does not apply to task file:"),
        (["compare", "--data", csv_file, "--n-val", 5, "--out-dir", "out"], "--n-val does not apply to task file:"),
        (["recommend", "--data", csv_file, "--dx", 3], "either --data or --dx/--dy"),
        (["recommend", "--dx", 3], "give --dx and --dy"),
    ]
    for args, pattern in cases:
        one_line_error(run_main(args, capsys), pattern, 2)
    assert not (tmp_path / "out").exists()


def test_readme_python_lines_on_the_example_csv() -> None:
    """The README's three Python lines, on the CSV the repository ships (one epoch here)."""
    pytest.importorskip("sklearn")
    from balancedrnn import BlockRNNClassifier
    from balancedrnn.tasks.files import read_file

    X, y = read_file(Path(__file__).resolve().parents[1] / "examples" / "data" / "italy_power_demand.csv")
    clf = BlockRNNClassifier(config="auto", epochs=1, random_state=0).fit(X, y)
    assert len(X) == 300 and set(clf.classes_) == {"1", "2"} and clf.predict(X).shape == (300,)
