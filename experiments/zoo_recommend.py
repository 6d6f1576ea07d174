"""The recommender judged leave one task out on every zoo task (issue 18): for each task of the zoo sweep, the zoo
predictor fitted on every *other* task recommends a configuration before any training of its own
(``meta.recommend_config``, the function ``balancedrnn recommend`` and the estimators use); it is trained beside
dense, uniform:0.2, the balanced rule and the oracle (the densities of the best run the task's own sweep found at
that budget), same seeds, same data, same lr and initialisation (the zoo's median lr, the default init), at each of
the task's sweep budgets. Regret = oracle − recommended (mean over seeds).

Run (after the zoo sweep; long: 5 configs × seeds × budgets × tasks trials, one worker):
    nice -n 10 .venv/bin/python experiments/zoo_recommend.py [--storage STORE] [--seeds 3] [--budgets larger]
    [--with-references]   # a second pass: the forest also learns from the named configs' trials of the first
    [--storage <cache>/zoo/zoo-long.journal --prefix long4- --epochs-factor 4]   # at 4x the epochs (zoo_long.py)
    [--lr-factors 0.333 3 --roles recommended dense uniform:0.2]   # each config at its own lr, chosen on validation
    [--init-scale density]   # every config at that TrainConfig.init_scale (the sweep too: zoo_long.py --init-scale)
    [--rewire 0.3 --roles recommended uniform:0.2 balanced oracle]   # dynamic sparsity (TrainConfig.rewire); dense
                             # has no inactive entry to move, so its runs would repeat the fixed masks' ones
    [--prune 0.5 --roles recommended uniform:0.2 balanced oracle]   # gradual magnitude pruning from the dense
                             # network of each config's dh (TrainConfig.prune); dense has nothing to prune
writes runs/zoo-recommend/{cells.csv,trials.csv,report.md}; resumable (its own store, zoo-recommend.journal).
Better / level / worse is counted twice: by a fixed margin on the seeds' means, and by a paired t-test over the seeds
(trials.csv keeps each run's seed and validation loss).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from _common import one_line_errors

from balancedrnn.analysis import zoopred
from balancedrnn.analysis.meta import REFERENCES, recommend_config  # REFERENCES: dense, uniform:0.2, balanced
from balancedrnn.core.spec import INIT_SCALES
from balancedrnn.io import cache_dir

ROOT = Path(__file__).resolve().parents[1]


def zoo_bases(scale: str, records: list[dict[str, Any]]) -> dict[str, tuple[dict[str, Any], list[float]]]:
    """Per zoo task: the zoo sweep's base config and budgets at ``scale`` (from the zoo plans: ``zoo`` and
    ``zoo-hammer``), with the Minari data set the task's runs in the store used (``--set dataset=`` of the sweep)."""
    from balancedrnn.reproduce.plan import load_plan, sweep_specs

    datasets = {}
    for r in records:
        config = r.get("config") or {}
        if config.get("dataset"):
            datasets.setdefault(str(config.get("task")), config["dataset"])
    out = {}
    for plan in ("zoo", "zoo-hammer"):
        for spec in sweep_specs(load_plan(plan), scale):
            budgets = list(spec.sampler.budgets or [spec.sampler.budget])
            task = str(spec.base["task"])
            base = {**spec.base, **({"dataset": datasets[task]} if task in datasets else {})}
            out[task] = (base, [float(b) for b in budgets])
    return out


def oracle_density(data: zoopred.ZooData, records: list[dict[str, Any]], task: str, budget: float) -> str:
    """Config string of the best run of ``task`` at ``budget`` in the zoo sweep (highest judged value)."""
    from balancedrnn.record import RunRecord

    best, value = None, -np.inf
    for r in records:
        rec = RunRecord.from_dict(r)
        if rec.ok and rec.task_name == task and float(rec.config.get("budget", -1)) == budget and rec.value is not None \
                and rec.value > value and (rec.model or {}).get("density"):
            best, value = rec, rec.value
    if best is None:
        raise SystemExit(f"no ok run of {task} at budget {budget:g} in the store")
    return str(best.config["model"])


