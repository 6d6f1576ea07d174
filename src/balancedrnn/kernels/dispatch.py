"""Sparse kernels for masked blocks: cost proportional to the non-zeros.

A block on the sparse kernel is stored as CSR (and its transpose). On the CPU its products run on the compiled
kernels of ``native.py`` (the forward product; the backward product fused with the weight gradient at the
mask) wherever a C compiler is available, else on PyTorch's CSR operators: the forward product with the CSR
matrix, the input gradient with the transposed one, and the gradient of the values only at the masked positions
with a sampled dense-dense product (``torch.sparse.sampled_addmm``). Neither pass touches a dense block.

``sparse_matmul(values, x, pattern)`` computes ``x @ W.T`` for a block ``W`` with non-zero ``values`` (in
row-major order of the mask). ``choose_kernel`` decides dense or sparse per block from its density and shape
(the crossover measured by ``benchmarks/sparse.py`` for the backend in use; see docs/benchmarks.md).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch

if TYPE_CHECKING:
    from .native import NativeCSR

Kernel = Literal["dense", "sparse"]
KernelChoice = Literal["auto", "dense", "sparse"]

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")


@dataclass(frozen=True)
class CSRPattern:
    """CSR structure of a mask (rows x cols) and of its transpose, on one device."""

    rows: int
    cols: int
    crow: torch.Tensor
    col: torch.Tensor
    crow_t: torch.Tensor
    col_t: torch.Tensor
    perm_t: torch.Tensor
    """``values[perm_t]`` are the values of the transposed block in its CSR order."""

    @classmethod
    def from_index(cls, rows: int, cols: int, index: torch.Tensor) -> CSRPattern:
        """Pattern of the sorted flat (row-major) indices ``index``."""
        r = torch.div(index, cols, rounding_mode="floor")
        c = index - r * cols
        crow = torch.zeros(rows + 1, dtype=torch.int64, device=index.device)
        crow[1:] = torch.cumsum(torch.bincount(r, minlength=rows), 0)
        perm_t = torch.argsort(c * rows + r)
        crow_t = torch.zeros(cols + 1, dtype=torch.int64, device=index.device)
        crow_t[1:] = torch.cumsum(torch.bincount(c, minlength=cols), 0)
        # int32 indices when they fit: the CPU CSR kernels (MKL) take int32 and would convert int64 every call
        it = torch.int32 if max(rows, cols, index.numel()) < 2**31 - 1 else torch.int64
        return cls(rows, cols, crow.to(it), c.to(it).contiguous(), crow_t.to(it), r[perm_t].to(it).contiguous(), perm_t)

    def matrix(self, values: torch.Tensor) -> torch.Tensor:
        """The block as a CSR tensor with these values."""
        return torch.sparse_csr_tensor(self.crow, self.col, values, (self.rows, self.cols), check_invariants=False)

    def matrix_t(self, values: torch.Tensor) -> torch.Tensor:
        """The transposed block as a CSR tensor."""
        return torch.sparse_csr_tensor(
            self.crow_t, self.col_t, values[self.perm_t], (self.cols, self.rows), check_invariants=False
        )


def sparse_plan(pattern: CSRPattern, values: torch.Tensor) -> tuple[str, NativeCSR | None]:
    """Where a sparse block's products run, decided once per pass: ``native`` (the compiled kernels, with their
    copy of the block), ``torch`` (PyTorch's CSR operators) or ``dense`` (a device or dtype without sparse
    products). The one dispatch both the recurrence and :class:`SparseOperator` use."""
    if not csr_supported(values.device, values.dtype):
        return "dense", None
    nat = native_csr(pattern, values.detach())
    return ("native", nat) if nat is not None else ("torch", None)


class SparseOperator:
    """``x -> x @ W.T`` for one block during one forward pass: the CSR matrix (or the compiled kernels' copy of
    the block) is built once, the transposed one at most once (in the first backward), and reused by every
    time step."""

    def __init__(self, values: torch.Tensor, pattern: CSRPattern) -> None:
        self.values, self.pattern = values, pattern
        self.backend, self.native = sparse_plan(pattern, values)
        self.matrix = pattern.matrix(values.detach()) if self.backend == "torch" else None
        self._matrix_t: torch.Tensor | None = None

    def matrix_t(self) -> torch.Tensor:
        if self._matrix_t is None:
            self._matrix_t = self.pattern.matrix_t(self.values.detach())
        return self._matrix_t

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``x @ W.T`` for ``x`` of shape ``(n, cols)``, of the block's dtype (as ``x @ w.t()`` asks of a dense
        block: the compiled kernels cast the block to ``x``'s dtype, so an integer ``x`` truncated it)."""
        if x.dtype != self.values.dtype:
            raise RuntimeError(f"expected x of the block's dtype {self.values.dtype}, got {x.dtype}")
        if self.backend == "native" and x.device.type == "cpu":
            return _NativeMatmul.apply(self.values, x, self)
        if self.backend == "torch":
            return _SparseMatmul.apply(self.values, x, self)
        p = self.pattern
        dense = self.values.new_zeros(p.rows * p.cols).index_put((pattern_flat(p),), self.values).view(p.rows, p.cols)
        return x @ dense.t()


