"""Sparse kernels for masked blocks: cost proportional to the non-zeros.

``sparse_matmul(values, x, pattern)`` computes ``x @ W.T`` for a block ``W`` stored as CSR with the given
non-zero ``values`` (in row-major order of the mask). Its backward pass returns the input gradient with a
sparse product against the transposed pattern, and the gradient of the values only at the masked positions
with a sampled dense-dense product (``torch.sparse.sampled_addmm``), so neither pass touches a dense block.

``choose_kernel`` decides dense or sparse per block from its density and shape (the crossover measured by
``benchmarks/sparse.py``; see docs/benchmarks.md).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal

import torch

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
        return cls(rows, cols, crow, c.contiguous(), crow_t, r[perm_t].contiguous(), perm_t)

    def matrix(self, values: torch.Tensor) -> torch.Tensor:
        """The block as a CSR tensor with these values."""
        return torch.sparse_csr_tensor(self.crow, self.col, values, (self.rows, self.cols), check_invariants=False)

    def matrix_t(self, values: torch.Tensor) -> torch.Tensor:
        """The transposed block as a CSR tensor."""
        return torch.sparse_csr_tensor(
            self.crow_t, self.col_t, values[self.perm_t], (self.cols, self.rows), check_invariants=False
        )


class _SparseMatmul(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, values: torch.Tensor, x: torch.Tensor, pattern: CSRPattern) -> torch.Tensor:  # type: ignore[override]
        ctx.pattern = pattern
        ctx.save_for_backward(values, x)
        return (pattern.matrix(values) @ x.t()).t()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:  # type: ignore[override]
        values, x = ctx.saved_tensors
        pattern: CSRPattern = ctx.pattern
        grad_values = grad_x = None
        if ctx.needs_input_grad[0]:
            sampled = torch.sparse.sampled_addmm(pattern.matrix(values.detach()), grad.t(), x, beta=0.0)
            grad_values = sampled.values()
        if ctx.needs_input_grad[1]:
            grad_x = (pattern.matrix_t(values) @ grad.t()).t()
        return grad_values, grad_x, None


def sparse_matmul(values: torch.Tensor, x: torch.Tensor, pattern: CSRPattern) -> torch.Tensor:
    """``x @ W.T`` for the block ``W`` with non-zeros ``values`` on ``pattern``; ``x`` is ``(n, cols)``."""
    if x.device.type != "cpu" and not _sampled_ok(x.device):
        dense = values.new_zeros(pattern.rows * pattern.cols)
        return x @ dense.index_put((pattern_flat(pattern),), values).view(pattern.rows, pattern.cols).t()
    return _SparseMatmul.apply(values, x, pattern)


def pattern_flat(pattern: CSRPattern) -> torch.Tensor:
    """Sorted flat indices of a pattern (the inverse of :meth:`CSRPattern.from_index`)."""
    rows = torch.repeat_interleave(torch.arange(pattern.rows, device=pattern.crow.device), pattern.crow.diff())
    return rows * pattern.cols + pattern.col


_SAMPLED_OK: dict[str, bool] = {}


def _sampled_ok(device: torch.device) -> bool:
    """Whether CSR products and sampled_addmm work on this device (checked once; else fall back to dense)."""
    key = str(device)
    if key not in _SAMPLED_OK:
        try:
            p = CSRPattern.from_index(2, 2, torch.tensor([0, 3], device=device))
            v = torch.ones(2, device=device, requires_grad=True)
            _SparseMatmul.apply(v, torch.ones(3, 2, device=device, requires_grad=True), p).sum().backward()
            _SAMPLED_OK[key] = True
        except (RuntimeError, NotImplementedError):
            _SAMPLED_OK[key] = False
    return _SAMPLED_OK[key]


# Crossover densities measured by benchmarks/sparse.py (one training step, batch 64): below the density
# the sparse kernel is faster. Keyed by the number of entries of the block; interpolated in log-size.
CROSSOVER: tuple[tuple[int, float], ...] = ((512 * 512, 0.10), (2048 * 2048, 0.30), (4096 * 4096, 0.40))
"""(block entries, crossover density) pairs, measured; see docs/benchmarks.md."""
MIN_SPARSE_ENTRIES = 64 * 64
"""Blocks smaller than this always use the dense kernel (the sparse call's overhead dominates)."""


def crossover_density(entries: int) -> float:
    """Density below which the sparse kernel beats the dense one for a block of ``entries`` entries."""
    import math

    pts = CROSSOVER
    if entries <= pts[0][0]:
        return pts[0][1] * max(0.0, math.log(entries) / math.log(pts[0][0]))
    for (n0, d0), (n1, d1) in zip(pts, pts[1:]):
        if entries <= n1:
            f = (math.log(entries) - math.log(n0)) / (math.log(n1) - math.log(n0))
            return d0 + f * (d1 - d0)
    return pts[-1][1]


def choose_kernel(rows: int, cols: int, nnz: int) -> Kernel:
    """``sparse`` when the block's density is below the measured crossover for its size, else ``dense``."""
    entries = rows * cols
    if entries < MIN_SPARSE_ENTRIES or nnz == 0 or nnz == entries:
        return "dense"
    return "sparse" if nnz / entries < crossover_density(entries) else "dense"
