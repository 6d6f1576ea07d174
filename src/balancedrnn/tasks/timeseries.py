"""Real time-series classification tasks from the data sets the ``aeon`` package ships in its wheel (SPEC §5).

Why: to learn how performance depends on input and output sizes, runs must cover many (dx, dy); these UCR/UEA
problems add real tasks with 1 to 12 channels and 2 to 10 classes, classified at the last step like RAD.

Every file is read from inside the installed ``aeon`` package (``aeon/datasets/data``) with aeon's public
readers ``load_from_ts_file`` and ``load_from_timeeval_csv_file``: nothing is downloaded at run time. A data
set whose files the installed aeon does not ship (aeon 1.6 deprecates OSULeaf and ACSF1 for removal in 1.7) is
simply not registered.

How a classification problem becomes a task:

* the archive's standard TRAIN/TEST files are the train and test splits; a stratified, seeded 20 % of TRAIN
  (``TrainConfig.data_seed``) becomes the validation split. ``TrainConfig.n_train``/``n_val``/``n_test`` are
  RAD's sizes and are ignored here: the archive fixes the sizes;
* labels map to ``0..n_classes-1`` in sorted order (numerically when every label is a number);
* every channel is normalised with the mean and standard deviation of the training split's real time steps
  only (the std floored at ``STD_FLOOR``), then series are PRE-padded with zeros to the longest series of any
  split, so the last step is always real data and the class is read there (loss ``last``);
* NaN or infinite values raise a one-line :class:`~balancedrnn.io.DataError`.

The anomaly task ``ts:KDD-TSAD-135`` frames aeon's one labelled real anomaly series (KDD-TSAD 135,
UCR_Anomaly_InternalBleeding16: 7,501 points, one 12-point anomaly at 4187..4198; the TRAIN file is its
anomaly-free first 1,200 points) as classification over windows; see :func:`anomaly_windows`. aeon also ships
Daphnet S06R02E0, but its excerpt has no labelled anomaly (all labels 0), so it cannot make a task.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from ..io import DataError
from .base import BatchedSplit

if TYPE_CHECKING:
    from .base import DataRequest, Task

SPLITS = ("train", "val", "test")
VAL_FRACTION = 0.2
"""Share of each class of the standard TRAIN split held out for validation."""
STD_FLOOR = 1e-6
"""Smallest standard deviation a channel is divided by (a constant channel stays finite)."""
TASK_PREFIX = "ts:"
DEFAULT_BUDGET_DH = 64
"""Hidden size whose dense model sets a time-series task's default budget (see :func:`default_budget`)."""


@dataclass(frozen=True)
class DatasetInfo:
    """A data set aeon ships, with its true sizes (checked against the data at load time and in the tests)."""

    name: str
    """aeon's problem name (directory under ``aeon/datasets/data``)."""
    kind: Literal["classification", "anomaly"]
    dx: int
    """Channels."""
    dy: int
    """Classes."""
    lengths: tuple[int, int]
    """Shortest and longest series (before padding)."""
    sizes: tuple[int, int]
    """Cases in the standard TRAIN and TEST files (anomaly: the series' length in TRAIN and TEST)."""
    files: tuple[str, ...]
    """Files relative to ``aeon/datasets/data``."""
    describe: str

    @property
    def task_name(self) -> str:
        return TASK_PREFIX + self.name


def _tsc(name: str, dx: int, dy: int, lengths: tuple[int, int], sizes: tuple[int, int], what: str) -> DatasetInfo:
    files = (f"{name}/{name}_TRAIN.ts", f"{name}/{name}_TEST.ts")
    lo, hi = lengths
    length = str(lo) if lo == hi else f"{lo}-{hi}"
    describe = f"{name} (UCR/UEA via aeon): {what}; {dx} channel(s), length {length}, {dy} classes, {sizes[0]}/{sizes[1]} train/test series"
    return DatasetInfo(name, "classification", dx, dy, lengths, sizes, files, describe)


