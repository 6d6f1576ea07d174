"""What a sweep is and what it samples: the sweep file's schema and validation, and the samplers of trial configs.

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

* ``grid``: ``models`` × ``seeds`` × ``budgets``, queued seed by seed (a sweep stopped part-way compares every
  config at its first seeds).
* ``random``: densities, learning rate and initialisation drawn at a fixed ``budget`` with SPEC §7's
  distributions (override any under ``distributions``).
* ``hidden_proportion``: like ``random``, then hx or hh is solved so the hidden proportions of the
  trials spread evenly over ``hp_range``.
* ``tpe``, ``qmc``: Optuna's TPE sampler, and a scrambled Sobol sequence indexed by the trial number, over the
  densities and the log learning rate.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

# SPEC §7's distributions (what the paper's code drew per trial) and their draw live in balancedrnn.core.defaults
from ..core.defaults import DEFAULT_DISTRIBUTIONS, DENSITY_RANGE, DISTRIBUTION_KINDS, TPE_LR_RANGE, draw
from ..core.spec import BLOCKS, SpecError, check_budget_limit

SAMPLERS = ("grid", "random", "hidden_proportion", "tpe", "qmc")


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
    def from_dict(cls, d: dict[str, Any], check_unread: bool = True) -> SweepSpec:
        """Parse and validate a mapping (a loaded YAML file); unknown keys are errors, and so are sampler keys the
        sampler does not read unless ``check_unread`` is False (a spec already checked, every field given)."""
        if not isinstance(d, dict):
            raise SweepError(f"a sweep file must be a mapping of keys to values, got {_kind(d)}")
        _check_keys(d, cls, "sweep")
        sampler = d.get("sampler", {})
        if sampler is None:
            sampler = {}
        if not isinstance(sampler, dict):
            raise SweepError(f"sampler must be a mapping (kind: grid, models: [...], ...), got {_kind(sampler)}")
        _check_keys(sampler, SamplerSpec, "sampler")
        spec = cls(**{**d, "sampler": SamplerSpec(**sampler)})
        spec.validate()
        if check_unread:
            _check_read(spec.sampler, sampler)
        return spec

    def validate(self) -> None:
        """Check every field's type and range, and the base config, before anything runs."""
        from ..train import TrainConfig

        s = self.sampler
        if not isinstance(self.name, str) or not self.name.strip():
            raise SweepError(f"name must be a non-empty string, got {self.name!r}")
        if not isinstance(s.kind, str) or s.kind not in SAMPLERS:
            raise SweepError(f"unknown sampler {s.kind!r}; known: {', '.join(SAMPLERS)}")
        if not isinstance(self.base, dict):
            raise SweepError(f"base must be a mapping of TrainConfig fields, got {_kind(self.base)}")
        if self.base.get("checkpoint"):
            raise SweepError("base.checkpoint cannot be set in a sweep: every trial would overwrite the same file")
        try:
            cfg = TrainConfig.from_dict(self.base)
        except (TypeError, ValueError) as e:
            raise SweepError(f"base: {e}") from None
        self.base = {k: getattr(cfg, k) for k in self.base}  # as the config reads them (n_train: 3e2 is 300)
        from ..tasks import get_task
        from ..tasks.zoo import check_data_seed_applies, check_sizes_apply

        try:
            check_sizes_apply(get_task(cfg.task), [f"base.{k}" for k in ("n_train", "n_val", "n_test") if k in self.base])
            check_data_seed_applies(get_task(cfg.task), cfg.data_seed, "base.data_seed")
        except ValueError as e:
            raise SweepError(str(e)) from None
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise SweepError(f"seed must be a non-negative integer, got {self.seed!r}")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise SweepError(f"workers must be a positive integer, got {self.workers!r}")
        if (isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float))
                or not math.isfinite(self.timeout) or self.timeout < 0):
            raise SweepError(f"timeout must be a number of seconds >= 0 (0: no limit), got {self.timeout!r}")
        if self.storage is not None and (not isinstance(self.storage, str) or not self.storage.strip()):
            raise SweepError(f"storage must be a journal path or a database URL, got {self.storage!r}")
        from .store import journal_path

        journal_path(self.storage)  # a database URL missing its '://' is refused before anything is built
        if isinstance(s.n_trials, bool) or not isinstance(s.n_trials, int) or s.n_trials < 1:
            raise SweepError(f"sampler.n_trials must be a positive integer, got {s.n_trials!r}")
        if not isinstance(s.models, list) or not s.models or not all(isinstance(m, str) and m.strip() for m in s.models):
            raise SweepError(f"sampler.models must be a list of model configs such as [dense, balanced], got {s.models!r}")
        if (not isinstance(s.seeds, list) or not s.seeds
                or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in s.seeds)):
            raise SweepError(f"sampler.seeds must be a list of non-negative integers such as [0, 1, 2], got {s.seeds!r}")
        from ..core.configs import same_config

        same = [same_config(m) for m in s.models]  # uniform:0.2 and uniform:0.20, dense and uniform:1: one model,
        twice = sorted({m.strip() for m, c in zip(s.models, same) if same.count(c) > 1})  # trained twice under two keys
        if twice:
            raise SweepError(f"sampler.models lists {twice[0]} more than once" if len(twice) == 1 else
                             f"sampler.models lists the same config more than once: {', '.join(twice)}")
        twice = sorted({str(v) for v in s.seeds if s.seeds.count(v) > 1})
        if twice:  # a grid would run it once and a sampler would weigh it twice: say so instead
            raise SweepError(f"sampler.seeds lists {', '.join(twice)} more than once")
        if s.budget is not None and (isinstance(s.budget, bool) or not isinstance(s.budget, (int, float))
                                     or not math.isfinite(s.budget) or s.budget <= 0):
            raise SweepError(f"sampler.budget must be a positive number, got {s.budget!r}")
        if s.budget is not None:
            try:
                check_budget_limit(s.budget, "sampler.budget")
            except SpecError as e:
                raise SweepError(str(e)) from None
        if s.kind in ("tpe", "qmc") and s.budgets and not _budgets_are_budget(s):
            raise SweepError(f"sampler.budgets would be ignored: the {s.kind} sampler runs every trial at one "
                             f"sampler.budget, else base.budget (give budget: {float(s.budgets[0]):g}, and one sweep "
                             "per budget)")
        if s.kind in ("random", "hidden_proportion") and s.budget is not None and s.budgets and not _budgets_are_budget(s):
            raise SweepError(f"sampler.budget would be ignored: the {s.kind} sampler cycles over sampler.budgets when "
                             "it is given (give one of the two)")
        if s.kind == "grid" and s.budget is not None and not s.budgets:
            raise SweepError(f"sampler.budget would be ignored: a grid runs at sampler.budgets, else base.budget "
                             f"(give budgets: [{s.budget:g}])")
        if not isinstance(s.distributions, dict):
            raise SweepError(f"sampler.distributions must be a mapping, got {_kind(s.distributions)}")
        if s.distributions and s.kind not in ("random", "hidden_proportion"):
            raise SweepError(f"sampler.distributions is read by the random and hidden_proportion samplers; the "
                             f"{s.kind} sampler would ignore it"
                             + (f" (it searches densities in [{DENSITY_RANGE[0]:g}, {DENSITY_RANGE[1]:g}] and a "
                                f"log-uniform lr in [{TPE_LR_RANGE[0]:g}, {TPE_LR_RANGE[1]:g}])"
                                if s.kind in ("tpe", "qmc") else ""))
        if s.kind == "grid":
            from ..core.configs import config_family

            for model in s.models:
                try:
                    config_family(model)
                except SpecError as e:
                    raise SweepError(f"sampler.models: {e}") from None
        for name, dist in s.distributions.items():
            if name not in DEFAULT_DISTRIBUTIONS:
                raise SweepError(f"unknown distribution {name!r}; known: {', '.join(DEFAULT_DISTRIBUTIONS)}")
            _check_distribution(name, dist)
        if not isinstance(s.budgets, list) or not all(
            isinstance(b, (int, float)) and not isinstance(b, bool) and math.isfinite(b) and b > 0 for b in s.budgets
        ):
            raise SweepError(f"sampler.budgets must be a list of positive numbers, got {s.budgets!r}")
        twice = sorted({float(b) for b in s.budgets if [float(x) for x in s.budgets].count(float(b)) > 1})
        if twice:  # as for models and seeds: a grid would run it once and a sampler would weigh it twice
            raise SweepError(f"sampler.budgets lists {', '.join(f'{b:g}' for b in twice)} more than once")
        for b in s.budgets:  # as sampler.budget is: a random sweep at 1e12 drew configs for minutes, then failed each
            try:
                check_budget_limit(b, "sampler.budgets")
            except SpecError as e:
                raise SweepError(str(e)) from None
        lo, hi = (list(s.hp_range) + [None, None])[:2] if isinstance(s.hp_range, list) else (None, None)
        if not (isinstance(s.hp_range, list) and len(s.hp_range) == 2 and isinstance(lo, (int, float))
                and isinstance(hi, (int, float)) and 0 < lo < hi < 1):
            raise SweepError(f"hp_range must be [low, high] with 0 < low < high < 1, got {s.hp_range!r}")
        if "budget" in self.base and (s.budgets or s.budget is not None):
            given = [float(b) for b in s.budgets] if s.budgets else [float(s.budget)]
            if given != [float(self.base["budget"])]:  # the sampler's budget(s) win: base.budget would reach no trial
                which = "sampler.budgets" if s.budgets else "sampler.budget"
                raise SweepError(f"base.budget would be ignored: the {s.kind} sampler runs at {which} "
                                 f"({', '.join(f'{b:g}' for b in given)}); give the budget in one place")
        for key in ("model", "seed"):  # every sampler sets both per trial: a base value would reach no trial
            if key in self.base:
                how = "sampler.models" if (key, s.kind) == ("model", "grid") else "sampler.seeds" if s.kind == "grid" else (
                    "drawn densities" if key == "model" else "the trial's number")
                raise SweepError(f"base.{key} would be ignored: the {s.kind} sampler sets each trial's {key} ({how})")
        random_kind = s.kind in ("random", "hidden_proportion")  # last: the file's own fields are judged first
        drawn = ("lr", "init_mean", "init_std") if random_kind else ("lr",) if s.kind in ("tpe", "qmc") else ()
        for key in drawn:  # the sampler would override it, silently
            if key in self.base:
                fix = (f"; to hold it fixed, give sampler.distributions: {{{key}: {{normal: [{self.base[key]!r}, 0]}}}}"
                       if random_kind else
                       f" (it searches a log-uniform lr in [{TPE_LR_RANGE[0]:g}, {TPE_LR_RANGE[1]:g}]); use the random "
                       "or grid sampler to fix it")
                raise SweepError(f"base.{key} would be ignored: the {s.kind} sampler draws {key} itself{fix}")


