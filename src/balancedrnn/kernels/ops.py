"""The block RNN's recurrence as PyTorch custom operators, so ``torch.compile(model, fullgraph=True)`` traces a
model without a graph break, and a CUDA implementation has a place to go (``register_kernel("cuda")``).

``balancedrnn::block_rnn`` runs the whole sequence; ``balancedrnn::block_rnn_backward`` is its registered
backward. Both have fake implementations (shapes only), so the compiler can trace them. Their CPU
implementations are the same forward and backward passes as the eager path (``recurrence.py``), on the same
sparse dispatch (compiled C kernels, PyTorch's CSR operators, or dense), from each block's values and mask
indices. The eager path keeps its own autograd function, which reuses state buffers between calls (an operator's
outputs must be fresh tensors).
"""

from __future__ import annotations

import weakref
from typing import Any

import torch

from .dispatch import CSRPattern
from ..core.masks import MaskedBlock, scatter_dense
from .recurrence import NEEDS_PRE_ACTIVATION, READOUTS, _backward_pass, _BlockOps, _forward_pass, run_recurrence
from ..core.spec import BLOCKS

_KERNEL_CODE = {"dense": 0, "sparse": 1}
_KERNEL_NAME = {v: k for k, v in _KERNEL_CODE.items()}

_PATTERNS: dict[int, tuple[weakref.ref[torch.Tensor], tuple[Any, ...], CSRPattern]] = {}
"""CSR structure per mask-index tensor (by identity), valid while the tensor is unchanged (same storage, version
and size); entries of collected tensors are dropped."""


class _TensorBlock:
    """What :class:`recurrence._BlockOps` reads from a block, made from plain tensors (an operator's inputs)."""

    def __init__(self, rows: int, cols: int, index: torch.Tensor, values: torch.Tensor, kernel: str) -> None:
        self.rows, self.cols, self.index, self.values, self.kernel = rows, cols, index, values, kernel

    @property
    def nnz(self) -> int:
        return int(self.index.numel())

    def pattern(self) -> CSRPattern:
        key = (self.rows, self.cols, self.index.device, self.index.data_ptr(), self.index._version, self.index.numel())
        hit = _PATTERNS.get(id(self.index))
        if hit is None or hit[0]() is not self.index or hit[1] != key:
            for k in [k for k, (ref, _, _) in _PATTERNS.items() if ref() is None]:
                del _PATTERNS[k]
            hit = (weakref.ref(self.index), key, CSRPattern.from_index(self.rows, self.cols, self.index))
            _PATTERNS[id(self.index)] = hit
        return hit[2]

    def dense(self) -> torch.Tensor:
        return scatter_dense(self.values, self.index, self.rows, self.cols)


def _ops(values: list[torch.Tensor], index: list[torch.Tensor], shapes: list[int],
         kernels: list[int]) -> dict[str, _BlockOps]:
    return {name: _BlockOps(_TensorBlock(shapes[2 * i], shapes[2 * i + 1], index[i], values[i].detach(),  # type: ignore[arg-type]
                                         _KERNEL_NAME[kernels[i]]))
            for i, name in enumerate(BLOCKS)}


