"""Can any sparse structure beat dense on most zoo tasks, given a lever? (issue 18's last target)

The recommender's last target (better than dense and uniform on ≥ 80 % of held-out tasks) was missed at both of the
zoo's budgets, and even the oracle (the best structure of each task's own sweep, retrained) beat dense on only 12 of
31 tasks at the larger budget and 9 of 28 at the smaller. This script tries the two levers that could move that:

* ``long``: the same budget (the task's smaller sweep budget) trained for ``--long`` times the zoo's epochs: do
  sparse structures only need more updates to pass dense?
* ``tiny``: a budget ``--tiny`` times the task's smaller budget at the zoo's epochs, where dense has few hidden
  units (fewer than the outputs on many tasks) and a sparse network can afford more;
* ``base``: the smaller budget at the zoo's epochs, the reference point of the same protocol.

Per task and arm: a small hidden-proportion sweep (``--mini`` structures, spread over the task's hidden-proportion
range, seeds 0.., the zoo's median lr and the default initialisation, so only the structure differs), whose best
structure is the arm's oracle; then dense, uniform:0.2, balanced and that oracle are trained on seeds 100..104
(fresh seeds: the oracle's selection on seed 0.. does not flatter its retest). Dense that does not fit the budget
is recorded as not fitting. Better / level / worse use zoo_recommend's tolerance (0.005 on the mean over seeds).

Run (resumable, its own store; split the tasks over processes to use more cores):
    BALANCEDRNN_MNIST_DIR=<MNIST idx files> OMP_NUM_THREADS=1 .venv/bin/python experiments/zoo_levers.py \
        [--arms base tiny long] [--tasks ...] [--out runs/zoo-levers]
    .venv/bin/python experiments/zoo_levers.py --report-only
writes runs/zoo-levers/{cells[-LANE].csv,trials[-LANE].csv,report.md}.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from balancedrnn.core.spec import INIT_SCALES
from balancedrnn.io import cache_dir

ROOT = Path(__file__).resolve().parents[1]
ROLES = ("dense", "uniform:0.2", "balanced", "oracle")


def plan_bases() -> dict[str, tuple[dict[str, Any], float, list[float]]]:
    """Per zoo task of the ``zoo`` plan: base config, the smaller sweep budget and the hidden-proportion range."""
    from balancedrnn.reproduce.plan import load_plan, sweep_specs

    out = {}
    for spec in sweep_specs(load_plan("zoo"), "small"):
        out[str(spec.base["task"])] = (dict(spec.base), float(min(spec.sampler.budgets)), list(spec.sampler.hp_range))
    return out


def records_of(storage: str, run_dir: Path, name: str) -> list[Any]:
    from balancedrnn.record import RunRecord
    from balancedrnn.sweep import store

    study = store.open_study(store.open_storage(storage, run_dir), name)
    return [RunRecord.from_dict(r) for r in store.iter_records(study)]


def roles(args: argparse.Namespace) -> tuple[str, ...]:
    """The configs trained per task and arm: :data:`ROLES`, and with ``--recommended`` the recommender's choice."""
    return ROLES + (("recommended",) if args.recommended is not None else ())


def arm_label(arm: str, args: argparse.Namespace) -> str:
    """The arm with its factor (``base``, ``tiny0.25``, ``long4``), and its init scale unless ``fixed``
    (``long4-fan-in``): its studies' and rows' name."""
    label = {"base": "base", "tiny": f"tiny{args.tiny:g}", "long": f"long{args.long}"}[arm]
    return label if args.init_scale == "fixed" else f"{label}-{args.init_scale}"


