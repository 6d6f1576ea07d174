"""Do near-dense structures beat dense across the zoo? (issue 18's last target, session 22)

On `rad:r8f10` dense beat every structure the zoo sweep found, and making one block sparse at a time showed why:
the task wants its recurrent block dense (docs/results.md). The zoo sweep's sampler draws hidden-proportion targets
over random densities and so rarely draws near-dense structures, which the recommender therefore cannot learn
about. This script asks whether that family is worth adding: per task, dense and the six structures with one block
at ``--density`` (the other five dense), trained at the judgement's settings of the 4× density-init judgement
(`zoo_recommend.py --epochs-factor 4 --init-scale density --budgets smaller`: the task's smaller sweep budget, the
zoo plan's settings at 4× its epochs, the zoo's median lr), seeds 0..``--seeds``−1. Each is compared with dense by
a paired t-test over the seeds, and so is the near-dense structure that the validation loss picks per task
(selection on validation, never on test).

Run (resumable, its own store; split the tasks over processes to use more cores):
    BALANCEDRNN_MNIST_DIR=<MNIST idx files> OMP_NUM_THREADS=1 .venv/bin/python experiments/zoo_near_dense.py \
        [--tasks ...] [--out runs/zoo-near-dense]
    .venv/bin/python experiments/zoo_near_dense.py --report-only
writes runs/zoo-near-dense/{trials[-LANE].csv,report.md}.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from _common import one_line_errors

from balancedrnn.core.spec import BLOCKS
from balancedrnn.io import cache_dir

ROOT = Path(__file__).resolve().parents[1]


def near_dense(density: float) -> dict[str, str]:
    """Label → config: dense, and each block alone at ``density`` with the other five dense."""
    out = {"dense": "dense"}
    for block in BLOCKS:
        out[f"{block} sparse"] = ",".join(f"{b}={density if b == block else 1:g}" for b in BLOCKS)
    return out


def pick_on_validation(trials: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """Per task, the runs of the label (of ``labels``) with the lowest mean validation loss, relabelled
    ``picked``."""
    from zoo_recommend import mean_val_loss  # a sibling script: experiments/ is on the path

    rows = []
    for task, g in trials[trials.role.isin(labels)].groupby("task"):
        loss = g.groupby("role")["val_loss"].apply(mean_val_loss)
        best = g[g.role == loss.idxmin()].copy()
        best["picked_label"], best["role"] = best["role"], "picked"
        rows.append(best)
    return pd.concat(rows, ignore_index=True) if rows else trials.iloc[:0]


def report(trials: pd.DataFrame, labels: list[str], out: Path) -> str:
    """Each near-dense structure and the one validation picks against dense: paired t-test counts, the mean
    difference's sign, and :func:`zoo_recommend.power_line`."""
    from zoo_recommend import paired_counts, power_line, power_table  # a sibling script: experiments/ is on the path

    picked = pick_on_validation(trials, [x for x in labels if x != "dense"])
    both = pd.concat([trials, picked], ignore_index=True)
    lines = [(f"{trials.task.nunique()} tasks, seeds {trials.seed.nunique()}; paired t-test against dense (better / "
              "indistinguishable / worse; then at Holm's levels across the tasks), and how often the mean difference "
              "is positive"), ""]
    lines += ["| structure | vs dense | Holm | mean above dense |", "|---|---|---|---|"]
    for label in [*[x for x in labels if x != "dense"], "picked"]:
        power = power_table(both, label, "dense")
        lines.append(f"| {label} | {paired_counts(both, label, 'dense')} | {paired_counts(both, label, 'dense', holm=True)}"
                     f" | {int((power['mean'].round(12) > 0).sum())} of {len(power)} tasks |")
    counts = picked.groupby("task")["picked_label"].first().value_counts()
    lines += ["", "validation picked: " + ", ".join(f"{k} ×{v}" for k, v in counts.items()), "",
              "power: " + power_line(both, "picked", "dense")]
    text = "\n".join(lines) + "\n"
    (out / "report.md").write_text(text)
    return text


