"""The predictor that transfers across the task zoo (issue 18): runs of many tasks pooled through a per-task
normalised target and dimension-free features, a forest of extremely randomised trees that ranks configurations of
an unseen task, and the paper's parent network, which predicts the child's whole validation curve.

* **Target**: :func:`balancedrnn.analysis.zoo.normalized_target` with ``method="rank"``, the within-task
  percentile rank. Both it and ``method="chance"`` ((metric − chance) / (task's best − chance), clipped below at
  :data:`TARGET_FLOOR`) were fitted on the same leave-one-task-out folds, and the rank transferred much better: a task
  whose best run is barely above chance (small-budget RAD variants) spreads the chance-normalised target over
  [−1, 1] with noise, and runs far below chance dominate the squared error, while the rank gives every task the same
  scale. It is also what the evaluation judges (Spearman within a held-out task). The chance-normalised score is
  kept: it normalises the curves, it is the score every model is judged against, and it decides which tasks are
  left out (never above chance).
* **Objective**: pointwise regression of the rank (extremely randomised trees, leaves of ≥ 20 runs:
  :func:`fit_forest`), which with a rank target is a listwise
  ranking surrogate: it learns the order within each task without pairing runs (n² pairs), and the recommender
  still gets a *score* with an interval (the trees' quantiles), read as "better than this share of the zoo
  sweep's configurations".
* **Features**: :data:`FEATURES`, every one from :func:`balancedrnn.analysis.zoo.shape_features` (the one
  formula, for run records and for candidate configurations).
* **Parent network** (:class:`CurveNetwork`): an MLP on the same features plus the epoch (log epoch as an input,
  so curves of any length pool without resampling) that predicts the normalised validation metric at that epoch;
  the score it gives a configuration is its prediction at the run's last epoch.
* :func:`leave_one_task_out` fits on every task but one and scores the held-out task's runs, for the forest,
  its ablations, the parent network and a parameter-count baseline, on the same folds.

:class:`ZooPredictor` is what ships (``analysis/zoo-predictor.pkl``); it is saved and read by
:mod:`balancedrnn.analysis.meta` (``save_predictor`` / ``read_predictor_file``), whose ``recommend_config`` uses it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..core.spec import BLOCKS, BlockSpec
from .zoo import curve, dimensionless_features, log_dx_over_dy, normalized_target, shape_features

ZOO_SCHEMA_VERSION = 1
"""Bump whenever :data:`FEATURES`, the target or their meaning changes: predictor files of another are refused."""
ZOO_FORMAT = "balancedrnn-zoo-predictor"

HP_FEATURES: tuple[str, ...] = ("hidden_proportion",)
SHAPE_FEATURES: tuple[str, ...] = ("log_dx_over_dy", "log_budget_over_dxdy", "dh_over_dx", "dh_over_dy")
"""The features that carry dx and dy (the "dx/dy removed" ablation drops them)."""
FEATURES: tuple[str, ...] = (
    *HP_FEATURES, *(f"density_{b}" for b in BLOCKS), *SHAPE_FEATURES,
    "log_dh", "log_T", "log_n_train", "log_lr", "classification",
)
"""The zoo predictor's feature columns, in order (names of :func:`balancedrnn.analysis.zoo.shape_features`)."""
ABLATIONS: dict[str, tuple[str, ...]] = {
    "forest": FEATURES,
    "forest without the hidden proportion": tuple(f for f in FEATURES if f not in HP_FEATURES),
    "forest without dx/dy features": tuple(f for f in FEATURES if f not in SHAPE_FEATURES),
    "forest without lr": tuple(f for f in FEATURES if f != "log_lr"),
}
"""Feature sets compared leave one task out (same folds, same forest). The zoo sweep draws lr per trial, so part of
a held-out task's order is lr's; the recommender holds lr fixed and ranks structures, and "without lr" shows how
much of the ranking the structure features carry alone."""
METHOD = "chance"
"""The normalisation of the score the predictor is judged on and of the curves (:func:`balancedrnn.analysis.zoo.normalized_target`)."""
TARGETS = ("chance", "rank")
TARGET = "rank"
"""The target the forest fits: the within-task rank (chosen over the chance-normalised score on the leave-one-task-out
results, docs/results.md; both are kept in :class:`ZooData`)."""
TARGET_DESCRIPTION = {
    "rank": "within-task percentile rank among the zoo sweep's configurations (1 = the task's best run, 0.5 = median)",
    "chance": "normalised score (1 = the task's best run, 0 = chance)",
}
TARGET_NAME = {"rank": "within-task rank", "chance": "normalised score"}
"""What the predicted score is, in a few words (the header of ``recommend``'s "predicted" columns)."""
TARGET_FLOOR = -1.0
"""Normalised scores (target and curve points) below this are clipped to it: a run far below chance (a regression
whose skill is −20) would otherwise dominate the squared error."""
ENSEMBLE = False
"""True: the recommender orders candidates by the mean of their ranks under the forest and the parent network (the
"forest + parent network" row of the leave-one-task-out table); False: by the forest alone. The mean rank led on
the first 13 tasks and fell behind the forest once the small aeon sets joined (25 tasks, docs/results.md)."""
INTERVAL = (0.1, 0.9)
"""Quantiles of the trees' predictions reported as the predicted score's interval."""
COVERAGE: tuple[str, ...] = ("log_dx_over_dy", "log_budget_over_dxdy", "log_T", "log_n_train")
"""Features whose range over the zoo is kept, to say when a new shape lies outside what the zoo covers."""