def run_arm(task: str, arm: str, args: argparse.Namespace, lr: float) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The arm's mini sweep, its oracle, and the references and oracle on fresh seeds, for one task."""
    from balancedrnn.core.configs import check_fits
    from balancedrnn.core.defaults import DEFAULT_INIT
    from balancedrnn.core.spec import SpecError
    from balancedrnn.sweep.executor import run_sweep
    from balancedrnn.sweep.spec import SweepError, SweepSpec, trial_configs
    from balancedrnn.tasks import get_task

    base, smaller, hp_range = plan_bases()[task]
    budget = smaller * (args.tiny if arm == "tiny" else 1.0)
    epochs = int(base["epochs"]) * (args.long if arm == "long" else 1)
    base = {**base, "epochs": epochs, "budget": budget, "lr": lr,
            **({"init_scale": args.init_scale} if args.init_scale != "fixed" else {})}
    fixed = {"lr": {"normal": [lr, 0.0]}, "init_mean": {"normal": [DEFAULT_INIT[0], 0.0]},
             "init_std": {"normal": [DEFAULT_INIT[1], 0.0]}}
    label = arm_label(arm, args)
    slug = f"levers-{label}-{task.replace(':', '-')}"
    mini = None
    for lo, hi in (hp_range, [max(hp_range[0], 0.05), min(hp_range[1], 0.8)], [0.15, 0.7]):
        try:
            mini = SweepSpec.from_dict({"name": f"{slug}-mini", "base": base, "workers": 1, "seed": 0,
                                        "storage": args.store,
                                        "sampler": {"kind": "hidden_proportion", "n_trials": args.mini,
                                                    "budgets": [budget], "hp_range": [lo, hi], "distributions": fixed}})
            trial_configs(mini)  # raises when no structure reaches this range at the budget
            break
        except SweepError:
            mini = None
    t = get_task(task)
    row: dict[str, Any] = {"arm": label, "task": task, "budget": budget, "epochs": epochs, "dx": t.dx, "dy": t.dy,
                           "budget_factor": args.tiny if arm == "tiny" else 1.0,
                           "epochs_factor": args.long if arm == "long" else 1, "init_scale": args.init_scale}
    if mini is None:  # the budget is too small for this task's shape: recorded, nothing trained
        return {**row, "note": f"no structure reaches a hidden proportion at budget {budget:g}"}, []
    if run_sweep(mini, run_dir=args.out, progress=False).interrupted:
        raise SystemExit("interrupted: run again to resume")
    done = [r for r in records_of(args.store, args.out, mini.name) if r.ok and r.value is not None]
    if not done:
        raise SystemExit(f"{task} ({arm}): no ok run in the mini sweep")
    best = max(done, key=lambda r: r.value)
    models = {}
    chosen = {"oracle": str(best.config["model"])}
    if args.recommended is not None:  # zoo_recommend's choice for this task and budget, trained here too
        r = args.recommended
        hit = r[(r.task == task) & (r.budget == budget) & (r.role == "recommended")]["model"].unique()
        if len(hit):
            chosen["recommended"] = str(hit[0])
    for role in roles(args):  # a config that does not fit the budget is left out (and reported as not fitting)
        model = chosen.get(role, role)
        if role not in ROLES and role not in chosen:
            continue
        try:
            check_fits(model, t.dx, t.dy, budget)
            models[role] = model
        except SpecError:
            pass
    refs = SweepSpec.from_dict({"name": f"{slug}-refs", "base": base, "workers": 1, "seed": 0, "storage": args.store,
                                "sampler": {"kind": "grid", "models": list(dict.fromkeys(models.values())),
                                            "seeds": [100 + i for i in range(args.seeds)]}})
    if run_sweep(refs, run_dir=args.out, progress=False).interrupted:
        raise SystemExit("interrupted: run again to resume")
    by_model: dict[str, dict[int, float]] = {}  # model -> seed -> value
    dh: dict[str, int] = {}
    hp: dict[str, float] = {}
    for r in records_of(args.store, args.out, refs.name):
        if r.ok and r.value is not None:
            by_model.setdefault(str(r.config["model"]), {})[int(r.config["seed"])] = float(r.value)
            dh[str(r.config["model"])] = int((r.model or {}).get("dh", 0))
            hp[str(r.config["model"])] = float((r.model or {}).get("hidden_proportion", math.nan))
    row.update({"mini_best": best.value, "mini_n": len(done)})
    trials = []
    for role in roles(args):
        model = models.get(role)
        vals = by_model.get(model, {}) if model else {}
        row[role] = float(np.mean(list(vals.values()))) if vals else np.nan
        row[f"dh_{role}"] = dh.get(model, np.nan) if model else np.nan
        row[f"hp_{role}"] = hp.get(model, np.nan) if model else np.nan
        trials += [{"arm": label, "task": task, "role": role, "model": model, "seed": seed, "value": v}
                   for seed, v in sorted(vals.items())]
    return row, trials


