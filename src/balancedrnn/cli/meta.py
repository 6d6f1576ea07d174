"""Command-line commands of the meta-learner: ``balancedrnn predictor fit|evaluate|show`` and
``balancedrnn recommend``.

scikit-learn is imported only when a command runs, so ``balancedrnn --help`` and the other commands stay
fast and work without the ``meta`` extra.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

predictor_app = typer.Typer(no_args_is_help=True, help="Learn a performance predictor from run records (SPEC §8).")

Records = Annotated[Optional[Path], typer.Option("--records", help="Directory of JSON run records (instead of a store).",
                                                  show_default="none: use the store")]
Storage = Annotated[Optional[str], typer.Option(help="Store: a journal file path or postgresql://...",
                                                show_default="<run-dir>/store.journal")]
Names = Annotated[Optional[list[str]], typer.Option("--name", help="Study (sweep) name; repeat for several.",
                                                    show_default="sweep")]
RunDir = Annotated[Path, typer.Option(help="Directory of the embedded store.")]
PREDICTOR_FILE_HELP = "A predictor file written by `predictor fit` (a pickle: load only files you trust)."
NClasses = Annotated[int, typer.Option(help="Performance classes: quantiles of the metric per task.")]
NEstimators = Annotated[int, typer.Option(help="Trees per random forest.")]
Seed = Annotated[int, typer.Option(help="Seed of forests, parent network and permutations.")]


def _meta() -> Any:
    from .common import UserError

    try:
        from ..analysis import meta
    except ImportError as e:
        raise UserError(f"meta-learning needs scikit-learn and scipy ({e.name} is missing): pip install 'balancedrnn[meta]'") from None
    return meta


def _records(records: Path | None, storage: str | None, names: list[str] | None, run_dir: Path) -> list[dict[str, Any]]:
    """Run records from a directory of JSON files or from one or more studies of a store."""
    from .common import UserError

    meta = _meta()
    if records is not None:
        if storage is not None or names:
            raise UserError("give either --records or --storage/--name, not both")
        return meta.load_record_dir(records)
    from ..sweep import store

    st = store.open_storage(storage, run_dir, create=False)
    out: list[dict[str, Any]] = []
    for name in dict.fromkeys(names or ["sweep"]):  # a study named twice is read once, not its runs counted twice
        out.extend(store.iter_records(store.open_study(st, name, create=False)))
    return out


def _has_source(records: Path | None, storage: str | None, names: list[str] | None) -> bool:
    return records is not None or storage is not None or bool(names)


@predictor_app.command("fit")
def fit(
    ctx: typer.Context,
    records: Records = None,
    storage: Storage = None,
    name: Names = None,
    run_dir: RunDir = Path("runs"),
    out_file: Annotated[Path, typer.Option("--out", help="Where to save the fitted predictor.")] = Path("runs/predictor.pkl"),
    n_classes: NClasses = 3,
    n_estimators: NEstimators = 200,
    parent: Annotated[bool, typer.Option("--parent/--no-parent", help="Also fit the parent network.")] = False,
    seed: Seed = 0,
    zoo: Annotated[bool, typer.Option("--zoo", help="Fit the zoo predictor (pooled across tasks: per-task rank target, "
                                      "dimension-free features, parent network of the validation curve) on every "
                                      "zoo-* study of --storage (see --study-prefix), or the --name studies.")] = False,
    study_prefix: Annotated[str, typer.Option("--study-prefix", help="With --zoo: the prefix of the studies to fit on "
                                              "(long4-: the zoo trained 4× longer by experiments/zoo_long.py).")] = "zoo-",
    references: Annotated[Optional[str], typer.Option(
        "--references", help="With --zoo: a store of experiments/zoo_recommend.py whose named configs' trials "
        "(dense, uniform:0.2, balanced) join the zoo's runs, as in the shipped predictor.")] = None,
) -> None:
    """Fit the random-forest classifier and regressor (and optionally the parent network) and save them."""
    from .common import UserError, check_positive, check_run_dir, check_seed_option, check_writable, given_options, out

    if n_classes < 2:
        raise UserError(f"--n-classes must be at least 2, got {n_classes}")
    check_positive("--n-estimators", n_estimators)
    check_seed_option("--seed", seed)  # before the records are read, naming the option (not the forest's parameter)
    check_writable(out_file, "--out")  # before the fit, naming the user's path
    check_run_dir(ctx, records, storage)
    meta = _meta()
    if references is not None and not zoo:
        raise UserError("--references adds named-config trials to the zoo predictor's runs: give it with --zoo")
    if references is not None and "://" not in references and not Path(references).is_file():
        raise UserError(f"--references: no store at {references} (give the journal experiments/zoo_recommend.py "
                        "wrote: zoo/zoo-recommend.journal in the cache directory)")
    if study_prefix != "zoo-" and not zoo:
        raise UserError("--study-prefix selects the zoo predictor's studies: give it with --zoo")
    if study_prefix != "zoo-" and name:  # the named studies are read whatever their prefix
        raise UserError("--study-prefix selects the studies by prefix and --name names them: give one of the two")
    given = given_options(ctx, {"n_classes": "--n-classes", "parent": "--parent/--no-parent"})
    if zoo and given:  # the zoo predictor ranks runs within each task and always fits its parent network
        raise UserError(f"{', '.join(given)} shape the per-study predictor; the zoo predictor (--zoo) has no classes "
                        "(it ranks runs within each task) and always fits its parent network")
    if zoo:
        if storage is None or records is not None:
            raise UserError("--zoo reads the zoo sweep's store: give --storage (the store of `reproduce zoo`), not --records")
        from ..analysis import zoopred

        predictor, provenance = zoopred.fit_zoo_predictor(storage, name, n_estimators=n_estimators, random_state=seed,
                                                          references=references, prefix=study_prefix)
        path = meta.save_predictor(predictor, out_file, provenance)
        out.print(f"zoo predictor fitted on {predictor.n_records_} runs of {len(predictor.tasks_)} tasks "
                  f"({len(provenance['studies'])} studies); saved: {path} ({path.stat().st_size / 1e6:.2f} MB)")
        return
    data = meta.prepare_records(_records(records, storage, name, run_dir))
    predictor = meta.MetaPredictor(n_classes=n_classes, n_estimators=n_estimators, parent=parent, random_state=seed).fit(data)
    path = meta.save_predictor(predictor, out_file)
    out.print(f"fitted on {predictor.n_records_} runs of {len(predictor.tasks_)} task(s) ({data.describe_skipped()})")
    _print_tasks(predictor)
    out.print(f"saved: {path}")


def _print_tasks(predictor: Any) -> None:
    from rich.table import Table

    from .common import out

    table = Table(title=f"tasks; classes per task: {', '.join(_meta().class_names(predictor.n_classes))} (worst first)")
    for col in ("task", "dx", "dy", "runs", "metric", "range", "class boundaries"):
        table.add_column(col, justify="left" if col in ("task", "metric") else "right")
    for t, i in predictor.tasks_.items():
        edges = ", ".join(f"{e:.4g}" for e in predictor.class_edges_[t])
        table.add_row(t, str(i["dx"]), str(i["dy"]), str(i["runs"]), i["metric"],
                      f"{i['min']:.4g}..{i['max']:.4g}", edges)
    out.print(table)


@predictor_app.command("evaluate")
def evaluate(
    ctx: typer.Context,
    records: Records = None,
    storage: Storage = None,
    name: Names = None,
    run_dir: RunDir = Path("runs"),
    out_dir: Annotated[Path, typer.Option(help="Directory of report.html, report.md and their plots.")] = Path("runs/meta"),
    n_splits: Annotated[int, typer.Option(help="Folds of grouped cross-validation.")] = 5,
    n_classes: NClasses = 3,
    n_estimators: NEstimators = 200,
    repeats: Annotated[int, typer.Option(help="Permutation-importance repeats per fold.")] = 5,
    parent: Annotated[bool, typer.Option("--parent/--no-parent", help="Compare the parent network on the same splits.")] = True,
    seed: Seed = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress messages.")] = False,
) -> None:
    """Grouped CV and leave-one-data-set-out scores beside the baselines, importances, and a report with plots
    (self-contained HTML and markdown)."""
    from rich.table import Table

    from .common import UserError, check_positive, check_run_dir, check_seed_option, check_writable, err, out

    if n_splits < 2 or repeats < 1:
        raise UserError("--n-splits must be at least 2 and --repeats at least 1")
    if n_classes < 2:
        raise UserError(f"--n-classes must be at least 2, got {n_classes}")
    check_positive("--n-estimators", n_estimators)
    check_seed_option("--seed", seed)
    check_writable(out_dir, "--out-dir", directory=True)  # before the evaluation, not after it
    check_run_dir(ctx, records, storage)
    meta = _meta()
    from ..analysis.metareport import SPLITS, write_report
    from ..analysis.metareport import evaluate as run_evaluation

    data = meta.prepare_records(_records(records, storage, name, run_dir))
    ev = run_evaluation(data, n_splits=n_splits, n_classes=n_classes, n_estimators=n_estimators, n_repeats=repeats,
                        parent=parent, random_state=seed, progress=None if quiet else lambda m: err.print(m))
    i = ev.info
    out.print(f"{i['n_records']} runs of {i['n_groups']} configs on {i['n_tasks']} task(s) ({i['skipped']})")
    for split, title in SPLITS.items():
        title = title.format(k=i["n_splits"])
        t = ev.table(split)
        if not len(t):
            out.print(f"{title}: not run ({i.get(split + '_note', '')})")
            continue
        table = Table(title=title)
        table.add_column("model")
        for c in t.columns:
            table.add_column(c, justify="right")
        for m, r in t.iterrows():
            table.add_row(str(m), *(str(v) for v in r))
        out.print(table)
    if len(ev.hp_gain):
        table = Table(title="what the hidden proportion adds: forest minus forest without it, same folds")
        for c in ("split", "metric", "gain (mean ± std)", "folds where it helped"):
            table.add_column(c, justify="left" if c in ("split", "metric") else "right")
        for r in ev.hp_gain.itertuples():
            table.add_row(r.split, r.metric, f"{r.mean:+.3f} ± {r.std:.3f}", f"{r.helped}/{r.folds}")
        out.print(table)
    imp = ev.importances.sort_values("regressor_mean", ascending=False).head(8)
    out.print("permutation importances (R² drop, mean ± std): " +
              ", ".join(f"{f} {r['regressor_mean']:.3f} ± {r['regressor_std']:.3f}" for f, r in imp.iterrows()))
    predictor = meta.MetaPredictor(n_classes=n_classes, n_estimators=n_estimators, random_state=seed).fit(data)
    paths = write_report(ev, data, predictor, out_dir)
    out.print(f"report: {paths[0]} (and {paths[1].name})")


@predictor_app.command("show")
def show(path: Annotated[Path, typer.Argument(help=PREDICTOR_FILE_HELP)]) -> None:
    """What a saved predictor was fitted on: schema, library versions, tasks, classes, impurity importances."""
    from .common import out

    payload = _meta().read_predictor_file(path)
    p = payload["predictor"]
    if payload["format"] != _meta().PREDICTOR_FORMAT:
        _show_zoo(path, payload)
        return
    out.print(f"predictor {path}: schema {payload['schema']['schema_version']} ({len(payload['schema']['features'])} features), "
              f"{p.n_records_} runs, {p.n_estimators} trees, seed {p.random_state}, parent network: {'yes' if p.parent_ else 'no'}"
              + (", runs' init scale: " + ", ".join(f"{k} {v}" for k, v in p.init_scales_.items())
                 if getattr(p, "init_scales_", None) else ""))
    out.print("versions: " + ", ".join(f"{k} {v}" for k, v in payload["versions"].items() if k != "platform"))
    _print_tasks(p)
    imp = sorted(zip(p.regressor_.feature_names_in_, p.regressor_.feature_importances_), key=lambda kv: -kv[1])[:8]
    out.print("impurity importances of the regressor (see `predictor evaluate` for permutation importances): " +
              ", ".join(f"{f} {v:.3f}" for f, v in imp))


def _show_zoo(path: Path, payload: dict[str, Any]) -> None:
    """``predictor show`` of a zoo predictor: schema, provenance, versions, tasks, impurity importances."""
    from rich.table import Table

    from .common import out

    p = payload["predictor"]
    prov = payload.get("provenance") or {}
    out.print(f"zoo predictor {path}: schema {payload['schema']['schema_version']} ({len(payload['schema']['features'])} "
              f"features, target {payload['schema']['target']}), {p.n_records_} runs of {len(p.tasks_)} tasks, "
              f"{p.n_estimators} trees, seed {p.random_state}, parent network: {'yes' if p.parent_ else 'no'}, "
              f"runs' init scale: {p.training_init_scale}")
    out.print("provenance: " + ", ".join(f"{k} {v}" for k, v in prov.items() if k not in ("tasks", "studies"))
              + f", {len(prov.get('studies', []))} studies")
    out.print("versions: " + ", ".join(f"{k} {v}" for k, v in payload["versions"].items() if k != "platform"))
    table = Table(title="tasks")
    for col in ("task", "dx", "dy", "kind", "T", "training seqs", "runs", "best", "chance"):
        table.add_column(col, justify="left" if col in ("task", "kind") else "right")
    for t, i in p.tasks_.items():
        table.add_row(t, str(i["dx"]), str(i["dy"]), i["kind"], str(i["T"] or "-"), str(i["n_train"] or "-"),
                      str(i["runs"]), f"{i['best']:.3g}", f"{i['chance']:.3g}")
    out.print(table)
    imp = sorted(zip(p.features, p.forest_.feature_importances_), key=lambda kv: -kv[1])[:8]
    out.print("impurity importances of the forest: " + ", ".join(f"{f} {v:.3f}" for f, v in imp))


def recommend(
    ctx: typer.Context,
    dx: Annotated[Optional[int], typer.Option(help="Input size of the new data set.", show_default="from --data")] = None,
    dy: Annotated[Optional[int], typer.Option(help="Output size of the new data set.", show_default="from --data")] = None,
    budget: Annotated[Optional[float], typer.Option(help="Trainable-weight budget.", show_default="the weights of a "
                                                    "dense model with 64 hidden units at (dx, dy), as `train`'s default")] = None,
    data: Annotated[Optional[Path], typer.Option("--data", help="A data file (.npz, .ts, .csv; see `train --data`): "
                                                 "dx and dy are read from it.", show_default="none")] = None,
    task: Annotated[Optional[str], typer.Option("--task", help="A registered task (see `balancedrnn tasks`): dx, dy, "
                                                "kind, sequence length and training sequences are read from the registry.",
                                                show_default="none")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs the recommendation will train for: the --epochs of the "
                                                  "train command printed (any predictor) and the length of the zoo "
                                                  "predictor's predicted validation curve.",
                                                  show_default="the predictor's runs' median")] = None,
    steps: Annotated[Optional[int], typer.Option("--steps", help="Sequence length T of the new data set (zoo predictor).",
                                                 show_default="from --task/--data, else the zoo's median")] = None,
    n_train: Annotated[Optional[int], typer.Option("--n-train", help="Training sequences of the new data set (zoo predictor).",
                                                   show_default="from --task/--data, else the zoo's median")] = None,
    extrapolate: Annotated[bool, typer.Option("--extrapolate", help="Recommend even when dx/dy lies outside every "
                                              "shape the zoo predictor was trained on.")] = False,
    predictor: Annotated[Optional[Path], typer.Option(help=PREDICTOR_FILE_HELP,
                                                      show_default="the shipped one if the package carries it; else fit one on --records/--storage; else the a-priori rule")] = None,
    records: Records = None,
    storage: Storage = None,
    name: Names = None,
    run_dir: RunDir = Path("runs"),
    regression: Annotated[bool, typer.Option("--regression", help="The new task is regression (MSE), not classification.")] = False,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Data-set characteristic, key=value (repeatable): log_dx_over_dy (natural log), classification, chance; read by a predictor fitted with `predictor fit`, not by the zoo predictor.",
                                                      show_default="none")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Learning rate to predict at.", show_default="median of the runs")] = None,
    candidates: Annotated[int, typer.Option(help="Candidate density vectors to draw; the named configs (dense, uniform, balanced, ...) and one hidden-proportion target are always among them, so a small number scores a few more.")] = 2000,
    top: Annotated[int, typer.Option(help="Best candidates to list.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the candidates (and of a predictor fitted now).")] = 0,
) -> None:
    """Propose block densities and dh for a new data set at a budget, before any training.

    Uses a predictor file (--predictor), or one fitted now on --records/--storage/--run-dir runs, else the
    predictor the package ships (fitted on the task zoo's runs). Runs too few to fit one, or a build that ships none, fall back
    to the a-priori rule, hidden proportion 0.5, and say so.
    """
    from rich.table import Table

    from .common import (UserError, _parse_sets, check_budget, check_positive, check_run_dir, check_seed_option,
                         err, given_options, out, warnings_on_success)
    from ..core.spec import BLOCKS, check_size, format_budget

    run_dir_given = check_run_dir(ctx, records, storage)
    task_info: dict[str, Any] = {}
    if task is not None:
        if data is not None or dx is not None or dy is not None:
            raise UserError("give either --task or --dx/--dy (or --data), not both")
        dx, dy, task_regression, task_info, task_budget = _task_shape(task)
        if regression and not task_regression:  # it would be ignored: the registry says what the task is
            raise UserError(f"--regression: {task} is a classification task (the registry says so); leave it out, or "
                            "give --dx/--dy for a shape of your own")
        regression = task_regression
        budget = task_budget if budget is None else budget
    if data is not None:
        if dx is not None or dy is not None:
            raise UserError("give either --data or --dx/--dy, not both")
        from ..tasks import get_task
        from .common import data_task

        t = get_task(data_task(None, data))  # the file read and checked: one-line errors
        dx, dy = t.dx, t.dy
        if regression and t.loss == "last":  # it would be ignored by `train --data`, which classifies the file
            raise UserError(f"--regression: the command line classifies a --data file ({data.name} has {dy} classes), "
                            "so its recommendation is for classification; leave it out, or give --dx/--dy for a "
                            "shape of your own")
        regression = t.loss != "last"
        from ..tasks.zoo import predictor_info

        task_info = predictor_info(t)
    elif dx is None or dy is None:
        raise UserError("give --dx and --dy (the data set's input and output sizes), or --data PATH")
    check_size("--dx", dx)
    check_size("--dy", dy)
    if budget is None:
        from ..tasks.timeseries import default_budget

        budget = float(default_budget(dx, dy))
    check_budget(budget)
    check_positive("--candidates", candidates)
    check_positive("--top", top)
    check_positive("--lr", lr, "number")
    for option, key, value in (("--epochs", "epochs", epochs), ("--steps", "T", steps), ("--n-train", "n_train", n_train)):
        if value is not None:
            check_positive(option, value)
            task_info[key] = float(value)  # given: overrides what --task/--data say
    check_seed_option("--seed", seed)
    if predictor is not None and not predictor.is_file():
        raise UserError(f"predictor file {predictor} " + ("is not a file" if predictor.exists() else "does not exist"))
    if records is not None and not records.is_dir():
        raise UserError(f"records directory {records} does not exist")
    meta = _meta()
    sets = _parse_sets(set_)  # the one --set parser
    dataset: dict[str, float] = {}
    for key, value in sets.items():
        try:
            if isinstance(value, bool):
                raise TypeError
            dataset[key] = float(value)
            if not math.isfinite(dataset[key]):  # NaN reached the forest: "Input X contains NaN", no option named
                raise ValueError
        except (TypeError, ValueError):
            raise UserError(f"--set {key} needs a finite number, got {value!r}") from None
    # --run-dir names the store to fit on (its store.journal), as --storage does: without it the zoo predictor
    # would be used and the directory silently ignored
    from_runs = _has_source(records, storage, name) or run_dir_given
    if predictor is not None and from_runs:
        raise UserError("give either --predictor or run records (--records/--storage/--name/--run-dir), not both")
    zoo_only = [o for o, v in (("--steps", steps), ("--n-train", n_train)) if v is not None]  # --epochs: every
    # recommender prints it in the train command it suggests (the zoo predictor also sizes its curve by it)

    def refuse_zoo_only(what: str) -> None:
        """--steps/--n-train are features of the zoo predictor only: any other recommender would drop them."""
        if zoo_only:
            raise UserError(f"{', '.join(zoo_only)} {'is' if len(zoo_only) == 1 else 'are'} read by the zoo predictor, "
                            f"not by {what}, which has no sequence-length or training-set feature; leave "
                            f"{'it' if len(zoo_only) == 1 else 'them'} out")

    if from_runs:  # a predictor fitted now on run records, or the rule: never the zoo's
        refuse_zoo_only("a predictor fitted on --records/--storage runs")
    with warnings_on_success():  # a predictor file's version warning, shown only with the recommendation
        fitted: Any = "default"  # the shipped predictor when the package carries one, else the a-priori rule
        reason = ""
        if predictor is not None:
            fitted = meta.load_predictor(predictor)
        elif from_runs:
            try:
                fitted = meta.MetaPredictor(random_state=seed).fit(_records(records, storage, name, run_dir))
            except meta.TooFewRecords as e:
                fitted, reason = None, f"a-priori rule (hidden proportion 0.5) because the runs cannot fit a predictor: {e}"
        if fitted == "default":
            fitted = meta.default_predictor()
            if fitted is None:
                refuse_zoo_only("the a-priori rule (this build ships no fitted predictor)")
                fitted = "default"
        if fitted is not None and not isinstance(fitted, (str, meta.zoopred.ZooPredictor)):
            refuse_zoo_only("a predictor fitted with `balancedrnn predictor fit`")
        rec = meta.recommend_config(dx, dy, budget, regression=regression, predictor=fitted, dataset=dataset or None,
                                    lr=lr, n_candidates=candidates, top=top, seed=seed, reason=reason, task=task_info or None)
        if rec.shape_outside and not extrapolate:
            raise UserError(rec.shape_outside_message + "; pass --extrapolate to get it anyway, or "
                            "--predictor/--records for a predictor of your own")
        out.print(f"method: {rec.method}: {rec.reason}")
        table = Table(title=f"recommendation for dx={dx}, dy={dy}, budget={format_budget(budget)}")
        predicted = _predicted_label(rec)
        for col in (*BLOCKS, "dh", "weights", "hidden prop.", predicted + (" (class)" if rec.interval is None and
                                                                             rec.predicted_class else "")):
            table.add_column(col, justify="right")
        pred = "-" if rec.predicted_score is None else f"{rec.predicted_score:.4g} ({rec.predicted_class})"
        if rec.interval is not None:
            pred = f"{rec.predicted_score:.3g} [{rec.interval[0]:.3g}, {rec.interval[1]:.3g}]"
        table.add_row(*(f"{rec.density[b]:.4g}" for b in BLOCKS), str(rec.dh), f"{rec.weights:,}", f"{rec.hidden_proportion:.3f}", pred)
        out.print(table)
        if rec.top is not None and len(rec.top) > 1:
            out.print(_top_table(rec.top, rec.candidates, predicted))
        if rec.references:
            out.print(f"{predicted} of named configs at this budget: "
                      + ", ".join(f"{k} {v:.4g}" for k, v in rec.references.items()))
        if rec.same_as:
            out.print(f"the recommendation is {rec.same_as}")
        if rec.agreement:
            out.print("trees scoring the recommendation above: "
                      + ", ".join(f"{k} {v:.0%}" + (f" ({rec.ties.get(k, 0.0):.0%} tied)" if rec.ties.get(k, 0.0) >= 0.005 else "")
                                  for k, v in rec.agreement.items())
                      + ("" if min(rec.agreement.values()) >= 0.8 else
                         " (below 80 %: the forest is not confident the recommendation beats that config)"))
        if rec.interval is not None:
            out.print(f"{predicted}: {rec.metric}, not the task's metric; interval: the trees' 10th..90th percentiles")
        elif rec.predicted_score is not None:
            out.print(f"{predicted}: the final {rec.metric} the random forest predicts"
                      + (f"; class: its performance class (per-task quantiles of the runs' {rec.metric})"
                         if rec.predicted_class else ""))
        if rec.curve:
            zoopred = _meta().zoopred
            out.print(f"predicted validation curve (parent network, per epoch), {zoopred.TARGET_DESCRIPTION[zoopred.METHOD]}: "
                      + " ".join(f"{v:.2f}" for v in rec.curve))
        if rec.outside:
            out.print("outside what the zoo covers: " + "; ".join(rec.outside) + " (the prediction extrapolates there)")
        out.print(f"config: {rec.config}")
        import shlex

        source = ["--task", task] if task is not None else ["--data", str(data)] if data is not None else ["--data", "FILE"]
        file_note = ", FILE: your .npz, .ts or .csv data" if source[1] == "FILE" else ""
        if rec.method == "predictor":
            # as long as asked, else the predicted curve's length (zoo) or the predictor's runs' epochs
            length = epochs if epochs is not None else len(rec.curve) if rec.curve else rec.epochs
            scale = f"init scale {rec.init_scale}, " if rec.init_scale is not None else ""
            out.print(f"train it as the predictor's runs were trained ({scale}lr {rec.lr:.4g}{file_note}): "
                      + shlex.join(["balancedrnn", "train", *source, *rec.train_args(),
                                    *(["--epochs", str(length)] if length else [])]), soft_wrap=True)
        else:  # the rule scores nothing: what would tune a prediction is said to be unused, not silently dropped
            out.print(f"train it (lr and epochs as given, else train's defaults{file_note}): "
                      + shlex.join(["balancedrnn", "train", *source, *rec.train_args(),
                                    *(["--epochs", str(epochs)] if epochs is not None else [])]), soft_wrap=True)
            unused = given_options(ctx, {"set_": "--set", "candidates": "--candidates", "top": "--top"})
            if unused:
                err.print(f"warning: {', '.join(unused)} {'is' if len(unused) == 1 else 'are'} read by a predictor; "
                          f"the a-priori rule scores no candidate and did not use {'it' if len(unused) == 1 else 'them'}")


def _task_shape(name: str) -> tuple[int, int, bool, dict[str, Any], float]:
    """dx, dy, regression?, the zoo predictor's task characteristics (T, n_train) and the default budget of a
    registered task; one line for an unknown task or a zoo task whose data this installation lacks."""
    from ..tasks import TaskError, get_task
    from ..tasks.zoo import ZOO, meta_features, predictor_info
    from .common import UserError

    try:
        t = get_task(name)
    except TaskError as e:
        if name in ZOO:
            if "needs aeon" in str(e):  # aeon absent: the error names the extra
                raise UserError(f"{e} (aeon ships the zoo's files), or give the task's shape with --dx/--dy") from None
            raise UserError(f"zoo task {name!r} is not available here: its data is missing offline (aeon ships the "
                            "zoo's files: pip install 'balancedrnn[timeseries]'); or give the task's shape with "
                            "--dx/--dy") from None
        raise UserError(str(e)) from None
    return t.dx, t.dy, meta_features(t)["kind"] == "regression", predictor_info(t), float(t.default_budget)


def _predicted_label(rec: Any) -> str:
    """What ``recommend`` calls the predicted score wherever it prints it: ``predicted accuracy`` (the metric, from a
    predictor fitted with `predictor fit`) or ``predicted within-task rank`` (the zoo predictor's, no metric)."""
    return f"predicted {rec.score_name or rec.metric or 'score'}"


def _top_table(top: Any, candidates: int, predicted: str = "predicted") -> Any:
    """The recommender's best candidates (a DataFrame of origin, densities, dh, weights, hidden proportion,
    predicted score and class) as a Rich table; ``predicted`` heads the predicted score's column."""
    from rich.table import Table

    table = Table(title=f"best {len(top)} of {candidates:,} feasible candidates")
    for col in top.columns:
        label = predicted if col == "predicted" else str(col).removeprefix("density_").replace("hidden_proportion", "hidden prop.")
        table.add_column(label, justify="left" if col in ("origin", "class") else "right")
    for _, r in top.iterrows():
        cells = []
        for col in top.columns:
            v = r[col]
            if col in ("dh", "weights"):
                cells.append(f"{int(v):,}")
            elif col == "hidden_proportion":
                cells.append(f"{float(v):.3f}")
            elif isinstance(v, float):
                cells.append(f"{v:.4g}")
            else:
                cells.append(str(v))
        table.add_row(*cells)
    return table
