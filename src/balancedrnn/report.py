"""Tables and plots over run records: mean ± std per configuration, metric vs hidden proportion."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from .io import atomic_write


def records_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per run record with the fields tables and plots need (flattened)."""
    rows = []
    for r in records:
        model = r.get("model") or {}
        final = r.get("final") or {}
        test = final.get("test") or {}
        row = {
            "model": r["config"]["model"],
            "seed": r["config"]["seed"],
            "budget": r["config"]["budget"],
            "status": r["status"],
            "metric": final.get("metric"),
            "test": final.get("value"),
            "val": (final.get("val") or {}).get(final.get("metric") or "", math.nan),
            "hidden_proportion": model.get("hidden_proportion", math.nan),
            "dh": model.get("dh"),
            "weights": model.get("weights"),
            "parameters": model.get("parameters"),
            "note": model.get("budget_note") or (r.get("error") or ""),
            "wall_time": r.get("wall_time"),
        }
        for name, acc in (test.get("accuracy_by_anomaly") or {}).items():
            row[f"anomaly:{name}"] = acc
        rows.append(row)
    return pd.DataFrame(rows)


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120))
    plt.close(fig)
    return Path(path)


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
