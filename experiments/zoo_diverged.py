"""The zoo runs that diverged at the density init (issue 18, session 21): would a bounded scale have saved them?

At ``--init-scale density`` a few runs had a NaN loss in epoch 1 (hh at density 0.001-0.003: its few recurrent
weights start at 18-30x the fixed std). This script reads every run of the given stores whose status is not ok,
retrains each with its own config (same seed, data, lr, epochs) at the fixed init, at the density init, and at
the density init with the boost capped: each block's factor 1/sqrt(max(density, cap)) for the caps of ``--caps``
(a number: that density floor; ``1/n``, ``2/n``, ``4/n``: a floor of that many expected entries per row of the
block, n being its inputs). The capped variants exist only here, to answer the question; the library's scales are
:data:`balancedrnn.core.spec.INIT_SCALES`.

Run:
    BALANCEDRNN_MNIST_DIR=<MNIST idx files> OMP_NUM_THREADS=1 .venv/bin/python experiments/zoo_diverged.py \
        <cache>/zoo/zoo-long-density.journal <cache>/zoo/zoo-recommend-long4-density.journal
prints one row per diverged run and writes runs/zoo-diverged/report.md.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any
from unittest import mock

import pandas as pd

from balancedrnn.core import configs
from balancedrnn.core.spec import BlockSpec, scaled_init
from balancedrnn.train import TrainConfig, run_trial

ROOT = Path(__file__).resolve().parents[1]


def failed_configs(storages: list[str]) -> list[dict[str, Any]]:
    """The config of every run of these stores whose status is not ok, in store order."""
    import optuna

    from balancedrnn.sweep import store

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    out = []
    for path in storages:
        st = store.open_storage(path, ".", create=False)
        for summary in optuna.get_all_study_summaries(st):
            for rec in store.iter_records(store.open_study(st, summary.study_name, create=False)):
                if rec.get("status") != "ok":
                    out.append(dict(rec["config"]))
    return out


def capped_density(floor: Callable[[int], float]) -> Callable[[BlockSpec, str], dict[str, tuple[float, float]]]:
    """``scaled_init`` whose ``density`` scale divides a block's std by sqrt(max(density, floor(its inputs)))."""

    def init(spec: BlockSpec, scale: str = "fixed") -> dict[str, tuple[float, float]]:
        if scale != "density":
            return scaled_init(spec, scale)
        return {b: (m, s / math.sqrt(max(spec.density[b], floor(spec.shape(b)[1]))) if spec.density[b] > 0 else s)
                for b, (m, s) in spec.init.items()}

    return init


def parse_cap(text: str) -> Callable[[int], float]:
    """``0.05`` (a density floor) or ``k/n`` (k expected entries per row)."""
    if text.endswith("/n"):
        k = float(text[:-2])
        return lambda n: min(1.0, k / n)
    value = float(text)
    return lambda n: value


def outcome(config: Mapping[str, Any], scale: str, init: Callable[..., Any] | None = None) -> str:
    """The run's test metric (accuracy or skill, 3 digits), or its status when it did not finish ok."""
    names = {f.name for f in fields(TrainConfig)}
    cfg = replace(TrainConfig(**{k: v for k, v in config.items() if k in names}), init_scale=scale)
    with mock.patch.object(configs, "scaled_init", init or scaled_init):
        rec = run_trial(cfg, progress=False)
    if rec["status"] != "ok":
        return str(rec["status"])
    value = rec["final"]["value"]
    return f"{value:.3g}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("storages", nargs="+", help="Stores (journal files) whose failed runs to retrain.")
    ap.add_argument("--caps", nargs="*", default=["1/n", "2/n", "4/n", "0.01", "0.05"])
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "zoo-diverged")
    args = ap.parse_args()
    rows = []
    for config in failed_configs(args.storages):
        row = {"task": config["task"], "model": config["model"], "seed": config["seed"],
               "fixed": outcome(config, "fixed"), "density": outcome(config, "density")}
        for cap in args.caps:
            row[f"density, cap {cap}"] = outcome(config, "density", capped_density(parse_cap(cap)))
        print(row, flush=True)
        rows.append(row)
    args.out.mkdir(parents=True, exist_ok=True)
    from zoo_loto import md  # the sibling script's markdown table

    table = pd.DataFrame(rows)
    (args.out / "report.md").write_text(f"{len(table)} runs that did not finish ok, retrained (test metric or status)\n\n"
                                        + (md(table) if len(table) else "") + "\n")
    print(f"report: {args.out / 'report.md'}")


if __name__ == "__main__":
    main()
