"""Old import paths (before the subpackage layout) kept for one release: ``import balancedrnn.spec`` still
works and gives the module now at ``balancedrnn.core.spec``, with a DeprecationWarning naming the new path.
Pickles that name old module paths (for example a predictor saved by an earlier version) load through it too.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType

MOVED = {
    "balancedrnn.spec": "balancedrnn.core.spec",
    "balancedrnn.configs": "balancedrnn.core.configs",
    "balancedrnn.defaults": "balancedrnn.core.defaults",
    "balancedrnn.masks": "balancedrnn.core.masks",
    "balancedrnn.model": "balancedrnn.core.model",
    "balancedrnn.baselines": "balancedrnn.core.baselines",
    "balancedrnn.itermap": "balancedrnn.core.itermap",
    "balancedrnn.reference": "balancedrnn.core.reference",
    "balancedrnn.native": "balancedrnn.kernels.native",
    "balancedrnn.recurrence": "balancedrnn.kernels.recurrence",
    "balancedrnn.ops": "balancedrnn.kernels.ops",
    "balancedrnn.data": "balancedrnn.tasks",
    "balancedrnn.data.mnist": "balancedrnn.tasks.mnist",
    "balancedrnn.data.rad": "balancedrnn.tasks.rad",
    "balancedrnn.data.timeseries": "balancedrnn.tasks.timeseries",
    "balancedrnn.hammer": "balancedrnn.tasks.hammer",
    "balancedrnn.hammer.dataset": "balancedrnn.tasks.hammer.dataset",
    "balancedrnn.hammer.env": "balancedrnn.tasks.hammer.env",
    "balancedrnn.hammer.expert": "balancedrnn.tasks.hammer.expert",
    "balancedrnn.hammer.planner": "balancedrnn.tasks.hammer.planner",
    "balancedrnn.hammer.rollout": "balancedrnn.tasks.hammer.rollout",
    "balancedrnn.store": "balancedrnn.sweep.store",
    "balancedrnn.meta": "balancedrnn.analysis.meta",
    "balancedrnn.metareport": "balancedrnn.analysis.metareport",
    "balancedrnn.claims": "balancedrnn.analysis.claims",
    "balancedrnn.report": "balancedrnn.analysis.report",
    "balancedrnn.reproreport": "balancedrnn.reproduce.report",
}
"""Old module path -> its home now. (``balancedrnn.kernels``, ``balancedrnn.sweep`` and ``balancedrnn.reproduce``
are packages now that re-export the old modules' public names.)"""


class _OldPaths(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves an old path to the module at its new home (the same module object, not a copy)."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def __init__(self) -> None:
        self._real: dict[str, importlib.machinery.ModuleSpec] = {}

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        new = MOVED[spec.name]
        warnings.warn(f"{spec.name} moved to {new}; the old path goes in the next release", DeprecationWarning,
                      stacklevel=2)
        module = importlib.import_module(new)
        self._real[spec.name] = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # the import system has just set the alias's spec on the real module: give it back its own
        module.__spec__ = self._real.pop(module.__spec__.name)


def install() -> None:
    """Put the old-path finder on ``sys.meta_path`` once."""
    if not any(isinstance(f, _OldPaths) for f in sys.meta_path):
        sys.meta_path.insert(0, _OldPaths())  # before the path finder, which would load a second copy
