"""Reproduce the paper in one command: experiment plans at three scales, run through the sweep executor and
its store, then statistics, verdicts on the paper's claims and a report.

A plan is a YAML file (the shipped ones are in ``balancedrnn/plans/``)::

    name: rad-100k
    description: "..."
    claims: [balanced_beats_dense, ...]        # names from balancedrnn.analysis.claims.CLAIMS
    data: {hammer_smoke_episodes: 12}          # optional: data the plan makes before its smoke scale
    sweeps:                                    # one or more sweeps (see balancedrnn.sweep.executor)
      - name: rad-100k
        base: {task: rad, budget: 100000}
        sampler: {kind: grid, models: [dense, balanced]}
        scales: {small: {base: {epochs: 30}}}  # optional, applied after the plan's own scale settings
                                               # ({smoke: {skip: true}} leaves the sweep out at smoke)
    scales:                                    # smoke, small and paper: seeds (grid), n_trials, base overrides
      smoke: {seeds: 2, base: {epochs: 1}}
    recommend:                                 # optional: judge the recommender leave one task out
      references: [dense, "uniform:0.2", balanced]
      seeds: {smoke: 2, small: 3, paper: 5}

Every scale's sweeps are checked before anything runs. Trials go to a store (by default a journal in the
output directory, or ``--storage postgresql://...``), so a reproduction resumes after an interruption and
several machines can share it.

A plan with a ``recommend`` section then judges the recommender leave one task out (SPEC §8): for each task of
its runs, a predictor fitted on the *other* tasks' runs recommends densities and dh at each of the task's
budgets before any training, and the recommendation is trained beside the reference configs with the same
seeds, learning rate and initialisation (a second stage of grid sweeps in the same store).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Any

from .report import Reproduction, write_report

__all__ = ["Reproduction"]  # re-exported: the record a reproduction produces is the report's input

SCALES = ("smoke", "small", "paper")
"""Scales every plan defines: ``smoke`` (a pipeline check in seconds), ``small`` (a few hours on 2 cores),
``paper`` (the paper's protocol)."""


@dataclass(frozen=True)
class Forests:
    """Sizes of a plan's forests at one scale."""

    trees: int = 100
    """Trees of the evaluation's forests (and of the predictor the report shows)."""
    repeats: int = 3
    """Permutation repeats of the importances."""
    recommend_trees: int = 200
    """Trees of each held-out task's forest in the recommender stage."""


FORESTS = {"smoke": Forests(trees=30, repeats=1, recommend_trees=60)}
"""Forest sizes per scale (default :class:`Forests`): a smoke run checks the pipeline, not the numbers, so its
forests are small."""


def forests(scale: str) -> Forests:
    """The forest sizes of ``scale``."""
    return FORESTS.get(scale, Forests())


class PlanError(ValueError):
    """A plan that cannot be used. The message is one line."""


@dataclass
class ScaleSettings:
    """What one scale changes in a sweep."""

    seeds: int | None = None
    """Grid sweeps: run seeds 0..seeds-1."""
    n_trials: int | None = None
    """Other samplers: number of trials."""
    base: dict[str, Any] = field(default_factory=dict)
    """TrainConfig fields that override the sweep's base config."""
    skip: bool = False
    """Leave the sweep out at this scale (the zoo plan's smoke scale runs a few of its many tasks)."""


@dataclass
class PlanSweep:
    """One sweep of a plan."""

    name: str
    """Study name stem (the store's study is ``<name>-<scale>``)."""
    base: dict[str, Any]
    """TrainConfig fields shared by the sweep's trials."""
    sampler: dict[str, Any]
    """Sampler settings (see balancedrnn.sweep.executor.SamplerSpec)."""
    scales: dict[str, ScaleSettings] = field(default_factory=dict)
    """This sweep's own scale settings, applied after the plan's."""


@dataclass
class RecommendSettings:
    """The recommender stage of a plan."""

    references: list[str] = field(default_factory=lambda: ["dense", "uniform:0.2", "balanced"])
    """Configs trained beside each recommendation (the claim compares it with the dense and uniform ones)."""
    seeds: dict[str, int] = field(default_factory=lambda: {"smoke": 2, "small": 3, "paper": 5})
    """Seeds per scale for the recommendation and each reference."""
    n_candidates: int = 2000
    """Candidate density vectors the predictor scores per recommendation."""


@dataclass
class Plan:
    """An experiment plan."""

    name: str
    """Plan name."""
    description: str
    """What the plan runs, one sentence."""
    claims: list[str]
    """Claims of the paper the plan tests (balancedrnn.analysis.claims.CLAIMS)."""
    sweeps: list[PlanSweep]
    """The sweeps it runs."""
    scales: dict[str, ScaleSettings]
    """Scale settings shared by its sweeps."""
    data: dict[str, Any] = field(default_factory=dict)
    """Data the plan makes before running (``hammer_smoke_episodes``: a tiny Hammer set for the smoke scale)."""
    recommend: RecommendSettings | None = None
    """The recommender stage (None: the plan does not judge the recommender)."""
    source: str = ""
    """Where the plan was read from."""

    @property
    def shipped(self) -> bool:
        """Whether this is one of the package's plans (re-run by name rather than by file)."""
        return not self.source or Path(self.source).resolve().parent == plans_dir().resolve()


PLAN_DATA_KEYS = ("hammer_smoke_episodes",)
SMOKE_HAMMER_ID = "balancedrnn/hammer/smoke-v0"
"""Data set id of the tiny Hammer set the smoke scale makes (an untrained policy's episodes: not expert data)."""


def plans_dir() -> Path:
    """The directory of the shipped plans."""
    return Path(__file__).with_name("plans")


def plan_names() -> list[str]:
    """Names of the shipped plans."""
    return sorted(p.stem for p in plans_dir().glob("*.yaml"))


def _check_keys(d: Any, cls: type, what: str) -> None:
    if not isinstance(d, dict):
        raise PlanError(f"{what} must be a mapping")
    known = {f.name for f in fields(cls)} - {"source"}
    unknown = sorted(set(map(str, d)) - known)
    if unknown:
        raise PlanError(f"unknown {what} key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")


def _scales(d: Any, what: str, require_all: bool) -> dict[str, ScaleSettings]:
    if d is None:
        d = {}
    if not isinstance(d, dict):
        raise PlanError(f"{what} must be a mapping of scale names to settings")
    unknown = sorted(set(map(str, d)) - set(SCALES))
    if unknown:
        raise PlanError(f"unknown scale(s) {', '.join(unknown)} in {what}; known: {', '.join(SCALES)}")
    missing = [s for s in SCALES if s not in d]
    if require_all and missing:
        raise PlanError(f"{what} lacks scale(s) {', '.join(missing)}")
    out = {}
    for name, settings in d.items():
        settings = settings or {}
        _check_keys(settings, ScaleSettings, f"{what}.{name}")
        for key in ("seeds", "n_trials"):
            v = settings.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise PlanError(f"{what}.{name}.{key} must be a positive integer, got {v!r}")
        if not isinstance(settings.get("skip", False), bool):
            raise PlanError(f"{what}.{name}.skip must be true or false, got {settings['skip']!r}")
        if not isinstance(settings.get("base", {}), dict):
            raise PlanError(f"{what}.{name}.base must be a mapping of TrainConfig fields")
        out[name] = ScaleSettings(**settings)
    return out


def load_plan(name_or_path: str | Path) -> Plan:
    """A shipped plan by name, or a plan file by path; validated at every scale (one-line PlanError)."""
    import yaml

    from ..sweep.spec import yaml_error_where, yaml_load

    path = Path(name_or_path)
    # a shipped plan's name is the plan even beside a directory of that name (say, its --out-dir, so that
    # `reproduce rad-100k --out-dir rad-100k` resumes): a directory is never a plan file
    if not (path.suffix in (".yaml", ".yml") or path.exists()) or (path.is_dir() and str(name_or_path) in plan_names()):
        if str(name_or_path) not in plan_names():
            raise PlanError(f"unknown plan {str(name_or_path)!r}; shipped plans: {', '.join(plan_names())} "
                            "(or give the path of a plan file)")
        path = plans_dir() / f"{name_or_path}.yaml"
    try:
        d = yaml_load(path.read_text(), "reading a plan")
    except FileNotFoundError:
        raise PlanError(f"plan file {path} does not exist") from None
    except IsADirectoryError:
        raise PlanError(f"plan file {path} is a directory, not a plan file") from None
    except UnicodeDecodeError:
        raise PlanError(f"plan file {path} is not a text file") from None
    except yaml.YAMLError as e:
        raise PlanError(f"plan file {path} is not valid YAML{yaml_error_where(e)}") from None
    _check_keys(d, Plan, f"plan {path.name}")
    for key in ("name", "sweeps", "scales"):
        if key not in d:
            raise PlanError(f"plan {path.name} lacks the key {key!r}")
    name = d["name"]
    if isinstance(name, (int, float)) and not isinstance(name, bool):
        name = str(name)
    if not isinstance(name, str) or not name.strip() or name.startswith(".") or any(c in name for c in "/\\"):
        raise PlanError(f"plan {path.name}: name must be a plain name (it names runs/reproduce/<name>-<scale>), got {name!r}")
    sweeps = d["sweeps"]
    if not isinstance(sweeps, list) or not sweeps:
        raise PlanError(f"plan {path.name}: sweeps must be a non-empty list")
    plan_sweeps = []
    for i, s in enumerate(sweeps):
        _check_keys(s, PlanSweep, f"sweep {i + 1} of plan {path.name}")
        if "name" not in s or "sampler" not in s:
            raise PlanError(f"sweep {i + 1} of plan {path.name} needs a name and a sampler")
        if isinstance(s["name"], bool) or not isinstance(s["name"], (str, int)) or not str(s["name"]).strip():
            raise PlanError(f"sweep {i + 1} of plan {path.name}: name must be a non-empty string, got {s['name']!r}")
        if not isinstance(s["sampler"], dict):
            raise PlanError(f"sweep {s['name']} of plan {path.name}: sampler must be a mapping (kind: grid, models: [...])")
        if not isinstance(s.get("base") or {}, dict):
            raise PlanError(f"sweep {s['name']} of plan {path.name}: base must be a mapping of config fields (task: rad, ...)")
        plan_sweeps.append(PlanSweep(name=str(s["name"]), base=dict(s.get("base") or {}), sampler=dict(s["sampler"]),
                                     scales=_scales(s.get("scales"), f"sweep {s['name']} scales", False)))
    if len({s.name for s in plan_sweeps}) != len(plan_sweeps):
        raise PlanError(f"plan {path.name}: sweep names must differ")
    data = d.get("data") or {}
    if not isinstance(data, dict) or sorted(set(data) - set(PLAN_DATA_KEYS)):
        raise PlanError(f"plan {path.name}: data takes only {', '.join(PLAN_DATA_KEYS)}")
    n = data.get("hammer_smoke_episodes")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise PlanError(f"plan {path.name}: data.hammer_smoke_episodes must be a positive integer, got {n!r}")
    from ..analysis.claims import CLAIMS

    claims = d.get("claims") or []
    if not isinstance(claims, list) or not all(isinstance(c, str) for c in claims):
        raise PlanError(f"plan {path.name}: claims must be a list of claim names; known: {', '.join(CLAIMS)}")
    for c in claims:
        if c not in CLAIMS:
            raise PlanError(f"plan {path.name}: unknown claim {c!r}; known: {', '.join(CLAIMS)}")
    recommend = _recommend_settings(d.get("recommend"), path.name)
    if "recommender_beats_defaults" in claims and recommend is None:
        raise PlanError(f"plan {path.name}: the claim recommender_beats_defaults needs a recommend section")
    plan = Plan(name=str(d["name"]), description=str(d.get("description", "")), claims=list(claims),
                sweeps=plan_sweeps, scales=_scales(d["scales"], f"plan {path.name} scales", True), data=dict(data),
                recommend=recommend, source=str(path))
    for scale in SCALES:
        sweep_specs(plan, scale)  # every scale must make valid sweeps
    return plan


def _recommend_settings(d: Any, plan_file: str) -> RecommendSettings | None:
    if d is None:
        return None
    what = f"plan {plan_file}: recommend"
    try:
        _check_keys(d, RecommendSettings, "recommend")
    except PlanError as e:
        raise PlanError(f"plan {plan_file}: {e}") from None
    out = RecommendSettings(**d)
    if not isinstance(out.references, list) or not out.references:
        raise PlanError(f"{what}.references must be a non-empty list of configs")
    out.references = [str(r) for r in out.references]
    twice = sorted({r.strip() for r in out.references if [x.strip() for x in out.references].count(r.strip()) > 1})
    if twice:  # its grid sweeps would refuse them, after every trial of the first stage had run
        raise PlanError(f"{what}.references lists {', '.join(twice)} more than once")
    from ..core.configs import config_family
    from ..core.spec import SpecError

    for ref in out.references:
        try:
            config_family(str(ref))
        except SpecError as e:
            raise PlanError(f"{what}.references: {e}") from None
    if not isinstance(out.seeds, dict) or sorted(set(out.seeds) ^ set(SCALES)):
        raise PlanError(f"{what}.seeds must give a number of seeds for each of {', '.join(SCALES)}")
    for scale, n in out.seeds.items():
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise PlanError(f"{what}.seeds.{scale} must be a positive integer, got {n!r}")
    if isinstance(out.n_candidates, bool) or not isinstance(out.n_candidates, int) or out.n_candidates < 10:
        raise PlanError(f"{what}.n_candidates must be an integer of at least 10, got {out.n_candidates!r}")
    return out


def _sizes_it_takes(settings: dict[str, Any], base: dict[str, Any], task: Any = None) -> dict[str, Any]:
    """Plan-wide settings (a scale's, or ``--set``) without the split sizes and data seed a sweep's task would
    ignore (a task whose data fix its splits, :func:`~balancedrnn.tasks.zoo.takes_split_sizes`; a series cut in
    time, :func:`~balancedrnn.tasks.zoo.takes_data_seed`): a plan over many tasks sets them for those that take
    them. ``task``: the task the trials run when a later setting (``--set task=...``) sets it."""
    from ..tasks import get_task
    from ..tasks.zoo import takes_data_seed, takes_split_sizes

    sizes = [k for k in ("n_train", "n_val", "n_test") if k in settings]
    task = task if task is not None else settings.get("task", base.get("task", "rad"))
    if not (sizes or "data_seed" in settings) or not isinstance(task, str):
        return settings
    try:
        the_task = get_task(task)
    except ValueError:  # an unknown task (TaskError): SweepSpec's check names it
        return settings
    drop = set() if takes_split_sizes(the_task) else set(sizes)
    if not takes_data_seed(the_task):
        drop.add("data_seed")
    return {k: v for k, v in settings.items() if k not in drop}


def sweep_specs(plan: Plan, scale: str, workers: int = 1, storage: str | None = None,
                overrides: dict[str, Any] | None = None) -> list[Any]:
    """The SweepSpecs a plan runs at ``scale``, with ``overrides`` of TrainConfig fields applied last
    (validated: PlanError names the plan, sweep and problem)."""
    from ..sweep.spec import SweepError, SweepSpec

    if scale not in SCALES:
        raise PlanError(f"unknown scale {scale!r}; expected one of {', '.join(SCALES)}")
    out = []
    sizes_taken: set[str] = set()
    sizes_read: set[str] = set()
    for s in plan.sweeps:
        base = copy.deepcopy(s.base)
        sampler = copy.deepcopy(s.sampler)
        if any(x is not None and x.skip for x in (plan.scales.get(scale), s.scales.get(scale))):
            continue
        plan_wide = plan.scales.get(scale)
        kind = sampler.get("kind", "grid")
        reads = "seeds" if kind == "grid" else "n_trials"  # what sets the sweep's size; the other key it ignores
        for settings in (plan_wide, s.scales.get(scale)):
            if settings is None:
                continue
            later = {**(s.scales[scale].base if scale in s.scales else {}), **(overrides or {})}  # win over these
            base.update(settings.base if settings is not plan_wide else _sizes_it_takes(settings.base, base, later.get("task")))
            ignored = "n_trials" if reads == "seeds" else "seeds"
            if getattr(settings, ignored) is not None and settings is not plan_wide:
                raise PlanError(f"plan {plan.name}, sweep {s.name}, scale {scale}: {ignored} would be ignored: the "
                                f"{kind} sampler reads {reads}")
            if reads == "seeds" and settings.seeds is not None:
                sampler["seeds"] = list(range(settings.seeds))
            if reads == "n_trials" and settings.n_trials is not None:
                sampler["n_trials"] = settings.n_trials
            sizes_read.add(reads)
        taken = _sizes_it_takes(overrides or {}, base)
        sizes_taken |= set(taken)
        base.update(taken)
        sets_budget = (sampler.get("budgets") if kind in ("grid", "random", "hidden_proportion") else None) or (
            sampler.get("budget") if kind != "grid" else None)
        if "budget" in base and sets_budget:  # the sampler's budgets win: a --set budget=... would reach no trial
            raise PlanError(f"plan {plan.name}, sweep {s.name}, scale {scale}: budget {base['budget']!r} would be ignored: "
                            f"the sweep's sampler sets each trial's budget ({sets_budget!r})")
        d = {"name": f"{s.name}-{scale}", "base": base, "sampler": sampler, "workers": workers, "seed": 0,
             "storage": storage}
        try:
            out.append(SweepSpec.from_dict(d))
        except (SweepError, ValueError) as e:
            raise PlanError(f"plan {plan.name}, sweep {s.name}, scale {scale}: {e}") from None
    if not out:  # a reproduction of nothing would write a report of 0 runs and succeed
        raise PlanError(f"plan {plan.name} runs no sweep at the {scale} scale: every sweep skips it")
    wide = plan.scales.get(scale)
    for key, why in (("seeds", "is a grid (the others number their trials' seeds)"),
                     ("n_trials", "draws trials (a grid runs sampler.models x seeds)")):
        if wide is not None and getattr(wide, key) is not None and key not in sizes_read:
            raise PlanError(f"plan {plan.name}: scales.{scale}.{key} would be ignored: none of its sweeps at this scale {why}")
    ignored = [k for k, v in (overrides or {}).items()
               if k not in sizes_taken and not (k == "data_seed" and v == 0)]  # data seed 0: the default, nothing lost
    if ignored:  # split sizes every sweep's task would ignore
        tasks = ", ".join(dict.fromkeys(str(spec.base.get("task", "rad")) for spec in out))
        why = "whose series are cut in time" if ignored[0] == "data_seed" else "whose data fix their splits"
        raise PlanError(f"plan {plan.name}, scale {scale}: {ignored[0]} applies to none of its sweeps' tasks ({tasks}), "
                        f"{why}")
    return out


def prepare_data(plan: Plan, scale: str, log: Any = None) -> None:
    """Make the data a plan needs before its sweeps (the smoke scale's tiny Hammer set)."""
    n = plan.data.get("hammer_smoke_episodes")
    if scale != "smoke" or not n:
        return
    from ..tasks.hammer.dataset import load_episodes, write_dataset

    try:
        if len(load_episodes(SMOKE_HAMMER_ID)) == int(n):
            return
    except Exception:  # noqa: BLE001 - absent or unreadable: make it
        pass
    import numpy as np
    import torch

    from ..tasks.hammer.env import OBS_DIM
    from ..tasks.hammer.expert import ExpertPolicy, generate_episodes

    torch.manual_seed(0)
    policy = ExpertPolicy(np.zeros(OBS_DIM), np.ones(OBS_DIM), hidden=32).eval()
    if log:
        log(f"making {n} smoke-test Hammer episodes with an untrained policy ({SMOKE_HAMMER_ID}; not expert data)")
    write_dataset(SMOKE_HAMMER_ID, generate_episodes(policy, int(n), seed=0, batch=int(n)), algorithm="untrained policy",
                  description="smoke-test episodes of an untrained policy (balancedrnn reproduce --scale smoke)")


@dataclass
class HeldOut:
    """One cell of the recommender stage: a task held out at one budget, its recommendation, and the grid
    sweep that trains the recommendation beside the references."""

    task: str
    budget: float
    fitted_on: list[str]
    """Tasks whose runs the predictor was fitted on (every task but this one)."""
    n_records: int
    """Runs the predictor was fitted on."""
    recommendation: Any
    """The :class:`balancedrnn.analysis.meta.Recommendation` (made before any run of this stage)."""
    spec: Any
    """The grid :class:`balancedrnn.sweep.executor.SweepSpec` of this cell."""
    origin: str = ""
    """Where the recommended candidate came from (a named config, ``hp=…`` targeted, ``random``)."""
    infeasible: list[str] = field(default_factory=list)
    """References left out because no block RNN of theirs fits this budget (say, dense RAD at 25,000)."""

    @property
    def model(self) -> str:
        """Config string of the recommendation (explicit densities)."""
        return str(self.spec.sampler.models[0])

    @property
    def references(self) -> list[str]:
        """The references trained in this cell (feasible at its budget), in the plan's order."""
        return [str(m) for m in self.spec.sampler.models[1:]]


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text).strip("-").lower()


