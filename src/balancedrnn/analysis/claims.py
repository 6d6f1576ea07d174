"""Statistics over seeds and verdicts on the paper's claims.

Per configuration: mean, standard deviation and a 95 % confidence interval of the final metric over seeds:
Student's t, clipped to the metric's range when it has one (:data:`METRIC_RANGE`: accuracies lie in [0, 1], so
an interval of two seeds cannot claim a value below 0 or above 1; skill, 1 − MSE / the mean predictor's, is at most
1; losses and normalized scores stay unclipped).

Each claim is a function of the run records with one shared signature, ``(frame, context) -> Verdict``, in the
registry :data:`CLAIMS`; its verdict is ``supported``, ``contradicted`` or ``inconclusive`` and names the test
that decided it:

* a comparison of two families (say balanced against dense) takes the best configuration of each family by
  mean (the same selection on both sides) and runs Welch's t-test one-sided in each direction at α = 0.05
  (a family of the claim without ok runs keeps it from being supported: that family was never beaten);
* "the hidden proportion explains performance" compares the random forest with and without the hidden
  proportion on the same held-out folds (grouped CV: repeats of a config never on both sides), a one-sided
  paired t-test on the per-fold mean absolute error (R² differences were measured far noisier across folds).
  It is only decided when the forest predicts at all on those folds (MAE below the mean predictor's by the
  same test, and a positive mean Spearman): otherwise both forests fit noise (or one outlier) and the
  difference between them means nothing;
* "the predictor works before training" asks that the forest's out-of-fold predictions rank the configs
  (seeds averaged) like their actual metric within each task (one-sided Spearman test on ranks centred per task:
  pooled over tasks, the ranks would reward knowing which task a run is on) and that its held-out error be below the
  parameter-count baseline's (one-sided paired t-test over folds); it is contradicted only by a test in the other
  direction (ranks significantly reversed, or an error significantly above the baseline's), not by the signs alone;
* "the recommender beats the defaults" takes each held-out task and budget of the plan's recommender stage
  (a predictor fitted on the other tasks recommends a config before training) and runs Welch's test of the
  recommendation against each dense and uniform reference trained with the same seeds and settings. It is
  supported when at least half of these comparisons favour the recommendation significantly and none goes
  against it, contradicted in the mirror case, and inconclusive otherwise.

At the smoke scale the verdicts are computed the same way but say nothing about the paper: the report says so.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

ALPHA = 0.05
"""Significance level of every test."""

VerdictKind = Literal["supported", "contradicted", "inconclusive"]


@dataclass
class Verdict:
    """The outcome of one claim."""

    claim: str
    """Registry name."""
    statement: str
    """The paper's claim, in words."""
    verdict: VerdictKind
    test: str
    """The test that decided it, with its numbers."""
    detail: str = ""
    """What was compared."""
    reference: str = ""
    """The configuration :attr:`pairwise` compares with the others."""
    pairwise: pd.DataFrame | None = None
    """For a "this family does best" claim: its best configuration against every other configuration of the task
    (:func:`versus`), so a reader sees each pair and the multiplicity, not only the best of each family."""


@dataclass
class Claim:
    """A claim of the paper and how it is judged."""

    statement: str
    judge: Callable[[pd.DataFrame, dict[str, Any]], Verdict]


# ------------------------------------------------------------------------------------------ statistics
METRIC_RANGE: dict[str, tuple[float, float]] = {"accuracy": (0.0, 1.0), "balanced_accuracy": (0.0, 1.0),
                                                "success_rate": (0.0, 1.0), "skill": (-math.inf, 1.0)}
"""Metrics with a bounded range; their intervals are clipped to it (skill, 1 − MSE / the MSE of predicting the
training mean, only from above). Metrics absent here (loss, normalized score) are unbounded and their intervals are
not clipped."""
CI_METHOD = "Student's t over seeds, clipped to [0, 1] for accuracies and to at most 1 for skill"
"""How :func:`ci95` computes an interval, in the words the reports print."""


def ci95(values: np.ndarray, metric: str | None = None) -> tuple[float, float]:
    """95 % confidence interval of the mean (Student's t), clipped to ``metric``'s range in
    :data:`METRIC_RANGE` (a t-interval of two accuracies easily reaches below 0; clipping keeps its honest width
    inside the range, where a percentile bootstrap over two seeds would shrink to their min and max); (nan, nan)
    for fewer than two values."""
    from scipy import stats

    v = np.asarray(values, float)
    if len(v) < 2:
        return math.nan, math.nan
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    lo, hi = METRIC_RANGE.get(metric or "", (-math.inf, math.inf))
    return float(np.clip(v.mean() - half, lo, hi)), float(np.clip(v.mean() + half, lo, hi))


