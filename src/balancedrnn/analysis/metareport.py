"""Honest evaluation of the meta-learner and its report (SPEC §8).

Two kinds of held-out splits, the same for every model:

* **grouped CV** (``GroupKFold``): the groups are configs without their seeds, so repeats of one config never
  sit on both sides;
* **leave-one-data-set-out** (``LeaveOneGroupOut`` over tasks), when the records cover at least two tasks;
* **leave-one-budget-out**: for every task run at two or more budgets, each of its budgets in turn is held out
  (the model trains on everything else, other tasks included): transfer to a budget it has not seen.

Every model is scored beside the baselines: majority class / mean (``dummy``), the parameter count alone,
every feature but the hidden proportion (the ablation testing the paper's claim), the full forest, and the
parent network (regression only). Metrics: accuracy and balanced accuracy of the per-task quantile class,
R², MAE and Spearman of the metric; the transfer splits also report ``top_pick``, the percentile (0..1)
within the held-out part of the actual metric of the run the model ranks first. The hidden-proportion ablation
is also reported fold by fold: the forest's score minus the same forest's without the hidden proportion, on the
same folds. Permutation importances are computed on the held-out folds of grouped CV; their spread is over
folds x repeats.
"""

from __future__ import annotations

import html
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.inspection import permutation_importance
from sklearn.metrics import accuracy_score, balanced_accuracy_score, mean_absolute_error, r2_score
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut

from .meta import (
    FEATURES,
    MIN_RECORDS,
    NO_HP_FEATURES,
    PARAMETER_FEATURES,
    MetaData,
    MetaPredictor,
    ParentNetwork,
    PerformanceClassifier,
    PerformanceRegressor,
    TooFewRecords,
    class_names,
    config_features,
    features_frame,
    performance_classes,
    require_records,
)
from .report import draw_chance, figure_html, panels, pyplot, save_figure, table_html, table_md, write_html_page
from ..core.spec import BLOCKS, SpecError, solve_hidden_proportion

MODELS: tuple[str, ...] = ("dummy", "parameters only", "no hidden proportion", "forest", "parent network")
"""Rows of the score tables, baselines first."""
CLASS_METRICS = ("accuracy", "balanced_accuracy")
REG_METRICS = ("r2", "mae", "spearman")
SPLITS: dict[str, str] = {
    "grouped": "Grouped {k}-fold CV (repeats of a config never on both sides)",
    "lodo": "Leave-one-data-set-out",
    "lobo": "Leave-one-budget-out (a task's runs at one budget held out)",
}
"""Split kinds and their titles, in report order."""


