"""Named model configurations: the strings users type (``dense``, ``uniform:0.2``, ``110100``, ``balanced``,
``lstm``, ``hx=0.1,hh=1,...``) and the models they build at a budget.

Grammar (case-insensitive; spaces around ``:``, ``,`` and ``=`` are ignored). :func:`parse_config` is its one
parser and :func:`format_config` its one formatter (inverse functions); every other function here goes
through them:

* ``dense``                    all six densities 1.
* ``standard``                 the standard RNN: hx = hh = yh = 1, hy = yx = yy = 0.
* ``uniform:<p>``              all six densities p.
* ``<6 digits>[:<base>]``      structured code over (hx hh hy yx yh yy): 1 = dense, 0 = base density (default 0.1).
* ``balanced[:<hp>]``          hidden proportion ``hp`` (default 0.5) at the budget, from the base densities
                               hx = hh = hy = 1, yx = yh = yy = 0.1; hx or hh is solved by the rule of
                               :func:`balancedrnn.core.spec.solve_hidden_proportion`.
* ``hx=..,hh=..,hy=..,yx=..,yh=..,yy=..``   explicit densities (all six, each once, any order).
* ``lstm``, ``gru``, ``rnn``   recurrent baselines at the same weight budget.
* ``mlp``                      feed-forward baseline (two ReLU layers on the current input) at the same budget.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from .baselines import BASELINES, make_baseline
from ..kernels.dispatch import KernelChoice
from .masks import check_kernel
from .model import BlockRNN, Readout, check_readout, get_activation
from .spec import (
    BLOCKS,
    BlockSpec,
    SpecError,
    check_block_entries,
    check_budget,
    check_feasible,
    check_init_scale,
    check_size,
    smallest_feasible_budget,
    solve_hidden_proportion,
    scaled_init,
    validate_density,
)

BALANCED_BASE: dict[str, float] = {"hx": 1.0, "hh": 1.0, "hy": 1.0, "yx": 0.1, "yh": 0.1, "yy": 0.1}
"""Densities the ``balanced`` config starts from before solving hx (or hh) for the target proportion."""

DEFAULT_STRUCTURED_BASE = 0.1
"""Density of the ``0`` blocks of a structured code written without a base."""

DEFAULT_BALANCED_TARGET = 0.5
"""Hidden proportion of ``balanced`` written without a target."""

STANDARD_DENSITY: dict[str, float] = {"hx": 1.0, "hh": 1.0, "hy": 0.0, "yx": 0.0, "yh": 1.0, "yy": 0.0}
"""The standard RNN: no y-row feedback and no direct input-to-output block."""

FAMILIES: tuple[str, ...] = ("dense", "standard", "uniform", "structured", "balanced", "explicit", *BASELINES)
"""Every config family, as :attr:`ConfigSpec.family` names them."""

CONFIG_HELP = (
    "dense, standard, uniform:<p>, a 6-digit code such as 110100[:base], balanced[:<hp>], "
    "hx=..,hh=..,hy=..,yx=..,yh=..,yy=.., or a baseline (lstm, gru, rnn, mlp)"
)


@dataclass(frozen=True)
class ConfigSpec:
    """A parsed config string: its family and arguments (:func:`parse_config`; :func:`format_config` writes it
    back). Defaults are filled in, so ``balanced`` and ``balanced:0.5`` parse to the same spec."""

    family: str
    """One of :data:`FAMILIES`."""
    value: float | None = None
    """uniform: the density; structured: the density of its 0 blocks; balanced: the target hidden proportion."""
    code: str | None = None
    """structured: the six digits over (hx hh hy yx yh yy), 1 = dense."""
    densities: tuple[float, ...] | None = None
    """explicit: the six densities in block order (hx hh hy yx yh yy)."""

    @property
    def is_baseline(self) -> bool:
        """True for lstm, gru, rnn and mlp."""
        return self.family in BASELINES

    def density(self, dx: int, dy: int, budget: float) -> dict[str, float]:
        """The six densities this block config stands for at (dx, dy, budget)."""
        if self.family == "dense":
            return {b: 1.0 for b in BLOCKS}
        if self.family == "standard":
            return dict(STANDARD_DENSITY)
        if self.family == "uniform":
            return {b: float(self.value) for b in BLOCKS}  # type: ignore[arg-type]
        if self.family == "structured":
            return {b: 1.0 if d == "1" else float(self.value) for b, d in zip(BLOCKS, self.code)}  # type: ignore[arg-type]
        if self.family == "balanced":
            return balanced_density(dx, dy, budget, float(self.value))  # type: ignore[arg-type]
        if self.family == "explicit":
            return dict(zip(BLOCKS, self.densities))  # type: ignore[arg-type]
        raise SpecError(f"{self.family} is a baseline, not a block config: it has no densities")


def _unknown(config: str) -> SpecError:
    return SpecError(f"unknown model config {config!r}; expected {CONFIG_HELP}")


def _float(text: str, what: str) -> float:
    try:
        if "_" in text:  # Python reads 0.2_5 as 0.25 and 1_0 as 10: a typo must not become another density
            raise ValueError(text)
        return float(text) + 0.0  # + 0.0: -0 is 0, so one density has one canonical text
    except ValueError:
        raise SpecError(f"{what} must be a number, got {text!r}") from None


def _number(x: float) -> str:
    """Shortest text of a number: 6 significant digits when they are exact (so explicit densities are written as
    sweeps always wrote them), else every digit Python needs to read the same float back."""
    short = f"{x:.6g}"
    return short if float(short) == x else repr(float(x))


def parse_config(config: str) -> ConfigSpec:
    """Parse a model config string (case and spaces around ``: , =`` do not matter); a malformed string raises
    a one-line SpecError. The one parser of the grammar in this module's docstring."""
    if not isinstance(config, str):
        raise SpecError(f"model config must be a string, got {config!r}")
    text = re.sub(r"\s*([:,=])\s*", r"\1", config.strip().lower())
    if text in ("dense", "standard", *BASELINES):
        return ConfigSpec(text)
    name, colon, arg = text.partition(":")
    if name == "uniform":
        if not arg:
            raise SpecError("uniform needs a density, as in uniform:0.2")
        p = _float(arg, "uniform density")
        validate_density({b: p for b in BLOCKS})
        return ConfigSpec("uniform", value=p)
    if name == "balanced":
        if colon and not arg:
            raise SpecError("balanced takes a hidden proportion after the colon, as in balanced:0.3, or none")
        target = _float(arg, "balanced hidden proportion") if colon else DEFAULT_BALANCED_TARGET
        if not (0.0 < target < 1.0):
            raise SpecError(f"target hidden proportion must lie strictly between 0 and 1, got {target!r}")
        return ConfigSpec("balanced", value=target)
    if re.fullmatch(r"[01]{6}", name):
        if colon and not arg:
            raise SpecError(f"structured code {name} takes a base density after the colon, as in {name}:0.1, or none")
        base = _float(arg, "structured base density") if colon else DEFAULT_STRUCTURED_BASE
        validate_density({b: base for b in BLOCKS})
        return ConfigSpec("structured", value=base, code=name)
    if "=" in text:
        density: dict[str, float] = {}
        for part in text.split(","):
            key, sep, value = part.partition("=")
            if not sep:
                raise SpecError(f"explicit densities are written name=value, got {part!r}")
            if key not in BLOCKS:
                raise SpecError(f"unknown block name {key!r} in config; expected {', '.join(BLOCKS)}")
            if key in density:
                raise SpecError(f"block {key} is given twice in config {config.strip()!r}")
            density[key] = _float(value, f"density of {key}")
        return ConfigSpec("explicit", densities=tuple(validate_density(density).values()))
    raise _unknown(config)