def runs_table(records: list[dict[str, Any]], every_status: bool = False) -> pd.DataFrame:
    """One row per ok run (with ``every_status``, per run of any status): task, model, family, config, seed, the final metric, hidden proportion, sizes. ``config``
    names what the statistics group the seeds of: the model, with its budget (``dense @ 30,000``) on a task run at
    several budgets, whose runs at different budgets are different configurations, and with the settings that differ
    (``dense (lr=0.01)``) where runs of one model and budget differ in more than their seeds (a plan's two sweeps at
    other learning rates; :func:`~balancedrnn.analysis.report.with_settings`), labelled over the runs of every status.
    A trial run twice (one config in two sweeps) is one run."""
    from ..core.configs import config_family
    from .report import config_labels, records_frame, with_settings

    frame = records_frame(records)
    same_trial = ["trial_key", "task", "model", "budget", "seed", "status"]
    frame = frame[frame["trial_key"].isna() | ~frame[same_trial].astype(str).duplicated()].copy()
    frame["family"] = [config_family(m) if isinstance(m, str) else "" for m in frame["model"]]
    frame["config"] = with_settings(config_labels(frame), [records[i].get("config") or {} for i in frame.index])
    return frame if every_status else frame[frame["status"] == "ok"].copy()


def config_stats(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (task, config) of :func:`runs_table` (``model`` holds the config): family, runs, mean, std, 95 % CI,
    hidden proportion, dh, weights, and the mean success rate of runs scored by rollouts (NaN for other tasks)."""
    rows = []
    for (task, model), part in frame.groupby(["task", "config"], sort=False):
        v = part["test"].to_numpy(float)
        lo, hi = ci95(v, part["metric"].iloc[0])
        success = part["success_rate"].to_numpy(float)
        rows.append({"task": task, "model": model, "family": part["family"].iloc[0], "budget": part["budget"].iloc[0],
                     "runs": len(v),
                     "mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else math.nan,
                     "ci_low": lo, "ci_high": hi, "hidden_proportion": float(part["hidden_proportion"].mean()),
                     "dh": part["dh"].iloc[0], "weights": part["weights"].iloc[0],
                     "success_rate": float(np.mean(success)) if np.isfinite(success).all() else math.nan})
    return pd.DataFrame(rows)


def welch(a: np.ndarray, b: np.ndarray) -> tuple[VerdictKind, str]:
    """Is ``a`` better than ``b``? Welch's t-test one-sided each way at :data:`ALPHA`."""
    from scipy import stats

    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        return "inconclusive", f"too few seeds for a test ({len(a)} and {len(b)})"
    if np.ptp(np.concatenate([a, b])) == 0:
        return "inconclusive", "all runs scored the same"
    if not _spread(a, b):
        return "inconclusive", (f"no spread within either side ({a.mean():.4g} vs {b.mean():.4g}, n = {len(a)}, {len(b)}, "
                                "each side's runs scored alike): Welch's test is undefined")
    with warnings.catch_warnings():  # nearly equal runs: scipy warns of precision loss, the p-value says enough
        warnings.simplefilter("ignore", RuntimeWarning)
        greater = stats.ttest_ind(a, b, equal_var=False, alternative="greater")
        less = stats.ttest_ind(a, b, equal_var=False, alternative="less")
    # the p-value of the direction the data lean (t's sign): the reader sees which way with how strongly
    text = (f"Welch t = {greater.statistic:.2f}, one-sided p = {min(greater.pvalue, less.pvalue):.3g} in t's "
            f"direction ({a.mean():.4g} vs {b.mean():.4g}, n = {len(a)}, {len(b)})")
    if greater.pvalue < ALPHA:
        return "supported", text
    if less.pvalue < ALPHA:
        return "contradicted", text
    return "inconclusive", text


def _spread(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether Welch's test is defined: some spread within at least one side (with none on either side its standard
    error is 0, t infinite and the degrees of freedom 0/0: two configs stuck at one value each, common on a small test
    set, read as p = 0)."""
    return bool(np.var(a, ddof=1) / len(a) + np.var(b, ddof=1) / len(b) > 0)


def versus(runs: pd.DataFrame, reference: str, column: str = "test") -> pd.DataFrame:
    """``reference`` against every other model of ``runs`` on ``column``: difference of means (reference − other)
    with Welch's one-sided 95 % interval [CI low, ∞) (CI high is inf), t, one-sided p (reference better) and the
    p-value Holm-adjusted over all the comparisons (NaN where a side has fewer than two seeds or neither side has any
    spread). Sorted by the difference. The interval is one-sided as the test is: it excludes 0 exactly when p (one-sided) < 0.05, where a
    two-sided interval could cross 0 beside a p of 0.03."""
    from scipy import stats

    ref = runs.loc[runs["model"] == reference, column].to_numpy(float)
    rows = []
    for model, other in runs[runs["model"] != reference].groupby("model", sort=False)[column]:
        b = other.to_numpy(float)
        row = {"model": model, "seeds": len(b), "difference": ref.mean() - b.mean(), "CI low": np.nan,
               "CI high": np.nan, "t": np.nan, "p (one-sided)": np.nan}
        if len(ref) >= 2 and len(b) >= 2 and _spread(ref, b):
            with warnings.catch_warnings():  # nearly equal runs: scipy warns of precision loss
                warnings.simplefilter("ignore", RuntimeWarning)
                res = stats.ttest_ind(ref, b, equal_var=False, alternative="greater")
                ci = res.confidence_interval(0.95)  # [low, inf): the interval of the one-sided test
            row.update({"CI low": float(ci.low), "CI high": float(ci.high), "t": float(res.statistic),
                        "p (one-sided)": float(res.pvalue)})
        rows.append(row)
    out = pd.DataFrame(rows, columns=["model", "seeds", "difference", "CI low", "CI high", "t", "p (one-sided)"])
    out["p (Holm)"] = holm(out["p (one-sided)"].to_numpy(float))
    return out.sort_values("difference", kind="stable").reset_index(drop=True)


def holm(p: np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values over the finite ones of ``p`` (NaN stays NaN)."""
    p = np.asarray(p, float)
    ok = np.isfinite(p)
    out = np.full(len(p), np.nan)
    if ok.any():  # Holm: the k-th smallest of m p-values times (m - k), made monotone, capped at 1
        idx = np.flatnonzero(ok)[np.argsort(p[ok], kind="stable")]
        out[idx] = np.minimum(1.0, np.maximum.accumulate(p[idx] * (len(idx) - np.arange(len(idx)))))
    return out


def one_sided_mean(diffs: np.ndarray) -> tuple[float, float]:
    """(mean, one-sided p that the mean is > 0) of per-fold differences (one-sample t-test)."""
    from scipy import stats

    d = np.asarray(diffs, float)
    d = d[np.isfinite(d)]
    if len(d) < 2 or np.ptp(d) == 0:
        return (float(d.mean()) if len(d) else math.nan), math.nan
    return float(d.mean()), float(stats.ttest_1samp(d, 0.0, alternative="greater").pvalue)


# ------------------------------------------------------------------------------------------ claims
def _best(stats_: pd.DataFrame, task: str, family: str) -> pd.Series | None:
    part = stats_[(stats_["task"] == task) & (stats_["family"] == family)]
    if part.empty:
        return None  # ties in the mean go to the config named first, not to whichever run the store listed first
    return part.sort_values(["mean", "model"], ascending=[False, True], kind="stable").iloc[0]


def _values(frame: pd.DataFrame, task: str, config: str) -> np.ndarray:
    return frame[(frame["task"] == task) & (frame["config"] == config)]["test"].to_numpy(float)


def _family_vs(claim: str, statement: str, task: str, ours: str, theirs: list[str]) -> Claim:
    """``ours`` family beats every family of ``theirs`` on ``task`` (best config of each by mean, ties to the first
    run). On a task run at several budgets the families are compared at each budget apart (the paper's claims are at
    one weight budget: a config at a larger budget beating one at a smaller says nothing of them), and the claim is
    supported only when it is at every budget."""

    def judge(frame: pd.DataFrame, ctx: dict[str, Any]) -> Verdict:
        all_stats = ctx["stats"]
        on_task = all_stats[all_stats["task"] == task]
        budgets = list(pd.unique(on_task["budget"])) if "budget" in on_task and len(on_task) else []
        several = len(budgets) > 1
        outcomes, refs, tables = [], [], []
        for budget in budgets if several else [None]:
            stats_ = on_task if budget is None else on_task[on_task["budget"] == budget]
            at = "" if budget is None else f" at budget {budget:,.0f}"
            mine = _best(stats_, task, ours)
            others = [b for fam in theirs if (b := _best(stats_, task, fam)) is not None]
            missing = [fam for fam in theirs if _best(stats_, task, fam) is None]
            if mine is None or not others:
                outcomes.append(("inconclusive", f"no ok runs of {'/'.join(([ours] if mine is None else []) + missing)} "
                                                 f"on {task}{at}"))
                continue
            for other in others:
                v, text = welch(_values(frame, task, mine["model"]), _values(frame, task, other["model"]))
                outcomes.append((v, f"{mine['model']} vs {other['model']}: {text}"))
            if missing:  # a family never compared could beat ours: the claim cannot be supported without it
                outcomes.append(("inconclusive", f"no ok runs of {'/'.join(missing)} on {task}{at}"))
            runs = frame[frame["task"] == task]
            runs = runs if budget is None else runs[runs["budget"] == budget]
            refs.append(str(mine["model"]))
            tables.append(versus(runs.assign(model=runs["config"]), str(mine["model"])).assign(reference=str(mine["model"])))
        if not refs:
            return Verdict(claim, statement, "inconclusive", "; ".join(t for _, t in outcomes))
        kinds = [v for v, _ in outcomes]
        verdict: VerdictKind = ("contradicted" if "contradicted" in kinds else
                                "supported" if all(k == "supported" for k in kinds) else "inconclusive")
        return Verdict(claim, statement, verdict, "; ".join(t for _, t in outcomes),
                       f"best {ours} config by mean against the best of {', '.join(theirs)} on {task}"
                       + (" at each budget" if several else ""),
                       reference=", ".join(refs), pairwise=_pooled(tables))

    return Claim(statement, judge)


def _pooled(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """The pairwise tables of several budgets as one, Holm-adjusted over all their comparisons (one table: as it is,
    without a reference column: its reference is the verdict's)."""
    if len(tables) == 1:
        return tables[0].drop(columns="reference")
    out = pd.concat(tables, ignore_index=True)
    out["p (Holm)"] = holm(out["p (one-sided)"].to_numpy(float))
    return out


def _hp_explains(frame: pd.DataFrame, ctx: dict[str, Any]) -> Verdict:
    statement = "the hidden proportion has explanatory power for performance beyond the other hyperparameters"
    ev = ctx.get("evaluation")
    if ev is None:
        return Verdict("hp_explains", statement, "inconclusive", ctx.get("evaluation_note", "no evaluation"))
    wide = _fold_scores(ev, "mae")
    diffs = (wide["no hidden proportion"] - wide["forest"]).to_numpy()  # > 0: the hidden proportion helps
    mean, p = one_sided_mean(diffs)
    _, p_less = one_sided_mean(-diffs)
    skill, p_skill = one_sided_mean((wide["dummy"] - wide["forest"]).to_numpy())  # > 0: beats the mean
    test = (f"paired t-test over {len(diffs)} grouped-CV folds: held-out MAE without − with the hidden proportion = "
            f"{mean:+.4g}, one-sided p = {p:.3g}")
    verdict: VerdictKind = ("supported" if p < ALPHA else "contradicted" if p_less < ALPHA else "inconclusive")
    rho = float(np.nanmean(_fold_scores(ev, "spearman")["forest"].to_numpy(float)))
    if not (p_skill < ALPHA and rho > 0):  # a forest that predicts nothing: its ablation says nothing either
        verdict = "inconclusive"
        test += (f"; but the forest does not predict the held-out runs (MAE below the mean predictor's by {skill:+.4g}, "
                 f"one-sided p = {p_skill:.3g}; mean Spearman {rho:+.3f}), so the ablation decides nothing")
    return Verdict("hp_explains", statement, verdict, test, f"random forests on {ev.info['n_records']} block-model runs")


def _predictor_works(frame: pd.DataFrame, ctx: dict[str, Any]) -> Verdict:
    statement = "a random forest predicts performance from hyperparameters and the hidden proportion before training"
    ev = ctx.get("evaluation")
    if ev is None:
        return Verdict("predictor_works", statement, "inconclusive", ctx.get("evaluation_note", "no evaluation"))
    per_config = ev.oof.groupby("group").agg(task=("task", "first"), actual=("actual", "mean"), forest=("forest", "mean"))
    rho, p_pos = within_task_spearman(per_config)
    n_tasks = per_config["task"].nunique()
    mae = _fold_scores(ev, "mae")
    gain, p_gain = one_sided_mean((mae["parameters only"] - mae["forest"]).to_numpy())
    test = (f"Spearman of out-of-fold predictions and actual metric within tasks over {len(per_config)} configs"
            f"{f' of {n_tasks} tasks' if n_tasks > 1 else ''} {rho:.3f} "
            f"(one-sided p = {p_pos:.3g}); held-out MAE below the parameter-count baseline's by {gain:+.4g} "
            f"(paired over {len(mae)} grouped-CV folds, one-sided p = {p_gain:.3g})")
    _, p_worse = one_sided_mean((mae["forest"] - mae["parameters only"]).to_numpy())  # the baseline's error lower
    backwards = math.isfinite(p_pos) and 1 - p_pos < ALPHA  # ranks significantly reversed (the p of rho < 0)
    verdict: VerdictKind = "supported" if (p_pos < ALPHA and p_gain < ALPHA) else (
        "contradicted" if backwards or p_worse < ALPHA else "inconclusive")
    return Verdict("predictor_works", statement, verdict, test, f"random forests on {ev.info['n_records']} block-model runs")


def within_task_spearman(per_config: pd.DataFrame) -> tuple[float, float]:
    """(rho, one-sided p that rho > 0) of how ``forest`` ranks the configs like ``actual`` within each ``task``:
    the Pearson correlation of the ranks centred per task (for one task, Spearman's rho and its p). Tasks sit at
    different levels (RAD's accuracy near 0.1, a series set's near 0.6), so ranks pooled over tasks would reward a
    forest that knows only which task a run is on. Centring spends one degree of freedom per task, so p is the
    t test of n - k - 1 degrees of freedom (n configs, k tasks), the slope's in a regression with a level per task.
    NaN for fewer than three configs in tasks of two or more, no degree of freedom left, or constant ranks."""
    from scipy import stats

    parts = [(part["forest"].rank(), part["actual"].rank()) for _, part in per_config.groupby("task", sort=False)
             if len(part) >= 2]
    if not parts:
        return math.nan, math.nan
    pred = np.concatenate([(f - f.mean()).to_numpy(float) for f, _ in parts])
    act = np.concatenate([(a - a.mean()).to_numpy(float) for _, a in parts])
    df = len(pred) - len(parts) - 1  # pearsonr's n - 2 counted one mean, not one per task: p came out too small
    if len(pred) < 3 or df < 1 or np.ptp(pred) == 0 or np.ptp(act) == 0:
        return math.nan, math.nan
    rho = float(np.clip(np.dot(pred, act) / math.sqrt(np.dot(pred, pred) * np.dot(act, act)), -1.0, 1.0))
    if abs(rho) == 1.0:
        return rho, 0.0 if rho > 0 else 1.0
    return rho, float(stats.t.sf(rho * math.sqrt(df / (1.0 - rho * rho)), df))


DEFAULT_FAMILIES = ("dense", "uniform")
"""Families of the references the recommender is judged against (the paper's defaults)."""


def cell_values(frame: pd.DataFrame, cell: Any, model: str) -> np.ndarray:
    """Final metrics of ``model``'s runs in one held-out cell (its task and budget) of the recommender stage."""
    m = (frame["task"] == cell.task) & (frame["budget"].astype(float) == float(cell.budget)) & (frame["model"] == model)
    return frame.loc[m, "test"].to_numpy(float)


def recommender_comparisons(held_out: list[Any], frame: pd.DataFrame) -> pd.DataFrame:
    """One row per held-out cell and dense/uniform reference: means, Welch outcome and its text."""
    from ..core.configs import config_family

    rows = []
    for cell in held_out:
        ours = cell_values(frame, cell, cell.model)
        for ref in cell.references:
            if config_family(ref) not in DEFAULT_FAMILIES:
                continue
            outcome, text = welch(ours, cell_values(frame, cell, ref))
            rows.append({"task": cell.task, "budget": cell.budget, "reference": ref, "outcome": outcome, "test": text})
    return pd.DataFrame(rows, columns=["task", "budget", "reference", "outcome", "test"])


def _recommender_beats_defaults(frame: pd.DataFrame, ctx: dict[str, Any]) -> Verdict:
    statement = ("a configuration recommended before training, by a predictor fitted on other data sets, beats the "
                 "dense and uniform defaults")
    held_out = ctx.get("held_out") or []
    if not held_out:
        return Verdict("recommender_beats_defaults", statement, "inconclusive",
                       ctx.get("recommend_note") or "no recommender stage ran")
    comp = recommender_comparisons(held_out, runs_table(ctx.get("recommend_records") or []))
    if comp.empty:
        return Verdict("recommender_beats_defaults", statement, "inconclusive", "no dense or uniform reference was trained")
    n, won, lost = len(comp), int((comp["outcome"] == "supported").sum()), int((comp["outcome"] == "contradicted").sum())
    verdict: VerdictKind = ("supported" if lost == 0 and 2 * won >= n else
                            "contradicted" if won == 0 and 2 * lost >= n else "inconclusive")
    test = (f"recommendation significantly better in {won}, worse in {lost} of {n} comparisons (Welch, one-sided, "
            f"α = {ALPHA}): " + "; ".join(f"{r.task} at {r.budget:g} vs {r.reference}: {r.test}" for r in comp.itertuples()))
    cells = ", ".join(f"{c.task} at {c.budget:g}" for c in held_out)
    left_out = f"; {ctx['recommend_note']}" if ctx.get("recommend_note") else ""
    return Verdict("recommender_beats_defaults", statement, verdict, test,
                   f"leave one task out: {cells}; each recommendation from a forest fitted on the other tasks' runs{left_out}")


def _fold_scores(ev: Any, metric: str) -> pd.DataFrame:
    """Fold x model table of one metric on grouped CV."""
    f = ev.folds
    return f[(f["split"] == "grouped") & (f["metric"] == metric)].pivot_table(index="fold", columns="model", values="value")


CLAIMS: dict[str, Claim] = {
    "balanced_beats_dense": _family_vs("balanced_beats_dense", "balanced sparse RNNs beat dense RNNs on RAD", "rad",
                                       "balanced", ["dense"]),
    "balanced_beats_uniform": _family_vs("balanced_beats_uniform", "balanced sparse RNNs beat uniformly sparse RNNs on RAD",
                                         "rad", "balanced", ["uniform"]),
    "balanced_beats_lstm": _family_vs("balanced_beats_lstm", "balanced sparse RNNs beat LSTMs of the same size on RAD",
                                      "rad", "balanced", ["lstm"]),
    "dense_best_on_hammer": _family_vs("dense_best_on_hammer", "dense block RNNs do best on Adroit Hammer", "hammer",
                                       "dense", ["uniform", "structured", "balanced", "lstm"]),
    "hp_explains": Claim("the hidden proportion has explanatory power for performance", _hp_explains),
    "predictor_works": Claim("a random forest predicts performance before training", _predictor_works),
    "recommender_beats_defaults": Claim("a recommended configuration beats the dense and uniform defaults on an unseen data set",
                                        _recommender_beats_defaults),
}
"""The paper's claims by name; every judge has the signature ``(runs frame, context) -> Verdict``."""


def evaluate_records(records: list[dict[str, Any]], n_estimators: int = 100, n_repeats: int = 3) -> tuple[Any, str]:
    """The meta-learning evaluation on the block-model runs (None and the reason when there are too few)."""
    from .meta import MetaError, prepare_records
    from .metareport import evaluate

    try:
        data = prepare_records(records)
        return evaluate(data, n_splits=5, n_estimators=n_estimators, n_repeats=n_repeats, parent=False, random_state=0), ""
    except MetaError as e:
        return None, f"no predictor evaluation: {e}"


def judge(claims: list[str], records: list[dict[str, Any]], scale: str = "", *, held_out: list[Any] | None = None,
          recommend_records: list[dict[str, Any]] | None = None, recommend_note: str = "",
          evaluate: Callable[[list[dict[str, Any]]], tuple[Any, str]] | None = None) -> tuple[list[Verdict], Any]:
    """Verdicts on ``claims`` from run records (and the recommender stage's cells and records), and the
    meta-learning evaluation they used (or None). ``evaluate``: what turns the records into that evaluation
    (:func:`evaluate_records` by default)."""
    frame = runs_table(records)
    ctx: dict[str, Any] = {"stats": config_stats(frame) if len(frame) else pd.DataFrame(
        columns=["task", "model", "family", "mean"]), "scale": scale, "held_out": held_out or [],
        "recommend_records": recommend_records or [], "recommend_note": recommend_note}
    evaluation = None
    if any(c in ("hp_explains", "predictor_works") for c in claims):
        evaluation, note = (evaluate or evaluate_records)(records)
        ctx["evaluation"], ctx["evaluation_note"] = evaluation, note
    return [CLAIMS[c].judge(frame, ctx) for c in claims], evaluation