SAMPLER_READS: dict[str, tuple[str, ...]] = {
    "grid": ("kind", "models", "seeds", "budgets"),
    "random": ("kind", "n_trials", "budget", "budgets", "distributions"),
    "hidden_proportion": ("kind", "n_trials", "budget", "budgets", "distributions", "hp_range"),
    "tpe": ("kind", "n_trials", "budget"),
    "qmc": ("kind", "n_trials", "budget"),
}
"""The ``sampler`` keys each sampler reads; any other key given would reach no trial."""


def _budgets_are_budget(s: SamplerSpec) -> bool:
    """Whether ``sampler.budgets`` is just ``[sampler.budget]`` (what ``--budget`` writes): the two say one thing."""
    return [float(b) for b in s.budgets] == [float(s.budget or 0)]


def _check_read(s: SamplerSpec, given: dict[str, Any]) -> None:
    """A sampler key the sampler does not read (a random sweep's ``seeds``, a grid's ``n_trials``) is refused:
    the sweep would run without it, silently. A grid's ``budget`` equal to its one ``budgets`` is what ``--budget``
    gives, and is read."""
    for key in given:
        if key in SAMPLER_READS[s.kind]:
            continue
        if (key, s.kind) == ("budget", "grid") and _budgets_are_budget(s):
            continue
        reads = ", ".join(k for k in SAMPLER_READS[s.kind] if k != "kind")
        raise SweepError(f"sampler.{key} would be ignored: the {s.kind} sampler reads {reads}"
                         + (" (its trials' seeds are their numbers)" if key == "seeds" else ""))


