"""Your own data as a task: a file (``.npz``, aeon/sktime ``.ts``, ``.csv``) or any UCR/UEA problem by name, and
the one check every collection of series passes at the boundary (the estimators use it too).

Why: a researcher should not have to write a :class:`~balancedrnn.tasks.base.Task` to try a balanced sparse RNN
on their sequences. ``balancedrnn train --data PATH`` uses the task ``file:PATH``, ``--task ucr:NAME`` the task
``ucr:NAME``; both resolve in any process (sweep workers too) through :func:`task_for`.

What a file holds (classification at the last step, like the ``ts:`` tasks):

* ``.npz``: arrays ``X`` and ``y``. ``X`` is 3-D ``(n_cases, n_channels, n_timepoints)`` (aeon's layout) or 2-D
  ``(n_cases, n_timepoints)``, read as univariate series (aeon's reading of 2-D). Object (pickled) arrays are
  refused: unequal-length series are padded with NaN at their end (tslearn's layout) or go in a ``.ts`` file.
* ``.ts``: aeon/sktime's format, read with aeon's ``load_from_ts_file`` (equal or unequal length, any channels).
  A file ``NAME_TRAIN.ts`` with a sibling ``NAME_TEST.ts`` keeps the archive's split, as the ``ts:`` tasks do; so
  does a pair of any other type read here (the UCR archive's ``NAME_TRAIN.tsv``/``NAME_TEST.tsv``).
* ``.csv`` (or ``.tsv``, tab-separated): one univariate series per row, **the label in the first column** (the
  UCR archive's own layout), every other field a number; all rows the same number of fields, a shorter series
  padded with NaN (or empty fields) at its end (as the UCR archive's files of unequal lengths are; a NaN before a
  series' last number is refused). A first row whose series
  fields are not all numbers (under a first field that is no other row's label, or with no number among them), or
  are the column numbers 0..T-1 as pandas writes them (under a first field that is no row's label), or a whole row
  0..T (pandas' column numbers of a frame of the label and the series), or, under a first field that is a word and
  no other row's label, consecutive whole numbers (time points 1..T, years; when every class has several rows) or,
  when that word names a label column (``label``, ``class``, ...), any numbers, is a header and is skipped; a first row that is a series with a field that is not a number is refused like any other row.
  A first column that numbers the rows (0..n-1 or 1..n: pandas' index, written unless ``index=False``) is refused:
  read as labels, every series would be a class of its own, and the real label a first time point; so is a header
  that names another column the label (``label``, ``class``, ``target``, ...).

The split: a single file is split into train/validation/test by :data:`SPLIT_FRACTIONS` (60/20/20), stratified by
class and seeded by the run's ``data_seed``; a TRAIN/TEST pair keeps its test split and holds out a stratified,
seeded 20 % of TRAIN for validation. Labels map to classes in sorted order; every channel is normalised with the
training split's statistics and series are pre-padded (:func:`balancedrnn.tasks.timeseries.build_data`, shared
with the ``ts:`` tasks).

Bad input (NaN or inf, X and y of different lengths, a single class, an empty file, ragged or non-numeric CSV
rows, an unknown UCR name offline) is a one-line :class:`~balancedrnn.io.DataError` (a ``ValueError``) raised
before anything is trained or written.
"""

from __future__ import annotations

import csv
import hashlib
import zipfile
import zlib
from collections import Counter
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..io import OFFLINE_ENV, DataError, cache_dir, offline

if TYPE_CHECKING:
    from .base import DataRequest, Task
    from .timeseries import TimeSeriesData

FILE_PREFIX = "file:"
UCR_PREFIX = "ucr:"
SUFFIXES = (".npz", ".ts", ".csv", ".tsv")
"""File types :func:`read_file` reads."""
LABEL_NAMES = frozenset({"label", "labels", "class", "classes", "target", "category"})
"""Header names of a label column: a CSV header giving one of them to a column other than the first is refused
(the label would be read from the first column, silently)."""
SPLIT_FRACTIONS = (0.6, 0.2, 0.2)
"""Train, validation and test shares of a single file (stratified by class, seeded by ``data_seed``)."""
"""Set to 1 to never download (the MNIST loader reads the same variable)."""


