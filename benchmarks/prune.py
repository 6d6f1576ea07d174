"""What gradual pruning (``TrainConfig.prune``) costs: a whole training run that starts from the dense network of
the config's dh and prunes to the config's counts over the first half of the epochs, against the same run with fixed
masks, in the same process, alternating.

The pruned run's early epochs train a network with up to 1/density times the weights (dense blocks at the config's
width), so the cost depends on how wide the config is. Shapes and configs as ``benchmarks/rewire.py``.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/prune.py [--threads 1] [--rounds 3] [--epochs 8] [--steps 50]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from _cli import parse_args, positive  # a sibling module: benchmarks/ is on the path
from rewire import SHAPES, batches, epoch  # a sibling script: benchmarks/ is on the path

from balancedrnn import build_model
from balancedrnn.train import TrainConfig, prune_count, prune_end, start_dense


def run(config: str, dx: int, dy: int, budget: float, xs: list[torch.Tensor], ys: list[torch.Tensor], epochs: int,
        prune: float) -> float:
    """Seconds for ``epochs`` epochs of training from a fresh model, gradually pruned when ``prune`` is not 0."""
    start = time.perf_counter()
    model = build_model(config, dx, dy, budget, seed=0)
    pruning = start_dense(model, TrainConfig(model=config, epochs=epochs, prune=prune)) if prune else []
    end = prune_end(prune, epochs) if pruning else 0
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(1)
    for e in range(epochs):
        if 0 < e <= end:
            for block, target in pruning:
                if block.prune(block.nnz - prune_count(block.rows * block.cols, target, e, end), opt):
                    block.set_kernel("auto")
        epoch(model, opt, xs, ys, 0.0, gen)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=positive, default=1)
    ap.add_argument("--rounds", type=positive, default=3, help="Alternating runs of each kind.")
    ap.add_argument("--epochs", type=positive, default=8)
    ap.add_argument("--steps", type=positive, default=50, help="Batches of 16 per epoch.")
    args = parse_args(ap)
    if args.epochs < 2:
        ap.error(f"argument --epochs: must be at least 2 (the last epoch trains the pruned network), got {args.epochs}")
    torch.set_num_threads(args.threads)
    print(f"{args.rounds} rounds of one run each ({args.epochs} epochs of {args.steps} batches of 16), "
          f"{args.threads} thread(s); prune 0.5")
    print("| shape | config | dh | fixed s/run | pruned s/run | ratio |")
    print("|---|---|---:|---:|---:|---:|")
    for shape, (dx, dy, steps, budget) in SHAPES.items():
        xs, ys = batches(dx, dy, steps, args.steps)
        for config in ("uniform:0.2", "balanced"):
            times: dict[float, list[float]] = {0.0: [], 0.5: []}
            for prune in times:  # warm-up: kernels built, allocator settled
                run(config, dx, dy, budget, xs[:2], ys[:2], 2, prune)
            for _ in range(args.rounds):
                for prune in times:
                    times[prune].append(run(config, dx, dy, budget, xs, ys, args.epochs, prune))
            fixed, pruned = (statistics.median(times[p]) for p in (0.0, 0.5))
            dh = build_model(config, dx, dy, budget, seed=0).dh
            print(f"| {shape} | {config} | {dh} | {fixed:.2f} | {pruned:.2f} | {pruned / fixed:.2f} |", flush=True)


if __name__ == "__main__":
    main()
