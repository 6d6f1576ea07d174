"""Tables and plots over run records: mean ± std per configuration, metric vs hidden proportion; and the pieces
every report shares (figure and table helpers, the self-contained HTML page, the per-run table)."""

from __future__ import annotations

import base64
import html
import math
import platform
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..io import atomic_write


def pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (no display needed); imported only when a plot is made."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


PANELS_PER_ROW = 4
"""Panels (one per task) in a row of a figure; more go to further rows."""


def panels(n: int, width: float, height: float, per_row: int = PANELS_PER_ROW, **subplots: Any) -> tuple[Any, list[Any]]:
    """A figure of ``n`` panels of ``width`` x ``height`` inches, at most ``per_row`` to a row, and its ``n`` axes in
    order (the unused places of the last row are removed). One row of 31 panels (the zoo plan's tasks) was a figure
    186 inches wide, which a page shrinks to unreadable slivers. ``subplots``: more options of ``plt.subplots``."""
    n = max(int(n), 1)
    cols = min(n, per_row)
    rows = math.ceil(n / cols)
    fig, axes = pyplot().subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False, **subplots)
    flat = list(axes.flat)
    for ax in flat[n:]:
        fig.delaxes(ax)
    return fig, flat[:n]


def save_figure(fig: Any, path: str | Path, tight: bool = True, **savefig: Any) -> Path:
    """Write a figure as PNG atomically and close it."""
    if tight:
        fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120, **savefig))
    pyplot().close(fig)
    return Path(path)


def draw_chance(ax: Any, chance: float | None) -> None:
    """The chance level as a labelled dashed line (nothing when the task has none)."""
    if chance is not None and math.isfinite(chance):
        ax.axhline(chance, color="grey", ls="--", lw=1, label=f"chance ({chance:.3g})", zorder=1)


def label_points(ax: Any, points: Iterable[tuple[float, float, str]], fontsize: float = 7) -> None:
    """Annotate points without overlapping labels: each label starts up-right of its point and, while its box
    overlaps one already placed, steps further up or down (with a thin leader line back to its point). Configs
    with nearly equal hidden proportions (many sit near 0.01) otherwise print on top of each other."""
    from matplotlib.text import Text

    fig = ax.figure
    fig.tight_layout()  # place labels against the final layout
    renderer = fig.canvas.get_renderer()
    placed: list[Any] = []
    steps = [0] + [k * sign for k in range(1, 13) for sign in (1, -1)]
    for x, y, text in sorted(points, key=lambda p: (p[0], -p[1])):
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        for step in steps:
            moved = step != 0
            ann = ax.annotate(text, (x, y), textcoords="offset points", xytext=(6, 4 + 9 * step), fontsize=fontsize,
                              va="center", arrowprops=dict(arrowstyle="-", color="0.6", lw=0.5) if moved else None)
            ann.update_positions(renderer)
            box = Text.get_window_extent(ann, renderer)  # the text alone: leader lines may cross other labels
            if not any(box.overlaps(b) for b in placed):
                break
            ann.remove()
        else:  # no free place: keep it at the start rather than drop it
            ann = ax.annotate(text, (x, y), textcoords="offset points", xytext=(6, 4), fontsize=fontsize, va="center")
            box = Text.get_window_extent(ann, renderer)
        placed.append(box)


def text_colour(rgba: Sequence[float]) -> str:
    """Black or white, whichever contrasts more with a background colour (WCAG relative luminance: the two
    contrasts are equal at 0.179), so numbers stay readable on light (yellow) and dark heat-map cells alike."""
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgba[:3]]
    luminance = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    return "black" if luminance > 0.179 else "white"


def _val(final: Any, history: Any) -> float:
    """The validation value of the judged metric at the kept epoch; for a run whose checkpoint the selection
    rollouts picked (a task scored by rollouts, with no per-epoch metric), those rollouts' value of it."""
    if not final:
        return math.nan
    if final.metric in final.val:
        return float(final.val[final.metric])
    check = history.kept_check() if history else None
    return float(check.get(final.metric, math.nan)) if check else math.nan


