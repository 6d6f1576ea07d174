"""Adroit Hammer's rollout-scored runs as one more task of the zoo (issues 18 and 19).

Reads the `hammer` plan's sweep (each run scored by 100 rollouts in the simulator) and the zoo sweep's store. Prints
the per-configuration table (normalised score and success over seeds, hidden proportion), then asks whether the zoo
predictor, fitted on the zoo's tasks without these runs, ranks the Hammer configurations before any training:
Spearman between its prediction and the actual normalised score, over runs and over configuration means, beside
the parameter count and the hidden proportion alone. Between the two, dense against every other configuration:
the difference of means with its Welch 95 % interval and one-sided p (dense better), Holm-adjusted over the
comparisons, on the normalised score and on the success rate. ``--without hammer:actions`` also leaves out the zoo's
action-regression view of the same expert data, so no Hammer data at all informs the prediction.

Run (after ``balancedrnn reproduce hammer --scale paper`` and ``balancedrnn reproduce zoo --scale small``):
    .venv/bin/python experiments/hammer_zoo_transfer.py --hammer-storage <dir>/store.journal \
        [--zoo-storage STORE] [--without hammer:actions] [--out runs/hammer-zoo-transfer]
writes <out>/configs.csv, <out>/runs.csv and <out>/report.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from _common import one_line_errors

from balancedrnn.analysis import zoopred
from balancedrnn.analysis.claims import versus
from balancedrnn.io import cache_dir

ROOT = Path(__file__).resolve().parents[1]


def config_table(records: list[dict]) -> pd.DataFrame:
    """One row per model config: seeds, hidden proportion, normalised score and success (mean, std, each seed), and
    how good a typical checkpoint is: the selection rollouts' success averaged over every check, and how many checks
    reach 80 % (the kept checkpoint is the best check, which saturates near 100 % for most configurations)."""
    rows = []
    for r in records:
        if r.get("status") != "ok":
            continue
        score = (r.get("final") or {}).get("score") or {}
        checks = [c["success_rate"] for c in (r.get("history") or {}).get("selection") or []]
        rows.append({"model": r["config"]["model"], "seed": r["config"]["seed"],
                     "check success": 100 * float(np.mean(checks)) if checks else np.nan,
                     "checks at 80 %": int(np.sum(np.asarray(checks) >= 0.8)) if checks else np.nan,
                     "hidden_proportion": (r.get("model") or {}).get("hidden_proportion", np.nan),
                     "dh": (r.get("model") or {}).get("dh"), "score": score.get("normalized_score", np.nan),
                     "success": 100 * score.get("success_rate", np.nan), "minutes": r.get("wall_time", np.nan) / 60})
    runs = pd.DataFrame(rows)
    g = runs.groupby("model", sort=False)
    table = pd.DataFrame({
        "seeds": g.size(), "hidden_proportion": g["hidden_proportion"].first(), "dh": g["dh"].first(),
        "score mean": g["score"].mean(), "score std": g["score"].std(), "success mean (%)": g["success"].mean(),
        "success by seed (%)": g["success"].agg(lambda s: " ".join(f"{v:.0f}" for v in s)),
        "mean check success (%)": g["check success"].mean(), "checks at ≥ 80 % per run": g["checks at 80 %"].mean(),
        "minutes per run": g["minutes"].mean()})
    return table.sort_values("score mean", ascending=False), runs


def md(df: pd.DataFrame, digits: int = 3) -> str:
    cols = list(df.columns)
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        out.append("| " + " | ".join(f"{v:.{digits}g}" if isinstance(v, float) else str(v) for v in r) + " |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hammer-storage", required=True, help="The store of `reproduce hammer`.")
    ap.add_argument("--hammer-study", default="hammer-paper", help="Its sweep (study) name.")
    ap.add_argument("--zoo-storage", default=str(cache_dir() / "zoo" / "store.journal"), help="The zoo sweep's store.")
    ap.add_argument("--without", action="append", default=[], help="A zoo task to leave out of the fit (repeatable).")
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "hammer-zoo-transfer")
    args = ap.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)

    hammer, _ = zoopred.load_zoo_records(args.hammer_storage, names=[args.hammer_study])
    table, runs = config_table(hammer)
    table.to_csv(args.out / "configs.csv")
    runs.to_csv(args.out / "runs.csv", index=False)
    report = [f"{len(runs)} ok runs of {len(table)} configurations ({args.hammer_study})", "",
              md(table.reset_index()), ""]
    if (runs["model"] == "dense").sum():
        for column, label in (("score", "normalised score"), ("success", "success (%)")):
            report += [f"dense against each configuration, {label} (difference = dense − other; CI low: the lower "
                       "bound of Welch's one-sided 95 % interval):", "",
                       md(versus(runs, "dense", column).drop(columns="CI high")), ""]

    target = zoopred.prepare_zoo(hammer)  # block-model runs only (the LSTM is a baseline)
    zoo_records, studies = zoopred.load_zoo_records(args.zoo_storage)
    zoo = zoopred.prepare_zoo(zoo_records)
    keep = ~np.isin(zoo.task, args.without)
    zoo = zoo.subset(keep)
    predictor = zoopred.ZooPredictor(n_estimators=args.trees, curve=False, random_state=0).fit(zoo)
    pred = predictor.predict(target.X)
    frame = pd.DataFrame({"model": [r["config"]["model"] for r in hammer if _is_block_ok(r)],
                          "predicted": pred, "actual": target.value, "parameters": target.parameters,
                          "hidden_proportion": target.X["hidden_proportion"].to_numpy()})
    means = frame.groupby("model").mean()
    rows = []
    for label, f in (("runs", frame), ("configuration means", means)):
        rows.append({"over": label, "n": len(f), "zoo forest": zoopred.spearman(f["predicted"], f["actual"]),
                     "parameter count": zoopred.spearman(f["parameters"], f["actual"]),
                     "hidden proportion": zoopred.spearman(f["hidden_proportion"], f["actual"])})
    report += [f"zoo forest fitted on {len(zoo)} runs of {len(zoo.tasks)} tasks ({len(studies)} studies; "
               f"left out: {', '.join(args.without) or 'none'}); Spearman with the actual normalised score:", "",
               md(pd.DataFrame(rows)), "", "predicted (normalised rank target) by configuration:", "",
               md(means.sort_values("predicted", ascending=False).reset_index())]
    (args.out / "report.md").write_text("\n".join(report) + "\n")
    print("\n".join(report))


def _is_block_ok(r: dict) -> bool:
    """The runs :func:`zoopred.prepare_zoo` keeps for a task that is above chance: ok block models with a value."""
    m = r.get("model") or {}
    return (r.get("status") == "ok" and m.get("kind", "block") == "block" and bool(m.get("density"))
            and (r.get("final") or {}).get("value") is not None)


if __name__ == "__main__":
    with one_line_errors():
        main()
