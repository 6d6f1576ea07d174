"""A transformer encoder and its filled iterative maps on MNIST read row by row, at one weight budget (issue 21).

Each digit is a sequence of 28 tokens (its rows, 28 pixels each), normalised as in RAD. Every model has the
same token embedding (a linear 28 -> d map plus a learned position vector per row) and the same head (a
linear d -> 10 map of the mean token); only the body differs, and the budget counts the body's weights:

* ``encoder``: an ``nn.TransformerEncoder`` (pre-norm, final LayerNorm, no dropout); its weight matrices are
  the budget;
* ``encoder-as-map``: the same encoder (same initial weights) as an iterative map, ``from_transformer``;
* ``continuum ff=k``: the same encoder with a feed-forward width ``k`` instead, as a map, its empty blocks
  among the groups (and from the input) filled at one common density to the budget
  (``fill(budget=..., include_input=True)``): part of the budget moves from the transformer's blocks into
  masked token-wise linear blocks, including recurrent ones above the diagonal;
* ``token-wise map``: no attention or feed-forward block at all, the whole budget spread over masked
  token-wise blocks with ReLU groups: the far end, where tokens never exchange information inside the body.

Every map is iterated 2 x layers times from a zero initial state.

Run:  nice -n 10 .venv/bin/python experiments/continuum_transformer.py --mnist-dir <MNIST idx files> --seeds 3
"""

from __future__ import annotations

import argparse
import statistics
import warnings

import numpy as np
import torch
from torch import nn

from balancedrnn import IterativeMap
from balancedrnn.core.masks import MaskedBlock
from balancedrnn.tasks.mnist import load_mnist
from balancedrnn.tasks.rad import MEAN, STD
from _common import Parser, check_training_args, one_line_errors  # siblings: experiments/ is on the path
from continuum_mnist import train_eval

ROWS = 28


class RowClassifier(nn.Module):
    """Token embedding, a body on (batch, 28, d) token sequences, and a head on the mean token."""

    def __init__(self, body: nn.Module, d: int, seed: int) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(10_000 + seed)  # the same embedding and head for every body
        self.embed = nn.Linear(ROWS, d)
        self.pos = nn.Parameter(torch.randn(1, ROWS, d, generator=gen) * 0.02)
        self.head = nn.Linear(d, 10)
        with torch.no_grad():
            for lin in (self.embed, self.head):
                bound = lin.in_features ** -0.5
                lin.weight.uniform_(-bound, bound, generator=gen)
                lin.bias.uniform_(-bound, bound, generator=gen)
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.embed(x) + self.pos).mean(1))


def make_encoder(d: int, heads: int, ff: int, layers: int, seed: int) -> nn.TransformerEncoder:
    torch.manual_seed(seed)
    layer = nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, batch_first=True, norm_first=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # enable_nested_tensor does not apply to pre-norm layers
        return nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(d))


def body_weights(body: nn.Module) -> int:
    """Weights of a body by the map's one counting rule (an encoder is counted as its map, sharing its modules)."""
    return (body if isinstance(body, IterativeMap) else IterativeMap.from_transformer(body)).weights


def token_wise_map(d: int, layers: int, budget: int, seed: int) -> IterativeMap:
    """The far end of the continuum: only masked token-wise blocks, ReLU on every computed group."""
    names = ["x"] + [f"{k}{i}" for i in range(1, layers + 1) for k in ("a", "f")]
    imap = IterativeMap({g: d for g in names}, {("x", "x"): "identity"}, activation={g: "relu" for g in names[1:-1]},
                        bias=True, output=names[-1], iterations=2 * layers, tokens=True, seed=seed)
    return imap.fill(budget=budget, include_input=True, seed=seed + 1000)


