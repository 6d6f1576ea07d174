"""What pooling the named configs' trials costs in ranking (issue 18): leave one task out, the forest fitted on the
zoo sweep alone and on the sweep plus the named configs' trials of ``zoo_recommend.py`` (the shipped predictor's
data), both judged on the same rows, the held-out task's own sweep runs (Spearman against the within-task rank).

Run (after zoo_recommend.py; about 3 minutes):
    OMP_NUM_THREADS=1 .venv/bin/python experiments/zoo_references_loto.py
"""

from __future__ import annotations

import argparse

import numpy as np

from balancedrnn.analysis import zoopred
from balancedrnn.io import cache_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--storage", default=str(cache_dir() / "zoo" / "store.journal"), help="The zoo sweep's store.")
    ap.add_argument("--references", default=str(cache_dir() / "zoo" / "zoo-recommend.journal"),
                    help="zoo_recommend.py's store.")
    args = ap.parse_args()
    records, _ = zoopred.load_zoo_records(args.storage)
    extra = zoopred.load_reference_records(args.references)
    sweep = zoopred.prepare_zoo(records)  # the held-out task's sweep runs: the same rows in both cases
    out = {}
    for name, pool in (("sweep only", records), ("with the named configs' trials", records + extra)):
        data = zoopred.prepare_zoo(pool)
        rho = []
        for task in sweep.tasks:
            p = zoopred.ZooPredictor(curve=False).fit(data.subset(data.task != task))
            te = sweep.subset(sweep.task == task)
            rho.append(zoopred.spearman(p.predict(te.X), te.target()))
        out[name] = np.array(rho)
        print(f"{name}: median Spearman {np.nanmedian(rho):.3f}, ≥ 0.6 on {(out[name] >= 0.6).sum()} of {len(rho)} tasks",
              flush=True)
    d = out["with the named configs' trials"] - out["sweep only"]
    print(f"per task: median difference {np.nanmedian(d):+.3f}, better on {(d > 0).sum()}, worse on {(d < 0).sum()}")


if __name__ == "__main__":
    main()
