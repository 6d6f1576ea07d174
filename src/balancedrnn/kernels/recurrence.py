"""The block RNN over a whole sequence as one autograd function, with back-propagation through time written
out.

For inputs ``x_1 .. x_T`` this runs

``h_{t+1} = act(W_hx x_{t+1} + W_hh h_t + W_hy y_t + b_h)``,
``y_{t+1} =     W_yx x_{t+1} + W_yh h_t + W_yy y_t + b_y``   (lagged readout; ``current`` reads h_{t+1})

and returns every y. Autograd through a Python loop of per-block products records a dozen nodes per step,
allocates a fresh result for each, and stacks per-step gradients at the end. Here every row is written in
place into preallocated buffers (the states of all steps in one buffer kept between calls), the backward loop
reuses two gradient buffers, and each block's weight gradient accumulates in one buffer (for a sparse block a
sampled product per step, so its cost follows the non-zeros). On the compiled kernels (``native.py``) a sparse
block's backward product and weight gradient are one pass, and with a ReLU and the lagged readout that pass
also takes W_yh, the ReLU's derivative and the bias gradient: one call per step for the h-column. Each step
computes its input terms itself: on CPU this measured faster than one product over all steps plus the buffer it needs (docs/benchmarks.md). The
outputs and every gradient equal autograd's through the plain loop (tests/test_recurrence.py).
"""

from __future__ import annotations

from typing import Any

import torch

from .dispatch import no_double_backward, sparse_plan
from .native import NativeCSR
from ..core.masks import MaskedBlock
from ..core.spec import BLOCKS


# Backward of each activation written into ``out``: out = grad * act'(pre), from its output (or, for gelu, its
# input).
_ACT_BACKWARD: dict[str, Any] = {
    "relu": lambda g, pre, post, out: torch.ops.aten.threshold_backward.grad_input(g, post, 0, grad_input=out),
    "tanh": lambda g, pre, post, out: torch.ops.aten.tanh_backward.grad_input(g, post, grad_input=out),
    "sigmoid": lambda g, pre, post, out: torch.ops.aten.sigmoid_backward.grad_input(g, post, grad_input=out),
    "gelu": lambda g, pre, post, out: torch.ops.aten.gelu_backward.grad_input(g, pre, grad_input=out),
    "identity": lambda g, pre, post, out: g,
}
_ACT_FORWARD: dict[str, Any] = {
    "relu": torch.relu_,
    "tanh": torch.tanh_,
    "sigmoid": torch.sigmoid_,
    "identity": lambda t: t,
}
NEEDS_PRE_ACTIVATION = ("gelu",)
READOUTS: tuple[str, ...] = ("lagged", "current")
"""The readouts a block RNN offers (``core.model.Readout``): the y-row reads h_t, or h_{t+1}."""