class ZooError(ValueError):
    """Records or options the zoo predictor cannot use. The message is one line."""


# ------------------------------------------------------------------------------------------------ data
@dataclass
class ZooData:
    """Usable zoo runs: features, normalised target, raw value, parameter count and normalised validation curve."""

    X: pd.DataFrame
    """Columns :data:`FEATURES`."""
    y: np.ndarray
    """Normalised target, clipped below at :data:`TARGET_FLOOR`."""
    task: np.ndarray
    value: np.ndarray
    """The run's raw judged metric (test accuracy or skill)."""
    parameters: np.ndarray
    curves: list[np.ndarray]
    """Validation metric per epoch, normalised like the target (by the task's best curve point), clipped."""
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per task: dx, dy, kind, T, n_train, runs, best value, chance."""
    skipped: dict[str, int] = field(default_factory=dict)
    studies: list[str] = field(default_factory=list)
    rank: np.ndarray | None = None
    """The alternative target: within-task percentile rank (``normalized_target(method="rank")``)."""
    init_scale: np.ndarray | None = None
    """Each run's ``TrainConfig.init_scale`` (records without one: ``fixed``, the default)."""

    def init_scales(self) -> dict[str, int]:
        """How many runs used each init scale."""
        names, counts = np.unique(self.init_scale if self.init_scale is not None else np.full(len(self), "fixed"),
                                  return_counts=True)
        return {str(n): int(c) for n, c in zip(names, counts)}

    def __len__(self) -> int:
        return len(self.y)

    def target(self, name: str = TARGET) -> np.ndarray:
        """The forest's target: ``chance`` (:attr:`y`) or ``rank``."""
        if name not in TARGETS:
            raise ZooError(f"unknown target {name!r}; known: {', '.join(TARGETS)}")
        return self.y if name == "chance" or self.rank is None else self.rank

    def subset(self, keep: np.ndarray) -> ZooData:
        """The runs where ``keep`` (a boolean mask) is true."""
        idx = np.flatnonzero(keep)
        tasks = {t: i for t, i in self.tasks.items() if t in set(self.task[idx])}
        return ZooData(self.X.iloc[idx].reset_index(drop=True), self.y[idx], self.task[idx], self.value[idx],
                       self.parameters[idx], [self.curves[i] for i in idx], tasks, dict(self.skipped), list(self.studies),
                       None if self.rank is None else self.rank[idx],
                       None if self.init_scale is None else self.init_scale[idx])


