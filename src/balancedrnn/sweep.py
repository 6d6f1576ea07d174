"""Sweeps: samplers of trial configs, and a local executor of worker processes over a run store.

A sweep file (YAML) or mapping::

    name: rad-random            # study name in the store
    base: {task: rad, epochs: 2, n_train: 500}    # TrainConfig fields shared by every trial
    sampler:
      kind: random              # grid | random | hidden_proportion | tpe | qmc
      n_trials: 40
      budget: 50000
    seed: 0                     # sampler seed
    workers: 2
    timeout: 3600               # seconds per trial (0: none)

Samplers (``sampler.kind``):

* ``grid``: ``models`` × ``seeds`` × ``budgets``.
* ``random``: densities, learning rate and initialisation drawn at a fixed ``budget`` with SPEC §7's
  distributions (override any under ``distributions``).
* ``hidden_proportion``: like ``random``, then hx or hh is solved so the hidden proportions of the
  trials spread evenly over ``hp_range``.
* ``tpe``, ``qmc``: Optuna's samplers over the densities and the log learning rate.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import random
import signal
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .spec import BLOCKS, SpecError

SAMPLERS = ("grid", "random", "hidden_proportion", "tpe", "qmc")

DEFAULT_DISTRIBUTIONS: dict[str, dict[str, Any]] = {
    "lr": {"normal": [1e-3, 4e-4], "min": 1e-6},
    "density": {"abs_normal": [0.5, 0.25], "min": 0.02, "max": 1.0},
    "init_mean": {"normal": [0.0, 0.0025]},
    "init_std": {"normal": [0.05, 0.015], "min": 1e-4},
}
"""SPEC §7: the paper's code drew these (mean, std) per trial; densities per block."""


class SweepError(ValueError):
    """A sweep file or option that cannot be used. The message is one line."""


# --------------------------------------------------------------------------------------- the spec
@dataclass
class SamplerSpec:
    """Which trials a sweep runs."""

    kind: str = "grid"
    """grid, random, hidden_proportion, tpe or qmc."""
    models: list[str] = field(default_factory=lambda: ["dense", "uniform:0.2", "balanced"])
    """Grid: model configs."""
    seeds: list[int] = field(default_factory=lambda: [0])
    """Grid: seeds."""
    budgets: list[float] = field(default_factory=list)
    """Grid: budgets (default: the base config's budget). Random and hidden_proportion: trials cycle over
    these budgets (instead of ``budget``), and the hidden-proportion strata are spread within each budget."""
    n_trials: int = 20
    """Random, hidden_proportion, tpe, qmc: number of trials."""
    budget: float | None = None
    """Random, hidden_proportion, tpe, qmc: the fixed budget (default: the base config's)."""
    distributions: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Random, hidden_proportion: overrides of DEFAULT_DISTRIBUTIONS (keys lr, density, init_mean, init_std)."""
    hp_range: list[float] = field(default_factory=lambda: [0.05, 0.95])
    """hidden_proportion: range the trials' hidden proportions are spread over."""


@dataclass
class SweepSpec:
    """A whole sweep: study name, shared config, sampler, workers and limits."""

    name: str = "sweep"
    """Study name in the store."""
    base: dict[str, Any] = field(default_factory=dict)
    """TrainConfig fields shared by every trial."""
    sampler: SamplerSpec = field(default_factory=SamplerSpec)
    """How trials are chosen."""
    seed: int = 0
    """Seed of the sampler (the trials' own seeds are part of their configs)."""
    workers: int = 1
    """Local worker processes, one torch thread each."""
    timeout: float = 0
    """Seconds per trial before it is stopped and recorded as ``timeout`` (0: no limit)."""
    storage: str | None = None
    """Storage URL or journal path (default: ``<run_dir>/store.journal``)."""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SweepSpec:
        """Parse and validate a mapping (a loaded YAML file); unknown keys are errors."""
        if not isinstance(d, dict):
            raise SweepError("a sweep file must be a mapping of keys to values")
        _check_keys(d, cls, "sweep")
        sampler = d.get("sampler", {})
        if not isinstance(sampler, dict):
            raise SweepError("sampler must be a mapping")
        _check_keys(sampler, SamplerSpec, "sampler")
        spec = cls(**{**d, "sampler": SamplerSpec(**sampler)})
        spec.validate()
        return spec

    def validate(self) -> None:
        from .train import TrainConfig

        s = self.sampler
        if s.kind not in SAMPLERS:
            raise SweepError(f"unknown sampler {s.kind!r}; known: {', '.join(SAMPLERS)}")
        if not isinstance(self.base, dict):
            raise SweepError("base must be a mapping of TrainConfig fields")
        try:
            TrainConfig.from_dict(self.base)
        except (TypeError, ValueError) as e:
            raise SweepError(f"base: {e}") from None
        if not isinstance(self.workers, int) or self.workers < 1:
            raise SweepError(f"workers must be a positive integer, got {self.workers!r}")
        if not isinstance(s.n_trials, int) or s.n_trials < 1:
            raise SweepError(f"sampler.n_trials must be a positive integer, got {s.n_trials!r}")
        for name, dist in s.distributions.items():
            if name not in DEFAULT_DISTRIBUTIONS:
                raise SweepError(f"unknown distribution {name!r}; known: {', '.join(DEFAULT_DISTRIBUTIONS)}")
            _check_distribution(name, dist)
        if not isinstance(s.budgets, list) or not all(
            isinstance(b, (int, float)) and not isinstance(b, bool) and b > 0 for b in s.budgets
        ):
            raise SweepError(f"sampler.budgets must be a list of positive numbers, got {s.budgets!r}")
        lo, hi = (s.hp_range + [None, None])[:2]
        if not (isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and 0 < lo < hi < 1):
            raise SweepError(f"hp_range must be [low, high] with 0 < low < high < 1, got {s.hp_range!r}")


