"""scikit-learn/aeon estimators: :class:`BlockRNNClassifier` and :class:`BlockRNNRegressor`.

Why: a researcher who wants a balanced sparse RNN on their own sequences should need three lines and the tools they
already use (``Pipeline``, ``GridSearchCV``, ``clone``, pickling), not a hand-written task. The estimators are thin:
the model comes from :func:`balancedrnn.core.configs.build_model`, ``config="auto"`` from
:func:`balancedrnn.analysis.meta.recommend_config` (the function ``balancedrnn recommend`` calls, so both choose
the same configuration for the same shape and budget), the training loop, loss and early stopping from
:func:`balancedrnn.train.fit`, and the input check from :func:`balancedrnn.tasks.files.as_collection`.

Input (aeon's layouts): a 3-D array ``(n_cases, n_channels, n_timepoints)``; a 2-D array, read as
``(n_cases, n_timepoints)`` univariate series (aeon's reading of 2-D, so scikit-learn's tabular checks see each
row as a short series); or a list of ``(n_channels, n_timepoints_i)`` series of different lengths. Series of
different lengths are batched by length (no padding), so the prediction is read at each series' own last step and
does not depend on the other series in the batch.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, check_random_state, column_or_1d
from torch import nn

from ._version import __version__
from .core.configs import build_model, config_summary, parse_config
from .core.defaults import DEFAULT_INIT, DEFAULT_LR
from .core.spec import check_budget, check_budget_limit
from .env import check_device
from .tasks.base import BatchedSplit, Task
from .tasks.files import as_collection, check_labels

__all__ = ["BlockRNNClassifier", "BlockRNNRegressor"]

STD_FLOOR = 1e-6
"""Smallest standard deviation ``standardize`` divides by (the same floor as the ``ts:`` tasks)."""

_PRIVATE_FITTED = ("_y_1d", "_model_options")
"""Fitted attributes that are not public (no trailing underscore): dropped by a refit like the public ones."""


# --------------------------------------------------------------------------------------------- data plumbing
class _LengthBatches(BatchedSplit):
    """Series of possibly different lengths, batched so that every batch holds series of one length (no padding:
    the last step of a batch is every series' own last step). Each length's series are stacked once."""

    def __init__(self, series: list[np.ndarray], target: torch.Tensor) -> None:
        self.target = target
        self.lengths = np.asarray([s.shape[0] for s in series])
        self._stack: dict[int, torch.Tensor] = {}
        self._row = np.empty(len(series), dtype=np.int64)
        for length in np.unique(self.lengths):
            idx = np.flatnonzero(self.lengths == length)
            self._stack[int(length)] = torch.from_numpy(np.stack([series[i] for i in idx]).astype(np.float32, copy=False))
            self._row[idx] = np.arange(idx.size)

    def batches(self, batch_size: int, order: torch.Tensor | None = None):  # type: ignore[override]
        """``(inputs, targets)`` batches of equal-length series: the series of each length in ``order``'s order,
        cut into batches; batches come in the order of their first series in ``order`` (so a shuffled order gives
        shuffled batches)."""
        ordered = np.arange(len(self)) if order is None else np.asarray(order)
        groups: dict[int, list[int]] = {}
        for i in ordered.tolist():
            groups.setdefault(int(self.lengths[i]), []).append(i)
        position = np.empty(len(self), dtype=np.int64)
        position[ordered] = np.arange(len(ordered))
        chunks = [idx[k : k + batch_size] for idx in groups.values() for k in range(0, len(idx), batch_size)]
        chunks.sort(key=lambda c: position[c[0]])
        for chunk in chunks:
            length = int(self.lengths[chunk[0]])
            yield self._stack[length][torch.from_numpy(self._row[chunk])], self.target[chunk]

    def order_of_batches(self, batch_size: int) -> list[np.ndarray]:
        """Indices of the series in each batch of :meth:`batches` in stored order (to put predictions back)."""
        ordered = np.arange(len(self))
        groups: dict[int, list[int]] = {}
        for i in ordered.tolist():
            groups.setdefault(int(self.lengths[i]), []).append(i)
        chunks = [idx[k : k + batch_size] for idx in groups.values() for k in range(0, len(idx), batch_size)]
        chunks.sort(key=lambda c: c[0])
        return [np.asarray(c) for c in chunks]


class _LastStep(nn.Module):
    """The wrapped model's output at the last step only, as a length-1 sequence (``(b, 1, dy)``): the training
    loss of :func:`balancedrnn.train.loss_fn` then reads the last step for both tasks (cross-entropy for ``last``,
    MSE over the one step for ``all``)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[:, -1:]


@dataclass
class _FitSettings:
    """The fields of a run's config that :func:`balancedrnn.train.fit` reads (``TrainConfig`` has them all; an
    estimator has no registered task, so it passes these)."""

    model: str
    epochs: int
    lr: float
    batch_size: int
    seed: int
    device: str
    patience: int
    checkpoint: None = None
    select_rollouts: int = 0  # no checkpoint selection by rollouts: an estimator's task has no simulator
    select_every: int = 2
    rewire: float = 0.0
    prune: float = 0.0
    init_mean: float = DEFAULT_INIT[0]  # gradual pruning's dense start draws at the estimators' init
    init_std: float = DEFAULT_INIT[1]
    init_scale: str = "fixed"
    kernel: str = "auto"


def _float32(arrays: list[np.ndarray], how: str, what: str = "X") -> list[np.ndarray]:
    """``arrays`` as float32, the dtype the model computes in, or a one-line ValueError when a value does not fit
    in it (finite in float64 but beyond float32's range would become inf, then NaN)."""
    limit = float(np.finfo(np.float32).max)
    for a in arrays:
        big = float(np.abs(a).max()) if a.size else 0.0
        if big > limit:
            raise ValueError(f"{what} contains a value too large for float32 ({big:.3g}"
                             + (f", {how}" if how else "") + f"; float32 holds up to {limit:.3g})")
    return [a.astype(np.float32) for a in arrays]


def _no_load(config: Any, progress: bool) -> Any:  # pragma: no cover - an estimator's task is never loaded
    raise RuntimeError("an estimator's data are passed to fit, not loaded")


# ------------------------------------------------------------------------------------------------ estimators
class _BlockRNNEstimator(BaseEstimator):
    """What both estimators share: parameters, checks, standardisation, training and the forward pass."""

    _regression = False

    def __init__(
        self,
        config: str = "auto",
        budget: float | None = None,
        *,
        epochs: int = 100,
        lr: float = DEFAULT_LR,
        batch_size: int = 16,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        standardize: bool = True,
        readout: str = "lagged",
        activation: str = "relu",
        kernel: str = "auto",
        rewire: float = 0.0,
        prune: float = 0.0,
        random_state: int | np.random.RandomState | None = None,
        device: str = "cpu",
        verbose: bool = False,
    ) -> None:
        self.config = config
        self.budget = budget
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.standardize = standardize
        self.readout = readout
        self.activation = activation
        self.kernel = kernel
        self.rewire = rewire
        self.prune = prune
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        if tags.target_tags is not None and self._regression:
            tags.target_tags.multi_output = True
        return tags

    # ------------------------------------------------------------------------------------------ checks
    def _check_params(self) -> None:
        """Every parameter, before any data is touched (one-line ValueErrors naming the parameter)."""
        for name in ("epochs", "batch_size", "n_iter_no_change"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v <= 0:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if isinstance(self.lr, bool) or not isinstance(self.lr, numbers.Real) or not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")
        from .train import check_masks

        check_masks(self.rewire, self.prune)
        if self.prune and (self.early_stopping or self.epochs < 2):
            raise ValueError("prune needs at least 2 epochs and no early_stopping (an earlier epoch's network is "
                             "denser than the budget)")
        vf = self.validation_fraction
        if isinstance(vf, bool) or not isinstance(vf, numbers.Real) or not 0.0 < vf < 1.0:
            raise ValueError(f"validation_fraction must lie strictly between 0 and 1, got {vf!r}")
        if self.budget is not None:
            if isinstance(self.budget, bool) or not isinstance(self.budget, numbers.Real):
                raise ValueError(f"budget must be None or a positive number, got {self.budget!r}")
            check_budget_limit(check_budget(self.budget))
        if not isinstance(self.config, str):
            raise ValueError(f"config must be 'auto' or a config string, got {self.config!r}")
        if self.config.strip().lower() != "auto":
            parse_config(self.config)  # the grammar (a one-line SpecError, a ValueError)
        for name, choices in (("readout", ("lagged", "current")), ("kernel", ("auto", "dense", "sparse"))):
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}, got {getattr(self, name)!r}")
        from .core.model import ACTIVATIONS

        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")
        check_device(self.device)

    def _check_X(self, X: Any) -> list[np.ndarray]:
        """The series to predict on as ``(n_timepoints, n_channels)`` float32 arrays, standardised with the
        statistics of the fit (``mean_``, present when that fit standardised, whatever ``standardize`` says now);
        the channel count must be the fit's."""
        series = as_collection(X)
        if series[0].shape[0] != self.n_channels_:
            raise ValueError(f"X has {series[0].shape[0]} channel(s), but {type(self).__name__} was fitted on "
                             f"{self.n_channels_}")
        out = [s.T for s in series]
        standardised = "mean_" in self.__dict__
        if standardised:
            out = [(s - self.mean_) / self.scale_ for s in out]
        return _float32(out, "standardised with the training statistics" if standardised else "")

    def _forget_fit(self) -> None:
        """Drop every fitted attribute (a refit starts from the new data alone)."""
        for attr in [k for k in self.__dict__ if (k.endswith("_") and not k.startswith("_")) or k in _PRIVATE_FITTED]:
            del self.__dict__[attr]

    # ------------------------------------------------------------------------------------------ fit
    def _encode_y(self, y: Any, n: int) -> tuple[np.ndarray, int, dict[str, Any]]:  # pragma: no cover - per estimator
        """``(target, dy, fitted attributes of the target)``; sets nothing on the estimator."""
        raise NotImplementedError

    def fit(self, X: Any, y: Any) -> _BlockRNNEstimator:
        """Choose the configuration (``config="auto"``: the recommender, from the data's shape and the budget),
        build the model at the budget and train it; returns self. Everything is checked and trained before any
        fitted attribute changes: a fit that fails leaves the previous fit (or none) as it was."""
        self._check_params()
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        series = [s.T for s in as_collection(X)]
        n = len(series)
        target, dy, fitted = self._encode_y(y, n)
        dx = series[0].shape[1]
        fitted["n_channels_"] = dx
        from .tasks.timeseries import default_budget

        budget = float(self.budget) if self.budget is not None else float(default_budget(dx, dy))
        rng = check_random_state(self.random_state)
        seed = int(self.random_state) if isinstance(self.random_state, numbers.Integral) else int(rng.randint(0, 2**31 - 1))
        train_idx, val_idx = self._validation_split(target, seed)
        info = {"T": float(max(s.shape[0] for s in series)), "n_train": float(train_idx.size)}
        config, recommendation = self._choose_config(dx, dy, budget, info)
        config_summary(config, dx, dy, budget)  # a budget too small for the shape: SpecError, before work
        fitted.update(budget_=budget, config_=config, recommendation_=recommendation, seed_=seed)
        if self.standardize:  # statistics of the training part only: early stopping's held-out series stay unseen
            steps = np.concatenate([series[i] for i in train_idx], axis=0)
            fitted["mean_"] = steps.mean(axis=0)
            fitted["scale_"] = np.maximum(steps.std(axis=0), STD_FLOOR)
            series = [(s - fitted["mean_"]) / fitted["scale_"] for s in series]
        series = _float32(series, "standardised" if self.standardize else "")
        target = self._standardize_y(target, train_idx, fitted)
        tensor = torch.from_numpy(target)

        def split(idx: np.ndarray) -> _LengthBatches:
            return _LengthBatches([series[i] for i in idx], tensor[torch.from_numpy(idx)])

        train = split(train_idx)
        data = SimpleNamespace(splits={"train": train, "val": split(val_idx) if val_idx is not None else train},
                               source="arrays passed to fit")
        task = Task(name=type(self).__name__, dx=dx, dy=dy, loss="all" if self._regression else "last",
                    metric="loss" if self._regression else "accuracy", load=_no_load)
        options = self._options_now()
        fitted["_model_options"] = options
        model = self._build(config, budget, dx, dy, seed, options)
        settings = _FitSettings(model=config, epochs=int(self.epochs), lr=float(self.lr),
                                batch_size=int(self.batch_size), seed=seed, device=str(self.device),
                                patience=int(self.n_iter_no_change) if self.early_stopping else 0,
                                rewire=float(self.rewire), prune=float(self.prune), kernel=str(self.kernel))
        from .train import Diverged, fit

        try:
            history = fit(_LastStep(model), data, task, settings, progress=bool(self.verbose))  # type: ignore[arg-type]
        except Diverged as e:
            raise RuntimeError(f"{type(self).__name__}: {e}; try a smaller lr (now {self.lr:g})") from None
        model.eval()
        fitted.update(model_=model, summary_=dict(model.summary()), n_iter_=len(history.train_loss),  # type: ignore[operator]
                      loss_curve_=list(history.train_loss))
        fitted["best_epoch_"] = int(getattr(history, "best_epoch", None) or fitted["n_iter_"])
        if val_idx is not None:
            fitted["validation_loss_"] = [float(v["loss"]) for v in history.val]
        self._forget_fit()
        self.__dict__.update(fitted)
        return self

    def _standardize_y(self, target: np.ndarray, train_idx: np.ndarray, fitted: dict[str, Any]) -> np.ndarray:
        """The training target as the model learns it (the regressor standardises it; see there)."""
        return target

    def _choose_config(self, dx: int, dy: int, budget: float, task: dict[str, float]) -> tuple[str, Any]:
        """``(config string, recommendation or None)``: ``auto`` asks the one recommender ``balancedrnn
        recommend`` asks (default predictor, seed 0), with the data's longest series (T) and training series
        (as ``recommend --steps --n-train``); any other string is used as given."""
        if self.config.strip().lower() != "auto":
            return self.config, None
        from .analysis.meta import recommend_config

        rec = recommend_config(dx, dy, budget, regression=self._regression, predictor="default", seed=0, task=task)
        if rec.shape_outside:  # recommend refuses it without --extrapolate; an estimator fits it and says so
            import warnings

            warnings.warn(f"{rec.shape_outside_message}; fitting it anyway (pass config= to choose)", UserWarning,
                          stacklevel=3)
        return rec.config, rec

    def _validation_split(self, target: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
        """``(train indices, validation indices or None)``: with early stopping, ``validation_fraction`` of the
        series held out (stratified by class for the classifier), seeded."""
        n = len(target)
        if not self.early_stopping:
            return np.arange(n), None
        if self._regression:
            perm = np.random.default_rng(seed).permutation(n)
            k = int(round(self.validation_fraction * n))
            train, val = np.sort(perm[k:]), np.sort(perm[:k])
        else:
            from .tasks.timeseries import stratified_holdout

            train, val = stratified_holdout(target, float(self.validation_fraction), seed)
        if val.size == 0 or train.size == 0:
            raise ValueError(f"early_stopping: validation_fraction={self.validation_fraction:g} of {n} series leaves "
                             f"{val.size} for validation and {train.size} for training; give more series or a larger fraction")
        return train, val

    # ------------------------------------------------------------------------------------------ predict
    @torch.no_grad()
    def _last_step(self, X: Any) -> np.ndarray:
        """The model's output at each series' last step, ``(n_cases, dy)``, in the order of ``X``."""
        series = self._check_X(X)
        split = _LengthBatches(series, torch.zeros(len(series)))
        out = np.empty((len(series), self.summary_["dy"]), dtype=np.float64)
        self.model_.eval()
        device = next(self.model_.parameters()).device  # the model's, not the parameter's (see __setstate__)
        batch = 256
        for idx, (x, _) in zip(split.order_of_batches(batch), split.batches(batch)):
            out[idx] = self.model_(x.to(device))[:, -1].double().cpu().numpy()
        bad = ~np.isfinite(out).all(axis=1)
        if bad.any():  # a NaN would otherwise become class 0 or a NaN prediction
            raise ValueError(f"the model's output is not finite for {int(bad.sum())} of {len(out)} series (the first: "
                             f"#{int(np.flatnonzero(bad)[0])}); are their values far outside the training data's?")
        return out

    def _options_now(self) -> dict[str, str]:
        """The parameters :func:`build_model` reads besides the config: recorded at fit (``_model_options``), so a
        pickle rebuilds the fitted model, not one of parameters changed by a later ``set_params``."""
        return {"readout": self.readout, "activation": self.activation, "device": self.device, "kernel": self.kernel}

    def _build(self, config: str, budget: float, dx: int, dy: int, seed: int, options: dict[str, str]) -> nn.Module:
        """The untrained model of ``config`` at ``budget`` (masks and initial values from ``seed``) with the
        options of :meth:`_options_now`."""
        return build_model(config, dx, dy, budget, seed=seed, **options)  # type: ignore[arg-type]

    def __getstate__(self) -> dict[str, Any]:
        """Pickled as the model's state dict (masks included) on the CPU, not as the module: no kernel caches are
        carried along, and a model trained on a GPU then loads on any machine. The
        balancedrnn version is recorded, so a pickle that another version cannot load says which made it."""
        state = dict(super().__getstate__())  # object.__getstate__ gives the instance dict itself
        if "model_" in state:
            state["model_"] = {k: v.detach().cpu() for k, v in state["model_"].state_dict().items()}
            state["_balancedrnn_version"] = __version__
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Rebuild the model (:func:`build_model`, same config, budget and seed) and load its trained state
        (strictly: every tensor, masks included, must match the rebuilt model's). A model fitted on a device this
        machine lacks (a GPU) is rebuilt on the CPU, with a warning."""
        state = dict(state)
        made_by = state.pop("_balancedrnn_version", "an unrecorded version")
        weights = state.get("model_")
        super().__setstate__(state)
        if isinstance(weights, dict):
            options = dict(self.__dict__.get("_model_options") or self._options_now())  # an older pickle: the parameters
            try:
                check_device(options["device"])
            except ValueError as e:
                import warnings

                warnings.warn(f"{type(self).__name__} fitted on {str(e).split(';')[0]}; its model is loaded on the CPU",
                              UserWarning, stacklevel=2)
                options["device"] = "cpu"
            model = self._build(self.config_, self.budget_, self.n_channels_, int(self.summary_["dy"]), self.seed_, options)
            try:
                model.load_state_dict(weights)
            except RuntimeError as e:
                raise ValueError(f"this {type(self).__name__} was pickled by balancedrnn {made_by} and its model does "
                                 f"not load in balancedrnn {__version__}: {str(e).splitlines()[0]}") from None
            self.model_ = model.eval()


class BlockRNNClassifier(ClassifierMixin, _BlockRNNEstimator):
    """A block RNN classifying each series at its last step (cross-entropy there, as the paper's RAD).

    Parameters
    ----------
    config : ``"auto"`` (the recommender chooses densities and dh from the data's shape, its longest series T,
        the training series N and the budget before training, exactly as ``balancedrnn recommend --dx DX --dy DY
        --budget B --steps T --n-train N``, with ``--regression`` for :class:`BlockRNNRegressor`) or any model
        config the library accepts (``balanced``, ``dense``, ``uniform:0.2``, ``hx=..,hh=..,...``, ``lstm``, ...).
    budget : trainable weights; None: the dense model with 64 hidden units' count for the data's shape
        (:func:`balancedrnn.tasks.timeseries.default_budget`, as the ``ts:`` tasks).
    epochs, lr, batch_size : Adam at a constant learning rate, no clipping, no weight decay.
    early_stopping, validation_fraction, n_iter_no_change : hold out ``validation_fraction`` (stratified), stop
        when its loss has not improved for ``n_iter_no_change`` epochs and keep the best epoch's weights.
    standardize : standardise every channel with the training series' mean and std.
    readout, activation, kernel : the block RNN's options (see :class:`balancedrnn.BlockRNN`).
    rewire : dynamic sparsity, not the paper's fixed masks: after each epoch every sparse block moves this fraction
        of its entries (SET), decayed by a cosine; densities and budget are kept (``TrainConfig.rewire``). 0: fixed.
    prune : gradual magnitude pruning, not the paper's fixed masks: start from the dense network of the config's
        hidden size and prune every block to its density over this fraction of the epochs (``TrainConfig.prune``;
        the trained model keeps the budget). 0: fixed masks.
    random_state : seed of masks, initial values, data order and the validation split.
    device : torch device.

    Attributes
    ----------
    classes_, config_ (the config string used; explicit densities for ``auto``), recommendation_ (the
    :class:`~balancedrnn.analysis.meta.Recommendation`, or None), budget_, model_ (the trained torch module),
    summary_ (dh, densities, weights, hidden proportion), n_iter_, loss_curve_, best_epoch_, validation_loss_
    (with early stopping), n_channels_, mean_ and scale_ (with standardize), seed_ (the seed used: random_state,
    or the one drawn from it).
    """

    def _encode_y(self, y: Any, n: int) -> tuple[np.ndarray, int, dict[str, Any]]:
        y = check_labels(column_or_1d(y, warn=True), n)
        check_classification_targets(y)
        classes, encoded = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise ValueError(f"y has one class only ({classes[0]!r}); a classifier needs at least two")
        return encoded.astype(np.int64), int(classes.size), {"classes_": classes}

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(n_cases, n_classes)`` (softmax of the last step), columns in ``classes_`` order."""
        check_is_fitted(self, "model_")
        logits = self._last_step(X)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each series."""
        check_is_fitted(self, "model_")
        return self.classes_[np.argmax(self._last_step(X), axis=1)]


class BlockRNNRegressor(RegressorMixin, _BlockRNNEstimator):
    """A block RNN predicting one number (or ``n_targets``) per series at its last step (MSE there). Same
    parameters as :class:`BlockRNNClassifier`; with ``standardize`` the targets are standardised too (``y_mean_``,
    ``y_scale_``; predictions are put back on their scale). Attributes as the classifier's, without ``classes_``."""

    _regression = True

    def _encode_y(self, y: Any, n: int) -> tuple[np.ndarray, int, dict[str, Any]]:
        y = np.asarray(y)
        if y.dtype.kind == "c":  # float64 would drop the imaginary part (a ComplexWarning only), as X's check says
            raise ValueError("Complex data not supported: y holds complex numbers")
        fitted: dict[str, Any] = {"_y_1d": y.ndim == 1}
        y = np.asarray(check_labels(y, n) if y.ndim == 1 else y, dtype=np.float64)
        if y.ndim == 1:
            y = y[:, None]
        if y.ndim != 2 or y.shape[0] != n:
            raise ValueError(f"y must be (n_cases,) or (n_cases, n_targets) with n_cases={n}, got shape {y.shape}")
        if not np.isfinite(y).all():
            raise ValueError("y contains NaN or infinite values")
        if self.standardize:  # standardised (and checked against float32) with the training part's statistics
            return y[:, None, :], int(y.shape[1]), fitted
        return _float32([y], "", what="y")[0][:, None, :], int(y.shape[1]), fitted

    def _standardize_y(self, target: np.ndarray, train_idx: np.ndarray, fitted: dict[str, Any]) -> np.ndarray:
        """With ``standardize``, the target in units of the training part's mean and std (early stopping's
        held-out series do not enter them), as float32."""
        if not self.standardize:
            return target
        y = target[train_idx, 0, :]
        fitted["y_mean_"] = y.mean(axis=0)
        fitted["y_scale_"] = np.maximum(y.std(axis=0), STD_FLOOR)
        return _float32([(target[:, 0, :] - fitted["y_mean_"]) / fitted["y_scale_"]], "standardised", what="y")[0][:, None, :]

    def predict(self, X: Any) -> np.ndarray:
        """The prediction at each series' last step: ``(n_cases,)`` for a 1-D y, else ``(n_cases, n_targets)``."""
        check_is_fitted(self, "model_")
        out = self._last_step(X)
        if "y_scale_" in self.__dict__:  # the fit standardised y, whatever standardize says now
            out = out * self.y_scale_ + self.y_mean_
        return out[:, 0] if self._y_1d else out
