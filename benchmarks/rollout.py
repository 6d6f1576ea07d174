"""Rollout cost: 100 episodes x 200 steps of a 400,000-weight recurrent policy in Adroit Hammer, against
stepping the environment alone (zero actions) in the same run.

The policy is called once per step on all environments with its recurrent state (O(T) per episode).

Run:  .venv/bin/python benchmarks/rollout.py [--episodes 100] [--config balanced] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import torch
from _cli import build_or_error, parse_args, positive  # a sibling module: benchmarks/ is on the path

from balancedrnn.tasks.hammer.rollout import rollout


class Zero(torch.nn.Module):
    """A policy that costs nothing: the environment's own time."""

    def step(self, x: torch.Tensor, state: object = None) -> tuple[torch.Tensor, object]:
        return torch.zeros(x.shape[0], 26), state


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--episodes", type=positive, default=100)
    p.add_argument("--budget", type=float, default=400_000)
    p.add_argument("--config", default="balanced")
    p.add_argument("--threads", type=positive, default=2)
    args = parse_args(p)
    torch.set_num_threads(args.threads)
    model = build_or_error(p, args.config, 46, 26, args.budget).eval()
    summary = model.summary()  # type: ignore[operator]
    t0 = time.perf_counter()
    env_only = rollout(Zero(), episodes=args.episodes, seed=0)
    t_env = time.perf_counter() - t0
    t0 = time.perf_counter()
    with_policy = rollout(model, episodes=args.episodes, seed=0)
    t_pol = time.perf_counter() - t0
    print(f"{args.episodes} episodes x 200 steps, policy {args.config}: {summary['weights']:,} weights, dh {summary['dh']}, "
          f"kernels {summary.get('kernels')}, threads {args.threads}")
    print(f"environment alone (zero actions): {t_env:.2f} s wall, {env_only.env_seconds:.2f} s in env.step")
    print(f"with the policy: {t_pol:.2f} s wall: {with_policy.env_seconds:.2f} s in env.step + "
          f"{with_policy.policy_seconds:.2f} s in the policy")
    print(f"policy time / environment time: {with_policy.policy_seconds / with_policy.env_seconds:.3f} (target < 1)")


if __name__ == "__main__":
    main()
