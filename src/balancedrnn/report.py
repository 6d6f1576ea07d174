"""Tables and plots over run records: mean ± std per configuration, metric vs hidden proportion."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from .io import atomic_write


def pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (no display needed); imported only when a plot is made."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, tight: bool = True, **savefig: Any) -> Path:
    """Write a figure as PNG atomically and close it."""
    if tight:
        fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120, **savefig))
    pyplot().close(fig)
    return Path(path)


def flatten_record(r: dict[str, Any]) -> dict[str, Any]:
    """One flat row of a run record: config, derived features, final metric, status."""
    model = r.get("model") or {}
    final = r.get("final") or {}
    test = final.get("test") or {}
    cfg = r.get("config") or {}
    row: dict[str, Any] = {
        "trial_key": r.get("trial_key"),
        "task": cfg.get("task"),
        "model": cfg.get("model"),
        "kind": model.get("kind"),
        "seed": cfg.get("seed"),
        "budget": cfg.get("budget"),
        "lr": cfg.get("lr"),
        "epochs": cfg.get("epochs"),
        "init_mean": cfg.get("init_mean"),
        "init_std": cfg.get("init_std"),
        "status": r.get("status"),
        "metric": final.get("metric"),
        "test": final.get("value"),
        "val": (final.get("val") or {}).get(final.get("metric") or "", math.nan),
        "hidden_proportion": model.get("hidden_proportion", math.nan),
        "dx": model.get("dx"),
        "dh": model.get("dh"),
        "dy": model.get("dy"),
        "weights": model.get("weights"),
        "parameters": model.get("parameters"),
        "note": model.get("budget_note") or (r.get("error") or ""),
        "wall_time": r.get("wall_time"),
        "threads": r.get("threads"),
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


def summarise(frame: pd.DataFrame, order: list[str] | None = None) -> pd.DataFrame:
    """Mean, std and count of the test metric per model config, with its sizes and hidden proportion."""
    ok = frame[frame["status"] == "ok"]
    agg = ok.groupby("model", sort=False).agg(
        runs=("test", "size"),
        test_mean=("test", "mean"),
        test_std=("test", "std"),
        val_mean=("val", "mean"),
        hidden_proportion=("hidden_proportion", "mean"),
        dh=("dh", "first"),
        weights=("weights", "first"),
        parameters=("parameters", "first"),
        wall_time=("wall_time", "mean"),
    )
    agg["test_std"] = agg["test_std"].fillna(0.0)
    failed = frame[frame["status"] != "ok"].groupby("model", sort=False).size()
    agg["failed"] = failed.reindex(agg.index).fillna(0).astype(int)
    notes = frame.groupby("model", sort=False)["note"].first()
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
        ax.errorbar(row["hidden_proportion"], row["test_mean"], yerr=row["test_std"], fmt="o", capsize=4, label=str(name))
        ax.annotate(str(name), (row["hidden_proportion"], row["test_mean"]), textcoords="offset points", xytext=(6, 4), fontsize=8)
    if chance is not None:
        ax.axhline(chance, color="grey", ls="--", lw=1, label="chance")
    ax.set_xlabel("hidden proportion  nnz(W_hh) / (nnz(W_hx)+nnz(W_hh)+nnz(W_hy))")
    ax.set_ylabel(f"test {metric} (mean ± std over seeds)")
    ax.set_xlim(-0.02, 1.0)
    ax.set_title(title or f"test {metric} vs hidden proportion", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return save_figure(fig, path)


def summary_markdown(summary: pd.DataFrame, metric: str = "accuracy") -> str:
    """The summary as a markdown table (what docs/results.md carries)."""
    lines = [
        f"| config | runs | test {metric} | val {metric} | hidden proportion | dh | weights | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in summary.iterrows():
        lines.append(
            f"| {name} | {int(r['runs'])} | {r['test_mean']:.3f} ± {r['test_std']:.3f} | {r['val_mean']:.3f} | "
            f"{r['hidden_proportion']:.3f} | {int(r['dh'])} | {int(r['weights']):,} | {r['note']} |"
        )
    anomaly_cols = [c for c in summary.columns if c.startswith("anomaly:")]
    if anomaly_cols:
        lines += ["", f"Test {metric} by anomaly transform (mean over seeds):", ""]
        lines.append("| config | " + " | ".join(c.split(":", 1)[1] for c in anomaly_cols) + " |")
        lines.append("|---|" + "---|" * len(anomaly_cols))
        for name, r in summary.iterrows():
            lines.append(f"| {name} | " + " | ".join(f"{r[c]:.3f}" for c in anomaly_cols) + " |")
    return "\n".join(lines) + "\n"


def load_records(directory: str | Path) -> list[dict[str, Any]]:
    """All run records (``*.json``) in a directory."""
    out = []
    for p in sorted(Path(directory).glob("*.json")):
        out.append(json.loads(p.read_text()))
    return out


def plot_runs(frame: pd.DataFrame, directory: str | Path, metric: str = "accuracy") -> list[Path]:
    """Scatter plots of the final metric against the hidden proportion and against each block density."""
    plt = pyplot()
    ok = frame[frame["status"] == "ok"]
    paths = []
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for kind, part in ok.groupby(ok["kind"].fillna("block")):
        ax.scatter(part["hidden_proportion"], part["test"], s=18, alpha=0.75, label=str(kind))
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
    return paths


def runs_frame(storage: str | Path | None = None, name: str = "sweep", run_dir: str | Path = "runs") -> pd.DataFrame:
    """All final run records of a sweep as a DataFrame (one row per trial)."""
    from . import store

    study = store.open_study(store.open_storage(storage, run_dir), name, create=False)
    return records_frame(store.iter_records(study))