def main() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--storage", default=None, help="The 4x density-init zoo sweep's store (for the task list, the "
                    "base configs and the median lr; default: zoo-long-density.journal in the zoo cache).")
    ap.add_argument("--out-store", default=None, help="This script's store (default: zoo-near-dense.journal).")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "zoo-near-dense")
    ap.add_argument("--density", type=float, default=0.2)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--tasks", nargs="*")
    ap.add_argument("--lane", default="", help="With --tasks split over processes: a name per process, so each "
                    "writes its own trials-<lane>.csv (--report-only reads them all).")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args()
    labels = list(near_dense(args.density))
    if args.report_only:
        paths = sorted(args.out.glob("trials*.csv"))
        if not paths:
            raise SystemExit(f"error: no trials*.csv in {args.out}: run without --report-only first")
        print(report(pd.concat([pd.read_csv(p) for p in paths], ignore_index=True), labels, args.out))
        return
    if not 0 < args.density < 1 or args.seeds < 2:
        raise SystemExit("error: --density must lie in (0, 1) and --seeds be at least 2")
    import torch
    from zoo_recommend import fitting, zoo_bases

    from balancedrnn.analysis import zoopred
    from balancedrnn.record import RunRecord
    from balancedrnn.sweep import store
    from balancedrnn.sweep.executor import run_sweep
    from balancedrnn.sweep.spec import SweepSpec

    torch.set_num_threads(1)
    storage = args.storage or str(cache_dir() / "zoo" / "zoo-long-density.journal")
    out_store = args.out_store or str(cache_dir() / "zoo" / "zoo-near-dense.journal")
    records, _ = zoopred.load_zoo_records(storage, prefix="long4-")
    if not records:
        raise SystemExit(f"error: no runs in studies named long4-… in {storage}")
    data = zoopred.prepare_zoo(records)
    median_lr = float(zoopred.ZooPredictor(curve=False, n_estimators=1).fit(data).defaults_["lr"])
    bases = zoo_bases("small", records)
    swept = {str((r.get("config") or {}).get("task")) for r in records}
    unknown = [t for t in args.tasks or [] if t not in swept]
    if unknown:
        raise SystemExit(f"error: not a task of the sweep: {', '.join(unknown)}")
    for t in [t for t in args.tasks or sorted(swept) if t not in data.tasks]:
        print(f"{t}: no run of the sweep above chance; skipped", flush=True)
    configs = near_dense(args.density)
    args.out.mkdir(parents=True, exist_ok=True)
    lane = f"-{args.lane}" if args.lane else ""
    rows: list[dict[str, Any]] = []
    failed = []
    for task in [t for t in (args.tasks or list(data.tasks)) if t in bases]:
        base, budgets = bases[task]
        budget = min(budgets)
        base = {**base, "epochs": int(base["epochs"]) * 4, "init_scale": "density", "budget": budget, "lr": median_lr}
        from balancedrnn.tasks import get_task

        t = get_task(task)
        feasible = fitting(configs, t.dx, t.dy, budget)
        if "dense" not in feasible:
            print(f"{task}: dense does not fit {budget:g}; skipped", flush=True)
            continue
        name = f"near-dense-{task.replace(':', '-')}-b{int(budget)}"
        spec = SweepSpec.from_dict({"name": name, "base": base,
                                    "sampler": {"kind": "grid", "models": list(feasible.values()),
                                                "seeds": list(range(args.seeds))},
                                    "workers": 1, "seed": 0, "storage": out_store})
        result = run_sweep(spec, run_dir=args.out, progress=False)
        if result.interrupted:
            raise SystemExit("interrupted: run again to resume")
        if result.exit_code:
            failed.append(task)
        label_of = {m: label for label, m in feasible.items()}
        for r in store.iter_records(store.open_study(store.open_storage(out_store, args.out), name)):
            rr = RunRecord.from_dict(r)
            model = str(rr.config["model"])
            if rr.ok and rr.value is not None and model in label_of and int(rr.config["seed"]) < args.seeds:
                loss = (rr.final.val if rr.final else {}).get("loss")
                rows.append({"task": task, "budget": budget, "role": label_of[model], "model": model,
                             "seed": int(rr.config["seed"]), "value": rr.value,
                             "val_loss": float(loss) if loss is not None else np.nan})
        print(f"{task} at {budget:g}: {len(feasible)} structures", flush=True)
        pd.DataFrame(rows).to_csv(args.out / f"trials{lane}.csv", index=False)
    print(report(pd.DataFrame(rows), labels, args.out))
    if failed:
        raise SystemExit(f"error: failed trials in {', '.join(failed)}; their counts use the ok runs; run again to resume")


if __name__ == "__main__":
    with one_line_errors():
        main()
