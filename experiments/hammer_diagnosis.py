"""Why cloned Adroit Hammer policies fail, measured on real cloned policies (issue 19).

The commands:

* ``clone``: train one policy exactly as ``balancedrnn train --task hammer`` does (the same ``train.fit``,
  early stopping with ``--patience``, the task's rollout score) and also keep the trained policy in a file
  (``--policy``), which ``diagnose`` reads.
* ``diagnose``: for a cloned policy and the expert that made its data, per 25-step window of the episode:
  the action error on the expert's own states (test episodes) against the error on the states the policy
  reaches itself (labelled by the expert: compounding error), how far those states are from every training
  state, and how far outside the training range the normalised observations go; plus the action jumps
  between consecutive steps of the policy, the expert data and the planner.
* ``jumps``: only the action-jump statistics of data sets (Minari ids) and the planner's episodes.
* ``robustness``: an expert's success when Gaussian noise is added to every executed action.
* ``trackers``: the same for experts made directly from the planner's demonstrations: the 1-NN lookup,
  open-loop replay of the demonstration nearest at reset, a lookup locked to that demonstration or to a time
  window, and the planner guided by the demonstrations (which re-plans); and ``mean-planner-K``, K guided planners
  whose mean action is executed (what a clone of the planner's labels learns at best).
* ``student-dagger``: DAgger on a cloned policy, the guided planner (or the mean of several) labelling the states
  the policy visits; the policy is cloned again each round from the pure-cloning data plus every labelled episode.
* ``phases``: where in the task a policy's rollouts fail (lift the hammer, move the nail, drive it in, keep it in);
  ``strikes``: how many bouts of nail motion the episodes of data sets show; ``filter-successes``: a data set of
  only the episodes that succeeded while recorded (filtered behaviour cloning); ``heights``: how the data's
  episodes depend on the nail's height.
* ``guide-trace``: which demonstration a guided planner follows, step by step (does it hop between grasps?).
* ``ensemble``: several policies alone and the mean of their actions on the same rollouts (bias or variance?).
* ``checkpoints``: train once and score the weights by rollouts every few epochs: how much the policy early stopping
  keeps is a lottery, and what choosing it by rollouts on other reset seeds gains.

Run (one thread each; see docs/results.md, "Adroit Hammer"):

  .venv/bin/python experiments/hammer_diagnosis.py clone --model dense --budget 100000 --readout current \\
      --lr 1e-3 --epochs 200 --patience 5 --policy runs/hammer-diag/dense-current.pt --out runs/hammer-diag
  .venv/bin/python experiments/hammer_diagnosis.py diagnose --policy runs/hammer-diag/dense-current.pt
  .venv/bin/python experiments/hammer_diagnosis.py jumps --dataset balancedrnn/hammer/expert-v0
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from balancedrnn.tasks.hammer.env import HAMMER_Z, NAIL_Z

WINDOW = 25


def _windows(per_step: np.ndarray) -> list[float]:
    """Means over consecutive 25-step windows of a (T,) series."""
    return [float(per_step[i : i + WINDOW].mean()) for i in range(0, len(per_step), WINDOW)]


def _subset(split: Any, n: int | None) -> Any:
    """The first ``n`` episodes of a cloning split (all when ``n`` is None)."""
    if n is None or n >= len(split):
        return split
    return type(split)(split.x[:n], split.target[:n])


# ---------------------------------------------------------------------------------------------- clone
def _train_config(args: argparse.Namespace) -> Any:
    """The TrainConfig of one Hammer clone from the training options (one thread)."""
    from balancedrnn.train import TrainConfig

    return TrainConfig(task="hammer", model=args.model, budget=args.budget, epochs=args.epochs, lr=args.lr,
                       batch_size=args.batch_size, seed=args.seed, readout=args.readout, threads=1,
                       dataset=args.dataset, rollouts=args.rollouts, patience=args.patience)


def clone(args: argparse.Namespace) -> dict[str, Any]:
    """Train one policy as ``balancedrnn train`` does, score it over rollouts, keep it in ``args.policy``."""
    from balancedrnn.tasks import get_task
    from balancedrnn.tasks.hammer.policy import save_policy
    from balancedrnn.train import build_for_task, evaluate, fit

    torch.set_num_threads(1)
    cfg = _train_config(args)
    task = get_task("hammer")
    t0 = time.time()
    data = task.load(cfg, False)
    data.splits["train"] = _subset(data.splits["train"], args.train_episodes)
    model = build_for_task(cfg, task)
    t1 = time.time()
    history = fit(model, data, task, cfg, progress=not args.quiet)
    t2 = time.time()
    test = evaluate(model, data.splits["test"], task)
    save_policy(args.policy, model, {**cfg.__dict__}, data.obs_mean, data.obs_std)
    score = task.score(model, data, cfg)  # type: ignore[misc]
    result = {
        "config": {**cfg.__dict__}, "train_episodes": len(data.splits["train"]), "source": data.source,
        "model": model.summary(), "best_epoch": history.best_epoch, "stopped_epoch": history.stopped_epoch,
        "val_loss": [v["loss"] for v in history.val], "train_loss": history.train_loss,
        "best_val_loss": min(v["loss"] for v in history.val), "test_loss": test["loss"],
        "baseline": data.baseline, "score": score, "train_seconds": t2 - t1, "load_seconds": t1 - t0,
        "updates": history.stopped_epoch * -(-len(data.splits["train"]) // cfg.batch_size), "policy": str(args.policy),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = Path(args.policy).stem
    from balancedrnn.io import atomic_write_json

    atomic_write_json(out / f"{name}.json", result)
    print(f"{name}: best epoch {history.best_epoch}/{history.stopped_epoch}, val MSE {result['best_val_loss']:.4f}, "
          f"test MSE {test['loss']:.4f}, success {score['success_rate']:.0%}, normalised {score['normalized_score']:.1f}, "
          f"train {t2 - t1:.0f} s")
    return result


# ------------------------------------------------------------------------------------------- diagnose
def _expert_labels(expert: torch.nn.Module, raw_obs: np.ndarray) -> np.ndarray:
    flat = torch.as_tensor(raw_obs.reshape(-1, raw_obs.shape[-1]), dtype=torch.float32)
    with torch.no_grad():
        labels = torch.cat([expert(c) for c in flat.split(4096)]).numpy()
    return labels.reshape(*raw_obs.shape[:-1], -1)


def _nearest_distance(queries: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """RMS-per-dimension distance of each (normalised) query to its nearest key."""
    q = torch.as_tensor(queries, dtype=torch.float32)
    k = torch.as_tensor(keys, dtype=torch.float32)
    d = torch.cat([torch.cdist(c, k).min(1).values for c in q.split(2048)])
    return (d / np.sqrt(q.shape[1])).numpy()


def diagnose(args: argparse.Namespace) -> dict[str, Any]:
    """Compounding error, out-of-distribution inputs and action jumps of one cloned policy."""
    from balancedrnn.tasks import get_task
    from balancedrnn.tasks.hammer.dataset import STD_FLOOR, Episode
    from balancedrnn.tasks.hammer.expert import action_jump, load_expert
    from balancedrnn.tasks.hammer.policy import load_policy
    from balancedrnn.tasks.hammer.rollout import rollout
    from balancedrnn.train import TrainConfig

    torch.set_num_threads(1)
    model, mean, std, config = load_policy(args.policy)
    expert = load_expert(Path(args.expert) if args.expert else None)
    cfg = TrainConfig(task="hammer", dataset=config.get("dataset"), data_seed=config.get("data_seed", 0))
    data = get_task("hammer").load(cfg, False)
    if not np.allclose(data.obs_mean, mean) or not np.allclose(data.obs_std, std):
        raise SystemExit("error: the policy was trained on other data than its config names")
    test = data.splits["test"]
    with torch.no_grad():
        pred = model(test.x).numpy()
    expert_err = ((pred - test.target.numpy()) ** 2).mean((0, 2))  # (T,)

    res = rollout(model, episodes=args.episodes, seed=args.seed, obs_mean=mean, obs_std=std, keep=True)
    z = res.extra["inputs"]  # (episodes, T, 46), normalised as the policy saw them
    acts = np.clip(res.extra["actions"], -1, 1)
    raw = z * std + mean
    labels = _expert_labels(expert, raw)
    own_err = ((acts - labels) ** 2).mean((0, 2))
    ok, bad = res.successes, ~res.successes
    own_err_ok = ((acts[ok] - labels[ok]) ** 2).mean((0, 2)) if ok.any() else np.full(len(own_err), np.nan)
    own_err_bad = ((acts[bad] - labels[bad]) ** 2).mean((0, 2)) if bad.any() else np.full(len(own_err), np.nan)

    train_x = data.splits["train"].x.reshape(-1, z.shape[-1]).numpy()
    rng = np.random.default_rng(0)
    keys = train_x[rng.choice(len(train_x), min(len(train_x), args.keys), replace=False)]
    own_dist = _nearest_distance(z.reshape(-1, z.shape[-1]), keys).reshape(z.shape[:2]).mean(0)
    test_dist = _nearest_distance(test.x.reshape(-1, z.shape[-1]).numpy(), keys).reshape(test.x.shape[:2]).mean(0)

    floored = np.where(std <= 1.01 * STD_FLOOR)[0]
    small = np.where(std < 0.02)[0]
    train_absmax = np.abs(train_x).max(0)
    roll_absmax = np.abs(z.reshape(-1, z.shape[-1])).max(0)
    roll_q99 = np.quantile(np.abs(z.reshape(-1, z.shape[-1])), 0.99, axis=0)
    ood_dims = np.argsort(-roll_absmax / np.maximum(train_absmax, 1e-9))[:5]

    policy_eps = [Episode(raw[i], acts[i], np.zeros(len(acts[i]))) for i in range(len(acts))]
    data_eps = [Episode(np.zeros((201, 46)), test.target[i].numpy(), np.zeros(200)) for i in range(len(test))]
    report = {
        "policy": str(args.policy), "config": config, "success_rate": float(res.successes.mean()),
        "normalized_score": res.summary()["normalized_score"],
        "mse_on_expert_states_by_window": _windows(expert_err),
        "mse_on_own_states_by_window": _windows(own_err),
        "mse_on_own_states_successes_by_window": _windows(own_err_ok),
        "mse_on_own_states_failures_by_window": _windows(own_err_bad),
        "distance_own_states_by_window": _windows(own_dist),
        "distance_test_states_by_window": _windows(test_dist),
        "obs_std_small_dims": {int(i): float(std[i]) for i in small}, "obs_std_floored_dims": floored.tolist(),
        "most_out_of_range_dims": {int(i): {"std": float(std[i]), "train_absmax_z": float(train_absmax[i]),
                                            "rollout_absmax_z": float(roll_absmax[i]), "rollout_q99_z": float(roll_q99[i])}
                                   for i in ood_dims},
        "action_jump_policy": action_jump(policy_eps), "action_jump_data": action_jump(data_eps),
    }
    print(f"policy {args.policy}: success {report['success_rate']:.0%}, normalised {report['normalized_score']:.1f}")
    print("| steps | MSE on expert states | MSE on own states | (successes) | (failures) | distance own | distance test |")
    print("|---|---|---|---|---|---|---|")
    for w in range(len(report["mse_on_own_states_by_window"])):
        print(f"| {w * WINDOW}-{(w + 1) * WINDOW - 1} | {report['mse_on_expert_states_by_window'][w]:.4f} | "
              f"{report['mse_on_own_states_by_window'][w]:.4f} | {report['mse_on_own_states_successes_by_window'][w]:.4f} | "
              f"{report['mse_on_own_states_failures_by_window'][w]:.4f} | {report['distance_own_states_by_window'][w]:.3f} | "
              f"{report['distance_test_states_by_window'][w]:.3f} |")
    print(f"action jump |a_t - a_(t-1)|: policy {report['action_jump_policy']:.3f}, its data {report['action_jump_data']:.3f}")
    print(f"dims with std < 0.02: {report['obs_std_small_dims']}; at the floor: {report['obs_std_floored_dims']}")
    print(f"most out-of-range dims (|z| max in rollouts vs training): {report['most_out_of_range_dims']}")
    if args.out:
        from balancedrnn.io import atomic_write_json

        atomic_write_json(args.out, report)
    return report


# ---------------------------------------------------------------------------------------------- jumps
def jumps(args: argparse.Namespace) -> dict[str, Any]:
    """Mean |a_t - a_(t-1)| (and its 90th percentile) per data set and for the planner's episodes."""
    from balancedrnn.tasks.hammer.dataset import load_episodes
    from balancedrnn.tasks.hammer.expert import hammer_dir

    sources: dict[str, list[np.ndarray]] = {}
    planner = sorted((hammer_dir() / "planner").glob("ep-*.npz"))
    if planner:
        sources["planner"] = [np.load(p)["actions"] for p in planner]
    for dataset_id in args.dataset:
        sources[dataset_id] = [ep.actions for ep in load_episodes(dataset_id)[: args.max_episodes]]
    out = {}
    print("| actions of | episodes | mean jump | 90th percentile | mean |a| | saturated (|a| > 0.99) |")
    print("|---|---|---|---|---|---|")
    for name, acts in sources.items():
        j = np.concatenate([np.linalg.norm(np.diff(a, axis=0), axis=1) for a in acts])
        a = np.concatenate(acts)
        out[name] = {"episodes": len(acts), "mean_jump": float(j.mean()), "p90_jump": float(np.quantile(j, 0.9)),
                     "mean_norm": float(np.linalg.norm(a, axis=1).mean()), "saturated": float((np.abs(a) > 0.99).mean())}
        print(f"| {name} | {len(acts)} | {j.mean():.3f} | {np.quantile(j, 0.9):.3f} | "
              f"{out[name]['mean_norm']:.2f} | {out[name]['saturated']:.0%} |")
    return out