def recommendation_cells(plan: Plan, scale: str, records: list[dict[str, Any]], workers: int = 1,
                         storage: str | None = None, overrides: dict[str, Any] | None = None) -> tuple[list[HeldOut], str]:
    """The recommender stage's cells from the plan's finished runs: for each task and budget of the plan's
    sweeps, a :class:`~balancedrnn.analysis.meta.MetaPredictor` fitted on the other tasks' ok runs recommends a config
    (:func:`balancedrnn.analysis.meta.recommend`), to be trained beside ``plan.recommend.references`` at the
    recommendation's lr and initialisation. Returns ([], reason) when the stage cannot run (no recommend
    section, fewer than two tasks, too few runs), and (cells, note) naming the tasks it leaves out (a task without
    usable runs of its own: block models that finished ok), else (cells, "")."""
    from ..core.configs import check_fits
    from ..analysis.meta import MetaError, MetaPredictor, prepare_records, recommend
    from ..core.spec import SpecError
    from ..sweep.spec import SweepSpec
    from ..tasks import get_task
    from ..train import TrainConfig

    settings = plan.recommend
    if settings is None:
        return [], "the plan has no recommend section"
    specs = sweep_specs(plan, scale, workers, storage, overrides)
    cells: dict[tuple[str, float], dict[str, Any]] = {}
    for spec in specs:
        full = asdict(TrainConfig.from_dict(spec.base))  # what its trials run: a base may leave task or budget at the default
        budgets = spec.sampler.budgets or [spec.sampler.budget if spec.sampler.budget is not None else full["budget"]]
        for b in budgets:
            cells.setdefault((str(full["task"]), float(b)), spec.base)
    data = prepare_records(records)
    tasks = sorted({str(t) for t in data.task})
    if len(tasks) < 2:
        return [], f"leave one task out needs runs of at least two tasks, got {len(tasks)} ({', '.join(tasks) or 'none'})"
    out: list[HeldOut] = []
    predictors: dict[str, Any] = {}
    for (task_name, budget), base in cells.items():
        if task_name not in tasks:
            continue
        if task_name not in predictors:
            keep = data.task != task_name
            train = data.subset(keep)
            try:
                predictors[task_name] = MetaPredictor(n_estimators=forests(scale).recommend_trees,
                                                      random_state=0).fit(train)
            except MetaError as e:
                return [], f"no predictor without {task_name}: {e}"
        predictor = predictors[task_name]
        task = get_task(task_name)
        rec = recommend(task.dx, task.dy, budget, predictor, classification=task.loss == "last",
                        n_candidates=settings.n_candidates, random_state=0)
        d = predictor.defaults_
        references, infeasible = [], []
        for ref in settings.references:
            try:
                check_fits(ref, task.dx, task.dy, budget)
                references.append(ref)
            except SpecError:
                infeasible.append(ref)
        spec = SweepSpec.from_dict({
            "name": f"recommend-{_slug(task_name)}-b{int(budget)}-{scale}",
            "base": {**base, "budget": budget, "lr": d["lr"], "init_mean": d["init_mean"], "init_std": d["init_std"]},
            "sampler": {"kind": "grid", "models": [rec.config, *references],
                        "seeds": list(range(settings.seeds[scale]))},
            "workers": workers, "seed": 0, "storage": storage})
        origin = str(rec.top["origin"].iloc[0]) if rec.top is not None and len(rec.top) else ""
        out.append(HeldOut(task_name, budget, sorted(set(predictor.tasks_)), predictor.n_records_, rec, spec, origin,
                           infeasible))
    left_out = list(dict.fromkeys(t for t, _ in cells if t not in tasks))
    note = (f"{', '.join(left_out)} left out: no usable runs of {'its' if len(left_out) == 1 else 'their'} own (block "
            "models that finished ok)") if left_out else ""
    return out, note


