"""The report of a reproduction: a self-contained HTML page (figures embedded) and a markdown summary.

Figures: the metric against the hidden proportion per task with the configuration families marked (and the
chance level of classification tasks), learning curves (validation metric per epoch, mean per family), a heat
map of the per-block densities of the best configurations, and, when the plan's runs support a predictor
evaluation, the predictor's predicted-vs-actual and permutation importances. The report states the command that
re-runs it, the data source of the runs and every run in a per-run table; the environment and library versions
are in the footer.
"""

from __future__ import annotations

import html
import math
import re
import shlex
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..core.baselines import BASELINES
from ..analysis.claims import CI_METHOD, cell_values, ci95, config_stats, runs_table
from ..io import atomic_write
from ..analysis.report import (
    data_sources,
    details_html,
    draw_chance,
    environment,
    figure_html,
    fmt,
    label_points,
    panels,
    run_code,
    runs_detail,
    save_figure,
    shared_chance,
    table_html,
    table_md,
    text_colour,
    with_settings,
    write_html_page,
)
from ..core.spec import BLOCKS


@dataclass
class Reproduction:
    """What a reproduction run produced."""

    plan: Any
    """The :class:`balancedrnn.reproduce.plan.Plan` that was run."""
    scale: str
    records: list[dict[str, Any]]
    """Final run records of every sweep (any status)."""
    expected: int
    """Trials the plan's sweeps define."""
    verdicts: list[Any]
    """One balancedrnn.analysis.claims.Verdict per claim of the plan."""
    evaluation: Any = None
    """The meta-learning evaluation on the plan's block-model runs (None when too few)."""
    held_out: list[Any] = field(default_factory=list)
    """The recommender stage's cells (empty when the plan has none or it could not run)."""
    recommend_records: list[dict[str, Any]] = field(default_factory=list)
    """Final run records of the recommender stage."""
    recommend_note: str = ""
    """Why the recommender stage did not run, or which tasks it left out (empty when it ran on every task or the
    plan has none)."""
    predictor: Any = None
    """A :class:`~balancedrnn.analysis.meta.MetaPredictor` fitted on all the plan's block-model runs (with
    ``evaluation``; its predictions and importances are the report's predictor figures)."""
    meta_data: Any = None
    """The :class:`~balancedrnn.analysis.meta.MetaData` the predictor was fitted on."""
    forests: Any = None
    """The :class:`~balancedrnn.reproduce.plan.Forests` sizes the evaluation and the recommender used."""
    paths: list[Path] = field(default_factory=list)
    """Report files written."""

    @property
    def not_ok(self) -> int:
        """Trials without an ``ok`` record (failed, diverged, timed out, missing), both stages."""
        return self.expected - sum(r.get("status") == "ok" for r in self.records + self.recommend_records)

    @property
    def ended_not_ok(self) -> dict[str, int]:
        """Trials whose final record is not ``ok``, by status (failed, diverged, timeout): outcomes that running
        the plan again keeps, unless asked to retry them."""
        ended: dict[str, int] = {}
        for r in self.records + self.recommend_records:
            if r.get("status") != "ok":
                ended[str(r.get("status"))] = ended.get(str(r.get("status")), 0) + 1
        return dict(sorted(ended.items()))

    @property
    def complete(self) -> bool:
        return self.not_ok == 0


FAMILY_STYLE: dict[str, tuple[str, str]] = {
    "dense": ("tab:red", "s"), "standard": ("tab:brown", "P"), "uniform": ("tab:blue", "o"),
    "structured": ("tab:purple", "D"), "balanced": ("tab:green", "^"), "explicit": ("tab:gray", "."),
    "lstm": ("black", "*"), "gru": ("tab:olive", "*"), "rnn": ("tab:cyan", "*"),
}
"""Colour and marker of each configuration family in every figure."""
VERDICT_COLOUR = {"supported": "#1a7f37", "contradicted": "#cf222e", "inconclusive": "#9a6700"}


