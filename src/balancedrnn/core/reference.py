"""The block RNN of SPEC §2 written out plainly: the maths beside the fast path (``recurrence.py``, ``ops.py``).

Slow (a Python loop over dense blocks, autograd through every step) and obviously right; the tests hold the
fast path to it, outputs and every gradient. Read this first.
"""

from __future__ import annotations

from typing import Any

import torch

from .model import ACTIVATIONS


def reference_forward(model: Any, x: torch.Tensor) -> torch.Tensor:
    """y at every step for input ``(batch, T, dx)`` from a :class:`~balancedrnn.core.model.BlockRNN`'s blocks."""
    w = {name: model.blocks[name].dense() for name in ("hx", "hh", "hy", "yx", "yh", "yy")}  # zeros off the masks
    act = ACTIVATIONS[model.activation]
    b_h, b_y = model.bias[: model.dh], model.bias[model.dh :]
    h = x.new_zeros(x.shape[0], model.dh)  # h_0 = 0
    y = x.new_zeros(x.shape[0], model.dy)  # y_0 = 0
    outs = []
    for t in range(x.shape[1]):
        h_new = act(x[:, t] @ w["hx"].T + h @ w["hh"].T + y @ w["hy"].T + b_h)  # h_{t+1}
        h_read = h if model.readout == "lagged" else h_new  # the paper's lagged readout reads h_t
        y = x[:, t] @ w["yx"].T + h_read @ w["yh"].T + y @ w["yy"].T + b_y  # y_{t+1}
        h = h_new
        outs.append(y)
    return torch.stack(outs, 1)