def arm_of_study(name: str) -> str | None:
    """The arm label of a study ``levers-<label>-<task>-mini|refs`` (``long4``, ``long4-fan-in``), or None."""
    if not name.startswith("levers-"):
        return None
    rest = name[len("levers-"):]
    head = rest.split("-")[0]
    return next((f"{head}-{s}" for s in INIT_SCALES if rest.startswith(f"{head}-{s}-")), head)


def arm_costs(storage: str) -> dict[str, tuple[int, float]]:
    """Per arm: runs and core-minutes (their wall times: each trial runs on one thread) of its studies in the store."""
    import optuna

    from balancedrnn.sweep import store

    out: dict[str, tuple[int, float]] = {}
    if "://" not in storage and not Path(storage).is_file():
        return out
    st = store.open_storage(storage, ".", create=False)
    for summary in optuna.get_all_study_summaries(st, include_best_trial=False):
        label = arm_of_study(summary.study_name)
        if label is None:
            continue
        runs, minutes = out.get(label, (0, 0.0))
        for t in st.get_all_trials(summary._study_id, deepcopy=False):
            record = t.user_attrs.get("record")
            if isinstance(record, dict):
                runs, minutes = runs + 1, minutes + float(record.get("wall_time") or 0.0) / 60
        out[label] = (runs, minutes)
    return out