def plot_metric_vs_hp(frame: pd.DataFrame, stats: pd.DataFrame, path: Path) -> Path:
    """Per task: each config's mean (95 % CI bars) against its hidden proportion, by family; runs of random
    densities as points; baselines without a hidden proportion as horizontal bands; the chance level of a
    classification task as a dashed line; config labels (up to 20 configs) placed so they do not overlap."""
    tasks = list(pd.unique(frame["task"]))
    fig, axes = panels(len(tasks), 6.0, 4.6)
    for ax, task in zip(axes, tasks):
        st = stats[stats["task"] == task]
        runs = frame[frame["task"] == task]
        explicit = runs[runs["family"] == "explicit"]
        if len(explicit):
            c, m = FAMILY_STYLE["explicit"]
            ax.scatter(explicit["hidden_proportion"], explicit["test"], s=12, alpha=0.6, color=c, label="random densities")
        seen: set[str] = set()
        for r in st[st["family"] != "explicit"].itertuples():
            c, m = FAMILY_STYLE.get(r.family, ("tab:gray", "o"))
            label = r.family if r.family not in seen else None
            seen.add(r.family)
            if not math.isfinite(r.hidden_proportion):
                ax.axhline(r.mean, color=c, lw=1.5, ls="--", label=f"{r.model} (no hidden proportion)")
                if math.isfinite(r.ci_low):
                    ax.axhspan(r.ci_low, r.ci_high, color=c, alpha=0.08)
                continue
            err = None if not math.isfinite(r.ci_low) else [[r.mean - r.ci_low], [r.ci_high - r.mean]]
            ax.errorbar(r.hidden_proportion, r.mean, yerr=err, fmt=m, color=c, capsize=3, ms=7, label=label)
        draw_chance(ax, shared_chance(runs))
        metric = runs["metric"].iloc[0] if len(runs) else "metric"
        ax.set_xlabel("hidden proportion")
        ax.set_ylabel(f"test {metric} (mean, 95 % CI over seeds)")
        ax.set_xlim(-0.02, 1.0)
        ax.set_title(str(task), fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    for ax, task in zip(axes, tasks):
        st = stats[(stats["task"] == task) & (stats["family"] != "explicit")]
        if len(st) <= 20:
            label_points(ax, [(r.hidden_proportion, r.mean, str(r.model)) for r in st.itertuples()])
    return save_figure(fig, path)


CURVE_COLUMNS = ["task", "family", "model", "budget", "seed", "epoch", "value", "metric"]


def _curves(records: list[dict[str, Any]], points: Any) -> pd.DataFrame:
    """Long table (:data:`CURVE_COLUMNS`) of the ok runs' curves: ``points(record)`` yields (epoch, value, metric);
    non-finite values are left out. ``model`` is the config as the statistics name it (the settings that tell two
    configs of one model apart, :func:`~balancedrnn.analysis.report.with_settings`), and a trial run twice counts
    once, as in :func:`~balancedrnn.analysis.claims.runs_table`."""
    from ..core.configs import config_family

    ok, seen = [], set()
    for r in records:
        cfg = r.get("config") or {}
        trial = (r.get("trial_key"), cfg.get("task"), cfg.get("model"), cfg.get("budget"), cfg.get("seed"))
        if r.get("status") != "ok" or (r.get("trial_key") is not None and trial in seen):
            continue
        seen.add(trial)
        ok.append(r)
    labels = with_settings([str((r.get("config") or {}).get("model")) for r in ok], [r.get("config") or {} for r in ok])
    rows = []
    for r, label in zip(ok, labels):
        cfg = r.get("config") or {}
        for epoch, value, metric in points(r):
            if isinstance(value, (int, float)) and math.isfinite(value):
                rows.append({"task": cfg.get("task"), "family": config_family(str(cfg.get("model"))),
                             "model": label, "budget": cfg.get("budget"), "seed": cfg.get("seed"),
                             "epoch": epoch, "value": float(value),
                             "metric": metric})
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def learning_curves(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Long table: task, family, model, budget, seed, epoch, validation metric (ok runs with a history)."""

    def points(r: dict[str, Any]) -> Any:
        metric = (r.get("final") or {}).get("metric")
        for epoch, val in enumerate((r.get("history") or {}).get("val") or [], start=1):
            if isinstance(val, dict):
                yield epoch, val.get(metric, val.get("loss")), metric if metric in val else "loss"

    return _curves(records, points)


def selection_curves(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Long table like :func:`learning_curves`: the success rate (%) of the checkpoint-selection rollouts at each
    check of ok runs that selected by rollouts (``history.selection``; empty for every other run)."""

    def points(r: dict[str, Any]) -> Any:
        for check in (r.get("history") or {}).get("selection") or []:
            value = check.get("success_rate") if isinstance(check, dict) else None
            if isinstance(value, (int, float)) and "epoch" in check:
                yield int(check["epoch"]), 100 * float(value), "success"

    return _curves(records, points)


def plot_learning_curves(curves: pd.DataFrame, path: Path, ylabel: str | None = None,
                         bounds: tuple[float, float] | None = None) -> Path:
    """Per task: the validation metric per epoch, mean over the runs of each family (band: ± one sample std, ddof 1,
    clipped to ``bounds``; none where a family has one run). ``ylabel``: the axis label (default: "validation <metric>")."""
    tasks = list(pd.unique(curves["task"])) or ["(none)"]
    fig, axes = panels(len(tasks), 6.0, 4.2)
    for ax, task in zip(axes, tasks):
        part = curves[curves["task"] == task]
        for family, fam in part.groupby("family", sort=False):
            g = fam.groupby("epoch")["value"]
            mean, std = g.mean(), g.std()  # ddof 1; NaN (no band) at an epoch of one run: its spread was not measured
            c, m = FAMILY_STYLE.get(str(family), ("tab:gray", "o"))
            label = "random densities" if family == "explicit" else str(family)
            n = fam.groupby(["model", "budget"], dropna=False).ngroups  # a model at two budgets: two configs
            ax.plot(mean.index, mean.to_numpy(), marker=m, color=c, ms=4, label=f"{label} ({n} configs)")
            lo, hi = (mean - std).to_numpy(), (mean + std).to_numpy()
            if bounds is not None:
                lo, hi = np.clip(lo, *bounds), np.clip(hi, *bounds)
            ax.fill_between(mean.index, lo, hi, color=c, alpha=0.12)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel or f"validation {part['metric'].iloc[0] if len(part) else 'metric'}")
        ax.set_title(str(task), fontsize=10)
        ax.grid(alpha=0.3)
        if len(part):
            ax.legend(fontsize=7)
    return save_figure(fig, path)


def plot_density_heatmap(frame: pd.DataFrame, stats: pd.DataFrame, path: Path, top: int = 10) -> Path:
    """Per task: the per-block densities of the ``top`` block-model configs by mean metric (each number in the
    colour that contrasts with its cell)."""
    tasks = list(pd.unique(stats["task"])) or ["(none)"]
    # laid out with the tick labels (long config names): placed side by side, they ran over the next panel's cells
    fig, axes = panels(len(tasks), 5.2, 0.42 * top + 1.8, layout="constrained")
    image = None
    for ax, task in zip(axes, tasks):
        blocks = (stats["task"] == task) & ~stats["family"].isin(BASELINES)
        st = stats[blocks].sort_values("mean", ascending=False).head(top)
        dens = [frame[(frame["task"] == task) & (frame["config"] == m)][[f"density_{b}" for b in BLOCKS]].iloc[0].to_numpy(float)
                for m in st["model"]]
        grid = np.array(dens) if dens else np.zeros((0, len(BLOCKS)))
        image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(BLOCKS)), BLOCKS)
        labels = [f"{m if len(str(m)) <= 18 else str(m)[:16] + '…'}  {v:.3g}" for m, v in zip(st["model"], st["mean"])]
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        for i, row in enumerate(grid):
            for j, v in enumerate(row):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6, color=text_colour(image.cmap(image.norm(v))))
        ax.set_title(f"{task}: best configs (mean metric)", fontsize=10)
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.8, label="density")
    return save_figure(fig, path, tight=False, bbox_inches="tight")


