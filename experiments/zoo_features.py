"""A lever against the zoo predictor's transfer failures (issue 18): features of the training regime.

On Uschange and Lynx the within-task order runs against the zoo's (larger lr and budget are *worse*: 101 and 54
windows trained for 20-25 epochs overfit), and the forest, which has no feature saying how long or how hard a task
is trained, ranks them backwards. This script adds such features to the shipped forest's and compares, leave one
task out on the same folds: log epochs, log updates (epochs x batches per epoch), log training steps per weight
(training sequences x T / budget), and log lr + log updates.

Run (after the zoo sweep): .venv/bin/python experiments/zoo_features.py   # prints the table; about 3 core-minutes
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from _common import one_line_errors

from balancedrnn.analysis import zoopred
from balancedrnn.io import cache_dir

EXTRA = ("log_epochs", "log_updates", "log_steps_per_weight", "log_lr_updates")


def with_regime(features: Any) -> Any:
    """``dimensionless_features`` plus the training-regime features of :data:`EXTRA`."""

    def row(record: dict[str, Any]) -> dict[str, float]:
        out = features(record)
        c = record.get("config") or {}
        n = math.exp(out["log_n_train"]) if math.isfinite(out["log_n_train"]) else math.nan
        T = math.exp(out["log_T"]) if math.isfinite(out["log_T"]) else math.nan
        epochs, batch = float(c.get("epochs", math.nan)), float(c.get("batch_size", math.nan))
        out["log_epochs"] = math.log(epochs)
        out["log_updates"] = math.log(epochs * math.ceil(n / batch)) if math.isfinite(n) else math.nan
        out["log_steps_per_weight"] = math.log(n * T / float(c["budget"])) if math.isfinite(n * T) else math.nan
        out["log_lr_updates"] = out["log_lr"] + out["log_updates"]
        return out

    return row


def main() -> None:
    base = zoopred.FEATURES
    zoopred.dimensionless_features = with_regime(zoopred.dimensionless_features)
    zoopred.FEATURES = (*base, *EXTRA)
    records, _ = zoopred.load_zoo_records(str(cache_dir() / "zoo" / "store.journal"))
    data = zoopred.prepare_zoo(records)
    sets = {"forest (shipped features)": base, "+ updates": (*base, "log_updates"), "+ epochs": (*base, "log_epochs"),
            "+ steps per weight": (*base, "log_steps_per_weight"),
            "+ updates, lr x updates": (*base, "log_updates", "log_lr_updates"), "+ all four": zoopred.FEATURES}
    table = zoopred.leave_one_task_out(data, feature_sets=sets, parent=False)
    learned = table["headroom"] >= zoopred.LEARNED
    print(pd.DataFrame({"median": table[list(sets)].median(), "median (learned)": table.loc[learned, list(sets)].median(),
                        "tasks >= 0.6": (table[list(sets)] >= 0.6).sum()}).round(2).to_string())
    print(table[["task", *sets]].round(2).to_string())


if __name__ == "__main__":
    with one_line_errors():
        main()
