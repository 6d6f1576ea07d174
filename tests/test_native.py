"""The compiled CSR kernels against dense matrices with zeros, and their fallback."""

import os
from pathlib import Path

import pytest
import torch

from balancedrnn.kernels import native
from balancedrnn.kernels.dispatch import CSRPattern
from balancedrnn.core.masks import draw_mask_indices
from balancedrnn.core.model import BlockRNN
from balancedrnn.core.spec import BLOCKS, BlockSpec

if not native.available():  # a machine without a C compiler; CI has one and must build them
    if os.environ.get("CI"):
        raise RuntimeError(f"the compiled kernels must build in CI: {native.status()}")
    pytestmark = pytest.mark.skip(reason=f"compiled kernels unavailable: {native.status()}")


def block(rows: int, cols: int, density: float, dtype: torch.dtype, seed: int = 0):
    """A random block: its NativeCSR, its dense matrix with zeros and its mask indices."""
    g = torch.Generator().manual_seed(seed)
    idx = draw_mask_indices(rows, cols, density, g)
    if idx.numel() == 0:  # one entry at least
        idx = torch.tensor([int(torch.randint(rows * cols, (1,), generator=g))])
    p = CSRPattern.from_index(rows, cols, idx)
    vals = torch.randn(idx.numel(), generator=g, dtype=dtype)
    dense = torch.zeros(rows * cols, dtype=dtype).index_put((idx,), vals).view(rows, cols)
    return native.NativeCSR(rows, cols, p.crow, p.col, p.crow_t, p.col_t, p.perm_t, vals), dense, idx


SHAPES = [  # rows, cols, density, batch: batches below, at and above the 64-wide tile and the vector width
    (70, 9, 1.0, 4), (70, 70, 0.3, 1), (50, 60, 0.2, 70), (5, 7, 0.5, 130), (33, 44, 0.1, 16), (300, 200, 0.02, 64),
    (26, 400, 0.1, 17), (8, 8, 0.0, 3),  # the last has exactly one entry
]
TOL = {torch.float32: dict(atol=1e-5, rtol=1e-5), torch.float64: dict(atol=1e-12, rtol=1e-12)}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("rows,cols,density,n", SHAPES)
def test_forward_product_matches_dense(rows, cols, density, n, dtype):
    nat, w, _ = block(rows, cols, density, dtype)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(cols, n, generator=g, dtype=dtype)
    acc = torch.randn(rows, n, generator=g, dtype=dtype)
    bias = torch.randn(rows, 1, generator=g, dtype=dtype)
    out = torch.empty(rows, n, dtype=dtype)
    torch.testing.assert_close(nat.mm(x, out), w @ x, **TOL[dtype])
    torch.testing.assert_close(nat.mm(x, out, acc), acc + w @ x, **TOL[dtype])
    torch.testing.assert_close(nat.mm(x, out, bias), bias + w @ x, **TOL[dtype])  # a broadcast column
    torch.testing.assert_close(nat.mm(x, out, bias.expand(rows, n)), bias + w @ x, **TOL[dtype])
    before = out.clone()
    torch.testing.assert_close(nat.mm(x, out, out), before + w @ x, **TOL[dtype])  # accumulate in place


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("rows,cols,density,n", SHAPES)
def test_backward_product_and_weight_gradient_match_dense(rows, cols, density, n, dtype):
    nat, w, idx = block(rows, cols, density, dtype)
    g = torch.Generator().manual_seed(2)
    grad_out = torch.randn(rows, n, generator=g, dtype=dtype)
    inp = torch.randn(cols, n, generator=g, dtype=dtype)
    acc = torch.randn(cols, n, generator=g, dtype=dtype)
    want_grad = (grad_out @ inp.t()).reshape(-1)[idx]
    out = torch.empty(cols, n, dtype=dtype)
    grad_t = torch.zeros(idx.numel(), dtype=dtype)
    nat.mm_t_sddmm(grad_out, inp, grad_t, out, acc)  # both at once
    torch.testing.assert_close(out, acc + w.t() @ grad_out, **TOL[dtype])
    torch.testing.assert_close(nat.grad_from_t(grad_t), want_grad, **TOL[dtype])
    nat.mm_t_sddmm(grad_out, inp, grad_t, None)  # the gradient alone accumulates
    torch.testing.assert_close(nat.grad_from_t(grad_t), 2 * want_grad, **TOL[dtype])
    nat.mm_t_sddmm(grad_out, None, None, out)  # the product alone
    torch.testing.assert_close(out, w.t() @ grad_out, **TOL[dtype])