def flatten_record(r: Mapping[str, Any]) -> dict[str, Any]:
    """One flat row of a run record (read through :class:`~balancedrnn.record.RunRecord`): config, derived
    features, final metric, status. ``{}`` gives the row's columns with no values."""
    from ..record import RunRecord

    rec = RunRecord.from_dict(r) if r else RunRecord(trial_key="", config={})
    model, cfg = rec.model or {}, rec.config
    final = rec.final
    test = final.test if final else {}
    history = rec.history
    row: dict[str, Any] = {
        "trial_key": rec.trial_key or None,
        "task": cfg.get("task"),
        "model": cfg.get("model"),
        "kind": model.get("kind"),
        "seed": cfg.get("seed"),
        "budget": cfg.get("budget"),
        "lr": cfg.get("lr"),
        "epochs": cfg.get("epochs"),
        "init_mean": cfg.get("init_mean"),
        "init_std": cfg.get("init_std"),
        "status": rec.status if r else None,
        "metric": final.metric if final else None,
        "test": final.value if final else None,
        "val": _val(final, history),
        "success_rate": (final.score or {}).get("success_rate", math.nan) if final else math.nan,  # rollout tasks
        "best_epoch": history.best_epoch if history else None,
        "epochs_run": history.stopped_epoch if history else None,
        "hidden_proportion": model.get("hidden_proportion", math.nan),
        "dx": model.get("dx"),
        "dh": model.get("dh"),
        "dy": model.get("dy"),
        "weights": model.get("weights"),
        "parameters": model.get("parameters"),
        "note": "; ".join(n for n in (None if rec.ok else rec.error, model.get("budget_note")) if n),  # error first
        "wall_time": rec.wall_time,
        "threads": rec.threads,
        "chance": rec.task.chance if rec.task else None,
        "data_source": rec.data_source,
    }
    for b, p in (model.get("density") or {}).items():
        row[f"density_{b}"] = p
    if model.get("kind") == "block":
        for b, n in (model.get("nnz") or {}).items():
            row[f"nnz_{b}"] = n
    for name, acc in (test.get("accuracy_by_anomaly") or {}).items():
        row[f"anomaly:{name}"] = acc
    return row


