"""The compiled CSR kernels (``csrc/sparse.c``): built once per machine into the cache, loaded with ctypes.

PyTorch's CPU kernels for a CSR block (MKL's product, ``sampled_addmm``) reach a small fraction of a dense
GEMM's rate per multiply-add at the shapes of a recurrence (docs/benchmarks.md). The C kernels here do the
forward product, and the backward product fused with the weight gradient, in one pass each, with OpenMP over
rows (PyTorch's own OpenMP runtime, so its thread count applies). They need a C compiler with OpenMP (``$CC``,
else ``cc``) the first time on a machine; without one, or with ``BALANCEDRNN_NATIVE=0``, the sparse kernel runs
on PyTorch's operators instead and gives the same numbers to rounding (tests/test_native.py).

The library is built with ``-march=native`` into ``$BALANCEDRNN_KERNEL_DIR`` (default: ``kernels/`` in the
cache) under a key of the source, the compiler and the CPU, so machines that share a cache directory each get
their own build; a build is written to a temporary file and moved into place, so concurrent processes never
load a half-written library.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import torch

SOURCE = Path(__file__).with_name("csrc") / "sparse.c"
FLAGS = ("-O3", "-march=native", "-fopenmp", "-fPIC", "-shared", "-std=gnu11")
ABI = 3
"""Version of the kernels' C signatures; the library must report the same (``brnn_abi``)."""

_I64, _PTR, _INT = ctypes.c_int64, ctypes.c_void_p, ctypes.c_int
_SIGNATURES = {
    "brnn_spmm": [_I64, _I64, _PTR, _PTR, _PTR, _PTR, _I64, _PTR, _I64, _INT, _PTR, _I64, _INT],
    "brnn_spmm_t_sddmm": [_I64, _I64, _PTR, _PTR, _PTR, _PTR, _I64, _PTR, _PTR, _PTR, _PTR, _PTR, _I64, _PTR,
                          _PTR, _I64, _PTR, _I64, _INT, _PTR, _I64, _PTR, _PTR, _I64, _INT],
    "brnn_sddmm": [_I64, _I64, _PTR, _PTR, _PTR, _I64, _PTR, _I64, _PTR, _INT],
}
_SUFFIX = {torch.float32: "f32", torch.float64: "f64"}


class NativeUnavailable(RuntimeError):
    """The compiled kernels cannot be used here (the message says why)."""


def _cpu_identity() -> str:
    """What ``-march=native`` depends on: the CPU model and its instruction-set flags."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        keep = [ln for ln in lines if ln.startswith(("model name", "flags", "vendor_id"))]
        return "\n".join(sorted(set(keep)))
    except OSError:
        return platform.processor() or platform.machine()


def _compiler() -> str:
    return os.environ.get("CC", "").strip() or "cc"


def _compiler_argv() -> list[str]:
    """``$CC`` as a command line: it may name a wrapper with its compiler (``ccache gcc``), as make allows."""
    try:
        argv = shlex.split(_compiler())
    except ValueError as e:
        raise NativeUnavailable(f"C compiler {_compiler()!r} cannot be parsed: {e}") from None
    return argv or ["cc"]


@lru_cache(maxsize=1)
def _source() -> bytes:
    """The kernels' source as this process first read it: what it builds and keys is what its wrappers expect."""
    try:
        return SOURCE.read_bytes()
    except OSError as e:
        raise NativeUnavailable(f"kernel source {SOURCE} unreadable: {e.strerror or e}") from None