def _check_keys(d: dict[str, Any], cls: type, what: str) -> None:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise SweepError(f"unknown {what} key(s) {', '.join(map(str, unknown))}; known: {', '.join(sorted(known))}")


def _check_distribution(name: str, dist: Any) -> None:
    if not isinstance(dist, dict):
        raise SweepError(f"distribution {name} must be a mapping such as {{normal: [mean, std], min: 0}}")
    kinds = [k for k in dist if k in ("normal", "abs_normal", "uniform", "log_uniform")]
    extra = [k for k in dist if k not in ("normal", "abs_normal", "uniform", "log_uniform", "min", "max")]
    if len(kinds) != 1 or extra:
        raise SweepError(f"distribution {name} needs exactly one of normal, abs_normal, uniform, log_uniform "
                         f"(plus optional min, max); got keys {', '.join(map(str, dist))}")
    args = dist[kinds[0]]
    if not (isinstance(args, (list, tuple)) and len(args) == 2 and all(isinstance(a, (int, float)) for a in args)):
        raise SweepError(f"distribution {name}: {kinds[0]} takes two numbers, got {args!r}")
    if kinds[0] in ("normal", "abs_normal") and args[1] < 0:
        raise SweepError(f"distribution {name}: standard deviation must be >= 0, got {args[1]}")
    if kinds[0] in ("uniform", "log_uniform") and not args[0] < args[1]:
        raise SweepError(f"distribution {name}: {kinds[0]} needs low < high, got {args!r}")
    if kinds[0] == "log_uniform" and args[0] <= 0:
        raise SweepError(f"distribution {name}: log_uniform needs positive bounds, got {args!r}")
    for bound in ("min", "max"):
        if bound in dist and not isinstance(dist[bound], (int, float)):
            raise SweepError(f"distribution {name}: {bound} must be a number, got {dist[bound]!r}")


def load_sweep_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML sweep file into a mapping (validated by :meth:`SweepSpec.from_dict`)."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise SweepError(f"sweep file {path} does not exist") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise SweepError(f"sweep file {path} is not valid YAML{where}") from None
    return data or {}


# --------------------------------------------------------------------------------------- samplers
def draw(dist: dict[str, Any], rng: random.Random) -> float:
    """One draw from a distribution mapping, clipped to its optional min/max."""
    kind = next(k for k in dist if k in ("normal", "abs_normal", "uniform", "log_uniform"))
    a, b = dist[kind]
    if kind == "normal":
        v = rng.gauss(a, b)
    elif kind == "abs_normal":
        v = abs(rng.gauss(a, b))
    elif kind == "uniform":
        v = rng.uniform(a, b)
    else:
        v = math.exp(rng.uniform(math.log(a), math.log(b)))
    return min(max(v, dist.get("min", -math.inf)), dist.get("max", math.inf))


def density_string(density: dict[str, float]) -> str:
    """Explicit-densities config string (round-trips through configs.config_density)."""
    return ",".join(f"{b}={density[b]:.6g}" for b in BLOCKS)


def _random_fields(dists: dict[str, dict[str, Any]], rng: random.Random) -> tuple[dict[str, float], dict[str, Any]]:
    density = {b: draw(dists["density"], rng) for b in BLOCKS}
    other = {"lr": draw(dists["lr"], rng), "init_mean": draw(dists["init_mean"], rng), "init_std": draw(dists["init_std"], rng)}
    return density, other


