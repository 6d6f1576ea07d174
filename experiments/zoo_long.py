"""The zoo sweep trained longer (issue 18's lever for "better than dense"): every sweep of the ``zoo`` plan at
``--factor`` times its epochs, at the task's smaller budget only, ``--trials`` trials each, into its own store.

zoo_levers.py found that training length is what lets sparse structures pass dense (the best of 16 structures
beats dense on 7 of 27 learnt tasks at the zoo's epochs, 13 at 4×, 17 at 10×), but the zoo's predictor only knows
the zoo's few epochs. These runs let the recommender be fitted and judged at a longer training, with the zoo
sweep's sampler unchanged (densities, initialisation and lr drawn as there; hidden proportions spread over the
task's range). Studies are named ``long<factor>-<task>``, never ``zoo-…``: ``load_zoo_records`` must not pool
them with the short runs. Every record keeps its validation curve.

Run (resumable; ``--workers`` processes per sweep, one thread each):
    BALANCEDRNN_MNIST_DIR=<MNIST idx files> OMP_NUM_THREADS=1 .venv/bin/python experiments/zoo_long.py \
        [--factor 4] [--trials 60] [--workers 2] [--tasks ...]
then judge the recommender at that length, and compare the judgements of every length:
    .venv/bin/python experiments/zoo_recommend.py --storage ~/.cache/balancedrnn/zoo/zoo-long.journal \
        --prefix long4- --epochs-factor 4 --budgets smaller
    .venv/bin/python experiments/zoo_long.py --report [--judged base=runs/zoo-recommend-smaller ...]
writes runs/zoo-long/report.md and docs/img/zoo_long.png.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from balancedrnn.core.spec import INIT_SCALES
from balancedrnn.io import cache_dir

if TYPE_CHECKING:
    from balancedrnn.sweep.spec import SweepSpec

ROOT = Path(__file__).resolve().parents[1]


def long_specs(factor: int, trials: int, workers: int, storage: str, init_scale: str = "fixed",
               rewire: float = 0.0) -> dict[str, SweepSpec]:
    """Per zoo task: the zoo plan's sweep (small scale) at ``factor`` × its epochs and its smaller budget (and at
    ``init_scale``, TrainConfig's, when not ``fixed``: the sampler's init_std drawn as before, then scaled; with
    TrainConfig's ``rewire`` when not 0)."""
    from balancedrnn.reproduce.plan import load_plan, sweep_specs

    out = {}
    for spec in sweep_specs(load_plan("zoo"), "small"):
        task = str(spec.base["task"])
        sampler = dataclasses.replace(spec.sampler, budgets=[min(spec.sampler.budgets)], n_trials=trials)
        out[task] = dataclasses.replace(
            spec, name=f"long{factor}-{task.replace(':', '-')}", sampler=sampler, workers=workers, storage=storage,
            base={**spec.base, "epochs": int(spec.base["epochs"]) * factor,
                  **({"init_scale": init_scale} if init_scale != "fixed" else {}),
                  **({"rewire": rewire} if rewire else {})})
    return out


JUDGED = {"base": "runs/zoo-recommend-smaller", "long4": "runs/zoo-recommend-long4",
          "long4-lr": "runs/zoo-recommend-long4-lr", "long4-density": "runs/zoo-recommend-long4-density",
          "long10": "runs/zoo-recommend-long10"}
"""zoo_recommend.py's result directories at the smaller budget, per training length (the zoo's epochs, 4×, 10×;
``long4-lr``: 4× with each config's lr chosen on validation, ``--lr-factors``; ``long4-density``: 4×, sweep and
judgement at the density init scale, ``--init-scale density``)."""