# ----------------------------------------------------------------------------------------- robustness
class _Noisy(torch.nn.Module):
    """A policy whose executed action gets Gaussian noise of std ``sigma`` (seeded): how robust is an expert to
    action errors of the size a clone makes?"""

    def __init__(self, policy: torch.nn.Module, sigma: float, seed: int) -> None:
        super().__init__()
        self.policy, self.sigma = policy, sigma
        self.gen = torch.Generator().manual_seed(seed)

    def step(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        a = self.policy(x)
        return a + self.sigma * torch.randn(a.shape, generator=self.gen), state


def robustness(args: argparse.Namespace) -> dict[str, Any]:
    """Success of an expert when Gaussian noise is added to every executed action."""
    from balancedrnn.tasks.hammer.expert import load_expert
    from balancedrnn.tasks.hammer.rollout import rollout

    torch.set_num_threads(1)
    expert = load_expert(Path(args.expert) if args.expert else None)
    out = {}
    print("| action noise std | success | normalised score |")
    print("|---|---|---|")
    for sigma in args.sigma:
        s = rollout(_Noisy(expert, sigma, args.seed), episodes=args.episodes, seed=args.seed).summary()
        out[sigma] = s
        print(f"| {sigma:g} | {s['success_rate']:.0%} | {s['normalized_score']:.1f} |")
    return out


class _Tracker(torch.nn.Module):
    """An expert over demonstrations (D, T, 46) / (D, T, 26) with memory: ``window`` None is the plain 1-NN
    lookup; otherwise the nearest state within ``window`` steps of the current time, over the demonstration
    chosen at reset (``locked``, ``window`` 0: open-loop replay of it) or over all of them."""

    def __init__(self, obs: np.ndarray, acts: np.ndarray, window: int | None, locked: bool, sigma: float,
                 seed: int) -> None:
        super().__init__()
        flat = obs.reshape(-1, obs.shape[-1])
        self.mean = torch.as_tensor(flat.mean(0), dtype=torch.float32)
        self.std = torch.as_tensor(np.maximum(flat.std(0), 1e-3), dtype=torch.float32)
        self.K = (torch.as_tensor(obs, dtype=torch.float32) - self.mean) / self.std
        self.A = torch.as_tensor(acts, dtype=torch.float32)
        self.w, self.locked, self.sigma = window, locked, sigma
        self.gen = torch.Generator().manual_seed(seed)

    def step(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        q = (x.float() - self.mean) / self.std
        D, T, n_obs = self.K.shape
        d, t = (torch.cdist(q, self.K[:, 0]).argmin(1), 0) if state is None else state
        if self.w is None:
            a = self.A.reshape(D * T, -1)[torch.cdist(q, self.K.reshape(D * T, n_obs)).argmin(1)]
        else:
            lo, hi = max(0, t - self.w), min(T - 1, t + self.w)
            if self.locked:
                j = ((self.K[d, lo:hi + 1] - q[:, None]) ** 2).sum(-1).argmin(1) + lo
                a = self.A[d, j]
            else:
                i = torch.cdist(q, self.K[:, lo:hi + 1].reshape(-1, n_obs)).argmin(1)
                d, j = i // (hi - lo + 1), i % (hi - lo + 1) + lo
                a = self.A[d, j]
        return a + self.sigma * torch.randn(a.shape, generator=self.gen), (d, t + 1)


TRACKERS = {"nn": (None, False), "replay": (0, True), "locked-w3": (3, True), "locked-w10": (10, True),
            "time-w3": (3, False), "time-w10": (10, False)}


class _PlannerMean:
    """Guided planners (one per seed) that all plan from the environment's current state at every step, each keeping
    its own plan: their actions and the mean of them."""

    def __init__(self, env: Any, guide: Any, seeds: list[int], obs: np.ndarray, config: Any = None) -> None:
        from balancedrnn.tasks.hammer.planner import GUIDED, Planner

        self.planners = [Planner(env, config or GUIDED, seed=s, guide=guide) for s in seeds]
        for p in self.planners:
            p.reset(obs)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Every planner's action from the current state, stacked (one row per planner)."""
        state = self.planners[0].get_state()
        return np.stack([p.act(state=state, obs=obs) for p in self.planners])


def mean_planner_episode(seed: int, k: int, noise: float, guide: Any, config: Any = None) -> dict[str, Any]:
    """One episode of ``k`` guided planners (seeds differ) that all plan from the same state; the environment
    executes the mean of their first actions (plus Gaussian action noise). It is what a clone of the guided
    planner's labels would learn with unlimited data: their conditional mean. Does that mean still hammer?"""
    from balancedrnn.tasks.hammer.env import EPISODE_STEPS, episode_success, make_env

    env = make_env()
    obs, _ = env.reset(seed=seed)
    planners = _PlannerMean(env, guide, [seed * 1000 + j for j in range(k)], obs, config)
    rng = np.random.default_rng([seed, 19])
    rewards, goal, spread = [], [], []
    t0 = time.time()
    for _ in range(EPISODE_STEPS):
        acts = planners.act(obs)
        a = acts.mean(0)
        spread.append(float(acts.std(0).mean()))
        executed = np.clip(a + rng.normal(0.0, noise, a.shape), -1.0, 1.0) if noise > 0 else a
        obs, r, _, _, info = env.step(executed)
        rewards.append(r)
        goal.append(info["success"])
    env.close()
    return {"rewards": np.array(rewards), "success": episode_success(np.array(goal)), "seconds": time.time() - t0,
            "spread": float(np.mean(spread))}


def _episodes_summary(eps: list[dict[str, Any]]) -> dict[str, Any]:
    """Success rate, normalised score and seconds per episode of planner episodes."""
    from balancedrnn.tasks.hammer.env import normalized_score

    rets = np.array([e["rewards"].sum() for e in eps])
    return {"success_rate": float(np.mean([e["success"] for e in eps])),
            "normalized_score": float(np.mean(normalized_score(rets))), "episodes": len(eps),
            "seconds_per_episode": float(np.mean([e["seconds"] for e in eps]))}


def guide_trace(args: argparse.Namespace) -> dict[str, Any]:
    """Which demonstration a guided planner follows, step by step: the guide's nearest demonstrated state and the
    hammer's height over one episode per seed. Each demonstration's grasp continues only itself, so a guide that hops
    between demonstrations while the hammer is lifted mixes grasps."""
    from balancedrnn.tasks.hammer.expert import collect_planner_demos, planner_episode
    from balancedrnn.tasks.hammer.planner import GUIDED, Guide

    demos = collect_planner_demos(args.demos, shared_grasp=args.shared_grasp)
    out = {}
    for seed in args.seeds:
        guide = Guide([e.observations for e in demos], [e.actions for e in demos], blind_below=args.guide_blind_below)
        picks: list[tuple[int, int]] = []
        search = guide.nearest

        def traced(obs: np.ndarray, search: Any = search) -> tuple[int, int]:
            picks.append(search(obs))  # every continuation the planner asks for goes through this search
            return picks[-1]

        guide.nearest = traced  # type: ignore[method-assign]
        ep = planner_episode(seed, GUIDED, noise=args.noise, guide=guide)
        followed = [d for d, _ in picks[1 : args.steps + 1]]  # picks[k + 1]: the guide's pick at step k
        hops = int(sum(a != b for a, b in zip(followed, followed[1:])))
        z = ep["observations"][:, HAMMER_Z]
        out[seed] = {"success": bool(ep["success"]), "hops": hops, "demos_followed": len(set(followed)),
                     "nail_height": float(ep["observations"][0, NAIL_Z]), "hammer_max": float(z.max())}
        print(f"seed {seed} (nail {out[seed]['nail_height']:.3f} m): success {ep['success']}; in steps 0-{args.steps - 1} "
              f"the guide followed {len(set(followed))} demonstrations and changed {hops} times", flush=True)
        for k in range(0, args.steps, args.every):
            d, t = picks[k + 1]
            print(f"  step {k:3d}: hammer at {z[k]:.3f} m, following demonstration {d} at its step {t}")
    return out


def trackers(args: argparse.Namespace) -> dict[str, Any]:
    """Success under Gaussian action noise of experts made directly from the planner's demonstrations."""
    from balancedrnn.tasks.hammer.expert import collect_planner_demos, planner_episode
    from balancedrnn.tasks.hammer.planner import GUIDED, Guide
    from balancedrnn.tasks.hammer.rollout import rollout

    torch.set_num_threads(1)
    demos = collect_planner_demos(args.demos)
    obs = np.stack([e.observations[:-1] for e in demos])
    acts = np.stack([e.actions for e in demos])
    out: dict[str, Any] = {}
    print("| expert | " + " | ".join(f"noise {s:g}" for s in args.sigma) + " |")
    print("|---|" + "---|" * len(args.sigma))
    guide = Guide(obs, acts)
    config = replace(GUIDED, temperature=args.temperature)
    for name in args.experts:
        row = []
        for sigma in args.sigma:
            if name == "guided-planner":  # slow: one planner episode at a time
                s = _episodes_summary([planner_episode(args.seed + i, config, noise=sigma, guide=guide)
                                       for i in range(args.planner_episodes)])
            elif name.startswith("mean-planner"):  # k planners, the mean of their actions executed
                eps = [mean_planner_episode(args.seed + i, int(name.rsplit("-", 1)[1]), sigma, guide, config)
                       for i in range(args.planner_episodes)]
                s = {**_episodes_summary(eps), "planner_spread": float(np.mean([e["spread"] for e in eps]))}
                print(f"  {name} noise {sigma:g}: {s}", flush=True)
            else:
                w, locked = TRACKERS[name]
                s = rollout(_Tracker(obs, acts, w, locked, sigma, args.seed), episodes=args.episodes, seed=args.seed).summary()
            out.setdefault(name, {})[sigma] = s
            row.append(f"{s['success_rate']:.0%} ({s['normalized_score']:.0f})")
        print(f"| {name} | " + " | ".join(row) + " |", flush=True)
    return out


# ------------------------------------------------------------------------------------- student DAgger
def _student_job(job: tuple[int, str, int, float, str, int]) -> dict[str, Any]:
    """One episode of a cloned (recurrent) policy with the guided planner following along: the student acts (plus
    Gaussian noise ``noise``), the planner labels every state the student visits (with ``k`` > 1: the mean of ``k``
    planners' actions, a label with a k-th of the variance). Saved to ``path``."""
    seed, policy_path, demos, noise, path, k = job
    from balancedrnn.io import atomic_write
    from balancedrnn.tasks.hammer.env import EPISODE_STEPS, episode_success, make_env
    from balancedrnn.tasks.hammer.expert import collect_planner_demos
    from balancedrnn.tasks.hammer.planner import Guide
    from balancedrnn.tasks.hammer.policy import load_policy

    torch.set_num_threads(1)
    model, mean, std, _ = load_policy(policy_path)
    eps = collect_planner_demos(demos)
    guide = Guide([e.observations[:-1] for e in eps], [e.actions for e in eps])
    env = make_env()
    obs, _ = env.reset(seed=seed)
    planners = _PlannerMean(env, guide, [seed if j == 0 else seed * 1000 + j for j in range(k)], obs)
    rng = np.random.default_rng([seed, 23])
    observations, labels, rewards, goal, state = [obs], [], [], [], None
    t0 = time.time()
    for _ in range(EPISODE_STEPS):
        labels.append(planners.act(obs).mean(0))
        with torch.no_grad():
            out, state = model.step(torch.as_tensor((obs - mean) / std, dtype=torch.float32)[None], state)
        a = out[0].numpy().astype(np.float64)
        a = np.clip(np.where(np.isfinite(a), a, 0.0) + (rng.normal(0.0, noise, a.shape) if noise > 0 else 0.0), -1, 1)
        obs, r, _, _, info = env.step(a)
        observations.append(obs)
        rewards.append(r)
        goal.append(info["success"])
    env.close()
    ep = {"seed": seed, "observations": np.array(observations), "actions": np.array(labels, np.float32),
          "rewards": np.array(rewards), "success": episode_success(np.array(goal)), "seconds": time.time() - t0}
    atomic_write(Path(path), lambda f: np.savez(f, **ep))
    return ep


def student_dagger(args: argparse.Namespace) -> dict[str, Any]:
    """DAgger on the student: roll out the cloned policy, the guided planner labels its states, clone again from the
    pure-cloning data plus every labelled student episode so far; ``--rounds`` times. An extra row beside pure
    cloning (issue 19), since the expert is queried on the student's own states."""
    import multiprocessing as mp

    from balancedrnn.tasks.hammer.dataset import Episode, load_episodes, write_dataset

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    policy = Path(args.policy)
    base = load_episodes(args.dataset)[: args.base_episodes]
    results = []
    for r in range(args.first_round, args.first_round + args.rounds):
        rdir = out / f"round{r}"
        rdir.mkdir(exist_ok=True)
        seeds = [args.seed + 100_000 * r + i for i in range(args.episodes)]
        todo = [(s, str(policy), args.demos, args.noise, str(rdir / f"ep-{s:07d}.npz"), args.label_planners) for s in seeds
                if not (rdir / f"ep-{s:07d}.npz").exists()]
        t0 = time.time()
        with mp.get_context("spawn").Pool(args.workers) as pool:
            for i, ep in enumerate(pool.imap_unordered(_student_job, todo)):
                print(f"round {r}: episode {i + 1}/{len(todo)} success {bool(ep['success'])} "
                      f"({ep['seconds']:.0f} s)", flush=True)
        student = []
        for k in range(1, r + 1):
            for f in sorted((out / f"round{k}").glob("ep-*.npz")):
                with np.load(f) as z:
                    student.append(Episode(z["observations"], z["actions"], z["rewards"], int(z["seed"])))
                    if k == r:
                        results.append({"round": r, "seed": int(z["seed"]), "success": bool(z["success"])})
        on_policy = float(np.mean([x["success"] for x in results if x["round"] == r]))
        dataset_id = f"{args.dataset_prefix}-r{r}-v0"
        write_dataset(dataset_id, base + student, "student DAgger (guided planner labels)",
                      f"{len(base)} episodes of {args.dataset} and {len(student)} student episodes labelled by the "
                      f"guided planner (rounds 1-{r})")
        print(f"round {r}: student success while labelled {on_policy:.0%}; {len(todo)} episodes in "
              f"{time.time() - t0:.0f} s; data set {dataset_id} ({len(base) + len(student)} episodes)", flush=True)
        policy = out / f"{Path(args.policy).stem}-dagger-r{r}.pt"
        ns = argparse.Namespace(model=args.model, budget=args.budget, readout=args.readout, lr=args.lr,
                                epochs=args.epochs, patience=args.patience, batch_size=args.batch_size, seed=args.seed,
                                dataset=dataset_id, rollouts=args.rollouts, train_episodes=None, policy=policy,
                                out=str(out), quiet=True)
        if args.select_rollouts:  # keep the checkpoint the selection rollouts pick (lever 8), not the val-loss best
            ns.patience, ns.every, ns.select_rollouts, ns.average_from, ns.select_only = 0, args.every, args.select_rollouts, 0, False
            checkpoints(ns)
        else:
            clone(ns)
    return {"rounds": results}


# ---------------------------------------------------------------------------------------------- checkpoints
def checkpoints(args: argparse.Namespace) -> dict[str, Any]:
    """Is the kept policy a lottery? Train as ``clone`` does and, every ``--every`` epochs, score the weights on
    ``--rollouts`` rollouts (the scoring seeds) and on ``--select-rollouts`` other rollouts (selection seeds).
    Reports the policy early stopping keeps (best validation loss), the one the selection rollouts pick (scored on
    the scoring seeds it never saw) and the best checkpoint by the scoring rollouts themselves (optimistic). The
    picked policy is saved to ``--policy``, the early-stopping one beside it (``<stem>-val.pt``). With
    ``--average-from`` also the running mean of the weights (SWA): does averaging out the epoch-to-epoch noise
    give a better policy than any one epoch's weights?"""
    import copy

    from balancedrnn.io import atomic_write_json
    from balancedrnn.tasks import get_task
    from balancedrnn.tasks.hammer.policy import save_policy
    from balancedrnn.tasks.hammer.rollout import rollout, score_seeds, select_seeds
    from balancedrnn.train import build_for_task, fit

    torch.set_num_threads(1)
    cfg = _train_config(args)
    task = get_task("hammer")
    data = task.load(cfg, False)
    model = build_for_task(cfg, task)

    def score(m: torch.nn.Module, episodes: int, seed: int) -> dict[str, float]:
        m.eval()
        return rollout(m, episodes=episodes, seed=seed, obs_mean=data.obs_mean, obs_std=data.obs_std).summary()

    curve: list[dict[str, Any]] = []
    best: dict[str, Any] = {"val": (np.inf, None, 0), "select": ((-1.0, -np.inf), None, 0)}
    average: dict[str, Any] = {"n": 0, "state": None, "model": copy.deepcopy(model)}

    def look(epoch: int, m: torch.nn.Module, val: dict[str, Any]) -> None:
        if val["loss"] < best["val"][0]:
            best["val"] = (val["loss"], copy.deepcopy(m.state_dict()), epoch)
        if args.average_from and epoch >= args.average_from:  # the running mean of the weights (SWA), one per epoch
            average["n"] += 1
            state = m.state_dict()
            if average["state"] is None:
                average["state"] = {k: v.detach().clone() for k, v in state.items()}
            else:
                for k, v in state.items():
                    if v.is_floating_point():
                        average["state"][k] += (v.detach() - average["state"][k]) / average["n"]
        if epoch % args.every:
            return
        sel = score(m, args.select_rollouts, select_seeds(args.seed))
        curve.append({"epoch": epoch, "val_loss": val["loss"], "select_success": sel["success_rate"],
                      "select_normalised": sel["normalized_score"]})
        if not args.select_only:
            test = score(m, args.rollouts, score_seeds(cfg.seed))
            curve[-1].update({"success": test["success_rate"], "normalised": test["normalized_score"]})
        if average["state"] is not None:
            average["model"].load_state_dict(average["state"])
            swa = score(average["model"], args.rollouts, score_seeds(cfg.seed))
            curve[-1].update({"averaged_epochs": average["n"], "averaged_success": swa["success_rate"],
                              "averaged_normalised": swa["normalized_score"]})
            print(f"epoch {epoch}: the mean of the last {average['n']} epochs' weights: {swa['success_rate']:.0%} "
                  f"({swa['normalized_score']:.1f})", flush=True)
        key = (sel["success_rate"], sel["normalized_score"])
        if key > best["select"][0]:
            best["select"] = (key, copy.deepcopy(m.state_dict()), epoch)
        scoring = "" if args.select_only else f", scoring {test['success_rate']:.0%} ({test['normalized_score']:.1f})"
        print(f"epoch {epoch}: val {val['loss']:.4f}, selection {sel['success_rate']:.0%}{scoring}", flush=True)

    t0 = time.time()
    history = fit(model, data, task, cfg, progress=False, on_epoch=look)
    kept = {}
    for name in ("val", "select"):
        _, state, epoch = best[name]
        model.load_state_dict(state)
        kept[name] = {"epoch": epoch, **score(model, args.rollouts, score_seeds(cfg.seed))}
        policy = Path(args.policy) if name == "select" else Path(args.policy).with_name(f"{Path(args.policy).stem}-val.pt")
        save_policy(policy, model, {**cfg.__dict__}, data.obs_mean, data.obs_std)  # the val-loss one beside it
    top = None if args.select_only else max(curve, key=lambda c: (c["success"], c["normalised"]))
    result = {"config": {**cfg.__dict__}, "train_episodes": len(data.splits["train"]), "source": data.source,
              "every": args.every, "select_rollouts": args.select_rollouts, "curve": curve,
              "kept_by_val_loss": kept["val"], "kept_by_selection_rollouts": kept["select"],
              "best_checkpoint_by_scoring_rollouts": top, "stopped_epoch": history.stopped_epoch,
              "seconds": time.time() - t0, "policy": str(args.policy)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / f"{Path(args.policy).stem}-checkpoints.json", result)
    print(f"kept by val loss (epoch {kept['val']['epoch']}): {kept['val']['success_rate']:.0%}; by "
          f"{args.select_rollouts} selection rollouts (epoch {kept['select']['epoch']}): "
          f"{kept['select']['success_rate']:.0%} ({kept['select']['normalized_score']:.1f}); "
          + ("" if top is None else f"best checkpoint (epoch {top['epoch']}): {top['success']:.0%}; ")
          + f"{time.time() - t0:.0f} s", flush=True)
    return result


# ---------------------------------------------------------------------------------------------- phases
LIFT_Z = 0.04  # D4RL's bonus condition: hammer and head above this height
NAIL_HEIGHTS = ((0.10, 0.15), (0.15, 0.20), (0.20, 0.26))  # thirds of the range the reset draws the nail's height from
NAIL_MOVED = 0.005  # the nail has moved once it is this much nearer its goal than at reset (it starts 0.091 away)


def _phase_rollout(policy: Any, episodes: int, seed: int, mean: np.ndarray | None, std: np.ndarray | None) -> dict[str, np.ndarray]:
    """Roll ``policy`` out as the scoring rollouts do and record, per step, what the task's phases depend on:
    hammer and head heights, palm-to-hammer, head-to-nail and nail-to-goal distances."""
    from balancedrnn.tasks.hammer.env import EPISODE_STEPS, SiteIds, make_env

    envs = [make_env() for _ in range(episodes)]
    ids = SiteIds.of(envs[0])
    obs = np.stack([e.reset(seed=seed + i)[0] for i, e in enumerate(envs)])
    rec = {k: np.zeros((episodes, EPISODE_STEPS)) for k in ("hammer_z", "head_z", "palm_hammer", "head_nail", "goal")}  # noqa: E501
    rec["nail_height"] = obs[:, NAIL_Z].copy()  # the reset's only random draw: the board's (and nail's) height
    state = None
    for t in range(EPISODE_STEPS):
        x = obs if mean is None else (obs - mean) / std
        with torch.no_grad():
            a, state = policy.step(torch.as_tensor(x, dtype=torch.float32), state)
        a = np.clip(np.nan_to_num(a.numpy().astype(np.float64)), -1.0, 1.0)
        for i, e in enumerate(envs):
            obs[i] = e.step(a[i])[0]
            d = e.unwrapped.data
            rec["hammer_z"][i, t] = d.xpos[ids.hammer][2]
            rec["head_z"][i, t] = d.site_xpos[ids.tool][2]
            rec["palm_hammer"][i, t] = np.linalg.norm(d.site_xpos[ids.palm] - d.xpos[ids.hammer])
            rec["head_nail"][i, t] = np.linalg.norm(d.site_xpos[ids.tool] - d.site_xpos[ids.nail])
            rec["goal"][i, t] = np.linalg.norm(d.site_xpos[ids.nail] - d.site_xpos[ids.goal])
    for e in envs:
        e.close()
    return rec


class _FakeNail(torch.nn.Module):
    """A cloned policy that is told the nail is at a fixed (normalised) height, whatever the reset drew."""

    def __init__(self, policy: torch.nn.Module, z: float) -> None:
        super().__init__()
        self.policy, self.z = policy, float(z)

    def step(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        x = x.clone()
        x[:, NAIL_Z] = self.z
        return self.policy.step(x, state)


def phases(args: argparse.Namespace) -> dict[str, Any]:
    """Where in the task do the failing rollouts go wrong? Each episode is put in the first phase it does not
    complete: lift the hammer (D4RL's bonus height), move the nail, drive it in (goal distance below 0.01; driven
    fully home it rests at 0.009), keep it in for more than 25 steps (success). Also the step each phase is reached
    at, how far in the nails that are moved but not driven in get, how often the hammer falls off the table, and the
    successes by the nail's height (the one thing a reset draws at random)."""
    from balancedrnn.io import atomic_write_json
    from balancedrnn.tasks.hammer.env import NAIL_IN, SUCCESS_STEPS
    from balancedrnn.tasks.hammer.expert import load_expert
    from balancedrnn.tasks.hammer.policy import load_policy

    torch.set_num_threads(1)
    rows = {}
    for path in args.policies:
        if args.expert:
            policy, mean, std = load_expert(Path(path)), None, None
        else:
            policy, mean, std, _ = load_policy(path)
            policy.eval()
            if args.fake_nail_height is not None:
                policy = _FakeNail(policy, (args.fake_nail_height - mean[NAIL_Z]) / std[NAIL_Z])
        r = _phase_rollout(policy, args.episodes, args.seed * 100_000, mean, std)
        lifted = (r["hammer_z"] > LIFT_Z) & (r["head_z"] > LIFT_Z)
        start = r["goal"][:, :1]
        moved = r["goal"] < start - NAIL_MOVED
        inside = r["goal"] < NAIL_IN
        steps_in = inside.sum(1)
        stages = [("never lifts the hammer", ~lifted.any(1)), ("lifts it, never moves the nail", ~moved.any(1)),
                  ("moves the nail, never drives it in", ~inside.any(1)),
                  (f"drives it in, for {SUCCESS_STEPS} steps or fewer", steps_in <= SUCCESS_STEPS)]
        left = np.ones(args.episodes, dtype=bool)
        counts = {}
        for name, fails in stages:
            counts[name] = int((left & fails).sum())
            left &= ~fails
        counts["succeeds"] = int(left.sum())

        def first(flags: np.ndarray) -> float:
            hit = flags.any(1)
            return float(np.median(flags.argmax(1)[hit])) if hit.any() else float("nan")

        partial = moved.any(1) & ~inside.any(1)
        depth = (start[:, 0] - r["goal"].min(1)) / (start[:, 0] - 0.009)  # share of the way in at best
        rows[str(path)] = {"episodes": args.episodes, "phases": counts,
                           "median_step_lifted": first(lifted), "median_step_nail_moved": first(moved),
                           "median_step_nail_in": first(inside),
                           "median_depth_when_not_in": float(np.median(depth[partial])) if partial.any() else float("nan"),
                           "hammer_off_the_table": int((r["hammer_z"].min(1) < -0.1).sum())}
        ok = steps_in > SUCCESS_STEPS
        for lo, hi in NAIL_HEIGHTS:
            sel = (r["nail_height"] >= lo) & (r["nail_height"] < hi)
            rows[str(path)][f"success_nail_{lo:g}_{hi:g}"] = f"{ok[sel].sum()} of {sel.sum()}"
        print(f"{path}: " + ", ".join(f"{k} {v}" for k, v in counts.items()), flush=True)
        print("   " + ", ".join(f"{k} {v:.3g}" for k, v in rows[str(path)].items() if k.startswith(("median", "hammer"))),
              flush=True)
        print("   successes by the nail's height: " + ", ".join(
            f"{lo:g}-{hi:g} m: {rows[str(path)][f'success_nail_{lo:g}_{hi:g}']}" for lo, hi in NAIL_HEIGHTS), flush=True)
    if args.out:
        atomic_write_json(Path(args.out), rows)
    return rows


def strikes(args: argparse.Namespace) -> dict[str, Any]:
    """How often do the data show more than one strike? Per episode, the bouts of nail motion: runs of steps in which
    the nail head (observation 42-44) moves more than 2 mm further from where it started."""
    from balancedrnn.tasks.hammer.dataset import load_episodes

    out = {}
    print("| data set | episodes | nail never moves | one bout | two | three or more |")
    print("|---|---|---|---|---|---|")
    for dataset_id in args.dataset:
        counts = []
        for ep in load_episodes(dataset_id):
            nail = ep.observations[:, 42:45]
            moving = np.diff(np.linalg.norm(nail - nail[0], axis=1)) > 0.002
            counts.append(int(moving[0]) + int(np.sum(moving[1:] & ~moving[:-1])))
        c = np.array(counts)
        out[dataset_id] = {"episodes": len(c), "none": int((c == 0).sum()), "one": int((c == 1).sum()),
                           "two": int((c == 2).sum()), "more": int((c >= 3).sum())}
        print(f"| {dataset_id} | " + " | ".join(str(v) for v in out[dataset_id].values()) + " |")
    return out


def _recorded_success(ep: Any) -> bool:
    """Whether a data set's episode succeeded while it was recorded (DAPG's criterion, the nail read off the reward)."""
    from balancedrnn.tasks.hammer.env import recorded_success

    return recorded_success(ep.rewards)


def filter_successes(args: argparse.Namespace) -> dict[str, Any]:
    """Filtered behaviour cloning's data: only the episodes of ``--dataset`` that succeeded while recorded (the nail in
    for more than 25 steps, read off D4RL's reward), written as ``--out-id``. Still pure cloning of the expert's data:
    the episodes are the expert's, only its failures under the recording noise are left out."""
    from balancedrnn.tasks.hammer.dataset import load_episodes, write_dataset

    episodes = load_episodes(args.dataset)
    lo, hi = args.nail_heights
    kept = [ep for ep in episodes if _recorded_success(ep) and lo <= ep.observations[0, NAIL_Z] < hi]
    what = f" with the nail at {lo:g}-{hi:g} m" if (lo, hi) != (0.0, 1.0) else ""
    write_dataset(args.out_id, kept, "filtered: successful episodes only",
                  f"the {len(kept)} successful episodes{what} of {len(episodes)} in {args.dataset}")
    print(f"{args.out_id}: {len(kept)} of the {len(episodes)} episodes of {args.dataset} succeeded while recorded{what}")
    return {"dataset": args.dataset, "episodes": len(episodes), "kept": len(kept)}


def heights(args: argparse.Namespace) -> dict[str, Any]:
    """How the data's episodes depend on the nail's height (thirds of its range): success while recorded, the step
    the hammer first rises above 0.1 m, and how far the mean action of the first 15 steps lies from the lowest
    third's (mean |difference| per action dimension)."""
    from balancedrnn.tasks.hammer.dataset import load_episodes

    out = {}
    for dataset_id in args.dataset:
        eps = load_episodes(dataset_id)
        h = np.array([ep.observations[0, NAIL_Z] for ep in eps])
        ok = np.array([_recorded_success(ep) for ep in eps])
        up = [ep.observations[:, HAMMER_Z] > 0.1 for ep in eps]
        lift = np.array([int(np.argmax(u)) if u.any() else -1 for u in up])
        early = np.stack([ep.actions[:15] for ep in eps])
        low = early[(h >= NAIL_HEIGHTS[0][0]) & (h < NAIL_HEIGHTS[0][1])].mean(0)
        print(f"{dataset_id}:")
        print("| nail height (m) | episodes | succeeded while recorded | median step the hammer passes 0.1 m | "
              "mean |action - lowest third's|, steps 0-14 |")
        print("|---|---|---|---|---|")
        rows = []
        for lo, hi in NAIL_HEIGHTS:
            sel = (h >= lo) & (h < hi)
            lifted = lift[sel & (lift >= 0)]
            diff = float(np.abs(early[sel].mean(0) - low).mean())
            rows.append({"heights": [lo, hi], "episodes": int(sel.sum()), "success": float(ok[sel].mean()),
                         "median_lift_step": float(np.median(lifted)) if len(lifted) else float("nan"),
                         "early_action_difference": diff})
            print(f"| {lo:g}-{hi:g} | {sel.sum()} | {ok[sel].mean():.0%} | {rows[-1]['median_lift_step']:.0f} | {diff:.3f} |")
        out[dataset_id] = rows
    if args.policy:  # a clone's action error on the expert's own states (its test split), by the same thirds
        from balancedrnn.tasks import get_task
        from balancedrnn.tasks.hammer.policy import load_policy
        from balancedrnn.train import TrainConfig

        model, mean, std, config = load_policy(args.policy)
        model.eval()
        data = get_task("hammer").load(TrainConfig(task="hammer", dataset=config.get("dataset"),
                                                   data_seed=config.get("data_seed", 0)), False)
        test = data.splits["test"]
        with torch.no_grad():
            err = ((model(test.x).numpy() - test.target.numpy()) ** 2).mean(2)  # (episodes, T)
        h = test.x[:, 0, NAIL_Z].numpy() * std[NAIL_Z] + mean[NAIL_Z]
        print(f"{args.policy} on the test episodes of {config.get('dataset')} (teacher-forced action MSE):")
        for lo, hi in NAIL_HEIGHTS:
            sel = (h >= lo) & (h < hi)
            print(f"  nail {lo:g}-{hi:g} m: {sel.sum()} episodes, MSE {err[sel].mean():.3f}, "
                  f"first 25 steps {err[sel][:, :25].mean():.3f}")
    return out


# ---------------------------------------------------------------------------------------------- ensemble
class _Ensemble(torch.nn.Module):
    """Several recurrent policies acting together: each reads the raw observation through its own normalisation and
    keeps its own state; the executed action is the mean of theirs."""

    def __init__(self, members: list[tuple[torch.nn.Module, np.ndarray, np.ndarray]]) -> None:
        super().__init__()
        self.members = members

    def step(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        states = state or [None] * len(self.members)
        actions, new = [], []
        for (model, mean, std), s in zip(self.members, states):
            z = (x - torch.as_tensor(mean, dtype=x.dtype)) / torch.as_tensor(std, dtype=x.dtype)
            a, s = model.step(z, s)
            actions.append(a.clamp(-1.0, 1.0))
            new.append(s)
        return torch.stack(actions).mean(0), new


def ensemble(args: argparse.Namespace) -> dict[str, Any]:
    """Bias or variance? Each policy alone and the mean of their actions, on the same scoring rollouts: if the mean
    of a few clones hammers far more often than any one of them, the clones' failures are their own variance (which
    averaging, more data or weight averaging removes), not a bias every clone shares."""
    from balancedrnn.io import atomic_write_json
    from balancedrnn.tasks.hammer.policy import load_policy
    from balancedrnn.tasks.hammer.rollout import rollout

    torch.set_num_threads(1)
    members = []
    for path in args.policies:
        model, mean, std, _ = load_policy(path)
        members.append((model, mean, std))
    alone = [rollout(_Ensemble([m]), episodes=args.rollouts, seed=args.seed * 100_000).summary() for m in members]
    together = rollout(_Ensemble(members), episodes=args.rollouts, seed=args.seed * 100_000).summary()
    result = {"policies": [str(p) for p in args.policies], "alone": alone, "mean of actions": together}
    for p, a in zip(args.policies, alone):
        print(f"{Path(p).stem}: {a['success_rate']:.0%} ({a['normalized_score']:.1f})")
    print(f"mean of the {len(members)} policies' actions: {together['success_rate']:.0%} "
          f"({together['normalized_score']:.1f})", flush=True)
    if args.out:
        atomic_write_json(Path(args.out), result)
    return result


def _positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _training_args(p: argparse.ArgumentParser, readout: str, epochs: int, patience: int) -> None:
    """The options of one clone's training (model, budget, readout, lr, epochs, patience, batch, seed)."""
    p.add_argument("--model", default="dense")
    p.add_argument("--budget", type=float, default=100_000)
    p.add_argument("--readout", default=readout, choices=["lagged", "current"])
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--patience", type=int, default=patience, help="epochs without a better validation loss")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("clone", help="train and keep one policy")
    _training_args(c, readout="lagged", epochs=200, patience=5)
    c.add_argument("--dataset", default=None)
    c.add_argument("--rollouts", type=int, default=100)
    c.add_argument("--train-episodes", type=int, default=None, help="use only the first N training episodes")
    c.add_argument("--policy", type=Path, required=True)
    c.add_argument("--out", default="runs/hammer-diag")
    c.add_argument("--quiet", action="store_true")
    d = sub.add_parser("diagnose", help="compounding error and inputs of one policy")
    d.add_argument("--policy", type=Path, required=True)
    d.add_argument("--expert", default=None, help="expert file (default: the data hammer expert)")
    d.add_argument("--episodes", type=int, default=100)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--keys", type=int, default=50_000, help="training states compared against")
    d.add_argument("--out", default=None)
    j = sub.add_parser("jumps", help="action jumps of data sets and the planner")
    j.add_argument("--dataset", action="append", default=[])
    j.add_argument("--max-episodes", type=int, default=500)
    r = sub.add_parser("robustness", help="an expert's success under Gaussian action noise")
    r.add_argument("--expert", default=None, help="expert file (default: the data hammer expert)")
    r.add_argument("--sigma", type=float, nargs="+", default=[0.0, 0.03, 0.1, 0.3])
    r.add_argument("--episodes", type=int, default=50)
    r.add_argument("--seed", type=int, default=10_000)
    k = sub.add_parser("trackers", help="experts made directly from the planner's demonstrations, under action noise")
    k.add_argument("--demos", type=int, default=20, help="the planner demonstrations (cached by data hammer)")
    k.add_argument("--experts", nargs="+", default=list(TRACKERS), choices=[*TRACKERS, "guided-planner", "mean-planner-1", "mean-planner-4", "mean-planner-8"],
                   help="mean-planner-K: K guided planners from the same state, the mean of their actions executed")
    k.add_argument("--sigma", type=float, nargs="+", default=[0.0, 0.03, 0.1])
    k.add_argument("--episodes", type=int, default=30)
    k.add_argument("--planner-episodes", type=int, default=10)
    k.add_argument("--temperature", type=float, default=0.0, help="the guided planners' MPPI temperature (0: best "
                   "candidate, as `data hammer` plans)")
    k.add_argument("--seed", type=int, default=20_000)
    gt = sub.add_parser("guide-trace", help="which demonstration a guided planner follows, step by step")
    gt.add_argument("--seeds", type=int, nargs="+", default=[1_000_000], help="reset seeds (the guided set's from 1,000,000)")
    gt.add_argument("--noise", type=float, default=0.1, help="action noise on the executed actions, as the data set has")
    gt.add_argument("--demos", type=int, default=20)
    gt.add_argument("--shared-grasp", type=int, default=0, help="the demos of data hammer --shared-grasp K")
    gt.add_argument("--guide-blind-below", type=float, default=None, help="as data hammer --guide-blind-below")
    gt.add_argument("--steps", type=_positive, default=40, help="steps traced")
    gt.add_argument("--every", type=_positive, default=3, help="print every this many steps")
    g = sub.add_parser("student-dagger", help="DAgger on a cloned policy, the guided planner labelling its states")
    g.add_argument("--policy", type=Path, required=True, help="the round-0 policy (from clone)")
    g.add_argument("--dataset", required=True, help="the pure-cloning data set it was cloned from")
    g.add_argument("--base-episodes", type=int, default=None, help="use only its first N episodes")
    g.add_argument("--dataset-prefix", default="balancedrnn/hammer/sdagger")
    g.add_argument("--rounds", type=_positive, default=2)
    g.add_argument("--episodes", type=_positive, default=50, help="student episodes labelled per round")
    g.add_argument("--noise", type=float, default=0.0, help="action noise on the student's executed actions")
    g.add_argument("--demos", type=int, default=20)
    g.add_argument("--label-planners", type=_positive, default=1, help="label with the mean of this many guided planners")
    g.add_argument("--first-round", type=int, default=1, help="continue an earlier run: its next round")
    g.add_argument("--workers", type=int, default=1)
    _training_args(g, readout="current", epochs=1500, patience=100)
    g.add_argument("--rollouts", type=int, default=100)
    g.add_argument("--select-rollouts", type=int, default=0, help="keep each round's policy by this many rollouts "
                   "(other reset seeds) every --every epochs over --epochs epochs, not by validation loss; 0: off")
    g.add_argument("--every", type=_positive, default=10)
    g.add_argument("--out", default="runs/hammer-diag/student-dagger")
    q = sub.add_parser("checkpoints", help="score checkpoints by rollouts while training: is the kept policy a lottery?")
    _training_args(q, readout="current", epochs=200, patience=0)
    q.add_argument("--dataset", required=True)
    q.add_argument("--every", type=_positive, default=5, help="score every this many epochs")
    q.add_argument("--select-rollouts", type=_positive, default=50, help="rollouts (other seeds) that pick the policy")
    q.add_argument("--rollouts", type=_positive, default=100)
    q.add_argument("--select-only", action="store_true", help="score only the selection rollouts at each check, and "
                   "the scoring rollouts only for the two kept policies (cheaper, so --every can be small); the "
                   "result then has no best checkpoint by the scoring rollouts")
    q.add_argument("--average-from", type=int, default=0, help="also score the running mean of the weights of every "
                   "epoch from this one on (stochastic weight averaging); 0: off")
    q.add_argument("--policy", type=Path, required=True, help="where the policy the selection rollouts pick is kept")
    q.add_argument("--out", default="runs/hammer-diag")
    f = sub.add_parser("phases", help="where in the task failing rollouts go wrong (lift, reach, strike, keep)")
    f.add_argument("policies", type=Path, nargs="+")
    f.add_argument("--expert", action="store_true", help="the files are experts (load_expert), not cloned policies")
    f.add_argument("--fake-nail-height", type=float, default=None, help="feed the policy this nail height (m) instead "
                   "of the one the reset drew: does its behaviour before the strike depend on it?")
    f.add_argument("--episodes", type=_positive, default=100)
    f.add_argument("--seed", type=int, default=0, help="scoring seed (reset seeds seed * 100,000 + i)")
    f.add_argument("--out", default=None, help="write the results to this JSON file")
    b = sub.add_parser("strikes", help="how many bouts of nail motion the data sets' episodes show")
    b.add_argument("--dataset", action="append", required=True)
    fs = sub.add_parser("filter-successes", help="a data set of only the episodes that succeeded while recorded")
    fs.add_argument("--dataset", required=True)
    fs.add_argument("--out-id", required=True, help="the Minari id of the filtered data set")
    fs.add_argument("--nail-heights", type=float, nargs=2, default=(0.0, 1.0), metavar=("LOW", "HIGH"),
                    help="keep only episodes whose nail starts at this height (m; the reset draws 0.10-0.25)")
    hs = sub.add_parser("heights", help="how the data's episodes depend on the nail's height")
    hs.add_argument("--dataset", action="append", required=True)
    hs.add_argument("--policy", type=Path, default=None, help="also a clone's action error on its test episodes, by height")
    e = sub.add_parser("ensemble", help="policies alone and the mean of their actions, on the same rollouts")
    e.add_argument("policies", type=Path, nargs="+")
    e.add_argument("--rollouts", type=_positive, default=100)
    e.add_argument("--seed", type=int, default=0, help="scoring seed (reset seeds seed * 100,000 + i)")
    e.add_argument("--out", default=None, help="write the results to this JSON file")
    args = p.parse_args()
    from balancedrnn.io import DataError

    commands = {"checkpoints": checkpoints, "ensemble": ensemble, "student-dagger": student_dagger, "clone": clone,
                "diagnose": diagnose, "jumps": jumps, "robustness": robustness, "trackers": trackers, "phases": phases,
                "strikes": strikes, "filter-successes": filter_successes, "heights": heights,
                "guide-trace": guide_trace}
    try:
        commands[args.command](args)
    except DataError as e:  # a missing or foreign policy, expert or data set: one line, exit 1
        raise SystemExit(f"error: {e}") from None


if __name__ == "__main__":
    main()
