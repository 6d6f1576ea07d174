"""Sweeps: what a sweep is and what it samples (``spec``), running it over worker processes (``executor``),
and the run store every trial is claimed from and recorded in (``store``, Optuna's journal or an RDB).
"""

from .executor import SweepResult, prepare, run_one, run_sweep, spec_keys, worker_loop
from .spec import (
    SamplerSpec,
    SweepError,
    SweepSpec,
    density_string,
    load_sweep_file,
    optuna_sampler,
    suggest_config,
    tpe_seed,
    trial_configs,
    trial_params,
)

__all__ = [
    "SamplerSpec", "SweepError", "SweepResult", "SweepSpec", "density_string", "load_sweep_file",
    "optuna_sampler", "prepare", "run_one", "run_sweep", "spec_keys", "suggest_config", "tpe_seed",
    "trial_configs", "trial_params", "worker_loop",
]
