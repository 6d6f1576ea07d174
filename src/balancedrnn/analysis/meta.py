"""Meta-learning over run records (SPEC §8): features, performance predictors, recommender, parent network.

* :func:`config_features` is the ONE function that turns a configuration into a feature row; it is used
  for run records (:func:`record_features`) and for candidate configs of the recommender alike, and counts
  dh, weights and the hidden proportion through :mod:`balancedrnn.core.spec` only.
* :class:`PerformanceClassifier` and :class:`PerformanceRegressor` are scikit-learn estimators over random
  forests; :class:`ParentNetwork` is the paper's future-work "parent" network, a small seeded torch MLP.
  All three pass ``sklearn.utils.estimator_checks``.
* :class:`MetaPredictor` bundles them, fitted on run records, and is what ``balancedrnn predictor fit``
  saves (:func:`save_predictor`, :func:`load_predictor`).
* :func:`recommend` proposes densities and dh for a new (dx, dy, budget) by maximising the fitted regressor
  over feasible candidates, or falls back to the a-priori rule (hidden proportion 0.5).

Evaluation and the report live in :mod:`balancedrnn.analysis.metareport`.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import pickle
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, check_random_state

from ..core.defaults import DEFAULT_INIT, DEFAULT_LR, DENSITY_DISTRIBUTION, REFERENCES, draw_array
from ..core.spec import (
    BLOCKS,
    BUDGET_TOLERANCE,
    BlockSpec,
    SpecError,
    smallest_spending_budget,
    solve_hidden_proportion,
    spends_budget,
)
from . import zoopred
from .zoo import log_dx_over_dy

try:
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # scikit-learn < 1.6

    def _validate_data(estimator: Any, X: Any = "no_validation", y: Any = "no_validation", reset: bool = True,
                       **kwargs: Any) -> Any:
        return estimator._validate_data(X, y, reset=reset, **kwargs)


# ------------------------------------------------------------------------------------------ features
SCHEMA_VERSION = 2
"""Bump whenever FEATURES or their meaning changes: saved predictors of another schema are refused. 2:
log_dx_over_dy is the natural log, as the zoo predictor's (it was log10 under the same name)."""

DATASET_FEATURES: tuple[str, ...] = ("log_dx_over_dy", "classification", "chance")
"""Cheap data-set characteristics known before any training: ln(dx/dy), 1 for classification (loss read at
the last step) else 0, and the chance level 1/dy of a classification task (0 for regression)."""

FEATURES: tuple[str, ...] = (
    *(f"density_{b}" for b in BLOCKS),
    "lr",
    "init_mean",
    "init_std",
    "dx",
    "dy",
    "dh",
    "budget",
    "weights",
    "parameters",
    "hidden_proportion",
    *DATASET_FEATURES,
)
"""Feature columns, in order (SPEC §8)."""

PARAMETER_FEATURES: tuple[str, ...] = ("parameters",)
"""The "parameter count alone" baseline."""

NO_HP_FEATURES: tuple[str, ...] = tuple(f for f in FEATURES if f != "hidden_proportion")
"""The ablation that tests the paper's claim: every feature but the hidden proportion."""

MIN_RECORDS = 10
"""Fewest usable run records a predictor is fitted on."""

_GROUP_IGNORED = ("seed", "data_seed", "threads", "device", "checkpoint", "mnist_dir")
"""Config fields that do not make a different configuration: repeats differ only in these."""


class MetaError(ValueError):
    """Records, predictor files or options the meta-learner cannot use. The message is one line."""


class TooFewRecords(MetaError):
    """Not enough usable run records to fit or evaluate."""


def feature_schema() -> dict[str, Any]:
    """What a fitted predictor depends on: the schema version and the feature names in order."""
    return {"schema_version": SCHEMA_VERSION, "features": list(FEATURES)}