# ------------------------------------------------------------------------------------ the boundary check
def as_collection(X: Any, what: str = "X") -> list[np.ndarray]:
    """A collection of series in one of aeon's layouts as a list of float64 ``(n_channels, n_timepoints)`` arrays,
    checked: a 3-D array ``(n_cases, n_channels, n_timepoints)``; a 2-D array, read as ``(n_cases, n_timepoints)``
    univariate series; or a list of 2-D ``(n_channels, n_timepoints_i)`` (or 1-D, univariate) series of any lengths.
    Raises a one-line ValueError (:class:`DataError`) for an empty collection, sparse input, a series of length 0,
    different channel counts, and NaN or infinite values; non-numbers raise TypeError or ValueError from NumPy's
    conversion."""
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        raise DataError(f"{what} is a sparse matrix; sparse input is not supported (pass a dense array)")
    if isinstance(X, (list, tuple)):
        series = [_as_float(s, what) for s in X]
    else:
        arr = np.asarray(X)
        if arr.dtype == object and arr.ndim == 1:  # a ragged collection NumPy stored as objects
            series = [_as_float(s, what) for s in arr]
        else:
            arr = _as_float(arr, what)
            if arr.ndim in (2, 3) and arr.shape[0] and arr.shape[-1] == 0:
                raise DataError(f"{what} has 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required: "
                                "each series needs at least one time point")
            if arr.ndim < 2:
                raise DataError(f"{what} is {arr.ndim}-D (shape {arr.shape}); Reshape your data: one univariate "
                                "series is X.reshape(1, -1), a 3-D (n_cases, n_channels, n_timepoints) array or a "
                                "list of (n_channels, n_timepoints) series is read as is")
            if arr.ndim == 2:
                arr = arr[:, None, :]
            if arr.ndim != 3:
                raise DataError(f"{what} must be 3-D (n_cases, n_channels, n_timepoints), 2-D (n_cases, n_timepoints) "
                                f"or a list of (n_channels, n_timepoints) series, got shape {arr.shape}")
            series = list(arr)
    if not series:
        raise DataError(f"{what} is empty: no series")
    out = []
    for i, s in enumerate(series):
        if s.ndim == 1:
            s = s[None, :]
        if s.ndim != 2:
            raise DataError(f"{what}: series {i} has shape {s.shape}; expected (n_channels, n_timepoints)")
        if s.shape[0] == 0 or s.shape[1] == 0:
            raise DataError(f"{what}: series {i} has shape {s.shape}; it needs at least one channel and one time point")
        out.append(s)
    channels = sorted({s.shape[0] for s in out})
    if len(channels) > 1:
        raise DataError(f"{what}: series have different channel counts {channels[:5]}")
    bad = [i for i, s in enumerate(out) if not np.isfinite(s).all()]
    if bad:
        raise DataError(f"{what} contains NaN or infinite values (in {len(bad)} series, the first is series {bad[0]})")
    return out


