"""balancedrnn: varied-sparsity block RNNs at a fixed weight budget (Hershey & Paffenroth, arXiv 2509.15057).

The public surface is small; everything else lives in private-by-convention modules. Names are imported on
first use (PEP 562), so ``import balancedrnn`` costs milliseconds, not PyTorch's second: the command line can
take a Ctrl-C from its first instant, and ``balancedrnn.__version__`` needs no torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from . import _legacy
from ._version import __version__ as __version__

_legacy.install()

if TYPE_CHECKING:  # what the names below are, for type checkers and IDEs
    from .core.baselines import RecurrentBaseline, make_baseline
    from .core.configs import balanced_density, build_model, config_density
    from .core.itermap import IterativeMap
    from .core.masks import MaskedBlock, draw_mask_indices
    from .core.model import BlockRNN
    from .core.spec import (
        BLOCKS,
        BlockSpec,
        SpecError,
        density_for_hidden_proportion,
        expected_weights,
        hidden_proportion,
        solve_hidden_size,
    )
    from .estimators import BlockRNNClassifier, BlockRNNRegressor

_EXPORTS = {
    **dict.fromkeys(("RecurrentBaseline", "make_baseline"), "core.baselines"),
    **dict.fromkeys(("balanced_density", "build_model", "config_density"), "core.configs"),
    "IterativeMap": "core.itermap",
    **dict.fromkeys(("MaskedBlock", "draw_mask_indices"), "core.masks"),
    "BlockRNN": "core.model",
    **dict.fromkeys(("BLOCKS", "BlockSpec", "SpecError", "density_for_hidden_proportion", "expected_weights",
                     "hidden_proportion", "solve_hidden_size"), "core.spec"),
    **dict.fromkeys(("BlockRNNClassifier", "BlockRNNRegressor"), "estimators"),
}
"""Each public name and the module that defines it."""

_NEEDS_SKLEARN = frozenset(("BlockRNNClassifier", "BlockRNNRegressor"))
"""Exported names whose module imports scikit-learn (the ``meta`` extra)."""


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        if name in _NEEDS_SKLEARN:
            from importlib.util import find_spec

            if find_spec("sklearn") is None:
                raise ImportError(f"balancedrnn.{name} needs scikit-learn, which is not installed: pip install 'balancedrnn[meta]'")
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value  # once: later lookups do not come here
        return value
    if not name.startswith("__"):  # a subpackage such as balancedrnn.core, as an eager import made it available
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module 'balancedrnn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "BLOCKS",
    "BlockRNN",
    "BlockRNNClassifier",
    "BlockRNNRegressor",
    "BlockSpec",
    "IterativeMap",
    "MaskedBlock",
    "RecurrentBaseline",
    "SpecError",
    "balanced_density",
    "build_model",
    "config_density",
    "density_for_hidden_proportion",
    "draw_mask_indices",
    "expected_weights",
    "hidden_proportion",
    "make_baseline",
    "solve_hidden_size",
]