ANOMALY_NAME = "KDD-TSAD-135"
ANOMALY_WINDOW = 64
"""Steps per window of the anomaly task."""
_ANOMALY_FILE = "KDD-TSAD_135/135_UCR_Anomaly_InternalBleeding16_{}.csv"

DATASETS: dict[str, DatasetInfo] = {
    d.name: d
    for d in (
        _tsc("ArrowHead", 1, 3, (251, 251), (36, 175), "arrowhead outlines"),
        _tsc("BasicMotions", 6, 4, (100, 100), (40, 40), "smartwatch accelerometer and gyroscope, 4 activities"),
        _tsc("GunPoint", 1, 2, (150, 150), (50, 150), "hand x-position, gun draw vs point"),
        _tsc("ItalyPowerDemand", 1, 2, (24, 24), (67, 1029), "daily Italian electricity demand, winter vs summer"),
        _tsc("JapaneseVowels", 12, 9, (7, 29), (270, 370), "LPC cepstra of 9 speakers saying a vowel"),
        _tsc("PickupGestureWiimoteZ", 1, 10, (29, 361), (50, 50), "Wii remote z-acceleration, 10 gestures"),
        _tsc("OSULeaf", 1, 6, (427, 427), (200, 242), "leaf outlines, 6 species"),
        _tsc("ACSF1", 1, 10, (1460, 1460), (100, 100), "appliance power consumption, 10 appliance types"),
        DatasetInfo(
            ANOMALY_NAME,
            "anomaly",
            1,
            2,
            (ANOMALY_WINDOW, ANOMALY_WINDOW),
            (1200, 7501),
            (_ANOMALY_FILE.format("TRAIN"), _ANOMALY_FILE.format("TEST")),
            f"KDD-TSAD 135 InternalBleeding16 (aeon): does a {ANOMALY_WINDOW}-step window of the real series "
            "contain its one labelled anomaly; balanced windows, chance 0.5",
        ),
    )
}
"""Every data set this module knows; those whose files the installed aeon ships become tasks."""


# ------------------------------------------------------------------------------------------------ splits
@dataclass
class SequenceSplit(BatchedSplit):
    """One split: pre-padded series ``(n, T, dx)`` with their labels, real lengths and provenance."""

    x: torch.Tensor
    """float32 inputs, zeros before each series so its last step is at ``T - 1``."""
    target: torch.Tensor
    """int64 class of each series, ``0..dy-1``."""
    lengths: torch.Tensor
    """int64 number of real (unpadded) steps of each series."""
    index: torch.Tensor
    """int64 provenance: row in the source file, or for the anomaly task the window's last time point."""

    def inputs(self, index: torch.Tensor | slice | None = None) -> torch.Tensor:
        """Inputs ``(b, T, dx)`` of the selected series (all by default). Every batch keeps the full padded
        length ``T``, so a series' output does not depend on its batch."""
        return self.x if index is None else self.x[index]


@dataclass
class TimeSeriesData:
    """Train, validation and test splits of one data set, with where they came from."""

    name: str
    source: str
    """aeon version, data set, files and their content hash."""
    classes: tuple[str, ...]
    """Original label of each class index."""
    splits: dict[str, SequenceSplit]
    mean: np.ndarray
    """Per-channel mean of the training split (what was subtracted)."""
    std: np.ndarray
    """Per-channel std of the training split, floored (what was divided by)."""

    def __getitem__(self, split: str) -> SequenceSplit:
        return self.splits[split]

    @property
    def dx(self) -> int:
        return int(self.splits["train"].x.shape[2])

    @property
    def dy(self) -> int:
        return len(self.classes)


def sort_labels(labels: Sequence[Any]) -> tuple[str, ...]:
    """Distinct labels as strings in a fixed order: numerically when all are numbers, else as text."""
    unique = sorted({str(v) for v in labels})
    try:
        return tuple(sorted(unique, key=float))
    except ValueError:
        return tuple(unique)