def split_configs(text: str) -> list[str]:
    """A comma-separated list of model configs as its configs, where an explicit-densities config
    (``hx=..,hh=..,hy=..,yx=..,yh=..,yy=..``) keeps its own commas: a ``block=value`` piece joins the explicit config
    before it unless that one already has the block. Empty pieces are dropped; each config is checked later by
    :func:`parse_config`."""
    out: list[str] = []
    blocks: set[str] = set()  # the blocks of out[-1] when it is an explicit config
    for piece in (p.strip() for p in text.split(",")):
        if not piece:
            continue
        key = piece.partition("=")[0].strip().lower() if "=" in piece else None  # the grammar ignores case
        if key in BLOCKS and out and blocks and key not in blocks:
            out[-1] += "," + piece
            blocks.add(key)
        else:
            out.append(piece)
            blocks = {key} if key in BLOCKS else set()
    return out


def format_config(spec: ConfigSpec) -> str:
    """The canonical string of a parsed config, the inverse of :func:`parse_config`:
    ``parse_config(format_config(s)) == s``. Arguments equal to their default are left out; explicit densities
    are written in block order as ``hx=..,hh=..,...`` with 6 significant digits when those are exact (the form
    sweeps store, part of their trial keys)."""
    f = spec.family
    if f in ("dense", "standard", *BASELINES):
        return f
    if f == "uniform":
        return f"uniform:{_number(spec.value)}"  # type: ignore[arg-type]
    if f == "balanced":
        return "balanced" if spec.value == DEFAULT_BALANCED_TARGET else f"balanced:{_number(spec.value)}"  # type: ignore[arg-type]
    if f == "structured":
        return spec.code if spec.value == DEFAULT_STRUCTURED_BASE else f"{spec.code}:{_number(spec.value)}"  # type: ignore[return-value, arg-type]
    if f == "explicit":
        return ",".join(f"{b}={_number(p)}" for b, p in zip(BLOCKS, spec.densities))  # type: ignore[arg-type]
    raise SpecError(f"unknown config family {f!r}; known: {', '.join(FAMILIES)}")


