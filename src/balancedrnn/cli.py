"""Command-line tool ``balancedrnn``: build, train and compare varied-sparsity block RNNs.

Every error a user can cause ends in one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from .configs import CONFIG_HELP
from .io import ensure_writable_dir

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Varied-sparsity block RNNs at a fixed weight budget (Hershey & Paffenroth, arXiv 2509.15057).",
)
data_app = typer.Typer(no_args_is_help=True, help="Build and cache data sets.")
app.add_typer(data_app, name="data")

out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)

PAPER = {"n_train": 30_000, "n_val": 1_000, "n_test": 1_000, "epochs": 25, "batch_size": 16, "lr": 1e-4}
"""The paper's RAD protocol, applied by ``--paper``."""
QUICK = {"n_train": 2_000, "n_val": 500, "n_test": 1_000, "epochs": 3, "batch_size": 16, "lr": 1e-3}
"""Defaults without ``--paper``: minutes on a laptop CPU."""


class UserError(Exception):
    """An error to show as one line (exit code 2)."""


# ----------------------------------------------------------------------------------------- options
Task = Annotated[str, typer.Option(help="Task name (see `balancedrnn tasks`).")]
Budget = Annotated[float, typer.Option(help="Trainable-weight budget.")]
Epochs = Annotated[Optional[int], typer.Option(help="Epochs [default 3; --paper 25].")]
Lr = Annotated[Optional[float], typer.Option(help="Adam learning rate [default 1e-3; --paper 1e-4].")]
Batch = Annotated[Optional[int], typer.Option("--batch-size", help="Batch size [default 16].")]
NTrain = Annotated[Optional[int], typer.Option(help="Training sequences [default 2000; --paper 30000].")]
NVal = Annotated[Optional[int], typer.Option(help="Validation sequences [default 500; --paper 1000].")]
NTest = Annotated[Optional[int], typer.Option(help="Test sequences [default 1000; --paper 1000].")]
DataSeed = Annotated[int, typer.Option(help="Seed of the generated data set.")]
Readout = Annotated[str, typer.Option(help="lagged (paper) or current.")]
Activation = Annotated[str, typer.Option(help="Hidden activation: relu, tanh, sigmoid, gelu, identity.")]
Threads = Annotated[Optional[int], typer.Option(help="Torch threads per run (default: torch's).")]
MnistDir = Annotated[Optional[Path], typer.Option(help="Directory of MNIST idx files (or $BALANCEDRNN_MNIST_DIR).")]
Paper = Annotated[bool, typer.Option("--paper", help="Paper scale: 30,000 train sequences, 25 epochs, batch 16, lr 1e-4.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
OutDir = Annotated[Path, typer.Option(help="Directory for run records, tables and plots.")]
Dataset = Annotated[Optional[str], typer.Option(help="Hammer: Minari data set id (default: the generated expert set).")]
Rollouts = Annotated[int, typer.Option(help="Hammer: rollouts the trained policy is scored on.")]


def _resolve(paper: bool, **given: Any) -> dict[str, Any]:
    base = PAPER if paper else QUICK
    return {k: (v if v is not None else base[k]) for k, v in given.items()}


def _config(**kwargs: Any) -> Any:
    from .train import TrainConfig

    return TrainConfig(**kwargs)


# ------------------------------------------------------------------------------------------- train
@app.command()
def train(
    model: Annotated[str, typer.Option("--model", "-m", help=f"Model config: {CONFIG_HELP}.")] = "balanced",
    task: Task = "rad",
    budget: Budget = 100_000,
    epochs: Epochs = None,
    lr: Lr = None,
    batch_size: Batch = None,
    seed: Annotated[int, typer.Option(help="Seed of masks, initial values and data order.")] = 0,
    data_seed: DataSeed = 0,
    n_train: NTrain = None,
    n_val: NVal = None,
    n_test: NTest = None,
    readout: Readout = "lagged",
    activation: Activation = "relu",
    kernel: Annotated[str, typer.Option(help="Kernel of the masked blocks: auto (dense or sparse per block, by "
                                        "density and shape), dense or sparse.")] = "auto",
    threads: Threads = None,
    mnist_dir: MnistDir = None,
    checkpoint: Annotated[Optional[Path], typer.Option(help="Write model and optimiser here after every epoch.")] = None,
    dataset: Dataset = None,
    rollouts: Rollouts = 100,
    paper: Paper = False,
    out_dir: OutDir = Path("runs"),
    quiet: Quiet = False,
) -> None:
    """Train one model on a task and write its run record (JSON)."""
    from .tasks import get_task
    from .train import check_config, run_trial, write_record

    cfg = _config(
        task=task, model=model, budget=budget, seed=seed, data_seed=data_seed, readout=readout,
        activation=activation, kernel=kernel, threads=threads, mnist_dir=str(mnist_dir) if mnist_dir else None,
        checkpoint=str(checkpoint) if checkpoint else None, dataset=dataset, rollouts=rollouts,
        **_resolve(paper, epochs=epochs, lr=lr, batch_size=batch_size, n_train=n_train, n_val=n_val, n_test=n_test),
    )
    check_config(cfg)
    ensure_writable_dir(out_dir)
    data = get_task(task).load(cfg, not quiet)
    err.print(f"data: {data.source}")
    record = run_trial(cfg, data=data, progress=not quiet)
    path = write_record(record, out_dir)
    if record["status"] != "ok":
        err.print(f"error: trial {record['status']}: {record['error']} (record: {path})", markup=False)
        raise typer.Exit(1)
    m, final = record["model"], record["final"]
    table = Table(title=f"{task}: {model} at budget {budget:,.0f}")
    val_name = final["metric"] if final["metric"] in final["val"] else "loss"
    for col in ("dh", "weights", "parameters", "hidden proportion", f"val {val_name}", f"test {final['metric']}", "time"):
        table.add_column(col, justify="right")
    table.add_row(
        str(m["dh"]), f"{m['weights']:,}", f"{m['parameters']:,}", f"{m['hidden_proportion']:.3f}",
        f"{final['val'].get(final['metric'], final['val']['loss']):.4f}", f"{final['value']:.4f}", f"{record['wall_time']:.1f}s",
    )
    out.print(table)
    if m.get("budget_note"):
        out.print(f"note: {m['budget_note']}")
    if m.get("kernels"):
        sparse = [b for b, k in m["kernels"].items() if k == "sparse"]
        out.print(f"kernels: {', '.join(sparse) + ' sparse' if sparse else 'all dense'}"
                  + (f" ({m['sparse_backend']})" if sparse else ""))
    by = final["test"].get("accuracy_by_anomaly")
    if by:
        out.print("test accuracy by anomaly: " + ", ".join(f"{k} {v:.3f}" for k, v in by.items()))
    if final.get("baseline"):
        out.print("mean-action baseline: " + ", ".join(f"{k} {v:.4f}" for k, v in final["baseline"].items()))
    if final.get("score"):
        out.print("score: " + ", ".join(f"{k} {v:.4g}" for k, v in final["score"].items()))
    out.print(f"record: {path}")


# ----------------------------------------------------------------------------------------- compare
def _trial_worker(cfg_dict: dict[str, Any], threads: int) -> dict[str, Any]:
    import torch

    from .tasks import get_task
    from .train import TrainConfig, run_trial

    torch.set_num_threads(threads)
    cfg = TrainConfig.from_dict(cfg_dict)
    data = get_task(cfg.task).load(cfg, False)
    return run_trial(cfg, data=data, progress=False)


@app.command()
def compare(
    models: Annotated[str, typer.Option("--models", help="Comma-separated model configs.")] = "dense,uniform:0.2,balanced,lstm",
    seeds: Annotated[int, typer.Option(help="Seeds per config (0..seeds-1).")] = 3,
    task: Task = "rad",
    budget: Budget = 100_000,
    epochs: Epochs = None,
    lr: Lr = None,
    batch_size: Batch = None,
    data_seed: DataSeed = 0,
    n_train: NTrain = None,
    n_val: NVal = None,
    n_test: NTest = None,
    readout: Readout = "lagged",
    activation: Activation = "relu",
    workers: Annotated[int, typer.Option(help="Parallel worker processes (each runs one trial).")] = 1,
    threads: Threads = None,
    mnist_dir: MnistDir = None,
    dataset: Dataset = None,
    rollouts: Rollouts = 100,
    paper: Paper = False,
    out_dir: OutDir = Path("runs/compare"),
    quiet: Quiet = False,
) -> None:
    """Train several configs x seeds on the same data; table of mean ± std and a plot against hidden proportion."""
    import torch

    from .report import plot_metric_vs_hp, records_frame, summarise, summary_markdown
    from .tasks import get_task
    from .train import check_config, run_trial, write_record

    names = [m.strip() for m in models.split(",") if m.strip()]
    if not names:
        raise UserError("--models is empty")
    if seeds <= 0 or workers <= 0:
        raise UserError("--seeds and --workers must be positive")
    scale = _resolve(paper, epochs=epochs, lr=lr, batch_size=batch_size, n_train=n_train, n_val=n_val, n_test=n_test)
    per_worker = threads or max(1, (os.cpu_count() or 1) // workers)
    configs = [
        _config(task=task, model=name, budget=budget, seed=s, data_seed=data_seed, readout=readout,
                activation=activation, threads=per_worker, mnist_dir=str(mnist_dir) if mnist_dir else None,
                dataset=dataset, rollouts=rollouts, **scale)
        for name in names for s in range(seeds)
    ]
    for cfg in configs[::seeds]:
        check_config(cfg)
    ensure_writable_dir(out_dir)
    the_task = get_task(task)
    data = the_task.load(configs[0], not quiet)  # builds the cache once, before any worker starts
    err.print(f"data: {data.source}; {len(configs)} trials, {workers} worker(s) x {per_worker} thread(s)")
    records: list[dict[str, Any]] = []
    from .progress import progress_bar

    with progress_bar(len(configs), "trials", enabled=not quiet) as advance:
        if workers == 1:
            torch.set_num_threads(per_worker)
            for cfg in configs:
                records.append(run_trial(cfg, data=data, progress=False))
                write_record(records[-1], out_dir / "records")
                advance(1, info=f"{cfg.model} seed {cfg.seed}: {records[-1]['status']}")
        else:
            import multiprocessing as mp

            with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
                futures = [pool.submit(_trial_worker, dataclasses.asdict(c), per_worker) for c in configs]
                for fut in as_completed(futures):
                    records.append(fut.result())
                    write_record(records[-1], out_dir / "records")
                    c = records[-1]["config"]
                    advance(1, info=f"{c['model']} seed {c['seed']}: {records[-1]['status']}")
    frame = records_frame(records)
    summary = summarise(frame, order=names)
    metric = the_task.metric
    n_train_seen = len(data.splits["train"])
    table = Table(title=f"{task} at budget {budget:,.0f}: {n_train_seen:,} train sequences, {scale['epochs']} epochs, {seeds} seed(s)")
    for col in ("config", "runs", f"test {metric}", f"val {metric}", "hidden prop.", "dh", "weights"):
        table.add_column(col, justify="left" if col == "config" else "right")
    for name, r in summary.iterrows():
        table.add_row(str(name), str(int(r["runs"])), f"{r['test_mean']:.3f} ± {r['test_std']:.3f}", f"{r['val_mean']:.3f}",
                      f"{r['hidden_proportion']:.3f}", str(int(r["dh"])), f"{int(r['weights']):,}")
    out.print(table)
    for name, r in summary.iterrows():
        if r["note"]:
            out.print(f"note ({name}): {r['note']}")
        if r["failed"]:
            out.print(f"warning ({name}): {int(r['failed'])} trial(s) did not finish; see {out_dir / 'records'}")
    missing = [n for n in names if n not in summary.index]
    for n in missing:
        bad = frame[frame["model"] == n]
        out.print(f"warning ({n}): every trial failed: {bad['note'].iloc[0] if len(bad) else ''}")
    chance = 1.0 / the_task.dy if the_task.loss == "last" else None
    from .io import atomic_write

    md = summary_markdown(summary, metric)
    atomic_write(out_dir / "summary.md", lambda f: f.write(md.encode()))
    atomic_write(out_dir / "summary.csv", lambda f: f.write(summary.to_csv().encode()))
    if len(summary):
        plot = plot_metric_vs_hp(summary, out_dir / "accuracy_vs_hidden_proportion.png", metric, chance,
                                 title=f"{task}, budget {budget:,.0f}, {n_train_seen:,} train seq., {scale['epochs']} epochs")
        out.print(f"plot: {plot}")
    out.print(f"summary: {out_dir / 'summary.md'}; records: {out_dir / 'records'}")


# -------------------------------------------------------------------------------------- data, spec
@data_app.command("rad")
def data_rad(
    n_train: NTrain = None,
    n_val: NVal = None,
    n_test: NTest = None,
    seed: Annotated[int, typer.Option(help="Data seed.")] = 0,
    mnist_dir: MnistDir = None,
    paper: Paper = False,
    rebuild: Annotated[bool, typer.Option(help="Regenerate even if cached.")] = False,
    quiet: Quiet = False,
) -> None:
    """Build (or verify) and cache a RAD data set; prints where it is and what it holds."""
    from .data import rad
    from .data.mnist import load_mnist

    sizes = _resolve(paper, n_train=n_train, n_val=n_val, n_test=n_test)
    config = rad.RADConfig(seed=seed, **sizes)
    mnist = load_mnist(mnist_dir)
    data = rad.build_or_load(mnist, config, rebuild=rebuild, progress=not quiet)
    out.print(f"source: {data.source}")
    for name, split in data.splits.items():
        out.print(f"{name}: {len(split):,} sequences, {len(split.sources.unique()):,} distinct source images")
    out.print(f"cache: {data.path}")


@data_app.command("hammer")
def data_hammer(
    demos: Annotated[int, typer.Option(help="Planner demonstration episodes.")] = 20,
    expert: Annotated[str, typer.Option(help="Expert policy distilled from the planner: nn (nearest neighbour) or mlp.")] = "nn",
    rounds: Annotated[int, typer.Option(help="DAgger rounds at most (they stop once the expert reaches --min-success).")] = 4,
    episodes_per_round: Annotated[int, typer.Option(help="Policy episodes the planner labels per round.")] = 10,
    eval_episodes: Annotated[int, typer.Option(help="Rollouts scoring the policy after each round.")] = 20,
    expert_episodes: Annotated[int, typer.Option(help="Episodes of the distilled expert in the data set.")] = 1000,
    workers: Annotated[int, typer.Option(help="Parallel planner processes.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the demonstrations.")] = 0,
    dataset_id: Annotated[str, typer.Option(help="Minari id of the generated expert data set.")] = "balancedrnn/hammer/expert-v0",
    min_success: Annotated[float, typer.Option(help="Success rate the distilled expert needs before its data set is written.")] = 0.8,
    quiet: Quiet = False,
) -> None:
    """Make an Adroit Hammer expert data set offline: planner demos -> DAgger expert -> expert episodes (resumable)."""
    from .hammer.dataset import write_dataset
    from .hammer.expert import EXPERTS, collect_planner_demos, dagger, generate_episodes, hammer_dir, summarise_episodes
    from .progress import progress_bar

    if expert not in EXPERTS:
        raise UserError(f"unknown expert {expert!r}; expected one of {', '.join(EXPERTS)}")

    with progress_bar(demos, "planner episodes", enabled=not quiet) as advance:
        episodes = collect_planner_demos(demos, workers=workers, seed=seed, progress=advance)
    s = summarise_episodes(episodes)
    out.print(f"planner: {s['episodes']} episodes, return {s['return']:.0f} ± {s['return_std']:.0f} (normalised {s['normalized_score']:.1f})")
    policy = dagger(episodes, rounds=rounds, episodes_per_round=episodes_per_round, eval_episodes=eval_episodes,
                    workers=workers, seed=seed, log=lambda m: out.print(m), expert=expert, min_success=min_success)
    import json

    last = json.loads((hammer_dir() / "dagger" / "rounds.json").read_text())[-1]
    if last["policy_success_rate"] < min_success:
        raise UserError(
            f"the distilled expert succeeds in {last['policy_success_rate']:.0%} of {last['eval_episodes']} rollouts, "
            f"below --min-success {min_success:.0%}: no expert data set written (more --rounds resume from here)"
        )
    gen = generate_episodes(policy, expert_episodes, seed=1_000_000)
    s = summarise_episodes(gen)
    write_dataset(dataset_id, gen, algorithm=f"planner + DAgger {expert} expert (balancedrnn)",
                  description=f"Adroit Hammer episodes of an expert policy ({expert}) distilled by DAgger from a sampling planner")
    out.print(f"expert data set {dataset_id}: {s['episodes']} episodes, return {s['return']:.0f} ± {s['return_std']:.0f} "
              f"(normalised {s['normalized_score']:.1f}); files in {hammer_dir()}")


@app.command()
def spec(
    models: Annotated[list[str], typer.Argument(help=f"Model configs: {CONFIG_HELP}.")],
    dx: Annotated[int, typer.Option(help="Input size.")] = 2500,
    dy: Annotated[int, typer.Option(help="Output size.")] = 10,
    budget: Budget = 100_000,
) -> None:
    """Show densities, hidden size, weights and hidden proportion of model configs at a budget (no training)."""
    from .configs import build_model

    table = Table(title=f"dx={dx}, dy={dy}, budget={budget:,.0f}")
    for col in ("config", "hx", "hh", "hy", "yx", "yh", "yy", "dh", "weights", "parameters", "hidden prop."):
        table.add_column(col, justify="left" if col == "config" else "right")
    notes = []
    for name in models:
        m = build_model(name, dx, dy, budget)
        s = m.summary()  # type: ignore[operator]
        d = s["density"] or {}
        table.add_row(name, *(f"{d[b]:.3g}" if d else "-" for b in ("hx", "hh", "hy", "yx", "yh", "yy")), str(s["dh"]),
                      f"{s['weights']:,}", f"{s['parameters']:,}", f"{s['hidden_proportion']:.3f}")
        if s.get("budget_note"):
            notes.append(s["budget_note"])
    out.print(table)
    for n in notes:
        out.print(f"note: {n}")


@app.command()
def tasks() -> None:
    """List the registered tasks."""
    from .tasks import get_task, task_names

    for name in task_names():
        t = get_task(name)
        out.print(f"{name}: dx={t.dx}, dy={t.dy}, loss={t.loss}, metric={t.metric}. {t.describe}")


# ------------------------------------------------------------------------------------ sweep, runs
Storage = Annotated[Optional[str], typer.Option(help="Store: a journal file path or postgresql://user:pass@host/db (default: <run-dir>/store.journal).")]
RunDir = Annotated[Path, typer.Option(help="Directory of the embedded store and exports.")]


def _parse_sets(items: list[str] | None) -> dict[str, Any]:
    """``--set key=value`` options as a mapping (values parsed as YAML scalars)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--set takes key=value, got {item!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


@app.command()
def sweep(
    file: Annotated[Optional[Path], typer.Argument(help="Sweep YAML file (see docs/sweeps.md).")] = None,
    name: Annotated[Optional[str], typer.Option(help="Study name (overrides the file).")] = None,
    sampler: Annotated[Optional[str], typer.Option(help="grid, random, hidden_proportion, tpe or qmc (overrides the file).")] = None,
    models: Annotated[Optional[str], typer.Option(help="Grid: comma-separated model configs.")] = None,
    seeds: Annotated[Optional[int], typer.Option(help="Grid: seeds 0..N-1.")] = None,
    n_trials: Annotated[Optional[int], typer.Option(help="Random/HP/TPE/QMC: number of trials.")] = None,
    budget: Annotated[Optional[float], typer.Option(help="Trainable-weight budget.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Base config field, key=value (repeatable), e.g. --set epochs=2.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Local worker processes (one torch thread each).")] = None,
    timeout: Annotated[Optional[float], typer.Option(help="Seconds per trial (0: none).")] = None,
    storage: Storage = None,
    run_dir: RunDir = Path("runs"),
    quiet: Quiet = False,
) -> None:
    """Run (or resume) a sweep over a run store; several machines can run the same command on one PostgreSQL store."""

    from .store import GRACE_SECONDS
    from .sweep import SweepSpec, load_sweep_file, run_sweep

    d: dict[str, Any] = load_sweep_file(file) if file else {}
    d = dict(d)
    d.setdefault("sampler", {})
    if not isinstance(d["sampler"], dict):
        raise UserError("sampler must be a mapping")
    d["base"] = {**dict(d.get("base") or {}), **_parse_sets(set_)}
    for key, value in (("name", name), ("workers", workers), ("timeout", timeout), ("storage", storage)):
        if value is not None:
            d[key] = value
    s = dict(d["sampler"])
    for key, value in (("kind", sampler), ("n_trials", n_trials), ("budget", budget)):
        if value is not None:
            s[key] = value
    if models is not None:
        s["models"] = [m.strip() for m in models.split(",") if m.strip()]
    if seeds is not None:
        s["seeds"] = list(range(seeds))
    if budget is not None:
        s["budgets"] = [budget]
    d["sampler"] = s
    spec = SweepSpec.from_dict(d)
    result = run_sweep(spec, run_dir=run_dir, progress=not quiet)
    out.print(f"sweep {spec.name}: {result.done}/{result.total} trials done "
              f"({result.queued} queued now, {result.released} released from dead workers)")
    if result.running_elsewhere and not result.interrupted:
        out.print(f"{result.running_elsewhere} trial(s) are still running in other workers (or their worker died less "
                  f"than {int(GRACE_SECONDS)} s ago); run the command again later to finish them")
    if result.interrupted:
        err.print("interrupted: finished trials are kept; run the same command to resume")
        raise typer.Exit(130)


@app.command()
def reproduce(
    plan: Annotated[Optional[str], typer.Argument(help="A shipped plan (see --list) or the path of a plan file.")] = None,
    scale: Annotated[str, typer.Option(help="smoke (seconds: a pipeline check), small (hours on 2 cores) or paper.")] = "small",
    out_dir: Annotated[Optional[Path], typer.Option(help="Report and store directory [default runs/reproduce/<plan>-<scale>].")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Config field for every trial, key=value (repeatable), e.g. --set mnist_dir=...")] = None,
    workers: Annotated[int, typer.Option(help="Local worker processes (one torch thread each).")] = 2,
    storage: Storage = None,
    list_: Annotated[bool, typer.Option("--list", help="List the shipped plans and exit.")] = False,
    quiet: Quiet = False,
) -> None:
    """Reproduce the paper's claims: run a plan's sweeps (resumable, shareable across machines), then write
    statistics, verdicts and an HTML report with plots."""

    from .reproduce import SCALES, load_plan, plan_names, run_plan

    if list_:
        for name in plan_names():
            p = load_plan(name)
            out.print(f"{name}: {p.description} Claims: {', '.join(p.claims) or 'none'}.")
        return
    if plan is None:
        raise UserError(f"give a plan: one of {', '.join(plan_names())}, or the path of a plan file")
    if scale not in SCALES:
        raise UserError(f"unknown scale {scale!r}; expected one of {', '.join(SCALES)}")
    if workers < 1:
        raise UserError("--workers must be at least 1")
    overrides = _parse_sets(set_)
    p = load_plan(plan)
    directory = out_dir or Path("runs") / "reproduce" / f"{p.name}-{scale}"
    rep = run_plan(p, scale, directory, storage=storage, workers=workers, overrides=overrides, progress=not quiet,
                   log=None if quiet else lambda m: err.print(m, markup=False))
    table = Table(title=f"{p.name} at the {scale} scale: {len(rep.records) + len(rep.recommend_records)} of {rep.expected} runs")
    for col in ("claim", "verdict", "test"):
        table.add_column(col)
    for v in rep.verdicts:
        table.add_row(v.statement, v.verdict, v.test)
    out.print(table)
    out.print(f"report: {rep.paths[0]} (and {rep.paths[1].name})")
    if not rep.complete:
        err.print(f"incomplete: {rep.not_ok} of {rep.expected} trials have no ok record; the report says so. "
                  "Run the same command to retry what was interrupted.")
        raise typer.Exit(1)


@app.command()
def runs(
    name: Annotated[str, typer.Option(help="Study (sweep) name.")] = "sweep",
    storage: Storage = None,
    run_dir: RunDir = Path("runs"),
    status: Annotated[Optional[str], typer.Option(help="Only runs with this status (ok, failed, diverged, timeout).")] = None,
    model: Annotated[Optional[str], typer.Option(help="Only runs whose model config contains this text.")] = None,
    export: Annotated[Optional[Path], typer.Option(help="Write the runs to .parquet or .csv.")] = None,
    plots: Annotated[Optional[Path], typer.Option(help="Write plots of metric vs hidden proportion and vs each density here.")] = None,
    limit: Annotated[int, typer.Option(help="Rows to print.")] = 30,
) -> None:
    """List, filter and export the runs of a sweep."""
    from .report import plot_runs, runs_frame

    frame = runs_frame(storage, name, run_dir)
    if status:
        frame = frame[frame["status"] == status]
    if model:
        frame = frame[frame["model"].str.contains(model, regex=False)]
    if export:
        if export.suffix not in (".parquet", ".csv"):
            raise UserError(f"--export must end in .parquet or .csv, got {export.name}")
        from .io import atomic_write

        if export.suffix == ".csv":
            atomic_write(export, lambda f: f.write(frame.to_csv(index=False).encode()))
        else:
            atomic_write(export, lambda f: frame.to_parquet(f, index=False))
        out.print(f"wrote {len(frame)} runs to {export}")
    if plots and len(frame):
        for p in plot_runs(frame, plots, str(frame["metric"].dropna().iloc[0]) if frame["metric"].notna().any() else "metric"):
            out.print(f"plot: {p}")
    table = Table(title=f"{name}: {len(frame)} runs")
    cols = ["model", "seed", "budget", "status", "test", "hidden_proportion", "dh", "weights", "wall_time"]
    for c in cols:
        table.add_column(c, justify="left" if c in ("model", "status") else "right")
    for _, r in frame.head(limit).iterrows():
        table.add_row(*(f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c]) for c in cols))
    out.print(table)


from .cli_meta import predictor_app, recommend  # noqa: E402

app.add_typer(predictor_app, name="predictor")
app.command()(recommend)


# -------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning every user-facing error into one line and a non-zero exit."""
    try:
        app(args=argv)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except (UserError, ValueError, OSError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"error: {msg}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
