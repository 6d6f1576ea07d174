"""MLPs and sparse iterative maps on MNIST classification at one weight budget (SPEC §9, issue 9).

Digits are resized to 50x50 as in RAD and normalised. Models, all trained the same way (Adam, 3 iterations
of the map for a static input inserted once):

* ``mlp``: an nn.Sequential 2500-64-32-10 with ReLU (its weight count is the budget);
* ``mlp-as-map``: the same MLP (same initial weights) turned into an iterative map by ``from_mlp``;
* ``continuum a``: the MLP's three blocks at density ``a`` (holding a share ``a`` of the budget), the
  remaining weights spread at one common density over every other block among h1, h2, y and from x
  (``fill(budget=..., include_input=True)``); ``a = 0`` spreads the whole budget uniformly.

Run:  .venv/bin/python experiments/continuum_mnist.py --mnist-dir <MNIST idx files> --seeds 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from torch import nn

from balancedrnn import IterativeMap
from balancedrnn.tasks.mnist import load_mnist
from balancedrnn.tasks.rad import MEAN, STD, prepare_images
from _common import Parser, check_training_args, one_line_errors  # a sibling module: experiments/ is on the path

SIZES = (2500, 64, 32, 10)


def make_mlp(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(SIZES[0], SIZES[1]), nn.ReLU(), nn.Linear(SIZES[1], SIZES[2]), nn.ReLU(),
                         nn.Linear(SIZES[2], SIZES[3]))


def continuum_map(share: float, budget: int, seed: int) -> IterativeMap:
    """MLP pattern at density ``share``, the rest of the budget over all other blocks."""
    groups = {"x": SIZES[0], "h1": SIZES[1], "h2": SIZES[2], "y": SIZES[3]}
    blocks: dict = {("x", "x"): "identity"}
    if share > 0:
        blocks.update({("h1", "x"): share, ("h2", "h1"): share, ("y", "h2"): share})
    imap = IterativeMap(groups, blocks, activation={"h1": "relu", "h2": "relu"}, bias=True, iterations=3,
                        seed=seed, init=(0.0, 0.05))
    return imap.fill(budget=budget, include_input=True, seed=seed + 1000)


def train_eval(model: nn.Module, data: dict, epochs: int, lr: float, batch: int, seed: int) -> tuple[float, float]:
    """Adam on cross-entropy for ``epochs`` (data order from ``seed``), then test accuracy; (accuracy, seconds)."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    x, y = data["train"]
    t0 = time.time()
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(batch):
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        xt, yt = data["test"]
        acc = float((model(xt).argmax(1) == yt).float().mean())
    return acc, time.time() - t0


def main() -> None:
    p = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mnist-dir", default=None)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed+seeds-1 (split a run)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--shares", type=float, nargs="+", default=[0.9, 0.75, 0.5, 0.0])
    args = p.parse_args()
    check_training_args(p, args)
    for share in args.shares:
        if not 0.0 <= share <= 1.0:
            p.error(f"--shares must lie in [0, 1] (densities of the MLP's blocks), got {share}")
    torch.set_num_threads(args.threads)
    with one_line_errors():
        mnist = load_mnist(args.mnist_dir)
    images = prepare_images(mnist.images).sub_(MEAN).div_(STD).flatten(1)
    labels = torch.from_numpy(mnist.labels)
    order = torch.from_numpy(np.random.default_rng(0).permutation(len(labels)))
    n_test = len(order) // 5
    data = {"train": (images[order[n_test:]], labels[order[n_test:]]), "test": (images[order[:n_test]], labels[order[:n_test]])}
    budget = int(IterativeMap.from_mlp(make_mlp(0), share=False).weights)  # the map's counting rule, the one the continuum spends
    print(f"data: {mnist.source}; {len(order) - n_test} train / {n_test} test digits at 50x50; budget {budget:,} weights; "
          f"{args.epochs} epochs, Adam lr {args.lr}, batch {args.batch}, {args.seeds} seeds")
    rows: dict[str, list[float]] = {}
    weights: dict[str, int] = {}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        mlp = make_mlp(seed)
        as_map = IterativeMap.from_mlp(make_mlp(seed), share=False)
        models: dict[str, nn.Module] = {"mlp": mlp, "mlp-as-map": as_map}
        for share in args.shares:
            models[f"continuum {share:g}"] = continuum_map(share, budget, seed)
        for name, model in models.items():
            acc, secs = train_eval(model, data, args.epochs, args.lr, args.batch, seed)
            rows.setdefault(name, []).append(acc)
            weights[name] = budget if name == "mlp" else int(model.weights)  # type: ignore[union-attr]
            print(f"seed {seed} {name:<16} test accuracy {acc:.4f}  ({weights[name]:,} weights, {secs:.0f} s)", flush=True)
    print("\n| model | weights | test accuracy (mean ± std over seeds) |\n|---|---|---|")
    for name, accs in rows.items():
        spread = f" ± {statistics.stdev(accs):.4f}" if len(accs) > 1 else ""  # one seed: no spread measured
        print(f"| {name} | {weights[name]:,} | {statistics.mean(accs):.4f}{spread} |")


if __name__ == "__main__":
    main()