def same_config(name: str) -> str:
    """A config's canonical name (``Dense`` and ``dense``, ``uniform:0.20`` and ``uniform:0.2`` are one config); a
    config of fixed densities is named by them, so ``dense``, ``uniform:1``, ``111111`` and ``hx=1,...,yy=1``, one
    model, are one config too (``auto`` writes its choice as densities); the name itself when it does not parse
    (its error comes later, from the config check)."""
    try:
        spec = parse_config(name)
    except SpecError:
        return name.strip()
    if spec.family in ("dense", "standard", "uniform", "structured"):  # densities that do not depend on the task
        spec = ConfigSpec("explicit", densities=tuple(spec.density(1, 1, 1).values()))
    return format_config(spec)


def explicit_config(density: Mapping[str, float], digits: int = 6) -> str:
    """The explicit-densities config string of ``density``, each rounded to ``digits`` significant digits (the
    string random sweeps and the recommender write, byte for byte as sweeps always wrote it)."""
    rounded = tuple(float(f"{float(density[b]):.{digits}g}") for b in BLOCKS)
    return format_config(ConfigSpec("explicit", densities=rounded))


def balanced_density(dx: int, dy: int, budget: float, target: float = DEFAULT_BALANCED_TARGET) -> dict[str, float]:
    """Densities hitting hidden proportion ``target`` at ``budget``, from :data:`BALANCED_BASE`, which must
    itself be feasible at the budget; which of hx or hh is solved is :func:`spec.solve_hidden_proportion`'s
    rule (hx for wide inputs, e.g. RAD; hh for narrow ones, e.g. Hammer)."""
    dx, dy, budget = check_size("dx", dx), check_size("dy", dy), check_budget(budget)
    try:
        check_feasible(dx, dy, budget, BALANCED_BASE)
        return solve_hidden_proportion(dx, dy, budget, target, BALANCED_BASE)
    except SpecError:
        smallest = smallest_balanced_budget(dx, dy, target)
        if smallest is None or budget >= smallest:
            raise
        # the base's own smallest budget is not enough: the target may still be out of reach there
        raise SpecError(f"budget {budget:g} is too small for these densities (dx={dx}, dy={dy}); "
                        f"the smallest feasible budget is {smallest}") from None


def _balanced_reachable(dx: int, dy: int, budget: float, target: float) -> bool:
    """True when ``balanced:target`` has a model at ``budget`` (:func:`spec.solve_hidden_proportion`'s own rule)."""
    try:
        solve_hidden_proportion(dx, dy, budget, target, BALANCED_BASE)
    except SpecError:
        return False
    return True