def _mean_ci(values: np.ndarray, frame: pd.DataFrame, task: str) -> tuple[float, float, float]:
    """Mean and 95 % CI of a cell's values (clipped to the range of ``task``'s metric)."""
    metrics = frame.loc[frame["task"] == task, "metric"]
    lo, hi = ci95(values, metrics.iloc[0] if len(metrics) else None)
    return (float(np.mean(values)) if len(values) else math.nan), lo, hi


def recommender_table(held_out: list[Any], frame: pd.DataFrame, references: list[str] | None = None) -> pd.DataFrame:
    """One row per held-out task and budget: what was recommended and how it and each reference scored
    (reference columns in the order of ``references``)."""
    rows = []
    for cell in held_out:
        rec = cell.recommendation
        row: dict[str, Any] = {
            "held-out task": cell.task, "budget": fmt(int(cell.budget)),
            "fitted on": f"{', '.join(cell.fitted_on)} ({cell.n_records} runs)",
            "recommended": " ".join(f"{b} {rec.density[b]:.2f}" for b in BLOCKS) + f" ({cell.origin})",
            "dh": fmt(rec.dh), "hidden proportion": fmt(rec.hidden_proportion, 3),
            # the predictor's own score (the zoo's within-task rank, a study's metric), not this table's metric
            "predicted": fmt(rec.predicted_score) + (f" ({rec.score_name})" if rec.score_name else "")}
        for label, model in [("recommended", cell.model)] + [(m, m) for m in cell.references]:
            mean, lo, hi = _mean_ci(cell_values(frame, cell, model), frame, cell.task)
            row[f"{label} (mean, 95 % CI)" if label == "recommended" else label] = f"{fmt(mean)} [{fmt(lo)}, {fmt(hi)}]"
        for model in cell.infeasible:
            row[model] = "infeasible at this budget"
        rows.append(row)
    frame_out = pd.DataFrame(rows)
    order = list(dict.fromkeys([*(references or []), *(m for cell in held_out for m in [*cell.references, *cell.infeasible])]))
    order = [m for m in order if m in frame_out.columns]
    return frame_out[[c for c in frame_out.columns if c not in order] + order] if rows else frame_out


