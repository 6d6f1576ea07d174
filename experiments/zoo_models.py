"""Is the forest the right learner for the zoo? (issue 18) Leave one task out over the zoo, the same folds,
features and target (the within-task rank) as the shipped forest, for several learners: the forest as shipped,
more regularised forests, extremely randomised trees, gradient boosting, ridge regression on degree-2 features,
and k nearest neighbours. Each is judged, per held-out task, by Spearman against the chance-normalised score of
one seed (the original runs) and, with ``--means``, against the mean over every seed (less noise).

Run (after the zoo sweep and, for --means, experiments/zoo_retest.py's retests):
    .venv/bin/python experiments/zoo_models.py [--means <cache>/zoo/retest.jsonl <cache>/zoo/retest-s2.jsonl]
writes runs/zoo-models/{models.csv,report.md}.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from _common import one_line_errors

from balancedrnn.analysis import zoopred
from balancedrnn.io import cache_dir

ROOT = Path(__file__).resolve().parents[1]


def learners() -> dict[str, Callable[[], Any]]:
    """The candidate learners, each a factory of an unfitted scikit-learn regressor (seeded, one thread)."""
    from sklearn.ensemble import ExtraTreesRegressor, HistGradientBoostingRegressor, RandomForestRegressor
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    def forest(leaf: int, features: float = 0.5) -> Callable[[], Any]:
        return lambda: RandomForestRegressor(n_estimators=100, min_samples_leaf=leaf, max_features=features,
                                             random_state=0, n_jobs=1)

    def extra(leaf: int, features: float) -> Callable[[], Any]:
        return lambda: ExtraTreesRegressor(n_estimators=100, min_samples_leaf=leaf, max_features=features,
                                           random_state=0, n_jobs=1)

    return {
        "forest (shipped: leaf 5)": forest(5),
        "forest, leaf 20": forest(20),
        "forest, leaf 60": forest(60),
        "forest, leaf 20, a third of the features": forest(20, 0.33),
        **{f"extra trees, leaf {leaf}, {features:.0%} of the features": extra(leaf, features)
           for leaf, features in ((5, 0.5), (20, 0.5), (60, 0.5), (20, 1.0))},
        "gradient boosting": lambda: HistGradientBoostingRegressor(max_iter=200, learning_rate=0.05, max_leaf_nodes=15,
                                                                   min_samples_leaf=40, random_state=0),
        "ridge, degree 2": lambda: make_pipeline(StandardScaler(), PolynomialFeatures(2), StandardScaler(),
                                                 RidgeCV(alphas=np.logspace(-2, 4, 13))),
        "ridge, linear": lambda: make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 4, 13))),
        "k nearest neighbours (50)": lambda: make_pipeline(StandardScaler(), KNeighborsRegressor(50, weights="distance")),
    }


def compare(data: zoopred.ZooData, judge: dict[str, zoopred.ZooData]) -> pd.DataFrame:
    """Per held-out task and learner, Spearman between the learner's prediction and each judge's normalised score
    (the judges pool the same runs in the same order, with other targets; a task a judge leaves out, never above
    chance on its target, gets NaN)."""
    make = learners()
    rows = []
    for task, train, test in zoopred.loto_folds(data.task):
        tr, te = data.subset(np.isin(np.arange(len(data)), train)), data.subset(np.isin(np.arange(len(data)), test))
        fill = zoopred.fill_values(tr.X)
        X_tr, X_te = zoopred._fill(tr.X, fill, zoopred.FEATURES), zoopred._fill(te.X, fill, zoopred.FEATURES)
        row: dict[str, Any] = {"task": task, "runs": len(te), "headroom": te.tasks[task]["headroom"]}
        for name, factory in make.items():
            pred = factory().fit(X_tr, tr.target("rank")).predict(X_te)
            for jname, j in judge.items():
                y = j.y[j.task == task]
                row[(name, jname)] = zoopred.spearman(pred, y) if len(y) == len(pred) else float("nan")
        rows.append(row)
        print(task, flush=True)
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--storage", default=str(cache_dir() / "zoo" / "store.journal"), help="The zoo sweep's store.")
    ap.add_argument("--means", type=Path, nargs="*", default=[], help="Retest files: also judge against seed means.")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "zoo-models")
    args = ap.parse_args()
    from zoo_retest import judges as make_judges

    records, _ = zoopred.load_zoo_records(args.storage)
    judge = make_judges(records, args.means)  # the held-out task's sweep runs: the same rows throughout
    data = judge["one seed"]
    table = compare(data, judge)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "models.csv", index=False)
    from zoo_loto import md

    cols = [c for c in table.columns if isinstance(c, tuple)]
    summary = pd.DataFrame([{"learner": c[0], "judged against": c[1], "median": table[c].median(),
                             "q25": table[c].quantile(0.25), "tasks ≥ 0.6": int((table[c] >= 0.6).sum()),
                             "tasks": int(table[c].notna().sum())} for c in cols])
    text = md(summary) + "\n"
    (args.out / "report.md").write_text(text)
    print(text)


if __name__ == "__main__":
    with one_line_errors():
        main()