def dataset_characteristics(dx: int, dy: int, classification: bool = True,
                            overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """The cheap data-set features of :data:`DATASET_FEATURES`; ``overrides`` replaces any of them by name."""
    out = {
        "log_dx_over_dy": log_dx_over_dy(dx, dy),
        "classification": 1.0 if classification else 0.0,
        "chance": 1.0 / dy if classification else 0.0,
    }
    for key, value in dict(overrides or {}).items():
        if key not in out:
            raise MetaError(f"unknown data-set characteristic {key!r}; known: {', '.join(DATASET_FEATURES)}")
        try:
            out[key] = float(value)
            if not math.isfinite(out[key]):  # the forests refuse NaN in words that name no characteristic
                raise ValueError
        except (TypeError, ValueError):
            raise MetaError(f"data-set characteristic {key} must be a finite number, got {value!r}") from None
    return out


def config_features(
    dx: int,
    dy: int,
    budget: float,
    density: Mapping[str, float],
    lr: float = DEFAULT_LR,
    init_mean: float = DEFAULT_INIT[0],
    init_std: float = DEFAULT_INIT[1],
    classification: bool = True,
    dataset: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """Feature row of one block-RNN configuration (the single feature function for records and candidates).

    dh, weights, parameters and the hidden proportion come from ``BlockSpec.from_budget(...).summary()``, the
    library's one counting module. Raises SpecError when the budget is infeasible for these densities.
    """
    s = BlockSpec.from_budget(dx, dy, budget, density).summary()
    row: dict[str, float] = {f"density_{b}": float(s["density"][b]) for b in BLOCKS}  # type: ignore[index]
    row.update(
        lr=float(lr), init_mean=float(init_mean), init_std=float(init_std), dx=float(dx), dy=float(dy),
        dh=float(s["dh"]), budget=float(budget), weights=float(s["weights"]),  # type: ignore[arg-type]
        parameters=float(s["parameters"]), hidden_proportion=float(s["hidden_proportion"]),  # type: ignore[arg-type]
    )
    row.update(dataset_characteristics(dx, dy, classification, dataset))
    return row


def features_frame(rows: Iterable[Mapping[str, float]]) -> pd.DataFrame:
    """Feature rows as a DataFrame with the columns of :data:`FEATURES`, in order."""
    return pd.DataFrame(list(rows), columns=list(FEATURES)).astype(float)


def _record_name(record: Any, index: int) -> str:
    from ..record import record_label

    return record_label(record, f"#{index}")


def record_features(record: Mapping[str, Any], index: int = 0) -> tuple[dict[str, float] | None, str]:
    """Feature row of a run record and ``""``, or ``(None, reason)`` when the record is not usable (not ok, a
    baseline, no finite metric). Raises MetaError for a record of an incompatible schema."""
    from ..record import RecordError, RunRecord

    try:
        rec = RunRecord.from_dict(record, _record_name(record, index))
    except RecordError as e:
        raise MetaError(str(e)) from None
    name = _record_name(record, index)
    if not rec.ok:
        return None, "not ok"
    model, cfg = rec.model or {}, rec.config
    if model.get("kind", "block") != "block" or not model.get("density"):
        return None, "baseline model"
    if rec.value is None:
        return None, "no finite final metric"
    try:
        dx = rec.task.dx if rec.task else int(model["dx"])
        dy = rec.task.dy if rec.task else int(model["dy"])
        row = config_features(
            dx, dy, float(cfg["budget"]), model["density"], lr=float(cfg.get("lr", DEFAULT_LR)),
            init_mean=float(cfg.get("init_mean", DEFAULT_INIT[0])), init_std=float(cfg.get("init_std", DEFAULT_INIT[1])),
            classification=(rec.task.loss if rec.task else "last") == "last",
        )
    except (KeyError, TypeError, ValueError) as e:
        raise MetaError(f"record {name} does not fit the run-record schema: {type(e).__name__}: {e}") from None
    if model.get("dh") is not None and int(model["dh"]) != int(row["dh"]):
        raise MetaError(f"record {name} has dh {model['dh']} but its config gives dh {int(row['dh'])} here: "
                        "it comes from an incompatible version of the library")
    if not math.isfinite(row["hidden_proportion"]):
        return None, "undefined hidden proportion"
    return row, ""


def config_group(record: Mapping[str, Any]) -> str:
    """Identifier of a record's configuration without its seeds: repeats of one config share it."""
    cfg = {k: v for k, v in dict(record.get("config") or {}).items() if k not in _GROUP_IGNORED}
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class MetaData:
    """Usable run records as features, target and grouping (what predictors are fitted and evaluated on)."""

    X: pd.DataFrame
    """Features, columns :data:`FEATURES`."""
    y: np.ndarray
    """Final metric of each run."""
    task: np.ndarray
    """Task name of each run (the leave-one-data-set-out groups)."""
    group: np.ndarray
    """Config identifier without seeds (the grouped-CV groups)."""
    metric: dict[str, str] = field(default_factory=dict)
    """Metric name per task."""
    skipped: dict[str, int] = field(default_factory=dict)
    """Records left out, by reason."""
    epochs: np.ndarray | None = None
    """Epochs each run trained for (NaN where its record does not say); None when not known at all."""
    init_scale: np.ndarray | None = None
    """Each run's ``TrainConfig.init_scale`` (records without one: ``fixed``, the default); None when not known."""

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, keep: np.ndarray) -> MetaData:
        """The runs where ``keep`` (a boolean mask) holds, with the metric names of their tasks only."""
        tasks = set(self.task[keep])
        return MetaData(self.X[keep].reset_index(drop=True), self.y[keep], self.task[keep], self.group[keep],
                        {k: v for k, v in self.metric.items() if k in tasks}, dict(self.skipped),
                        None if self.epochs is None else self.epochs[keep],
                        None if self.init_scale is None else self.init_scale[keep])

    def describe_skipped(self) -> str:
        """``'5 more skipped: 3 not ok, 2 baseline model'`` or ``'none skipped'``: the records left out besides the
        counted ones (it read as if 2 of the runs counted beside it were baseline models)."""
        if not self.skipped:
            return "none skipped"
        return f"{sum(self.skipped.values())} more skipped: " + ", ".join(f"{n} {why}" for why, n in self.skipped.items())


def prepare_records(records: Iterable[Mapping[str, Any]]) -> MetaData:
    """Turn run records into :class:`MetaData`, skipping unusable ones (counted by reason). The rows are in the
    records' file-name order (:meth:`RunRecord.file_name`, then the value), not the order given: forests and
    folds depend on row order, and a store's order depends on its history (a resumed sweep, several workers)."""
    from ..record import RunRecord

    usable: list[tuple[tuple[str, float], dict[str, float], RunRecord, Mapping[str, Any]]] = []
    skipped: dict[str, int] = {}
    for i, rec in enumerate(records):
        row, why = record_features(rec, i)
        if row is None:
            skipped[why] = skipped.get(why, 0) + 1
            continue
        typed = RunRecord.from_dict(rec)
        usable.append(((typed.file_name(), float(typed.value)), row, typed, rec))  # type: ignore[arg-type]
    rows, ys, tasks, groups, metric, epochs, scales = [], [], [], [], {}, [], []
    for (_, value), row, typed, rec in sorted(usable, key=lambda u: u[0]):
        task = typed.task_name
        rows.append(row)
        epochs.append(_epochs_of(rec))
        scales.append(str((rec.get("config") or {}).get("init_scale") or "fixed"))
        ys.append(value)  # usable rows have a finite value
        tasks.append(task)
        groups.append(f"{task}/{config_group(rec)}")
        metric.setdefault(task, typed.metric)
    return MetaData(features_frame(rows), np.asarray(ys, dtype=float), np.asarray(tasks, dtype=object),
                    np.asarray(groups, dtype=object), metric, skipped, np.asarray(epochs, dtype=float),
                    np.asarray(scales, dtype=object))


def _epochs_of(rec: Mapping[str, Any]) -> float:
    """The epochs a run record's config asked for, NaN when it does not say (or says nonsense)."""
    cfg = rec.get("config")
    try:
        value = float(cfg.get("epochs")) if isinstance(cfg, Mapping) else math.nan
    except (TypeError, ValueError):
        return math.nan
    return value if math.isfinite(value) and value >= 1 else math.nan


def require_records(data: MetaData, need: int = MIN_RECORDS, what: str = "fit a predictor") -> None:
    """Raise :class:`TooFewRecords` (saying how many are needed) when ``data`` holds fewer than ``need``."""
    if len(data) < need:
        raise TooFewRecords(
            f"need at least {need} usable run records (status ok, block models with a final metric) to {what}, "
            f"got {len(data)} ({data.describe_skipped()})"
        )
    if len(set(data.group)) < 2:  # a forest fitted on one config predicts it everywhere: nothing to rank by
        raise TooFewRecords(f"the {len(data)} usable run records hold one configuration only ({data.group[0]}); "
                            f"to {what}, runs of several configurations are needed (a random or hidden_proportion sweep)")
    if float(np.ptp(data.y)) == 0.0:
        raise TooFewRecords(f"every one of the {len(data)} usable run records scored {data.y[0]:g}: there is nothing to "
                            f"learn which configuration is better; {what} on runs that trained (more epochs or data)")


def load_record_dir(directory: str | Path) -> list[dict[str, Any]]:
    """Every ``*.json`` run record in ``directory`` (not recursive); corrupt files fail with one line."""
    d = Path(directory)
    if not d.is_dir():
        raise MetaError(f"records directory {d} does not exist")
    out = []
    for p in sorted(d.glob("*.json")):
        try:
            rec = json.loads(p.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise MetaError(f"cannot read run record {p}: {e}") from None
        if not isinstance(rec, dict):
            raise MetaError(f"record {p.name} is not a balancedrnn run record (it holds JSON "
                            f"{json.dumps(rec)[:20]}, not an object)")
        rec.setdefault("_source", p.name)
        out.append(rec)
    if not out:
        raise TooFewRecords(f"no run records (*.json) in {d}")
    return out


# ------------------------------------------------------------------------------------------ classes
def class_names(n_classes: int) -> list[str]:
    """Readable names of the performance classes, worst first."""
    return ["low", "middle", "high"] if n_classes == 3 else [f"q{i + 1}" for i in range(n_classes)]


def quantile_edges(values: np.ndarray, n_classes: int = 3) -> list[float]:
    """The n_classes - 1 inner quantiles of ``values`` (the class boundaries)."""
    return np.quantile(np.asarray(values, dtype=float), np.arange(1, n_classes) / n_classes).tolist()


def performance_classes(values: np.ndarray, tasks: np.ndarray, n_classes: int = 3,
                        edges: Mapping[str, Sequence[float]] | None = None) -> tuple[np.ndarray, dict[str, list[float]]]:
    """Per-task quantile classes: class k holds the runs above k of the task's inner quantiles (0 = worst).

    A value equal to a boundary falls in the lower class, so runs tied at chance level share the lowest class.
    ``edges`` (per task) are computed from ``values`` when not given. Returns ``(labels, edges)``.
    """
    if n_classes < 2:
        raise MetaError(f"n_classes must be at least 2, got {n_classes}")
    values, tasks = np.asarray(values, dtype=float), np.asarray(tasks, dtype=object)
    out_edges: dict[str, list[float]] = {}
    labels = np.zeros(len(values), dtype=int)
    for t in pd.unique(tasks):
        m = tasks == t
        e = list(edges[t]) if edges is not None and t in edges else quantile_edges(values[m], n_classes)
        out_edges[str(t)] = e
        labels[m] = np.searchsorted(np.asarray(e), values[m], side="left")
    return labels, out_edges


# ----------------------------------------------------------------------------------------- estimators
class PerformanceClassifier(ClassifierMixin, BaseEstimator):
    """Random-forest classifier of performance classes (the paper's predictor), seeded and single-threaded
    by default."""

    def __init__(self, n_estimators: int = 200, max_depth: int | None = None, min_samples_leaf: int = 1,
                 max_features: str | float | None = "sqrt", random_state: int | None = None, n_jobs: int | None = 1) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X: Any, y: Any) -> PerformanceClassifier:
        """Fit the forest on features ``X`` and class labels ``y``."""
        X, y = _validate_data(self, X, y)
        check_classification_targets(y)
        self.forest_ = RandomForestClassifier(
            n_estimators=self.n_estimators, max_depth=self.max_depth, min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features, random_state=self.random_state, n_jobs=self.n_jobs,
        ).fit(X, y)
        self.classes_ = self.forest_.classes_
        self.feature_importances_ = self.forest_.feature_importances_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probability of each class (columns in the order of ``classes_``)."""
        check_is_fitted(self)
        return self.forest_.predict_proba(_validate_data(self, X, reset=False))

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class."""
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class PerformanceRegressor(RegressorMixin, BaseEstimator):
    """Random-forest regressor of the final metric, seeded and single-threaded by default."""

    def __init__(self, n_estimators: int = 200, max_depth: int | None = None, min_samples_leaf: int = 1,
                 max_features: str | float | None = 1.0, random_state: int | None = None, n_jobs: int | None = 1) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X: Any, y: Any) -> PerformanceRegressor:
        """Fit the forest on features ``X`` and metric values ``y``."""
        X, y = _validate_data(self, X, y, y_numeric=True)
        self.forest_ = RandomForestRegressor(
            n_estimators=self.n_estimators, max_depth=self.max_depth, min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features, random_state=self.random_state, n_jobs=self.n_jobs,
        ).fit(X, y)
        self.feature_importances_ = self.forest_.feature_importances_
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted metric."""
        check_is_fitted(self)
        return self.forest_.predict(_validate_data(self, X, reset=False))


class ParentNetwork(RegressorMixin, BaseEstimator):
    """The paper's future-work "parent" network: an MLP (ReLU, float64) on standardised features predicting
    the standardised metric, trained with Adam on mini-batches. Seeded: the same ``random_state`` gives the
    same weights and predictions (at a fixed torch thread count)."""

    def __init__(self, hidden_layer_sizes: tuple[int, ...] = (32, 32), epochs: int = 300, learning_rate: float = 3e-3,
                 weight_decay: float = 0.03, batch_size: int = 64, random_state: int | None = None) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> ParentNetwork:
        """Standardise, then train the MLP for ``epochs`` passes over the data."""
        import torch

        self._check_params()
        X, y = _validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        self.mean_, self.scale_ = X.mean(0), _floored_std(X)
        self.y_mean_, self.y_scale_ = float(y.mean()), float(_floored_std(y[:, None])[0])
        xt = torch.as_tensor((X - self.mean_) / self.scale_, dtype=torch.float64)
        yt = torch.as_tensor((y - self.y_mean_) / self.y_scale_, dtype=torch.float64)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            layers: list[torch.nn.Module] = []
            width = X.shape[1]
            for h in self.hidden_layer_sizes:
                layers += [torch.nn.Linear(width, int(h)), torch.nn.ReLU()]
                width = int(h)
            layers.append(torch.nn.Linear(width, 1))
            net = torch.nn.Sequential(*layers).to(torch.float64)
        opt = torch.optim.Adam(net.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
        gen = torch.Generator().manual_seed(seed)
        batch = max(1, min(int(self.batch_size), len(yt)))
        self.loss_curve_: list[float] = []
        with _one_torch_thread():
            for _ in range(int(self.epochs)):
                total = 0.0
                for idx in torch.randperm(len(yt), generator=gen).split(batch):
                    loss = torch.nn.functional.mse_loss(net(xt[idx]).squeeze(1), yt[idx])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    total += loss.item() * len(idx)
                self.loss_curve_.append(total / len(yt))
        self.network_ = net.eval()
        return self

    def _check_params(self) -> None:
        """One-line ValueErrors for parameters that would train nothing (0 epochs, a zero learning rate, a layer of
        no units) or be replaced without a word (a batch size below 1 was read as 1)."""
        def positive_int(v: Any) -> bool:
            return isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0

        for name in ("epochs", "batch_size"):
            if not positive_int(getattr(self, name)):
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        sizes = self.hidden_layer_sizes
        if not isinstance(sizes, (tuple, list)) or not all(positive_int(h) for h in sizes):
            raise ValueError(f"hidden_layer_sizes must be a tuple of positive integers, got {sizes!r}")
        for name, low in (("learning_rate", 0.0), ("weight_decay", None)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or (
                    v <= low if low is not None else v < 0):
                raise ValueError(f"{name} must be a {'positive' if low is not None else 'non-negative'} finite number, "
                                 f"got {v!r}")

    def predict(self, X: Any) -> np.ndarray:
        """Predicted metric (back on the original scale)."""
        import torch

        check_is_fitted(self)
        X = _validate_data(self, X, reset=False, dtype=np.float64)
        with torch.no_grad(), _one_torch_thread():
            z = self.network_(torch.as_tensor((X - self.mean_) / self.scale_, dtype=torch.float64)).squeeze(1).numpy()
        return z * self.y_scale_ + self.y_mean_


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    """Run a tiny network on one torch thread (restored afterwards): faster than several on a shared machine,
    where spinning threads were measured 200x slower, and the numbers do not depend on the thread count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _floored_std(X: np.ndarray) -> np.ndarray:
    std = X.std(0)
    return np.where(std > 1e-12, std, 1.0)