def _build(target: Path) -> None:
    """Compile the kernels into ``target`` (atomically: a temporary file is moved into place)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    src_dir = None
    try:
        src_dir = tempfile.mkdtemp(prefix="balancedrnn-src-")
        src = Path(src_dir) / SOURCE.name
        src.write_bytes(_source())
        cmd = [*_compiler_argv(), *FLAGS, "-o", tmp, str(src)]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        except (OSError, subprocess.SubprocessError) as e:
            raise NativeUnavailable(f"C compiler {_compiler()!r} could not run: {e}") from None
        if res.returncode != 0:
            lines = res.stderr.strip().splitlines() or ["no output"]
            first = next((ln for ln in lines if "error" in ln), lines[0])
            raise NativeUnavailable(f"compiling {SOURCE.name} failed: {first}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if src_dir is not None:
            shutil.rmtree(src_dir, ignore_errors=True)


def _key() -> str:
    try:
        version = subprocess.run([*_compiler_argv(), "--version"], capture_output=True, text=True, timeout=30,
                                 check=False).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise NativeUnavailable(f"no C compiler ({_compiler()!r}: {e.strerror if isinstance(e, OSError) else e})") from None
    h = hashlib.sha256()
    for part in (_source(), " ".join(FLAGS).encode(), version.encode(), _cpu_identity().encode(),
                 platform.machine().encode()):
        h.update(part)
        h.update(b"\0")
    return h.hexdigest()[:16]


@lru_cache(maxsize=1)
def _load() -> ctypes.CDLL | NativeUnavailable:
    """The library, or why it cannot be used: either is remembered for the process (``cache_clear`` to retry), so
    a failed build is not run again by every sparse block of every forward pass."""
    try:
        return _open()
    except NativeUnavailable as e:
        return e


def _lib() -> ctypes.CDLL:
    """The library; NativeUnavailable (saying why) where it cannot be used."""
    lib = _load()
    if isinstance(lib, NativeUnavailable):
        raise NativeUnavailable(str(lib))
    return lib


def _open() -> ctypes.CDLL:
    from ..io import NATIVE_ENV, cache_dir, env_flag

    if not env_flag(NATIVE_ENV, True):
        raise NativeUnavailable(f"disabled by {NATIVE_ENV}=0")

    name = f"sparse-{_key()}.so"
    home = Path(os.environ["BALANCEDRNN_KERNEL_DIR"]) if os.environ.get("BALANCEDRNN_KERNEL_DIR") else cache_dir() / "kernels"
    candidates = [home / name, Path(tempfile.gettempdir()) / "balancedrnn-kernels" / name]
    errors = []
    for path in candidates:
        try:
            if not path.exists():
                _build(path)
            lib = ctypes.CDLL(str(path))
            break
        except NativeUnavailable:
            raise
        except OSError as e:  # unwritable cache, or a broken file: try the next place
            errors.append(f"{path}: {e}")
    else:
        raise NativeUnavailable("; ".join(errors))
    lib.brnn_abi.restype = ctypes.c_int
    if lib.brnn_abi() != ABI:
        raise NativeUnavailable(f"{path.name} has kernel ABI {lib.brnn_abi()}, this balancedrnn expects {ABI}")
    for base, argtypes in _SIGNATURES.items():
        for suffix in _SUFFIX.values():
            fn = getattr(lib, f"{base}_{suffix}")
            fn.argtypes, fn.restype = argtypes, None
    return lib


_enabled = True


def enable(flag: bool = True) -> None:
    """Use (or, with False, stop using) the compiled kernels in this process; models built or run afterwards
    take PyTorch's CSR operators instead. ``BALANCEDRNN_NATIVE=0`` disables them from the start."""
    global _enabled
    _enabled = bool(flag)


def available() -> bool:
    """Whether the compiled kernels are used here (builds them on first use on this machine)."""
    if not _enabled:
        return False
    try:
        _lib()
    except NativeUnavailable:
        return False
    return True


def status() -> str:
    """One line: which sparse kernels run here, and why."""
    if not _enabled:
        return "PyTorch CSR operators (compiled kernels switched off in this process)"
    try:
        _lib()
    except NativeUnavailable as e:
        return f"PyTorch CSR operators (compiled kernels unavailable: {e})"
    return "compiled C kernels (OpenMP)"


def supports(t: torch.Tensor) -> bool:
    """Whether a tensor's device and dtype suit the compiled kernels."""
    return t.device.type == "cpu" and t.dtype in _SUFFIX


