"""Cloned Hammer policies as files: the training config that rebuilds the model, its weights, and the observation
statistics its inputs were normalised with. Apart from ``rollout.py`` because loading rebuilds the model through
the trainer, which imports the task registry (that imports ``rollout`` to score Hammer runs).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


POLICY_FORMAT = "balancedrnn.HammerPolicy/1"


def save_policy(path: Any, model: torch.nn.Module, config: dict[str, Any], obs_mean: np.ndarray,
                obs_std: np.ndarray) -> Any:
    """Write a cloned policy (atomically): its training config (to rebuild the model), weights, and the
    observation statistics its inputs were normalised with."""
    from ...io import atomic_write

    payload = {"format": POLICY_FORMAT, "task": config.get("task"), "config": dict(config),
               "state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
               "obs_mean": torch.as_tensor(np.asarray(obs_mean, np.float64)),
               "obs_std": torch.as_tensor(np.asarray(obs_std, np.float64))}
    return atomic_write(path, lambda f: torch.save(payload, f))


def load_policy(path: Any) -> tuple[torch.nn.Module, np.ndarray, np.ndarray, dict[str, Any]]:
    """A policy written by :func:`save_policy`: ``(model, obs_mean, obs_std, config)``; a one-line DataError
    for a missing or corrupt file, another format, or a policy of another task."""
    from ...io import DataError, torch_load
    from ...train import TrainConfig, build_for_task
    from .. import get_task
    from .env import ACT_DIM, OBS_DIM

    payload = torch_load(path, "policy file")
    if not isinstance(payload, dict) or payload.get("format") != POLICY_FORMAT:
        raise DataError(f"{path} is not a Hammer policy file")
    if payload.get("task") != "hammer":
        raise DataError(f"{path} is a policy for task {payload.get('task')!r}, not hammer")
    try:
        mean, std = payload["obs_mean"].numpy(), payload["obs_std"].numpy()
    except (KeyError, AttributeError, TypeError) as e:  # a file cut short or written by something else
        raise DataError(f"{path} is corrupt: its observation normalisation is "
                        f"{'missing ' + str(e) if isinstance(e, KeyError) else 'not a tensor'}") from None
    if mean.shape != (OBS_DIM,) or std.shape != (OBS_DIM,):
        raise DataError(f"{path} normalises {mean.shape[0] if mean.ndim else 0} observations; Adroit Hammer has {OBS_DIM}")
    try:
        config = TrainConfig.from_dict(payload["config"])
        model = build_for_task(config, get_task("hammer"))
        model.load_state_dict(payload["state"])
    except (ValueError, RuntimeError, KeyError) as e:
        raise DataError(f"{path} does not fit its own config ({str(e).splitlines()[0]})") from None
    if getattr(model, "dy", ACT_DIM) != ACT_DIM:
        raise DataError(f"{path} acts in {model.dy} dimensions; Adroit Hammer has {ACT_DIM}")  # type: ignore[attr-defined]
    return model.eval(), mean, std, payload["config"]