def _as_float(x: Any, what: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind == "c":
        raise DataError(f"Complex data not supported: {what} holds complex numbers")
    if arr.dtype.kind in "US":
        raise DataError(f"{what} holds text ({arr.dtype}); it must hold numbers")
    return np.asarray(arr, dtype=np.float64)


def check_labels(y: Any, n_cases: int, what: str = "y") -> np.ndarray:
    """Labels as a 1-D array of ``n_cases`` entries, or a one-line DataError (wrong length, empty, a missing
    label: NaN or inf, None in an object array, or an empty or blank string, or "nan"/"inf" as text)."""
    y = np.asarray(y)
    if y.ndim == 0:
        raise DataError(f"{what} is a single value; it needs one label per series")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{what} must be 1-D (one label per series), got shape {y.shape}")
    if y.shape[0] != n_cases:
        raise DataError(f"{what} has {y.shape[0]} labels but X has {n_cases} series")
    if y.dtype.kind in "fc":
        missing = ~np.isfinite(y)
    elif y.dtype == object:  # pandas' missing labels among strings: None, NaN or pd.NA (np.unique cannot sort them)
        missing = np.array([_missing(v) for v in y], dtype=bool)
    elif y.dtype.kind in "US":  # an empty or blank string, as an empty first field of a CSV row, or "nan"
        missing = np.array([_missing(v) for v in y.tolist()], dtype=bool)
    else:
        missing = np.zeros(y.shape, dtype=bool)
    if missing.any():
        bad = np.flatnonzero(missing)
        kind = {"f": "NaN or inf", "c": "NaN or inf", "U": "an empty, NaN or inf label", "S": "an empty, NaN or inf label"}
        raise DataError(f"{what} holds {kind.get(y.dtype.kind, 'None, NaN, NA, inf or an empty label')} at series "
                        f"{', '.join(map(str, bad[:5]))}"
                        f"{' ...' if bad.size > 5 else ''} (a missing label?); every series needs one")
    return y


def _missing(v: Any) -> bool:
    """Whether one entry of an array of labels is a missing value: None, NaN, inf, pandas' NA/NaT, an empty or
    blank string, or NaN or inf written as text ("nan", "inf": a float column of labels with a gap, as text)."""
    if v is None:
        return True
    if isinstance(v, (str, bytes)):  # blank, or a missing number written as text ("nan": NumPy's str of a NaN)
        try:
            return not v.strip() or not np.isfinite(float(v))
        except ValueError:
            return False
    if isinstance(v, (float, np.floating)):
        return not np.isfinite(v)
    try:
        return bool(v != v)  # NaT
    except TypeError:  # pd.NA: its comparisons are NA, whose truth value is an error
        return True


def check_classes(y: np.ndarray, what: str = "y") -> np.ndarray:
    """The distinct classes of ``y``; a one-line DataError when there is only one."""
    classes = np.unique(np.asarray([str(v) for v in y]))
    if classes.size < 2:
        raise DataError(f"{what} has a single class ({str(classes[0])!r}); classification needs at least two")
    return classes


# ------------------------------------------------------------------------------------------- reading files
def read_file(path: str | Path) -> tuple[list[np.ndarray], np.ndarray]:
    """``(X, y)`` of a data file (``.npz``, ``.ts``, ``.csv``/``.tsv``; see the module docstring), X as
    :func:`as_collection` returns it, checked against y."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file {path} does not exist" if not path.exists() else f"data file {path} is not a file")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(f"data file {path.name}: unknown type {suffix or '(none)'!r}; expected one of {', '.join(SUFFIXES)}")
    if path.stat().st_size == 0:
        raise DataError(f"data file {path} is empty")
    if suffix == ".npz":
        X, y = _read_npz(path)
        X = np.asarray(X)
        empty, X = unpad(X)  # tslearn's layout of unequal lengths: NaN after each shorter series
        if empty is not None:
            raise DataError(f"{path.name}: X: series {empty} has no values (every value is NaN)")
    elif suffix == ".ts":
        X, y = _read_ts(path)
    else:
        X, y = _read_csv(path, "\t" if suffix == ".tsv" else ",")
    series = as_collection(X, f"{path.name}: X")
    return series, check_labels(y, len(series), f"{path.name}: y")


def _read_npz(path: Path) -> tuple[Any, Any]:
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic == b"\x93NUMPY":  # np.save's one array: np.load returns it, not an archive
        raise DataError(f"{path.name} holds one .npy array, not an .npz archive of X and y; save it with "
                        "np.savez(path, X=X, y=y)")
    if not magic.startswith(b"PK"):  # np.load would try it as a pickle and blame object arrays
        raise DataError(f"{path.name} is not a readable .npz file (not a zip archive); save it with "
                        "np.savez(path, X=X, y=y)")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in ("X", "y") if k not in z.files]
            if missing:
                raise DataError(f"{path.name} has no array {' or '.join(missing)} (it holds {', '.join(z.files) or 'nothing'}); "
                                "save it with np.savez(path, X=X, y=y)")
            return z["X"], z["y"]
    except DataError:
        raise
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise DataError(f"{path.name} holds object (pickled) arrays, which are not read; save equal-length "
                            "numeric arrays, or unequal-length series as a .ts file") from None
        raise DataError(f"{path.name} is not a readable .npz file ({str(e).splitlines()[0]})") from None
    except (OSError, zipfile.BadZipFile, EOFError, zlib.error) as e:  # zlib: a corrupt np.savez_compressed member
        raise DataError(f"{path.name} is not a readable .npz file ({str(e).splitlines()[0] or type(e).__name__})") from None


def _read_ts(path: Path) -> tuple[Any, Any]:
    from .base import require

    datasets = require("aeon.datasets", "timeseries", f"reading {path.name} (a .ts file)")
    try:
        X, y = datasets.load_from_ts_file(str(path))
    except (OSError, ValueError, IndexError, KeyError, TypeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"{path.name} is not a readable .ts file ({first})") from None
    if len(X) == 0:  # aeon reads a file without a @data section, or with none after it, as no series
        raise DataError(f"{path.name} holds no series (a .ts file lists them, one a line, after its @data line)")
    return X, y


def _declares_regression(path: Path) -> bool:
    """Whether a .ts file's header says its target is a regression value (``@targetlabel true``)."""
    if path.suffix.lower() != ".ts":
        return False
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            words = line.strip().lower().split()
            if words[:1] == ["@data"]:
                return False
            if words[:2] == ["@targetlabel", "true"]:
                return True
    return False


def _read_csv(path: Path, delimiter: str) -> tuple[np.ndarray | list[np.ndarray], np.ndarray]:
    """One univariate series per row, the label first; ragged or non-numeric rows are refused by row number. NaN at
    the end of a row pads a shorter series (the UCR archive's files of unequal lengths): the series are then a list
    of their own lengths."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: Excel's byte order mark
            rows = [(i + 1, [c.strip() for c in r]) for i, r in enumerate(csv.reader(f, delimiter=delimiter))]
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path.name} is not a readable text table ({str(e).splitlines()[0]})") from None
    rows = [(n, r) for n, r in rows if any(r)]
    if rows and _header(rows[0][1], Counter(r[0] for _, r in rows[1:])):
        named = [j for j, c in enumerate(rows[0][1]) if c.lower() in LABEL_NAMES]
        head = rows[0][1][0]  # empty over an index column (pandas, R): the index check below names that
        if named and named[0] > 0 and head and head.lower() not in LABEL_NAMES:
            j = named[0]
            raise DataError(f"{path.name}: the header names column {j + 1} {rows[0][1][j]!r}, but the label must be "
                            f"the first column (its first column, {head!r}, would be read as the labels); "
                            "move the label column first")
        rows = rows[1:]
    if not rows:
        raise DataError(f"{path.name} holds no series (one series per row, the label in the first column)")
    width = len(rows[0][1])
    if width < 2:
        raise DataError(f"{path.name}: row {rows[0][0]} has {width} field; each row needs a label and at least one "
                        f"value{_separator_hint(path, rows[0][1][0], delimiter)}")
    for n, r in rows:
        if len(r) != width:
            raise DataError(f"{path.name}: row {n} has {len(r)} fields but row {rows[0][0]} has {width}; every row "
                            "needs the same number of fields (unequal lengths: pad the shorter series with NaN at "
                            "their end, as the UCR archive does, or use a .ts file)")
    first = [r[0] for _, r in rows]
    if len(first) >= 3 and first in ([str(i) for i in range(len(first))], [str(i + 1) for i in range(len(first))]):
        raise DataError(f"{path.name}: the first column numbers the rows ({first[0]}, {first[1]}, ..., {first[-1]}), as "
                        "pandas' to_csv writes its index (R's write.csv its row names); the label must be the first "
                        "column: write the file with to_csv(path, index=False)")
    values = np.full((len(rows), width - 1), np.nan)
    for k, (n, r) in enumerate(rows):
        fields = r[1:]
        while fields and not fields[-1]:  # empty fields at the end pad too (pandas writes NaN as nothing)
            fields = fields[:-1]
        for j, c in enumerate(fields):
            try:
                values[k, j] = float(c)
            except ValueError:
                raise DataError(f"{path.name}: row {n}, column {j + 2}: {c!r} is not a number (the label is the "
                                f"first column, every other field a number){_separator_hint(path, c, delimiter)}") from None
    labels = np.asarray([r[0] for _, r in rows])
    if any(not lab for lab in labels):
        n = next(n for n, r in rows if not r[0])
        raise DataError(f"{path.name}: row {n} has an empty label (first column)")
    empty, unpadded = unpad(values)  # trailing NaN: how the UCR archive's files pad series of unequal lengths
    if empty is not None:
        raise DataError(f"{path.name}: row {rows[empty][0]} has no values (every field after the label is NaN)")
    return unpadded, labels


def _separator_hint(path: Path, field: str, delimiter: str) -> str:
    """When a field of a CSV/TSV row holds another separator (Excel writes ';' in many locales, with decimal commas),
    the end of the one-line error saying so and what to do; else ''."""
    other = next((name for sep, name in ((";", "semicolons"), ("\t", "tabs"), (",", "commas"), (" ", "spaces"))
                  if sep != delimiter and sep in field.strip()), None)
    if other is None:
        return ""
    read = "tab" if delimiter == "\t" else "comma"
    fix = "tabs as a .tsv" if other == "tabs" else "commas as a .csv"
    return (f"; its fields look separated by {other}, but a {path.suffix} file is read {read}-separated: save it with "
            f"{fix} (decimal points, not commas)")


def unpad(X: np.ndarray) -> tuple[int | None, np.ndarray | list[np.ndarray]]:
    """Series padded with NaN at their end (the UCR archive's files, tslearn's arrays of unequal lengths) as a list
    of ``(n_channels, length)`` series of their own lengths: a time point is padding when it and every later one is
    NaN in every channel. ``X``: ``(n, t)`` or ``(n, c, t)`` floats. Returns ``(index of a series that is all NaN,
    or None; X itself when nothing is padding, else the list)``; a NaN before a series' end stays (refused later)."""
    if X.dtype.kind != "f" or X.ndim not in (2, 3) or not X.size:
        return None, X
    arr = X if X.ndim == 3 else X[:, None, :]
    present = ~np.isnan(arr).all(axis=1)
    ends = [int(np.flatnonzero(p)[-1]) + 1 if p.any() else 0 for p in present]
    if min(ends) == arr.shape[2]:
        return None, X
    if min(ends) == 0:
        return ends.index(0), X
    return None, [arr[k, :, :end] for k, end in enumerate(ends)]


def _header(row: Sequence[str], labels: Counter[str]) -> bool:
    """Whether a first row is a header: its series fields are not all numbers (unless it reads as a series with a
    typo: its first field is another row's label and some of its fields are numbers, refused by row number), or they
    are the column numbers 0..T-1 that pandas writes for a frame made from an array (``pd.DataFrame(X).to_csv``) and
    its first field is no other row's label (else it would be read as a series of a class of its own), or the whole
    row is 0..T, the column numbers of a frame of the label and the series (a UCR file read with ``header=None``
    and written back by pandas), whatever the labels; or its first field is a word that is no other row's label over
    consecutive whole numbers (time points 1..T, years) while every other row's label has several rows, or over any
    numbers when that word names a label column (:data:`LABEL_NAMES`). ``labels``: the other rows' labels, counted."""
    fields = row[1:]
    if not _numeric(fields):
        return row[0] not in labels or not any(_numeric([c]) for c in fields)
    if len(fields) > 1 and list(row) == [str(i) for i in range(len(row))]:
        return True  # the whole row numbers the columns, label's too: a frame of [label, series] written by pandas
    if row[0] in labels:
        return False
    if len(fields) > 1 and list(fields) == [str(i) for i in range(len(fields))]:
        return True
    if not row[0] or _numeric([row[0]]):
        return False
    # the label column's name over numbered columns (time points 1..T, years 1990, 1991, ...): read as a series, the
    # header was a class of its own whose "values" also swamped the normalisation. Numbered columns under any word
    # count only where every other class has several series (a class of one is the header's mark, not a toy file's)
    numbers = [float(c) for c in fields]
    counted = len(numbers) > 1 and all(v.is_integer() and b - a == 1 for a, b in zip(numbers, numbers[1:]) for v in (a, b))
    return row[0].lower() in LABEL_NAMES or (counted and bool(labels) and min(labels.values()) > 1)


def _numeric(fields: Sequence[str]) -> bool:
    try:
        [float(c) for c in fields]
    except ValueError:
        return False
    return True


def file_hash(*paths: Path) -> str:
    """First 16 hex digits of the SHA-256 of the files' contents (the data's identity in run records)."""
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).read_bytes())
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------------------------- splitting
def split_indices(labels: np.ndarray, seed: int, fractions: tuple[float, float, float] = SPLIT_FRACTIONS
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(train, validation, test)`` indices of one collection: the test share held out per class, then the
    validation share of the rest, seeded (the counts depend on the class sizes only, not on the seed)."""
    from .timeseries import stratified_holdout

    rest, test = stratified_holdout(labels, fractions[2], seed)
    keep, val = stratified_holdout(labels[rest], fractions[1] / (fractions[0] + fractions[1]), seed + 1)
    return rest[keep], rest[val], test


def split_data(name: str, X: list[np.ndarray], y: Any, seed: int, source: str,
               fractions: tuple[float, float, float] = SPLIT_FRACTIONS) -> TimeSeriesData:
    """Train/validation/test splits of one collection: stratified by class, seeded; then
    :func:`~balancedrnn.tasks.timeseries.build_data` (labels, normalisation, padding)."""
    from .timeseries import build_data, sort_labels

    labels = np.asarray([str(v) for v in y])
    check_classes(labels, f"{name}: y")
    train, val, test = split_indices(labels, seed, fractions)
    if val.size == 0 or test.size == 0:
        need = next(n for n in range(2, 10_000) if all(part.size for part in split_indices(np.zeros(n), 0, fractions)))
        raise DataError(f"{name}: {len(labels)} series are too few to split {fractions[0]:.0%}/{fractions[1]:.0%}/"
                        f"{fractions[2]:.0%} into train, validation and test (some class needs at least {need}: "
                        "each is split on its own, its shares rounded)")
    raw = {s: ([X[i] for i in idx], labels[idx]) for s, idx in (("train", train), ("val", val), ("test", test))}
    return build_data(name, raw, source, index={"train": train, "val": val, "test": test}, classes=sort_labels(labels))


def _test_sibling(path: Path) -> Path | None:
    """``NAME_TEST.<suffix>`` beside ``NAME_TRAIN.<suffix>``, for every file type read (the UCR archive's own files
    are ``NAME_TRAIN.tsv``/``NAME_TEST.tsv``, aeon's ``.ts``; any case of TRAIN: ``name_test.ts`` beside
    ``name_train.ts``), else None."""
    if path.suffix.lower() in SUFFIXES and path.stem.upper().endswith("_TRAIN"):
        tag = path.stem[-len("_TRAIN"):]
        test = "_TEST" if tag.isupper() else "_test" if tag.islower() else "_Test"
        for part in dict.fromkeys((test, "_TEST", "_test", "_Test")):
            sibling = path.with_name(path.stem[: -len("_TRAIN")] + part + path.suffix)
            if sibling.is_file():
                return sibling
    return None


def load_file(path: str | Path, seed: int = 0) -> TimeSeriesData:
    """The splits of a data file (see the module docstring for the formats and the split)."""
    from .timeseries import train_test_data

    path = Path(path)
    X, y = read_file(path)
    check_classes(y, f"{path.name}: y")
    test = _test_sibling(path)
    if test is not None:
        X_test, y_test = read_file(test)
        source = (f"file {path.name} + {test.name} (sha256 {file_hash(path, test)}); the archive's test split, "
                  f"validation a stratified 20 % of TRAIN, seed {seed}")
        return train_test_data(path.name, (X, y), (X_test, y_test), source, seed)
    f = SPLIT_FRACTIONS
    source = (f"file {path.name} (sha256 {file_hash(path)}); split {f[0]:.0%}/{f[1]:.0%}/{f[2]:.0%} train/val/test, "
              f"stratified, seed {seed}")
    return split_data(path.name, X, y, seed, source)


def _sizes(X: list[np.ndarray], y: Any, X_test: list[np.ndarray] | None = None) -> dict[str, int]:
    """The zoo predictor's characteristics of a file's task: ``steps`` (the longest series of any split, the length
    every series is padded to) and ``n_train`` (series in the training split the loaders make: the same stratified
    rule, whose counts do not depend on the seed). ``X_test``: the TEST file's series of a TRAIN/TEST pair."""
    from .timeseries import VAL_FRACTION, stratified_holdout

    labels = np.asarray([str(v) for v in y])
    train = stratified_holdout(labels, VAL_FRACTION, 0)[0] if X_test is not None else split_indices(labels, 0)[0]
    return {"steps": max(s.shape[1] for s in [*X, *(X_test or [])]), "n_train": int(train.size)}


def _describe(X: list[np.ndarray], classes: int, what: str) -> str:
    lengths = [s.shape[1] for s in X]
    lo, hi = min(lengths), max(lengths)
    return (f"{what}: {len(X)} series, {X[0].shape[0]} channel(s), length {lo if lo == hi else f'{lo}-{hi}'}, "
            f"{classes} classes")


def file_task(path: str | Path) -> Task:
    """The task ``file:PATH``: reads the file once for its sizes (dx = channels, dy = classes) and checks it."""
    from .base import Task
    from .timeseries import default_budget

    p = Path(path)
    X, y = read_file(p)
    if _declares_regression(p):
        raise DataError(f"{p.name} declares a regression target (@targetlabel true); the command line classifies "
                        "(for regression use balancedrnn.BlockRNNRegressor)")
    classes = check_classes(y, f"{p.name}: y")
    if len(classes) > len(y) / 2:
        raise DataError(f"{p.name}: y has {len(classes)} distinct values among {len(y)} series, too many for classes; "
                        "the command line classifies (for regression use balancedrnn.BlockRNNRegressor)")
    dx, dy = X[0].shape[0], len(classes)
    test = _test_sibling(p)
    return Task(name=FILE_PREFIX + str(path), dx=dx, dy=dy, loss="last", metric="accuracy",
                load=partial(_load_file_task, str(path)), describe=_describe(X, dy, f"data file {p.name}"),
                default_budget=default_budget(dx, dy), **_sizes(X, y, read_file(test)[0] if test else None))


def _load_file_task(path: str, config: DataRequest, progress: bool) -> TimeSeriesData:
    return load_file(path, seed=config.data_seed)


# ---------------------------------------------------------------------------------------------------- UCR
def ucr_names() -> set[str]:
    """Every UCR/UEA classification problem aeon's lists name."""
    from .base import require

    lists = require("aeon.datasets.tsc_datasets", "timeseries", "--task ucr:NAME")
    names: set[str] = set()
    for value in vars(lists).values():
        if isinstance(value, (list, tuple, set, frozenset)) and all(isinstance(v, str) for v in value):
            names.update(value)
    return names


def ucr_files(name: str, download: bool | None = None) -> tuple[Path, Path, str]:
    """``(TRAIN file, TEST file, where they came from)`` of a UCR/UEA problem: the copy aeon ships, else one in
    the cache (``<cache>/ucr``), else downloaded there with aeon's loader (unless offline). One-line DataError
    for an unknown name or a problem that is neither shipped nor downloadable."""
    from .timeseries import aeon_data_dir

    known = ucr_names()
    if name not in known:
        close = sorted(n for n in known if n.lower() == name.lower())
        hint = f"; did you mean {close[0]}?" if close else " (names are case-sensitive, e.g. GunPoint, BasicMotions)"
        raise DataError(f"unknown UCR/UEA data set {name!r}{hint}")
    import aeon

    for base, where in ((aeon_data_dir(), f"shipped with aeon {aeon.__version__}"), (cache_dir() / "ucr", "cached")):
        train, test = base / name / f"{name}_TRAIN.ts", base / name / f"{name}_TEST.ts"
        if train.is_file() and test.is_file():
            return train, test, where
    shipped = sorted(p.name for p in aeon_data_dir().iterdir()  # the classification problems among aeon's files
                     if p.name in known and (p / f"{p.name}_TRAIN.ts").is_file())
    if not (download if download is not None else not offline()):
        raise DataError(f"UCR/UEA data set {name} is not shipped with aeon {aeon.__version__} and downloads are off "
                        f"({OFFLINE_ENV}=1); offline, use one of {', '.join(shipped)}")
    target = cache_dir() / "ucr"
    try:
        target.mkdir(parents=True, exist_ok=True)
        _download_ucr(name, target)
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - any download failure is one line naming the way out
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"UCR/UEA data set {name} is not shipped with aeon {aeon.__version__} and could not be "
                        f"downloaded ({first}); offline, use one of {', '.join(shipped)}") from None
    return target / name / f"{name}_TRAIN.ts", target / name / f"{name}_TEST.ts", f"downloaded to {target}"