STRUCTURE = ["hidden_proportion", "log_dh"]  # and every density_<block> column


def centre_of_top(score: np.ndarray, X: pd.DataFrame, top: float = 0.05) -> np.ndarray:
    """An order whose maximum is the candidate nearest the centre (median) of the best ``top`` share by ``score``,
    in the structure's coordinates (hidden proportion and densities, each scaled by its spread over the top): the
    middle of the good region rather than its noisiest peak."""
    cols = [c for c in X.columns if c in STRUCTURE or c.startswith("density_")]
    good = score >= np.quantile(score, 1.0 - top)
    Z = X[cols].to_numpy(float)
    centre = np.median(Z[good], axis=0)
    spread = np.maximum(Z[good].std(axis=0), 1e-6)
    distance = np.sqrt((((Z - centre) / spread) ** 2).sum(axis=1))
    return np.where(good, -distance, -np.inf)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--storage", default=str(cache_dir() / "zoo" / "store.journal"), help="The zoo sweep's store.")
    ap.add_argument("--prefix", default="zoo-", help="Study-name prefix of the sweep's runs in --storage (zoo_long.py's "
                    "longer sweeps: long<factor>-).")
    ap.add_argument("--epochs-factor", type=int, default=1, help="Train the recommendation and the references at this "
                    "many times the zoo plan's epochs (the factor of the runs --prefix names).")
    ap.add_argument("--out-store", help="This script's store (default: zoo-recommend.journal in the zoo cache, "
                    "zoo-recommend-long<factor>.journal with --epochs-factor).")
    ap.add_argument("--out", type=Path, help="Result directory (default: runs/zoo-recommend[-long<factor>]).")
    ap.add_argument("--scale", default="small")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budgets", choices=("all", "larger", "smaller"), default="larger")
    ap.add_argument("--tasks", nargs="*", help="Only these tasks (default: every task of the store).")
    ap.add_argument("--candidates", type=int, default=2000)
    ap.add_argument("--without", nargs="*", default=[], help="Leave these tasks out of the pooled runs (a stability "
                    "check: does one task more or less change the recommendations?).")
    ap.add_argument("--with-references", action="store_true",
                    help="Teach the forest the named configs too: pool the dense, uniform:0.2 and balanced trials of "
                         "--out-store (this script's earlier runs, at the zoo's median lr) with the zoo sweep's runs. "
                         "Leave one task out still holds: the held-out task's own trials are left out with it.")
    ap.add_argument("--order", choices=("mean", "low", "centre"), default="mean",
                    help="Rank candidates by the forest's mean (the shipped recommender), by its trees' 10th "
                         "percentile, or take the centre of the top 5 %% by the mean (the candidate nearest the "
                         "median of their densities and hidden proportion); the last two are levers against the "
                         "argmax's instability (no parent network then).")
    ap.add_argument("--lr-factors", type=float, nargs="+", help="Train every config also at these multiples of the "
                    "zoo's median lr, and keep, per config, the lr with the lowest mean validation loss over the "
                    "seeds (each config tuned on its validation data). The median lr's runs are shared with a "
                    "judgement without this option.")
    ap.add_argument("--init-scale", default="fixed", choices=INIT_SCALES, help="Train every config at this "
                    "TrainConfig.init_scale (the sweep's runs should share it: zoo_long.py --init-scale); its "
                    "results and store get the suffix -<scale>.")
    ap.add_argument("--rewire", type=float, default=0.0, help="Train every config with this TrainConfig.rewire (SET's "
                    "dynamic sparsity; the sweep's runs keep fixed masks); results and store get the suffix "
                    "-rewire<fraction>.")
    ap.add_argument("--prune", type=float, default=0.0, help="Train every config with this TrainConfig.prune (gradual "
                    "magnitude pruning from the dense network of its dh; the sweep's runs keep fixed masks); results "
                    "and store get the suffix -prune<fraction>.")
    ap.add_argument("--roles", nargs="+", choices=("recommended", *REFERENCES, "oracle"),
                    help="Train only these configs (default: all five).")
    ap.add_argument("--report-only", action="store_true", help="Rewrite report.md from --out's cells.csv; no training.")
    args = ap.parse_args()
    if any(not (0 < f <= 100) or f == 1 for f in args.lr_factors or []):
        raise SystemExit("error: --lr-factors must be positive, at most 100 and not 1 (the median lr always runs), got "
                         + " ".join(f"{f:g}" for f in args.lr_factors))
    if args.seeds < 1:
        raise SystemExit(f"error: --seeds must be a positive integer, got {args.seeds}")
    if args.epochs_factor < 1:
        raise SystemExit(f"error: --epochs-factor must be a positive integer, got {args.epochs_factor}")
    from balancedrnn.train import check_masks

    try:
        check_masks(args.rewire, args.prune, ("--rewire", "--prune"))
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    tag = ("" if args.epochs_factor == 1 else f"-long{args.epochs_factor}") + \
        ("" if args.init_scale == "fixed" else f"-{args.init_scale}") + \
        ("" if not args.rewire else f"-rewire{args.rewire:g}") + ("" if not args.prune else f"-prune{args.prune:g}")
    args.out_store = args.out_store or str(cache_dir() / "zoo" / f"zoo-recommend{tag}.journal")
    args.out = args.out or ROOT / "runs" / f"zoo-recommend{tag}"
    if args.report_only:
        if not (args.out / "cells.csv").is_file():
            raise SystemExit(f"error: no {args.out / 'cells.csv'}: run without --report-only first")
        return write_report(pd.read_csv(args.out / "cells.csv"), args)
    torch.set_num_threads(1)
    from balancedrnn.record import RunRecord
    from balancedrnn.sweep import store
    from balancedrnn.sweep.executor import run_sweep
    from balancedrnn.sweep.spec import SweepSpec
    from balancedrnn.tasks import get_task
    from balancedrnn.tasks.zoo import predictor_info

    args.out.mkdir(parents=True, exist_ok=True)
    records, _ = zoopred.load_zoo_records(args.storage, prefix=args.prefix)
    if not records:
        raise SystemExit(f"error: no runs in studies named {args.prefix}… in {args.storage}")
    pooled = records
    if args.with_references:
        extra = zoopred.load_reference_records(args.out_store)
        print(f"pooling {len(extra)} trials of the named configs with the zoo sweep's {len(records)} runs", flush=True)
        pooled = records + extra
    data = zoopred.prepare_zoo(pooled)
    if args.without:
        data = data.subset(~np.isin(data.task, args.without))
    bases = zoo_bases(args.scale, records)
    tasks = [t for t in (args.tasks or list(data.tasks)) if t in data.tasks and t in bases]
    swept: dict[str, set[float]] = {}  # budgets each task's sweep ran (a longer sweep: the smaller budget only)
    for c in ((r.get("config") or {}) for r in records):
        swept.setdefault(str(c.get("task")), set()).add(float(c.get("budget", -1)))
    cells, trials = [], []
    incomplete: list[str] = []
    for task in tasks:
        base, budgets = bases[task]
        base = {**base, "epochs": int(base["epochs"]) * args.epochs_factor,
                **({"init_scale": args.init_scale} if args.init_scale != "fixed" else {}),
                **({"rewire": args.rewire} if args.rewire else {}),
                **({"prune": args.prune} if args.prune else {})}
        budgets = {"all": budgets, "larger": [max(budgets)], "smaller": [min(budgets)]}[args.budgets]
        budgets = [b for b in budgets if b in swept.get(task, set())]
        predictor = zoopred.ZooPredictor(curve=args.order == "mean").fit(data.subset(data.task != task))
        if args.order == "low":  # the candidate whose trees agree it is good, not the best mean
            predictor.order_score = lambda X, epochs=None, p=predictor: p.predict_interval(X)[0]  # type: ignore[method-assign]
        elif args.order == "centre":
            predictor.order_score = lambda X, epochs=None, p=predictor: centre_of_top(p.predict(X), X)  # type: ignore[method-assign]
        t = get_task(task)
        info = predictor_info(t, n_train=base.get("n_train"))  # what recommend --task tells the predictor
        for budget in budgets:
            rec = recommend_config(t.dx, t.dy, budget, regression=t.loss != "last", predictor=predictor,
                                   n_candidates=args.candidates, seed=0, task=info)
            oracle = oracle_density(data, records, task, budget)
            models = {"recommended": rec.config, **{r: r for r in REFERENCES}, "oracle": oracle}
            feasible = fitting(models, t.dx, t.dy, budget)
            print(f"{task} at {budget:g}: recommended hp {rec.hidden_proportion:.2f} ({rec.config})", flush=True)
            median_lr = float(predictor.defaults_["lr"])
            name = f"zoo-recommend{tag}-{task.replace(':', '-')}-b{int(budget)}-{args.scale}"
            runs: list[dict[str, Any]] = []  # every ok run of the cell: lr, model, seed, test value, val loss
            roles = [r for r in feasible if r in (args.roles or feasible)]
            for factor in [1.0, *(args.lr_factors or [])]:
                lr = median_lr * factor
                study_name = name if factor == 1.0 else f"{name}-lr{factor:g}x"
                spec = SweepSpec.from_dict({
                    "name": study_name, "base": {**base, "budget": budget, "lr": lr},
                    "sampler": {"kind": "grid", "models": list(dict.fromkeys(feasible[r] for r in roles)),
                                "seeds": list(range(args.seeds))},
                    "workers": 1, "seed": 0, "storage": args.out_store})
                result = run_sweep(spec, run_dir=args.out, progress=False)
                if result.interrupted:  # SIGTERM or Ctrl-C: the trials done are in the store
                    raise SystemExit("interrupted: run again to resume")
                if result.exit_code:  # the cell's means would rest on fewer seeds than asked
                    incomplete.append(f"{task} at {budget:g}, lr {lr:g}")
                study = store.open_study(store.open_storage(args.out_store, args.out), study_name)
                for r in store.iter_records(study):
                    rr = RunRecord.from_dict(r)
                    if rr.ok and rr.value is not None and int(rr.config["seed"]) < args.seeds \
                            and float(rr.config["lr"]) == lr:
                        runs.append({"lr": lr, "model": str(rr.config["model"]), "seed": int(rr.config["seed"]),
                                     "value": rr.value, "val_loss": (rr.final.val if rr.final else {}).get("loss")})
            row: dict[str, Any] = {"task": task, "budget": budget, "dx": t.dx, "dy": t.dy,
                                   "recommended_hp": rec.hidden_proportion, "predicted": rec.predicted_score}
            for role, model in models.items():
                lr, vals = pick_lr([x for x in runs if x["model"] == model] if role in roles else [])
                row[role] = float(np.mean([x["value"] for x in vals])) if vals else np.nan
                if args.lr_factors:
                    row[f"{role}_lr"] = lr
                trials += [{"task": task, "budget": budget, "role": role, "model": model, "lr": lr,
                            "seed": x["seed"], "value": x["value"], "val_loss": x["val_loss"]}
                           for x in sorted(vals, key=lambda x: x["seed"])]
            row["regret"] = row["oracle"] - row["recommended"]
            cells.append(row)
            pd.DataFrame(cells).to_csv(args.out / "cells.csv", index=False)
            pd.DataFrame(trials).to_csv(args.out / "trials.csv", index=False)
    write_report(pd.DataFrame(cells), args)
    if incomplete:
        raise SystemExit(f"error: failed trials or dead workers in {', '.join(incomplete)}; their cells use the ok "
                         "trials only; run again to resume (the environment's failures are retried)")


