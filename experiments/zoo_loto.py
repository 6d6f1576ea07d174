"""The predictor across the task zoo (issue 18): leave one task out over every zoo task of the zoo sweep's store,
the ablations (no hidden proportion, no dx/dy features), the within-task-rank target, a parameter-count baseline
and the parent network on the same folds; the figure of the best hidden proportion and densities per task against
dx/dy; and, with ``--ship``, the predictor fitted on the whole zoo written where the package carries it.

Run (after ``balancedrnn reproduce zoo --scale small``):
    nice .venv/bin/python experiments/zoo_loto.py [--storage STORE] [--references ZOO_RECOMMEND_STORE] [--ship]
writes runs/zoo-loto/{loto.csv,summary.csv,best.csv,report.md} and docs/img/zoo_best_hp.png
(``--held-out TASK``: only that task's fold, printed and written to loto-held-out.csv).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from _common import one_line_errors

from balancedrnn.analysis import zoopred
from balancedrnn.io import cache_dir

ROOT = Path(__file__).resolve().parents[1]


def figure(best: pd.DataFrame, path: Path) -> None:
    """Best hidden proportion (and the median of each task's best tenth) and the best run's hx, hh densities
    against dx/dy, one point per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 5.4), sharex=True)
    marker = {"classification": "o", "regression": "s"}
    ax = axes[0]
    for (kind, learned), g in best.groupby(["kind", "learned"]):
        color = None if learned else "0.6"
        tag = kind if learned else f"{kind}, not learned"
        ax.scatter(g["dx_over_dy"], g["best_hp"], marker=marker[kind], s=42, label=f"{tag}: best run", zorder=3,
                   color=color)
        ax.scatter(g["dx_over_dy"], g["top_hp_median"], marker=marker[kind], s=42, facecolors="none",
                   edgecolors=color or "k", label=f"{tag}: median of the best tenth", zorder=2)
        for _, r in g.iterrows():
            ax.plot([r["dx_over_dy"]] * 2, [r["best_hp"], r["top_hp_median"]], color="0.8", lw=0.8, zorder=1)
    ok = best[best["learned"] & np.isfinite(best["top_hp_median"])]
    if len(ok) >= 3:
        from scipy.stats import spearmanr

        rho = spearmanr(np.log(ok["dx_over_dy"]), ok["top_hp_median"]).statistic
        ax.set_title(f"best hidden proportion per task (learned tasks: Spearman with log dx/dy {rho:+.2f})", fontsize=10)
    ax.axhline(0.5, color="0.5", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("dx / dy")
    ax.set_ylabel("hidden proportion")
    ax.set_ylim(0, 1)
    handles, labels = ax.get_legend_handles_labels()
    ax = axes[1]
    lb = best[best["learned"]]
    ax.scatter(lb["dx_over_dy"], lb["top_hx_median"], label="hx (input → hidden)", s=36)
    ax.scatter(lb["dx_over_dy"], lb["top_hh_median"], label="hh (hidden → hidden)", s=36, marker="^")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("dx / dy")
    ax.set_ylabel("density (median of the task's best tenth)")
    ax.set_title("best densities per task (learned tasks)", fontsize=10)
    ax.legend(fontsize=8)
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=7,
               title=f"not learned: no run got {zoopred.LEARNED:.0%} of the way from chance to perfect", title_fontsize=7)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)


def md(df: pd.DataFrame, digits: int = 2) -> str:
    """A DataFrame as a markdown table."""
    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            cells.append(f"{v:.{digits}f}" if isinstance(v, float) and math.isfinite(v) else ("–" if isinstance(v, float) else str(v)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--storage", default=str(cache_dir() / "zoo" / "store.journal"), help="The zoo sweep's store.")
    ap.add_argument("--prefix", default="zoo-", help="Study-name prefix of the sweep's runs in --storage (zoo_long.py's "
                    "longer sweeps: long<factor>-).")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "zoo-loto")
    ap.add_argument("--figure", type=Path, default=ROOT / "docs" / "img" / "zoo_best_hp.png")
    ap.add_argument("--ship", action="store_true", help="Also fit on the whole zoo and write the shipped predictor.")
    ap.add_argument("--ship-to", type=Path, help="With --ship: write it here instead of into the package.")
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--references", help="A store of zoo_recommend.py trials: its named configs' trials (dense, "
                    "uniform:0.2, balanced) join the zoo's runs, here and in the shipped predictor.")
    ap.add_argument("--held-out", action="append", help="Only these held-out tasks (repeatable; the others still "
                    "train every fold). Writes the per-task table only, no summary figure.")
    args = ap.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)

    records, studies = zoopred.load_zoo_records(args.storage, prefix=args.prefix)
    if not records:
        raise SystemExit(f"error: no runs in studies named {args.prefix}… in {args.storage}")
    extra = zoopred.load_reference_records(args.references) if args.references else []
    data = zoopred.prepare_zoo(records + extra)
    print(f"{len(data)} runs of {len(data.tasks)} tasks from {len(studies)} studies (skipped: {data.skipped})", flush=True)
    table = zoopred.leave_one_task_out(data, n_estimators=args.trees, other_target=True, held_out=args.held_out,
                                       progress=lambda m: print(m, flush=True))
    if args.held_out:
        table.to_csv(args.out / "loto-held-out.csv", index=False)
        print(md(table.assign(headroom=table["headroom"].round(2))))
        return
    table.to_csv(args.out / "loto.csv", index=False)
    summary = zoopred.summarize(table)
    learned = table[table["headroom"] >= zoopred.LEARNED]
    summary_learned = zoopred.summarize(learned)
    summary.to_csv(args.out / "summary.csv")
    best = zoopred.best_configs(data)
    best.to_csv(args.out / "best.csv", index=False)
    figure(best, args.figure)

    report = [f"{len(data)} runs, {len(data.tasks)} tasks, studies: {len(studies)}; skipped: {data.skipped}", "",
              "### per held-out task (Spearman, predicted vs actual normalised score)", "",
              md(table.sort_values("dx").assign(headroom=table["headroom"].round(2))), "",
              "### summary over held-out tasks", "", md(summary.reset_index()), "",
              f"### summary over the {len(learned)} tasks some run learned (headroom ≥ {zoopred.LEARNED})", "",
              md(summary_learned.reset_index()), "",
              "### parent network: curve error (mean absolute error of the normalised curve points)", "",
              f"parent network {table['parent curve MAE'].median():.3f} (median over tasks), mean training curve "
              f"{table['mean-curve MAE'].median():.3f}", "",
              "### best configuration per task", "", md(best, 3)]
    if args.ship:
        from balancedrnn.analysis.meta import SHIPPED_PREDICTOR, save_predictor

        predictor, provenance = zoopred.fit_zoo_predictor(args.storage, studies, n_estimators=args.trees,
                                                          references=args.references)
        path = save_predictor(predictor, args.ship_to or ROOT / "src" / "balancedrnn" / "analysis" / SHIPPED_PREDICTOR,
                              provenance)
        report += ["", f"shipped predictor: {path.name}, {path.stat().st_size / 1e6:.2f} MB, provenance {provenance}"]
    (args.out / "report.md").write_text("\n".join(report) + "\n")
    print("\n".join(report))


if __name__ == "__main__":
    with one_line_errors():
        main()