def _kind(value: Any) -> str:
    """How a YAML value reads to a user, for messages."""
    if isinstance(value, list):
        return f"a list ({value!r})"[:80]
    if isinstance(value, dict):
        return "a mapping"
    return f"{type(value).__name__} {value!r}"[:80]


def _check_keys(d: dict[str, Any], cls: type, what: str) -> None:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise SweepError(f"unknown {what} key(s) {', '.join(map(str, unknown))}; known: {', '.join(sorted(known))}")


def _check_distribution(name: str, dist: Any) -> None:
    if not isinstance(dist, dict):
        raise SweepError(f"distribution {name} must be a mapping such as {{normal: [mean, std], min: 0}}")
    kinds = [k for k in dist if k in DISTRIBUTION_KINDS]
    extra = [k for k in dist if k not in (*DISTRIBUTION_KINDS, "min", "max")]
    if len(kinds) != 1 or extra:
        raise SweepError(f"distribution {name} needs exactly one of normal, abs_normal, uniform, log_uniform "
                         f"(plus optional min, max); got keys {', '.join(map(str, dist))}")
    args = dist[kinds[0]]
    if not (isinstance(args, (list, tuple)) and len(args) == 2
            and all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args)):
        raise SweepError(f"distribution {name}: {kinds[0]} takes two numbers, got {args!r}")
    if not all(math.isfinite(a) for a in args):  # a NaN mean drew NaN; a NaN bound compared False and was ignored
        raise SweepError(f"distribution {name}: {kinds[0]} takes two finite numbers, got {args!r}")
    if kinds[0] in ("normal", "abs_normal") and args[1] < 0:
        raise SweepError(f"distribution {name}: standard deviation must be >= 0, got {args[1]}")
    if kinds[0] in ("uniform", "log_uniform") and not args[0] < args[1]:
        raise SweepError(f"distribution {name}: {kinds[0]} needs low < high, got {args!r}")
    if kinds[0] == "log_uniform" and args[0] <= 0:
        raise SweepError(f"distribution {name}: log_uniform needs positive bounds, got {args!r}")
    for bound in ("min", "max"):
        if bound in dist and (isinstance(dist[bound], bool) or not isinstance(dist[bound], (int, float))
                              or math.isnan(dist[bound])):
            raise SweepError(f"distribution {name}: {bound} must be a number, got {dist[bound]!r}")
    if "min" in dist and "max" in dist and dist["min"] > dist["max"]:
        raise SweepError(f"distribution {name}: min {dist['min']} is above max {dist['max']}")
    _check_clip_leaves_a_spread(name, dist, kinds[0], args)
    lo, hi = _support(dist)
    if name == "lr" and lo <= 0:
        raise SweepError(f"distribution lr: a learning rate must be positive, but this one can draw {_low(lo)}; give it "
                         "a positive min (min: 1.0e-6) or use log_uniform")
    if name == "init_std" and lo < 0:
        raise SweepError(f"distribution init_std: a standard deviation must be >= 0, but this one can draw {_low(lo)}; "
                         "give it min: 0 or use abs_normal")
    if name == "density" and (hi <= 0 or lo > 1):
        raise SweepError(f"distribution density: draws lie in [{lo:g}, {hi:g}], outside the densities (0, 1]")