def fitting(models: dict[str, str], dx: int, dy: int, budget: float) -> dict[str, str]:
    """The entries of ``models`` (name → config) whose config fits ``budget`` at (dx, dy)."""
    from balancedrnn.core.configs import check_fits
    from balancedrnn.core.spec import SpecError

    out = {}
    for name, model in models.items():
        try:
            check_fits(model, dx, dy, budget)
            out[name] = model
        except SpecError:
            pass
    return out


def pick_lr(runs: list[dict[str, Any]]) -> tuple[float, list[dict[str, Any]]]:
    """Of one config's runs at one or more learning rates, the lr whose runs have the lowest mean validation loss
    (every config tuned on its own validation data: the test values never choose), and those runs. A run without
    a validation loss counts as +inf; no runs: (nan, [])."""
    by_lr: dict[float, list[dict[str, Any]]] = {}
    for x in runs:
        by_lr.setdefault(float(x["lr"]), []).append(x)
    if not by_lr:
        return float("nan"), []

    best = min(sorted(by_lr), key=lambda lr: mean_val_loss(x.get("val_loss") for x in by_lr[lr]))
    return best, by_lr[best]


def mean_val_loss(losses: Any) -> float:
    """The mean of runs' validation losses, a missing or non-finite one counting as +inf (the rule every choice on
    validation in these scripts uses: lr, near-dense structure, init scale)."""
    return float(np.mean([np.inf if v is None or not np.isfinite(v) else v for v in losses]))


