"""What pooling the named configs' trials costs in ranking (issue 18): leave one task out, the forest fitted on the
zoo sweep alone and on the sweep plus the named configs' trials of ``zoo_recommend.py`` (the shipped predictor's
data), both judged on the same rows, the held-out task's own sweep runs (Spearman against the within-task rank).

With ``--means`` (zoo_retest.py's retest files) both forests are also judged against the held-out task's
three-seed means, the reading on which session 10 found the target met (0.62).

Run (after zoo_recommend.py; about 3 minutes):
    OMP_NUM_THREADS=1 .venv/bin/python experiments/zoo_references_loto.py \
        [--means <cache>/zoo/retest.jsonl <cache>/zoo/retest-s2.jsonl]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from _common import one_line_errors

from balancedrnn.analysis import zoopred
from balancedrnn.io import cache_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--storage", default=str(cache_dir() / "zoo" / "store.journal"), help="The zoo sweep's store.")
    ap.add_argument("--references", default=str(cache_dir() / "zoo" / "zoo-recommend.journal"),
                    help="zoo_recommend.py's store.")
    ap.add_argument("--means", type=Path, nargs="*", default=[], help="Retest files: also judge against seed means.")
    args = ap.parse_args()
    from zoo_retest import judges as make_judges

    records, _ = zoopred.load_zoo_records(args.storage)
    extra = zoopred.load_reference_records(args.references)
    judges = make_judges(records, args.means)  # the held-out task's sweep runs: the same rows throughout
    sweep = judges["one seed"]
    out = {}
    for name, pool in (("sweep only", records), ("with the named configs' trials", records + extra)):
        data = zoopred.prepare_zoo(pool)
        rho: dict[str, list[float]] = {j: [] for j in judges}
        for task in sweep.tasks:
            p = zoopred.ZooPredictor(curve=False).fit(data.subset(data.task != task))
            pred = p.predict(sweep.subset(sweep.task == task).X)
            for jname, judge in judges.items():
                y = judge.y[judge.task == task]
                rho[jname].append(zoopred.spearman(pred, y) if len(y) == len(pred) else float("nan"))
        for jname, values in rho.items():
            r = out[(name, jname)] = np.array(values)
            print(f"{name}, judged against the {jname}: median Spearman {np.nanmedian(r):.3f}, ≥ 0.6 on "
                  f"{(r >= 0.6).sum()} of {np.isfinite(r).sum()} tasks", flush=True)
    for jname in judges:
        d = out[("with the named configs' trials", jname)] - out[("sweep only", jname)]
        print(f"against the {jname}, per task: median difference {np.nanmedian(d):+.3f}, better on {(d > 0).sum()}, "
              f"worse on {(d < 0).sum()}")


if __name__ == "__main__":
    with one_line_errors():
        main()