def prepare_zoo(records: Iterable[Mapping[str, Any]]) -> ZooData:
    """Pool run records of many tasks: skip runs that are not ok, baselines, runs without a finite metric, and
    every run of a task whose best run is not above chance (nothing to normalise against); count them by reason."""
    from ..record import RecordError, RunRecord
    from .zoo import chance_level

    kept: list[dict[str, Any]] = []
    skipped: dict[str, int] = {}

    def skip(why: str) -> None:
        skipped[why] = skipped.get(why, 0) + 1

    for i, rec in enumerate(records):
        try:
            typed = RunRecord.from_dict(rec, str(i))
        except RecordError as e:
            raise ZooError(str(e)) from None
        model = typed.model or {}
        if not typed.ok:
            skip("not ok")
        elif model.get("kind", "block") != "block" or not model.get("density"):
            skip("baseline model")
        elif typed.value is None:
            skip("no finite final metric")
        else:
            kept.append(dict(rec))
    target = normalized_target(kept, METHOD)
    ranks = normalized_target(kept, "rank")
    rows, ys, tasks, values, params, rank = [], [], [], [], [], []
    raw_curves: list[np.ndarray] = []
    scales: list[str] = []
    for rec, t, r in zip(kept, target, ranks):
        if not math.isfinite(t):
            skip("task never above chance")
            continue
        scales.append(str((rec.get("config") or {}).get("init_scale") or "fixed"))
        typed = RunRecord.from_dict(rec)
        try:
            c = np.asarray(curve(rec), dtype=float)
        except ValueError:
            c = np.array([])
        rows.append(dimensionless_features(rec))
        ys.append(max(float(t), TARGET_FLOOR))
        rank.append(float(r))
        tasks.append(typed.task_name)
        values.append(float(typed.value))  # type: ignore[arg-type]
        params.append(float((typed.model or {}).get("parameters", math.nan)))
        raw_curves.append(c)
    task_arr = np.asarray(tasks, dtype=object)
    info: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(tasks):
        idx = np.flatnonzero(task_arr == name)
        rec = next(r for r, t in zip(kept, target) if math.isfinite(t) and RunRecord.from_dict(r).task_name == name)
        chance = chance_level(rec)
        peak = max((float(np.nanmax(raw_curves[i])) for i in idx if raw_curves[i].size and np.isfinite(raw_curves[i]).any()),
                   default=math.nan)
        for i in idx:
            c = raw_curves[i]
            norm = (c - chance) / (peak - chance) if peak - chance > 1e-12 else np.full_like(c, np.nan)
            raw_curves[i] = np.maximum(norm, TARGET_FLOOR)
        r0 = rows[idx[0]]
        info[name] = {"dx": int((rec.get("task") or {}).get("dx")), "dy": int((rec.get("task") or {}).get("dy")),
                      "kind": "classification" if r0["classification"] else "regression",
                      "T": _exp(r0["log_T"]), "n_train": _exp(r0["log_n_train"]), "runs": int(idx.size),
                      "best": float(np.max(np.asarray(values)[idx])), "chance": float(chance),
                      "headroom": _headroom(float(np.max(np.asarray(values)[idx])), float(chance), bool(r0["classification"]))}
    X = pd.DataFrame(rows, columns=list(FEATURES)).astype(float)
    return ZooData(X, np.asarray(ys, dtype=float), task_arr, np.asarray(values, dtype=float),
                   np.asarray(params, dtype=float), raw_curves, info, skipped, rank=np.asarray(rank, dtype=float),
                   init_scale=np.asarray(scales, dtype=object))


def _headroom(best: float, chance: float, classification: bool) -> float:
    """How far the task's best run got above chance, as a share of the way to perfect (accuracy 1, skill 1)."""
    return (best - chance) / (1.0 - chance) if 1.0 - chance > 1e-12 else math.nan


LEARNED = 0.05
"""Headroom below which a task counts as not learned by any run (its normalised scores rank noise)."""


def _exp(v: float) -> float | None:
    return float(round(math.exp(v))) if math.isfinite(v) else None


def load_zoo_records(storage: str, names: Sequence[str] | None = None, prefix: str = "zoo-",
                     suffix: str = "") -> tuple[list[dict[str, Any]], list[str]]:
    """Run records of the zoo's studies in a store (every study named ``prefix…suffix`` when ``names`` is None),
    and the study names read."""
    import optuna

    from ..sweep import store

    st = store.open_storage(storage, ".", create=False)
    if names is None:
        names = sorted(s.study_name for s in optuna.get_all_study_summaries(st)
                       if s.study_name.startswith(prefix) and s.study_name.endswith(suffix))
    names = list(dict.fromkeys(names))  # a study named twice is read once, not its runs counted twice
    out: list[dict[str, Any]] = []
    for n in names:
        out.extend(store.iter_records(store.open_study(st, n, create=False)))
    return out, names