@dataclass
class Evaluation:
    """Scores per split kind, model and metric; permutation importances; out-of-fold predictions."""

    scores: pd.DataFrame
    """Long table: split, model, metric, mean, std, folds."""
    importances: pd.DataFrame
    """Index feature; columns regressor_mean/std (R² drop) and classifier_mean/std (balanced-accuracy drop); the std
    is the sample standard deviation (ddof 1) over folds x repeats."""
    oof: pd.DataFrame
    """Grouped-CV out-of-fold predictions: task, actual, forest, parent network, hidden proportion, classes."""
    folds: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Long table of every score: split, model, fold, metric, value."""
    hp_gain: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Per split and metric: forest minus no-hidden-proportion forest on the same folds (mean, std, folds where
    it helped, folds)."""
    info: dict[str, Any] = field(default_factory=dict)

    def table(self, split: str) -> pd.DataFrame:
        """Model x metric table of ``mean ± std`` strings for one split kind (``grouped`` or ``lodo``)."""
        part = self.scores[self.scores["split"] == split]
        if part.empty:
            return pd.DataFrame()
        cells = part.assign(cell=[_cell(m, s) for m, s in zip(part["mean"], part["std"])])
        t = cells.pivot(index="model", columns="metric", values="cell")
        cols = [c for c in (*CLASS_METRICS, *REG_METRICS, "top_pick") if c in t.columns]
        return t.reindex([m for m in MODELS if m in t.index])[cols].fillna("n/a")

    def summary(self) -> str:
        """One sentence: what the evaluation ran on."""
        i = self.info
        return (f"Records: {i['n_records']} runs of {i['n_groups']} configs on {i['n_tasks']} task(s) "
                f"({i['skipped']}); classes: {i['n_classes']} per-task quantiles; seed {i['random_state']}.")

    def sections(self) -> list[tuple[str, pd.DataFrame | str]]:
        """The parts of every rendering (markdown, HTML), in order: (heading, table, or why it was not run)."""
        i = self.info
        out: list[tuple[str, pd.DataFrame | str]] = []
        for split, title in SPLITS.items():
            t = self.table(split)
            out.append((title.format(k=i["n_splits"]),
                        t.reset_index() if len(t) else f"not run: {i.get(split + '_note', 'not applicable')}"))
        if len(self.hp_gain):
            gain = pd.DataFrame([{"split": r.split, "metric": r.metric, "gain (mean ± std over folds)": f"{r.mean:+.3f} ± {r.std:.3f}",
                                  "folds where it helped": f"{r.helped}/{r.folds}"} for r in self.hp_gain.itertuples()])
            out.append(("What the hidden proportion adds (forest minus forest without it, same folds; for mae a "
                        "negative gain is an improvement)", gain))
        imp = self.importances.sort_values("regressor_mean", ascending=False)
        out.append(("Permutation importances (held-out folds of grouped CV; mean ± std over folds x repeats)",
                    pd.DataFrame([{"feature": f, "regressor (R² drop)": _cell(r["regressor_mean"], r["regressor_std"]),
                                   "classifier (balanced-accuracy drop)": _cell(r["classifier_mean"], r["classifier_std"])}
                                  for f, r in imp.iterrows()])))
        return out

    def to_markdown(self) -> str:
        """The scores and importances as markdown tables."""
        lines = [self.summary(), ""]
        for heading, part in self.sections():
            lines += [f"### {heading}", "", table_md(part) if isinstance(part, pd.DataFrame) else part, ""]
        return "\n".join(lines) + "\n"


def _cell(mean: float, std: float) -> str:
    return "n/a" if not math.isfinite(mean) else f"{mean:.3f} ± {std:.3f}" if math.isfinite(std) else f"{mean:.3f}"


def evaluation_html(evaluation: Evaluation) -> list[str]:
    """The evaluation's summary and tables as HTML fragments (the predictor part of every HTML report)."""
    parts = [f"<p>{html.escape(evaluation.summary())}</p>"]
    for heading, part in evaluation.sections():
        parts += [f"<h3>{html.escape(heading)}</h3>",
                  table_html(part) if isinstance(part, pd.DataFrame) else f"<p>{html.escape(part)}</p>"]
    return parts


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(spearmanr(a, b).statistic)


def _top_pick(y: np.ndarray, pred: np.ndarray) -> float:
    """Share of the held-out runs whose metric is at most that of the run predicted best (1 = picked the best)."""
    if np.ptp(pred) == 0:  # constant predictions pick nothing: score the median run
        return float(np.mean(y <= np.median(y)))
    return float(np.mean(y <= y[int(np.argmax(pred))]))


def _models(n_estimators: int, random_state: int, parent: bool, parent_params: dict[str, Any]) -> dict[str, tuple[tuple[str, ...], Callable[[], Any] | None, Callable[[], Any] | None]]:
    """Model name -> (features, classifier factory, regressor factory)."""
    def clf() -> Any:
        return PerformanceClassifier(n_estimators, random_state=random_state)

    def reg() -> Any:
        return PerformanceRegressor(n_estimators, random_state=random_state)

    out: dict[str, Any] = {
        "dummy": (FEATURES, lambda: DummyClassifier(strategy="most_frequent"), DummyRegressor),
        "parameters only": (PARAMETER_FEATURES, clf, reg),
        "no hidden proportion": (NO_HP_FEATURES, clf, reg),
        "forest": (FEATURES, clf, reg),
    }
    if parent:
        out["parent network"] = (FEATURES, None, lambda: ParentNetwork(random_state=random_state, **parent_params))
    return out


