"""The AdroitHandHammer-v1 environment with the D4RL reward, and D4RL's scores.

gymnasium-robotics 1.4.2 flipped the sign of the palm-to-hammer term of the reward (+0.1·d instead of
D4RL's −0.1·d). :func:`d4rl_reward` is D4RL's reward computed from the simulator state; the
:class:`D4RLHammer` wrapper returns it, which equals the environment's reward minus 0.2·d (tested).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...io import DataError
from ..base import MissingExtra

ENV_ID = "AdroitHandHammer-v1"
OBS_DIM, ACT_DIM, EPISODE_STEPS = 46, 26, 200
REF_RANDOM = -274.856578
"""D4RL's reference return of a random policy on hammer (REF_MIN_SCORE)."""
REF_EXPERT = 12794.134825
"""D4RL's reference return of the expert on hammer (REF_MAX_SCORE)."""
STD_FLOOR = 1e-3
"""Floor of the per-dimension observation std wherever observations are normalised (some are nearly constant)."""
GENERATED_EXPERT_ID = "balancedrnn/hammer/expert-v0"
"""The Minari id of the data set ``balancedrnn data hammer`` makes by default."""
_ID_RE = re.compile(r"(?:[-_\w][-_\w/]*[-_\w]+/)?[-_\w]+?-v\d+")
"""Minari's data set id with its version required (Minari 0.5 accepts an id without one, then crashes on it)."""


def check_dataset_id(dataset_id: str) -> str:
    """``dataset_id`` if it is a Minari id, ``[namespace/]name-v<version>``; else a one-line :class:`DataError`."""
    if not _ID_RE.fullmatch(dataset_id):
        raise DataError(f"{dataset_id!r} is not a Minari data set id: it must look like [namespace/]name-v<version>, "
                        f"for example {GENERATED_EXPERT_ID}")
    return dataset_id


NAIL_IN = 0.010
"""The nail is in while it is nearer its goal than this (m); driven fully home it rests at 0.009 (D4RL)."""
SUCCESS_STEPS = 25
"""An episode succeeds when the nail is in for more than this many steps (DAPG's evaluate_success)."""
NAIL_OBS = slice(42, 46)
"""Observation entries that locate the nail: its position (x, y, z) and the impact sensor."""
NAIL_Z, HAMMER_Z = 44, 38
"""Observation indices of the nail's height (the reset's only random draw) and of the hammer's height."""


def require_simulator() -> Any:
    """Import gymnasium with the robotics environments registered, or fail with one line saying what to install."""
    import contextlib
    import io

    try:
        import gymnasium as gym
        import mujoco  # noqa: F401

        # gymnasium-robotics prints a notice on import that the Adroit v1 rewards changed; D4RLHammer restores
        # D4RL's reward, so the notice is handled here rather than shown to every user
        with contextlib.redirect_stderr(io.StringIO()):
            import gymnasium_robotics
    except ImportError as e:
        raise MissingExtra(f"Adroit Hammer needs the simulator ({e.name} is missing): pip install 'balancedrnn[hammer]'") from None
    gym.register_envs(gymnasium_robotics)
    return gym


@dataclass(frozen=True)
class SiteIds:
    """Indices of the bodies and sites the reward reads."""

    hammer: int
    palm: int
    tool: int
    nail: int
    goal: int

    @classmethod
    def of(cls, env: Any) -> SiteIds:
        u = env.unwrapped
        return cls(u.obj_body_id, u.S_grasp_site_id, u.tool_site_id, u.target_obj_site_id, u.goal_site_id)


def d4rl_reward(data: Any, ids: SiteIds) -> tuple[float, bool]:
    """D4RL's dense hammer reward and whether the nail is in, from a MuJoCo ``MjData``."""
    hammer = data.xpos[ids.hammer]
    palm = data.site_xpos[ids.palm]
    head = data.site_xpos[ids.tool]
    nail = data.site_xpos[ids.nail]
    goal = data.site_xpos[ids.goal]
    goal_distance = float(np.linalg.norm(nail - goal))
    reward = -0.1 * float(np.linalg.norm(palm - hammer))
    reward -= float(np.linalg.norm(head - nail))
    reward -= 10.0 * goal_distance
    reward -= 1e-2 * float(np.linalg.norm(data.qvel))
    if hammer[2] > 0.04 and head[2] > 0.04:
        reward += 2.0
    if goal_distance < 0.020:
        reward += 25.0
    if goal_distance < NAIL_IN:
        reward += 75.0
    return reward, goal_distance < NAIL_IN


def _wrapper_class() -> type:
    gym = require_simulator()

    class D4RLHammer(gym.Wrapper):  # type: ignore[name-defined,misc]
        """Returns D4RL's reward; ``info`` gets ``success`` (nail in now) and ``env_reward`` (the original)."""

        def __init__(self, env: Any) -> None:
            super().__init__(env)
            self.ids = SiteIds.of(env)

        def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
            obs, env_reward, terminated, truncated, info = self.env.step(action)
            reward, success = d4rl_reward(self.env.unwrapped.data, self.ids)
            info = dict(info, success=success, env_reward=env_reward)
            return obs, reward, terminated, truncated, info

    return D4RLHammer


def make_env(**kwargs: Any) -> Any:
    """``AdroitHandHammer-v1`` with D4RL's reward."""
    gym = require_simulator()
    return _wrapper_class()(gym.make(ENV_ID, **kwargs))


def normalized_score(ret: float | np.ndarray) -> float | np.ndarray:
    """D4RL's normalised score: 0 for a random policy, 100 for the expert."""
    return 100.0 * (ret - REF_RANDOM) / (REF_EXPERT - REF_RANDOM)


def episode_success(goal_flags: np.ndarray) -> bool:
    """DAPG's success criterion: the nail is in for more than 25 steps of the episode."""
    return bool(np.sum(goal_flags) > SUCCESS_STEPS)


NAIL_IN_REWARD = 50.0
"""D4RL's reward adds 25 + 75 while the nail is in (goal distance < 0.01); its other terms are small."""


def recorded_success(rewards: np.ndarray) -> bool:
    """Whether a recorded episode succeeded (DAPG's criterion), read off its D4RL rewards."""
    return episode_success(np.asarray(rewards) > NAIL_IN_REWARD)