def records_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per run record (see :func:`flatten_record`)."""
    rows = [flatten_record(r) for r in records]
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=list(flatten_record({}).keys()))


def config_labels(frame: pd.DataFrame, with_task: bool = False) -> pd.Series:
    """What statistics group the seeds of, one label per row: the model, with its budget (``dense @ 30,000``) on a
    task run at several budgets, whose runs at different budgets are different configurations; with ``with_task``
    and rows of several tasks, prefixed by the task (``rad: dense``)."""
    if not len(frame):
        return pd.Series([], index=frame.index, dtype=object)
    several = frame.groupby(frame["task"].astype(str))["budget"].transform("nunique") > 1
    labels = [f"{m} @ {fmt(b)}" if many else str(m) for m, b, many in zip(frame["model"], frame["budget"], several)]
    if with_task and frame["task"].astype(str).nunique() > 1:
        labels = [f"{t}: {label}" for t, label in zip(frame["task"], labels)]
    return pd.Series(labels, index=frame.index, dtype=object)


def _configuration(config: Mapping[str, Any]) -> str:
    """What makes a run's configuration, repeats aside: its trial key (:meth:`TrainConfig.key`, which leaves out where
    the data lie and what a baseline does not read) with the seed, data seed and threads that repeats differ in."""
    import json

    from ..train import TrainConfig

    try:
        return TrainConfig.from_dict({**config, "seed": 0, "data_seed": 0, "threads": None}).key()
    except (TypeError, ValueError):  # a record of another version: its settings as they are
        from .meta import _GROUP_IGNORED

        return json.dumps({k: v for k, v in config.items() if k not in _GROUP_IGNORED}, sort_keys=True, default=str)


def with_settings(labels: Sequence[str], configs: Sequence[Mapping[str, Any]]) -> list[str]:
    """``labels`` (one per run) with the settings that tell apart configurations sharing a label on one task and
    budget: runs of a plan's two sweeps at another lr or number of epochs are two configurations, not seeds of one
    (``dense (lr=0.01)`` and ``dense (lr=1e-05)``). Runs that differ only as repeats do (seed, data seed, threads,
    where the data lie) keep their label."""
    from .meta import _GROUP_IGNORED

    groups: dict[tuple[str, str, str], list[int]] = {}
    for i, (label, cfg) in enumerate(zip(labels, configs)):
        groups.setdefault((str(cfg.get("task")), str(label), str(cfg.get("budget"))), []).append(i)
    out = [str(label) for label in labels]
    for idx in groups.values():
        if len({_configuration(configs[i]) for i in idx}) < 2:
            continue
        settings = [{k: v for k, v in configs[i].items() if k not in _GROUP_IGNORED} for i in idx]
        names = sorted({k for s in settings for k in s})
        differ = [k for k in names if len({repr(s.get(k)) for s in settings}) > 1]
        for i, s in zip(idx, settings):
            out[i] = f"{out[i]} ({', '.join(f'{k}={fmt(s.get(k), 6)}' if s.get(k) is not None else f'{k}=none' for k in differ)})"
    return out


def _distinct_notes(notes: pd.Series, keep: int = 2) -> str:
    """A config's notes over its runs: each distinct non-empty one once, in run order (a failed seed's error is
    not hidden behind an earlier seed's empty note); beyond ``keep``, how many more."""
    seen = list(dict.fromkeys(str(n) for n in notes if isinstance(n, str) and n))
    more = f"; (+{len(seen) - keep} more)" if len(seen) > keep else ""
    return "; ".join(seen[:keep]) + more


def summarise(frame: pd.DataFrame, order: list[str] | None = None) -> pd.DataFrame:
    """Mean, std and count of the test metric per configuration (:func:`config_labels`: a model at one budget of
    one task; the index is named ``model``), with its sizes and hidden proportion (the std is the sample standard
    deviation, ddof 1; that of one run is NaN: its spread was not measured, which 0 would claim it was)."""
    frame = frame.assign(model=config_labels(frame, with_task=True)) if len(frame) else frame
    ok = frame[frame["status"] == "ok"]
    agg = ok.groupby("model", sort=False).agg(
        runs=("test", "size"),
        test_mean=("test", "mean"),
        test_std=("test", "std"),
        val_mean=("val", "mean"),
        success_mean=("success_rate", "mean"),  # runs scored by rollouts; NaN otherwise
        hidden_proportion=("hidden_proportion", "mean"),
        dh=("dh", "first"),
        weights=("weights", "first"),
        parameters=("parameters", "first"),
        wall_time=("wall_time", "mean"),
    )
    failed = frame[frame["status"] != "ok"].groupby("model", sort=False).size()
    agg["failed"] = failed.reindex(agg.index).fillna(0).astype(int)
    notes = frame.groupby("model", sort=False)["note"].agg(_distinct_notes)
    agg["note"] = notes.reindex(agg.index).fillna("")
    anomaly_cols = [c for c in ok.columns if c.startswith("anomaly:")]
    if anomaly_cols:
        agg = agg.join(ok.groupby("model", sort=False)[anomaly_cols].mean())
    if order:
        agg = agg.reindex([m for m in order if m in agg.index])
    return agg