def stratified_holdout(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(keep, held_out)``: ``fraction`` of each class held out (rounded, leaving each class at least
    one kept case), seeded; both sorted."""
    rng = np.random.default_rng(seed)
    keep, held = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(idx.size)]
        k = min(int(round(fraction * idx.size)), idx.size - 1)
        held.append(idx[:k])
        keep.append(idx[k:])
    return np.sort(np.concatenate(keep)), np.sort(np.concatenate(held))


def _as_series_list(X: Any, name: str, split: str) -> list[np.ndarray]:
    """aeon's collection (3D array or list of ``(channels, length)`` arrays) as float64 ``(length, channels)``."""
    series = [np.asarray(s, dtype=np.float64) for s in X]
    for s in series:
        if s.ndim != 2 or s.shape[1] == 0:
            raise DataError(f"{name}: a {split} series has shape {s.shape}, expected (channels, length > 0)")
    channels = {s.shape[0] for s in series}
    if len(channels) != 1:
        raise DataError(f"{name}: {split} series have different channel counts {sorted(channels)}")
    return [np.ascontiguousarray(s.T) for s in series]


def build_data(
    name: str,
    raw: dict[str, tuple[Any, Sequence[Any]]],
    source: str,
    index: dict[str, np.ndarray] | None = None,
    classes: tuple[str, ...] | None = None,
) -> TimeSeriesData:
    """Validated, normalised, pre-padded splits from raw ``{split: (X, y)}``; X as aeon returns it.

    Labels map to the positions of ``classes`` (default: the sorted training labels). Normalisation statistics
    come from the training split only."""
    if set(raw) != set(SPLITS):
        raise DataError(f"{name}: need splits {', '.join(SPLITS)}, got {', '.join(sorted(raw))}")
    series: dict[str, list[np.ndarray]] = {}
    labels: dict[str, np.ndarray] = {}
    for split in SPLITS:
        X, y = raw[split]
        series[split] = _as_series_list(X, name, split)
        labels[split] = np.asarray([str(v) for v in y])
        if len(series[split]) == 0:
            raise DataError(f"{name}: the {split} split is empty")
        if len(series[split]) != len(labels[split]):
            raise DataError(f"{name}: {split} has {len(series[split])} series but {len(labels[split])} labels")
        bad = sum(int((~np.isfinite(s)).sum()) for s in series[split])
        if bad:
            raise DataError(f"{name}: the {split} split contains {bad} NaN or infinite value(s); refusing to use it")
    dxs = {s[0].shape[1] for s in series.values()}
    if len(dxs) != 1:
        raise DataError(f"{name}: splits have different channel counts {sorted(dxs)}")
    classes = classes if classes is not None else sort_labels(labels["train"])
    lookup = {c: i for i, c in enumerate(classes)}
    for split in SPLITS:
        unknown = sorted(str(v) for v in set(labels[split]) - set(lookup))  # str: NumPy 2 shows np.str_('7')
        if unknown:
            raise DataError(f"{name}: {split} labels {unknown[:5]} are not among the classes {list(classes)}")

    steps = np.concatenate(series["train"], axis=0)
    with np.errstate(over="ignore", invalid="ignore"):
        mean = steps.mean(axis=0)
        std = np.maximum(steps.std(axis=0), STD_FLOOR)
    if not (np.isfinite(mean).all() and np.isfinite(std).all()):  # |x| near 1e154 or more: x² overflows
        big = float(np.abs(steps).max())
        raise DataError(f"{name}: values up to {big:.3g} are too large to normalise (their squares overflow); "
                        "rescale the data")
    T = max(s.shape[0] for split in SPLITS for s in series[split])
    dx = dxs.pop()
    splits: dict[str, SequenceSplit] = {}
    for split in SPLITS:
        n = len(series[split])
        x = np.zeros((n, T, dx), dtype=np.float32)
        lengths = np.empty(n, dtype=np.int64)
        for i, s in enumerate(series[split]):
            x[i, T - s.shape[0] :] = (s - mean) / std
            lengths[i] = s.shape[0]
        target = np.asarray([lookup[v] for v in labels[split]], dtype=np.int64)
        rows = np.arange(n) if index is None else np.asarray(index[split], dtype=np.int64)
        splits[split] = SequenceSplit(torch.from_numpy(x), torch.from_numpy(target), torch.from_numpy(lengths), torch.from_numpy(rows))
    return TimeSeriesData(name, source, classes, splits, mean, std)


# ------------------------------------------------------------------------------------------------ loading
def aeon_data_dir() -> Path:
    """``aeon/datasets/data`` of the installed aeon, found without importing aeon; ImportError if it is absent."""
    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("aeon is not installed; install it with: pip install 'balancedrnn[timeseries]'")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def not_shipped(what: str, rel: str) -> str:
    """The one line for data (``rel``, a file under aeon's data directory) that the installed aeon does not ship:
    which aeon, which file, and what to do (aeon 1.7 removes OSULeaf and ACSF1). Imports no aeon."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = f"aeon {version('aeon')}"
    except PackageNotFoundError:
        installed = "the installed aeon"
    return (f"{what}: {installed} does not ship {rel}; install an aeon that does (1.4 to 1.6 ship every ts: task's "
            "files: pip install 'aeon>=1.4,<1.7') or use another task (`balancedrnn tasks` lists those available)")


def shipped(info: DatasetInfo) -> bool:
    """Whether the installed aeon ships every file of ``info``."""
    base = aeon_data_dir()
    return all((base / f).is_file() for f in info.files)


def _source(info: DatasetInfo) -> str:
    import aeon

    h = hashlib.sha256()
    for f in info.files:
        h.update((aeon_data_dir() / f).read_bytes())
    return f"aeon {aeon.__version__} shipped data set {info.name} ({', '.join(Path(f).name for f in info.files)}; sha256 {h.hexdigest()[:16]})"


def _files(info: DatasetInfo) -> list[Path]:
    paths = [aeon_data_dir() / f for f in info.files]
    missing = [f for f, p in zip(info.files, paths) if not p.is_file()]
    if missing:
        raise DataError(not_shipped(f"task {info.task_name!r}", missing[0]))
    return paths


def _check_sizes(data: TimeSeriesData, info: DatasetInfo) -> TimeSeriesData:
    if (data.dx, data.dy) != (info.dx, info.dy):
        raise DataError(f"{info.name}: the data have dx={data.dx}, dy={data.dy} but the task declares dx={info.dx}, dy={info.dy}")
    return data


def load_classification(name: str, seed: int = 0, val_fraction: float = VAL_FRACTION) -> TimeSeriesData:
    """A UCR/UEA problem aeon ships: standard TRAIN/TEST files, validation carved from TRAIN (stratified, seeded)."""
    from aeon.datasets import load_from_ts_file

    info = DATASETS[name]
    train_path, test_path = _files(info)
    X_train, y_train = load_from_ts_file(str(train_path))
    X_test, y_test = load_from_ts_file(str(test_path))
    data = train_test_data(name, (X_train, y_train), (X_test, y_test), _source(info), seed, val_fraction)
    return _check_sizes(data, info)


def train_test_data(name: str, train: tuple[Any, Sequence[Any]], test: tuple[Any, Sequence[Any]], source: str,
                    seed: int = 0, val_fraction: float = VAL_FRACTION) -> TimeSeriesData:
    """Splits from a standard TRAIN/TEST pair (X as aeon returns it): TEST is the test split, a stratified, seeded
    ``val_fraction`` of TRAIN the validation split (how every UCR/UEA problem becomes a task, shipped or not)."""
    X_train, y_train = train
    X_test, y_test = test
    y_train = np.asarray([str(v) for v in y_train])
    if len(X_train) != len(y_train):
        raise DataError(f"{name}: TRAIN has {len(X_train)} series but {len(y_train)} labels")
    keep, held = stratified_holdout(y_train, val_fraction, seed)
    if held.size == 0:
        need = next(n for n in range(2, 10_000) if stratified_holdout(np.zeros(n), val_fraction, 0)[1].size)
        raise DataError(f"{name}: {len(y_train)} training series are too few to hold out {val_fraction:.0%} for "
                        f"validation (some class needs at least {need}: each is split on its own, its share rounded)")
    raw = {
        "train": ([X_train[i] for i in keep], y_train[keep]),
        "val": ([X_train[i] for i in held], y_train[held]),
        "test": (X_test, y_test),
    }
    index = {"train": keep, "val": held, "test": np.arange(len(y_test))}
    return build_data(name, raw, source, index=index, classes=sort_labels(y_train))


def anomaly_windows(
    series: np.ndarray, labels: np.ndarray, window: int, seed: int, block: int | None = None,
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
) -> dict[str, tuple[list[np.ndarray], list[str], np.ndarray]]:
    """Balanced windows of a labelled anomaly series for classification at the last step.

    A window is the ``window`` points ending at time t; its class is ``anomaly`` when it contains an anomalous
    point, else ``normal``. Positive windows (every t whose window touches the anomaly) go to train, val and test
    by ``(t - first anomalous point) % 5`` (0-2, 3, 4). With one labelled event, all positives are views of the
    same anomaly at different offsets: the test measures recognising it at unseen offsets in unseen context,
    not generalising to new anomalies. Negative windows lie wholly inside contiguous blocks of ``block`` points
    (default ``5 * window``) that are dealt to the splits by ``fractions`` (seeded), so no negative window
    overlaps a window of another split, and none overlaps the span of any positive window; each split then
    draws as many negatives as it has positives (seeded), so chance is 0.5.

    Returns ``{split: (windows as (1, window) arrays, labels, window end times)}``."""
    rng = np.random.default_rng(seed)
    x = np.asarray(series, dtype=np.float64).reshape(-1)
    y = np.asarray(labels).reshape(-1).astype(bool)
    hits = np.flatnonzero(y)
    if hits.size == 0:
        raise DataError("the anomaly series has no labelled anomaly; it cannot make a classification task")
    first = int(hits[0])
    ends = np.arange(window - 1, x.size)
    touches = np.array([bool(y[t - window + 1 : t + 1].any()) for t in ends])
    pos_ends = ends[touches]
    # negatives: no overlap with the span of any positive window
    lo_span, hi_span = int(pos_ends.min()) - window + 1, int(pos_ends.max())
    neg_ok = (~touches) & ((ends < lo_span) | (ends - window + 1 > hi_span))
    block = block or 5 * window
    n_blocks = -(-x.size // block)
    order = rng.permutation(n_blocks)
    cut = np.cumsum([int(round(f * n_blocks)) for f in fractions[:2]])
    block_split = np.empty(n_blocks, dtype=np.int64)
    block_split[order[: cut[0]]], block_split[order[cut[0] : cut[1]]], block_split[order[cut[1] :]] = 0, 1, 2
    same_block = (ends // block) == ((ends - window + 1) // block)
    pos_split = np.where((pos_ends - first) % 5 < 3, 0, np.where((pos_ends - first) % 5 == 3, 1, 2))
    out: dict[str, tuple[list[np.ndarray], list[str], np.ndarray]] = {}
    for k, split in enumerate(SPLITS):
        p = pos_ends[pos_split == k]
        candidates = ends[neg_ok & same_block & (block_split[ends // block] == k)]
        if candidates.size < p.size:
            raise DataError(f"the anomaly series has too few normal windows for the {split} split ({candidates.size} < {p.size})")
        n = np.sort(rng.choice(candidates, size=p.size, replace=False))
        t = np.concatenate([p, n])
        t = t[np.argsort(t, kind="stable")]
        positive = set(p.tolist())
        windows = [x[e - window + 1 : e + 1].reshape(1, window) for e in t]
        out[split] = (windows, ["anomaly" if e in positive else "normal" for e in t], t)
    return out


def load_anomaly(seed: int = 0, window: int = ANOMALY_WINDOW) -> TimeSeriesData:
    """KDD-TSAD 135 as balanced window classification (see :func:`anomaly_windows`); the TEST file is the whole
    labelled series (its TRAIN file, the anomaly-free first 1,200 points, is contained in it)."""
    from aeon.datasets import load_from_timeeval_csv_file

    info = DATASETS[ANOMALY_NAME]
    _, test_path = _files(info)
    X, y = load_from_timeeval_csv_file(test_path)
    X = np.asarray(X, dtype=np.float64)
    if not np.isfinite(X).all():
        raise DataError(f"{ANOMALY_NAME}: the series contains {int((~np.isfinite(X)).sum())} NaN or infinite value(s)")
    parts = anomaly_windows(X, y, window, seed)
    raw = {s: (w, lab) for s, (w, lab, _) in parts.items()}
    index = {s: t for s, (_, _, t) in parts.items()}
    source = _source(info) + f"; windows of {window} steps, balanced, seed {seed}"
    data = build_data(ANOMALY_NAME, raw, source, index=index, classes=("normal", "anomaly"))
    return _check_sizes(data, info)


def load_dataset(name: str, seed: int = 0) -> TimeSeriesData:
    """Any data set of :data:`DATASETS` by aeon name (or task name ``ts:<name>``)."""
    name = name.removeprefix(TASK_PREFIX)
    if name not in DATASETS:
        raise DataError(f"unknown time-series data set {name!r}; known: {', '.join(DATASETS)}")
    if DATASETS[name].kind == "anomaly":
        return load_anomaly(seed)
    return load_classification(name, seed)


def _load_task(name: str, config: DataRequest, progress: bool) -> TimeSeriesData:
    """Task loader: the data set with its validation split seeded by ``config.data_seed`` (n_train etc. ignored)."""
    return load_dataset(name, seed=config.data_seed)


def default_budget(dx: int, dy: int, dh: int = DEFAULT_BUDGET_DH) -> int:
    """Default trainable-weight budget of a task of shape (dx, dy): the weights of a dense block RNN with hidden size
    ``dh`` (64), rounded to hundreds. Why: RAD's 100,000 is far too many for a series with a few channels (on
    BasicMotions ``balanced`` would get dh ~ 4,900 at hh density 0.002); this scales the budget with the shape,
    a few thousand weights for 1 to 12 channels (BasicMotions 5,000, JapaneseVowels 6,200)."""
    from ..core.spec import BLOCKS, check_size, expected_weights

    dx, dy, dh = check_size("dx", dx), check_size("dy", dy), check_size("dh", dh)
    weights = expected_weights(dx, dh, dy, {b: 1.0 for b in BLOCKS})
    return max(100, int(round(weights / 100.0)) * 100)


def timeseries_tasks() -> list[Task]:
    """One task ``ts:<name>`` per data set the installed aeon ships (reads no data, imports no aeon); raises
    ImportError when aeon is not installed. The registry (``balancedrnn.tasks``) registers them."""
    from .base import Task

    return [
        Task(
            name=info.task_name,
            dx=info.dx,
            dy=info.dy,
            loss="last",
            metric="accuracy",
            load=partial(_load_task, info.name),
            describe=info.describe,
            default_budget=default_budget(info.dx, info.dy),
        )
        for info in DATASETS.values()
        if shipped(info)
    ]