class _SparseMatmul(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, values: torch.Tensor, x: torch.Tensor, op: SparseOperator) -> torch.Tensor:  # type: ignore[override]
        ctx.op = op
        ctx.save_for_backward(x, values)  # values: autograd's check that nothing wrote them before the backward
        # contiguous (batch, rows) output: the elementwise ops that follow are much slower on a transposed view
        return (op.matrix @ x.t()).t().contiguous()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:  # type: ignore[override]
        no_double_backward("the sparse kernel", "set_kernel('dense') on the block")
        x, _ = ctx.saved_tensors
        op: SparseOperator = ctx.op
        grad_values = grad_x = None
        if ctx.needs_input_grad[0]:
            grad_values = torch.sparse.sampled_addmm(op.matrix, grad.t(), x, beta=0.0).values()
        if ctx.needs_input_grad[1]:
            grad_x = (op.matrix_t() @ grad.t()).t().contiguous()
        return grad_values, grad_x, None


class _NativeMatmul(torch.autograd.Function):
    """``x @ W.T`` on the compiled kernels (which work in column layout: ``(features, batch)``)."""

    @staticmethod
    def forward(ctx: Any, values: torch.Tensor, x: torch.Tensor, op: SparseOperator) -> torch.Tensor:  # type: ignore[override]
        nat = op.native
        assert nat is not None
        xt = x.t().contiguous()
        out = x.new_empty(nat.rows, x.shape[0])
        nat.mm(xt, out)
        ctx.op = op
        ctx.save_for_backward(xt, values)  # values: autograd's check that nothing wrote them before the backward
        return out.t().contiguous()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:  # type: ignore[override]
        no_double_backward("the sparse kernel", "set_kernel('dense') on the block")
        xt, _ = ctx.saved_tensors
        nat = ctx.op.native
        need_values, need_x = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        gt = grad.t().contiguous()
        grad_t = gt.new_zeros(nat.values.numel()) if need_values else None
        grad_xt = gt.new_empty(nat.cols, gt.shape[1]) if need_x else None
        nat.mm_t_sddmm(gt, xt, grad_t, grad_xt)
        return (nat.grad_from_t(grad_t) if grad_t is not None else None,
                grad_xt.t().contiguous() if grad_xt is not None else None, None)


def no_double_backward(what: str, instead: str) -> None:
    """Called first in a hand-written backward: under ``create_graph=True`` (grad mode is on in a backward only
    then) a one-line RuntimeError, since its results carry no graph and every second-order term through it (a
    gradient penalty, a Hessian-vector product) would be dropped without a word."""
    if torch.is_grad_enabled():
        raise RuntimeError(f"{what} has no double backward (create_graph=True would silently drop the second-order "
                           f"terms through it); for higher-order gradients use {instead}")


def sparse_matmul(values: torch.Tensor, x: torch.Tensor, pattern: CSRPattern) -> torch.Tensor:
    """``x @ W.T`` for the block ``W`` with non-zeros ``values`` on ``pattern``; ``x`` is ``(n, cols)``.
    (Inside a recurrence, build one :class:`SparseOperator` per forward pass instead.)"""
    return SparseOperator(values, pattern)(x)


def pattern_flat(pattern: CSRPattern) -> torch.Tensor:
    """Sorted flat indices of a pattern (the inverse of :meth:`CSRPattern.from_index`)."""
    rows = torch.repeat_interleave(torch.arange(pattern.rows, device=pattern.crow.device), pattern.crow.diff().long())
    return rows * pattern.cols + pattern.col.long()


def native_csr(pattern: CSRPattern, values: torch.Tensor) -> NativeCSR | None:
    """The compiled kernels (``native.py``) for a block with these values, or None where they cannot run (no
    C compiler, ``BALANCEDRNN_NATIVE=0``, a device other than the CPU, a dtype other than float32/64)."""
    from . import native

    if not native.supports(values) or pattern.crow.dtype != torch.int32 or not native.available():
        return None
    return native.NativeCSR(pattern.rows, pattern.cols, pattern.crow, pattern.col, pattern.crow_t, pattern.col_t,
                            pattern.perm_t, values)