def plot_metric_vs_hp(summary: pd.DataFrame, path: str | Path, metric: str = "accuracy", chance: float | None = None,
                      title: str = "") -> Path:
    """Scatter of the test metric (mean ± std over seeds) against the hidden proportion, one point per config."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for name, row in summary.iterrows():
        std = row["test_std"]
        ax.errorbar(row["hidden_proportion"], row["test_mean"], yerr=None if std != std else std, fmt="o", capsize=4,
                    label=str(name))  # one run: a point without a bar
    draw_chance(ax, chance)
    ax.set_xlabel("hidden proportion  nnz(W_hh) / (nnz(W_hx)+nnz(W_hh)+nnz(W_hy))")
    ax.set_ylabel(f"test {metric} (mean ± std over seeds)")
    ax.set_xlim(-0.02, 1.0)
    ax.set_title(title or f"test {metric} vs hidden proportion", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    label_points(ax, [(r["hidden_proportion"], r["test_mean"], str(n)) for n, r in summary.iterrows()], fontsize=8)
    return save_figure(fig, path)


def mean_std(mean: float, std: float, runs: int) -> str:
    """``mean ± std`` over seeds, or the mean alone for one run (whose spread was not measured, not zero)."""
    return f"{mean:.3f} ± {std:.3f}" if runs > 1 else f"{mean:.3f}"


def summary_markdown(summary: pd.DataFrame, metric: str = "accuracy") -> str:
    """The summary as a markdown table (what docs/results.md carries); runs scored by rollouts add their success."""
    rollouts = "success_mean" in summary and bool(summary["success_mean"].notna().any())
    lines = [
        f"| config | runs | test {metric} | val {metric} | " + ("success | " if rollouts else "")
        + "hidden proportion | dh | weights | note |",
        "|---|---|---|---|---|---|---|---|" + ("---|" if rollouts else ""),
    ]
    for name, r in summary.iterrows():
        lines.append(
            f"| {name} | {int(r['runs'])} | {mean_std(r['test_mean'], r['test_std'], int(r['runs']))} | "
            + (f"{r['val_mean']:.3f} | " if math.isfinite(r["val_mean"]) else "n/a | ")
            + (f"{r['success_mean']:.0%} | " if rollouts else "")
            + f"{r['hidden_proportion']:.3f} | {int(r['dh'])} | {int(r['weights']):,} | {md_cell(r['note'])} |"
        )
    anomaly_cols = [c for c in summary.columns if c.startswith("anomaly:")]
    if anomaly_cols:
        lines += ["", f"Test {metric} by anomaly transform (mean over seeds):", ""]
        lines.append("| config | " + " | ".join(c.split(":", 1)[1] for c in anomaly_cols) + " |")
        lines.append("|---|" + "---|" * len(anomaly_cols))
        for name, r in summary.iterrows():
            lines.append(f"| {name} | " + " | ".join(f"{r[c]:.3f}" for c in anomaly_cols) + " |")
    return "\n".join(lines) + "\n"


def plot_runs(frame: pd.DataFrame, directory: str | Path, metric: str = "accuracy") -> list[Path]:
    """Scatter plots of the final metric against the hidden proportion (with the chance level when the runs share
    one) and against each block density. Only runs that finished ok have a point: without one, nothing is
    written and the list is empty. A plot of these names that this call does not write (an earlier call's, in a
    reused directory) is removed, so that no plot there is of other runs."""
    ok = frame[frame["status"] == "ok"]
    stale = {Path(directory) / n for n in RUN_PLOTS}
    if ok.empty:
        for path in stale:
            path.unlink(missing_ok=True)
        return []
    plt = pyplot()
    paths = []
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for kind, part in ok.groupby(ok["kind"].fillna("block")):
        ax.scatter(part["hidden_proportion"], part["test"], s=18, alpha=0.75, label=str(kind))
    draw_chance(ax, shared_chance(ok))
    ax.set_xlabel("hidden proportion")
    ax.set_ylabel(f"test {metric}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{len(ok)} finished runs", fontsize=10)
    paths.append(save_figure(fig, Path(directory) / "metric_vs_hidden_proportion.png"))
    cols = [c for c in ok.columns if c.startswith("density_")]
    if cols:
        fig, axes = plt.subplots(2, 3, figsize=(10, 6), sharey=True)
        for ax, col in zip(axes.flat, cols):
            ax.scatter(ok[col], ok["test"], s=14, alpha=0.75)
            ax.set_xlabel(f"density of {col.split('_', 1)[1]}")
            ax.grid(alpha=0.3)
        for ax in axes[:, 0]:
            ax.set_ylabel(f"test {metric}")
        paths.append(save_figure(fig, Path(directory) / "metric_vs_density.png"))
    for path in stale - set(paths):
        path.unlink(missing_ok=True)
    return paths


RUN_PLOTS = ("metric_vs_hidden_proportion.png", "metric_vs_density.png")
"""The files :func:`plot_runs` writes."""


def shared_chance(frame: pd.DataFrame) -> float | None:
    """The chance level the runs of a frame share (None when they have none or differ: no single line to draw)."""
    levels = pd.unique(frame["chance"].dropna()) if "chance" in frame else []
    return float(levels[0]) if len(levels) == 1 else None


def fmt(v: Any, digits: int = 4) -> str:
    """A table cell: integers (and whole floats, such as budgets) with thousands separators, other floats to
    ``digits`` significant digits, NaN as n/a."""
    if isinstance(v, (bool, np.bool_)):
        return str(v)
    if isinstance(v, (int, np.integer)) or (isinstance(v, (float, np.floating)) and math.isfinite(v) and v.is_integer()):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        return "n/a" if not math.isfinite(v) else f"{v:.{digits}g}"
    return "" if v is None else str(v)


def md_cell(v: Any) -> str:
    """A markdown table cell: one line, ``|`` escaped."""
    return str(v).replace("|", "\\|").replace("\n", " ")


def table_md(df: pd.DataFrame) -> str:
    """A frame as a markdown table (cells as they are; ``|`` escaped)."""
    lines = ["| " + " | ".join(map(md_cell, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(md_cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def table_html(df: pd.DataFrame) -> str:
    """A frame as an HTML table (cells escaped)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in df.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