# ------------------------------------------------------------------------------------------ predictor
class MetaPredictor(BaseEstimator):
    """Classifier (per-task quantile classes) and regressor (the metric) fitted on run records, plus an
    optional parent network. ``fit`` takes run records (or :class:`MetaData`), not (X, y), so this bundle
    itself is not run through ``check_estimator``; its parts are."""

    def __init__(self, n_classes: int = 3, n_estimators: int = 200, parent: bool = False, random_state: int | None = 0,
                 n_jobs: int | None = 1) -> None:
        self.n_classes = n_classes
        self.n_estimators = n_estimators
        self.parent = parent
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, records: Iterable[Mapping[str, Any]] | MetaData, y: None = None) -> MetaPredictor:
        """Fit on run records; raises :class:`TooFewRecords` (saying how many are needed) on too few."""
        data = records if isinstance(records, MetaData) else prepare_records(records)
        require_records(data, max(MIN_RECORDS, 2 * self.n_classes))
        labels, self.class_edges_ = performance_classes(data.y, data.task, self.n_classes)
        X = data.X
        self.classifier_ = PerformanceClassifier(self.n_estimators, random_state=self.random_state, n_jobs=self.n_jobs).fit(X, labels)
        self.regressor_ = PerformanceRegressor(self.n_estimators, random_state=self.random_state, n_jobs=self.n_jobs).fit(X, data.y)
        self.parent_ = ParentNetwork(random_state=self.random_state).fit(X, data.y) if self.parent else None
        self.feature_names_in_ = np.asarray(FEATURES, dtype=object)
        self.n_features_in_ = len(FEATURES)
        self.n_records_ = len(data)
        self.skipped_ = dict(data.skipped)
        self.tasks_ = {
            str(t): {"dx": int(X.loc[m, "dx"].iloc[0]), "dy": int(X.loc[m, "dy"].iloc[0]), "runs": int(m.sum()),
                     "metric": data.metric.get(str(t), "metric"), "min": float(data.y[m].min()), "max": float(data.y[m].max()),
                     "classification": bool(X.loc[m, "classification"].iloc[0])}
            for t in pd.unique(data.task) for m in [data.task == t]
        }
        self.defaults_ = {k: float(X[k].median()) for k in ("lr", "init_mean", "init_std")}
        self.hidden_proportion_range_ = (float(X["hidden_proportion"].min()), float(X["hidden_proportion"].max()))
        self.lr_range_ = (float(X["lr"].min()), float(X["lr"].max()))
        known = data.epochs[np.isfinite(data.epochs)] if data.epochs is not None else np.empty(0)
        self.epochs_ = int(np.median(known)) if len(known) else None  # the recommendation trains as long
        names, counts = np.unique(data.init_scale if data.init_scale is not None else np.full(len(data), "fixed"),
                                  return_counts=True)
        self.init_scales_ = {str(n): int(c) for n, c in zip(names, counts)}  # how the runs were initialised
        return self

    def _frame(self, X: Any) -> pd.DataFrame:
        """``X`` as the feature frame (NotFittedError before fit; a one-line ValueError for an array of another
        width, as scikit-learn's estimators say it)."""
        check_is_fitted(self)
        if isinstance(X, pd.DataFrame):
            missing = [f for f in FEATURES if f not in X.columns]
            if missing:
                raise MetaError(f"feature frame lacks column(s) {', '.join(missing)}")
            return X[list(FEATURES)].astype(float)
        if isinstance(X, list):
            return features_frame(X)
        X = np.asarray(X, float)
        if X.ndim != 2:
            raise ValueError(f"X must be a 2-D array of feature rows, got a {X.ndim}-D array")
        if X.shape[1] != len(FEATURES):
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is expecting {len(FEATURES)} "
                             f"features as input ({', '.join(FEATURES)})")
        return pd.DataFrame(X, columns=list(FEATURES))

    def predict(self, X: Any) -> np.ndarray:
        """Predicted final metric of feature rows (a frame with :data:`FEATURES`, a list of rows or an array)."""
        X = self._frame(X)  # before the fitted parts are read: NotFittedError, not an AttributeError
        return self.regressor_.predict(X)

    def predict_class(self, X: Any) -> np.ndarray:
        """Predicted performance class (0 = worst quantile of its task)."""
        X = self._frame(X)
        return self.classifier_.predict(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probability of each performance class."""
        X = self._frame(X)
        return self.classifier_.predict_proba(X)

    def predict_parent(self, X: Any) -> np.ndarray:
        """The parent network's predicted metric (fit with ``parent=True``)."""
        X = self._frame(X)  # an unfitted predictor is not one "fitted without the parent network"
        if getattr(self, "parent_", None) is None:
            raise MetaError("this predictor was fitted without the parent network (fit with parent=True)")
        return self.parent_.predict(X)


# ---------------------------------------------------------------------------------------- save / load
PREDICTOR_FORMAT = "balancedrnn-meta-predictor"


def library_versions() -> dict[str, str]:
    """Versions a saved predictor depends on."""
    import scipy
    import sklearn

    from ..env import versions

    return {**{k: str(v) for k, v in versions().items()}, "scikit-learn": sklearn.__version__, "scipy": scipy.__version__,
            "pandas": pd.__version__}


def save_predictor(predictor: MetaPredictor | zoopred.ZooPredictor, path: str | Path,
                   provenance: Mapping[str, Any] | None = None) -> Path:
    """Write a fitted predictor with its feature schema, library versions and ``provenance`` (what it was fitted
    on), atomically (pickle). A :class:`~balancedrnn.analysis.zoopred.ZooPredictor` is written in the zoo format."""
    from ..io import atomic_write

    missing = missing_fitted(predictor)
    if missing:  # an unfitted predictor would be written, and every reader of the file would fail on it
        raise MetaError(f"this {type(predictor).__name__} is not fitted (it has no {', '.join(missing)}): fit it first")
    if isinstance(predictor, zoopred.ZooPredictor):
        return write_zoo_payload({"format": zoopred.ZOO_FORMAT, "schema": zoopred.feature_schema(),
                                  "versions": library_versions(), "provenance": dict(provenance or {}),
                                  "predictor": predictor}, path)
    payload = {"format": PREDICTOR_FORMAT, "schema": feature_schema(), "versions": library_versions(),
               "provenance": dict(provenance or {}), "predictor": predictor}
    return atomic_write(path, lambda f: pickle.dump(payload, f, protocol=pickle.HIGHEST_PROTOCOL))


def write_zoo_payload(payload: Mapping[str, Any], path: str | Path) -> Path:
    """Write a zoo predictor's payload (as :func:`read_predictor_file` returns it) atomically, xz-compressed: it is
    shipped with the package, and forests shrink about 3.5×."""
    import lzma

    from ..io import atomic_write

    data = lzma.compress(pickle.dumps(dict(payload), protocol=pickle.HIGHEST_PROTOCOL), preset=6)
    return atomic_write(path, lambda f: f.write(data))


FITTED_ATTRIBUTES: dict[type, tuple[str, ...]] = {
    MetaPredictor: ("classifier_", "regressor_", "parent_", "class_edges_", "tasks_", "defaults_", "n_records_",
                    "n_classes", "n_estimators", "random_state"),
    zoopred.ZooPredictor: ("forest_", "parent_", "fill_", "features", "coverage_", "hidden_proportion_range_", "defaults_",
                           "epochs_", "tasks_", "n_records_", "n_estimators", "random_state"),
}
"""What ``recommend`` and ``predictor show`` read of each predictor (attributes added later are read with a default,
as ``epochs_max_``): a predictor without one is unfitted, or was saved by a version that did not have it."""


def missing_fitted(predictor: Any) -> list[str]:
    """The attributes of :data:`FITTED_ATTRIBUTES` that ``predictor`` lacks (empty: it can be used)."""
    needed = next((attrs for cls, attrs in FITTED_ATTRIBUTES.items() if isinstance(predictor, cls)), ())
    return [a for a in needed if not hasattr(predictor, a)]


class PredictorVersionWarning(UserWarning):
    """A predictor file saved with other versions of the libraries its models are made of."""


_MODEL_LIBRARIES = {"scikit-learn": None, "numpy": 1}
"""The libraries whose objects a saved predictor pickles, and how many leading parts of the version must agree
(None: all). scikit-learn supports no unpickling across its versions; numpy's pickles change only with its major
version; torch's tensors load across versions."""


class _PredictorUnpickler(pickle.Unpickler):
    """Reads a predictor saved under numpy 2 with numpy 1.x too (numpy 2 renamed ``numpy.core`` to ``numpy._core``,
    and pickles name the module), so the shipped predictor loads across pyproject's whole numpy range."""

    def find_class(self, module: str, name: str) -> Any:
        if (module == "numpy._core" or module.startswith("numpy._core.")) and int(np.__version__.split(".")[0]) < 2:
            module = "numpy.core" + module[len("numpy._core"):]
        return super().find_class(module, name)


def version_differences(saved: Mapping[str, Any]) -> list[str]:
    """Model libraries whose version here differs from the one a predictor was saved with (see
    :data:`_MODEL_LIBRARIES`), as ``name saved (here now)``."""
    now = library_versions()

    def parts(version: Any, n: int | None) -> list[str]:
        return str(version).split("+")[0].split(".")[:n]

    return [f"{k} {saved[k]} (here {now[k]})" for k, n in _MODEL_LIBRARIES.items()
            if saved.get(k) is not None and k in now and parts(saved[k], n) != parts(now[k], n)]


def read_predictor_file(path: str | Path) -> dict[str, Any]:
    """The saved payload (format, schema, versions, predictor), refusing another schema with one line.

    A file saved with another scikit-learn (or numpy major version) loads with one
    :class:`PredictorVersionWarning` naming them (in place of scikit-learn's warning per tree).
    Pickle runs code on loading: only load predictor files you trust.
    """
    import io
    import warnings

    p = Path(path)
    if not p.is_file():
        raise MetaError(f"predictor file {p} does not exist" if not p.exists() else f"predictor file {p} is not a file")
    try:
        raw = p.read_bytes()
        if raw.startswith(b"\xfd7zXZ\x00"):  # an xz-compressed (zoo) predictor
            import lzma

            raw = lzma.decompress(raw)
        with warnings.catch_warnings():  # one warning below, not scikit-learn's one per estimator
            warnings.filterwarnings("ignore", message="Trying to unpickle estimator")
            payload = _PredictorUnpickler(io.BytesIO(raw)).load()
    except Exception as e:  # noqa: BLE001 - any unpickling failure means a corrupt or foreign file
        raise MetaError(f"cannot read predictor file {p}: {type(e).__name__}: {e}") from None
    kinds = {zoopred.ZOO_FORMAT: zoopred.ZooPredictor, PREDICTOR_FORMAT: MetaPredictor}
    kind = next((k for f, k in kinds.items() if isinstance(payload, dict) and payload.get("format") == f), None)
    if kind is None:
        raise MetaError(f"{p} is not a balancedrnn predictor file")
    versions, schema = payload.get("versions"), payload.get("schema")
    differ = version_differences(versions) if isinstance(versions, Mapping) else []
    if differ:
        warnings.warn(f"predictor file {p} was saved with {', '.join(differ)}: its predictions may differ "
                      "slightly from those it gave there", PredictorVersionWarning, stacklevel=2)
    schema = schema if isinstance(schema, Mapping) else {}
    if kind is zoopred.ZooPredictor and schema != zoopred.feature_schema():
        raise MetaError(
            f"predictor file {p} is a zoo predictor of schema {schema.get('schema_version')!r}, this library reads "
            f"schema {zoopred.ZOO_SCHEMA_VERSION}: refit it with `balancedrnn predictor fit --zoo` on the zoo's store")
    if kind is MetaPredictor and schema != feature_schema():
        got = schema.get("features") or []
        raise MetaError(
            f"predictor file {p} has feature schema {schema.get('schema_version')!r} ({len(got)} features), this "
            f"library uses schema {SCHEMA_VERSION} ({len(FEATURES)} features): refit it with `balancedrnn predictor fit`"
        )
    if not isinstance(payload.get("predictor"), kind):  # a payload without its model: nothing to predict with
        raise MetaError(f"{p} is not a balancedrnn predictor file (it holds no {kind.__name__})")
    missing = missing_fitted(payload["predictor"])
    if missing:  # read later, attribute by attribute: an AttributeError traceback in the middle of a recommendation
        made_by = versions.get("balancedrnn", "an unrecorded version") if isinstance(versions, Mapping) else "an unrecorded version"
        raise MetaError(f"predictor file {p} holds a {kind.__name__} without {', '.join(missing)} (unfitted, or saved by "
                        f"balancedrnn {made_by}, this is {_library_version()}): refit it with `balancedrnn predictor fit"
                        + (" --zoo`" if kind is zoopred.ZooPredictor else "`"))
    return payload


def _library_version() -> str:
    from .._version import __version__

    return __version__


def load_predictor(path: str | Path) -> MetaPredictor | zoopred.ZooPredictor:
    """A predictor saved by :func:`save_predictor` (see :func:`read_predictor_file`)."""
    return read_predictor_file(path)["predictor"]


# ---------------------------------------------------------------------------------------- recommender
NAMED_CANDIDATES: tuple[str, ...] = ("dense", "standard", "uniform:0.1", "uniform:0.2", "uniform:0.3", "uniform:0.5",
                                     "balanced:0.3", "balanced", "balanced:0.7")
"""Named configs always among the candidates (and reported as references)."""
# A candidate is scored when its realised model spends the budget (spec.spends_budget: within BUDGET_TOLERANCE).


@dataclass
class Recommendation:
    """A proposed block-RNN configuration for (dx, dy, budget) and how it was chosen."""

    method: str
    """``predictor`` (maximised the fitted regressor) or ``balanced rule`` (a-priori hidden proportion 0.5)."""
    reason: str
    """One sentence on why this method was used."""
    dx: int
    dy: int
    budget: float
    density: dict[str, float]
    dh: int
    weights: int
    parameters: int
    hidden_proportion: float
    predicted_score: float | None = None
    """The predicted score (:attr:`score_name`): a predictor fitted with ``balancedrnn predictor fit`` predicts the
    final metric, the zoo predictor the within-task rank; None for the rule."""
    predicted_class: str | None = None
    """Classifier's predicted performance class name."""
    metric: str | None = None
    """What :attr:`predicted_score` is: the runs' metric (a predictor fitted with ``balancedrnn predictor fit``), or
    the description of the zoo predictor's normalised target (:data:`zoopred.TARGET_DESCRIPTION`)."""
    score_name: str | None = None
    """:attr:`predicted_score`'s name in a few words, for table headers: the metric (``accuracy``), or the zoo
    predictor's ``within-task rank`` (:data:`zoopred.TARGET_NAME`), which is no metric; None for the rule."""
    candidates: int = 0
    """Feasible candidates scored."""
    top: pd.DataFrame | None = None
    """Best candidates with their predictions."""
    references: dict[str, float] = field(default_factory=dict)
    """Predicted score (:attr:`score_name`) of named configs (dense, uniform:0.2, balanced) at the same budget."""
    lr: float | None = None
    epochs: int | None = None
    """Predictor fitted with ``balancedrnn predictor fit``: the median epochs of its runs; its ranks hold for models
    trained as long (the zoo predictor says it through the length of :attr:`curve`)."""
    init_scale: str | None = None
    """The ``TrainConfig.init_scale`` of the runs the predictor was fitted on (None: not known, or a predictor fitted
    with ``predictor fit`` on runs of several); train the recommendation at it (and at :attr:`lr`), since the
    predictions hold for models trained that way."""
    interval: tuple[float, float] | None = None
    """The zoo predictor's interval of the predicted score (quantiles :data:`zoopred.INTERVAL` of its trees)."""
    curve: list[float] | None = None
    """The parent network's predicted validation curve (normalised metric per epoch) of the recommendation."""
    ties: dict[str, float] = field(default_factory=dict)
    """Zoo predictor: per named config of :attr:`agreement`, the share of its trees that score the two equal."""
    same_as: str | None = None
    """Zoo predictor: the named config the recommendation is (then left out of :attr:`agreement`), if any."""
    agreement: dict[str, float] = field(default_factory=dict)
    """Zoo predictor: per named config, the share of its trees that score the recommendation above that config
    (paired, tree by tree): the forest's own doubt, not a calibrated probability. Leave one task out it never
    reached 0.8 against all three named configs, and it did not foretell which of the two trained better
    (Spearman 0.12 or less over 31 tasks; docs/results.md, session 11)."""
    outside: list[str] = field(default_factory=list)
    """What of the new task lies outside what the predictor's runs cover (empty when covered)."""
    shape_outside: bool = False
    """dx/dy lies outside every shape the zoo predictor was trained on (the recommendation extrapolates)."""
    task: dict[str, float] = field(default_factory=dict)
    """What the recommender was told of the task besides its shape (``T``, ``n_train``, ``epochs``); a missing
    one took the zoo's median."""

    @property
    def shape_outside_message(self) -> str:
        """What ``recommend``, ``--model auto`` and the estimators say when :attr:`shape_outside`."""
        return (f"dx/dy = {self.dx / self.dy:.3g} lies outside every shape the zoo predictor was trained on "
                f"({'; '.join(self.outside)}): its recommendation would extrapolate")

    @property
    def config(self) -> str:
        """Explicit-densities config string, usable as ``--model``."""
        from ..sweep.spec import density_string

        return density_string(self.density)

    def train_args(self) -> list[str]:
        """``balancedrnn train`` options that train the recommendation as the predictor's runs were trained (the
        config, budget, lr and, for the zoo predictor, init scale); the task or data file is the caller's."""
        budget = float(self.budget)  # exactly (":g" wrote 1234567 as 1.23457e+06: another budget)
        args = ["--model", self.config, "--budget", str(int(budget)) if budget.is_integer() else repr(budget)]
        if self.lr is not None:
            args += ["--lr", f"{self.lr:.4g}"]
        if self.init_scale is not None:
            args += ["--init-scale", self.init_scale]
        return args


def candidate_densities(dx: int, dy: int, budget: float, n: int = 2000, random_state: int | None = 0) -> list[tuple[str, dict[str, float]]]:
    """Candidate density vectors, labelled by origin: the named configs, ~n/4 hidden-proportion-targeted ones
    (hx or hh solved for targets spread over 0.02..0.95 from random bases) and random ones drawn like the
    paper's sampler (``defaults.DENSITY_DISTRIBUTION``, |N(0.5, 0.25)| clipped to [0.02, 1]); the hidden
    proportion is solved by :func:`spec.solve_hidden_proportion`'s rule. Each is rounded as its config string
    (:attr:`Recommendation.config`) writes it (:func:`as_written`), so the counts scored are those of the model
    that string trains."""
    from ..core.configs import config_density

    rng = check_random_state(random_state)
    out: list[tuple[str, dict[str, float]]] = []
    for name in NAMED_CANDIDATES:
        try:
            out.append((name, config_density(name, dx, dy, budget)))
        except SpecError:
            continue
    n_hp = max(1, n // 4)
    bases = draw_array(DENSITY_DISTRIBUTION, rng, (n_hp, len(BLOCKS)))
    for target, base in zip(np.linspace(0.02, 0.95, n_hp), bases):
        try:
            out.append((f"hp={target:.2f}", solve_hidden_proportion(dx, dy, budget, float(target), dict(zip(BLOCKS, base)))))
        except SpecError:
            continue
    for row in draw_array(DENSITY_DISTRIBUTION, rng, (max(0, n - len(out)), len(BLOCKS))):
        out.append(("random", {b: float(p) for b, p in zip(BLOCKS, row)}))
    return [(name, as_written(d, dx, dy, budget)) for name, d in out]


def as_written(density: Mapping[str, float], dx: int, dy: int, budget: float) -> dict[str, float]:
    """``density`` as its config string (:attr:`Recommendation.config`, 6 significant digits) writes it: what
    ``train --model`` and ``auto`` build from a recommendation, so its counts are the ones a recommendation shows."""
    from ..core.configs import config_density, explicit_config

    return config_density(explicit_config(density), dx, dy, budget)


def _feasible(dx: int, dy: int, budget: float, candidates: list[tuple[str, dict[str, float]]], **kw: Any) -> tuple[list[str], list[dict[str, float]]]:
    """The candidates that spend the budget (:func:`spec.spends_budget`) and have a hidden proportion, with
    their feature rows."""
    names, rows = [], []
    for name, density in candidates:
        if not spends_budget(dx, dy, budget, density, BUDGET_TOLERANCE):
            continue
        row = config_features(dx, dy, budget, density, **kw)
        if math.isfinite(row["hidden_proportion"]):
            names.append(name)
            rows.append(row)
    return names, rows


def smallest_feasible_budget(dx: int, dy: int, candidates: list[tuple[str, dict[str, float]]]) -> int:
    """Smallest budget at which at least one candidate spends the budget (:func:`spec.smallest_spending_budget`)."""
    return smallest_spending_budget(dx, dy, [d for _, d in candidates], BUDGET_TOLERANCE)


def no_candidate_error(dx: int, dy: int, budget: float, candidates: list[tuple[str, dict[str, float]]]) -> SpecError:
    """The one-line error when no candidate spends ``budget``. Below the smallest feasible budget it names that;
    above it (a hidden size of a few units, where the weight counts jump and which budgets work is not monotone)
    it names the next budget above ``budget`` that works for a candidate whose densities do not depend on the
    budget (dense, standard, uniform:0.2), so the budget it names is one ``recommend`` accepts."""
    from ..core.configs import config_density

    smallest = smallest_feasible_budget(dx, dy, [c for c in candidates if c[0] in NAMED_CANDIDATES or c[0] == "random"])
    if budget < smallest:
        return SpecError(f"budget {budget:g} is too small for any candidate configuration (dx={dx}, dy={dy}); "
                         f"the smallest feasible budget is {smallest}")
    fixed = [config_density(name, dx, dy, budget) for name in ("dense", "standard", "uniform:0.2")]
    b = math.floor(budget) + 1
    while not any(spends_budget(dx, dy, float(b), d, BUDGET_TOLERANCE) for d in fixed):
        b += 1
    return SpecError(f"no candidate configuration spends budget {budget:g} within {BUDGET_TOLERANCE:.0%} (dx={dx}, "
                     f"dy={dy}): at a hidden size of a few units the weight counts jump; budget {b} works (dense, "
                     "standard or uniform:0.2 spends it; some budgets in between may suit other candidates)")


def rule_recommendation(dx: int, dy: int, budget: float, reason: str = "", lr: float | None = None) -> Recommendation:
    """The a-priori rule, hidden proportion 0.5 (:func:`balancedrnn.core.configs.balanced_density`)."""
    from ..core.configs import balanced_density

    density = as_written(balanced_density(dx, dy, budget), dx, dy, budget)  # as its config string trains it
    s = BlockSpec.from_budget(dx, dy, budget, density).summary()
    return Recommendation(
        method="balanced rule", reason=reason or "no predictor or run records: a-priori rule, hidden proportion 0.5",
        dx=dx, dy=dy, budget=float(budget), density=dict(s["density"]), dh=int(s["dh"]),  # type: ignore[arg-type]
        weights=int(s["weights"]), parameters=int(s["parameters"]),  # type: ignore[arg-type]
        hidden_proportion=float(s["hidden_proportion"]), lr=lr,  # type: ignore[arg-type]
    )


def _in_fitted_range(predictor: MetaPredictor, X: pd.DataFrame) -> tuple[np.ndarray, str]:
    """Indices of the candidates whose hidden proportion lies in the range the predictor was fitted on (a forest
    is flat outside it: it cannot tell such candidates apart), and a note on what was left out."""
    lo, hi = getattr(predictor, "hidden_proportion_range_", (-math.inf, math.inf))
    hp = X["hidden_proportion"].to_numpy()
    inside = np.flatnonzero((hp >= lo) & (hp <= hi))
    if 0 < len(inside) < len(X):
        return inside, f"; {len(X) - len(inside)} candidates outside the fitted hidden-proportion range {lo:.3g}..{hi:.3g} left out"
    if not len(inside):
        return np.arange(len(X)), f"; no candidate lies in the fitted hidden-proportion range {lo:.3g}..{hi:.3g}: extrapolating"
    return inside, ""


def _top_table(X: pd.DataFrame, names: list[str], score: np.ndarray, classes: list[str], order: np.ndarray, top: int) -> pd.DataFrame:
    """The ``top`` best candidates: origin, densities, dh, weights, hidden proportion, prediction, class."""
    table = X.iloc[order[:top]][[f"density_{b}" for b in BLOCKS] + ["dh", "weights", "hidden_proportion"]].copy()
    table = table.astype({"dh": int, "weights": int})
    table.insert(0, "origin", [names[i] for i in order[:top]])
    table["predicted"] = score[order[:top]]
    table["class"] = [classes[i] for i in order[:top]]
    return table.reset_index(drop=True)


def recommend(
    dx: int,
    dy: int,
    budget: float,
    predictor: MetaPredictor | None = None,
    *,
    dataset: Mapping[str, float] | None = None,
    classification: bool = True,
    lr: float | None = None,
    init_mean: float | None = None,
    init_std: float | None = None,
    n_candidates: int = 2000,
    top: int = 5,
    random_state: int | None = 0,
    reason: str = "",
    task: Mapping[str, Any] | None = None,
) -> Recommendation:
    """Propose densities and dh for (dx, dy, budget) before any training.

    With a fitted ``predictor``: score every feasible candidate (:func:`candidate_densities`) with its
    regressor and return the best, among candidates whose hidden proportion lies in the range the predictor
    was fitted on. Without one: :func:`rule_recommendation`. lr and initialisation default to the training
    records' medians (the recommendation is over the structure, at fixed optimisation settings). An infeasible
    budget raises SpecError naming the smallest feasible budget.
    """
    if predictor is None:
        return rule_recommendation(dx, dy, budget, reason, lr)
    if isinstance(predictor, zoopred.ZooPredictor):
        if dataset:
            raise MetaError(f"data-set characteristics ({', '.join(sorted(dataset))}; --set) are read by predictors "
                            "fitted with `balancedrnn predictor fit`, not by the zoo predictor: give it the task's "
                            "sequence length and training sequences (--steps, --n-train, or --task/--data)")
        unknown = sorted(set(task or {}) - {"T", "n_train", "epochs"})
        if unknown:
            raise MetaError(f"unknown task characteristic(s) {', '.join(unknown)}; known: T, n_train, epochs")
        for key, value in {**dict(task or {}), "lr": lr}.items():  # a 0 or NaN would enter the features as NaN,
            if value is None:                                      # which the forest fills with the zoo's median
                continue
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) and value > 0
            if not ok or key == "epochs" and float(value) != int(value):
                raise MetaError(f"{'' if key == 'lr' else 'task characteristic '}{key} must be a positive {'whole ' if key == 'epochs' else ''}"
                                f"number, got {value!r}")
        return recommend_zoo(dx, dy, budget, predictor, classification=classification, lr=lr, n_candidates=n_candidates,
                             top=top, random_state=random_state, reason=reason, **dict(task or {}))
    check_is_fitted(predictor)
    d = predictor.defaults_
    kw = {"lr": d["lr"] if lr is None else lr, "init_mean": d["init_mean"] if init_mean is None else init_mean,
          "init_std": d["init_std"] if init_std is None else init_std, "classification": classification, "dataset": dataset}
    dataset_characteristics(dx, dy, classification, dataset)  # unknown keys fail before the search
    candidates = candidate_densities(dx, dy, budget, n_candidates, random_state)
    names, rows = _feasible(dx, dy, budget, candidates, **kw)
    if not rows:
        raise no_candidate_error(dx, dy, budget, candidates)
    X = features_frame(rows)
    score = predictor.predict(X)
    refs = {n: float(score[i]) for i, n in enumerate(names) if n in REFERENCES}  # reported even outside the range
    inside, range_note = _in_fitted_range(predictor, X)
    names, rows, X, score = [names[i] for i in inside], [rows[i] for i in inside], X.iloc[inside], score[inside]
    names_of = class_names(predictor.n_classes)
    classes = [names_of[int(c)] for c in predictor.classifier_.classes_[np.argmax(predictor.predict_proba(X), axis=1)]]
    order = np.argsort(-score, kind="stable")
    best = int(order[0])
    metrics = sorted({t["metric"] for t in predictor.tasks_.values()})
    dx_range = [t["dx"] for t in predictor.tasks_.values()]
    note = "" if min(dx_range) <= dx <= max(dx_range) else f"; note: dx={dx} is outside the training range {min(dx_range)}..{max(dx_range)}"
    kinds = {t["classification"] for t in predictor.tasks_.values() if "classification" in t}  # older pickles: unknown
    if kinds and classification not in kinds:  # the feature is constant in its runs: the forest never split on it
        note += (f"; note: its runs are all {'regression' if classification else 'classification'}, so its "
                 f"prediction for a {'classification' if classification else 'regression'} task extrapolates")
    lo, hi = getattr(predictor, "lr_range_", (kw["lr"], kw["lr"]))  # pickles made before it carry no range
    if not lo <= kw["lr"] <= hi:
        note += f"; note: lr={kw['lr']:.4g} is outside its runs' lr range {lo:.4g}..{hi:.4g} (the prediction extrapolates)"
    scales = getattr(predictor, "init_scales_", None)  # pickles made before it: not known (the train command omits it)
    init_scale = next(iter(scales)) if scales and len(scales) == 1 else None
    if scales and len(scales) > 1:
        note += ("; note: its runs mix init scales (" + ", ".join(f"{k} {v}" for k, v in scales.items()) + ") and it has "
                 "no init-scale feature: its prediction is for none of them in particular")
    r = rows[best]
    return Recommendation(
        method="predictor",
        reason=(reason or f"maximised the random-forest regressor fitted on {predictor.n_records_} runs over "
                f"{len(rows)} feasible candidates") + note + range_note,
        dx=dx, dy=dy, budget=float(budget), density={b: r[f"density_{b}"] for b in BLOCKS}, dh=int(r["dh"]),
        weights=int(r["weights"]), parameters=int(r["parameters"]), hidden_proportion=r["hidden_proportion"],
        predicted_score=float(score[best]), predicted_class=classes[best],
        metric="/".join(metrics), score_name="/".join(metrics), candidates=len(rows), top=_top_table(X, names, score, classes, order, top),
        references=refs, lr=kw["lr"], epochs=getattr(predictor, "epochs_", None), init_scale=init_scale,
    )


def recommend_zoo(dx: int, dy: int, budget: float, predictor: zoopred.ZooPredictor, *, classification: bool = True,
                  lr: float | None = None, n_candidates: int = 2000, top: int = 5, random_state: int | None = 0,
                  reason: str = "", T: float | None = None, n_train: float | None = None,
                  epochs: int | None = None) -> Recommendation:
    """:func:`recommend` with the zoo predictor: score the feasible candidates (within the hidden-proportion range
    the zoo covers) by its forest, return the best with the trees' interval, the parent network's predicted curve
    (``epochs`` long; the zoo's median by default) and what of the task lies outside the zoo. ``T`` and
    ``n_train`` (sequence length, training sequences) default to the zoo's medians."""
    predictor.check_fitted()
    lr = predictor.defaults_["lr"] if lr is None else lr
    candidates = candidate_densities(dx, dy, budget, n_candidates, random_state)
    feasible = [(n, d) for n, d in candidates if spends_budget(dx, dy, budget, d, BUDGET_TOLERANCE)]
    if not feasible:
        raise no_candidate_error(dx, dy, budget, candidates)
    X, counts = zoopred.candidate_frame(dx, dy, budget, [d for _, d in feasible], lr, T, n_train, classification)
    names = [n for n, _ in feasible]
    keep = np.flatnonzero(np.isfinite(counts["hidden_proportion"].to_numpy()))
    X, counts, names = X.iloc[keep].reset_index(drop=True), counts.iloc[keep].reset_index(drop=True), [names[i] for i in keep]
    score = predictor.predict(X)
    refs = {n: float(score[i]) for i, n in enumerate(names) if n in REFERENCES}
    X_all, counts_all, ref_rows = X, counts, [names.index(n) for n in refs]  # the named configs, kept even outside the hp range
    lo, hi = predictor.hidden_proportion_range_
    hp = counts["hidden_proportion"].to_numpy()
    inside = np.flatnonzero((hp >= lo) & (hp <= hi))
    range_note = "" if len(inside) == len(X) else (
        f"; {len(X) - len(inside)} candidates outside the zoo's hidden-proportion range {lo:.3g}..{hi:.3g} left out"
        if len(inside) else f"; no candidate lies in the zoo's hidden-proportion range {lo:.3g}..{hi:.3g}: extrapolating")
    rows_all = inside if len(inside) else np.arange(len(X))  # candidate row -> its row in X_all
    if len(inside):
        X, counts, names, score = X.iloc[inside].reset_index(drop=True), counts.iloc[inside].reset_index(drop=True), \
            [names[i] for i in inside], score[inside]
    order = np.argsort(-predictor.order_score(X, epochs), kind="stable")
    best = int(order[0])
    low, high = predictor.predict_interval(X.iloc[order[:top]])
    table = counts.iloc[order[:top]][[f"density_{b}" for b in BLOCKS] + ["dh", "weights", "hidden_proportion"]].copy()
    table.insert(0, "origin", [names[i] for i in order[:top]])
    table["predicted"] = score[order[:top]]
    table["low"], table["high"] = low, high
    curve = predictor.predict_curve(X.iloc[[best]], epochs)[0].tolist() if predictor.parent_ is not None else None
    outside = predictor.outside(X.iloc[best].to_dict()) + predictor.outside_sizes(dx, dy) + predictor.outside_epochs(epochs)
    c = counts.iloc[best]
    columns = [f"density_{b}" for b in BLOCKS]
    itself = [n for n, i in zip(refs, ref_rows)  # a named config the recommendation is: no comparison with itself
              if np.allclose(counts_all.iloc[i][columns].to_numpy(float), c[columns].to_numpy(float))]
    compared = [(n, i) for n, i in zip(refs, ref_rows) if n not in itself]
    agree, tie = (predictor.agreement(X_all, int(rows_all[best]), [i for _, i in compared]) if compared
                  else ([], []))
    return Recommendation(
        method="predictor",
        reason=(reason or f"maximised the zoo predictor ({'mean rank under the forest and the parent network' if zoopred.ENSEMBLE and predictor.parent_ is not None else 'extremely randomised trees'}; "
                f"per-task {zoopred.TARGET} target, fitted on {predictor.n_records_} runs of {len(predictor.tasks_)} tasks) "
                f"over {len(X)} feasible candidates")
        + range_note,
        dx=dx, dy=dy, budget=float(budget), density={b: float(c[f"density_{b}"]) for b in BLOCKS}, dh=int(c["dh"]),
        weights=int(c["weights"]), parameters=int(c["parameters"]), hidden_proportion=float(c["hidden_proportion"]),
        predicted_score=float(score[best]), metric=zoopred.TARGET_DESCRIPTION[zoopred.TARGET],
        score_name=zoopred.TARGET_NAME[zoopred.TARGET],
        candidates=len(X), top=table.reset_index(drop=True), references=refs, lr=lr,
        init_scale=predictor.training_init_scale,
        interval=(float(low[0]), float(high[0])), curve=curve, outside=outside,
        agreement={n: float(a) for (n, _), a in zip(compared, agree)},
        ties={n: float(t) for (n, _), t in zip(compared, tie)}, same_as=itself[0] if itself else None,
        shape_outside=predictor.shape_outside(dx, dy),
    )


SHIPPED_PREDICTOR = "zoo-predictor.pkl"
"""File name of the predictor the package carries (in ``balancedrnn/analysis/``), fitted on the task zoo."""


def default_predictor() -> MetaPredictor | zoopred.ZooPredictor | None:
    """The predictor the package ships (fitted on the task zoo), or None when this build carries none."""
    path = Path(__file__).with_name(SHIPPED_PREDICTOR)
    return load_predictor(path) if path.is_file() else None


def recommend_config(
    dx: int,
    dy: int,
    budget: float,
    *,
    regression: bool = False,
    predictor: MetaPredictor | zoopred.ZooPredictor | str | Path | None = "default",
    dataset: Mapping[str, float] | None = None,
    lr: float | None = None,
    n_candidates: int = 2000,
    top: int = 5,
    seed: int = 0,
    reason: str = "",
    task: Mapping[str, Any] | None = None,
) -> Recommendation:
    """The one entry point that turns a data set's shape and a budget into a configuration, used by
    ``balancedrnn recommend`` and by the estimators' ``config="auto"`` so both choose the same.

    ``predictor``: ``"default"`` (the shipped predictor when the package carries one, else the rule), a fitted
    :class:`MetaPredictor` or zoo predictor, a predictor file, or None (the a-priori rule). ``task``: what else
    is known of the data set, for the zoo predictor: ``T`` (steps), ``n_train`` (training sequences), ``epochs``
    (length of the predicted curve); unknown ones take the zoo's medians."""
    if isinstance(predictor, str) and predictor == "default":
        predictor = default_predictor()
        if predictor is None:
            reason = reason or "this build ships no fitted predictor: a-priori rule, hidden proportion 0.5"
    elif isinstance(predictor, (str, Path)):
        predictor = load_predictor(predictor)
    rec = recommend(dx, dy, budget, predictor, dataset=dataset, classification=not regression, lr=lr,
                    n_candidates=n_candidates, top=top, random_state=seed, reason=reason, task=task)
    rec.task = {k: float(v) for k, v in (task or {}).items()}
    return rec