def sparse_backend(like: torch.Tensor | None = None) -> str:
    """Which implementation the sparse kernel uses on the CPU here: ``native`` (the compiled kernels) or
    ``torch`` (PyTorch's CSR operators). With ``like`` (a block's values), where sparse blocks of its device and
    dtype run, as :func:`sparse_plan` decides: also ``dense`` (a dtype or device without sparse products), and
    never ``native`` off the CPU."""
    from . import native

    if like is not None:
        if like.dtype not in SPARSE_DTYPES or not csr_supported(like.device, like.dtype):
            return "dense"
        if not native.supports(like):
            return "torch"
    return "native" if native.available() else "torch"


_SAMPLED_OK: dict[str, bool] = {}


SPARSE_DTYPES = (torch.float32, torch.float64)
"""Dtypes the sparse kernels compute in (PyTorch's CPU CSR products have no bfloat16/float16 kernels)."""


def csr_supported(device: torch.device, dtype: torch.dtype = torch.float32) -> bool:
    """Whether the sparse kernels run on ``device`` in ``dtype`` (always on CPU in float32/64; other devices are
    checked once): else the block runs dense, with a one-line warning for an unsupported dtype."""
    if dtype not in SPARSE_DTYPES:
        warnings.warn(f"sparse blocks have no {str(dtype).removeprefix('torch.')} kernels; running them dense "
                      "(same numbers, dense cost)", stacklevel=3)
        return False
    return device.type == "cpu" or _sampled_ok(device)


def _sampled_ok(device: torch.device) -> bool:
    """Whether CSR products and sampled_addmm work on this device (checked once; else fall back to dense)."""
    key = str(device)
    if key not in _SAMPLED_OK:
        try:
            p = CSRPattern.from_index(2, 2, torch.tensor([0, 3], device=device))
            m = p.matrix(torch.ones(2, device=device))
            x = torch.ones(3, 2, device=device)
            _ = m @ x.t(), p.matrix_t(torch.ones(2, device=device)) @ x.t()  # both products the backward needs
            torch.sparse.sampled_addmm(m, x.t(), x, beta=0.0)
            _SAMPLED_OK[key] = True
        except (RuntimeError, NotImplementedError):
            _SAMPLED_OK[key] = False
    return _SAMPLED_OK[key]


# Crossover densities measured by benchmarks/sparse.py, part 2 (the recurrent block W_hh of a model whose other
# blocks are 1 wide, 10 steps, batch 64, forward + backward + Adam, 2 threads): below the density the sparse
# kernel is faster. Keyed by the number of entries of the block; interpolated in log-size. One table per sparse
# backend, since the compiled kernels win up to higher densities. See docs/benchmarks.md.
CROSSOVER_NATIVE: tuple[tuple[int, float], ...] = (
    (64 * 64, 0.0),
    (128 * 128, 0.3),
    (256 * 256, 0.4),
    (512 * 512, 0.45),
    (1024 * 1024, 0.5),
    (2048 * 2048, 0.45),
    (4096 * 4096, 0.5),
)
"""(block entries, crossover density) pairs for the compiled kernels, measured; see docs/benchmarks.md."""
CROSSOVER_TORCH: tuple[tuple[int, float], ...] = (
    (64 * 64, 0.0),
    (128 * 128, 0.15),
    (256 * 256, 0.26),
    (512 * 512, 0.34),
    (1024 * 1024, 0.33),
    (2048 * 2048, 0.36),
    (4096 * 4096, 0.41),
)
"""(block entries, crossover density) pairs for PyTorch's CSR operators, measured; see docs/benchmarks.md."""
MIN_SPARSE_ENTRIES = 64 * 64
"""Blocks up to this many entries always use the dense kernel (the sparse call's overhead dominates)."""


def crossover_density(entries: int, backend: str | None = None) -> float:
    """Density below which the sparse kernel beats the dense one for a block of ``entries`` entries, with the
    given sparse backend (``native`` or ``torch``; default: the one in use here)."""
    import math

    pts = CROSSOVER_NATIVE if (backend or sparse_backend()) == "native" else CROSSOVER_TORCH
    if entries <= pts[0][0]:
        return 0.0
    for (n0, d0), (n1, d1) in zip(pts, pts[1:]):
        if entries <= n1:
            f = (math.log(entries) - math.log(n0)) / (math.log(n1) - math.log(n0))
            return d0 + f * (d1 - d0)
    return pts[-1][1]


def choose_kernel(rows: int, cols: int, nnz: int) -> Kernel:
    """``sparse`` when the block's density is below the measured crossover for its size, else ``dense``."""
    entries = rows * cols
    if entries <= MIN_SPARSE_ENTRIES or nnz == 0 or nnz == entries:
        return "dense"
    return "sparse" if nnz / entries < crossover_density(entries) else "dense"