def held_out_splits(data: MetaData, n_splits: int = 5) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """(train, test) index pairs: ``grouped`` (GroupKFold over configs without seeds, at most ``n_splits``
    folds) and, with two or more tasks, ``lodo`` (one fold per held-out task). Every model sees these splits."""
    k = min(n_splits, len(pd.unique(data.group)))
    splits = {"grouped": list(GroupKFold(n_splits=k).split(data.X, data.y, data.group))}
    if len(pd.unique(data.task)) >= 2:
        splits["lodo"] = list(LeaveOneGroupOut().split(data.X, data.y, data.task))
    budget = data.X["budget"].to_numpy()
    lobo = []
    for task in pd.unique(data.task):
        in_task = np.asarray(data.task == task)
        budgets = np.unique(budget[in_task])
        if len(budgets) >= 2:
            for b in budgets:
                held = in_task & (budget == b)
                lobo.append((np.flatnonzero(~held), np.flatnonzero(held)))
    if lobo:
        splits["lobo"] = lobo
    return splits


def evaluate(
    data: MetaData,
    n_splits: int = 5,
    n_classes: int = 3,
    n_estimators: int = 200,
    n_repeats: int = 5,
    parent: bool = True,
    parent_params: dict[str, Any] | None = None,
    random_state: int = 0,
    progress: Callable[[str], None] | None = None,
) -> Evaluation:
    """Score every model of :data:`MODELS` on grouped CV and leave-one-data-set-out (see module docstring)."""
    require_records(data, max(MIN_RECORDS, 2 * n_classes), "evaluate a predictor")
    groups = pd.unique(data.group)
    if len(groups) < 2:
        raise TooFewRecords(f"grouped cross-validation needs runs of at least 2 distinct configs, got {len(groups)}")
    labels, _ = performance_classes(data.y, data.task, n_classes)
    X, y = data.X, data.y
    models = _models(n_estimators, random_state, parent, dict(parent_params or {}))
    splits = held_out_splits(data, n_splits)
    k = len(splits["grouped"])
    if all(len(te) < 2 for _, te in splits["grouped"]):  # the importances are scored on a held-out fold
        raise TooFewRecords(f"grouped {k}-fold CV over {len(data)} runs of {len(groups)} configs holds out one run per "
                            f"fold: permutation importances need two; give fewer splits (--n-splits {max(2, k // 2)})")
    tasks = pd.unique(data.task)
    rows: list[dict[str, Any]] = []
    imp_reg, imp_clf = [], []
    oof = pd.DataFrame({"task": data.task, "group": data.group, "actual": y, "hidden_proportion": X["hidden_proportion"].to_numpy(),
                        "actual_class": labels, "forest": np.nan, "parent network": np.nan, "forest_class": -1})
    for split, folds in splits.items():
        for fold, (tr, te) in enumerate(folds):
            if progress:
                progress(f"{split} fold {fold + 1}/{len(folds)}")
            for name, (feats, make_clf, make_reg) in models.items():
                Xtr, Xte = X.iloc[tr][list(feats)], X.iloc[te][list(feats)]
                scores: dict[str, float] = {}
                if make_clf is not None:
                    c = make_clf().fit(Xtr, labels[tr])
                    pc = c.predict(Xte)
                    scores["accuracy"] = accuracy_score(labels[te], pc)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # classes absent from a fold
                        scores["balanced_accuracy"] = balanced_accuracy_score(labels[te], pc)
                if make_reg is not None:
                    r = make_reg().fit(Xtr, y[tr])
                    pr = r.predict(Xte)
                    scores["r2"] = r2_score(y[te], pr) if len(te) > 1 else math.nan
                    scores["mae"] = mean_absolute_error(y[te], pr)
                    scores["spearman"] = _spearman(y[te], pr)
                    if split != "grouped":
                        scores["top_pick"] = _top_pick(y[te], pr)
                for metric, value in scores.items():
                    rows.append({"split": split, "model": name, "fold": fold, "metric": metric, "value": float(value)})
                if split != "grouped":
                    continue
                if name == "forest":
                    oof.loc[oof.index[te], "forest"] = pr
                    oof.loc[oof.index[te], "forest_class"] = pc
                    if len(te) > 1:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore", UserWarning)  # classes absent from a small fold
                            imp_reg.append(permutation_importance(r, Xte, y[te], scoring="r2", n_repeats=n_repeats,
                                                                  random_state=random_state + fold).importances)
                            imp_clf.append(permutation_importance(c, Xte, labels[te], scoring="balanced_accuracy",
                                                                  n_repeats=n_repeats, random_state=random_state + fold).importances)
                elif name == "parent network":
                    oof.loc[oof.index[te], "parent network"] = pr
    long = pd.DataFrame(rows)
    scores_frame = (long.groupby(["split", "model", "metric"], sort=False)["value"]
                    .agg(mean="mean", std="std", folds="count").reset_index())
    ir, ic = np.concatenate(imp_reg, axis=1), np.concatenate(imp_clf, axis=1)
    importances = pd.DataFrame({"regressor_mean": ir.mean(1), "regressor_std": ir.std(1, ddof=1),
                                "classifier_mean": ic.mean(1), "classifier_std": ic.std(1, ddof=1)}, index=list(FEATURES))
    info = {"n_records": len(data), "n_groups": len(groups), "n_tasks": len(tasks), "n_splits": k, "n_classes": n_classes,
            "skipped": data.describe_skipped(), "random_state": random_state, "tasks": [str(t) for t in tasks]}
    if len(tasks) < 2:
        info["lodo_note"] = f"needs runs of at least two tasks, got only {tasks[0]}"
    if "lobo" not in splits:
        info["lobo_note"] = "needs a task run at two or more budgets"
    return Evaluation(scores_frame, importances, oof, long, hp_gain(long), info)