def _dense(t: torch.Tensor | None, rows: int, n: int, dtype: torch.dtype, what: str) -> tuple[int | None, int]:
    """Pointer and row stride of a ``rows x n`` operand with contiguous rows (checked: a wrong shape would make
    the C code read or write out of bounds)."""
    if t is None:
        return None, 0
    if tuple(t.shape) != (rows, n) or t.dtype != dtype or (n > 1 and t.stride(1) != 1) or t.device.type != "cpu":
        raise ValueError(f"{what}: expected a CPU {dtype} tensor of shape ({rows}, {n}) with contiguous rows, got "
                         f"{t.dtype} {tuple(t.shape)} strides {t.stride()}")
    return t.data_ptr(), t.stride(0)


def _acc(t: torch.Tensor | None, rows: int, n: int, dtype: torch.dtype) -> tuple[int | None, int, int]:
    """Pointer, row stride and broadcast flag of an accumulator: ``rows x n``, or one column (a bias) to
    broadcast over the batch."""
    if t is not None and t.dim() == 2 and t.shape[0] == rows and t.shape[1] in (1, n) and (t.shape[1] == 1 or t.stride(1) == 0):
        if t.dtype != dtype or t.device.type != "cpu":
            raise ValueError(f"accumulator: expected a CPU {dtype} tensor, got {t.dtype} on {t.device}")
        return t.data_ptr(), t.stride(0), 1
    ptr, ld = _dense(t, rows, n, dtype, "accumulator")
    return ptr, ld, 0


