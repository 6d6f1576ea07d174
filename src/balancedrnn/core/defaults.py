"""Defaults and random distributions, one home for each: the initialisation, the learning rate, the CLI's quick
and paper protocols, and the distributions random sweeps and the recommender draw densities from.

A leaf module: it imports nothing from the package, so every other module (spec, train, sweep, meta, cli) can
import it without creating a cycle.
"""

from __future__ import annotations

import math
import random
from typing import Any

DEFAULT_INIT: tuple[float, float] = (0.0, 0.05)
"""Default (mean, std) of the normal distribution every block's masked-in entries start from."""

DEFAULT_LR = 1e-3
"""Default Adam learning rate (the quick protocol's)."""

PAPER_LR = 1e-4
"""The paper's learning rate for its fixed configurations."""

QUICK: dict[str, Any] = {"n_train": 2_000, "n_val": 500, "n_test": 1_000, "epochs": 3, "batch_size": 16, "lr": DEFAULT_LR}
"""The quick protocol: minutes on a laptop CPU. ``TrainConfig``'s defaults and the CLI without ``--paper``."""

PAPER: dict[str, Any] = {"n_train": 30_000, "n_val": 1_000, "n_test": 1_000, "epochs": 25, "batch_size": 16, "lr": PAPER_LR}
"""The paper's RAD protocol, applied by the CLI's ``--paper``."""

PAPER_HAMMER: dict[str, Any] = {**PAPER, "n_train": 4_500, "n_val": 250, "n_test": 250, "batch_size": 64}
"""The paper's Adroit Hammer protocol (SPEC §5: batch 64 episodes, lr 1e-4, 25 epochs, 4,500/250/250 episodes),
applied by ``--paper`` on the Hammer tasks: ``hammer:actions`` draws that many episodes; ``hammer`` splits its data
set 90/5/5 % and does not read the sizes."""

DENSITY_RANGE: tuple[float, float] = (0.02, 1.0)
"""Smallest and largest density random samplers draw (random, hidden_proportion, TPE/QMC, the recommender)."""

DISTRIBUTION_KINDS: tuple[str, ...] = ("normal", "abs_normal", "uniform", "log_uniform")
"""Kinds of distribution mapping: ``{kind: [a, b], min: .., max: ..}`` (min and max clip the draw)."""

DENSITY_DISTRIBUTION: dict[str, Any] = {"abs_normal": [0.5, 0.25], "min": DENSITY_RANGE[0], "max": DENSITY_RANGE[1]}
"""The paper's random density: |N(0.5, 0.25)| clipped to [0.02, 1], drawn per block."""

DEFAULT_DISTRIBUTIONS: dict[str, dict[str, Any]] = {
    "lr": {"normal": [DEFAULT_LR, 4e-4], "min": 1e-6},
    "density": DENSITY_DISTRIBUTION,
    "init_mean": {"normal": [DEFAULT_INIT[0], 0.0025]},
    "init_std": {"normal": [DEFAULT_INIT[1], 0.015], "min": 1e-4},
}
"""Distributions of the random and hidden_proportion sweep samplers (a sweep file may override each)."""

TPE_LR_RANGE: tuple[float, float] = (1e-5, 1e-2)
"""Learning-rate range (log-uniform) the TPE and QMC samplers search."""


def distribution_kind(dist: dict[str, Any]) -> str:
    """The kind (normal, abs_normal, uniform, log_uniform) of a distribution mapping."""
    return next(k for k in dist if k in DISTRIBUTION_KINDS)


def draw(dist: dict[str, Any], rng: random.Random) -> float:
    """One draw from a distribution mapping, clipped to its optional min/max."""
    kind = distribution_kind(dist)
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


def draw_array(dist: dict[str, Any], rng: Any, size: Any) -> Any:
    """``size`` draws from a distribution mapping with a NumPy ``RandomState``/``Generator``, clipped to its
    optional min/max (the vectorised twin of :func:`draw`, for the recommender's candidates)."""
    import numpy as np

    kind = distribution_kind(dist)
    a, b = dist[kind]
    if kind == "normal":
        v = rng.normal(a, b, size=size)
    elif kind == "abs_normal":
        v = np.abs(rng.normal(a, b, size=size))
    elif kind == "uniform":
        v = rng.uniform(a, b, size=size)
    else:
        v = np.exp(rng.uniform(math.log(a), math.log(b), size=size))
    if "min" in dist or "max" in dist:
        v = np.clip(v, dist.get("min", -np.inf), dist.get("max", np.inf))
    return v


REFERENCES: tuple[str, ...] = ("dense", "uniform:0.2", "balanced")
"""The named configs a recommendation is compared with (reported beside it, trained beside it when the recommender
is judged, and pooled into the zoo predictor's runs)."""