def hp_gain(long: pd.DataFrame) -> pd.DataFrame:
    """Fold-by-fold gain of the full forest over the forest without the hidden proportion, per split and metric."""
    both = long[long["model"].isin(["forest", "no hidden proportion"])]
    wide = both.pivot_table(index=["split", "metric", "fold"], columns="model", values="value", aggfunc="first")
    if wide.empty or "forest" not in wide or "no hidden proportion" not in wide:
        return pd.DataFrame(columns=["split", "metric", "mean", "std", "helped", "folds"])
    diff = (wide["forest"] - wide["no hidden proportion"]).dropna()
    better = np.where(diff.index.get_level_values("metric") == "mae", diff < 0, diff > 0)
    frame = pd.DataFrame({"diff": diff.to_numpy(), "better": better}, index=diff.index).reset_index()
    out = frame.groupby(["split", "metric"], sort=False).agg(
        mean=("diff", "mean"), std=("diff", "std"), helped=("better", "sum"), folds=("diff", "count")).reset_index()
    order = {s: i for i, s in enumerate(SPLITS)}
    metrics = {m: i for i, m in enumerate((*CLASS_METRICS, *REG_METRICS, "top_pick"))}
    return out.sort_values(["split", "metric"], key=lambda c: c.map(order if c.name == "split" else metrics)).reset_index(drop=True)


def score(evaluation: Evaluation, split: str, model: str, metric: str) -> float:
    """Mean of one score (NaN when absent)."""
    s = evaluation.scores
    hit = s[(s["split"] == split) & (s["model"] == model) & (s["metric"] == metric)]
    return float(hit["mean"].iloc[0]) if len(hit) else math.nan


# --------------------------------------------------------------------------------------------- report
def hp_curve(predictor: MetaPredictor, data: MetaData, task: str, n: int = 40) -> pd.DataFrame:
    """The predictor's metric against the hidden proportion for one task: its median run's settings, with hx
    or hh solved for each target proportion at the task's median budget (:func:`spec.solve_hidden_proportion`)."""
    part = data.X[data.task == task]
    med = part.median()
    dx, dy, budget = int(part["dx"].iloc[0]), int(part["dy"].iloc[0]), float(med["budget"])
    base = {b: float(med[f"density_{b}"]) for b in BLOCKS}
    rows, hps = [], []
    for target in np.linspace(0.02, 0.95, n):
        try:
            density = solve_hidden_proportion(dx, dy, budget, float(target), base)
            row = config_features(dx, dy, budget, density, lr=med["lr"], init_mean=med["init_mean"],
                                  init_std=med["init_std"], classification=bool(med["classification"]))
        except SpecError:
            continue
        rows.append(row)
        hps.append(row["hidden_proportion"])
    if not rows:
        return pd.DataFrame(columns=["hidden_proportion", "predicted"])
    return pd.DataFrame({"hidden_proportion": hps, "predicted": predictor.predict(features_frame(rows))})