def run_plan(plan: Plan, scale: str, out_dir: str | Path, storage: str | None = None, workers: int = 1,
             overrides: dict[str, Any] | None = None, progress: bool = True, log: Any = None,
             report_only: bool = False, retry_failed: bool = False) -> Reproduction:
    """Run (or resume) every sweep of ``plan`` at ``scale``, then judge its claims and write the report into
    ``out_dir``. The report is written once, at the end; an incomplete run says so in it. With ``report_only``
    nothing is trained: the report is written from the finished runs already in the store (a long sweep's
    interim verdicts, while it runs here or elsewhere). Trials that ended failed, diverged or timed out are kept
    as results unless ``retry_failed`` runs them again. An ``out_dir`` this call created is removed again when
    the call fails before writing anything into it (say, the plan's data set is missing)."""
    out_dir = Path(out_dir)
    created = not out_dir.exists()
    try:
        return _run_plan(plan, scale, out_dir, storage, workers, overrides, progress, log, report_only, retry_failed)
    except BaseException:
        if created and out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()
        raise


def _run_plan(plan: Plan, scale: str, out_dir: Path, storage: str | None, workers: int,
              overrides: dict[str, Any] | None, progress: bool, log: Any, report_only: bool,
              retry_failed: bool = False) -> Reproduction:
    from ..sweep import store
    from ..analysis.claims import evaluate_records, judge
    from ..io import ensure_writable_dir
    from ..sweep.executor import run_sweep, spec_keys
    from ..sweep.spec import optuna_mismatch

    out_dir = Path(out_dir)
    specs = sweep_specs(plan, scale, workers, storage, overrides)
    if not report_only:  # a report-only run writes nothing until it has runs to report
        if storage is not None:  # a missing driver, an unreachable server or a foreign file: one line, before any work
            store.open_storage(storage, out_dir)
        ensure_writable_dir(out_dir)
        prepare_data(plan, scale, log)
    expected = 0

    def own(spec: Any, study: Any) -> list[dict[str, Any]]:
        """The study's records of this spec's configs: runs of other settings in the same study (an earlier
        ``--set epochs=...``, a recommendation since replaced) are not this reproduction's runs. A TPE or QMC sweep,
        whose configs are drawn: the records its sampler could have drawn (:func:`optuna_mismatch`)."""
        nonlocal expected
        keys = spec_keys(spec)
        if keys is None:
            drawn = [r for r in store.iter_records(study) if optuna_mismatch(spec, r.get("config") or {}) is None]
            expected += max(0, len(drawn) - spec.sampler.n_trials)  # run earlier with more trials: all are its runs
            return drawn
        return [r for r in store.iter_records(study) if r.get("trial_key") in keys]

    def run(spec: Any) -> list[dict[str, Any]]:
        nonlocal expected
        if report_only:
            keys = spec_keys(spec)
            expected += len(keys) if keys is not None else spec.sampler.n_trials
            journal = store.journal_path(spec.storage, out_dir)
            if journal is not None and not journal.exists():
                return []  # nothing has run into this journal yet
            st = store.open_storage(spec.storage, out_dir, create=False)  # an unreachable server says so
            try:
                study = store.open_study(st, spec.name, create=False)
            except store.NoStudy:  # a store that cannot be read (a server gone or hung meanwhile) says so
                return []  # this sweep has not started: no runs yet
            return own(spec, study)
        if log:
            log(f"sweep {spec.name}")
        result = run_sweep(spec, run_dir=out_dir, progress=progress, retry_failed=retry_failed)
        if result.interrupted:
            raise KeyboardInterrupt
        expected += result.total
        return own(spec, store.open_study(store.open_storage(spec.storage, out_dir), spec.name))

    records = [r for spec in specs for r in run(spec)]
    if report_only and not records:
        raise PlanError(f"no finished runs of plan {plan.name!r} at the {scale} scale in this store yet; "
                        "run it without --report-only first")
    ensure_writable_dir(out_dir)
    held_out, note = recommendation_cells(plan, scale, records, workers, storage, overrides) if plan.recommend else ([], "")
    if log and note:
        log(f"recommender stage: {note}" if held_out else f"no recommender stage: {note}")
    recommend_records = [r for cell in held_out for r in run(cell.spec)]
    sizes = forests(scale)
    verdicts, evaluation = judge(plan.claims, records, scale, held_out=held_out, recommend_records=recommend_records,
                                 recommend_note=note,
                                 evaluate=partial(evaluate_records, n_estimators=sizes.trees, n_repeats=sizes.repeats))
    rep = Reproduction(plan, scale, records, expected, verdicts, evaluation, held_out, recommend_records, note,
                       forests=sizes)
    if evaluation is not None:  # the predictor whose figures the report shows, fitted here, not in the renderer
        from ..analysis.meta import MetaPredictor, prepare_records

        rep.meta_data = prepare_records(records)
        rep.predictor = MetaPredictor(n_estimators=sizes.trees, random_state=0).fit(rep.meta_data)
    rep.paths = write_report(rep, out_dir, overrides=overrides, storage=storage)
    return rep