def test_rows_with_a_stride():
    """Operands that are row slices of wider buffers (leading dimension > batch)."""
    nat, w, idx = block(40, 30, 0.2, torch.float32)
    wide_x, wide_out = torch.randn(30, 100), torch.zeros(40, 100)
    x, out = wide_x[:, 10:27], wide_out[:, 5:22]
    nat.mm(x, out)
    torch.testing.assert_close(out, w @ x)
    assert wide_out[:, :5].abs().sum() == 0 and wide_out[:, 22:].abs().sum() == 0  # nothing written outside


def test_results_do_not_depend_on_thread_count():
    nat, _, idx = block(512, 512, 0.05, torch.float32)
    g = torch.Generator().manual_seed(3)
    x, a = torch.randn(512, 64, generator=g), torch.randn(512, 64, generator=g)
    outs = []
    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            y, gx, gt = torch.empty(512, 64), torch.empty(512, 64), torch.zeros(idx.numel())
            nat.mm(x, y)
            nat.mm_t_sddmm(a, x, gt, gx)
            outs.append((y, gx, gt))
    finally:
        torch.set_num_threads(before)
    for first, second in zip(*outs):
        assert torch.equal(first, second)


def test_wrong_operands_raise_instead_of_reading_out_of_bounds():
    nat, _, idx = block(20, 10, 0.3, torch.float32)
    with pytest.raises(ValueError, match="input"):
        nat.mm(torch.randn(11, 4), torch.empty(20, 4))
    with pytest.raises(ValueError, match="output"):
        nat.mm(torch.randn(10, 4), torch.empty(20, 5))
    with pytest.raises(ValueError, match="contiguous rows"):
        nat.mm(torch.randn(4, 10).t(), torch.empty(20, 4))
    with pytest.raises(ValueError, match="float32"):
        nat.mm(torch.randn(10, 4, dtype=torch.float64), torch.empty(20, 4))
    with pytest.raises(ValueError, match="weight gradient"):
        nat.mm_t_sddmm(torch.randn(20, 4), torch.randn(10, 4), torch.zeros(idx.numel() + 1), None)
    with pytest.raises(ValueError, match="needs the block's input"):
        nat.mm_t_sddmm(torch.randn(20, 4), None, torch.zeros(idx.numel()), None)
    with pytest.raises(ValueError, match="input"):
        nat.sddmm(torch.randn(20, 4), torch.randn(9, 4), torch.zeros(idx.numel()))
    with pytest.raises(ValueError, match="mask"):
        nat.mm_t_sddmm(torch.randn(20, 4), None, None, torch.empty(10, 4), relu_mask=torch.randn(10, 5))
    with pytest.raises(ValueError, match="row sums"):
        nat.mm_t_sddmm(torch.randn(20, 4), None, None, torch.empty(10, 4), rowsum=torch.zeros(11))


def test_build_is_cached_under_a_machine_key(tmp_path, monkeypatch):
    """A fresh kernel directory gets one library and no temporary files; a second load builds nothing."""
    monkeypatch.setenv("BALANCEDRNN_KERNEL_DIR", str(tmp_path / "k"))
    native._load.cache_clear()
    try:
        assert native.available()
        files = list((tmp_path / "k").iterdir())
        assert len(files) == 1 and files[0].name.startswith("sparse-") and files[0].suffix == ".so"
        mtime = files[0].stat().st_mtime_ns
        native._load.cache_clear()
        assert native.available() and files[0].stat().st_mtime_ns == mtime
    finally:
        native._load.cache_clear()