REPORT_FILES = ("report.html", "report.md", "predicted_vs_actual.png", "importances.png", "metric_vs_hidden_proportion.png")
"""The files :func:`write_report` writes."""


def write_report(evaluation: Evaluation, data: MetaData, predictor: MetaPredictor, out_dir: str | Path,
                 with_html: bool = True) -> list[Path]:
    """``report.html`` (self-contained, figures embedded; unless ``with_html`` is False, as inside a reproduction's
    report) and ``report.md`` with the score tables, plus PNGs: predicted vs actual (out of fold), permutation
    importances, and metric vs hidden proportion with the predictor's curve and the chance level of a
    classification task. Returns the paths written, the reports first."""
    from ..io import atomic_write

    plt = pyplot()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    oof = evaluation.oof
    paths = []
    fig, ax = plt.subplots(figsize=(5.6, 5.0))
    for task, part in oof.groupby("task", sort=False):
        ax.scatter(part["actual"], part["forest"], s=14, alpha=0.7, label=f"{task} (forest)")
        if part["parent network"].notna().any():
            ax.scatter(part["actual"], part["parent network"], s=14, alpha=0.5, marker="x", label=f"{task} (parent net)")
    lo, hi = float(np.nanmin(oof[["actual", "forest"]].to_numpy())), float(np.nanmax(oof[["actual", "forest"]].to_numpy()))
    ax.plot([lo, hi], [lo, hi], color="grey", lw=1, ls="--")
    ax.set_xlabel("actual final metric")
    ax.set_ylabel("predicted (grouped CV, out of fold)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(save_figure(fig, out / "predicted_vs_actual.png"))

    imp = evaluation.importances.sort_values("regressor_mean")
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.28 * len(imp) + 1.5), sharey=True)
    for ax, kind, label in ((axes[0], "regressor", "R² drop"), (axes[1], "classifier", "balanced-accuracy drop")):
        ax.barh(imp.index, imp[f"{kind}_mean"], xerr=imp[f"{kind}_std"], color="tab:blue", alpha=0.8)
        ax.set_xlabel(f"permutation importance ({label})")
        ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    paths.append(save_figure(fig, out / "importances.png"))

    tasks = list(pd.unique(data.task))
    fig, axes = panels(len(tasks), 5.0, 4.2)
    for ax, task in zip(axes, tasks):
        m = data.task == task
        ax.scatter(data.X.loc[m, "hidden_proportion"], data.y[m], s=14, alpha=0.7, label="runs")
        curve = hp_curve(predictor, data, str(task))
        if len(curve):
            ax.plot(curve["hidden_proportion"], curve["predicted"], color="tab:red", lw=2, label="predictor")
        chance = data.X.loc[m, "chance"].iloc[0]  # the meta feature: 0 for regression
        draw_chance(ax, float(chance) if chance > 0 else None)
        ax.set_xlabel("hidden proportion")
        ax.set_ylabel(data.metric.get(str(task), "metric"))
        ax.set_title(str(task), fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(save_figure(fig, out / "metric_vs_hidden_proportion.png"))

    classes = f"Classes (per task, worst first): {', '.join(class_names(evaluation.info['n_classes']))}."
    captions = ["Predicted against actual (grouped CV, out of fold)", "Permutation importances",
                "Metric against the hidden proportion, with the predictor's curve (dashed: chance level)"]
    title = "Meta-learning report"
    md = [f"# {title}", "", evaluation.to_markdown(), classes, ""]
    md += [line for cap, p in zip(captions, paths) for line in (f"![{cap}]({p.name})", "")]
    text = "\n".join(md)
    reports = [atomic_write(out / "report.md", lambda f: f.write(text.encode()))]
    if with_html:
        body = [*evaluation_html(evaluation), f"<p>{html.escape(classes)}</p>", "<h2>Figures</h2>",
                *(figure_html(cap, p) for cap, p in zip(captions, paths))]
        reports.insert(0, write_html_page(out / "report.html", title, body))
    return reports + paths