@torch.library.custom_op("balancedrnn::block_rnn", mutates_args=())
def _block_rnn(xs: torch.Tensor, h0: torch.Tensor, y0: torch.Tensor, bias: torch.Tensor, values: list[torch.Tensor],
               index: list[torch.Tensor], shapes: list[int], kernels: list[int], activation: str,
               readout: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """All states ``(h_0..h_T, y_0..y_T)`` and the pre-activations (empty unless the activation's backward needs
    them) for inputs ``xs`` ``(T, dx, batch)``; blocks in the order hx hh hy yx yh yy, ``shapes`` their (rows,
    cols), ``kernels`` 0 dense / 1 sparse."""
    steps, batch = xs.shape[0], xs.shape[2]
    dh, dy = h0.shape[0], y0.shape[0]
    h_all = xs.new_empty(steps + 1, dh, batch)
    y_all = xs.new_empty(steps + 1, dy, batch)
    h_all[0] = h0
    y_all[0] = y0
    keep = activation in NEEDS_PRE_ACTIVATION
    pre_all = xs.new_empty(steps, dh, batch) if keep else xs.new_empty(0)
    _forward_pass(xs.contiguous(), bias, _ops(values, index, shapes, kernels), activation, readout, h_all, y_all,
                  pre_all if keep else None)
    return h_all, y_all, pre_all


@_block_rnn.register_fake
def _(xs, h0, y0, bias, values, index, shapes, kernels, activation, readout):  # type: ignore[no-untyped-def]
    steps, batch = xs.shape[0], xs.shape[2]
    dh, dy = h0.shape[0], y0.shape[0]
    pre = xs.new_empty(steps, dh, batch) if activation in NEEDS_PRE_ACTIVATION else xs.new_empty(0)
    return xs.new_empty(steps + 1, dh, batch), xs.new_empty(steps + 1, dy, batch), pre


@torch.library.custom_op("balancedrnn::block_rnn_backward", mutates_args=())
def _block_rnn_backward(grad_h_all: torch.Tensor, grad_y_all: torch.Tensor, xs: torch.Tensor, h_all: torch.Tensor,
                        y_all: torch.Tensor, pre_all: torch.Tensor, values: list[torch.Tensor],
                        index: list[torch.Tensor], shapes: list[int], kernels: list[int], activation: str,
                        readout: str, needs: list[bool]) -> list[torch.Tensor]:
    """Gradients ``[xs, h_0, y_0, bias, *values]`` for the gradients of all states (entries not in ``needs``
    come back empty)."""
    ops = _ops(values, index, shapes, kernels)
    mid = grad_h_all if bool(grad_h_all[1:-1].ne(0).any()) else None
    grad_x, g_h0, g_y0, grad_bias = _backward_pass(
        ops, xs.contiguous(), h_all, y_all, pre_all if activation in NEEDS_PRE_ACTIVATION else None,
        grad_y_all[1:].contiguous(), grad_h_all[-1], activation, readout, needs[0], needs[1], needs[2], needs[3],
        {name: needs[4 + i] for i, name in enumerate(BLOCKS)}, mid)
    out = [grad_x if grad_x is not None else xs.new_empty(0),
           g_h0 + grad_h_all[0] if g_h0 is not None else xs.new_empty(0),
           g_y0 + grad_y_all[0] if g_y0 is not None else xs.new_empty(0),
           grad_bias if grad_bias is not None else xs.new_empty(0)]
    out += [ops[name].values_grad().clone() if needs[4 + i] else xs.new_empty(0) for i, name in enumerate(BLOCKS)]
    return out  # fresh tensors each: an operator's outputs may not alias one another


@_block_rnn_backward.register_fake
def _(grad_h_all, grad_y_all, xs, h_all, y_all, pre_all, values, index, shapes, kernels, activation, readout, needs):  # type: ignore[no-untyped-def]
    dh, dy = h_all.shape[1], y_all.shape[1]
    like = [xs, h_all[0], y_all[0], xs.new_empty(dh + dy), *values]
    return [t.new_empty(t.shape) if need else xs.new_empty(0) for t, need in zip(like, needs)]


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[torch.Tensor, ...]) -> None:
    xs, h0, y0, bias, values, index, shapes, kernels, activation, readout = inputs
    h_all, y_all, pre_all = output
    ctx.save_for_backward(xs, h_all, y_all, pre_all, *values, *index)
    ctx.meta = (len(values), list(shapes), list(kernels), activation, readout)


def _backward(ctx: Any, grad_h_all: torch.Tensor, grad_y_all: torch.Tensor, grad_pre: torch.Tensor) -> tuple[Any, ...]:
    n, shapes, kernels, activation, readout = ctx.meta
    xs, h_all, y_all, pre_all, *rest = ctx.saved_tensors
    values, index = rest[:n], rest[n:]
    need_x, need_h0, need_y0, need_bias, need_values = ctx.needs_input_grad[:5]
    needs = [bool(need_x), bool(need_h0), bool(need_y0), bool(need_bias), *(bool(v) for v in need_values)]
    grads = torch.ops.balancedrnn.block_rnn_backward(grad_h_all, grad_y_all, xs, h_all, y_all, pre_all, values,
                                                    index, shapes, kernels, activation, readout, needs)
    opt = [g if need else None for g, need in zip(grads, needs)]
    return (opt[0], opt[1], opt[2], opt[3], opt[4:], [None] * n, None, None, None, None)


_block_rnn.register_autograd(_backward, setup_context=_setup_context)


def block_rnn(xs: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor], bias: torch.Tensor,
              blocks: dict[str, MaskedBlock] | Any, activation: str, readout: str,
              workspace: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Every y ``(T, dy, batch)`` and the last h for inputs ``xs`` ``(T, dx, batch)`` from ``state``: the eager
    path (``recurrence.run_recurrence``, reusing ``workspace``'s buffers), or under ``torch.compile`` the custom
    operator, which traces without a graph break. Both compute the same numbers."""
    if readout not in READOUTS:  # as run_recurrence checks: the passes would run any other word as "current"
        raise ValueError(f"unknown readout {readout!r}; expected {' or '.join(map(repr, READOUTS))}")
    if not torch.compiler.is_compiling():
        return run_recurrence(xs, state, bias, blocks, activation, readout, workspace)
    h0, y0 = state
    h_all, y_all, _ = torch.ops.balancedrnn.block_rnn(
        xs, h0, y0, bias, [blocks[n].values for n in BLOCKS], [blocks[n].index for n in BLOCKS],
        [d for n in BLOCKS for d in (blocks[n].rows, blocks[n].cols)],
        [_KERNEL_CODE[blocks[n].kernel] for n in BLOCKS], activation, readout)
    return y_all[1:], h_all[-1]