def main() -> None:
    p = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mnist-dir", default=None)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed+seeds-1 (split a run)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--d", type=int, default=16)
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--ff", type=int, default=32, help="feed-forward width of the full encoder (sets the budget)")
    p.add_argument("--ffs", type=int, nargs="*", default=[16, 4], help="feed-forward widths of the filled maps")
    args = p.parse_args()
    check_training_args(p, args)
    for name in ("d", "heads", "layers", "ff"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.d % args.heads:
        p.error(f"--d {args.d} must be a multiple of --heads {args.heads} (each head gets d / heads features)")
    for ff in args.ffs:
        if not 1 <= ff <= args.ff:
            p.error(f"--ffs must lie in [1, --ff {args.ff}] (a wider encoder would hold more than the budget), got {ff}")
    torch.set_num_threads(args.threads)
    with one_line_errors():
        mnist = load_mnist(args.mnist_dir)
    images = torch.from_numpy(mnist.images).float().div_(255.0).sub_(MEAN).div_(STD)  # (N, 28 rows, 28 pixels)
    labels = torch.from_numpy(mnist.labels)
    order = torch.from_numpy(np.random.default_rng(0).permutation(len(labels)))
    n_test = len(order) // 5
    data = {"train": (images[order[n_test:]], labels[order[n_test:]]), "test": (images[order[:n_test]], labels[order[:n_test]])}
    d, heads, layers = args.d, args.heads, args.layers
    budget = body_weights(make_encoder(d, heads, args.ff, layers, 0))
    outside = sum(int(t.numel()) for t in RowClassifier(nn.Identity(), d, 0).parameters())
    print(f"data: {mnist.source}; {len(order) - n_test} train / {n_test} test digits as 28 rows of 28 pixels; "
          f"encoder d={d}, {heads} heads, {layers} layers, ff {args.ff}, pre-norm; budget {budget:,} body weights "
          f"(+{outside:,} embedding and head parameters in every model); {args.epochs} epochs, Adam lr {args.lr}, "
          f"batch {args.batch}, {args.seeds} seeds, {args.threads} thread(s)", flush=True)
    rows: dict[str, list[float]] = {}
    info: dict[str, tuple[int, int, float]] = {}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        bodies: dict[str, nn.Module] = {
            "encoder": make_encoder(d, heads, args.ff, layers, seed),
            "encoder-as-map": IterativeMap.from_transformer(make_encoder(d, heads, args.ff, layers, seed)),
        }
        for ff in args.ffs:
            imap = IterativeMap.from_transformer(make_encoder(d, heads, ff, layers, seed))
            bodies[f"continuum ff={ff}"] = imap.fill(budget=budget, include_input=True, seed=seed + 1000)
        bodies["token-wise map"] = token_wise_map(d, layers, budget, seed)
        for name, body in bodies.items():
            model = RowClassifier(body, d, seed)
            n_weights = body_weights(body)
            filled = sum(b.nnz for b in body.modules() if isinstance(b, MaskedBlock))
            in_pattern = n_weights - filled
            params = sum(int(t.numel()) for t in body.parameters())
            acc, secs = train_eval(model, data, args.epochs, args.lr, args.batch, seed)
            rows.setdefault(name, []).append(acc)
            info[name] = (n_weights, params, in_pattern / n_weights)
            print(f"seed {seed} {name:<18} test accuracy {acc:.4f}  ({n_weights:,} weights, "
                  f"{in_pattern / n_weights:.0%} in transformer blocks, {secs:.0f} s)", flush=True)
    print(f"\n| model | body weights | body parameters | share in transformer blocks | test accuracy "
          f"(mean ± std over {args.seeds} seeds) |\n|---|---|---|---|---|")
    for name, accs in rows.items():
        spread = f" ± {statistics.stdev(accs):.4f}" if len(accs) > 1 else ""  # one seed: no spread measured
        w, n_params, share = info[name]
        print(f"| {name} | {w:,} | {n_params:,} | {share:.0%} | {statistics.mean(accs):.4f}{spread} |")


if __name__ == "__main__":
    main()