def write_report(cells: pd.DataFrame, out: Path, seeds: int, storage: str | None = None,
                 trials: pd.DataFrame | None = None) -> None:
    """report.md: per arm, the oracle against dense and uniform:0.2 (better / level / worse), where dense does not
    fit, and the hidden units dense and the oracle have; where ``trials`` keep their seeds, the same by a paired
    t-test, and each init-scale arm's configs against themselves in the arm at the fixed init."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from zoo_loto import md
    from zoo_recommend import LEARNT, TOL, difference, learnt, tolerance_counts

    lines = [f"seeds {seeds} per config (100..), tolerance {TOL}; 'learnt': some config's mean is above chance "
             f"by more than {LEARNT}", ""]
    cells = cells.drop_duplicates(["arm", "task"], keep="last")
    present = [r for r in (*ROLES, "recommended") if r in cells.columns]
    cells = cells.assign(learnt=learnt(cells, present))
    groups = sorted(cells.groupby("arm", sort=False), key=lambda x: arm_order(x[0]))
    costs = arm_costs(storage) if storage else {}
    for (arm, subset), g in [((a, s), x) for a, gg in groups for s, x in (("all", gg), ("learnt", gg[gg.learnt]))]:
        skipped = g[g["oracle"].isna()]
        g = g[g["oracle"].notna()]
        fits = g["dense"].notna()
        d = difference(g["oracle"], g["dense"])
        if subset == "all" and arm in costs:
            lines += [f"## {arm}: {costs[arm][0]} runs, {costs[arm][1]:.1f} core-minutes", ""]
        lines += [f"## {arm}, {subset} tasks: {len(g)}, budget {g['budget_factor'].iloc[0]:g} × the task's smaller "
                  f"sweep budget, epochs {g['epochs_factor'].iloc[0]:g} × the zoo's"
                  + (f" ({len(skipped)} more where no structure fits: {', '.join(skipped['task'])})" if len(skipped) else ""),
                  f"- oracle against dense: better / level / worse {tolerance_counts(g['oracle'], g['dense'])} "
                  f"(dense does not fit {int((~fits).sum())}: {', '.join(g.loc[~fits, 'task']) or 'none'})",
                  f"- oracle better than dense, counting a dense that does not fit as beaten: "
                  f"{int(((d > TOL) | ~fits).sum())} of {len(g)}",
                  f"- oracle against uniform:0.2: better / level / worse {tolerance_counts(g['oracle'], g['uniform:0.2'])}",
                  f"- oracle against balanced: better / level / worse {tolerance_counts(g['oracle'], g['balanced'])}",
                  *([f"- recommended (zoo_recommend's choice at this budget, trained here) against {ref}: better / "
                     f"level / worse {tolerance_counts(g.loc[g['recommended'].notna(), 'recommended'], g.loc[g['recommended'].notna(), ref])}"
                     for ref in ("dense", "uniform:0.2", "balanced")] if "recommended" in g and g["recommended"].notna().any() else []),
                  *paired_lines(trials, arm, g["task"]),
                  f"- median oracle − dense {d.median():.4f}; dense's dh median {g['dh_dense'].median():.0f}, "
                  f"oracle's {g['dh_oracle'].median():.0f}; dense has fewer hidden units than outputs on "
                  f"{int((g['dh_dense'] < g['dy']).sum())}", ""]
    lines += init_scale_lines(cells, trials, present)
    cols = ["arm", "task", "dx", "dy", "budget", "epochs", "learnt", *present, "hp_oracle", "dh_dense",
            "dh_oracle"]
    lines += [md(cells[cols], 3)]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    figure(cells, out / "zoo_levers.png")
    print("\n".join(lines))


def with_seeds(trials: pd.DataFrame | None, arm: str) -> pd.DataFrame | None:
    """The arm's trials if they kept their seeds (older result files did not), else None."""
    if trials is None or "seed" not in trials or not len(trials):
        return None
    t = trials[(trials.arm == arm) & trials.seed.notna()]
    return t if len(t) else None


def paired_lines(trials: pd.DataFrame | None, arm: str, tasks: pd.Series) -> list[str]:
    """The arm's configs against dense and uniform:0.2 by a paired t-test over the seeds, uncorrected and Holm."""
    from zoo_recommend import paired_counts  # a sibling script: experiments/ is on the path

    t = with_seeds(trials, arm)
    if t is None:
        return []
    pairs = [(who, ref) for ref in ("dense", "uniform:0.2") for who in (*ROLES, "recommended")
             if who != ref and who in set(t.role) and not (ref == "uniform:0.2" and who == "dense")]
    return [f"- {who} against {ref}, paired t-test over the seeds (better / indistinguishable / worse; Holm across "
            f"tasks): {paired_counts(t, who, ref, tasks)} ({paired_counts(t, who, ref, tasks, holm=True)})"
            for who, ref in pairs]