def report(judged: dict[str, Path], out: Path, figure_path: Path) -> str:
    """Per training length: the recommendation and the oracle against dense, uniform:0.2 and balanced (better /
    level / worse), over every task and over the tasks some config learns; and the figure of recommended − dense."""
    import sys

    import numpy as np
    import pandas as pd

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from zoo_levers import arm_order, figure
    from zoo_recommend import ALPHA, TOL, difference, learnt, paired_counts, paired_interval, tolerance_counts

    from balancedrnn.analysis.meta import REFERENCES

    frames, trials = [], {}
    for label, d in judged.items():
        if not (d / "cells.csv").is_file():
            raise SystemExit(f"error: no {d / 'cells.csv'}: run zoo_recommend.py for {label} first")
        frames.append(pd.read_csv(d / "cells.csv").assign(arm=label))
        if (d / "trials.csv").is_file() and "seed" in (t := pd.read_csv(d / "trials.csv")).columns:
            trials[label] = t  # per-seed values: the paired test (older judgements kept no seeds)
    cells = pd.concat(frames, ignore_index=True)
    common = set.intersection(*(set(f["task"]) for f in frames))
    dropped = sorted(set(cells["task"]) - common)
    cells = cells[cells["task"].isin(common)]  # the same tasks at every length (the long sweeps have no Hammer)
    cells = cells.assign(learnt=learnt(cells, ["recommended", *REFERENCES, "oracle"]))
    intervals = {arm: paired_interval(t, "recommended", "dense") for arm, t in trials.items()}  # the figure's bars
    cells["ci"] = [intervals[arm].get(task, np.nan) if arm in intervals else np.nan
                   for arm, task in zip(cells["arm"], cells["task"])]
    lines = [f"recommendation (leave one task out) and oracle against the references, at the smaller budget; "
             f"better / level / worse by {TOL} on the mean of the seeds; the {len(common)} tasks judged at every "
             f"length" + (f" (left out: {', '.join(dropped)})" if dropped else "") + f"; \"t-test\": better / "
             f"indistinguishable / worse by a paired t-test over the seeds (p < {ALPHA}), where the judgement kept "
             "its seeds (\"Holm\": at Holm's step-down levels across the row's tasks)", "",
             "| epochs | tasks | n | who | vs dense | vs dense (t-test) | vs dense (t-test, Holm) | dense beaten or not "
             "fitting | vs uniform:0.2 | vs uniform:0.2 (t-test) | vs uniform:0.2 (t-test, Holm) | vs balanced | "
             "median regret |", "|---" * 13 + "|"]
    for arm, g in sorted(cells.groupby("arm"), key=lambda x: arm_order(x[0])):
        for subset, h in (("all", g), ("learnt", g[g.learnt])):
            for who in ("recommended", "oracle"):
                if h[who].isna().all():  # not trained in this judgement (zoo_recommend.py --roles)
                    continue
                fits = h["dense"].notna()
                beaten = int(((difference(h[who], h["dense"]) > TOL) | ~fits).sum())
                tested = {ref: paired_counts(trials[arm], who, ref, h["task"]) if arm in trials else "—"
                          for ref in ("dense", "uniform:0.2")}
                holm = {ref: paired_counts(trials[arm], who, ref, h["task"], holm=True) if arm in trials else "—"
                        for ref in ("dense", "uniform:0.2")}
                regret = (h["oracle"] - h["recommended"]).median()
                balanced = tolerance_counts(h[who], h["balanced"]) if h["balanced"].notna().any() else "—"
                lines.append(f"| {arm} | {subset} | {len(h)} | {who} | {tolerance_counts(h[who], h['dense'])} | "
                             f"{tested['dense']} | {holm['dense']} | {beaten} of {len(h)} | "
                             f"{tolerance_counts(h[who], h['uniform:0.2'])} | {tested['uniform:0.2']} | "
                             f"{holm['uniform:0.2']} | "
                             f"{balanced} | {'—' if np.isnan(regret) else f'{regret:.3f}'} |")
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text("\n".join(lines) + "\n")
    cells.to_csv(out / "judged.csv", index=False)
    figure(cells, figure_path, who="recommended",
           title="Recommendation (leave one task out) against dense, per learnt task, by judgement")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--factor", type=int, default=4, help="Epochs, times the zoo plan's.")
    ap.add_argument("--trials", type=int, default=60, help="Trials per task (all at its smaller budget).")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tasks", nargs="*", help="Only these zoo tasks (default: every task of the zoo plan).")
    ap.add_argument("--init-scale", default="fixed", choices=INIT_SCALES, help="TrainConfig.init_scale of every "
                    "trial; other than fixed, the default store is zoo-long-<scale>.journal (the study names stay "
                    "long<factor>-<task>, so zoo_recommend.py takes the same --prefix).")
    ap.add_argument("--rewire", type=float, default=0.0, help="TrainConfig.rewire of every trial (dynamic sparsity); "
                    "other than 0 the default store's name gets -rewire<fraction>.")
    ap.add_argument("--storage", help="The store (default: zoo-long.journal in the zoo cache).")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "zoo-long")
    ap.add_argument("--report", action="store_true", help="Compare zoo_recommend.py's judgements (--judged); no "
                    "training.")
    ap.add_argument("--judged", nargs="*", metavar="LABEL=DIR", help="zoo_recommend.py result directories by "
                    "training length (default: " + ", ".join(f"{k}={v}" for k, v in JUDGED.items()) + ", those present)")
    ap.add_argument("--figure", type=Path, default=ROOT / "docs" / "img" / "zoo_long.png")
    args = ap.parse_args()
    if args.report:
        if args.judged:
            bad = [j for j in args.judged if "=" not in j]
            if bad:
                raise SystemExit(f"error: --judged takes LABEL=DIR, got {', '.join(bad)}")
            judged = {k: Path(v) for k, v in (j.split("=", 1) for j in args.judged)}
        else:
            judged = {k: ROOT / v for k, v in JUDGED.items() if (ROOT / v / "cells.csv").is_file()}
            if not judged:
                raise SystemExit(f"error: none of {', '.join(JUDGED.values())} has a cells.csv: run zoo_recommend.py "
                                 "first, or give --judged")
        print(report(judged, args.out, args.figure))
        return
    if args.factor < 1 or args.trials < 1 or args.workers < 1:
        raise SystemExit("error: --factor, --trials and --workers must be positive")
    from balancedrnn.train import check_rewire

    try:
        check_rewire(args.rewire, "--rewire")
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    args.storage = args.storage or str(cache_dir() / "zoo" / (
        "zoo-long" + ("" if args.init_scale == "fixed" else f"-{args.init_scale}")
        + ("" if not args.rewire else f"-rewire{args.rewire:g}") + ".journal"))
    specs = long_specs(args.factor, args.trials, args.workers, args.storage, args.init_scale, args.rewire)
    unknown = [t for t in args.tasks or [] if t not in specs]
    if unknown:  # before any training
        raise SystemExit(f"error: not a task of the zoo plan: {', '.join(unknown)}; known: {', '.join(specs)}")
    from balancedrnn.sweep.executor import run_sweep

    args.out.mkdir(parents=True, exist_ok=True)
    incomplete = []
    for task in args.tasks or list(specs):
        result = run_sweep(specs[task], run_dir=args.out, progress=False)
        print(f"{task}: {result.done}/{result.total} done" + (f", {result.failed} failed" if result.failed else ""),
              flush=True)
        if result.interrupted:
            raise SystemExit("interrupted: run again to resume")
        if result.exit_code:
            incomplete.append(task)
    if incomplete:
        raise SystemExit(f"error: failed trials or dead workers in {', '.join(incomplete)}; run again to resume "
                         "(the environment's failures are retried)")


if __name__ == "__main__":
    main()