class _BlockOps:
    """In-place products with one block's current values for one call, and the accumulated gradient of its
    values: the CSR kernels for a sparse block (dense fallback on devices without them), the masked dense
    matrix otherwise. Everything writes into preallocated buffers: a fresh megabyte-sized result per step
    costs as much as the sparse product itself (measured, docs/benchmarks.md)."""

    def __init__(self, block: MaskedBlock) -> None:
        self.block = block
        self.empty = block.nnz == 0
        values = block.values.detach()
        self.native: NativeCSR | None = None
        self.sparse = False
        if not self.empty and block.kernel == "sparse":
            self.pattern = block.pattern()
            backend, self.native = sparse_plan(self.pattern, values)
            self.sparse = backend != "dense"
            if backend == "torch":
                self.m = self.pattern.matrix(values)
        if not self.empty and not self.sparse:
            self.m = block.dense().detach()
        self._mt: torch.Tensor | None = None
        self.grad: torch.Tensor | None = None
        self.grad_transposed = False

    @property
    def mt(self) -> torch.Tensor:
        """``W.T`` (built on first use: only the backward pass needs it)."""
        if self._mt is None:
            self._mt = self.pattern.matrix_t(self.m.values()) if self.sparse else self.m.t()
        return self._mt

    def write(self, out: torch.Tensor, acc: torch.Tensor | None, x: torch.Tensor, transpose: bool) -> None:
        """``out = acc + W @ x`` (``W.T`` if ``transpose``; ``acc`` None means zero, it may be ``out``)."""
        if self.native is not None and not transpose:
            self.native.mm(x, out, acc)
            return
        w = self.mt if transpose else self.m
        if acc is out:
            out.addmm_(w, x)
        elif acc is None:
            torch.addmm(out, w, x, beta=0.0, out=out)
        else:
            torch.addmm(acc, w, x, out=out)

    def add_to(self, out: torch.Tensor, x: torch.Tensor) -> None:
        """``out += W @ x``."""
        if self.native is not None:
            self.native.mm(x, out, out)
            return
        out.addmm_(self.m, x)

    def backward(self, g: torch.Tensor, x: torch.Tensor, out: torch.Tensor | None, acc: torch.Tensor | None,
                 grad: bool, also: tuple[_BlockOps, torch.Tensor, bool] | None = None,
                 relu_mask: torch.Tensor | None = None, rowsum: torch.Tensor | None = None) -> None:
        """One step of this block's backward pass, for its output gradient ``g`` and its input ``x``:
        ``out = acc + W.T @ g`` (skipped if ``out`` is None; ``acc`` None means zero, it may be ``out``) and,
        if ``grad``, the values' gradient ``+= g @ x.T`` at the mask. The compiled kernels do both in one pass
        over the block, loading each row of ``g`` once. Only they take the rest: ``also = (block, g2, grad2)``,
        a second block reading the same input, joins the pass; ``relu_mask`` and ``rowsum`` turn ``out`` into
        the next ReLU pre-activation's gradient and add its row sums (see ``NativeCSR.mm_t_sddmm``)."""
        if self.native is not None:
            if out is None:
                if grad and self.grad is not None and self.grad_transposed:
                    self.native.mm_t_sddmm(g, x, self.grad, None)
                elif grad:
                    self.native.sddmm(g, x, self._native_grad(g, transposed=False))
                return
            second = None
            if also is not None:
                op2, g2, grad2 = also
                assert op2.native is not None
                second = (op2.native, g2, op2._native_grad(g2, transposed=True) if grad2 else None)
            self.native.mm_t_sddmm(g, x, self._native_grad(g, transposed=True) if grad else None, out, acc,
                                   also=second, relu_mask=relu_mask, rowsum=rowsum)
            return
        assert also is None and relu_mask is None and rowsum is None, "only the compiled kernels fuse these"
        if grad:
            self.accumulate(g, x)
        if out is not None:
            self.write(out, acc, g, transpose=True)

    def _native_grad(self, g: torch.Tensor, transposed: bool) -> torch.Tensor:
        """The values' gradient buffer of a block on the compiled kernels. Its entries are in W's row order for
        a block whose transposed product is never needed, else in the transposed block's order (as the fused
        kernel writes them); the first call decides, and a later transposed call converts it."""
        if self.grad is None:
            self.grad = g.new_zeros(self.block.nnz)
            self.grad_transposed = transposed
        elif transposed and not self.grad_transposed:
            assert self.native is not None
            self.grad = self.grad[self.native.perm_t].contiguous()
            self.grad_transposed = True
        return self.grad

    def accumulate(self, g: torch.Tensor, x: torch.Tensor) -> None:
        """Add ``g @ x.T`` (only at the mask for a sparse block) to the values' gradient."""
        if self.empty:
            return
        if self.sparse:
            if self.grad is None:
                self.grad = self.pattern.matrix(self.block.values.detach().new_zeros(self.block.nnz))
            torch.sparse.sampled_addmm(self.grad, g, x.t(), out=self.grad)
        elif self.grad is None:
            self.grad = torch.mm(g, x.t())
        else:
            self.grad.addmm_(g, x.t())

    def values_grad(self) -> torch.Tensor:
        """Gradient of the block's non-zero values."""
        if self.grad is None:
            return torch.zeros_like(self.block.values)
        if self.native is not None:
            return self.native.grad_from_t(self.grad) if self.grad_transposed else self.grad
        if self.sparse:
            return self.grad.values()
        return self.grad.reshape(-1)[self.block.index]


def _row_into(out: torch.Tensor, acc: torch.Tensor | None, terms: tuple[tuple[_BlockOps, torch.Tensor], ...]) -> torch.Tensor:
    """``out = acc + sum(W @ x for W, x in terms)`` in place (empty blocks skipped, ``acc`` None means zero).
    Returns ``out``."""
    first = True
    for op, x in terms:
        if op.empty:
            continue
        if first:
            op.write(out, acc, x, transpose=False)
            first = False
        else:
            op.add_to(out, x)
    if first:
        out.copy_(acc) if acc is not None else out.zero_()
    return out


