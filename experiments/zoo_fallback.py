"""Deviate from a default only when the trees agree (issue 18): the recommender judged leave one task out again,
with rules that keep a named default (dense, the balanced rule, or whichever named reference the forest ranks
highest) unless a given share of the forest's trees predicts the recommended candidate above it (paired, tree by
tree). The trials are those of ``zoo_recommend.py`` (same seeds, same data): a rule picks, per task, either the
recommendation or one of the references, so no new training is needed and the comparison is exact.

Run (after ``zoo_recommend.py``, whose cells.csv and trials.csv it reads):
    BALANCEDRNN_MNIST_DIR=<MNIST idx files> .venv/bin/python experiments/zoo_fallback.py \
        --recommend runs/zoo-recommend-extratrees [--without hammer:actions] --out runs/zoo-fallback
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from _common import one_line_errors

from balancedrnn.analysis import zoopred
from balancedrnn.analysis.meta import recommend_config
from balancedrnn.io import cache_dir

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoo_recommend import REFERENCES, TOL, tolerance_counts, zoo_bases  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--storage", default=str(cache_dir() / "zoo" / "store.journal"))
    ap.add_argument("--recommend", type=Path, required=True, help="zoo_recommend.py's output directory.")
    ap.add_argument("--without", nargs="*", default=[])
    ap.add_argument("--agree", type=float, nargs="*", default=[0.5, 0.7, 0.8, 0.9, 0.95])
    ap.add_argument("--out", type=Path, default=Path("runs/zoo-fallback"))
    args = ap.parse_args()
    from balancedrnn.tasks import get_task
    from balancedrnn.tasks.zoo import predictor_info

    cells = pd.read_csv(args.recommend / "cells.csv")
    trials = pd.read_csv(args.recommend / "trials.csv")
    records, _ = zoopred.load_zoo_records(args.storage)
    data = zoopred.prepare_zoo(records)
    if args.without:
        data = data.subset(~np.isin(data.task, args.without))
    bases = zoo_bases("small", records)
    rows = []
    for _, cell in cells.iterrows():
        task, budget = str(cell["task"]), float(cell["budget"])
        if task not in data.tasks:
            continue
        predictor = zoopred.ZooPredictor(curve=False).fit(data.subset(data.task != task))
        t = get_task(task)
        info = predictor_info(t, n_train=bases[task][0].get("n_train"))
        rec = recommend_config(t.dx, t.dy, budget, regression=t.loss != "last", predictor=predictor, seed=0, task=info)
        want = trials[(trials.task == task) & (trials.role == "recommended")]["model"].iloc[0]
        same = rec.config == want
        if not same:  # a different zoo (--without): the named references' trials still hold, not the recommendation's
            print(f"{task}: the recommendation differs from {args.recommend}'s; only the named rules are judged")
        row = {"task": task, "budget": budget, "recommended": cell["recommended"] if same else np.nan,
               "oracle": cell["oracle"], **{r: cell[r] for r in REFERENCES}}
        best_named = max(rec.references, key=rec.references.get)  # the forest's mean, among the named configs
        row["best_named"] = best_named
        for r in REFERENCES:
            row[f"agree_{r}"] = rec.agreement[r]  # share of trees scoring the recommendation above r
        rows.append(row)
        print(f"{task}: trees above dense {row['agree_dense']:.2f}, above balanced {row['agree_balanced']:.2f}, "
              f"best named {best_named}", flush=True)
    table = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "fallback.csv", index=False)
    lines = [f"{len(table)} tasks; better / level / worse by {TOL}", "",
             "| rule | agree | recommendation kept | against dense | against uniform:0.2 | against balanced | ≥ balanced | "
             "mean regret |", "|---|---|---|---|---|---|---|---|"]

    def report(name: str, agree: float | str, chosen: pd.Series, kept: int) -> None:
        ge = int((chosen - table["balanced"] >= -TOL).sum())
        lines.append(f"| {name} | {agree} | {kept} | {tolerance_counts(chosen, table['dense'])} | "
                     f"{tolerance_counts(chosen, table['uniform:0.2'])} | {tolerance_counts(chosen, table['balanced'])} | {ge} of {len(table)} | "
                     f"{(table['oracle'] - chosen).mean():+.4f} |")

    mismatched = table["recommended"].isna().any()
    if not mismatched:
        report("recommendation (from --recommend)", "-", table["recommended"], len(table))
    for r in REFERENCES:
        report(f"always {r}", "-", table[r], 0)
    bn = table.apply(lambda x: x[x["best_named"]], axis=1)
    report("best named by the forest", "-", bn, 0)
    for a in ([] if mismatched else args.agree):
        for default in ("dense", "balanced", "best named"):
            if default == "best named":
                keep = table.apply(lambda x: x[f"agree_{x['best_named']}"] >= a, axis=1)
                fallback = bn
            else:
                keep = table[f"agree_{default}"] >= a
                fallback = table[default]
            report(f"{default} unless trees agree", a, table["recommended"].where(keep, fallback), int(keep.sum()))
    if not mismatched:  # does the trees' agreement foretell how the recommendation fared against each config?
        from scipy.stats import spearmanr

        lines.append("")
        for r in REFERENCES:
            d, a = table["recommended"] - table[r], table[f"agree_{r}"]
            rho, p = spearmanr(a, d)
            sure = a >= 0.7
            lines.append(f"against {r}: Spearman(agreement, advantage) {rho:+.2f} (p = {p:.2f}); where ≥ 70 % of the trees "
                         f"agree ({int(sure.sum())} tasks) it won {int((sure & (d > TOL)).sum())} and lost "
                         f"{int((sure & (d < -TOL)).sum())}")
        best = table[[f"agree_{r}" for r in REFERENCES]].min(axis=1).max()
        lines.append(f"highest agreement against all three at once: {best:.2f}")
    (args.out / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    with one_line_errors():
        main()