def _check_clip_leaves_a_spread(name: str, dist: dict[str, Any], kind: str, args: Any) -> None:
    """A min or max beyond every value the distribution draws clips each draw to that bound: every trial would
    get one value the distribution never gives (uniform [1e-4, 1e-3] with min 0.01 is always 0.01). Refused."""
    a, b = args
    raw = {"normal": (-math.inf, math.inf), "abs_normal": (0.0, math.inf)}.get(kind, (a, b))
    if kind in ("normal", "abs_normal") and b == 0:  # a fixed value, as written
        raw = (abs(a),) * 2 if kind == "abs_normal" else (a, a)
    low, high = dist.get("min", -math.inf), dist.get("max", math.inf)
    point = raw[0] == raw[1]
    for bound, value, beyond in (("min", low, raw[1] < low if point else raw[1] <= low),
                                 ("max", high, raw[0] > high if point else raw[0] >= high)):
        if beyond:
            raise SweepError(f"distribution {name}: {bound} {value:g} lies beyond every value {kind} {list(args)!r} "
                             f"draws, so every trial would get {value:g}; widen the distribution or drop {bound}")


def _low(lo: float) -> str:
    return "any negative value" if lo == -math.inf else f"{lo:g}"


def _support(dist: dict[str, Any]) -> tuple[float, float]:
    """The smallest and largest value a distribution mapping can draw, after its min/max clip."""
    kind = next(k for k in dist if k in DISTRIBUTION_KINDS)
    a, b = dist[kind]
    lo, hi = {"normal": (-math.inf, math.inf), "abs_normal": (0.0, math.inf)}.get(kind, (a, b))
    if kind in ("normal", "abs_normal") and b == 0:  # no spread: the mean (its absolute value) only
        lo = hi = abs(a) if kind == "abs_normal" else a
    return max(lo, dist.get("min", -math.inf)), min(hi, dist.get("max", math.inf))


