"""Reproduce the paper in one command: experiment plans at three scales, run through the sweep executor and
its store, then statistics, verdicts on the paper's claims and a report.

A plan is a YAML file (the shipped ones are in ``balancedrnn/plans/``)::

    name: rad-100k
    description: "..."
    claims: [balanced_beats_dense, ...]        # names from balancedrnn.claims.CLAIMS
    data: {hammer_smoke_episodes: 12}          # optional: data the plan makes before its smoke scale
    sweeps:                                    # one or more sweeps (see balancedrnn.sweep)
      - name: rad-100k
        base: {task: rad, budget: 100000}
        sampler: {kind: grid, models: [dense, balanced]}
        scales: {small: {base: {epochs: 30}}}  # optional, applied after the plan's own scale settings
    scales:                                    # smoke, small and paper: seeds (grid), n_trials, base overrides
      smoke: {seeds: 2, base: {epochs: 1}}

Every scale's sweeps are checked before anything runs. Trials go to a store (by default a journal in the
output directory, or ``--storage postgresql://...``), so a reproduction resumes after an interruption and
several machines can share it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

SCALES = ("smoke", "small", "paper")
"""Scales every plan defines: ``smoke`` (a pipeline check in seconds), ``small`` (a few hours on 2 cores),
``paper`` (the paper's protocol)."""


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


@dataclass
class PlanSweep:
    """One sweep of a plan."""

    name: str
    """Study name stem (the store's study is ``<name>-<scale>``)."""
    base: dict[str, Any]
    """TrainConfig fields shared by the sweep's trials."""
    sampler: dict[str, Any]
    """Sampler settings (see balancedrnn.sweep.SamplerSpec)."""
    scales: dict[str, ScaleSettings] = field(default_factory=dict)
    """This sweep's own scale settings, applied after the plan's."""


@dataclass
class Plan:
    """An experiment plan."""

    name: str
    """Plan name."""
    description: str
    """What the plan runs, one sentence."""
    claims: list[str]
    """Claims of the paper the plan tests (balancedrnn.claims.CLAIMS)."""
    sweeps: list[PlanSweep]
    """The sweeps it runs."""
    scales: dict[str, ScaleSettings]
    """Scale settings shared by its sweeps."""
    data: dict[str, Any] = field(default_factory=dict)
    """Data the plan makes before running (``hammer_smoke_episodes``: a tiny Hammer set for the smoke scale)."""
    source: str = ""
    """Where the plan was read from."""


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
        if not isinstance(settings.get("base", {}), dict):
            raise PlanError(f"{what}.{name}.base must be a mapping of TrainConfig fields")
        out[name] = ScaleSettings(**settings)
    return out


def load_plan(name_or_path: str | Path) -> Plan:
    """A shipped plan by name, or a plan file by path; validated at every scale (one-line PlanError)."""
    import yaml

    path = Path(name_or_path)
    if not (path.suffix in (".yaml", ".yml") or path.exists()):
        if str(name_or_path) not in plan_names():
            raise PlanError(f"unknown plan {str(name_or_path)!r}; shipped plans: {', '.join(plan_names())} "
                            "(or give the path of a plan file)")
        path = plans_dir() / f"{name_or_path}.yaml"
    try:
        d = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise PlanError(f"plan file {path} does not exist") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise PlanError(f"plan file {path} is not valid YAML{f' at line {mark.line + 1}' if mark else ''}") from None
    _check_keys(d, Plan, f"plan {path.name}")
    for key in ("name", "sweeps", "scales"):
        if key not in d:
            raise PlanError(f"plan {path.name} lacks the key {key!r}")
    sweeps = d["sweeps"]
    if not isinstance(sweeps, list) or not sweeps:
        raise PlanError(f"plan {path.name}: sweeps must be a non-empty list")
    plan_sweeps = []
    for i, s in enumerate(sweeps):
        _check_keys(s, PlanSweep, f"sweep {i + 1} of plan {path.name}")
        if "name" not in s or "sampler" not in s:
            raise PlanError(f"sweep {i + 1} of plan {path.name} needs a name and a sampler")
        plan_sweeps.append(PlanSweep(name=str(s["name"]), base=dict(s.get("base") or {}), sampler=dict(s["sampler"]),
                                     scales=_scales(s.get("scales"), f"sweep {s['name']} scales", False)))
    if len({s.name for s in plan_sweeps}) != len(plan_sweeps):
        raise PlanError(f"plan {path.name}: sweep names must differ")
    data = d.get("data") or {}
    if not isinstance(data, dict) or sorted(set(data) - set(PLAN_DATA_KEYS)):
        raise PlanError(f"plan {path.name}: data takes only {', '.join(PLAN_DATA_KEYS)}")
    from .claims import CLAIMS

    claims = d.get("claims") or []
    if not isinstance(claims, list):
        raise PlanError(f"plan {path.name}: claims must be a list")
    for c in claims:
        if c not in CLAIMS:
            raise PlanError(f"plan {path.name}: unknown claim {c!r}; known: {', '.join(CLAIMS)}")
    plan = Plan(name=str(d["name"]), description=str(d.get("description", "")), claims=list(claims),
                sweeps=plan_sweeps, scales=_scales(d["scales"], f"plan {path.name} scales", True), data=dict(data),
                source=str(path))
    for scale in SCALES:
        sweep_specs(plan, scale)  # every scale must make valid sweeps
    return plan


def sweep_specs(plan: Plan, scale: str, workers: int = 1, storage: str | None = None,
                overrides: dict[str, Any] | None = None) -> list[Any]:
    """The SweepSpecs a plan runs at ``scale``, with ``overrides`` of TrainConfig fields applied last
    (validated: PlanError names the plan, sweep and problem)."""
    from .sweep import SweepError, SweepSpec

    if scale not in SCALES:
        raise PlanError(f"unknown scale {scale!r}; expected one of {', '.join(SCALES)}")
    out = []
    for s in plan.sweeps:
        base = copy.deepcopy(s.base)
        sampler = copy.deepcopy(s.sampler)
        for settings in (plan.scales.get(scale), s.scales.get(scale)):
            if settings is None:
                continue
            base.update(settings.base)
            if settings.seeds is not None:
                sampler["seeds"] = list(range(settings.seeds))
            if settings.n_trials is not None:
                sampler["n_trials"] = settings.n_trials
        base.update(overrides or {})
        d = {"name": f"{s.name}-{scale}", "base": base, "sampler": sampler, "workers": workers, "seed": 0,
             "storage": storage}
        try:
            out.append(SweepSpec.from_dict(d))
        except (SweepError, ValueError) as e:
            raise PlanError(f"plan {plan.name}, sweep {s.name}, scale {scale}: {e}") from None
    return out


def prepare_data(plan: Plan, scale: str, log: Any = None) -> None:
    """Make the data a plan needs before its sweeps (the smoke scale's tiny Hammer set)."""
    n = plan.data.get("hammer_smoke_episodes")
    if scale != "smoke" or not n:
        return
    from .hammer.dataset import load_episodes, write_dataset

    try:
        if len(load_episodes(SMOKE_HAMMER_ID)) == int(n):
            return
    except Exception:  # noqa: BLE001 - absent or unreadable: make it
        pass
    import numpy as np
    import torch

    from .hammer.env import OBS_DIM
    from .hammer.expert import ExpertPolicy, generate_episodes

    torch.manual_seed(0)
    policy = ExpertPolicy(np.zeros(OBS_DIM), np.ones(OBS_DIM), hidden=32).eval()
    if log:
        log(f"making {n} smoke-test Hammer episodes with an untrained policy ({SMOKE_HAMMER_ID}; not expert data)")
    write_dataset(SMOKE_HAMMER_ID, generate_episodes(policy, int(n), seed=0, batch=int(n)), algorithm="untrained policy",
                  description="smoke-test episodes of an untrained policy (balancedrnn reproduce --scale smoke)")


@dataclass
class Reproduction:
    """What a reproduction run produced."""

    plan: Plan
    scale: str
    records: list[dict[str, Any]]
    """Final run records of every sweep (any status)."""
    expected: int
    """Trials the plan's sweeps define."""
    verdicts: list[Any]
    """One balancedrnn.claims.Verdict per claim of the plan."""
    evaluation: Any = None
    """The meta-learning evaluation on the plan's block-model runs (None when too few)."""
    paths: list[Path] = field(default_factory=list)
    """Report files written."""

    @property
    def not_ok(self) -> int:
        """Trials without an ``ok`` record (failed, diverged, timed out, missing)."""
        return self.expected - sum(r.get("status") == "ok" for r in self.records)

    @property
    def complete(self) -> bool:
        return self.not_ok == 0


def run_plan(plan: Plan, scale: str, out_dir: str | Path, storage: str | None = None, workers: int = 1,
             overrides: dict[str, Any] | None = None, progress: bool = True, log: Any = None) -> Reproduction:
    """Run (or resume) every sweep of ``plan`` at ``scale``, then judge its claims and write the report into
    ``out_dir``. The report is written once, at the end; an incomplete run says so in it."""
    from . import store
    from .claims import judge
    from .io import ensure_writable_dir
    from .reproreport import write_report
    from .sweep import run_sweep

    out_dir = Path(out_dir)
    specs = sweep_specs(plan, scale, workers, storage, overrides)
    ensure_writable_dir(out_dir)
    prepare_data(plan, scale, log)
    records: list[dict[str, Any]] = []
    expected = 0
    for spec in specs:
        if log:
            log(f"sweep {spec.name}")
        result = run_sweep(spec, run_dir=out_dir, progress=progress)
        if result.interrupted:
            raise KeyboardInterrupt
        expected += result.total
        study = store.open_study(store.open_storage(spec.storage, out_dir), spec.name)
        records.extend(store.iter_records(study))
    verdicts, evaluation = judge(plan.claims, records, scale)
    rep = Reproduction(plan, scale, records, expected, verdicts, evaluation)
    rep.paths = write_report(rep, out_dir)
    return rep