TOL = 0.005
"""Better / level / worse: by more than this."""


def difference(chosen: pd.Series, ref: pd.Series) -> pd.Series:
    """``chosen − ref``, rounded so that a difference of exactly :data:`TOL` compares as TOL whatever the float noise."""
    return (chosen - ref).round(12)


def tolerance_counts(chosen: pd.Series, ref: pd.Series) -> str:
    """"better / level / worse" of ``chosen`` against ``ref`` by :data:`TOL` (rows where both exist)."""
    d = difference(chosen, ref).dropna()
    return f"{int((d > TOL).sum())} / {int((d.abs() <= TOL).sum())} / {int((d < -TOL).sum())}"


ALPHA = 0.05
"""Better / indistinguishable / worse by a two-sided paired t-test over the seeds at this level (per task, not
corrected for the number of tasks)."""


def _pairs(trials: pd.DataFrame, who: str, ref: str) -> Any:
    """Per task: ``(task, who − ref per seed)`` over the seeds both roles ran (empty when none), paired by seed
    number (same seed: same data split and initialisation stream)."""
    for task, g in trials.groupby("task"):
        a = g[g.role == who].set_index("seed")["value"]
        b = g[g.role == ref].set_index("seed")["value"]
        common = a.index.intersection(b.index)
        yield task, a[common] - b[common]