def trial_configs(spec: SweepSpec) -> list[dict[str, Any]]:
    """The TrainConfig mappings of a grid, random or hidden-proportion sweep, in a fixed order."""
    from .configs import check_fits
    from .spec import BlockSpec, density_for_hidden_proportion
    from .tasks import get_task
    from .train import TrainConfig

    base = asdict(TrainConfig.from_dict(spec.base))
    s = spec.sampler
    task = get_task(base["task"])
    out: list[dict[str, Any]] = []
    if s.kind == "grid":
        for budget in s.budgets or [base["budget"]]:
            for model in s.models:
                try:
                    check_fits(model, task.dx, task.dy, budget)
                except SpecError as e:
                    raise SweepError(f"grid model {model!r} at budget {budget:g}: {e}") from None
                for seed in s.seeds:
                    out.append({**base, "model": model, "budget": float(budget), "seed": int(seed)})
        return out
    rng = random.Random(spec.seed)
    dists = {**DEFAULT_DISTRIBUTIONS, **s.distributions}
    budgets = [float(b) for b in s.budgets] or [float(s.budget if s.budget is not None else base["budget"])]
    per_budget = math.ceil(s.n_trials / len(budgets))
    attempts = 0
    while len(out) < s.n_trials:
        attempts += 1
        i = len(out)
        budget = budgets[i % len(budgets)]
        if attempts > 100 * s.n_trials:
            raise SweepError(f"could not draw {s.n_trials} feasible configs at budget {budget:g}; raise the budget")
        density, other = _random_fields(dists, rng)
        if s.kind == "hidden_proportion":
            lo, hi = s.hp_range
            stratum = i // len(budgets)  # one trial per stratum and budget
            target = lo + (hi - lo) * (stratum + rng.random()) / per_budget
            for block in ("hx", "hh"):
                try:
                    density = density_for_hidden_proportion(task.dx, task.dy, budget, target, density, block=block)
                    break
                except SpecError:
                    continue
            else:
                continue
        try:
            BlockSpec.from_budget(task.dx, task.dy, budget, density)
        except SpecError:
            continue
        out.append({**base, **other, "model": density_string(density), "budget": budget, "seed": i})
    return out


def optuna_sampler(spec: SweepSpec) -> Any:
    """Optuna's TPE or QMC sampler, seeded."""
    import optuna

    if spec.sampler.kind == "tpe":
        return optuna.samplers.TPESampler(seed=spec.seed)
    return optuna.samplers.QMCSampler(seed=spec.seed, scramble=True)


def suggest_config(trial: Any, spec: SweepSpec) -> dict[str, Any]:
    """A config from Optuna's suggestions: six densities in [0.02, 1] and a log-uniform learning rate."""
    from .train import TrainConfig

    base = asdict(TrainConfig.from_dict(spec.base))
    density = {b: trial.suggest_float(b, 0.02, 1.0) for b in BLOCKS}
    lr = trial.suggest_float("lr", 1e-5, 1e-2, log=True)
    budget = float(spec.sampler.budget if spec.sampler.budget is not None else base["budget"])
    return {**base, "model": density_string(density), "lr": lr, "budget": budget, "seed": trial.number}


# --------------------------------------------------------------------------------------- execution
def _alarm(signum: int, frame: Any) -> None:
    from .train import TrialTimeout

    raise TrialTimeout("trial ran past the sweep's time limit")