# ------------------------------------------------------------------------------------------------ candidates
def candidate_frame(dx: int, dy: int, budget: float, densities: Sequence[Mapping[str, float]], lr: float,
                    T: float | None, n_train: float | None, classification: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Feature rows (:data:`FEATURES`) of candidate configurations for a shape and budget, and their counts (dh,
    weights, parameters, hidden proportion, densities), through ``BlockSpec.from_budget`` (the counting module)."""
    rows, counts = [], []
    for density in densities:
        s = BlockSpec.from_budget(dx, dy, budget, density).summary()
        d = dict(s["density"])  # type: ignore[arg-type]
        rows.append(shape_features(dx=dx, dy=dy, dh=float(s["dh"]), budget=budget, density=d,  # type: ignore[arg-type]
                                   hidden_proportion=float(s["hidden_proportion"]), T=T, n_train=n_train,  # type: ignore[arg-type]
                                   lr=lr, classification=classification))
        counts.append({**{f"density_{b}": float(d[b]) for b in BLOCKS}, "dh": int(s["dh"]),  # type: ignore[call-overload]
                       "weights": int(s["weights"]), "parameters": int(s["parameters"]),  # type: ignore[call-overload]
                       "hidden_proportion": float(s["hidden_proportion"])})  # type: ignore[arg-type]
    return pd.DataFrame(rows, columns=list(FEATURES)).astype(float), pd.DataFrame(counts)


# ------------------------------------------------------------------------------------------------ models
def _fill(X: pd.DataFrame, fill: Mapping[str, float], columns: Sequence[str]) -> np.ndarray:
    """The columns as an array, NaN (an unknown T or training-set size) replaced by the training medians."""
    return X[list(columns)].fillna(dict(fill)).to_numpy(dtype=float)


def fill_values(X: pd.DataFrame) -> dict[str, float]:
    """What a missing feature is filled with: its median over the fitted runs (0 when no run has it)."""
    return {c: float(np.nanmedian(X[c])) if X[c].notna().any() else 0.0 for c in FEATURES}


def fit_forest(X: np.ndarray, y: np.ndarray, n_estimators: int = 100, random_state: int = 0) -> Any:
    """The zoo's forest (regression of the normalised target), seeded, one thread: extremely randomised trees with
    leaves of at least 20 runs. Leave one task out it beat the random forest with leaves of 5 (the learner until
    session 10) on 24 of 31 held-out tasks (experiments/zoo_models.py, docs/results.md): a held-out task is new
    ground, and smoother trees carry less of the training tasks' own quirks to it."""
    from sklearn.ensemble import ExtraTreesRegressor

    return ExtraTreesRegressor(n_estimators=n_estimators, min_samples_leaf=20, max_features=0.5,
                               random_state=random_state, n_jobs=1).fit(X, y)


class CurveNetwork:
    """The parent network: an MLP (2 × 64 ReLU) on standardised features plus log epoch, predicting the normalised
    validation metric at that epoch (one row per run and epoch). Seeded; trained on one torch thread."""

    def __init__(self, hidden: Sequence[int] = (64, 64), epochs: int = 40, lr: float = 3e-3, weight_decay: float = 1e-4,
                 batch_size: int = 256, random_state: int = 0) -> None:
        self.hidden, self.epochs, self.lr, self.weight_decay = tuple(hidden), epochs, lr, weight_decay
        self.batch_size, self.random_state = batch_size, random_state

    @staticmethod
    def rows(X: np.ndarray, curves: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """One input row per (run, epoch): the run's features and log epoch; the targets are the curve points."""
        xs, ys = [], []
        for x, c in zip(X, curves):
            ok = np.flatnonzero(np.isfinite(c))
            if ok.size:
                xs.append(np.column_stack([np.repeat(x[None, :], ok.size, 0), np.log(ok + 1.0)]))
                ys.append(c[ok])
        if not xs:
            raise ZooError("no validation curves to fit the parent network on")
        return np.vstack(xs), np.concatenate(ys)

    def fit(self, X: np.ndarray, curves: Sequence[np.ndarray]) -> CurveNetwork:
        """Fit on feature rows ``X`` (runs) and their normalised curves."""
        import torch

        xr, yr = self.rows(X, curves)
        self.mean_, self.scale_ = xr.mean(0), np.where(xr.std(0) > 1e-12, xr.std(0), 1.0)
        xt = torch.as_tensor((xr - self.mean_) / self.scale_, dtype=torch.float32)
        yt = torch.as_tensor(yr, dtype=torch.float32)
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.random_state)
                layers: list[torch.nn.Module] = []
                width = xr.shape[1]
                for h in self.hidden:
                    layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
                    width = h
                net = torch.nn.Sequential(*layers, torch.nn.Linear(width, 1))
            opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            gen = torch.Generator().manual_seed(self.random_state)
            for _ in range(self.epochs):
                for idx in torch.randperm(len(yt), generator=gen).split(self.batch_size):
                    loss = torch.nn.functional.mse_loss(net(xt[idx]).squeeze(1), yt[idx])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
        finally:
            torch.set_num_threads(before)
        self.state_ = {k: v.detach().clone() for k, v in net.state_dict().items()}
        self.n_inputs_ = xr.shape[1]
        return self

    def _net(self) -> Any:
        import torch

        layers: list[torch.nn.Module] = []
        width = self.n_inputs_
        for h in self.hidden:
            layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
            width = h
        net = torch.nn.Sequential(*layers, torch.nn.Linear(width, 1))
        net.load_state_dict(self.state_)
        return net.eval()

    def predict(self, X: np.ndarray, epoch: np.ndarray | int) -> np.ndarray:
        """Predicted normalised metric of each row of ``X`` at its (1-based) ``epoch``."""
        import torch

        e = np.broadcast_to(np.asarray(epoch, dtype=float), (len(X),))
        xr = np.column_stack([X, np.log(e)])
        with torch.no_grad():
            return self._net()(torch.as_tensor((xr - self.mean_) / self.scale_, dtype=torch.float32)).squeeze(1).numpy().astype(float)

    def predict_curve(self, X: np.ndarray, epochs: int) -> np.ndarray:
        """Predicted curves, shape (rows, epochs)."""
        return np.column_stack([self.predict(X, e) for e in range(1, epochs + 1)])


def curve_lengths(data: ZooData) -> tuple[int, int]:
    """(median, longest) validation-curve length of the runs, in epochs: the predicted curve's default length and
    the horizon past which it is extrapolation (1, 1 without curves)."""
    if not data.curves:
        return 1, 1
    lengths = [len(c) for c in data.curves]
    return int(np.median(lengths)), int(max(lengths))


class ZooPredictor:
    """The zoo predictor: forest (score and interval) + parent network (curve), with the zoo's coverage and the
    provenance of its training runs."""

    def __init__(self, n_estimators: int = 100, curve: bool = True, random_state: int = 0,
                 features: Sequence[str] = FEATURES) -> None:
        self.n_estimators, self.curve, self.random_state, self.features = n_estimators, curve, random_state, tuple(features)

    def fit(self, data: ZooData) -> ZooPredictor:
        """Fit the forest on the pooled normalised target and, with ``curve``, the parent network on the curves."""
        _check_pooled(data, "the zoo predictor")
        scales = data.init_scales()
        if len(scales) > 1:
            mix = ", ".join(f"{k} {v}" for k, v in scales.items())
            raise ZooError(f"the runs mix init scales ({mix} runs): the predictor has no init-scale feature, so fit "
                           "it on runs of one scale (one store, or --study-prefix naming one sweep)")
        self.init_scale_ = next(iter(scales), "fixed")  # its ranks hold for models initialised this way
        self.fill_ = fill_values(data.X)
        X = _fill(data.X, self.fill_, self.features)
        self.forest_ = fit_forest(X, data.target(TARGET), self.n_estimators, self.random_state)
        self.parent_ = CurveNetwork(random_state=self.random_state).fit(X, data.curves) if self.curve else None
        self.coverage_ = {c: (float(np.nanmin(data.X[c])), float(np.nanmax(data.X[c]))) for c in COVERAGE
                          if data.X[c].notna().any()}
        self.hidden_proportion_range_ = (float(data.X["hidden_proportion"].min()), float(data.X["hidden_proportion"].max()))
        self.defaults_ = {"lr": float(math.exp(np.nanmedian(data.X["log_lr"])))}
        self.epochs_, self.epochs_max_ = curve_lengths(data)
        self.tasks_ = dict(data.tasks)
        self.n_records_ = len(data)
        self.skipped_ = dict(data.skipped)
        self.provenance_: dict[str, Any] = {}
        return self

    @property
    def training_init_scale(self) -> str:
        """The init scale of the runs it was fitted on (its ranks hold for models initialised that way). Files
        saved before the attribute existed were all fitted on runs at the default, ``fixed``."""
        return str(getattr(self, "init_scale_", "fixed"))

    def check_fitted(self) -> None:
        """scikit-learn's NotFittedError (a ValueError) before :meth:`fit`, not an AttributeError from the middle of
        a prediction or a recommendation."""
        if not hasattr(self, "forest_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit (or load a fitted one)")

    def _X(self, X: pd.DataFrame) -> np.ndarray:
        self.check_fitted()
        return _fill(X, self.fill_, self.features)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predicted normalised score (forest)."""
        Xa = self._X(X)  # NotFittedError before the forest is read
        return self.forest_.predict(Xa)

    def per_tree(self, X: pd.DataFrame) -> np.ndarray:
        """The trees' predictions, (trees, rows): the forest's spread, for intervals and paired comparisons."""
        Xa = self._X(X)
        return np.stack([t.predict(Xa) for t in self.forest_.estimators_])

    def predict_interval(self, X: pd.DataFrame, q: tuple[float, float] = INTERVAL) -> tuple[np.ndarray, np.ndarray]:
        """Quantiles ``q`` of the trees' predictions per row."""
        per_tree = self.per_tree(X)
        return np.quantile(per_tree, q[0], axis=0), np.quantile(per_tree, q[1], axis=0)

    def agreement(self, X: pd.DataFrame, row: int, others: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Per row of ``others``: the share of trees that predict row ``row`` above it, and the share that predict
        the two equal (paired, tree by tree; trees with leaves of many runs tie often). How sure the forest is that
        one candidate beats another, which the two means alone do not say."""
        P = self.per_tree(X.iloc[[row, *others]])
        return (P[:, :1] > P[:, 1:]).mean(axis=0), (P[:, :1] == P[:, 1:]).mean(axis=0)

    def predict_parent(self, X: pd.DataFrame, epoch: np.ndarray | int) -> np.ndarray:
        """The parent network's predicted normalised metric at ``epoch``."""
        self.check_fitted()
        if self.parent_ is None:
            raise ZooError("this zoo predictor was fitted without the parent network")
        return self.parent_.predict(self._X(X), epoch)

    def order_score(self, X: pd.DataFrame, epochs: int | None = None) -> np.ndarray:
        """What the recommender maximises over candidates of one task: with :data:`ENSEMBLE` and a parent network,
        the mean of the candidates' ranks (in [0, 1]) under the forest and under the parent network's prediction at
        the last of ``epochs``; else the forest's prediction."""
        forest = self.predict(X)
        if not ENSEMBLE or self.parent_ is None or len(X) < 2:
            return forest
        from scipy.stats import rankdata

        parent = self.predict_parent(X, int(epochs or self.epochs_))
        return (rankdata(forest) + rankdata(parent) - 2.0) / (2.0 * (len(X) - 1))

    def predict_curve(self, X: pd.DataFrame, epochs: int | None = None) -> np.ndarray:
        """The parent network's predicted curves, (rows, epochs); ``epochs`` defaults to the zoo's median."""
        self.check_fitted()
        if self.parent_ is None:
            raise ZooError("this zoo predictor was fitted without the parent network")
        return self.parent_.predict_curve(self._X(X), int(epochs or self.epochs_))

    def outside(self, row: Mapping[str, float]) -> list[str]:
        """What of a candidate's task lies outside the zoo's range (empty when covered)."""
        names = {"log_dx_over_dy": "dx/dy", "log_budget_over_dxdy": "budget/(dx·dy)", "log_T": "sequence length T",
                 "log_n_train": "training sequences"}
        out = []
        for c, (lo, hi) in self.coverage_.items():
            v = float(row.get(c, math.nan))
            if math.isfinite(v) and not lo - 1e-9 <= v <= hi + 1e-9:
                out.append(f"{names[c]} {math.exp(v):.3g} (zoo: {math.exp(lo):.3g}..{math.exp(hi):.3g})")
        return out

    def outside_epochs(self, epochs: int | None) -> list[str]:
        """``epochs`` beyond the longest validation curve the parent network learnt from (empty when within, or
        for a predictor saved before this was recorded): past it the predicted curve is extrapolation."""
        horizon = getattr(self, "epochs_max_", None)
        if epochs is None or horizon is None or self.parent_ is None or epochs <= horizon:
            return []
        return [f"epochs {int(epochs)} (the zoo's curves: 1..{horizon})"]

    def outside_sizes(self, dx: int, dy: int) -> list[str]:
        """dx or dy outside the range of the zoo's tasks (empty when inside)."""
        out = []
        for name, v in (("dx", dx), ("dy", dy)):
            vals = [int(t[name]) for t in self.tasks_.values()]
            if not min(vals) <= v <= max(vals):
                out.append(f"{name} {v} (zoo: {min(vals)}..{max(vals)})")
        return out

    def shape_outside(self, dx: int, dy: int) -> bool:
        """Whether dx/dy lies outside every shape the zoo was trained on."""
        lo, hi = self.coverage_["log_dx_over_dy"]
        return not lo - 1e-9 <= log_dx_over_dy(dx, dy) <= hi + 1e-9


def feature_schema() -> dict[str, Any]:
    """What a saved zoo predictor depends on: schema version, features and target."""
    return {"schema_version": ZOO_SCHEMA_VERSION, "features": list(FEATURES), "target": f"normalized_target:{TARGET}"}


# ------------------------------------------------------------------------------------------------ evaluation
def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (scipy), NaN when either side is constant or there are fewer than 3 pairs."""
    from scipy.stats import spearmanr

    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(spearmanr(a, b).statistic)


def loto_folds(task: np.ndarray) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Leave-one-task-out folds: (held-out task, train indices, test indices); no fold trains on its task."""
    task = np.asarray(task, dtype=object)
    return [(str(t), np.flatnonzero(task != t), np.flatnonzero(task == t)) for t in dict.fromkeys(task)]


def _check_pooled(data: ZooData, what: str) -> None:
    """Runs of fewer than two tasks (or fewer than 10 runs) teach nothing across tasks: say so, and which runs were
    left out and why, before any fitting."""
    if len(data) < 10 or len(set(data.task)) < 2:
        left_out = ", ".join(f"{n} {why}" for why, n in data.skipped.items())
        raise ZooError(f"{what} needs runs of at least two tasks (10 runs), got {len(data)} runs of "
                       f"{len(set(data.task))} task(s)" + (f"; left out: {left_out}" if left_out else ""))


def leave_one_task_out(data: ZooData, feature_sets: Mapping[str, Sequence[str]] | None = None, parent: bool = True,
                       n_estimators: int = 100, random_state: int = 0, progress: Any = None,
                       target: str = TARGET, other_target: bool = False,
                       held_out: Sequence[str] | None = None) -> pd.DataFrame:
    """Per held-out task (every task, or only those in ``held_out``), Spearman between predicted and actual
    normalised scores of its runs, for the forest on each feature set (:data:`ABLATIONS`), the parent network (its
    curve at the run's last epoch) and the parameter count (bigger is better), all on the same folds. Also the
    parent network's mean absolute error over the held-out curves. One row per task. The forests fit ``target``;
    ``other_target`` adds the forest fitted on the other one (same folds; every model is judged against the same
    chance-normalised score), and the mean of the forest's and the parent network's within-task ranks ("forest +
    parent network")."""
    _check_pooled(data, "leave-one-task-out")
    sets = dict(feature_sets or ABLATIONS)
    rows = []
    for task, train, test in loto_folds(data.task):
        if held_out is not None and task not in held_out:
            continue
        if progress:
            progress(f"held out {task}")
        tr, te = data.subset(np.isin(np.arange(len(data)), train)), data.subset(np.isin(np.arange(len(data)), test))
        row: dict[str, Any] = {"task": task, "runs": len(te), "dx": te.tasks[task]["dx"], "dy": te.tasks[task]["dy"],
                               "kind": te.tasks[task]["kind"], "headroom": te.tasks[task]["headroom"]}
        fill = fill_values(tr.X)
        forest_pred = None
        for name, cols in sets.items():
            forest = fit_forest(_fill(tr.X, fill, cols), tr.target(target), n_estimators, random_state)
            pred = forest.predict(_fill(te.X, fill, cols))
            row[name] = spearman(pred, te.y)
            if name == "forest":
                forest_pred = pred
        if other_target:
            other = next(t for t in TARGETS if t != target)
            forest = fit_forest(_fill(tr.X, fill, FEATURES), tr.target(other), n_estimators, random_state)
            row[f"forest on the {other} target"] = spearman(forest.predict(_fill(te.X, fill, FEATURES)), te.y)
        if parent:
            net = CurveNetwork(random_state=random_state).fit(_fill(tr.X, fill, FEATURES), tr.curves)
            last = np.array([max(len(c), 1) for c in te.curves])
            parent_pred = net.predict(_fill(te.X, fill, FEATURES), last)
            row["parent network"] = spearman(parent_pred, te.y)
            if other_target and forest_pred is not None:
                from scipy.stats import rankdata

                row["forest + parent network"] = spearman(rankdata(forest_pred) + rankdata(parent_pred), te.y)
            pred = [net.predict_curve(_fill(te.X.iloc[[i]], fill, FEATURES), len(c))[0] for i, c in enumerate(te.curves)]
            err = np.concatenate([np.abs(p - c)[np.isfinite(c)] for p, c in zip(pred, te.curves) if len(c)] or [np.array([np.nan])])
            row["parent curve MAE"] = float(np.mean(err))
            mean_curve = _mean_curve(tr.curves)
            base = np.concatenate([np.abs(mean_curve[np.minimum(np.arange(len(c)), len(mean_curve) - 1)] - c)[np.isfinite(c)]
                                   for c in te.curves if len(c)] or [np.array([np.nan])])
            row["mean-curve MAE"] = float(np.mean(base))
        row["parameter count"] = spearman(te.parameters, te.y)
        row["hidden proportion alone"] = spearman(te.X["hidden_proportion"].to_numpy(), te.y)
        rows.append(row)
    return pd.DataFrame(rows)


def _mean_curve(curves: Sequence[np.ndarray]) -> np.ndarray:
    """The mean normalised curve per epoch over the training runs (the parent network's naive baseline)."""
    n = max(len(c) for c in curves)
    m = np.full((len(curves), n), np.nan)
    for i, c in enumerate(curves):
        m[i, : len(c)] = c
    with np.errstate(all="ignore"):
        out = np.nanmean(m, axis=0)
    return np.where(np.isfinite(out), out, 0.0)


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Median, quartiles and tasks with Spearman ≥ 0.6 per model column of :func:`leave_one_task_out`."""
    cols = [c for c in table.columns if c not in ("task", "runs", "dx", "dy", "kind", "headroom") and "MAE" not in c]
    out = []
    for c in cols:
        v = table[c].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        out.append({"model": c, "median": float(np.median(v)) if v.size else math.nan,
                    "q25": float(np.quantile(v, 0.25)) if v.size else math.nan,
                    "q75": float(np.quantile(v, 0.75)) if v.size else math.nan,
                    "min": float(v.min()) if v.size else math.nan, "tasks": int(v.size),
                    "≥ 0.6": int((v >= 0.6).sum())})
    return pd.DataFrame(out).set_index("model")


def best_configs(data: ZooData) -> pd.DataFrame:
    """Per task, the hidden proportion and densities of its best run (highest raw value), with dx/dy: what the
    figure of the optimum against the task's geometry plots."""
    rows = []
    for t, info in data.tasks.items():
        idx = np.flatnonzero(data.task == t)
        i = idx[int(np.argmax(data.value[idx]))]
        top = idx[np.argsort(-data.value[idx])[: max(3, idx.size // 10)]]  # the best tenth (at least 3 runs)
        x = data.X.iloc[i]
        rows.append({"task": t, "dx": info["dx"], "dy": info["dy"], "dx_over_dy": info["dx"] / info["dy"],
                     "kind": info["kind"], "best_hp": float(x["hidden_proportion"]),
                     "top_hp_median": float(data.X["hidden_proportion"].iloc[top].median()),
                     **{f"best_{b}": float(x[f"density_{b}"]) for b in BLOCKS},
                     "top_hx_median": float(data.X["density_hx"].iloc[top].median()),
                     "top_hh_median": float(data.X["density_hh"].iloc[top].median()),
                     "best_value": float(data.value[i]), "headroom": info["headroom"],
                     "learned": bool(info["headroom"] >= LEARNED)})
    return pd.DataFrame(rows).sort_values("dx_over_dy").reset_index(drop=True)


# ------------------------------------------------------------------------------------------------ shipping
def load_reference_records(storage: str) -> list[dict[str, Any]]:
    """The named configs' trials (``defaults.REFERENCES``: dense, uniform:0.2, balanced) of a store of
    ``experiments/zoo_recommend.py`` (studies ``zoo-recommend-*``). Pooled with the zoo sweep's runs they teach the
    forest what the named configs score: the sweep's random densities almost never sample dense, and without them
    the forest ranked dense low on tasks where it is the best (docs/results.md, session 11)."""
    from ..core.defaults import REFERENCES

    records, _ = load_zoo_records(storage, prefix="zoo-recommend-")
    named = [r for r in records if str((r.get("config") or {}).get("model")) in REFERENCES]
    if not named:  # asked for, none found: the predictor would silently lack them
        raise ZooError(f"no trials of the named configs ({', '.join(REFERENCES)}) in studies named zoo-recommend-… of "
                       f"{_store_name(storage)}: give the store experiments/zoo_recommend.py wrote")
    return named


def _store_name(storage: str) -> str:
    from pathlib import Path

    return _redacted(str(storage)) if "://" in str(storage) else Path(str(storage)).name


def fit_zoo_predictor(storage: str, names: Sequence[str] | None = None, n_estimators: int = 100,
                      random_state: int = 0, references: str | None = None,
                      prefix: str = "zoo-") -> tuple[ZooPredictor, dict[str, Any]]:
    """Fit the zoo predictor on every ``prefix*`` study of a store (or ``names``; ``long4-`` for the zoo trained 4×
    longer by experiments/zoo_long.py), and with ``references`` the named
    configs' trials of that store (:func:`load_reference_records`), with its provenance: the stores' file names
    (never a path of this machine), studies, runs, tasks, git revision and date (library versions are added by
    :func:`balancedrnn.analysis.meta.save_predictor`)."""
    from datetime import datetime, timezone

    from ..env import git_revision

    records, studies = load_zoo_records(storage, names, prefix=prefix)
    if not records:
        raise ZooError(f"no runs in {'the named studies' if names else f'studies named {prefix}…'} of {_store_name(storage)}")
    extra = load_reference_records(references) if references else []
    data = prepare_zoo(records + extra)
    predictor = ZooPredictor(n_estimators=n_estimators, random_state=random_state).fit(data)
    provenance = {
        "store": _store_name(storage), "studies": studies, "runs": len(data), "skipped": dict(data.skipped),
        **({"named_config_trials": {"store": _store_name(references), "runs": len(extra)}} if references else {}),
        "tasks": sorted(data.tasks), "target": f"normalized_target(method={TARGET!r})" + (f", clipped at {TARGET_FLOOR}" if TARGET == "chance" else ""),
        "git_revision": git_revision(), "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    predictor.provenance_ = provenance
    return predictor, provenance


def _redacted(url: str) -> str:
    """A store URL without its password and host details (only the scheme and database name are kept: not the
    credentials of a URL without a database path, nor a query such as ``?password=``)."""
    if "://" not in url:
        return url
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://…/{parts.path.rsplit('/', 1)[-1]}"