def plot_recommender(held_out: list[Any], frame: pd.DataFrame, path: Path) -> Path:
    """Per held-out task and budget: the recommendation and each reference, mean with 95 % CI over seeds."""
    from ..core.configs import config_family

    fig, axes = panels(len(held_out), 3.9, 4.0)
    for ax, cell in zip(axes, held_out):
        labels = ["recommended", *cell.references]
        for i, model in enumerate([cell.model, *cell.references]):
            v = cell_values(frame, cell, model)
            mean, lo, hi = _mean_ci(v, frame, cell.task)
            colour = "tab:orange" if i == 0 else FAMILY_STYLE.get(config_family(model), ("tab:gray", "o"))[0]
            ax.bar(i, mean if math.isfinite(mean) else 0.0, color=colour, alpha=0.75)
            if math.isfinite(lo):
                ax.errorbar(i, mean, yerr=[[mean - lo], [hi - mean]], color="black", capsize=4)
            ax.scatter(np.full(len(v), i) + np.linspace(-0.15, 0.15, len(v)) if len(v) else [], v, s=9, color="black", zorder=3)
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
        metrics = frame.loc[frame["task"] == cell.task, "metric"]
        ax.set_ylabel(f"test {metrics.iloc[0] if len(metrics) else 'metric'}")
        ax.set_title(f"{cell.task} at {cell.budget:,.0f}\n(forest fitted on {', '.join(cell.fitted_on)})", fontsize=9)
        ax.grid(alpha=0.3, axis="y")
    return save_figure(fig, path)


