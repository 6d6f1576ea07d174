"""How much of a zoo run's score is its structure, and how much its seed? (issue 18)

Every run of the zoo sweep trained once (trial i of a task with seed i). This script trains each of them again with
seed 1 (same task, data split, densities, dh, lr, epochs and batch; only the initialisation and the batch order
change; trial 1, whose seed was already 1, is left out of the pairs) and measures, per task:

* the **test-retest Spearman** between the two seeds' scores over the task's runs: how reproducible the order of
  its configurations is. A predictor of the *true* (seed-averaged) score can correlate with one seed's score at
  most about sqrt(test-retest) (classical attenuation), so this is the ceiling the leave-one-task-out target
  (median Spearman ≥ 0.6) has to fit under;
* the zoo predictor (the shipped forest, fitted leave one task out on the original runs) judged against the original
  runs, against the retest and against the mean of the two; and the same forest fitted on both seeds' runs (the mean, in effect),
  judged against the mean: does a less noisy target transfer better?

Run (after the zoo sweep; about 1.5 core-hours for all 1,920 runs, resumable):
    BALANCEDRNN_MNIST_DIR=<MNIST idx files> OMP_NUM_THREADS=1 .venv/bin/python experiments/zoo_retest.py [--tasks ...]
    .venv/bin/python experiments/zoo_retest.py --analyse   # only the tables, from the runs made so far
    .venv/bin/python experiments/zoo_retest.py --seed 2 --retest <cache>/zoo/retest-s2.jsonl   # a third seed, then
    .venv/bin/python experiments/zoo_retest.py --means <cache>/zoo/retest.jsonl <cache>/zoo/retest-s2.jsonl
writes the retest's records to <cache>/zoo/retest.jsonl and runs/zoo-retest/{retest.csv,report.md}.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from _common import one_line_errors

from balancedrnn.analysis import zoopred
from balancedrnn.io import cache_dir

ROOT = Path(__file__).resolve().parents[1]
MATCH = ("task", "model", "budget", "lr", "epochs", "batch_size", "n_train", "data_seed", "init_mean", "init_std")


def match_key(config: dict[str, Any]) -> str:
    """A run's configuration without its seed: the key that pairs a run with its retest."""
    return json.dumps([config.get(k) for k in MATCH], default=str)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a JSON-lines file; a torn last line (a killed run) is ignored."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return out


def run_key(config: dict[str, Any]) -> str:
    """A run's configuration with its seed: the key of a run already made."""
    return json.dumps([match_key(config), config.get("seed")])


def is_block_run(record: dict[str, Any], task: str | None = None) -> bool:
    """An ok block-RNN run (of ``task``): a run the zoo predictor pools."""
    return bool(record.get("status") == "ok" and (record.get("model") or {}).get("density")
                and (task is None or (record.get("config") or {}).get("task") == task))


def block_runs(records: list[dict[str, Any]], task: str | None = None) -> list[dict[str, Any]]:
    """The ok block-RNN runs of the records (of ``task``), in their order."""
    return [r for r in records if is_block_run(r, task)]


