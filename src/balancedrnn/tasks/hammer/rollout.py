"""Scoring a policy in the simulator: many episodes at once, the policy keeping its recurrent state.

The policy is called once per environment step on the batch of all environments (``policy.step(x, state)``),
so a rollout costs O(T), never re-reading the history. A non-finite action (a diverged model) fails that
episode; the others go on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .env import EPISODE_STEPS, episode_success, make_env, normalized_score, require_simulator


@dataclass
class RolloutResult:
    """Per-episode D4RL returns and successes, and summaries."""

    returns: np.ndarray
    successes: np.ndarray
    diverged: np.ndarray
    env_seconds: float = 0.0
    policy_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, float]:
        return {
            "episodes": int(len(self.returns)),
            "return": float(np.mean(self.returns)),
            "return_std": float(np.std(self.returns)),
            "normalized_score": float(np.mean(normalized_score(self.returns))),
            "success_rate": float(np.mean(self.successes)),
            "diverged": int(np.sum(self.diverged)),
            "env_seconds": self.env_seconds,
            "policy_seconds": self.policy_seconds,
        }


DATA_SEED = 1_000_000
"""The generated data sets' episodes start from reset seeds ``1,000,000 + i`` (``balancedrnn data hammer``)."""
SCORE_SEED_STRIDE = 100_000
"""A run of seed ``s`` below 10 is scored on reset seeds ``s * 100,000 + i``; from 10 on, 10,000,000 above that
(:func:`score_seeds`), so that no run is scored on the data's reset seeds."""
SELECT_SEED = 7_000_000
"""Checkpoint selection by rollouts uses reset seeds ``7,000,000 + 10,000 * s + i``: for training seeds below 70
(and fewer than 10,000 selection rollouts) never one that any run scores on, nor one of the data's."""


def score_seeds(seed: int) -> int:
    """First reset seed of the scoring rollouts of a run with ``seed``: ``seed * 100,000``, plus 10,000,000 from seed
    10 on (seed 10 was scored on 1,000,000 onward, the reset seeds of the generated data sets' first episodes: the
    nail heights the policy trained on). Seeds below 10 keep the scoring of every published run."""
    return seed * SCORE_SEED_STRIDE + (10_000_000 if seed * SCORE_SEED_STRIDE >= DATA_SEED else 0)


def select_seeds(seed: int) -> int:
    """First reset seed of the checkpoint-selection rollouts of a run with ``seed`` (disjoint from the scoring ones)."""
    return SELECT_SEED + 10_000 * seed


def rollout(
    policy: torch.nn.Module | Callable[..., Any],
    episodes: int = 100,
    seed: int = 0,
    obs_mean: np.ndarray | None = None,
    obs_std: np.ndarray | None = None,
    device: str = "cpu",
    envs: int | None = None,
    keep: bool = False,
) -> RolloutResult:
    """Run ``episodes`` episodes of a recurrent policy (``policy.step(x, state) -> (action, state)``), seeded.

    Observations are normalised with ``obs_mean``/``obs_std`` (the training statistics) before the policy
    sees them. ``envs`` environments run side by side (default: all episodes at once). With ``keep`` the
    observations the policy saw and its raw actions are kept in ``extra`` (``inputs``, ``actions``).
    """
    for name, value in (("episodes", episodes), ("envs", episodes if envs is None else envs)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"rollout {name} must be a positive integer, got {value!r}")  # 0 episodes: a NaN score
    require_simulator()
    import gymnasium as gym

    n_envs = min(envs or episodes, episodes)
    returns, successes, diverged = [], [], []
    env_time = pol_time = 0.0
    done = 0
    kept_x: list[np.ndarray] = []  # per batch of environments: (envs, steps, dim)
    kept_a: list[np.ndarray] = []
    while done < episodes:
        n = min(n_envs, episodes - done)
        vec = gym.vector.SyncVectorEnv([make_env for _ in range(n)])
        obs, _ = vec.reset(seed=[seed + done + i for i in range(n)])
        state = None
        ret = np.zeros(n)
        goal = np.zeros((n, EPISODE_STEPS), dtype=bool)
        bad = np.zeros(n, dtype=bool)
        seen_x: list[np.ndarray] = []
        seen_a: list[np.ndarray] = []
        for t in range(EPISODE_STEPS):
            t0 = time.perf_counter()
            x = obs if obs_mean is None else (obs - obs_mean) / obs_std
            with torch.no_grad():
                out = policy.step(torch.as_tensor(x, dtype=torch.float32, device=device), state)  # type: ignore[union-attr]
            action, state = out
            a = action.detach().cpu().numpy().astype(np.float64)
            if keep:
                seen_x.append(np.asarray(x, np.float32))
                seen_a.append(a.copy())
            finite = np.isfinite(a).all(1)
            bad |= ~finite
            a[~finite] = 0.0
            a = np.clip(a, -1.0, 1.0)
            t1 = time.perf_counter()
            obs, r, _, _, info = vec.step(a)
            env_time += time.perf_counter() - t1
            pol_time += t1 - t0
            ret += r
            goal[:, t] = info["success"]
        vec.close()
        if keep:
            kept_x.append(np.stack(seen_x, 1))
            kept_a.append(np.stack(seen_a, 1))
        returns += list(ret)
        successes += [episode_success(g) and not b for g, b in zip(goal, bad)]
        diverged += list(bad)
        done += n
    extra = {"inputs": np.concatenate(kept_x), "actions": np.concatenate(kept_a)} if keep else {}
    return RolloutResult(np.array(returns), np.array(successes), np.array(diverged), env_time, pol_time, extra)