def _download_ucr(name: str, target: Path) -> None:
    """Download ``name`` with aeon's loader into a staging directory beside ``target/name`` and move it into place
    only when both its files are there: aeon extracts straight into the directory it is given, so an interrupted
    or failed extraction (Ctrl-C, a full disk) left a half-written file that the next run read as the data set."""
    import os
    import shutil
    import tempfile

    from aeon.datasets import load_classification

    final = target / name
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-download-", dir=target))
    try:
        load_classification(name, split="train", extract_path=str(staging))
        got = staging / name
        if not all((got / f"{name}_{part}.ts").is_file() for part in ("TRAIN", "TEST")):
            raise DataError(f"the download of UCR/UEA data set {name} holds no {name}_TRAIN.ts/{name}_TEST.ts")

        def complete() -> bool:
            return all((final / f"{name}_{part}.ts").is_file() for part in ("TRAIN", "TEST"))

        if not complete():  # else another process (a sweep worker) put it there first
            shutil.rmtree(final, ignore_errors=True)  # a half-written copy an older version left
            try:
                os.replace(got, final)
            except OSError:
                if not complete():  # not another process's copy arriving meanwhile
                    raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _read_ucr(name: str, path: Path, where: str) -> tuple[list[np.ndarray], np.ndarray]:
    """:func:`read_file` of a UCR/UEA problem's file; a copy in the cache that does not read (damaged on disk, or
    left half-written by a version that extracted downloads in place) is a one-line error saying where it is and
    what to do (the bare file name did not: the user never chose that place)."""
    try:
        return read_file(path)
    except DataError as e:
        if where.startswith("shipped"):
            raise
        raise DataError(f"{e}; it is the cached download of UCR/UEA data set {name}: delete {path.parent} and the next "
                        "run downloads it again") from None