def smallest_balanced_budget(dx: int, dy: int, target: float = DEFAULT_BALANCED_TARGET) -> int | None:
    """The smallest whole budget at which ``balanced:target`` has a model (None when none is found up to
    2**40 times its base's smallest budget). Above the base's smallest budget the highest reachable hidden
    proportion grows with the budget, so the budgets that work start at one point: found by doubling, then
    bisection."""
    lo = smallest_feasible_budget(dx, dy, BALANCED_BASE)
    if _balanced_reachable(dx, dy, lo, target):
        return lo
    hi = lo
    for _ in range(40):
        lo, hi = hi, hi * 2
        if _balanced_reachable(dx, dy, hi, target):
            break
    else:
        return None
    while hi - lo > 1:  # lo does not work, hi does
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if _balanced_reachable(dx, dy, mid, target) else (mid, hi)
    return hi


def is_baseline(config: str) -> bool:
    """True for ``lstm``, ``gru``, ``rnn`` and ``mlp`` (a malformed config raises SpecError)."""
    return parse_config(config).is_baseline


def config_family(config: str) -> str:
    """The family a config string belongs to: dense, standard, uniform, structured, balanced, explicit (a
    density per block, as random sweeps write them), or the baseline's name (lstm, gru, rnn, mlp)."""
    return parse_config(config).family


def check_fits(config: str, dx: int, dy: int, budget: float) -> None:
    """Raise SpecError when block config ``config`` has no model at ``budget`` (:func:`spec.check_feasible`) or one
    too large to build (:func:`spec.check_block_entries`); baselines always pass: they say in their summary when
    they cannot get down to it."""
    spec = parse_config(config)
    if not spec.is_baseline:
        density = spec.density(dx, dy, budget)
        check_feasible(dx, dy, budget, density)
        check_block_entries(BlockSpec.from_budget(dx, dy, budget, density))


def config_density(config: str, dx: int, dy: int, budget: float) -> dict[str, float]:
    """The six densities a named block config stands for at (dx, dy, budget)."""
    return parse_config(config).density(dx, dy, budget)


def build_model(
    config: str,
    dx: int,
    dy: int,
    budget: float,
    seed: int = 0,
    readout: Readout = "lagged",
    activation: str = "relu",
    init: dict[str, tuple[float, float]] | None = None,
    device: torch.device | str | None = None,
    kernel: KernelChoice = "auto",
    init_scale: str = "fixed",
) -> nn.Module:
    """The model a config string names, at ``budget`` trainable weights, seeded (``kernel``: the block RNN's
    dense/sparse kernel choice; ``init_scale``: how ``init``'s spread follows each block's shape and density,
    :func:`~balancedrnn.core.spec.scaled_init`; baselines ignore both, and ``readout``, ``activation`` and
    ``init``, but a wrong name of any of them is an error for every config, as the command line's is)."""
    check_init_scale(init_scale)
    check_readout(readout)
    get_activation(activation)
    if isinstance(kernel, str):
        check_kernel(kernel)
    parsed = parse_config(config)
    if parsed.is_baseline:
        return make_baseline(parsed.family, dx, dy, budget, seed=seed, device=device)
    spec = BlockSpec.from_budget(dx, dy, budget, parsed.density(dx, dy, budget), init=init)
    if init_scale != "fixed":
        spec = replace(spec, init=scaled_init(spec, init_scale))
    return BlockRNN(spec, seed=seed, readout=readout, activation=activation, device=device, kernel=kernel,
                    budget=budget)


def model_summary(model: nn.Module) -> dict[str, Any]:
    """Derived features of any model this library builds."""
    summary = getattr(model, "summary", None)
    if summary is None:
        raise TypeError(f"{type(model).__name__} has no summary()")
    return dict(summary())


def config_summary(config: str, dx: int, dy: int, budget: float) -> dict[str, Any]:
    """What ``model.summary()`` reports for a config (dh, density, weights, parameters, hidden proportion,
    budget note), from the block specification or the baseline's counts, without allocating the model: so
    checking or listing a config at any budget is instant."""
    from .baselines import baseline_summary, solve_baseline_hidden
    from .spec import block_budget_note, check_budget

    budget = check_budget(budget)
    if is_baseline(config):
        kind = config.strip().lower()
        s = baseline_summary(kind, dx, dy, solve_baseline_hidden(kind, dx, dy, budget), budget)
        return {k: s[k] for k in ("dh", "density", "weights", "parameters", "hidden_proportion", "budget_note")}
    s = BlockSpec.from_budget(dx, dy, budget, config_density(config, dx, dy, budget)).summary()
    return {**s, "budget_note": block_budget_note(s["weights"], budget, s["dh"])}