def append_record(path: Path, record: dict[str, Any]) -> None:
    """Append one run record to a JSON-lines file, on disk before the next run starts."""
    with path.open("a") as f:
        f.write(json.dumps(record, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())


def retrain(records: list[dict[str, Any]], path: Path, seed: int, tasks: list[str]) -> None:
    """Train every ok run of ``tasks`` again with ``seed``, appending each record to ``path`` (resumable)."""
    from balancedrnn.tasks import get_task
    from balancedrnn.train import TrainConfig, run_trial

    done = {match_key(r["config"]) for r in read_jsonl(path) if r.get("config", {}).get("seed") == seed}
    by_task: dict[str, list[dict[str, Any]]] = {}
    for r in block_runs(records):
        by_task.setdefault(str(r["config"]["task"]), []).append(r)
    todo = [t for t in tasks if t in by_task]
    total = sum(len(by_task[t]) for t in todo)
    n = sum(1 for t in todo for r in by_task[t] if match_key(r["config"]) in done)
    start = time.time()
    for task in todo:
        pending = [r for r in by_task[task] if match_key(r["config"]) not in done]
        if not pending:
            continue
        cfg0 = TrainConfig.from_dict({**pending[0]["config"], "seed": seed})
        data = get_task(task).load(cfg0, False)
        t0 = time.time()
        for r in pending:
            cfg = TrainConfig.from_dict({**r["config"], "seed": seed})
            append_record(path, run_trial(cfg, data=data, progress=False))
            n += 1
        print(f"{task}: {len(pending)} runs in {time.time() - t0:.0f} s ({n}/{total}, {time.time() - start:.0f} s)",
              flush=True)


def pair(original: list[dict[str, Any]], retest: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per run that has both seeds: task, the two values, and its index in ``original``."""
    second = {match_key(r["config"]): r for r in retest if r.get("status") == "ok"}
    rows = []
    for i, r in enumerate(original):
        other = second.get(match_key(r.get("config") or {}))
        if r.get("status") == "ok" and other is not None and other["config"].get("seed") != r["config"].get("seed"):
            v0, v1 = (r.get("final") or {}).get("value"), (other.get("final") or {}).get("value")
            if v0 is not None and v1 is not None:
                rows.append({"i": i, "task": r["config"]["task"], "original": float(v0), "retest": float(v1)})
    return pd.DataFrame(rows)


def analyse(records: list[dict[str, Any]], retest: list[dict[str, Any]], out: Path, trees: int) -> str:
    """The tables: per task, test-retest Spearman, its attenuation ceiling, and the forest judged against each seed
    and their mean, fitted on the original runs or on both."""
    from scipy.stats import rankdata

    pairs = pair(records, retest)
    tasks = [t for t, g in pairs.groupby("task") if len(g) >= 10]
    base = zoopred.prepare_zoo(records)  # the original runs: the shipped predictor's data
    both = zoopred.prepare_zoo(records + [r for r in retest if r.get("config", {}).get("task") in tasks])
    rows = []
    for task in tasks:
        if task not in base.tasks:
            continue
        g = pairs[pairs["task"] == task]
        # the held-out task's pooled rows follow the order of its ok block runs in the records
        order = {i: k for k, i in enumerate(j for j, r in enumerate(records) if is_block_run(r, task))}
        pos = np.array([order[i] for i in g["i"]])
        row: dict[str, Any] = {"task": task, "runs": len(g), "headroom": base.tasks[task]["headroom"],
                               "test-retest": zoopred.spearman(g["original"].to_numpy(), g["retest"].to_numpy())}
        row["ceiling"] = float(np.sqrt(max(row["test-retest"], 0.0)))
        mean = (g["original"].to_numpy() + g["retest"].to_numpy()) / 2
        for name, data in (("original", base), ("both runs", both)):
            train = data.subset(data.task != task)
            forest = zoopred.ZooPredictor(n_estimators=trees, curve=False).fit(train)
            held = base.subset(base.task == task)  # the task's original runs, in the records' order
            if len(order) != len(held):
                raise SystemExit(f"{task}: {len(order)} ok runs in the records but {len(held)} pooled")
            p = forest.predict(held.X)[pos]
            if name == "original":
                row["forest vs original"] = zoopred.spearman(p, g["original"].to_numpy())
                row["forest vs retest"] = zoopred.spearman(p, g["retest"].to_numpy())
                row["forest vs mean"] = zoopred.spearman(p, mean)
            else:
                row["forest (both runs) vs mean"] = zoopred.spearman(p, mean)
        row["original vs mean"] = zoopred.spearman(g["original"].to_numpy(), mean)
        row["mean rank agreement"] = float(np.mean(np.abs(rankdata(g["original"]) - rankdata(g["retest"]))) / len(g))
        rows.append(row)
    table = pd.DataFrame(rows)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "retest.csv", index=False)
    learned = table["headroom"] >= zoopred.LEARNED
    cols = ["test-retest", "ceiling", "forest vs original", "forest vs retest", "forest vs mean",
            "forest (both runs) vs mean"]
    summary = pd.DataFrame({"median (all)": table[cols].median(), "median (learned)": table.loc[learned, cols].median(),
                            "tasks ≥ 0.6": (table[cols] >= 0.6).sum()})
    from zoo_loto import md

    lines = [f"{len(pairs)} runs with both seeds, {len(table)} tasks ({int(learned.sum())} learned)", "",
             md(summary.reset_index().rename(columns={"index": "Spearman"})), "",
             md(table.sort_values("test-retest", ascending=False))]
    text = "\n".join(lines) + "\n"
    (out / "report.md").write_text(text)
    return text


def judges(records: list[dict[str, Any]], retest_files: list[Path]) -> dict[str, Any]:
    """What a held-out task's predictions are judged against, the same rows in the same order: the zoo's block runs
    as trained once ("one seed") and, with retest files, their means over every seed ("seed mean")."""
    from balancedrnn.analysis import zoopred

    runs = block_runs(records)
    out = {"one seed": zoopred.prepare_zoo(runs)}
    if retest_files:
        means, _ = seed_means(records, [r for p in retest_files for r in read_jsonl(p)])
        if len(means) != len(runs):
            raise SystemExit(f"{len(runs) - len(means)} runs have no value on any seed")
        out["seed mean"] = zoopred.prepare_zoo(means)
    return out


def seed_means(records: list[dict[str, Any]], retests: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """The zoo's block runs with each final value replaced by its mean over every seed the configuration was trained
    with (the original run and the retests, each seed once), and per run the values by source (a frame: task, run,
    seed: "original" or "seed N", value)."""
    values: dict[str, dict[str, float]] = {}  # by run: "original" and each retest seed
    seed_of: dict[str, int] = {}
    for source, runs in (("original", block_runs(records)), ("retest", block_runs(retests))):
        for r in runs:
            v, key, seed = (r.get("final") or {}).get("value"), match_key(r["config"]), int(r["config"]["seed"])
            if v is None or (source == "retest" and seed_of.get(key) == seed):
                continue  # a retest with the original's own seed repeats it
            seed_of.setdefault(key, seed)
            values.setdefault(key, {}).setdefault("original" if source == "original" else f"seed {seed}", float(v))
    out, rows = [], []
    for i, r in enumerate(block_runs(records)):
        got = values.get(match_key(r["config"]), {})
        if not got:
            continue
        out.append({**r, "final": {**r["final"], "value": float(np.mean(list(got.values())))}})
        rows += [{"task": r["config"]["task"], "run": i, "seed": s, "value": v} for s, v in got.items()]
    return out, pd.DataFrame(rows)


def analyse_means(records: list[dict[str, Any]], retests: list[dict[str, Any]], out: Path, trees: int) -> str:
    """Judge against the mean over seeds instead of one seed: per task the reliability of that mean (the mean
    pairwise test-retest Spearman r over seed pairs, stepped up to k seeds: k r / (1 + (k - 1) r)) and its ceiling,
    and the forest fitted leave one task out on the original runs or on the seed means, judged against the means."""
    from itertools import combinations

    means, by_seed = seed_means(records, retests)
    wide = by_seed.pivot_table(index=["task", "run"], columns="seed", values="value")
    base = zoopred.prepare_zoo(block_runs(records))
    avg = zoopred.prepare_zoo(means)
    rows = []
    for task in avg.tasks:
        if task not in base.tasks:
            continue
        w = wide.loc[task]
        seeds = [s for s in w.columns if w[s].notna().sum() >= 10]
        full = w[seeds].dropna()
        k = len(seeds)
        pairs = [zoopred.spearman(full[a].to_numpy(), full[b].to_numpy()) for a, b in combinations(seeds, 2)]
        r = float(np.nanmean(pairs)) if pairs else float("nan")
        rel = k * r / (1 + (k - 1) * r) if k >= 2 and r > -1 / (k - 1) else float("nan")
        row: dict[str, Any] = {"task": task, "runs": int(len(w)), "seeds": k, "pairwise test-retest": r,
                               "reliability of the mean": rel, "ceiling (mean)": float(np.sqrt(max(rel, 0.0)))}
        held = avg.subset(avg.task == task)
        for name, data in (("forest vs mean", base), ("forest (fitted on means) vs mean", avg)):
            forest = zoopred.ZooPredictor(n_estimators=trees, curve=False).fit(data.subset(data.task != task))
            row[name] = zoopred.spearman(forest.predict(held.X), held.y)
        rows.append(row)
    table = pd.DataFrame(rows)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "means.csv", index=False)
    cols = ["pairwise test-retest", "reliability of the mean", "ceiling (mean)", "forest vs mean",
            "forest (fitted on means) vs mean"]
    summary = pd.DataFrame({"median": table[cols].median(), "tasks ≥ 0.6": (table[cols] >= 0.6).sum()})
    from zoo_loto import md

    text = "\n".join([f"{len(table)} tasks, seeds per run: {sorted(set(table['seeds']))}", "",
                      md(summary.reset_index().rename(columns={"index": "Spearman"})), "",
                      md(table.sort_values("reliability of the mean", ascending=False))]) + "\n"
    (out / "means.md").write_text(text)
    return text


def longer(records: list[dict[str, Any]], tasks: list[str], factor: int, per_task: int, seed: int, path: Path) -> str:
    """Does more training make a task's order reproducible? The first ``per_task`` runs of each task trained with
    ``factor`` times the epochs, twice (their own seed and ``seed``); the test-retest Spearman at that length
    against the one at the sweep's length on the same configurations."""
    chosen = []
    for task in tasks:
        runs = [r for r in block_runs(records, task) if r["config"]["seed"] != seed][:per_task]
        for r in runs:
            for s in (r["config"]["seed"], seed):
                chosen.append({**r, "config": {**r["config"], "epochs": r["config"]["epochs"] * factor, "seed": s}})
    done = {run_key(r["config"]) for r in read_jsonl(path)}
    from balancedrnn.tasks import get_task
    from balancedrnn.train import TrainConfig, run_trial

    data_of: dict[str, Any] = {}
    for i, r in enumerate(chosen):
        if run_key(r["config"]) in done:
            continue
        cfg = TrainConfig.from_dict(r["config"])
        if cfg.task not in data_of:
            data_of = {cfg.task: get_task(cfg.task).load(cfg, False)}
        append_record(path, run_trial(cfg, data=data_of[cfg.task], progress=False))
        if (i + 1) % 20 == 0:
            print(f"{i + 1}/{len(chosen)} runs", flush=True)
    got = {run_key(r["config"]): r["final"]["value"] for r in read_jsonl(path)
           if r.get("status") == "ok" and r["final"].get("value") is not None}
    retest = {match_key(r["config"]): r for r in read_jsonl(path.parent / "retest.jsonl")}
    lines = [f"| task | configs | epochs | test-retest at the sweep's epochs | at {factor}x | mean score at the sweep's "
             f"epochs | at {factor}x |", "|---|---:|---:|---:|---:|---:|---:|"]
    for task in tasks:
        a, b, a0, b0 = [], [], [], []
        for r in records:
            if r.get("status") != "ok" or r["config"]["task"] != task:
                continue
            k = {**r["config"], "epochs": r["config"]["epochs"] * factor}
            x, y = (got.get(run_key({**k, "seed": s})) for s in (r["config"]["seed"], seed))
            again = retest.get(match_key(r["config"]))
            if x is None or y is None or again is None:
                continue
            a.append(x)
            b.append(y)
            a0.append(r["final"]["value"])
            b0.append(again["final"]["value"])
        if len(a) >= 5:
            epochs = next(r["config"]["epochs"] for r in records if r["config"]["task"] == task)
            lines.append(f"| {task} | {len(a)} | {epochs} → {epochs * factor} "
                         f"| {zoopred.spearman(np.array(a0), np.array(b0)):.2f} | {zoopred.spearman(np.array(a), np.array(b)):.2f} "
                         f"| {np.mean(a0 + b0):.3f} | {np.mean(a + b):.3f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--storage", default=str(cache_dir() / "zoo" / "store.journal"), help="The zoo sweep's store.")
    ap.add_argument("--retest", type=Path, default=cache_dir() / "zoo" / "retest.jsonl")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "zoo-retest")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tasks", nargs="*", help="Only these tasks (default: every task, Hammer last).")
    ap.add_argument("--analyse", action="store_true", help="Only the tables, from the retest runs made so far.")
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--epochs-factor", type=int, default=0, help="With --tasks: train the first --per-task runs of "
                    "each task this many times longer, twice, and compare the test-retest Spearman.")
    ap.add_argument("--per-task", type=int, default=30)
    ap.add_argument("--means", type=Path, nargs="+", default=None, help="Retest files (other seeds): judge against the "
                    "mean over the original run and every retest (tables only).")
    args = ap.parse_args()
    missing = [str(p) for p in args.means or [] if not p.is_file()]
    if missing:  # checked before the store is read
        raise SystemExit(f"error: no retest file {', '.join(missing)} (make one with --seed N --retest PATH)")
    torch.set_num_threads(1)
    records, _ = zoopred.load_zoo_records(args.storage)
    if args.means:
        print(analyse_means(records, [r for p in args.means for r in read_jsonl(p)], args.out, args.trees))
        return
    if args.epochs_factor:
        if not args.tasks:
            raise SystemExit("--epochs-factor needs --tasks")
        print(longer(records, args.tasks, args.epochs_factor, args.per_task, args.seed,
                     args.retest.parent / f"retest-x{args.epochs_factor}.jsonl"))
        return
    if not args.analyse:
        names = list(dict.fromkeys(str((r.get("config") or {}).get("task")) for r in records))
        tasks = args.tasks or sorted(names, key=lambda t: (t.startswith("hammer"), names.index(t)))
        args.retest.parent.mkdir(parents=True, exist_ok=True)
        retrain(records, args.retest, args.seed, tasks)
    print(analyse(records, read_jsonl(args.retest), args.out, args.trees))


if __name__ == "__main__":
    with one_line_errors():
        main()