def paired_counts(trials: pd.DataFrame, who: str, ref: str, tasks: Any = None, holm: bool = False) -> str:
    """"better / indistinguishable / worse" of role ``who`` against role ``ref`` on each task (of ``tasks``, default
    all) where both ran: the mean of the per-seed differences, significant by a paired t-test at :data:`ALPHA`
    (the one-sample test of the differences); with ``holm``, at Holm's step-down levels across those tasks. A task
    with fewer than two common seeds, or with every difference equal to zero, is indistinguishable."""
    from scipy.stats import ttest_1samp

    keep = None if tasks is None else set(tasks)
    tests = []  # (p, sign of the mean difference) per task
    for task, d in _pairs(trials, who, ref):
        if not len(d) or (keep is not None and task not in keep):
            continue
        p = ttest_1samp(d, 0.0).pvalue if len(d) >= 2 and (d.round(12) != 0).any() else np.nan
        tests.append((p if np.isfinite(p) else 1.0, np.sign(d.mean())))
    significant = [False] * len(tests)
    order = sorted(range(len(tests)), key=lambda i: tests[i][0])
    for rank, i in enumerate(order):  # Holm: the k-th smallest p against ALPHA / (m − k); stop at the first miss
        if tests[i][0] >= (ALPHA / (len(tests) - rank) if holm else ALPHA):
            if holm:
                break
            continue
        significant[i] = True
    better = sum(1 for (_, sign), sig in zip(tests, significant) if sig and sign > 0)
    worse = sum(1 for (_, sign), sig in zip(tests, significant) if sig and sign < 0)
    return f"{better} / {len(tests) - better - worse} / {worse}"