def _backward_row(out: torch.Tensor | None, acc: torch.Tensor | None,
                  terms: tuple[tuple[_BlockOps, torch.Tensor, torch.Tensor, bool], ...]) -> torch.Tensor | None:
    """``out = acc + sum(W.T @ g)`` over the terms ``(W, g, x, grad)`` in place (``out`` None: only the weight
    gradients; ``acc`` None means zero, it may be ``out``), and each block's values' gradient ``+= g @ x.T``
    where ``grad``. Returns ``out``."""
    first = True
    for op, g, x, grad in terms:
        if op.empty:
            continue
        if out is None:
            if grad:
                op.backward(g, x, None, None, True)
            continue
        op.backward(g, x, out, acc if first else out, grad)
        first = False
    if out is not None and first and acc is not out:
        out.copy_(acc) if acc is not None else out.zero_()
    return out


class Workspace:
    """Reusable buffers for one model's recurrence.

    A fresh tensor of tens of megabytes is mapped anew by the allocator and faults in every page on first
    write (measured: 36 ms for the 53 MB of states at dh 4,096, batch 64, 50 steps, about as long as all the
    sparse products of a step). A buffer is lent to one forward pass and comes back when its backward has run
    (or at once when nothing is saved). Autograd's version counter guards the saved states: a backward whose
    states were written by a later forward pass (``retain_graph``, then another forward) stops with an error."""

    def __init__(self, keep: int = 4) -> None:
        self.keep = keep
        self._free: list[torch.Tensor] = []

    def take(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """A buffer of ``shape`` with the dtype and device of ``like`` (contents undefined); outside
        ``torch.inference_mode`` never one made inside it (PyTorch forbids writing to those there)."""
        inference = torch.is_inference_mode_enabled()
        for i, buf in enumerate(self._free):
            if (buf.shape == shape and buf.dtype == like.dtype and buf.device == like.device
                    and (inference or not buf.is_inference())):
                return self._free.pop(i)
        return like.new_empty(shape)

    def give(self, buf: torch.Tensor) -> None:
        """Return a buffer no one reads any more; only the ``keep`` most recent are kept."""
        if all(b is not buf for b in self._free):
            self._free.insert(0, buf)
            del self._free[self.keep:]


def _forward_pass(xs: torch.Tensor, bias: torch.Tensor, ops: dict[str, _BlockOps], activation: str, readout: str,
                  h_all: torch.Tensor, y_all: torch.Tensor, pre_all: torch.Tensor | None) -> None:
    """Run the recurrence in place: ``h_all[0]`` and ``y_all[0]`` hold the initial state; every later step is
    written into ``h_all``, ``y_all`` (and the pre-activations into ``pre_all`` for activations whose backward
    needs them)."""
    dh = h_all.shape[1]
    b_h, b_y = bias[:dh, None], bias[dh:, None]
    act = _ACT_FORWARD.get(activation)
    # blocks on the compiled kernels first in each row: they take the bias (broadcast) for free, where a
    # dense product would first copy it into the row
    h_row = sorted(("hx", "hh", "hy"), key=lambda n: ops[n].native is None)
    y_row = sorted(("yx", "yh", "yy"), key=lambda n: ops[n].native is None)
    for t in range(xs.shape[0]):
        x, h, y = xs[t], h_all[t], y_all[t]
        pre = _row_into(pre_all[t] if pre_all is not None else h_all[t + 1], b_h,
                        tuple((ops[n], {"x": x, "h": h, "y": y}[n[1]]) for n in h_row))
        if pre_all is not None:
            h_all[t + 1] = torch.nn.functional.gelu(pre)
        else:
            act(pre)
        inputs = {"x": x, "h": h if readout == "lagged" else h_all[t + 1], "y": y}
        _row_into(y_all[t + 1], b_y, tuple((ops[n], inputs[n[1]]) for n in y_row))


def _backward_pass(ops: dict[str, _BlockOps], xs: torch.Tensor, h_all: torch.Tensor, y_all: torch.Tensor,
                   pre_all: torch.Tensor | None, grad_y: torch.Tensor, grad_h_last: torch.Tensor | None,
                   activation: str, readout: str, need_x: bool, need_h0: bool, need_y0: bool, need_bias: bool,
                   need: dict[str, bool], grad_h_mid: torch.Tensor | None = None
                   ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """Back-propagation through time for the outputs' gradients ``grad_y`` (``(T, dy, batch)``, for y_1..y_T)
    and ``grad_h_last`` (for h_T), plus, if given, ``grad_h_mid[t]`` for each h_t inside the sequence
    (``(T + 1, dh, batch)``; only 1..T-1 are read). Returns the gradients of the inputs, h_0, y_0 and the biases
    (None where not needed); the blocks' value gradients accumulate in ``ops``."""
    act_backward = _ACT_BACKWARD[activation]
    lagged = readout == "lagged"
    steps, dh, batch = h_all.shape[0] - 1, h_all.shape[1], h_all.shape[2]
    dy = y_all.shape[1]
    grad_x = xs.new_empty(xs.shape) if need_x else None
    grad_bias = h_all.new_zeros(dh + dy) if need_bias else None
    # work buffers, reused every step: gradients w.r.t. h and y (two of each, this step's and the next's)
    g_hs = [h_all.new_empty(dh, batch), h_all.new_empty(dh, batch)]
    g_ys = [y_all.new_empty(dy, batch), y_all.new_empty(dy, batch)]
    a_buf = h_all.new_empty(dh, batch)
    g_h = g_hs[0].copy_(grad_h_last) if grad_h_last is not None else g_hs[0].zero_()  # dL/dh_{t+1}
    g_y = g_ys[0].copy_(grad_y[steps - 1]) if steps else g_ys[0].zero_()  # dL/dy_{t+1}
    # With a ReLU, the lagged readout and W_hh on the compiled kernels, the pass that computes dL/dh_t also
    # applies the ReLU's derivative and sums the bias gradient, and W_yh (reading h_t too) joins it when it
    # is on them as well: one pass over the h-column instead of four. (Not when h_t has a gradient of its own.)
    fuse = lagged and activation == "relu" and ops["hh"].native is not None and grad_h_mid is None
    yh_joins = fuse and ops["yh"].native is not None
    a_next: torch.Tensor | None = None  # the next step's a, when the fused pass made it
    for t in range(steps - 1, -1, -1):
        x, h_prev, y_prev, h_new = xs[t], h_all[t], y_all[t], h_all[t + 1]
        b = g_y  # gradient of the y-row's pre-activation at step t
        if not lagged:  # y_{t+1} also read h_{t+1}
            _backward_row(g_h, g_h, ((ops["yh"], b, h_new, need["yh"]),))
        if a_next is not None:
            a = a_next
        else:
            a = act_backward(g_h, None if pre_all is None else pre_all[t], h_new, a_buf)
            if grad_bias is not None:
                grad_bias[:dh] += a.sum(1)
        if grad_bias is not None:
            grad_bias[dh:] += b.sum(1)
        _backward_row(grad_x[t] if grad_x is not None else None, None,
                      ((ops["hx"], a, x, need["hx"]), (ops["yx"], b, x, need["yx"])))
        # dL/dh_t and dL/dy_t, into the other buffers (for h_0 and y_0 only if asked for)
        nxt = (steps - t) % 2
        if fuse and t:
            out = g_hs[nxt]
            acc = None
            if not yh_joins and not ops["yh"].empty:
                ops["yh"].backward(b, h_prev, out, None, need["yh"])
                acc = out
            ops["hh"].backward(a, h_prev, out, acc, need["hh"],
                               also=(ops["yh"], b, need["yh"]) if yh_joins else None, relu_mask=h_prev,
                               rowsum=grad_bias[:dh] if grad_bias is not None else None)
            a_next = out
        else:
            hh_terms = ((ops["hh"], a, h_prev, need["hh"]),)
            if lagged:
                hh_terms += ((ops["yh"], b, h_prev, need["yh"]),)
            g_h = _backward_row(g_hs[nxt] if t or need_h0 else None, None, hh_terms)  # type: ignore[assignment]
            if grad_h_mid is not None and t:
                g_h.add_(grad_h_mid[t])
            a_next = None
        g_y = _backward_row(g_ys[nxt] if t or need_y0 else None, grad_y[t - 1] if t else None,  # type: ignore[assignment]
                            ((ops["hy"], a, y_prev, need["hy"]), (ops["yy"], b, y_prev, need["yy"])))
    return grad_x, g_h if need_h0 else None, g_y if need_y0 else None, grad_bias


class _Recurrence(torch.autograd.Function):
    """The eager path: state buffers lent by the model's :class:`Workspace`, kept between calls."""

    @staticmethod
    def forward(ctx: Any, xs: torch.Tensor, h0: torch.Tensor, y0: torch.Tensor, bias: torch.Tensor,
                blocks: dict[str, MaskedBlock], activation: str, readout: str, workspace: Workspace, saves: bool,
                *values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        dh, batch, dy = h0.shape[0], h0.shape[1], y0.shape[0]
        steps = xs.shape[0]
        ops = {name: _BlockOps(blocks[name]) for name in BLOCKS}
        h_all = workspace.take((steps + 1, dh, batch), xs)  # h_0 .. h_T, written in place
        y_all = xs.new_empty(steps + 1, dy, batch)  # y_0 .. y_T (returned: not a workspace buffer)
        h_all[0] = h0
        y_all[0] = y0
        pre_all = workspace.take((steps, dh, batch), xs) if activation in NEEDS_PRE_ACTIVATION else None
        _forward_pass(xs, bias, ops, activation, readout, h_all, y_all, pre_all)
        h_last = h_all[steps].clone()
        if saves:
            ctx.ops, ctx.activation, ctx.readout, ctx.workspace = ops, activation, readout, workspace
            ctx.save_for_backward(xs, h_all, y_all, pre_all, *values)  # values: autograd's check of in-place writes
        else:
            workspace.give(h_all)
            if pre_all is not None:
                workspace.give(pre_all)
        return y_all[1:], h_last

    @staticmethod
    def backward(ctx: Any, grad_y: torch.Tensor | None, grad_h_last: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        no_double_backward("the block RNN's recurrence",
                           "IterativeMap.from_block_rnn(model).set_kernel('dense'), the same model on plain autograd")
        xs, h_all, y_all, pre_all, *_ = ctx.saved_tensors
        ops: dict[str, _BlockOps] = ctx.ops
        needs = ctx.needs_input_grad
        if grad_y is None:
            grad_y = y_all.new_zeros(y_all.shape[0] - 1, *y_all.shape[1:])
        need = {name: bool(needs[9 + i]) for i, name in enumerate(BLOCKS)}
        for op in ops.values():  # a retained graph's second backward starts its weight gradients from zero
            op.grad, op.grad_transposed = None, False
        grad_x, g_h0, g_y0, grad_bias = _backward_pass(
            ops, xs, h_all, y_all, pre_all, grad_y.contiguous(), grad_h_last, ctx.activation, ctx.readout,
            needs[0], needs[1], needs[2], needs[3], need)
        ctx.workspace.give(h_all)
        if pre_all is not None:
            ctx.workspace.give(pre_all)
        grads = tuple(ops[name].values_grad() if needs[9 + i] else None for i, name in enumerate(BLOCKS))
        return (grad_x, g_h0, g_y0, grad_bias, None, None, None, None, None, *grads)


def run_recurrence(xs: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor], bias: torch.Tensor,
                   blocks: dict[str, MaskedBlock] | Any, activation: str, readout: str,
                   workspace: Workspace | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the block RNN over inputs ``xs`` ``(T, dx, batch)`` (each step's inputs in column layout) from
    ``state = (h_0, y_0)`` (``(dh, batch)``, ``(dy, batch)``) with biases ``bias`` (h rows first). Returns every
    y, ``(T, dy, batch)``, and the last h; differentiable in the inputs, the state, the biases and every block's
    values (eagerly: one autograd function with buffers reused between calls; ``ops.block_rnn`` is the entry point
    that also compiles)."""
    if activation not in _ACT_BACKWARD:
        raise ValueError(f"unknown activation {activation!r}; known: {', '.join(_ACT_BACKWARD)}")
    if readout not in READOUTS:  # the passes test for "lagged": any other word ran the current readout
        raise ValueError(f"unknown readout {readout!r}; expected {' or '.join(map(repr, READOUTS))}")
    values = [blocks[name].values for name in BLOCKS]
    h0, y0 = state
    saves = torch.is_grad_enabled() and any(t.requires_grad for t in (xs, h0, y0, bias, *values))
    return _Recurrence.apply(xs.contiguous(), h0, y0, bias, {n: blocks[n] for n in BLOCKS}, activation, readout,
                             workspace if workspace is not None else Workspace(), saves, *values)
