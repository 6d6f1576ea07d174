"""Each config at the init scale its own validation loss chooses (issue 18's lever for "better than dense").

zoo_recommend.py judges the recommender at one init scale at a time (``--init-scale``: the sweep it learns from and
every config it trains share it). This script takes two or more of those judgements, labelled by their scale, and
lets each role (the recommendation, dense, uniform 0.2, balanced, the oracle) take, per task, the judgement whose
runs have the lowest mean validation loss, as ``--lr-factors`` does for the learning rate: the test values never
choose. It then counts, by the paired t-test over the seeds, the chosen roles against chosen dense, and every
label's recommendation against every label's dense.

The ``density`` scale leaves a dense block as it is, so in a ``density`` judgement dense is the paper's init.

Run (after zoo_recommend.py at each scale; their trials.csv must keep the validation loss):
    .venv/bin/python experiments/zoo_init_choice.py --judged density=runs/zoo-recommend-long4-density \
        fan-in=runs/zoo-recommend-long4-fan-in --out runs/zoo-init-choice
writes report.md, trials.csv (the chosen runs, ``init`` naming their judgement) and cells.csv (their means).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
ROLES = ("recommended", "dense", "uniform:0.2", "balanced", "oracle")


def load(judged: dict[str, Path]) -> pd.DataFrame:
    """Every judgement's trials.csv, each run's role renamed ``role@label``. Refuses a judgement whose trials lack
    the validation loss (written before zoo_recommend.py kept it: run it again, it resumes from its store)."""
    frames = []
    for label, path in judged.items():
        file = path / "trials.csv"
        if not file.is_file():
            raise SystemExit(f"error: no {file}: run zoo_recommend.py for {label} first")
        t = pd.read_csv(file)
        if "val_loss" not in t.columns:
            raise SystemExit(f"error: {file} has no val_loss column: run zoo_recommend.py again with the same "
                             "arguments (it resumes from its store and rewrites trials.csv)")
        frames.append(t.assign(role=t.role + "@" + label, init=label))
    return pd.concat(frames, ignore_index=True)


def choose(trials: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """Per task and role, the runs of the label whose mean validation loss is lowest, as role ``role``; a role
    trained under one label only keeps that label's runs."""
    from zoo_near_dense import pick_on_validation  # a sibling script: experiments/ is on the path

    out = []
    for role in ROLES:
        picked = pick_on_validation(trials, [f"{role}@{label}" for label in labels])
        if len(picked):
            out.append(picked.assign(role=role, init=picked["picked_label"].str.split("@").str[1]))
    return pd.concat(out, ignore_index=True).drop(columns="picked_label") if out else trials.iloc[:0]


def cells(trials: pd.DataFrame) -> pd.DataFrame:
    """Per task: each role's mean over its seeds (one column per role)."""
    return trials.pivot_table(index="task", columns="role", values="value", aggfunc="mean").reset_index()


def report(trials: pd.DataFrame, chosen: pd.DataFrame, labels: list[str], out: Path) -> str:
    """The chosen roles against chosen dense and uniform 0.2, then every label's recommendation against every
    label's dense: paired t-test counts (all tasks, after Holm, the learnt tasks) and the power line (all tasks)."""
    from zoo_recommend import learnt, paired_counts, power_line

    table = cells(chosen)
    roles = [r for r in ROLES if r in table.columns]
    ok = learnt(table, roles)
    tasks = set(table.loc[ok, "task"])
    lines = [f"{chosen.task.nunique()} tasks ({len(tasks)} learnt), seeds {chosen.seed.nunique()}, init scales "
             f"{', '.join(labels)} (each role's per task chosen on validation)", "",
             "init chosen (tasks per label): " + "; ".join(
                 f"{role}: " + ", ".join(f"{k} ×{v}" for k, v in chosen[chosen.role == role].groupby("task")["init"]
                                         .first().value_counts().items()) for role in roles), "",
             "| who | against | all tasks | Holm | learnt tasks | power (mean above the reference; callable) |",
             "|---|---|---|---|---|---|"]

    def row(data: pd.DataFrame, who: str, ref: str) -> str:
        return (f"| {who} | {ref} | {paired_counts(data, who, ref)} | {paired_counts(data, who, ref, holm=True)} | "
                f"{paired_counts(data, who, ref, tasks)} | {power_line(data, who, ref)} |")

    for who in [r for r in ("recommended", "oracle", "uniform:0.2", "balanced") if r in roles]:
        for ref in [r for r in ("dense", "uniform:0.2") if r in roles and r != who]:
            lines.append(row(chosen, who, ref))
    both = pd.concat([trials, chosen], ignore_index=True)
    for a in labels:
        for b in labels:
            if f"recommended@{a}" in set(trials.role) and f"dense@{b}" in set(trials.role):
                lines.append(row(both, f"recommended@{a}", f"dense@{b}"))
        if f"recommended@{a}" in set(trials.role):
            lines.append(row(both, f"recommended@{a}", "dense"))
    lines += ["", "Counts are better / indistinguishable / worse by a two-sided paired t-test over the seeds at "
              "p < 0.05 per task; Holm: at Holm's step-down levels across the tasks; the power column is over all "
              "tasks. `dense` alone is dense at the init its validation chose."]
    text = "\n".join(lines) + "\n"
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(text)
    chosen.to_csv(out / "trials.csv", index=False)
    table.to_csv(out / "cells.csv", index=False)
    return text


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--judged", nargs="+", required=True, metavar="LABEL=DIR",
                    help="zoo_recommend.py result directories, labelled by their init scale (two or more).")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "zoo-init-choice")
    args = ap.parse_args()
    bad = [j for j in args.judged if "=" not in j or not j.split("=", 1)[0] or "@" in j.split("=", 1)[0]]
    if bad:
        raise SystemExit(f"error: --judged takes LABEL=DIR (a label without @), got {', '.join(bad)}")
    judged = {k: Path(v) for k, v in (j.split("=", 1) for j in args.judged)}
    if len(judged) < 2:
        raise SystemExit("error: --judged needs two or more labelled judgements to choose between")
    trials = load(judged)
    print(report(trials, choose(trials, list(judged)), list(judged), args.out))


if __name__ == "__main__":
    main()