_YAML12_FLOAT = r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$"""
"""YAML 1.2's floats, exponent without a dot included (``1e-3``), which YAML 1.1 (PyYAML) reads as text."""


def _yaml12(base: str, purpose: str) -> Any:
    """yaml's ``SafeLoader`` or ``SafeDumper`` (``base``) with YAML 1.2's floats added, made once."""
    import re

    from ..tasks.base import require

    yaml = require("yaml", "sweep", purpose)
    made = _YAML12_CLASSES.get(base)
    if made is None:
        made = type(f"Yaml12{base}", (getattr(yaml, base),), {"construct_mapping": _unique_keys} if base == "SafeLoader" else {})
        made.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(_YAML12_FLOAT, re.X), list("-+0123456789."))
        _YAML12_CLASSES[base] = made
    return made


_YAML12_CLASSES: dict[str, Any] = {}


def _unique_keys(loader: Any, node: Any, deep: bool = False) -> Any:
    """A mapping whose keys are unique: PyYAML keeps the last of two equal keys, so a sweep's second ``base:``
    would silently drop the first. Merge keys (``<<: *anchor``) may still be overridden."""
    import yaml

    seen: set[Any] = set()
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
            key = loader.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError("while constructing a mapping", node.start_mark,
                                                        f"found duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


def yaml_error_where(e: Exception) -> str:
    """Where (and, for a key given twice, what) a YAML error is, for a one-line message: " at line N[: found
    duplicate key 'base']"."""
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or ""
    return (f" at line {mark.line + 1}" if mark else "") + (f": {problem}" if problem.startswith("found duplicate key") else "")


def yaml_load(text: str, purpose: str) -> Any:
    """YAML as sweep files, plan files and ``--set`` are read: safe, and with ``1e-3`` a number as a user
    means it (PyYAML follows YAML 1.1, where it is the text "1e-3"). ``purpose`` names what needs yaml when the
    ``sweep`` extra is missing. YAML errors are ``yaml.YAMLError``."""
    loader = _yaml12("SafeLoader", purpose)  # first: names the extra when yaml is missing
    import yaml

    return yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader subclass


def yaml_scalar(value: Any) -> str:
    """``value`` as one ``--set`` value that :func:`yaml_load` reads back equal (a flow scalar; a string that
    would read as a number, ``1e-3`` included, is quoted)."""
    dumper = _yaml12("SafeDumper", "writing --set")
    import yaml

    text = yaml.dump(value, Dumper=dumper, default_flow_style=True, width=1 << 30).strip()
    return text[:-3].rstrip() if text.endswith("\n...") else text


def load_sweep_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML sweep file into a mapping (validated by :meth:`SweepSpec.from_dict`)."""
    from ..tasks.base import require

    yaml = require("yaml", "sweep", "reading a sweep file")

    try:
        data = yaml_load(Path(path).read_text(), "reading a sweep file")
    except FileNotFoundError:
        raise SweepError(f"sweep file {path} does not exist") from None
    except IsADirectoryError:
        raise SweepError(f"sweep file {path} is a directory") from None
    except UnicodeDecodeError:
        raise SweepError(f"sweep file {path} is not a text file") from None
    except yaml.YAMLError as e:
        raise SweepError(f"sweep file {path} is not valid YAML{yaml_error_where(e)}") from None
    if data is None:
        raise SweepError(f"sweep file {path} is empty; see docs/sweeps.md for its keys (name, base, sampler, ...)")
    if not isinstance(data, dict):
        raise SweepError(f"sweep file {path} must be a mapping of keys to values, got {_kind(data)}")
    return data


# --------------------------------------------------------------------------------------- samplers
def density_string(density: dict[str, float]) -> str:
    """Explicit-densities config string, 6 significant digits per block (:func:`configs.explicit_config`;
    part of stored trial keys, so its bytes never change)."""
    from ..core.configs import explicit_config

    return explicit_config(density)


def _random_fields(dists: dict[str, dict[str, Any]], rng: random.Random) -> tuple[dict[str, float], dict[str, Any]]:
    density = {b: draw(dists["density"], rng) for b in BLOCKS}
    other = {"lr": draw(dists["lr"], rng), "init_mean": draw(dists["init_mean"], rng), "init_std": draw(dists["init_std"], rng)}
    return density, other


def trial_configs(spec: SweepSpec) -> list[dict[str, Any]]:
    """The TrainConfig mappings of a grid, random or hidden-proportion sweep, in a fixed order."""
    from ..core.configs import check_fits
    from ..core.spec import is_feasible, solve_hidden_proportion
    from ..tasks import get_task
    from ..train import TrainConfig

    base = asdict(TrainConfig.from_dict(spec.base))
    s = spec.sampler
    task = get_task(base["task"])
    out: list[dict[str, Any]] = []
    if s.kind == "grid":
        budgets = s.budgets or [base["budget"]]
        for budget in budgets:
            for model in s.models:
                try:
                    check_fits(model, task.dx, task.dy, budget)
                except SpecError as e:
                    raise SweepError(f"grid model {model!r} at budget {budget:g}: {e}") from None
        # seed-major: a sweep stopped part-way has every config at its first seeds, a comparison already
        for seed in s.seeds:
            for budget in budgets:
                for model in s.models:
                    out.append({**base, "model": model, "budget": float(budget), "seed": int(seed)})
        return out
    rng = random.Random(spec.seed)
    dists = {**DEFAULT_DISTRIBUTIONS, **s.distributions}
    budgets = [float(b) for b in s.budgets] or [float(s.budget if s.budget is not None else base["budget"])]
    attempts = 0
    while len(out) < s.n_trials:
        attempts += 1
        i = len(out)
        budget = budgets[i % len(budgets)]
        if attempts > 100 * s.n_trials:
            raise SweepError(f"could not draw {s.n_trials} feasible configs at budget {budget:g} in {attempts - 1} "
                             "attempts; raise the budget, or narrow sampler.distributions' density to (0, 1]")
        density, other = _random_fields(dists, rng)
        if s.kind == "hidden_proportion":
            lo, hi = s.hp_range
            stratum = i // len(budgets)  # one trial per stratum and budget, as many strata as the budget has trials
            strata = len(range(i % len(budgets), s.n_trials, len(budgets)))  # (7 over 2 budgets: 4 and 3)
            target = lo + (hi - lo) * (stratum + rng.random()) / strata
            try:
                density = solve_hidden_proportion(task.dx, task.dy, budget, target, density)
            except SpecError:
                continue
        if not is_feasible(task.dx, task.dy, budget, density):
            continue
        out.append({**base, **other, "model": density_string(density), "budget": budget, "seed": i})
    return out


def optuna_sampler(spec: SweepSpec, trial_number: int = 0) -> Any:
    """Optuna's TPE sampler, or the QMC sampler. TPE is seeded per trial by the number the store gives the trial
    (:func:`tpe_seed`), which no two workers, commands or machines share, so none propose the same configuration
    from the same history; QMC takes the point of its scrambled Sobol sequence indexed by that number
    (:func:`qmc_point`). Optuna's own QMCSampler counted its points in a study attribute that two processes
    read and bumped unlocked, and drew every trial before the first completed one at random from one seed, so
    two workers or commands proposed the same configuration."""
    import optuna

    if spec.sampler.kind == "tpe":
        return optuna.samplers.TPESampler(seed=tpe_seed(spec.seed, trial_number))
    return _indexed_qmc_sampler(spec.seed)


QMC_PARAMS = (*BLOCKS, "lr")
"""The QMC sweep's dimensions, in the order of the Sobol point's coordinates (:func:`suggest_config`'s)."""


def qmc_point(seed: int, index: int) -> list[float]:
    """Point ``index`` (from 0) of the scrambled Sobol sequence of a QMC sweep with sampler seed ``seed``, in
    [0, 1) per :data:`QMC_PARAMS` coordinate."""
    from scipy.stats import qmc

    engine = qmc.Sobol(len(QMC_PARAMS), scramble=True, seed=seed)
    if index:
        engine.fast_forward(index)
    return [float(u) for u in engine.random(1)[0]]


def _indexed_qmc_sampler(seed: int) -> Any:
    """An Optuna sampler that gives trial number n the n-th point of :func:`qmc_point` (scaled to each
    distribution, log-scaled for a log one)."""
    import optuna

    class IndexedQMCSampler(optuna.samplers.BaseSampler):
        def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
            return {}

        def sample_relative(self, study: Any, trial: Any, search_space: dict[str, Any]) -> dict[str, Any]:
            return {}

        def sample_independent(self, study: Any, trial: Any, name: str, dist: Any) -> Any:
            u = qmc_point(seed, trial.number)[QMC_PARAMS.index(name)]
            if dist.log:
                return math.exp(math.log(dist.low) + u * (math.log(dist.high) - math.log(dist.low)))
            return dist.low + u * (dist.high - dist.low)

    return IndexedQMCSampler()


def suggest_config(trial: Any, spec: SweepSpec) -> dict[str, Any]:
    """A config from Optuna's suggestions: six densities in [0.02, 1] (``defaults.DENSITY_RANGE``) and a
    log-uniform learning rate (``defaults.TPE_LR_RANGE``)."""
    density = {b: trial.suggest_float(b, *DENSITY_RANGE) for b in BLOCKS}
    lr = trial.suggest_float("lr", *TPE_LR_RANGE, log=True)
    return {**optuna_fixed(spec), "model": density_string(density), "lr": lr, "seed": trial.number}


def check_optuna_budget(spec: SweepSpec) -> None:
    """A TPE or QMC sweep whose budget is below the smallest feasible budget of its sparsest proposal (every density
    at the low end of ``defaults.DENSITY_RANGE``; the weights at dh 0.5 grow with each density) would fail every
    trial after loading its data: refused in one line before the store is touched, as an infeasible grid is."""
    from ..core.spec import smallest_feasible_budget
    from ..tasks import get_task

    fixed = optuna_fixed(spec)
    task = get_task(fixed["task"])
    smallest = smallest_feasible_budget(task.dx, task.dy, {b: DENSITY_RANGE[0] for b in BLOCKS})
    if fixed["budget"] < smallest:
        raise SweepError(f"budget {fixed['budget']:g} is too small for every config the {spec.sampler.kind} sampler "
                         f"searches (densities in [{DENSITY_RANGE[0]:g}, {DENSITY_RANGE[1]:g}]) on task {fixed['task']} "
                         f"(dx={task.dx}, dy={task.dy}); the smallest feasible budget is {smallest}")


OPTUNA_DRAWN = ("model", "lr", "seed")
"""The config fields a TPE or QMC sweep sets per trial (:func:`suggest_config`); the others are the spec's."""


def optuna_fixed(spec: SweepSpec) -> dict[str, Any]:
    """The config fields every trial of a TPE or QMC sweep shares: the base config at the sweep's budget."""
    from ..train import TrainConfig

    base = asdict(TrainConfig.from_dict(spec.base))
    budget = float(spec.sampler.budget if spec.sampler.budget is not None else base["budget"])
    return {k: v for k, v in {**base, "budget": budget}.items() if k not in OPTUNA_DRAWN}


def optuna_mismatch(spec: SweepSpec, config: Any) -> str | None:
    """How a stored trial's config differs from what a TPE or QMC ``spec`` would run (``"epochs 1, not 2"``), or
    None when the trial could be one of the spec's: its config with the drawn fields replaced by the spec's
    fixed ones has the same key (so placement such as ``device`` or ``mnist_dir`` does not matter)."""
    import json

    from ..train import TrainConfig

    try:
        theirs = TrainConfig.from_dict(config)
        ours = TrainConfig.from_dict({**optuna_fixed(spec), **{k: config[k] for k in OPTUNA_DRAWN}})
    except (TypeError, ValueError, KeyError):
        return "a config this version cannot read"
    if theirs.key() == ours.key():
        return None
    a, b = json.loads(json.dumps(asdict(theirs))), json.loads(json.dumps(asdict(ours)))
    diff = [f"{k} {a[k]!r}, not {b[k]!r}" for k in a if a[k] != b[k]]
    return ", ".join(diff[:2]) or "another config"


def trial_params(config: dict[str, Any]) -> dict[str, Any]:
    """A trial's hyperparameters as Optuna parameters (see ``store.param_distributions``): the model family,
    its six densities and nominal hidden proportion (block models), lr, budget, seed and initialisation."""
    from ..core.configs import config_density, config_family, is_baseline
    from ..core.spec import budget_hidden_proportion
    from ..tasks import get_task

    from .store import FAMILIES

    p: dict[str, Any] = {"lr": float(config["lr"]), "budget": float(config["budget"]), "seed": int(config["seed"]),
                         "init_mean": float(config["init_mean"]), "init_std": float(config["init_std"])}
    family = config_family(config["model"])
    if family in FAMILIES:  # the store's fixed choices (old studies stay compatible); an MLP's is in its config only
        p["family"] = family
    if not is_baseline(config["model"]):
        task = get_task(config["task"])
        density = config_density(config["model"], task.dx, task.dy, config["budget"])
        p.update({b: float(density[b]) for b in BLOCKS})
        p["hidden_proportion"] = float(budget_hidden_proportion(task.dx, task.dy, config["budget"], density))
    return p


def tpe_seed(seed: int, trial_number: int) -> int:
    """The TPE sampler seed of one trial: different for every trial of a study (its number is unique in the
    store), and the same for the same sweep seed and trial number."""
    return (seed * 1_000_003 + trial_number * 10_007) % (2**31 - 1)