def test_without_a_compiler_the_reason_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("BALANCEDRNN_KERNEL_DIR", str(tmp_path / "k"))
    native._load.cache_clear()
    try:
        assert not native.available()
        status = native.status()
        assert "no C compiler" in status and "\n" not in status
        from balancedrnn.kernels.dispatch import sparse_backend

        assert sparse_backend() == "torch"
    finally:
        native._load.cache_clear()


def test_environment_switch_and_enable(monkeypatch):
    monkeypatch.setenv("BALANCEDRNN_NATIVE", "0")
    native._load.cache_clear()
    try:
        assert not native.available() and "BALANCEDRNN_NATIVE=0" in native.status()
    finally:
        monkeypatch.delenv("BALANCEDRNN_NATIVE")
        native._load.cache_clear()
    native.enable(False)
    try:
        assert not native.available() and "switched off" in native.status()
    finally:
        native.enable(True)
    assert native.available()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("rows,cols,density,n", SHAPES)
def test_row_wise_weight_gradient_matches_dense(rows, cols, density, n, dtype):
    nat, _, idx = block(rows, cols, density, dtype)
    g = torch.Generator().manual_seed(4)
    grad_out = torch.randn(rows, n, generator=g, dtype=dtype)
    inp = torch.randn(cols, n, generator=g, dtype=dtype)
    grad = torch.zeros(idx.numel(), dtype=dtype)
    nat.sddmm(grad_out, inp, grad)
    nat.sddmm(grad_out, inp, grad)
    torch.testing.assert_close(grad, 2 * (grad_out @ inp.t()).reshape(-1)[idx], **TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n", [3, 16, 64, 70])
def test_two_blocks_relu_mask_and_row_sums_in_one_pass(n, dtype):
    """W_hh.T a + W_yh.T b, masked by the ReLU's states, with both weight gradients and the row sums."""
    hh, w_hh, idx_hh = block(90, 90, 0.1, dtype, seed=5)
    yh, w_yh, idx_yh = block(7, 90, 0.3, dtype, seed=6)
    g = torch.Generator().manual_seed(7)
    a, b = torch.randn(90, n, generator=g, dtype=dtype), torch.randn(7, n, generator=g, dtype=dtype)
    h = torch.randn(90, n, generator=g, dtype=dtype).relu()  # states after a ReLU: many exact zeros
    acc = torch.randn(90, n, generator=g, dtype=dtype)
    want = torch.where(h > 0, acc + w_hh.t() @ a + w_yh.t() @ b, torch.zeros((), dtype=dtype))
    out, rowsum = torch.empty(90, n, dtype=dtype), torch.ones(90, dtype=dtype)
    gt_hh, gt_yh = torch.zeros(idx_hh.numel(), dtype=dtype), torch.zeros(idx_yh.numel(), dtype=dtype)
    hh.mm_t_sddmm(a, h, gt_hh, out, acc, also=(yh, b, gt_yh), relu_mask=h, rowsum=rowsum)
    torch.testing.assert_close(out, want, **TOL[dtype])
    torch.testing.assert_close(rowsum, 1 + want.sum(1), **TOL[dtype])
    torch.testing.assert_close(hh.grad_from_t(gt_hh), (a @ h.t()).reshape(-1)[idx_hh], **TOL[dtype])
    torch.testing.assert_close(yh.grad_from_t(gt_yh), (b @ h.t()).reshape(-1)[idx_yh], **TOL[dtype])
    with pytest.raises(ValueError, match="same columns"):
        hh.mm_t_sddmm(a, h, gt_hh, out, also=(block(7, 80, 0.3, dtype)[0], b, None))


def test_a_nan_gradient_where_the_relu_was_off_becomes_zero():
    """As torch's threshold_backward: the mask selects, it does not multiply (0 * NaN would be NaN)."""
    nat, _, _ = block(4, 4, 1.0, torch.float32)
    g = torch.full((4, 16), float("nan"))
    h = torch.zeros(4, 16)
    out = torch.empty(4, 16)
    nat.mm_t_sddmm(g, None, None, out, relu_mask=h)
    assert torch.equal(out, torch.zeros(4, 16))


def test_a_missing_source_falls_back_with_a_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(native, "SOURCE", tmp_path / "gone.c")
    monkeypatch.setenv("BALANCEDRNN_KERNEL_DIR", str(tmp_path / "k"))
    native._load.cache_clear()
    native._source.cache_clear()
    try:
        assert not native.available() and "unreadable" in native.status()
    finally:
        monkeypatch.undo()
        native._source.cache_clear()
        native._load.cache_clear()
    assert native.available()


def test_a_failed_build_is_not_retried_by_every_forward_pass(tmp_path, monkeypatch):
    """A compiler that fails (no OpenMP, say) ran again at every sparse block of every forward pass (the failure
    was not remembered): a training step paid for several compiler runs. Now it is tried once per process."""
    import stat
    import sys

    log = tmp_path / "calls"
    cc = tmp_path / "failing-cc"
    cc.write_text(f"#!{sys.executable}\nimport sys\nopen({str(log)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
                  "print('fake-cc 1.0') if sys.argv[1:] == ['--version'] else sys.exit('sparse.c: error: no omp.h')\n")
    cc.chmod(cc.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("CC", str(cc))
    monkeypatch.setenv("BALANCEDRNN_KERNEL_DIR", str(tmp_path / "k"))
    native._load.cache_clear()
    try:
        model = BlockRNN(BlockSpec(3, 80, 2, {b: 0.2 for b in BLOCKS}), kernel="sparse")
        x = torch.randn(2, 3, 3)
        for _ in range(3):
            model(x).sum().backward()
        assert not native.available() and "no omp.h" in native.status()
        builds = [ln for ln in log.read_text().splitlines() if ln != "--version"]
        assert len(builds) == 1
    finally:
        monkeypatch.undo()
        native._load.cache_clear()
    assert native.available()


def test_a_compiler_wrapper_in_cc_is_run_as_a_command_line(tmp_path, monkeypatch):
    """``CC="ccache gcc"`` (a wrapper and its compiler, as make allows) was run as one program named
    "ccache gcc", which does not exist: the kernels fell back to PyTorch's with 'no C compiler'."""
    import shutil as sh

    cc = sh.which("cc") or sh.which("gcc")
    if cc is None or sh.which("env") is None:
        pytest.skip("needs cc and env")
    monkeypatch.setenv("CC", f"env BRNN_WRAPPED=1 {cc}")
    monkeypatch.setenv("BALANCEDRNN_KERNEL_DIR", str(tmp_path / "k"))
    native._load.cache_clear()
    try:
        assert native.available(), native.status()
        assert [p.suffix for p in (tmp_path / "k").iterdir()] == [".so"]
    finally:
        monkeypatch.undo()
        native._load.cache_clear()


def test_a_build_that_fails_before_compiling_leaves_no_temporary_files(tmp_path, monkeypatch):
    """A failed write of the source copy (a full /tmp) left the empty library placeholder and the source
    directory behind, one pair per process that tried."""
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile as tf

    monkeypatch.setattr(tf, "tempdir", None)
    real = Path.write_bytes

    def full(self, data):
        if self.name == native.SOURCE.name:
            raise OSError(28, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full)
    target = tmp_path / "k" / "sparse-x.so"
    with pytest.raises(OSError):
        native._build(target)
    assert list((tmp_path / "k").iterdir()) == [] and list((tmp_path / "tmp").iterdir()) == []
