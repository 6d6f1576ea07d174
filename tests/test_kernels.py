import pytest
import torch

from balancedrnn.kernels.dispatch import CSRPattern, choose_kernel, crossover_density, pattern_flat, sparse_matmul
from balancedrnn.core.masks import MaskedBlock, draw_mask_indices
from balancedrnn.core.model import BlockRNN
from balancedrnn.core.spec import BLOCKS, BlockSpec


@pytest.mark.parametrize("rows,cols,density", [(7, 5, 0.3), (40, 33, 0.05), (16, 16, 1.0), (9, 11, 1 / 99)])
def test_sparse_matmul_matches_dense(rows, cols, density, sparse_backend):
    g = torch.Generator().manual_seed(0)
    idx = draw_mask_indices(rows, cols, density, g)
    pattern = CSRPattern.from_index(rows, cols, idx)
    assert torch.equal(pattern_flat(pattern), idx)
    values = torch.randn(idx.numel(), dtype=torch.float64, requires_grad=True)
    x = torch.randn(6, cols, dtype=torch.float64, requires_grad=True)
    dense_w = torch.zeros(rows * cols, dtype=torch.float64).index_put((idx,), values).view(rows, cols)
    ref = x @ dense_w.t()
    got = sparse_matmul(values, x, pattern)
    torch.testing.assert_close(got, ref)
    g_out = torch.randn_like(ref)
    ref_gv, ref_gx = torch.autograd.grad(ref, (values, x), g_out)
    got_gv, got_gx = torch.autograd.grad(got, (values, x), g_out)
    torch.testing.assert_close(got_gv, ref_gv)
    torch.testing.assert_close(got_gx, ref_gx)


@pytest.mark.parametrize("x_dtype", [torch.float64, torch.int64, torch.bfloat16])
def test_sparse_matmul_refuses_x_of_another_dtype_as_a_dense_block_does(x_dtype, sparse_backend):
    """The compiled kernels cast the block to ``x``'s dtype: an integer ``x`` got an integer product of the
    truncated block (silently wrong), where PyTorch's CSR backend and a dense block raise. Every backend raises."""
    idx = draw_mask_indices(6, 5, 0.5, torch.Generator().manual_seed(2))
    values = torch.randn(idx.numel())
    x = (torch.randn(3, 5) * 3).to(x_dtype)
    dense_w = torch.zeros(30).index_put((idx,), values).view(6, 5)
    with pytest.raises(RuntimeError):
        x @ dense_w.t()  # the reference: a dense block refuses it
    with pytest.raises(RuntimeError, match="expected x of the block's dtype torch.float32"):
        sparse_matmul(values, x, CSRPattern.from_index(6, 5, idx))


def test_gradcheck(sparse_backend):
    idx = draw_mask_indices(5, 4, 0.5, torch.Generator().manual_seed(1))
    pattern = CSRPattern.from_index(5, 4, idx)
    values = torch.randn(idx.numel(), dtype=torch.float64, requires_grad=True)
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v, xx: sparse_matmul(v, xx, pattern), (values, x))


def spec_for(seed: int, density: float | str | None) -> BlockSpec:
    g = torch.Generator().manual_seed(seed)
    if density == "one":  # exactly one entry per block
        sizes = {"x": 13, "h": 17, "y": 4}
        d = {b: 1.0 / (sizes[b[0]] * sizes[b[1]]) for b in BLOCKS}
    else:
        d = {b: (float(torch.rand(1, generator=g)) if density is None else density) for b in BLOCKS}
    return BlockSpec(13, 17, 4, d, init={b: (0.0, 0.3) for b in BLOCKS})


