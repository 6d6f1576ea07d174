"""The block patterns of an MLP, a block RNN and a transformer encoder as iterative maps, side by side (issue 21).

Each panel is one block matrix of functions (rows: the group computed, columns: the group read) drawn from the
real maps that ``IterativeMap.from_mlp``, ``from_block_rnn`` and ``from_transformer`` build (a 2-layer post-norm
encoder with a final norm), with each group's activation ("post" function) beside its row. The last panel is the transformer after ``fill``: its empty
blocks hold masked token-wise linear maps, moving it toward a general iterative map.

Run:  .venv/bin/python experiments/continuum_diagram.py   (writes docs/img/continuum_blocks.png)
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from torch import nn

from balancedrnn import BlockRNN, IterativeMap
from balancedrnn.core.itermap import BlockSum, FeedForward, SelfAttention
from balancedrnn.core.masks import MaskedBlock
from balancedrnn.core.spec import BlockSpec
from balancedrnn.io import atomic_write

COLORS = {"identity": "#d9d9d9", "linear": "#6baed6", "masked": "#c6dbef", "attention": "#fd8d3c",
          "feed-forward": "#74c476", "filled": "#efe3ff"}


def label(block: nn.Module) -> tuple[str, str]:
    """Text and colour key of a block."""
    if isinstance(block, BlockSum):
        parts = [label(t) for t in block.terms]
        kinds = [k for _, k in parts if k != "identity"]
        return " + ".join(t for t, _ in parts), kinds[0] if kinds else "identity"
    if isinstance(block, nn.Identity):
        return "I", "identity"
    if isinstance(block, nn.Linear):
        return "W", "linear"
    if isinstance(block, MaskedBlock):
        return f"W\n{block.density:.2g}", "masked"
    if isinstance(block, SelfAttention):
        return "Attn∘LN" if block.norm is not None else "Attn", "attention"
    if isinstance(block, FeedForward):
        return "FF∘LN" if block.norm is not None else "FF", "feed-forward"
    return type(block).__name__, "linear"


def post_label(imap: IterativeMap, group: str) -> str:
    name = imap.activation_names[group]
    return {"identity": "", "LayerNorm": "LN", "Sequential": "LN, final LN"}.get(name, name)


def maps() -> list[tuple[str, IterativeMap, set]]:
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    rnn = BlockRNN(BlockSpec(8, 6, 3, {"hx": 0.5, "hh": 0.5, "hy": 0.5, "yx": 0.5, "yh": 0.5, "yy": 0.5}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True), 2,
                                    norm=nn.LayerNorm(8)).eval()  # post-norm, as PyTorch's default layer
    tr = IterativeMap.from_transformer(enc)
    filled = IterativeMap.from_transformer(enc, share=False)
    before = set(filled.pairs)
    filled.fill(0.3, seed=0)
    return [("MLP  (from_mlp)", IterativeMap.from_mlp(mlp), set()),
            ("block RNN  (from_block_rnn)", IterativeMap.from_block_rnn(rnn), set()),
            ("post-norm transformer encoder  (from_transformer)", tr, set()),
            ("transformer + fill(0.3)", filled, set(filled.pairs) - before)]


def draw(ax: plt.Axes, title: str, imap: IterativeMap, filled: set) -> None:
    names = list(imap.groups)
    n = len(names)
    for r, out in enumerate(names):
        for c, inp in enumerate(names):
            pair = (out, inp)
            if pair in imap.pairs:
                text, kind = label(imap.block(out, inp))
                color = COLORS["filled"] if pair in filled else COLORS[kind]
            else:
                text, color = "", "white"
            ax.add_patch(plt.Rectangle((c, r), 1, 1, facecolor=color, edgecolor="#555555", lw=0.8))
            if text:
                size = 7 if len(text) > 8 else 9
                ax.text(c + 0.5, r + 0.5, text.replace(" + ", "\n+ "), ha="center", va="center", fontsize=size)
        post = post_label(imap, out)
        if post:
            ax.text(n + 0.15, r + 0.5, post, ha="left", va="center", fontsize=8, color="#333333")
    ax.set_xlim(0, n + 1.2)
    ax.set_ylim(n, 0)
    ax.set_xticks([i + 0.5 for i in range(n)], names)
    ax.set_yticks([i + 0.5 for i in range(n)], names)
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=10, pad=22)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "img" / "continuum_blocks.png"))
    args = p.parse_args()
    torch.set_num_threads(1)
    panels = maps()
    fig, axes = plt.subplots(1, len(panels), figsize=(19, 5.4), gridspec_kw={"width_ratios": [5.2, 4.2, 6.2, 6.2]})
    for ax, (title, imap, filled) in zip(axes, panels):
        draw(ax, title, imap, filled)
    handles = [plt.Rectangle((0, 0), 1, 1, facecolor=c, edgecolor="#555555") for c in COLORS.values()]
    fig.legend(handles, ["identity", "dense linear W", "masked sparse W (density)", "self-attention",
                         "feed-forward", "filled by fill()"], loc="lower center", ncol=6, frameon=False, fontsize=9)
    fig.text(0.5, 0.1, "rows: group computed, columns: group read; right of a row: its activation (post function). "
             "One iteration updates every group from the previous state.", ha="center", fontsize=9, color="#333333")
    fig.subplots_adjust(left=0.03, right=0.99, top=0.85, bottom=0.17, wspace=0.25)
    try:  # whole or not at all: an interrupted or refused write leaves no truncated PNG behind
        atomic_write(args.out, lambda f: fig.savefig(f, format="png", dpi=130))
    except OSError as e:
        raise SystemExit(f"error: cannot write {args.out}: {e.strerror or e}") from None
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
