"""Named model configurations: the strings users type (``dense``, ``uniform:0.2``, ``110100``, ``balanced``,
``lstm``, ``hx=0.1,hh=1,...``) and the models they build at a budget.

Grammar (case-insensitive):

* ``dense``                    all six densities 1.
* ``standard``                 the standard RNN: hx = hh = yh = 1, hy = yx = yy = 0.
* ``uniform:<p>``              all six densities p.
* ``<6 digits>[:<base>]``      structured code over (hx hh hy yx yh yy): 1 = dense, 0 = base density (default 0.1).
* ``balanced[:<hp>]``          hidden proportion ``hp`` (default 0.5) at the budget, from the base densities
                               hh = hy = 1, yx = yh = yy = 0.1; whichever of hx or hh must shrink is solved.
* ``hx=..,hh=..,hy=..,yx=..,yh=..,yy=..``   explicit densities (all six).
* ``lstm``, ``gru``, ``rnn``   baselines at the same weight budget.
"""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import nn

from .baselines import BASELINES, make_baseline
from .kernels import KernelChoice
from .model import BlockRNN, Readout
from .spec import (
    BLOCKS,
    BlockSpec,
    SpecError,
    budget_hidden_proportion,
    density_for_hidden_proportion,
    validate_density,
)

BALANCED_BASE: dict[str, float] = {"hx": 1.0, "hh": 1.0, "hy": 1.0, "yx": 0.1, "yh": 0.1, "yy": 0.1}
"""Densities the ``balanced`` config starts from before solving hx (or hh) for the target proportion."""

DEFAULT_STRUCTURED_BASE = 0.1

CONFIG_HELP = (
    "dense, standard, uniform:<p>, a 6-digit code such as 110100[:base], balanced[:<hp>], "
    "hx=..,hh=..,hy=..,yx=..,yh=..,yy=.., or a baseline (lstm, gru, rnn)"
)


def _float(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise SpecError(f"{what} must be a number, got {text!r}") from None


def balanced_density(dx: int, dy: int, budget: float, target: float = 0.5) -> dict[str, float]:
    """Densities hitting hidden proportion ``target`` at ``budget``: hx is sparsified when the base model's
    proportion is below the target (wide inputs, e.g. RAD), hh otherwise (narrow inputs, e.g. Hammer)."""
    block = "hx" if budget_hidden_proportion(dx, dy, budget, BALANCED_BASE) < target else "hh"
    return density_for_hidden_proportion(dx, dy, budget, target, BALANCED_BASE, block=block)


def is_baseline(config: str) -> bool:
    """True for ``lstm``, ``gru`` and ``rnn``."""
    return config.strip().lower() in BASELINES


def config_family(config: str) -> str:
    """The family a config string belongs to: dense, standard, uniform, structured, balanced, explicit (a
    density per block, as random sweeps write them), or the baseline's name (lstm, gru, rnn)."""
    text = config.strip().lower()
    if is_baseline(text) or text in ("dense", "standard"):
        return text
    if re.fullmatch(r"uniform(?::.*)?", text):
        return "uniform"
    if re.fullmatch(r"balanced(?::.+)?", text):
        return "balanced"
    if re.fullmatch(r"[01]{6}(?::.+)?", text):
        return "structured"
    if "=" in text:
        return "explicit"
    raise SpecError(f"unknown model config {config!r}; expected {CONFIG_HELP}")


def check_fits(config: str, dx: int, dy: int, budget: float) -> None:
    """Raise SpecError when block config ``config`` has no model at ``budget`` (baselines always pass: they
    say in their summary when they cannot get down to it)."""
    if not is_baseline(config):
        BlockSpec.from_budget(dx, dy, budget, config_density(config, dx, dy, budget))


def config_density(config: str, dx: int, dy: int, budget: float) -> dict[str, float]:
    """The six densities a named block config stands for at (dx, dy, budget)."""
    text = config.strip().lower()
    if text == "dense":
        return {b: 1.0 for b in BLOCKS}
    if text == "standard":
        return {"hx": 1.0, "hh": 1.0, "hy": 0.0, "yx": 0.0, "yh": 1.0, "yy": 0.0}
    if text == "uniform" or text.startswith("uniform:"):
        _, _, arg = text.partition(":")
        if not arg:
            raise SpecError("uniform needs a density, as in uniform:0.2")
        p = _float(arg, "uniform density")
        return validate_density({b: p for b in BLOCKS})
    m = re.fullmatch(r"([01]{6})(?::(.+))?", text)
    if m:
        base = _float(m.group(2), "structured base density") if m.group(2) else DEFAULT_STRUCTURED_BASE
        return validate_density({b: 1.0 if d == "1" else base for b, d in zip(BLOCKS, m.group(1))})
    if text == "balanced" or text.startswith("balanced:"):
        _, _, arg = text.partition(":")
        target = _float(arg, "balanced hidden proportion") if ":" in text else 0.5
        return balanced_density(dx, dy, budget, target)
    if "=" in text:
        density: dict[str, float] = {}
        for part in text.split(","):
            key, sep, value = (s.strip() for s in part.partition("="))
            if not sep:
                raise SpecError(f"explicit densities are written name=value, got {part.strip()!r}")
            if key not in BLOCKS:
                raise SpecError(f"unknown block name {key!r} in config; expected {', '.join(BLOCKS)}")
            density[key] = _float(value, f"density of {key}")
        return validate_density(density)
    raise SpecError(f"unknown model config {config!r}; expected {CONFIG_HELP}")


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
) -> nn.Module:
    """The model a config string names, at ``budget`` trainable weights, seeded (``kernel``: the block RNN's
    dense/sparse kernel choice; baselines ignore it)."""
    if is_baseline(config):
        return make_baseline(config.strip().lower(), dx, dy, budget, seed=seed, device=device)
    spec = BlockSpec.from_budget(dx, dy, budget, config_density(config, dx, dy, budget), init=init)
    return BlockRNN(spec, seed=seed, readout=readout, activation=activation, device=device, kernel=kernel)


def model_summary(model: nn.Module) -> dict[str, Any]:
    """Derived features of any model this library builds."""
    summary = getattr(model, "summary", None)
    if summary is None:
        raise TypeError(f"{type(model).__name__} has no summary()")
    return dict(summary())