def run_one(config: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one trial under an optional time limit (SIGALRM), returning its record."""
    from .tasks import get_task
    from .train import TrainConfig, run_trial

    cfg = TrainConfig.from_dict(config)
    if timeout and timeout > 0:
        signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        data = None
        try:
            data = get_task(cfg.task).load(cfg, False)
        except Exception:  # noqa: BLE001 - run_trial records the failure itself
            data = None
        return run_trial(cfg, data=data, progress=False)
    finally:
        if timeout and timeout > 0:
            signal.setitimer(signal.ITIMER_REAL, 0)


def worker_loop(spec_dict: dict[str, Any], storage_url: str | None, run_dir: str, threads: int = 1,
                max_trials: int | None = None) -> int:
    """Claim and run trials until none are left (or ``max_trials``). Returns how many this worker finished."""
    import torch

    from . import store

    torch.set_num_threads(threads)
    spec = SweepSpec.from_dict(spec_dict)
    study = store.open_study(store.open_storage(storage_url, run_dir), spec.name)
    if spec.sampler.kind in ("tpe", "qmc"):
        study.sampler = optuna_sampler(spec)
    done = 0
    while max_trials is None or done < max_trials:
        if spec.sampler.kind in ("tpe", "qmc"):
            if len(store.done_keys(study)) + _running(study) >= spec.sampler.n_trials:
                break
            trial = study.ask()
            config = suggest_config(trial, spec)
            from .train import TrainConfig

            key = TrainConfig.from_dict(config).key()
            trial.set_user_attr("key", key)
            trial.set_user_attr("config", config)
            trial.set_user_attr("worker", store.worker_info())
            trial.set_user_attr("heartbeat", time.time())
        else:
            trial = store.claim(study)
            if trial is None:
                break
            config = trial.user_attrs["config"]
        try:
            with store.Heartbeat(trial):
                record = run_one(config, spec.timeout)
        except KeyboardInterrupt:
            record = {"status": "interrupted", "error": "interrupted by the user", "config": config}
            store.finish(study, trial, record)
            raise
        store.finish(study, trial, record)
        done += 1
    return done


def _running(study: Any) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


def _interrupt_once(signum: int, frame: Any) -> None:
    """First Ctrl-C: stop the trial (KeyboardInterrupt); later ones (or the parent's forward) are ignored,
    so the interrupted trial's record is written in peace."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def _worker_main(spec_dict: dict[str, Any], storage_url: str | None, run_dir: str, threads: int) -> None:
    # workers start with Ctrl-C ignored (see run_sweep) and take it only while they work, so a Ctrl-C during
    # start-up or shut-down prints no traceback
    signal.signal(signal.SIGINT, _interrupt_once)
    try:
        worker_loop(spec_dict, storage_url, run_dir, threads)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


@dataclass
class SweepResult:
    """What a sweep call did."""

    total: int
    done: int
    queued: int
    released: int
    interrupted: bool = False
    running_elsewhere: int = 0


def prepare(spec: SweepSpec, run_dir: str | Path = "runs") -> tuple[Any, int, int, int]:
    """Open the store, release dead workers' trials and queue every missing config.
    Returns (study, total trials, newly queued, released)."""
    from . import store
    from .train import TrainConfig

    configs = [] if spec.sampler.kind in ("tpe", "qmc") else trial_configs(spec)  # validate before touching the store
    storage = store.open_storage(spec.storage, run_dir)
    study = store.open_study(storage, spec.name)
    released = store.release_stale(study)
    if spec.sampler.kind in ("tpe", "qmc"):
        return study, spec.sampler.n_trials, 0, released
    keys = [TrainConfig.from_dict(c).key() for c in configs]
    queued = store.enqueue_missing(study, configs, keys)
    return study, len(set(keys)), queued, released


def _build_data_once(spec: SweepSpec, progress: bool) -> None:
    """Generate (and cache) the base config's data set before the workers start, so they do not race to."""
    from .tasks import get_task
    from .train import TrainConfig

    cfg = TrainConfig.from_dict(spec.base)
    get_task(cfg.task).load(cfg, progress)


def run_sweep(spec: SweepSpec, run_dir: str | Path = "runs", progress: bool = True) -> SweepResult:
    """Run a sweep with ``spec.workers`` local processes (one torch thread each) until every trial is done.

    Safe to call again after an interruption, and from several machines on one shared storage.
    """
    from . import store
    from .progress import progress_bar

    study, total, queued, released = prepare(spec, run_dir)
    _build_data_once(spec, progress)
    ctx = mp.get_context("spawn")
    spec_dict = {**asdict(spec), "sampler": asdict(spec.sampler)}
    procs = [ctx.Process(target=_worker_main, args=(spec_dict, spec.storage, str(run_dir), 1), daemon=False)
             for _ in range(spec.workers)]
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited: a fresh interpreter keeps it ignored
    try:
        for p in procs:
            p.start()
    finally:
        signal.signal(signal.SIGINT, previous)
    interrupted = False
    try:
        with progress_bar(total, f"sweep {spec.name}", enabled=progress) as advance:
            seen = len(store.done_keys(study))
            advance(seen)
            while any(p.is_alive() for p in procs):
                time.sleep(1.0)
                now = len(store.done_keys(study))
                if now > seen:
                    advance(now - seen, info=f"{now}/{total} done")
                    seen = now
    except KeyboardInterrupt:
        interrupted = True
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the workers record their trials undisturbed
        for p in procs:
            if p.is_alive() and p.pid:
                os.kill(p.pid, signal.SIGINT)
    finally:
        for p in procs:
            p.join()
    return SweepResult(total=total, done=len(store.done_keys(study)), queued=queued, released=released,
                       interrupted=interrupted, running_elsewhere=_running(study))
