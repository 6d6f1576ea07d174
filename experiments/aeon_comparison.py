"""Your own data: the estimators against aeon's classifiers on every classification set aeon ships (issue 20).

For each UCR/UEA problem in the installed aeon's wheel (loaded offline with aeon's own loaders, standard TRAIN/TEST
split), train on TRAIN and score accuracy on TEST:

* ``auto``: ``BlockRNNClassifier(config="auto")`` (the recommender's choice with the shipped zoo predictor, as
  ``balancedrnn recommend --task ucr:NAME``);
* ``balanced``, ``dense`` and ``lstm``: the same estimator with ``config="balanced"`` (the a-priori rule, hidden
  proportion 0.5; what ``auto`` was before the package shipped a predictor) / ``"dense"`` / ``"lstm"`` at the same
  budget;
* ``MiniRocket``: aeon's ``MiniRocketClassifier`` (10,000 kernels, ridge), unequal-length series zero-padded at
  the end to the longest (it needs equal lengths);
* ``1-NN DTW``: aeon's ``KNeighborsTimeSeriesClassifier`` (full-window DTW; deterministic, so one run).

The RNNs use the estimator's defaults except ``epochs`` and ``lr`` (below): budget None = the weights of a dense
block RNN with 64 hidden units for the data's shape (``tasks.timeseries.default_budget``), batch 16, every channel
standardised with the training statistics, no early stopping. Seeds 0..S-1 for everything seeded. One torch
thread; fit time is the process's CPU time (on a shared machine wall time measures the neighbours), wall time is
recorded too.

Rows are appended to ``--out`` (JSON lines) as they finish, so an interrupted run resumes; ``--report`` prints the
markdown table for docs/results.md from every ``*.jsonl`` in that directory (two processes, each with its own
``--only`` list and ``--out`` file, split the sets).

Run:  nice -n 10 .venv/bin/python experiments/aeon_comparison.py --seeds 3
      .venv/bin/python experiments/aeon_comparison.py --report
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import torch

DATASETS = {  # aeon loader -> problem name, cheapest first (so a cut-short run still covers most sets)
    "load_unit_test": "UnitTest",
    "load_italy_power_demand": "ItalyPowerDemand",
    "load_gunpoint": "GunPoint",
    "load_arrow_head": "ArrowHead",
    "load_basic_motions": "BasicMotions",
    "load_japanese_vowels": "JapaneseVowels",
    "load_pickup_gesture_wiimoteZ": "PickupGestureWiimoteZ",
    "load_osuleaf": "OSULeaf",
    "load_acsf1": "ACSF1",
}
RNNS = ("auto", "balanced", "dense", "lstm")
OTHERS = ("MiniRocket", "1-NN DTW")
EPOCHS = 30
LR = 3e-3


def load(loader: str) -> tuple:
    import aeon.datasets as D

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # aeon 1.6 warns that OSULeaf and ACSF1 leave its wheel in 1.7
        X, y = getattr(D, loader)(split="train")
        Xt, yt = getattr(D, loader)(split="test")
    return X, np.asarray(y), Xt, np.asarray(yt)


def pad_end(X: object, length: int) -> np.ndarray:
    """Equal-length 3-D array: each series zero-padded at the end to ``length``."""
    series = [np.asarray(s, dtype=np.float64) for s in X]
    out = np.zeros((len(series), series[0].shape[0], length))
    for i, s in enumerate(series):
        out[i, :, : s.shape[1]] = s
    return out


def run_one(method: str, seed: int, X: object, y: np.ndarray, Xt: object, yt: np.ndarray) -> dict:
    t0, c0 = time.perf_counter(), time.process_time()
    extra: dict = {}
    if method in RNNS:
        from balancedrnn import BlockRNNClassifier

        clf = BlockRNNClassifier(method, epochs=EPOCHS, lr=LR, random_state=seed).fit(X, y)
        fit_time, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
        acc = clf.score(Xt, yt)
        s = clf.summary_
        extra = {"config": clf.config_, "budget": clf.budget_, "dh": s["dh"], "weights": s["weights"],
                 "hidden_proportion": s["hidden_proportion"], "budget_note": s.get("budget_note")}
    else:
        from aeon.classification.convolution_based import MiniRocketClassifier
        from aeon.classification.distance_based import KNeighborsTimeSeriesClassifier

        if method == "MiniRocket":
            length = max(np.asarray(s).shape[-1] for s in list(X) + list(Xt))
            X, Xt = pad_end(X, length), pad_end(Xt, length)
            clf = MiniRocketClassifier(random_state=seed)
        else:
            clf = KNeighborsTimeSeriesClassifier(distance="dtw", n_neighbors=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(X, y)
            fit_time, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
            acc = float(np.mean(clf.predict(Xt) == yt))
    return {"method": method, "seed": seed, "accuracy": float(acc), "fit_time": fit_time, "fit_cpu": fit_cpu,
            "total_time": time.perf_counter() - t0, "total_cpu": time.process_time() - c0, **extra}


def run(out: Path, seeds: int, only: list[str] | None, methods: list[str] | None = None) -> None:
    torch.set_num_threads(1)
    done = set()
    for f in out.parent.glob("*.jsonl"):  # every process's rows: a run done elsewhere is not repeated
        for line in f.read_text().splitlines():
            r = json.loads(line)
            done.add((r["dataset"], r["method"], r["seed"]))
    out.parent.mkdir(parents=True, exist_ok=True)
    for loader, name in DATASETS.items():
        if only and name not in only:
            continue
        X, y, Xt, yt = load(loader)
        for method in (m for m in (*OTHERS, *RNNS) if not methods or m in methods):
            for seed in range(1 if method == "1-NN DTW" else seeds):
                if (name, method, seed) in done:
                    continue
                row = {"dataset": name, **run_one(method, seed, X, y, Xt, yt)}
                with open(out, "a") as f:
                    f.write(json.dumps(row) + "\n")
                print(f"{name} {method} seed {seed}: accuracy {row['accuracy']:.3f}, fit {row['fit_time']:.1f} s ({row['fit_cpu']:.1f} s CPU)", flush=True)


def report(out: Path) -> str:
    """The tables of every ``*.jsonl`` beside ``out`` (runs split over processes with ``--only`` write one each)."""
    rows, seen = [], set()
    for f in sorted(out.parent.glob("*.jsonl")):
        for line in f.read_text().splitlines():
            r = json.loads(line)
            if (r["dataset"], r["method"], r["seed"]) not in seen:  # a row two processes both ran counts once
                seen.add((r["dataset"], r["method"], r["seed"]))
                rows.append(r)
    methods = (*RNNS, *OTHERS)
    lines = ["| data set (train/test, channels, length, classes) | budget | " + " | ".join(methods) + " |",
             "|---|---:|" + "---:|" * len(methods)]
    fit_lines = ["| data set | " + " | ".join(methods) + " |", "|---|" + "---:|" * len(methods)]
    import aeon.datasets as D  # noqa: F401 - the shapes below come from the same loaders

    for loader, name in DATASETS.items():
        mine = [r for r in rows if r["dataset"] == name]
        if not mine:
            continue
        X, y, Xt, yt = load(loader)
        lengths = sorted({np.asarray(s).shape[-1] for s in list(X)})
        length = str(lengths[0]) if len(lengths) == 1 else f"{lengths[0]}-{lengths[-1]}"
        from balancedrnn.tasks.timeseries import default_budget  # the estimators' budget=None rule

        budget = next((r["budget"] for r in mine if "budget" in r), default_budget(np.asarray(X[0]).shape[0], len(set(y))))
        cells, fits = [], []
        best = max((statistics.mean(r["accuracy"] for r in mine if r["method"] == m)
                    for m in methods if any(r["method"] == m for r in mine)), default=None)
        for m in methods:
            accs = [r["accuracy"] for r in mine if r["method"] == m]
            if not accs:
                cells.append("-")
                fits.append("-")
                continue
            mean = statistics.mean(accs)
            sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
            text = f"{mean:.3f} ± {sd:.3f}" if len(accs) > 1 else f"{mean:.3f}"
            cells.append(f"**{text}**" if best is not None and mean == best else text)
            fit = statistics.median(r["fit_cpu"] for r in mine if r["method"] == m)
            total = statistics.median(r["total_cpu"] for r in mine if r["method"] == m)
            fits.append(f"{fit:.1f} / {total:.1f}")
        shape = f"{name} ({len(X)}/{len(Xt)}, {np.asarray(X[0]).shape[0]}, {length}, {len(set(y))})"
        lines.append(f"| {shape} | {budget:,.0f} | " + " | ".join(cells) + " |")
        fit_lines.append(f"| {name} | " + " | ".join(fits) + " |")
    configs = []
    for loader, name in DATASETS.items():
        auto = next((r for r in rows if r["dataset"] == name and r["method"] == "auto"), None)
        lstm = next((r for r in rows if r["dataset"] == name and r["method"] == "lstm"), None)
        if auto:
            note = f"; lstm: {lstm['budget_note']}" if lstm and lstm.get("budget_note") else ""
            configs.append(f"* {name}: auto = `{auto['config']}`, dh {auto['dh']}, hidden proportion "
                           f"{auto['hidden_proportion']:.2f}, {auto['weights']:,} weights{note}")
    seeds = sorted({r["seed"] for r in rows})
    return ("Test accuracy, mean ± std over seeds " + ", ".join(map(str, seeds)) + " (1-NN DTW: deterministic, one run); "
            "best per row in bold.\n\n" + "\n".join(lines) + "\n\nMedian CPU seconds over seeds, fit / fit + predicting the test split (one thread; 1-NN does its work when "
            "predicting; the first MiniRocket and DTW calls include numba's compilation):\n\n"
            + "\n".join(fit_lines) + "\n\nWhat `auto` chose:\n\n" + "\n".join(configs) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("runs/aeon_comparison/results.jsonl"))
    parser.add_argument("--only", nargs="*", help="Data set names (default: all)")
    parser.add_argument("--methods", nargs="*", help=f"Methods (default: all of {', '.join((*RNNS, *OTHERS))})")
    parser.add_argument("--report", action="store_true", help="Print the markdown table of --out and exit")
    args = parser.parse_args()
    if args.report:
        print(report(args.out))
        return
    os.environ.setdefault("BALANCEDRNN_OFFLINE", "1")
    run(args.out, args.seeds, args.only, args.methods)


if __name__ == "__main__":
    main()
