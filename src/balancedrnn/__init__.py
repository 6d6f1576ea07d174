"""balancedrnn: varied-sparsity block RNNs at a fixed weight budget (Hershey & Paffenroth, arXiv 2509.15057).

The public surface is small; everything else lives in private-by-convention modules.
"""

from . import _legacy
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

from ._version import __version__ as __version__

_legacy.install()

_LAZY = {"BlockRNNClassifier": "estimators", "BlockRNNRegressor": "estimators"}
"""Exported names whose modules import scikit-learn (the ``meta`` extra): imported on first use, so that
``import balancedrnn`` stays light and works without it."""


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib.util

        if importlib.util.find_spec("sklearn") is None:
            raise ImportError(f"balancedrnn.{name} needs scikit-learn, which is not installed: pip install 'balancedrnn[meta]'")
        from . import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module 'balancedrnn' has no attribute {name!r}")

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
