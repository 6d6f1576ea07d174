"""A sampling planner on the simulator state: the expert that labels states (SPEC §5, step 1).

Random shooting around the previous plan: ``samples`` candidate action sequences of ``horizon`` steps are
the previous plan shifted by one step plus noise, scored by D4RL's reward in a copy of the simulator, and
the best becomes the plan. The noise is drawn on knots every ``knot_every`` steps and interpolated, with
zero noise on the action executed now, so executed actions are smooth and carry no fresh noise (with fresh
per-step noise the actions are white noise and cannot be cloned).

A :class:`Guide` warm-starts the planner from demonstrations: one more candidate is the continuation of the
nearest demonstrated state, and the noisy candidates are drawn around both. Guided, a much smaller search
(:data:`GUIDED`) re-plans as well as the full one, so it can label thousands of episodes (issue 19).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .env import ACT_DIM, HAMMER_Z, NAIL_OBS, STD_FLOOR, SiteIds, d4rl_reward


@dataclass(frozen=True)
class PlannerConfig:
    """Planner settings (defaults: the measured configuration of SPEC §5)."""

    samples: int = 24
    """Candidate action sequences per step (one of them is the unperturbed previous plan)."""
    horizon: int = 40
    """Steps each candidate is simulated for."""
    sigma: float = 0.8
    """Standard deviation of the knot noise."""
    knot_every: int = 5
    """Steps between noise knots (the noise is linearly interpolated between them)."""
    temperature: float = 0.0
    """0: the best candidate becomes the plan (random shooting). Above 0: the plan is the candidates' mean weighted
    by exp((R - max R) / (temperature * std R)) over their returns R (MPPI's weighting), so the executed action
    depends less on which noisy candidate happened to win: labels with less noise for a clone (issue 19)."""

    def __post_init__(self) -> None:
        import math

        for name in ("samples", "horizon", "knot_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"planner {name} must be a positive integer, got {value!r}")
        for name in ("sigma", "temperature"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float, np.number)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"planner {name} must be a finite number >= 0, got {value!r}")


GUIDED = PlannerConfig(samples=8, horizon=20, sigma=0.3)
"""The search a :class:`Guide`-d planner needs (measured in issue 19: 80 % of 10 episodes under action noise 0.1,
as the unguided default, at a sixth of its simulation steps)."""


class Guide:
    """Demonstrations a planner is warm-started from: at any observation, the actions that followed the nearest
    demonstrated state (1-nearest-neighbour on observations normalised by the demonstrations' statistics).

    With ``blind_below`` (m), while the hammer lies lower than that the distance leaves out where the nail is, so
    the grasp a guided planner starts from does not depend on the nail's height, only the strike does (issue 19:
    clones of a height-dependent grasp break on high nails)."""

    def __init__(self, observations: Sequence[np.ndarray], actions: Sequence[np.ndarray],
                 blind_below: float | None = None) -> None:
        if blind_below is not None and not (np.isfinite(blind_below) and blind_below > 0):
            raise ValueError(f"blind_below must be a height above 0 (m), got {blind_below!r}")
        obs = [np.asarray(o, np.float64)[: len(a)] for o, a in zip(observations, actions)]
        flat = np.concatenate(obs)
        self.mean = flat.mean(0)
        self.std = np.maximum(flat.std(0), STD_FLOOR)
        self.keys = (flat - self.mean) / self.std
        self._observations_digest = hashlib.sha1(np.ascontiguousarray(flat, np.float32).tobytes()).digest()
        self.blind_below = blind_below
        self._sighted = np.ones(flat.shape[1], bool)
        self._sighted[NAIL_OBS] = False
        self.actions = [np.asarray(a, np.float64) for a in actions]
        self.where = [(d, t) for d, a in enumerate(self.actions) for t in range(len(a))]

    def nearest(self, obs: np.ndarray) -> tuple[int, int]:
        """(demonstration, step) of the demonstrated state nearest ``obs``."""
        obs = np.asarray(obs, np.float64)
        diff = self.keys - (obs - self.mean) / self.std
        if self.blind_below is not None and obs[HAMMER_Z] < self.blind_below:
            diff = diff[:, self._sighted]
        return self.where[int((diff**2).sum(1).argmin())]

    def continuation(self, obs: np.ndarray, horizon: int) -> np.ndarray:
        """The ``horizon`` actions from the nearest demonstrated state on (the last one held past the end)."""
        d, t = self.nearest(obs)
        seq = self.actions[d][t : t + horizon]
        return np.concatenate([seq, np.repeat(seq[-1:], horizon - len(seq), 0)]) if len(seq) < horizon else seq.copy()

    def fingerprint(self) -> str:
        """A short hash of the demonstrations (their observations, which the nearest-neighbour lookup reads, and
        their actions), and the blind height if any (names the files of episodes planned with this guide)."""
        h = hashlib.sha1()
        for a in self.actions:
            h.update(np.ascontiguousarray(a, np.float32).tobytes())
        h.update(self._observations_digest)
        return h.hexdigest()[:10] + (f"-blind{self.blind_below:g}" if self.blind_below is not None else "")


class Planner:
    """Plans from any simulator state of an (unwrapped) AdroitHandHammer environment, optionally guided."""

    def __init__(self, env: Any, config: PlannerConfig | None = None, seed: int = 0, guide: Guide | None = None) -> None:
        import mujoco

        self._mj = mujoco
        self.env = env.unwrapped
        self.config = config or PlannerConfig()
        self.rng = np.random.default_rng(seed)
        self.ids = SiteIds.of(env)
        self.model = self.env.model
        self.scratch = mujoco.MjData(self.model)
        self._state_kind = mujoco.mjtState.mjSTATE_FULLPHYSICS
        self._state = np.empty(mujoco.mj_stateSize(self.model, self._state_kind))
        c = self.config
        knots = np.arange(0, c.horizon + c.knot_every, c.knot_every)
        # interpolation weights from knots to steps: (horizon, n_knots)
        steps = np.arange(c.horizon)
        w = np.zeros((c.horizon, len(knots)))
        for i, t in enumerate(steps):
            k = min(t // c.knot_every, len(knots) - 2)
            f = (t - knots[k]) / c.knot_every
            w[i, k], w[i, k + 1] = 1 - f, f
        self._interp = w
        if guide is not None and c.samples < 2:
            raise ValueError(f"a guided planner needs samples >= 2 (the previous plan and the guide's), got {c.samples}")
        self.guide = guide
        self.plan = np.zeros((c.horizon, ACT_DIM))

    def reset(self, obs: np.ndarray | None = None) -> None:
        """Forget the plan (call at the start of an episode); guided, start from the guide's continuation of ``obs``."""
        self.plan = np.zeros_like(self.plan)
        if self.guide is not None and obs is not None:
            self.plan = self.guide.continuation(obs, self.config.horizon)

    def get_state(self, data: Any | None = None) -> np.ndarray:
        """Full physics state of ``data`` (default: the environment's)."""
        self._mj.mj_getState(self.model, data or self.env.data, self._state, self._state_kind)
        return self._state.copy()

    def _score(self, state: np.ndarray, actions: np.ndarray) -> float:
        mj, d, env = self._mj, self.scratch, self.env
        mj.mj_setState(self.model, d, state, self._state_kind)
        total = 0.0
        for a in actions:
            d.ctrl[:] = env.act_mean + a * env.act_rng
            mj.mj_step(self.model, d, nstep=env.frame_skip)
            total += d4rl_reward(d, self.ids)[0]
        return total

    def act(self, state: np.ndarray | None = None, obs: np.ndarray | None = None) -> np.ndarray:
        """The action to execute now from ``state`` (default: the environment's current state); a guided planner
        also needs the current observation ``obs``."""
        c = self.config
        state = self.get_state() if state is None else state
        bases = [np.concatenate([self.plan[1:], self.plan[-1:]], 0)]
        if self.guide is not None:
            if obs is None:
                raise ValueError("a guided planner needs the current observation")
            bases.append(self.guide.continuation(obs, c.horizon))
        base = np.stack(bases)
        n = c.samples - len(bases)
        knots = self.rng.normal(0.0, c.sigma, size=(n, self._interp.shape[1], ACT_DIM))
        knots[:, 0] = 0.0  # no fresh noise on the action executed now
        noise = np.einsum("tk,skd->std", self._interp, knots)
        candidates = np.clip(np.concatenate([base, base[np.arange(n) % len(bases)] + noise], 0), -1.0, 1.0)
        scores = np.array([self._score(state, cand) for cand in candidates])
        best = c.temperature <= 0
        self.plan = candidates[int(np.argmax(scores))] if best else _weighted_plan(candidates, scores, c.temperature)
        return self.plan[0].copy()


def _weighted_plan(candidates: np.ndarray, scores: np.ndarray, temperature: float) -> np.ndarray:
    """MPPI's plan: the candidates' mean weighted by exp((R - max R) / (temperature * std R))."""
    spread = float(scores.std())
    if spread == 0.0:  # every candidate scores the same: their plain mean
        return candidates.mean(0)
    w = np.exp((scores - scores.max()) / (temperature * spread))
    return np.einsum("s,std->td", w / w.sum(), candidates)
