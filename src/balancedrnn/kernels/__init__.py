"""The sparse path: one dispatch choosing native C, PyTorch CSR or dense per block (``dispatch``), the
compiled C kernels (``native`` and ``csrc/``), the fused recurrence with its hand-written backward
(``recurrence``) and its registration as PyTorch custom operators (``ops``).
"""

from .dispatch import CSRPattern, Kernel, KernelChoice, SparseOperator, choose_kernel, sparse_backend, sparse_plan

__all__ = ["CSRPattern", "Kernel", "KernelChoice", "SparseOperator", "choose_kernel", "sparse_backend", "sparse_plan"]
