"""Random masks for the sparse blocks, and the module that holds one masked block's values.

A mask is stored as the sorted flat indices of its trainable entries. The trainable parameter of a block is
the vector of those entries' values, so masked-out entries are zero by construction (no gradient, no
optimiser state, nothing to re-zero after a step). Masks are fixed (the paper) unless training rewires them
(:meth:`MaskedBlock.rewire`, SET's prune-and-regrow), which moves entries but never changes a block's count, or
prunes them gradually from a dense start (:meth:`MaskedBlock.prune`), which ends at the block's count.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import nn

from ..kernels.dispatch import CSRPattern, Kernel, KernelChoice, SparseOperator, choose_kernel
from .spec import exact_count

MaskMethod = Literal["exact", "bernoulli"]


def draw_mask_indices(
    rows: int,
    cols: int,
    density: float,
    generator: torch.Generator,
    method: MaskMethod = "exact",
) -> torch.Tensor:
    """Sorted flat indices (int64) of the masked-in entries of a ``rows x cols`` block.

    ``exact`` draws exactly ``round(density * rows * cols)`` entries without replacement; ``bernoulli``
    keeps each entry with probability ``density`` (the realised count is random).
    """
    if not 0.0 <= float(density) <= 1.0:  # NaN fails too
        raise ValueError(f"mask density must be a number in [0, 1], got {density!r}")
    n = rows * cols
    if method == "exact":
        k = exact_count(density, rows, cols)
        if k >= n:
            return torch.arange(n, dtype=torch.int64)
        if k == 0:
            return torch.empty(0, dtype=torch.int64)
        return torch.randperm(n, generator=generator)[:k].sort().values
    if method == "bernoulli":
        if density >= 1.0:
            return torch.arange(n, dtype=torch.int64)
        keep = torch.rand(n, generator=generator) < density
        return keep.nonzero().flatten()
    raise ValueError(f"unknown mask method {method!r}; expected 'exact' or 'bernoulli'")


def scatter_dense(values: torch.Tensor, index: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """The ``rows x cols`` matrix with ``values`` at the flat positions ``index`` and exact zeros elsewhere
    (differentiable in ``values``)."""
    return values.new_zeros(rows * cols).index_put((index,), values).view(rows, cols)


def _invalidate_after_load(module: MaskedBlock, keys: object) -> None:
    """``load_state_dict``'s post-hook: forget the structures built from the old mask (a module-level function, so
    a model pickles)."""
    module.invalidate()


def check_index(rows: int, cols: int, index: torch.Tensor, what: str = "mask") -> None:
    """A mask's flat indices must be integers, strictly increasing and inside the ``rows x cols`` block: the CSR
    kernels and the scatter assume it, so a corrupt or edited state would otherwise multiply wrongly, silently.
    A one-line ValueError naming ``what``."""
    if index.dim() != 1 or index.dtype.is_floating_point or index.dtype.is_complex or index.dtype == torch.bool:
        raise ValueError(f"{what}: indices must be a 1-D integer tensor, got {index.dtype} of shape {tuple(index.shape)}")
    if not index.numel() or index.is_meta:  # a meta tensor has a shape and a dtype but no values to check
        return
    if int(index.min()) < 0 or int(index.max()) >= rows * cols:
        raise ValueError(f"{what}: indices must lie in [0, {rows * cols}) for a {rows}x{cols} block, "
                         f"got {int(index.min())}..{int(index.max())}")
    if index.numel() > 1 and not bool((index[1:] > index[:-1]).all()):
        raise ValueError(f"{what}: indices must be strictly increasing (sorted, no repeats)")


def check_kernel(choice: Any) -> None:
    """A one-line ValueError unless ``choice`` names a kernel: ``auto``, ``dense`` or ``sparse``."""
    if choice not in ("auto", "dense", "sparse"):
        raise ValueError(f"unknown kernel {choice!r}; expected 'auto', 'dense' or 'sparse'")


class MaskedBlock(nn.Module):
    """One ``rows x cols`` weight block with a fixed mask; only the masked-in values are trainable."""

    index: torch.Tensor

    def __init__(
        self,
        rows: int,
        cols: int,
        index: torch.Tensor,
        values: torch.Tensor,
    ) -> None:
        super().__init__()
        if index.shape != values.shape or index.dim() != 1:
            raise ValueError("index and values must be 1-D tensors of the same length")
        check_index(rows, cols, index)  # the CSR kernels assume sorted, distinct, in-range indices
        self.rows, self.cols = int(rows), int(cols)
        self.register_buffer("index", index.to(torch.int64))
        self.values = nn.Parameter(values.clone())
        self.kernel: Kernel = choose_kernel(self.rows, self.cols, self.nnz)
        self._pattern: CSRPattern | None = None
        self._pattern_key: tuple[object, ...] | None = None
        # a loaded state replaces the mask in place: drop every structure built from the old one
        self.register_load_state_dict_post_hook(_invalidate_after_load)

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any) -> None:
        """A state's mask is checked (:meth:`check_state`) before anything of it is loaded."""
        self.check_state(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args)

    def check_state(self, state_dict: Any, prefix: str) -> None:
        """The mask in ``state_dict`` under ``prefix`` (if any) passes :func:`check_index` for this block's shape,
        else a RuntimeError, as load_state_dict's other refusals (a model calls it for all its blocks first, so a
        refused state leaves no block loaded)."""
        index = state_dict.get(prefix + "index")
        if isinstance(index, torch.Tensor):
            try:
                check_index(self.rows, self.cols, index, f"state dict {prefix}index")
            except ValueError as e:
                raise RuntimeError(str(e)) from None

    def invalidate(self) -> None:
        """Forget the structures built from the mask (called after ``load_state_dict`` and ``index`` changes)."""
        self._pattern = None
        self._pattern_key = None

    def set_kernel(self, choice: KernelChoice) -> MaskedBlock:
        """Use the ``dense`` or ``sparse`` kernel, or let ``auto`` choose from density and shape."""
        if choice == "auto":
            self.kernel = choose_kernel(self.rows, self.cols, self.nnz)
        else:
            check_kernel(choice)
            self.kernel = choice
        return self

    def pattern(self) -> CSRPattern:
        """CSR structure of the mask on the block's current device, rebuilt whenever the mask tensor changes
        (another device, a new tensor, or an in-place write such as ``load_state_dict``)."""
        key = (self.index.device, self.index.data_ptr(), self.index._version, self.index.numel())
        if self._pattern is None or self._pattern_key != key:
            self._pattern = CSRPattern.from_index(self.rows, self.cols, self.index)
            self._pattern_key = key
        return self._pattern

    def operator(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """``x -> x @ W.T`` to apply many times in one forward pass (a recurrence): the dense block or the
        sparse matrices are built once."""
        if self.kernel == "sparse" and self.nnz:
            return SparseOperator(self.values, self.pattern())
        w = self.dense()
        return lambda x: x @ w.t()

    @classmethod
    def random(
        cls,
        rows: int,
        cols: int,
        density: float,
        generator: torch.Generator,
        mean: float = 0.0,
        std: float = 0.05,
        method: MaskMethod = "exact",
    ) -> MaskedBlock:
        """A block with a freshly drawn mask and N(mean, std^2) initial values, all from ``generator``."""
        index = draw_mask_indices(rows, cols, density, generator, method)
        values = torch.randn(index.numel(), generator=generator) * std + mean
        return cls(rows, cols, index, values)

    @property
    def nnz(self) -> int:
        """Number of trainable entries."""
        return int(self.index.numel())

    @property
    def density(self) -> float:
        """Realised density."""
        return self.nnz / (self.rows * self.cols)

    def mask(self) -> torch.Tensor:
        """Boolean ``rows x cols`` mask."""
        m = torch.zeros(self.rows * self.cols, dtype=torch.bool, device=self.index.device)
        m[self.index] = True
        return m.view(self.rows, self.cols)

    def dense(self) -> torch.Tensor:
        """The block as a dense matrix with exact zeros outside the mask (differentiable in ``values``)."""
        return scatter_dense(self.values, self.index, self.rows, self.cols)

    @torch.no_grad()
    def rewire(self, fraction: float, generator: torch.Generator,
               optimizer: torch.optim.Optimizer | None = None) -> int:
        """Move ``round(fraction * nnz)`` entries (SET, Mocanu et al. 2018): drop the smallest in magnitude and
        grow as many at positions drawn at random from ``generator`` among those inactive before the drop,
        valued 0. The block's count, hence its density and the network's budget and hidden proportion, is
        unchanged. The optimiser's per-entry state (Adam's moments) follows its entries; a new entry's is 0.
        Returns the number moved (0 for a full or empty block)."""
        n, nnz = self.rows * self.cols, self.nnz
        k = min(int(round(fraction * nnz)), n - nnz)
        if k <= 0:
            return 0
        device = self.index.device
        keep = self._largest(nnz - k)
        inactive = torch.ones(n, dtype=torch.bool)
        inactive[self.index.cpu()] = False
        candidates = inactive.nonzero().flatten()
        grown = candidates[torch.randperm(candidates.numel(), generator=generator)[:k]].to(device)
        self._reindex(keep, grown, optimizer)
        return k

    @torch.no_grad()
    def prune(self, k: int, optimizer: torch.optim.Optimizer | None = None) -> int:
        """Drop the ``k`` entries smallest in magnitude (magnitude pruning, Zhu & Gupta 2017); the count falls by
        ``k`` (at most to 0). The optimiser's per-entry state (Adam's moments) follows the kept entries. Returns
        the number dropped."""
        k = min(int(k), self.nnz)
        if k <= 0:
            return 0
        self._reindex(self._largest(self.nnz - k), self.index.new_zeros(0), optimizer)
        return k

    def _largest(self, n: int) -> torch.Tensor:
        """Positions in ``values`` of the ``n`` entries largest in magnitude (ties: the lower position drops)."""
        order = torch.argsort(self.values.detach().abs().cpu(), stable=True)
        return order[order.numel() - n:].to(self.index.device)

    @torch.no_grad()
    def _reindex(self, keep: torch.Tensor, grown: torch.Tensor, optimizer: torch.optim.Optimizer | None) -> None:
        """Keep the entries at ``keep`` (positions in ``values``) and add ``grown`` (flat block positions, valued
        0), in index order; the optimiser's per-entry state moves the same way (a new entry's is 0)."""
        index = torch.cat([self.index[keep], grown])
        order = torch.argsort(index)
        size = self.values.shape

        def moved(t: torch.Tensor) -> torch.Tensor:
            return torch.cat([t[keep], t.new_zeros(grown.numel())])[order]

        old = self.values
        state = optimizer.state.get(old, {}) if optimizer is not None else {}
        for name, st in list(state.items()):
            if isinstance(st, torch.Tensor) and st.shape == size:
                state[name] = moved(st)
        if index.numel() == self.nnz:
            old.copy_(moved(old))
        else:  # a new size needs a new Parameter (autograd keeps a leaf's shape); the optimiser follows it
            self.values = nn.Parameter(moved(old), requires_grad=old.requires_grad)
            if optimizer is not None:
                for group in optimizer.param_groups:
                    group["params"] = [self.values if q is old else q for q in group["params"]]
                if old in optimizer.state:
                    optimizer.state[self.values] = optimizer.state.pop(old)
        self.index = index[order]
        self.invalidate()

    def extra_repr(self) -> str:
        return f"{self.rows}x{self.cols}, nnz={self.nnz}, density={self.density:.4g}, kernel={self.kernel}"