class NativeCSR:
    """One block's CSR structure (and its transpose) and values for the compiled kernels; keeps every array
    it passes alive. ``values`` are in the block's row-major order."""

    def __init__(self, rows: int, cols: int, crow: torch.Tensor, col: torch.Tensor, crow_t: torch.Tensor,
                 col_t: torch.Tensor, perm_t: torch.Tensor, values: torch.Tensor) -> None:
        if not supports(values) or any(t.dtype != torch.int32 for t in (crow, col, crow_t, col_t)):
            raise NativeUnavailable("compiled kernels take CPU float32/float64 values and int32 indices")
        lib = _lib()
        suffix = _SUFFIX[values.dtype]
        self._mm = getattr(lib, f"brnn_spmm_{suffix}")
        self._mm_t = getattr(lib, f"brnn_spmm_t_sddmm_{suffix}")
        self._sddmm = getattr(lib, f"brnn_sddmm_{suffix}")
        self.rows, self.cols, self.dtype = rows, cols, values.dtype
        self.perm_t = perm_t
        self._keep = (crow.contiguous(), col.contiguous(), crow_t.contiguous(), col_t.contiguous())
        self.values = values.detach().contiguous()
        self._values_t: torch.Tensor | None = None
        self._p = [t.data_ptr() for t in self._keep]

    def values_t(self) -> torch.Tensor:
        """The values in the transposed block's CSR order (built on first use: only backward needs them)."""
        if self._values_t is None:
            self._values_t = self.values[self.perm_t].contiguous()
        return self._values_t

    def mm(self, x: torch.Tensor, out: torch.Tensor, acc: torch.Tensor | None = None) -> torch.Tensor:
        """``out = acc + W @ x`` for ``x`` of shape ``(cols, n)`` (``acc`` None means zero; it may be ``out``
        itself, or one column broadcast over the batch)."""
        n = x.shape[1] if x.dim() == 2 else -1
        px, ldx = _dense(x, self.cols, n, self.dtype, "input")
        po, ldo = _dense(out, self.rows, n, self.dtype, "output")
        pa, lda, bcast = _acc(acc, self.rows, n, self.dtype)
        self._mm(self.rows, n, self._p[0], self._p[1], self.values.data_ptr(), px, ldx, pa, lda, bcast, po, ldo,
                 torch.get_num_threads())
        return out

    def mm_t_sddmm(self, g: torch.Tensor, inp: torch.Tensor | None, grad_t: torch.Tensor | None,
                   out: torch.Tensor | None, acc: torch.Tensor | None = None, *,
                   also: tuple[NativeCSR, torch.Tensor, torch.Tensor | None] | None = None,
                   relu_mask: torch.Tensor | None = None, rowsum: torch.Tensor | None = None) -> None:
        """``out = acc + W.T @ g`` for ``g`` of shape ``(rows, n)`` (if ``out``) and ``grad_t += (g @ inp.T)``
        at the non-zeros, in the transposed order (if ``grad_t``).

        ``also = (other, g2, grad_t2)`` adds a second block with the same columns (the same input): ``out``
        gets ``other.T @ g2`` too, and ``grad_t2`` its weight gradient, in the same pass. ``relu_mask`` (the
        states a ReLU produced, shape of ``out``) zeroes ``out`` where it is not positive, and ``rowsum`` (a
        vector of ``cols``) then gets each row's sum added: the gradient of the ReLU's pre-activation and of its
        bias, in the same pass."""
        n = g.shape[1] if g.dim() == 2 else -1
        pg, ldg = _dense(g, self.rows, n, self.dtype, "output gradient")
        self._check_grad(grad_t)
        p2: list[int | None] = [None] * 4
        pg2, ldg2, pgt2 = None, 0, None
        if also is not None:
            other, g2, grad_t2 = also
            if other.cols != self.cols or other.dtype != self.dtype:
                raise ValueError("a second block must have the same columns and dtype")
            pg2, ldg2 = _dense(g2, other.rows, n, self.dtype, "second output gradient")
            other._check_grad(grad_t2)
            p2 = [other._p[2], other._p[3], other.values_t().data_ptr(), pg2]
            pgt2 = None if grad_t2 is None else grad_t2.data_ptr()
            if grad_t2 is not None and inp is None:
                raise ValueError("the weight gradient needs the block's input")
        if grad_t is not None and inp is None:
            raise ValueError("the weight gradient needs the block's input")
        pi, ldi = _dense(inp, self.cols, n, self.dtype, "input") if inp is not None else (None, 0)
        po, ldo = _dense(out, self.cols, n, self.dtype, "output")
        pa, lda, bcast = _acc(acc, self.cols, n, self.dtype) if out is not None else (None, 0, 0)
        pm, ldm = _dense(relu_mask, self.cols, n, self.dtype, "mask") if out is not None else (None, 0)
        if rowsum is not None and (rowsum.shape != (self.cols,) or rowsum.dtype != self.dtype or rowsum.stride(0) != 1):
            raise ValueError(f"row sums: expected a contiguous {self.dtype} vector of {self.cols}")
        self._mm_t(self.cols, n, self._p[2], self._p[3], self.values_t().data_ptr(), pg, ldg,
                   None if grad_t is None else grad_t.data_ptr(), *p2, ldg2, pgt2, pi, ldi, pa, lda, bcast, pm, ldm,
                   None if rowsum is None or out is None else rowsum.data_ptr(), po, ldo, torch.get_num_threads())

    def _check_grad(self, grad_t: torch.Tensor | None) -> None:
        if grad_t is not None and (grad_t.shape != self.values.shape or grad_t.dtype != self.dtype
                                   or not grad_t.is_contiguous()):
            raise ValueError(f"weight gradient: expected a contiguous {self.dtype} vector of {self.values.numel()}")

    def sddmm(self, g: torch.Tensor, inp: torch.Tensor, grad: torch.Tensor) -> None:
        """``grad += (g @ inp.T)`` at the non-zeros, in the block's row-major order (the weight gradient of a block
        whose transposed product is not needed)."""
        n = g.shape[1] if g.dim() == 2 else -1
        pg, ldg = _dense(g, self.rows, n, self.dtype, "output gradient")
        pi, ldi = _dense(inp, self.cols, n, self.dtype, "input")
        self._check_grad(grad)
        self._sddmm(self.rows, n, self._p[0], self._p[1], pg, ldg, pi, ldi, grad.data_ptr(), torch.get_num_threads())

    def grad_from_t(self, grad_t: torch.Tensor) -> torch.Tensor:
        """A gradient in the transposed order, back in the block's row-major order."""
        return torch.empty_like(grad_t).index_copy_(0, self.perm_t, grad_t)
