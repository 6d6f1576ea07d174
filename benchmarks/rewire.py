"""What dynamic sparsity (``TrainConfig.rewire``) costs: one epoch of training with a rewire before it, against the
same epoch with fixed masks, in the same process, alternating.

A rewire sorts each block's values, draws the grown positions and rebuilds the sparse kernels' structures once per
epoch; the epoch itself is unchanged. Shapes: RAD (dx 2,500, dy 10, 100,000 weights) and a zoo shape (mnist:rows,
dx 28, dy 10, 3,000 weights); uniform:0.2 and the balanced rule.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/rewire.py [--threads 1] [--rounds 5] [--steps 100]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from _cli import parse_args, positive  # a sibling module: benchmarks/ is on the path

from balancedrnn import build_model
from balancedrnn.train import rewire_model

SHAPES = {"rad (dx 2500, dy 10, T 10, 100k)": (2500, 10, 10, 100_000), "mnist:rows (dx 28, dy 10, T 28, 3k)": (28, 10, 28, 3_000)}


def batches(dx: int, dy: int, steps: int, n: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """``n`` random batches of 16 sequences of ``steps`` steps and their class labels (seed 0)."""
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(16, steps, dx, generator=g) for _ in range(n)]
    return xs, [torch.randint(0, dy, (16,), generator=g) for _ in range(n)]


def epoch(model: torch.nn.Module, opt: torch.optim.Optimizer, xs: list[torch.Tensor], ys: list[torch.Tensor],
          rewire: float, gen: torch.Generator) -> float:
    """Seconds for one epoch (``steps`` batches), preceded by a rewire of ``rewire`` when it is not 0."""
    start = time.perf_counter()
    if rewire:
        rewire_model(model, rewire, gen, opt)
    for x, y in zip(xs, ys):
        loss = torch.nn.functional.cross_entropy(model(x)[:, -1], y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=positive, default=1)
    ap.add_argument("--rounds", type=positive, default=5, help="Alternating epochs of each kind.")
    ap.add_argument("--steps", type=positive, default=100, help="Batches of 16 per epoch (the quick protocol: 125).")
    args = parse_args(ap)
    torch.set_num_threads(args.threads)
    print(f"{args.rounds} rounds of one epoch each ({args.steps} batches of 16), {args.threads} thread(s); rewire 0.3")
    print("| shape | config | fixed ms/epoch | rewired ms/epoch | ratio | one rewire ms |")
    print("|---|---|---:|---:|---:|---:|")
    for shape, (dx, dy, steps, budget) in SHAPES.items():
        xs, ys = batches(dx, dy, steps, args.steps)
        for config in ("uniform:0.2", "balanced"):
            models = {kind: build_model(config, dx, dy, budget, seed=0) for kind in ("fixed", "rewired")}
            opts = {kind: torch.optim.Adam(m.parameters(), lr=1e-3) for kind, m in models.items()}
            gen = torch.Generator().manual_seed(1)
            times: dict[str, list[float]] = {"fixed": [], "rewired": []}
            for kind in models:  # warm-up: kernels built, allocator settled
                epoch(models[kind], opts[kind], xs[:2], ys[:2], 0.3 if kind == "rewired" else 0.0, gen)
            for _ in range(args.rounds):
                for kind in ("fixed", "rewired"):
                    times[kind].append(epoch(models[kind], opts[kind], xs, ys, 0.3 if kind == "rewired" else 0.0, gen))
            once = []
            for _ in range(args.rounds):
                start = time.perf_counter()
                rewire_model(models["rewired"], 0.3, gen, opts["rewired"])
                once.append(time.perf_counter() - start)
            fixed, rewired = (1000 * statistics.median(times[k]) for k in ("fixed", "rewired"))
            print(f"| {shape} | {config} | {fixed:.0f} | {rewired:.0f} | {rewired / fixed:.3f} | "
                  f"{1000 * statistics.median(once):.1f} |", flush=True)


if __name__ == "__main__":
    main()