def paired_interval(trials: pd.DataFrame, who: str, ref: str) -> pd.Series:
    """Per task: half the width of the 95 % t interval of the mean per-seed difference ``who − ref`` (NaN with
    fewer than two common seeds)."""
    from scipy.stats import t as student

    out = {task: float(student.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))) if len(d) >= 2 else np.nan
           for task, d in _pairs(trials, who, ref)}
    return pd.Series(out, dtype=float)


POWER = 0.8
"""The power :func:`seeds_needed` asks of the paired t-test."""


def seeds_needed(d: pd.Series, power: float = POWER, alpha: float = ALPHA, most: int = 1000) -> float:
    """Seeds a two-sided paired t-test at ``alpha`` would need to call a difference of ``d``'s mean with probability
    ``power``, the per-seed differences spreading as ``d``'s do (the noncentral t distribution); inf when the mean
    is zero or more than ``most`` seeds would be needed, NaN with fewer than two differences."""
    from scipy.stats import nct
    from scipy.stats import t as student

    if len(d) < 2:
        return float("nan")
    mean, sd = round(float(d.mean()), 12), float(d.std(ddof=1))  # a mean of rounding noise is zero
    if sd == 0.0:
        return 2.0 if mean != 0.0 else float("inf")
    if mean == 0.0:
        return float("inf")
    for n in range(2, most + 1):
        crit, nc = student.ppf(1 - alpha / 2, n - 1), abs(mean) / sd * np.sqrt(n)
        if nct.sf(crit, n - 1, nc) + nct.cdf(-crit, n - 1, nc) >= power:
            return float(n)
    return float("inf")


def power_table(trials: pd.DataFrame, who: str, ref: str) -> pd.DataFrame:
    """Per task where both roles ran: seeds, the mean and sd of the per-seed differences ``who − ref``, and
    :func:`seeds_needed` to call that mean. A task whose mean difference is not positive could never be called
    better, whatever the seeds: the count of positive means bounds "significantly better on this many tasks"."""
    rows = [{"task": task, "seeds": len(d), "mean": float(d.mean()), "sd": float(d.std(ddof=1)) if len(d) >= 2 else np.nan,
             "seeds_needed": seeds_needed(d)} for task, d in _pairs(trials, who, ref) if len(d)]
    return pd.DataFrame(rows, columns=["task", "seeds", "mean", "sd", "seeds_needed"])


def power_line(trials: pd.DataFrame, who: str, ref: str, tasks: Any = None) -> str:
    """One line of :func:`power_table`: how many tasks have a positive mean difference (the most any number of
    seeds could call better) and how many of those the seeds run, 30 and 100 seeds would call at :data:`POWER`."""
    table = power_table(trials, who, ref)
    if tasks is not None:
        table = table[table.task.isin(set(tasks))]
    up = table[table["mean"].round(12) > 0]
    run = int(table["seeds"].max()) if len(table) else 0
    return (f"{who} − {ref} positive on {len(up)} of {len(table)} tasks; of those, {POWER:.0%} power at "
            f"{run} seeds on {int((up.seeds_needed <= run).sum())}, at 30 on {int((up.seeds_needed <= 30).sum())}, at 100 on "
            f"{int((up.seeds_needed <= 100).sum())}")


LEARNT = 0.02
"""A task counts as learnt when some config's mean is above its chance level by more than this: on the others every
config sits at chance, and better / level / worse there is the seeds' noise."""


def learnt(table: pd.DataFrame, roles: list[str]) -> pd.Series:
    """Per row (task): whether the best of ``roles``' means is above the task's chance level by :data:`LEARNT`."""
    from balancedrnn.tasks import get_task
    from balancedrnn.tasks.zoo import meta_features

    chance = pd.Series([float(meta_features(get_task(t))["chance"] or 0.0) for t in table["task"]], index=table.index)
    return table[roles].max(axis=1) > chance + LEARNT