def init_scale_lines(cells: pd.DataFrame, trials: pd.DataFrame | None, present: list[str]) -> list[str]:
    """For every arm at an init scale other than fixed whose fixed-init arm is here too (``long4-fan-in`` and
    ``long4``): each config against itself at the fixed init, task by task (same seeds), and the median change."""
    from zoo_recommend import TOL, paired_counts  # a sibling script: experiments/ is on the path

    lines = []
    for arm in sorted(set(cells.arm), key=arm_order):
        scale = next((s for s in INIT_SCALES if s != "fixed" and arm.endswith("-" + s)), None)
        ref_arm = arm[: -len(scale) - 1] if scale else None
        if ref_arm is None or ref_arm not in set(cells.arm):
            continue
        a, b = (cells[cells.arm == x].set_index("task") for x in (arm, ref_arm))
        common = a.index.intersection(b.index)
        lines += [f"## {arm} against {ref_arm}: each config at the {scale} init against itself at the fixed init "
                  f"({len(common)} tasks; a config's mean over the seeds)", ""]
        ta, tb = with_seeds(trials, arm), with_seeds(trials, ref_arm)
        for role in present:
            change = (a.loc[common, role] - b.loc[common, role]).dropna()
            line = f"- {role}: median change {change.median():+.4f}, better / level / worse by {TOL} " \
                   f"{int((change > TOL).sum())} / {int((change.abs() <= TOL).sum())} / {int((change < -TOL).sum())}"
            if ta is not None and tb is not None and role != "oracle":  # the oracle may be another structure per arm
                both = pd.concat([ta[ta.role == role].assign(role="scaled"), tb[tb.role == role].assign(role="fixed")])
                line += f"; paired t-test {paired_counts(both, 'scaled', 'fixed', common)}"
            lines.append(line)
        lines.append("")
    return lines


def arm_order(label: str) -> tuple[int, float, str]:
    """base, then the tiny arms, then the long arms by their factor (``long4``, then ``long4-lr``, then ``long10``)."""
    import re

    for rank, prefix in enumerate(("base", "tiny", "long")):
        if label.startswith(prefix):
            number = re.match(r"\d+(\.\d+)?", label[len(prefix):])
            return rank, float(number.group() if number else 0), label
    return 3, 0.0, label