@pytest.mark.parametrize("readout", ["lagged", "current"])
@pytest.mark.parametrize("case", [(0, None), (1, None), (2, 0.05), (3, 0.5), (4, 1.0), (5, "one")])
def test_block_rnn_sparse_equals_dense(readout, case, sparse_backend):
    seed, density = case
    spec = spec_for(seed, density)
    if density == "one":
        assert all(n == 1 for n in spec.nnz().values()), spec.nnz()
    dense = BlockRNN(spec, seed=seed, readout=readout, kernel="dense")
    sparse = BlockRNN(spec, seed=seed, readout=readout, kernel="sparse")
    assert set(sparse.kernels().values()) == {"sparse"}
    torch.manual_seed(seed)  # a fixed input: float32 sums in another order must not flake on an unlucky draw
    x = torch.randn(5, 7, 13, requires_grad=True)
    xs = x.detach().clone().requires_grad_(True)
    out_d, out_s = dense(x), sparse(xs)
    torch.testing.assert_close(out_s, out_d, atol=1e-5, rtol=1e-5)
    g = torch.randn_like(out_d)
    out_d.backward(g)
    out_s.backward(g)
    # float32 gradients summed in another order over steps and batch: 1e-5 absolute plus 1e-4 relative (the
    # same comparison in float64 agrees to 1e-10: tests/test_recurrence.py)
    torch.testing.assert_close(xs.grad, x.grad, atol=1e-5, rtol=1e-4)
    for name in BLOCKS:
        gd, gs = dense.blocks[name].values.grad, sparse.blocks[name].values.grad
        if dense.blocks[name].nnz:
            torch.testing.assert_close(gs, gd, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(sparse.bias.grad, dense.bias.grad, atol=1e-5, rtol=1e-4)


def test_mixed_kernels_and_training_losses_match(sparse_backend):
    spec = BlockSpec(20, 30, 5, {"hx": 1.0, "hh": 0.05, "hy": 1.0, "yx": 0.1, "yh": 0.1, "yy": 0.0})
    a = BlockRNN(spec, seed=3, kernel="dense")
    b = BlockRNN(spec, seed=3, kernel={"hh": "sparse", "yh": "sparse", "hx": "dense"})
    assert b.kernels()["hh"] == "sparse" and b.kernels()["hx"] == "dense"
    opt_a = torch.optim.Adam(a.parameters(), lr=1e-2)
    opt_b = torch.optim.Adam(b.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    masks_before = {n: b.blocks[n].index.clone() for n in BLOCKS}
    losses_a, losses_b = [], []
    for _ in range(10):
        x = torch.randn(8, 6, 20, generator=gen)
        t = torch.randn(8, 6, 5, generator=gen)
        for model, opt, losses in ((a, opt_a, losses_a), (b, opt_b, losses_b)):
            loss = (model(x) - t).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    assert losses_a == pytest.approx(losses_b, rel=1e-4, abs=1e-6)
    assert all(torch.equal(masks_before[n], b.blocks[n].index) for n in BLOCKS)
    torch.testing.assert_close(a.effective_weight(), b.effective_weight(), atol=1e-5, rtol=1e-4)


def test_step_with_sparse_kernels_matches_forward(sparse_backend):
    spec = spec_for(7, 0.2)
    model = BlockRNN(spec, seed=1, kernel="sparse", readout="current")
    x = torch.randn(2, 5, 13)
    state, outs = None, []
    for t in range(5):
        y, state = model.step(x[:, t], state)
        outs.append(y)
    torch.testing.assert_close(torch.stack(outs, 1), model(x))


def test_automatic_choice(sparse_backend):
    assert choose_kernel(4096, 4096, int(0.01 * 4096 * 4096)) == "sparse"
    assert choose_kernel(4096, 4096, 4096 * 4096) == "dense"
    assert choose_kernel(10, 10, 5) == "dense"  # tiny blocks: overhead dominates
    assert 0 < crossover_density(2048 * 2048) <= 1
    # the table follows the backend in use: the compiled kernels win up to higher densities
    assert crossover_density(2048 * 2048, "native") > crossover_density(2048 * 2048, "torch")
    assert crossover_density(2048 * 2048) == crossover_density(2048 * 2048, sparse_backend)
    block = MaskedBlock.random(100, 100, 0.5, torch.Generator()).set_kernel("sparse")
    assert block.kernel == "sparse"
    with pytest.raises(ValueError, match="unknown kernel"):
        block.set_kernel("fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown block name"):
        BlockRNN(spec_for(0, 0.5), kernel={"hq": "dense"})  # type: ignore[dict-item]


def test_export_holds_only_nonzeros(tmp_path, sparse_backend):
    from balancedrnn.core.model import export_model, load_model

    spec = BlockSpec(30, 400, 6, {"hx": 1.0, "hh": 0.01, "hy": 1.0, "yx": 0.1, "yh": 0.1, "yy": 0.1})
    model = BlockRNN(spec, seed=2, readout="current")
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01)  # "trained"
    path = export_model(model, tmp_path / "m.pt")
    # values (4 bytes) + indices (8 bytes) per non-zero, plus a little header: far below the dense size
    assert path.stat().st_size < 12 * model.weights + 4 * (spec.dh + spec.dy) + 20_000
    assert path.stat().st_size < 4 * 406 * 436 / 2
    loaded = load_model(path)
    assert loaded.kernels() == model.kernels() and loaded.readout == "current"
    x = torch.randn(3, 4, 30)
    torch.testing.assert_close(loaded(x), model(x))
    (tmp_path / "bad.pt").write_bytes(b"nope")
    with pytest.raises(ValueError, match="corrupt"):
        load_model(tmp_path / "bad.pt")


def test_export_of_a_float64_model_loads_in_float64(tmp_path):
    """A model exported in float64 comes back whole in float64 (not float64 blocks beside a float32 bias, which
    failed in forward) and computes the same outputs."""
    from balancedrnn.core.model import export_model, load_model

    model = BlockRNN(BlockSpec(30, 70, 3, dict.fromkeys(BLOCKS, 0.2)), seed=1).double()
    loaded = load_model(export_model(model, tmp_path / "m.pt"))
    assert {p.dtype for p in loaded.parameters()} == {torch.float64}
    x = torch.randn(2, 4, 30, dtype=torch.float64)
    assert torch.equal(loaded(x), model(x))


def test_sparse_matmul_refuses_second_order_gradients(sparse_backend):
    """Its backward carries no graph: create_graph=True dropped the second-order terms through it silently."""
    g = torch.Generator().manual_seed(0)
    pattern = CSRPattern.from_index(6, 5, draw_mask_indices(6, 5, 0.5, g))
    values = torch.randn(15, dtype=torch.float64, generator=g, requires_grad=True)
    x = torch.randn(3, 5, dtype=torch.float64, generator=g, requires_grad=True)
    with pytest.raises(RuntimeError, match="no double backward"):
        torch.autograd.grad(sparse_matmul(values, x, pattern).pow(2).sum(), x, create_graph=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_the_summary_records_where_the_sparse_blocks_run(dtype, sparse_backend):
    """The record's sparse_backend said ``native`` for a bfloat16 model (or one on another device), whose sparse
    blocks run dense: it is now what the dispatch decides for the model's blocks."""
    import warnings

    from balancedrnn.kernels.dispatch import sparse_plan

    spec = BlockSpec(5, 90, 3, {b: 0.1 for b in BLOCKS})
    model = BlockRNN(spec, seed=0, kernel="sparse").to(dtype)
    block = model.blocks["hh"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs = sparse_plan(block.pattern(), block.values.detach())[0]
        recorded = model.summary()["sparse_backend"]
    assert recorded == runs