def write_report(table: pd.DataFrame, args: argparse.Namespace) -> None:
    """report.md from the cells: the recommendation against each reference, better / level / worse by TOL, how
    often it is at least as good as each, how often it is dense, and the regret."""
    if not len(table):
        raise SystemExit("no task to judge")
    lines = [f"{len(table)} cells ({len(set(table['task']))} tasks), seeds {args.seeds}, budgets: {args.budgets}", ""]
    chosen = [c for c in table.columns if c.endswith("_lr")]
    if chosen:  # --lr-factors: each config at the lr its validation loss chose
        lines += ["learning rate chosen on validation (tasks per lr): " + "; ".join(
            f"{c[:-3]}: " + ", ".join(f"{lr:g} ×{n}" for lr, n in sorted(table[c].dropna().value_counts().items()))
            for c in chosen if table[c].notna().any()), ""]
    trained = [c for c in ("recommended", *REFERENCES, "oracle") if table[c].notna().any()]  # --roles trains fewer
    refs = [r for r in REFERENCES if r in trained]
    for ref in refs:
        ok = table[ref].notna()
        rec, other = table.loc[ok, "recommended"], table.loc[ok, ref]
        lines.append(f"recommended against {ref}: better / level / worse by {TOL}: {tolerance_counts(rec, other)}; "
                     f"at least as good (within {TOL}) on {int((difference(rec, other) >= -TOL).sum())}/{int(ok.sum())}")
    path = args.out / "trials.csv"
    t = pd.read_csv(path) if path.is_file() else None
    if t is not None:
        dense = t[(t.role == "recommended") & (t.model == "hx=1,hh=1,hy=1,yx=1,yh=1,yy=1")]["task"].nunique()
        lines.append(f"recommended dense on {dense} of {len(set(table['task']))} tasks")
    if {"oracle", "recommended"} <= set(trained):
        regret = table["regret"]
        lines.append(f"regret (oracle − recommended): median {regret.median():.4f}, mean {regret.mean():.4f}")
    ok = learnt(table, ["recommended", *REFERENCES, "oracle"])
    lines += ["", f"On the {int(ok.sum())} tasks some config learns (best mean above chance by more than {LEARNT}; "
              f"not: {', '.join(table.loc[~ok, 'task']) or 'none'}):"]
    for who in [w for w in ("recommended", "oracle") if w in trained]:
        for ref in refs:
            g = table[ok & table[ref].notna()]
            lines.append(f"- {who} against {ref}: better / level / worse {tolerance_counts(g[who], g[ref])}; at least "
                         f"as good on {int((difference(g[who], g[ref]) >= -TOL).sum())}/{len(g)}")
    if t is not None and "seed" in t.columns:
        lines += ["", f"By a paired t-test over the seeds (two-sided, p < {ALPHA} per task; better / "
                  "indistinguishable / worse), all tasks and the learnt ones:"]
        for who in [w for w in ("recommended", "oracle") if w in trained]:
            for ref in refs:
                lines.append(f"- {who} against {ref}: {paired_counts(t, who, ref)} (Holm across the tasks: "
                             f"{paired_counts(t, who, ref, holm=True)}); learnt: "
                             f"{paired_counts(t, who, ref, table.loc[ok, 'task'])}")
        lines += ["", f"What more seeds could show (the paired t-test's power, {POWER:.0%} at p < {ALPHA}; a task whose "
                  "mean difference is not positive can never be called better):"]
        for who in [w for w in ("recommended", "oracle") if w in trained]:
            for ref in refs:
                lines.append(f"- {power_line(t, who, ref)}")
                power_table(t, who, ref).to_csv(args.out / f"power-{who}-{ref.replace(':', '')}.csv", index=False)
    from zoo_loto import md  # the sibling script's markdown table

    lines += ["", md(table, 3)]
    (args.out / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    with one_line_errors():
        main()