def figure(cells: pd.DataFrame, path: Path, who: str = "oracle",
           title: str = "Best structure of a small sweep against dense, per learnt zoo task (ordered by dx/dy)") -> None:
    """Per task (rows, ordered by dx/dy), ``who`` − dense in each arm; a dense that does not fit is drawn at the
    right edge as an open marker. Only learnt tasks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g = cells[cells.learnt].copy()
    g["ratio"] = g.dx / g.dy
    tasks = g.drop_duplicates("task").sort_values("ratio")["task"].tolist()
    arms = sorted(dict.fromkeys(cells["arm"]), key=arm_order)
    fig, ax = plt.subplots(figsize=(7.5, 0.28 * len(tasks) + 1.6))
    diffs = (g[who] - g["dense"]).dropna()
    edge = max(0.05, float(diffs.abs().max()) if len(diffs) else 0.05) * 1.1
    for k, arm in enumerate(arms):
        a = g[g.arm == arm].set_index("task")
        y = [tasks.index(t) + (k - (len(arms) - 1) / 2) * 0.18 for t in a.index]
        d = (a[who] - a["dense"]).to_numpy()
        fits = ~np.isnan(d)
        ax.scatter(np.where(fits, d, edge), y, marker="o", s=22,
                   facecolors=[f"C{k}" if f else "none" for f in fits], edgecolors=f"C{k}")
        if "ci" in a.columns and a["ci"].notna().any():  # the paired difference's 95 % interval over the seeds
            ax.errorbar(d, y, xerr=a["ci"].to_numpy(), fmt="none", ecolor=f"C{k}", lw=0.7, alpha=0.7)
        ax.scatter([], [], marker="o", s=22, color=f"C{k}", label=arm)  # the legend's (filled) marker
    ax.axvline(0, color="0.5", lw=0.8)
    ax.axvspan(-0.005, 0.005, color="0.9", zorder=0)
    ax.set_yticks(range(len(tasks)), tasks, fontsize=7)
    ax.set_xlabel(f"{who} − dense, mean of the seeds (grey band: level; open marker: dense does not fit;\n"
                  "bars: 95 % interval of the paired difference over the seeds, where the judgement kept them)",
                  fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def read_trials(out: Path) -> pd.DataFrame | None:
    """Every trials*.csv of ``out`` (one per lane), or None."""
    parts = sorted(out.glob("trials*.csv"))
    return pd.concat([pd.read_csv(p) for p in parts], ignore_index=True) if parts else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arms", nargs="*", default=["base", "tiny", "long"], choices=("base", "tiny", "long"))
    ap.add_argument("--tasks", nargs="*", help="Only these zoo tasks (default: every task of the zoo plan).")
    ap.add_argument("--mini", type=int, default=16, help="Structures in each arm's sweep.")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--tiny", type=float, default=0.25, help="The tiny arm's budget, times the smaller budget.")
    ap.add_argument("--long", type=int, default=4, help="The long arm's epochs, times the zoo's.")
    ap.add_argument("--store", default=str(cache_dir() / "zoo" / "zoo-levers.journal"))
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "zoo-levers")
    ap.add_argument("--lane", default="", help="Tag of this process's result files (cells-<lane>.csv), so several "
                    "processes can share --out; the report reads them all.")
    ap.add_argument("--recommended", type=Path, help="zoo_recommend.py's trials.csv: also train its recommendation "
                    "for each task at the arm's budget (when that budget was judged there).")
    ap.add_argument("--init-scale", default="fixed", choices=INIT_SCALES,
                    help="How the initial values' spread follows each block's shape and density (TrainConfig."
                    "init_scale); a scale other than fixed is a separate arm (long4-fan-in, ...).")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    cells_path, trials_path = args.out / f"cells{'-' + args.lane if args.lane else ''}.csv", \
        args.out / f"trials{'-' + args.lane if args.lane else ''}.csv"
    if args.report_only:
        parts = sorted(args.out.glob("cells*.csv"))
        if not parts:
            raise SystemExit(f"error: no cells*.csv in {args.out}: run without --report-only first")
        return write_report(pd.concat([pd.read_csv(p) for p in parts], ignore_index=True), args.out, args.seeds,
                            args.store, read_trials(args.out))
    torch.set_num_threads(1)
    if args.recommended is not None:
        if not args.recommended.is_file():
            raise SystemExit(f"error: no {args.recommended}")
        args.recommended = pd.read_csv(args.recommended)
    from balancedrnn.analysis import meta

    lr = float(meta.default_predictor().defaults_["lr"])  # the zoo's median lr, as zoo_recommend trains at
    known = plan_bases()
    unknown = [t for t in args.tasks or [] if t not in known]
    if unknown:  # before any training
        raise SystemExit(f"error: not a task of the zoo plan: {', '.join(unknown)}; known: {', '.join(known)}")
    tasks = args.tasks or [t for t in known if t != "mnist:pairs14-next20"]  # never above chance
    for arm in args.arms:
        for task in tasks:
            row, trials = run_arm(task, arm, args, lr)
            print(f"{arm} {task}: " + (row.get("note") or " ".join(f"{r} {row[r]:.4f}" for r in roles(args))
                                       + f" (oracle hp {row['hp_oracle']:.2f})"), flush=True)
            # resumable: re-read, replace this (arm, task), write back
            cells = pd.read_csv(cells_path) if cells_path.is_file() else pd.DataFrame()
            if len(cells):
                cells = cells[~((cells.arm == row["arm"]) & (cells.task == task))]
            cells = pd.concat([cells, pd.DataFrame([row])], ignore_index=True)
            cells.to_csv(cells_path, index=False)
            tp = trials_path
            old = pd.read_csv(tp) if tp.is_file() else pd.DataFrame()
            if len(old):
                old = old[~((old.arm == row["arm"]) & (old.task == task))]
            new = pd.DataFrame(trials, columns=["arm", "task", "role", "model", "seed", "value"])
            pd.concat([old, new], ignore_index=True).to_csv(tp, index=False)
    write_report(pd.concat([pd.read_csv(p) for p in sorted(args.out.glob("cells*.csv"))], ignore_index=True),
                 args.out, args.seeds, args.store, read_trials(args.out))


if __name__ == "__main__":
    main()