def pairwise_tables(verdicts: list[Any]) -> list[tuple[str, pd.DataFrame]]:
    """(title, display table) of each verdict that compares one configuration with every other (a "this family does
    best" claim): difference, the lower bound of Welch's one-sided 95 % interval (above 0 exactly when the one-sided
    p is below 0.05), one-sided p and Holm's p, so the report shows every pair."""
    out = []
    for v in verdicts:
        table = v.pairwise
        if table is None or not len(table):
            continue
        ref = v.reference
        if "reference" in table:  # one reference per budget: each against the configurations at its budget
            title_ref, ref = f"{ref} (each against the configurations at its budget)", "the reference"
        else:
            title_ref = ref
        title = (f"{v.statement}: {title_ref} against every configuration (difference = {ref} − other; the lower bound of "
                 "Welch's one-sided 95 % interval; "
                 f"one-sided p that {ref} is better; Holm over the {int(table['p (one-sided)'].notna().sum())} tests)")
        shown = pd.DataFrame({
            **({"reference": table["reference"]} if "reference" in table else {}), "config": table["model"], "seeds": table["seeds"].map(fmt),
            "difference": table["difference"].map(fmt),
            "95 % lower bound": table["CI low"].map(fmt),
            "t": table["t"].map(lambda x: fmt(x, 3)), "p (one-sided)": table["p (one-sided)"].map(lambda x: fmt(x, 3)),
            "p (Holm)": table["p (Holm)"].map(lambda x: fmt(x, 3))})
        out.append((title, shown))
    return out


TOP_CONFIGS = 25
"""Configurations per task the report's table shows (the best by mean); its title says when there are more."""


def stats_table(stats: pd.DataFrame, per_task: int = TOP_CONFIGS, not_ok: pd.DataFrame | None = None) -> pd.DataFrame:
    """Display table of the per-config statistics (the ``per_task`` best of each task). ``not_ok``: the runs that did
    not finish ok (:func:`~balancedrnn.analysis.claims.runs_table` with every status); when there are any, a column
    counts them per config, and a config without an ok run has a row of its own (after its task's others)."""
    rows = []
    rollouts = "success_rate" in stats and bool(np.isfinite(stats["success_rate"].to_numpy(float)).any())
    ended = not_ok.groupby(["task", "config"], sort=False).size() if not_ok is not None and len(not_ok) else pd.Series(dtype=int)
    tasks = list(dict.fromkeys([*stats["task"], *(t for t, _ in ended.index)]))
    for task in tasks:
        part = stats[stats["task"] == task]
        for r in part.sort_values("mean", ascending=False).head(per_task).itertuples():
            row = {"task": r.task, "config": r.model, "family": r.family, "runs": r.runs}
            if len(ended):  # runs that failed, diverged or timed out: the statistics leave them out
                row["not ok"] = int(ended.get((task, r.model), 0))
            row.update({"mean": fmt(r.mean), "std": fmt(r.std), "95 % CI": f"[{fmt(r.ci_low)}, {fmt(r.ci_high)}]"})
            if rollouts:  # tasks scored by rollouts: the share of episodes that succeeded, mean over seeds
                row["success (%)"] = fmt(100 * r.success_rate, 3)
            rows.append({**row, "hidden proportion": fmt(r.hidden_proportion, 3), "dh": fmt(r.dh), "weights": fmt(r.weights)})
        for (t, config), n in ended.items():
            if t == task and config not in set(part["model"]):  # no ok run: no statistics, but it was run
                runs = not_ok[(not_ok["task"] == t) & (not_ok["config"] == config)]
                rows.append({"task": t, "config": config, "family": runs["family"].iloc[0], "runs": 0, "not ok": int(n),
                             "mean": "n/a", "std": "n/a", "95 % CI": "[n/a, n/a]", **({"success (%)": "n/a"} if rollouts else {}),
                             "hidden proportion": fmt(runs["hidden_proportion"].iloc[0], 3), "dh": fmt(runs["dh"].iloc[0]),
                             "weights": fmt(runs["weights"].iloc[0])})
    return pd.DataFrame(rows)


