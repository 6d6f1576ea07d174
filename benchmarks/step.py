"""One training step (forward + backward + Adam) of a block RNN at the RAD shape, against two references.

(a) the naive formulation: one masked square matrix over the whole [x, h, y] state, multiplied at every step;
(b) ``torch.nn.RNN`` of the same hidden size with a linear head.

With ``--compile``, also ``torch.compile(model, fullgraph=True)`` of the same model (the recurrence as the
``balancedrnn::block_rnn`` custom operator), after checking it gives the eager outputs.

Run:  .venv/bin/python benchmarks/step.py [--threads 2] [--repeats 30] [--compile]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn
from _cli import build_or_error, parse_args, positive  # a sibling module: benchmarks/ is on the path

from balancedrnn import BlockRNN


class NaiveSquare(nn.Module):
    """The whole state z = [x; h; y] times one masked (D x D) matrix at every step (rows of x unused)."""

    def __init__(self, model: BlockRNN) -> None:
        super().__init__()
        dx, dh, dy = model.dx, model.dh, model.dy
        d = dx + dh + dy
        self.dx, self.dh, self.dy = dx, dh, dy
        full = torch.zeros(d, d)
        full[dx:] = model.effective_weight().detach()
        mask = torch.zeros(d, d, dtype=torch.bool)
        mask[dx:] = full[dx:] != 0
        self.weight = nn.Parameter(full)
        self.register_buffer("mask", mask)
        self.bias = nn.Parameter(torch.zeros(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, steps, _ = x.shape
        w = self.weight * self.mask
        z = x.new_zeros(batch, self.dx + self.dh + self.dy)
        outs = []
        for t in range(steps):
            z = torch.cat([x[:, t], z[:, self.dx :]], 1)
            pre = z @ w.t() + self.bias
            z = torch.cat([x[:, t], torch.relu(pre[:, self.dx : self.dx + self.dh]), pre[:, self.dx + self.dh :]], 1)
            outs.append(z[:, self.dx + self.dh :])
        return torch.stack(outs, 1)


class TorchRNN(nn.Module):
    def __init__(self, dx: int, dh: int, dy: int) -> None:
        super().__init__()
        self.rnn = nn.RNN(dx, dh, nonlinearity="relu", batch_first=True)
        self.head = nn.Linear(dh, dy)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0])


def time_steps(model: nn.Module, x: torch.Tensor, target: torch.Tensor, repeats: int) -> float:
    """Median seconds of one step: forward, cross-entropy at the last step, backward, Adam."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    times = []
    for i in range(repeats + 3):
        t0 = time.perf_counter()
        loss = nn.functional.cross_entropy(model(x)[:, -1], target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= 3:  # warm-up
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=positive, default=2)
    parser.add_argument("--repeats", type=positive, default=30)
    parser.add_argument("--budget", type=float, default=100_000)
    parser.add_argument("--config", default="balanced")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile(model, fullgraph=True)")
    args = parse_args(parser)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dx, dy, batch, steps = 2500, 10, 16, 11
    model = build_or_error(parser, args.config, dx, dy, args.budget)
    if not isinstance(model, BlockRNN):  # the naive reference is a block RNN's own matrix
        parser.error(f"argument --config: {args.config} is a baseline, not a block RNN config")
    x = torch.randn(batch, steps, dx)
    target = torch.randint(0, dy, (batch,))
    naive = NaiveSquare(model)
    with torch.no_grad():  # same function, so the comparison is like for like
        torch.testing.assert_close(naive(x), model(x), atol=1e-4, rtol=1e-4)
    ref_rnn = TorchRNN(dx, model.dh, dy)
    t_block = time_steps(model, x, target, args.repeats)
    t_naive = time_steps(naive, x, target, args.repeats)
    t_rnn = time_steps(ref_rnn, x, target, args.repeats)
    t_compiled = None
    if args.compile:
        import copy

        twin = copy.deepcopy(model)
        compiled = torch.compile(twin, fullgraph=True)
        with torch.no_grad():
            torch.testing.assert_close(compiled(x), twin(x), atol=1e-6, rtol=1e-6)
        t_compiled = time_steps(compiled, x, target, args.repeats)
    print(f"shape: dx={dx} dy={dy} dh={model.dh} budget={args.budget:,.0f} config={args.config} "
          f"HP={model.hidden_proportion():.3f} batch={batch} T={steps} threads={args.threads}")
    print(f"{'implementation':<34}{'ms/step':>10}{'ratio':>10}")
    print(f"{'BlockRNN (this library)':<34}{t_block * 1e3:>10.2f}{1.0:>10.2f}")
    print(f"{'(a) naive masked square matrix':<34}{t_naive * 1e3:>10.2f}{t_naive / t_block:>10.2f}")
    print(f"{'(b) torch.nn.RNN same dh':<34}{t_rnn * 1e3:>10.2f}{t_rnn / t_block:>10.2f}")
    if t_compiled is not None:
        print(f"{'(c) torch.compile(BlockRNN)':<34}{t_compiled * 1e3:>10.2f}{t_compiled / t_block:>10.2f}")
    print(f"speed-up over naive: {t_naive / t_block:.1f}x (target >= 5x)")
    print(f"BlockRNN / nn.RNN time: {t_block / t_rnn:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