def load_ucr(name: str, seed: int = 0) -> TimeSeriesData:
    """A UCR/UEA problem by name: its TRAIN/TEST files, validation a stratified, seeded 20 % of TRAIN (the same
    rule as the ``ts:`` tasks)."""
    from .timeseries import train_test_data

    train, test, where = ucr_files(name)
    (X, y), (X_test, y_test) = _read_ucr(name, train, where), _read_ucr(name, test, where)
    source = f"UCR/UEA {name} ({where}; {train.name}, {test.name}; sha256 {file_hash(train, test)})"
    return train_test_data(name, (X, y), (X_test, y_test), source, seed)


def ucr_task(name: str) -> Task:
    """The task ``ucr:NAME`` (reads the TRAIN file once for the sizes)."""
    from .base import Task
    from .timeseries import default_budget

    train, test, where = ucr_files(name)
    X, y = _read_ucr(name, train, where)
    dx, dy = X[0].shape[0], len(check_classes(y, f"{name}: y"))
    return Task(name=UCR_PREFIX + name, dx=dx, dy=dy, loss="last", metric="accuracy",
                load=partial(_load_ucr_task, name), describe=_describe(X, dy, f"UCR/UEA {name} TRAIN ({where})"),
                default_budget=default_budget(dx, dy), **_sizes(X, y, _read_ucr(name, test, where)[0]))


def _load_ucr_task(name: str, config: DataRequest, progress: bool) -> TimeSeriesData:
    return load_ucr(name, seed=config.data_seed)


def task_for(name: str) -> Task:
    """The task a ``file:PATH`` or ``ucr:NAME`` name stands for (the registry calls this for such names)."""
    if name.startswith(FILE_PREFIX):
        return file_task(name[len(FILE_PREFIX):])
    if name.startswith(UCR_PREFIX):
        return ucr_task(name[len(UCR_PREFIX):])
    raise DataError(f"{name!r} is not a file: or ucr: task name")