def reproduce_command(rep: Reproduction, out_dir: str | Path, overrides: dict[str, Any] | None = None,
                      storage: str | None = None) -> str:
    """The shell command that re-runs (resumes) this reproduction as it was run: the plan (by name when shipped,
    else its file), the scale, the output directory, the store, and every ``--set`` override. A store password
    is masked (``***``): the report must not carry it."""
    from ..sweep.spec import yaml_scalar

    source = Path(rep.plan.source) if rep.plan.source else None
    shipped = rep.plan.shipped
    args = ["balancedrnn", "reproduce", rep.plan.name if shipped else str(source), "--scale", rep.scale,
            "--out-dir", str(out_dir)]
    if storage:
        args += ["--storage", re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", storage)]
    for key, value in (overrides or {}).items():
        args += ["--set", f"{key}={yaml_scalar(value)}"]
    return shlex.join(args)


@dataclass
class ReportTables:
    """Everything the report shows, computed from a :class:`Reproduction` before any rendering."""

    frame: pd.DataFrame
    """One row per run of the sweeps."""
    stats: pd.DataFrame
    """Per-configuration statistics (mean, std, CI over seeds)."""
    not_ok: pd.DataFrame
    """One row per run of the sweeps that did not finish ok (failed, diverged, timed out), labelled as ``frame``'s."""
    rec_frame: pd.DataFrame
    rec_table: pd.DataFrame
    """The recommender stage's table (empty without one)."""
    verdicts: pd.DataFrame
    pairwise: list[tuple[str, pd.DataFrame]]
    """(title, table) of each verdict that compares one configuration with every other."""
    per_run: pd.DataFrame
    statuses: dict[str, int]
    core_minutes: float
    """Wall time times the torch threads of each trial, summed (a trial run elsewhere with more threads counts them)."""
    sources: list[str]
    code: list[str]
    """The code the runs were made with (:func:`~balancedrnn.analysis.report.run_code`)."""


def report_tables(rep: Reproduction) -> ReportTables:
    """The statistics and tables of a reproduction (the renderer only formats these)."""
    frame = runs_table(rep.records)
    stats = config_stats(frame) if len(frame) else pd.DataFrame(
        columns=["task", "model", "family", "runs", "mean", "std", "ci_low", "ci_high", "hidden_proportion", "dh", "weights"])
    any_status = runs_table(rep.records, every_status=True)
    not_ok = any_status[any_status["status"] != "ok"]
    rec_frame = runs_table(rep.recommend_records)
    rec_table = recommender_table(rep.held_out, rec_frame, rep.plan.recommend.references if rep.plan.recommend else None) \
        if rep.held_out else pd.DataFrame()
    every = rep.records + rep.recommend_records
    return ReportTables(
        frame=frame, stats=stats, not_ok=not_ok, rec_frame=rec_frame, rec_table=rec_table,
        verdicts=pd.DataFrame([{"claim": v.statement, "verdict": v.verdict, "test": v.test, "compared": v.detail}
                               for v in rep.verdicts], columns=["claim", "verdict", "test", "compared"]),
        pairwise=pairwise_tables(rep.verdicts),
        per_run=runs_detail(every),
        statuses=pd.Series([r.get("status") for r in every]).value_counts().to_dict() if every else {},
        core_minutes=sum(float(r.get("wall_time") or 0.0) * int(r.get("threads") or 1) for r in every) / 60,
        sources=data_sources(every) or ["no runs"],
        code=run_code(every) or ["no runs"],
    )


FIGURES = ("metric_vs_hidden_proportion.png", "learning_curves.png", "density_heatmap.png", "selection_curves.png",
           "recommender.png")
"""The figures :func:`write_report` may write into ``figures/`` (the predictor's go into ``figures/predictor/``)."""


def remove_stale_figures(figs: Path, written: list[Path]) -> None:
    """Remove the figures of an earlier report in ``figs`` that this one did not write (a reproduction re-run into its
    directory with other settings, or an interim report without the predictor or the recommender stage), so that no
    figure there is of other runs."""
    from ..analysis.metareport import REPORT_FILES

    stale = [figs / name for name in FIGURES] + [figs / "predictor" / name for name in REPORT_FILES]
    for path in stale:
        if path not in written:
            path.unlink(missing_ok=True)
    if (figs / "predictor").is_dir() and not any((figs / "predictor").iterdir()):
        (figs / "predictor").rmdir()


def write_report(rep: Reproduction, out_dir: str | Path, overrides: dict[str, Any] | None = None,
                 storage: str | None = None) -> list[Path]:
    """Write ``report.html`` (self-contained), ``report.md`` and ``figures/*.png``; returns the paths (the
    HTML first). Both reports open with a banner when trials are missing or failed; ``overrides`` (the
    ``--set`` options) and ``storage`` go into the command line that re-runs the reproduction."""

    out = Path(out_dir)
    figs = out / "figures"
    figs.mkdir(parents=True, exist_ok=True)
    t = report_tables(rep)
    frame, stats, rec_frame, rec_table = t.frame, t.stats, t.rec_frame, t.rec_table
    figures: list[tuple[str, Path]] = []
    if len(frame):
        figures.append(("Test metric against the hidden proportion, by family (dashed: chance level)",
                        plot_metric_vs_hp(frame, stats, figs / "metric_vs_hidden_proportion.png")))
        figures.append(("Learning curves (validation metric per epoch, mean ± std over a family's runs)",
                        plot_learning_curves(learning_curves(rep.records), figs / "learning_curves.png")))
        figures.append(("Per-block densities of the best configurations", plot_density_heatmap(frame, stats, figs / "density_heatmap.png")))
        selection = selection_curves(rep.records)
        if len(selection):
            figures.append(("Checkpoint selection: success of the selection rollouts at each check (mean ± std over a "
                            "family's runs; the kept checkpoint is each run's best check)",
                            plot_learning_curves(selection, figs / "selection_curves.png",
                                                 ylabel="success of the selection rollouts (%)", bounds=(0, 100))))
    if rep.held_out:
        figures.append(("Recommender, leave one task out: the recommendation against the defaults (mean, 95 % CI, seeds as dots)",
                        plot_recommender(rep.held_out, rec_frame, figs / "recommender.png")))
    rec_intro = ("For each task, a random forest fitted on the other tasks' runs recommended densities and dh before "
                 "any training; the recommendation and the references were then trained with the same seeds, "
                 "learning rate and initialisation (the forest's training medians).")
    meta_paths: list[Path] = []
    if rep.evaluation is not None and rep.predictor is not None:
        from ..analysis.metareport import evaluation_html
        from ..analysis.metareport import write_report as write_meta

        meta_paths = write_meta(rep.evaluation, rep.meta_data, rep.predictor, figs / "predictor", with_html=False)
        names = {p.name: p for p in meta_paths}
        figures.append(("Predictor: predicted against actual (grouped CV, out of fold)", names["predicted_vs_actual.png"]))
        figures.append(("Predictor: permutation importances", names["importances.png"]))
    remove_stale_figures(figs, [p for _, p in figures] + meta_paths)
    status_text = ", ".join(f"{k} {v}" for k, v in t.statuses.items()) or "no runs"
    every = rep.records + rep.recommend_records
    runs_text = f"Runs: {len(every)} of {rep.expected} ({status_text}); the trials took {t.core_minutes:,.1f} core-minutes."
    sources = t.sources
    banner = ""
    if not rep.complete:
        banner = (f"INCOMPLETE: {rep.not_ok} of {rep.expected} trials have no ok record ({status_text}); "
                  "the statistics and verdicts use only the finished runs.")
    sizes = rep.forests
    small = (f" (forests of {sizes.trees} trees, {sizes.repeats} permutation repeat{'s' * (sizes.repeats != 1)})"
             if sizes is not None else "")
    smoke = (f"Smoke scale: a check that the pipeline runs end to end on tiny data{small}; its verdicts say nothing "
             "about the paper." if rep.scale == "smoke" else "")
    verdicts = t.verdicts
    table = stats_table(stats, not_ok=t.not_ok)
    per_run = t.per_run
    title = f"balancedrnn reproduction: {rep.plan.name} at the {rep.scale} scale"
    command = reproduce_command(rep, out_dir, overrides, storage)
    per_task = stats.groupby("task").size() if len(stats) else pd.Series(dtype=int)
    cut = (f"; the {TOP_CONFIGS} best of each task, of {', '.join(f'{n} on {k}' for k, n in per_task.items())}"
           if (per_task > TOP_CONFIGS).any() else "")
    configs_title = f"Configurations (mean, sample std (ddof 1) and 95 % CI over seeds; the CI is {CI_METHOD}{cut})"
    runs_title = f"Runs ({len(per_run)}, every status)"

    md = [f"# {title}", ""]
    md += [f"**{banner}**", ""] if banner else []
    md += [f"_{smoke}_", ""] if smoke else []
    md += [rep.plan.description, "", f"Command: `{command}`", "", runs_text, "", "Data source:", "",
           *[f"- {line}" for line in sources], "",
           "Code of the runs (the footer's is the report's):", "", *[f"- {line}" for line in t.code], "",
           "## Verdicts", "", table_md(verdicts) if len(verdicts) else "(the plan tests no claim)", "",
           *[line for title, tab in t.pairwise for line in (f"### {title}", "", table_md(tab), "")],
           f"## {configs_title}", "", table_md(table) if len(table) else "(no ok runs)", ""]
    if rep.evaluation is not None:
        md += ["## Predictor", "", rep.evaluation.to_markdown(), ""]
    if rep.held_out:
        md += ["## Recommender (leave one task out)", "", rec_intro, "", table_md(rec_table), ""]
        md += [f"Not held out: {rep.recommend_note}.", ""] if rep.recommend_note else []
    elif rep.recommend_note:
        md += ["## Recommender (leave one task out)", "", f"Not run: {rep.recommend_note}.", ""]
    md += ["## Figures", ""] + [f"![{cap}]({p.relative_to(out).as_posix()})" for cap, p in figures]
    md += ["", f"## {runs_title}", "", table_md(per_run) if len(per_run) else "(no runs)", ""]
    env = environment()
    md += ["", "Environment: " + ", ".join(f"{k} {v}" for k, v in env.items()), ""]
    md_path = atomic_write(out / "report.md", lambda f: f.write("\n".join(md).encode()))

    rows = "".join(
        f"<tr><td>{html.escape(v.statement)}</td><td style='color:{VERDICT_COLOUR[v.verdict]};font-weight:bold'>{v.verdict}</td>"
        f"<td>{html.escape(v.test)}</td><td>{html.escape(v.detail)}</td></tr>" for v in rep.verdicts)
    parts = [
        f"<p class='banner'>{html.escape(banner)}</p>" if banner else "",
        f"<p class='smoke'>{html.escape(smoke)}</p>" if smoke else "",
        f"<p>{html.escape(rep.plan.description)}</p>",
        f"<p>Command: <code>{html.escape(command)}</code></p><p>{html.escape(runs_text)}</p>",
        "<p>Data source:</p><ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in sources) + "</ul>",
        "<p>Code of the runs (the footer's is the report's):</p><ul>"
        + "".join(f"<li>{html.escape(line)}</li>" for line in t.code) + "</ul>",
        "<h2>Verdicts</h2>",
        f"<table><thead><tr><th>claim</th><th>verdict</th><th>test</th><th>compared</th></tr></thead><tbody>{rows}</tbody></table>"
        if rep.verdicts else "<p>(the plan tests no claim)</p>",
        *[f"<h3>{html.escape(title)}</h3>{table_html(tab)}" for title, tab in t.pairwise],
        f"<h2>{html.escape(configs_title)}</h2>", table_html(table) if len(table) else "<p>(no ok runs)</p>",
        "<h2>Figures</h2>", *[figure_html(cap, p) for cap, p in figures],
    ]
    if rep.evaluation is not None:
        parts += ["<h2>Predictor (held-out scores beside the baselines)</h2>", *evaluation_html(rep.evaluation)]
    if rep.held_out:
        parts += ["<h2>Recommender (leave one task out)</h2>", f"<p>{html.escape(rec_intro)}</p>", table_html(rec_table)]
        parts += [f"<p>Not held out: {html.escape(rep.recommend_note)}.</p>"] if rep.recommend_note else []
    elif rep.recommend_note:
        parts += ["<h2>Recommender (leave one task out)</h2>", f"<p>Not run: {html.escape(rep.recommend_note)}.</p>"]
    parts += [f"<h2>{html.escape(runs_title)}</h2>",
              details_html("one row per run: show the table", table_html(per_run)) if len(per_run) else "<p>(no runs)</p>"]
    html_path = write_html_page(out / "report.html", title, parts, env)
    return [html_path, md_path, *[p for _, p in figures]]