RUN_COLUMNS = ("task", "config", "seed", "budget", "status", "metric", "value", "hidden proportion", "dh", "weights",
               "wall time (s)", "note")
"""Columns of the per-run table."""


def runs_detail(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """The per-run table of the reports: one row per run record of any status (:data:`RUN_COLUMNS`), by task,
    config and seed; the note of a run that did not finish ok is its error. A config names the settings that tell it
    apart from another of its model at its budget (:func:`with_settings`)."""
    records = list(records)
    f = records_frame(records)
    if f.empty:
        return pd.DataFrame(columns=list(RUN_COLUMNS))
    f["model"] = with_settings(list(f["model"]), [r.get("config") or {} for r in records])
    f = f.sort_values(["task", "model", "seed"], kind="stable", key=lambda c: c.astype(str) if c.name != "seed" else c)
    rows = [{"task": r.task, "config": r.model, "seed": fmt(r.seed), "budget": fmt(r.budget), "status": r.status,
             "metric": fmt(r.metric), "value": fmt(r.test), "hidden proportion": fmt(r.hidden_proportion, 3),
             "dh": fmt(r.dh), "weights": fmt(r.weights), "wall time (s)": fmt(r.wall_time, 3),
             "note": "" if r.status == "ok" else fmt(r.note)[:160]} for r in f.itertuples()]
    return pd.DataFrame(rows, columns=list(RUN_COLUMNS))


def data_sources(records: Iterable[dict[str, Any]]) -> list[str]:
    """Where each task's data came from, one line per task and source with its number of runs (the ``data_source``
    of the run records; runs that failed before loading data, or older records, say ``not recorded``)."""
    f = records_frame(records)
    if f.empty:
        return []
    counts = f.assign(src=f["data_source"].fillna("not recorded")).groupby(["task", "src"], sort=False, dropna=False).size()
    return [f"{task}: {src} ({n} run{'s' if n != 1 else ''})" for (task, src), n in counts.items()]


def run_code(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """The code the runs were made with, one line per balancedrnn version, git revision and torch version with its
    number of runs (from the records: a report written later, or from a store other machines ran, has other code
    in its footer, which is the writer's)."""
    counts: dict[str, int] = {}
    for r in records:
        versions = r.get("versions") or {}
        if not versions and not r.get("git_revision"):
            line = "not recorded"
        else:
            git = str(r.get("git_revision") or "unknown")[:12]
            line = f"balancedrnn {versions.get('balancedrnn', '?')} (git {git}), torch {versions.get('torch', '?')}"
        counts[line] = counts.get(line, 0) + 1
    return [f"{line} ({n} run{'s' if n != 1 else ''})" for line, n in counts.items()]


def environment() -> dict[str, str]:
    """Report footer facts: library versions, git revision, platform, threads, time (of the report's writer)."""
    import torch

    from ..env import git_revision, versions

    env = {k: str(v) for k, v in versions().items()}
    env.update(git=str(git_revision() or "unknown"), platform=platform.platform(), torch_threads=str(torch.get_num_threads()),
               written=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))
    return env


PAGE_STYLE = (
    "body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0;font-size:0.85em}td,th{border:1px solid #ccc;padding:3px 7px;text-align:left}"
    "th{background:#f3f3f3}.banner{background:#ffebe9;border:1px solid #cf222e;padding:0.7em;font-weight:bold}"
    ".smoke{background:#fff8c5;border:1px solid #9a6700;padding:0.7em}img{max-width:100%;border:1px solid #eee}"
    "summary{cursor:pointer;font-weight:bold}footer{margin-top:3em;font-size:0.8em;color:#666}")
"""The one style sheet of every HTML report."""


def figure_html(caption: str, path: Path) -> str:
    """A figure with its PNG embedded (base64), so the page is self-contained."""
    uri = "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()
    return f"<figure><img src='{uri}' alt='{html.escape(caption)}'><figcaption>{html.escape(caption)}</figcaption></figure>"


def details_html(summary: str, content: str) -> str:
    """A collapsed section (long tables such as the per-run table)."""
    return f"<details><summary>{html.escape(summary)}</summary>{content}</details>"


def write_html_page(path: str | Path, title: str, body: Iterable[str], footer: dict[str, str] | None = None) -> Path:
    """Write a self-contained HTML report: the title as heading, the ``body`` fragments (already HTML), and a
    footer of the environment (:func:`environment` by default)."""
    env = environment() if footer is None else footer
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'>", f"<title>{html.escape(title)}</title>",
             f"<style>{PAGE_STYLE}</style></head><body>", f"<h1>{html.escape(title)}</h1>", *body,
             "<footer>" + " · ".join(f"{html.escape(k)}: {html.escape(v)}" for k, v in env.items()) + "</footer></body></html>"]
    page = "\n".join(p for p in parts if p)
    return atomic_write(path, lambda f: f.write(page.encode()))


def runs_frame(storage: str | Path | None = None, name: str = "sweep", run_dir: str | Path = "runs",
               log: Callable[[str], None] | None = None, include_unfinished: bool = False) -> pd.DataFrame:
    """All final run records of a sweep as a DataFrame (one row per config; with ``include_unfinished`` also
    the interrupted ones that have no final record yet); ``log`` gets the line saying that a torn journal was
    repaired on opening."""
    from ..sweep import store

    from ..record import readable

    study = store.open_study(store.open_storage(storage, run_dir, create=False, log=log), name, create=False)
    return records_frame(readable(r) for r in store.iter_records(study, include_unfinished=include_unfinished))
