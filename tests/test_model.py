import pytest
import torch

from balancedrnn.core.model import BlockRNN
from balancedrnn.core.spec import BLOCKS, BlockSpec, exact_count


def reference_forward(model: BlockRNN, x: torch.Tensor) -> torch.Tensor:
    """Slow, obviously correct: the full [x, h, y] state and effective_weight(), one sample at a time."""
    W = model.effective_weight().detach().double()
    b = model.bias.detach().double()
    dh, dy = model.dh, model.dy
    act = torch.relu if model.activation == "relu" else torch.tanh
    out = torch.zeros(x.shape[0], x.shape[1], dy, dtype=torch.float64)
    for n in range(x.shape[0]):
        h = torch.zeros(dh, dtype=torch.float64)
        y = torch.zeros(dy, dtype=torch.float64)
        for t in range(x.shape[1]):
            xt = x[n, t].double()
            h_new = act(W[:dh] @ torch.cat([xt, h, y]) + b[:dh])
            if model.readout == "lagged":
                y_new = W[dh:] @ torch.cat([xt, h, y]) + b[dh:]
            else:
                y_new = W[dh:] @ torch.cat([xt, h_new, y]) + b[dh:]
            h, y = h_new, y_new
            out[n, t] = y
    return out


def random_spec(seed: int) -> BlockSpec:
    g = torch.Generator().manual_seed(seed)
    density = {b: float(torch.rand(1, generator=g)) for b in BLOCKS}
    density["hh"] = 1.0 if seed % 3 == 0 else density["hh"]
    density["yy"] = 0.0 if seed % 2 == 0 else density["yy"]
    return BlockSpec(7 + seed, 5 + 2 * seed, 3, density, init={b: (0.0, 0.3) for b in BLOCKS})


@pytest.mark.parametrize("readout", ["lagged", "current"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_forward_equals_reference(readout, activation, seed):
    spec = random_spec(seed)
    model = BlockRNN(spec, seed=seed, readout=readout, activation=activation)
    with torch.no_grad():
        model.bias.normal_(0, 0.2, generator=torch.Generator().manual_seed(seed))
    x = torch.randn(4, 6, spec.dx, generator=torch.Generator().manual_seed(10 + seed))
    got = model(x).double()
    torch.testing.assert_close(got, reference_forward(model, x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("readout", ["lagged", "current"])
def test_step_equals_forward(readout):
    spec = random_spec(1)
    model = BlockRNN(spec, seed=5, readout=readout)
    x = torch.randn(3, 8, spec.dx)
    full = model(x)
    state, outs = None, []
    for t in range(8):
        y, state = model.step(x[:, t], state)
        outs.append(y)
    torch.testing.assert_close(torch.stack(outs, 1), full)


def test_readouts_differ():
    spec = BlockSpec(5, 6, 2, {b: 1.0 for b in BLOCKS})
    x = torch.randn(2, 4, 5)
    a = BlockRNN(spec, seed=0, readout="lagged")(x)
    b = BlockRNN(spec, seed=0, readout="current")(x)
    assert not torch.allclose(a, b)


def test_mask_counts_and_realised_counting():
    spec = BlockSpec(50, 20, 4, {"hx": 0.1, "hh": 0.5, "hy": 1, "yx": 0.05, "yh": 0.3, "yy": 0})
    model = BlockRNN(spec, seed=0)
    W = model.effective_weight()
    assert W.shape == (24, 74)
    counts = model.nnz()
    for b in BLOCKS:
        rows, cols = spec.shape(b)
        assert counts[b] == exact_count(spec.density[b], rows, cols)
    assert counts == spec.nnz()
    # the dense matrix holds exactly those non-zeros (initial values are never exactly zero)
    assert int((W != 0).sum()) == sum(counts.values())
    assert model.hidden_proportion() == pytest.approx(spec.hidden_proportion())


def test_same_seed_same_model():
    spec = BlockSpec(10, 8, 3, {b: 0.4 for b in BLOCKS})
    a, b, c = BlockRNN(spec, seed=1), BlockRNN(spec, seed=1), BlockRNN(spec, seed=2)
    assert torch.equal(a.effective_weight(), b.effective_weight())
    assert not torch.equal(a.effective_weight(), c.effective_weight())


def test_init_mean_std_per_block():
    spec = BlockSpec(200, 100, 10, {b: 1.0 for b in BLOCKS}, init={"hx": (1.0, 0.01)})
    model = BlockRNN(spec, seed=0)
    v = model.blocks["hx"].values.detach()
    assert v.mean().item() == pytest.approx(1.0, abs=0.01)
    assert v.std().item() == pytest.approx(0.01, rel=0.1)
    v = model.blocks["hh"].values.detach()
    assert v.std().item() == pytest.approx(0.05, rel=0.1)


def test_masked_entries_stay_zero_through_training():
    spec = BlockSpec(12, 9, 3, {"hx": 0.3, "hh": 0.2, "hy": 0.5, "yx": 0.1, "yh": 0.6, "yy": 0.0})
    model = BlockRNN(spec, seed=0)
    mask = torch.cat([torch.cat([model.blocks[b].mask() for b in r], 1) for r in (("hx", "hh", "hy"), ("yx", "yh", "yy"))], 0)
    before = model.effective_weight().detach().clone()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-3)
    for _ in range(5):
        loss = model(torch.randn(4, 5, 12)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = model.effective_weight().detach()
    assert torch.equal(after[~mask], torch.zeros(int((~mask).sum())))
    assert not torch.equal(after[mask], before[mask])  # it did train


def test_input_shape_errors():
    model = BlockRNN(BlockSpec(5, 4, 2, {b: 1.0 for b in BLOCKS}))
    with pytest.raises(ValueError, match="dx=5"):
        model(torch.randn(2, 3, 6))
    with pytest.raises(ValueError, match="dx=5"):
        model(torch.randn(3, 5))
    with pytest.raises(ValueError, match="unknown activation"):
        BlockRNN(model.spec, activation="swish2")
    with pytest.raises(ValueError, match="unknown readout"):
        BlockRNN(model.spec, readout="future")  # type: ignore[arg-type]


def test_device_argument_cpu():
    model = BlockRNN(BlockSpec(5, 4, 2, {b: 0.5 for b in BLOCKS}), device="cpu")
    assert model(torch.randn(1, 2, 5, device="cpu")).device.type == "cpu"


WIDE = {"hx": 0.1, "hh": 0.3, "hy": 1.0, "yx": 0.1, "yh": 0.1, "yy": 0.1}


@pytest.mark.parametrize("kernel", ["auto", "dense", "sparse"])
def test_load_state_dict_after_running_uses_the_loaded_masks(kernel, sparse_backend):
    """A model that has run (and cached its sparse structure) computes with the masks it loads."""
    spec = BlockSpec.from_budget(300, 10, 20_000, WIDE)
    x = torch.randn(4, 5, 300)
    a = BlockRNN(spec, seed=0, kernel=kernel)
    c = BlockRNN(spec, seed=1, kernel=kernel)
    c(x).sum().backward()  # builds and caches c's own structure
    c.load_state_dict(a.state_dict())
    assert torch.equal(a(x), c(x))
    torch.testing.assert_close(c(x).double(), reference_forward(a, x), atol=1e-5, rtol=1e-4)


def test_inputs_are_converted_to_the_model_dtype():
    """NumPy arrays and integer or float64 inputs give the same result as the float32 tensor."""
    spec = BlockSpec.from_budget(300, 10, 20_000, WIDE)
    m = BlockRNN(spec, seed=0, kernel="sparse")
    x = torch.randint(-3, 4, (2, 4, 300))
    want = m(x.float())
    for given in (x, x.double(), x.numpy(), x.numpy().astype("float64")):
        torch.testing.assert_close(m(given), want)
    m64 = BlockRNN(spec, seed=0, kernel="sparse").double()
    assert m64(x.float()).dtype == torch.float64
    with pytest.raises(ValueError, match="tensor or array of numbers"):
        m([["a"]])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_runs_dense_with_a_warning(dtype):
    """The sparse kernels have no bf16/fp16 products: the blocks run dense, with a warning, and train."""
    spec = BlockSpec.from_budget(300, 10, 20_000, WIDE)
    m = BlockRNN(spec, seed=0, kernel="sparse")
    x = torch.randn(2, 4, 300)
    want = m(x)
    low = BlockRNN(spec, seed=0, kernel="sparse").to(dtype)
    with pytest.warns(UserWarning, match="no .*16 kernels"):
        y = low(x)
    assert y.dtype == dtype
    torch.testing.assert_close(y.float(), want, atol=0.05, rtol=0.05)
    y.float().sum().backward()
    assert all(torch.isfinite(p.grad.float()).all() for p in low.parameters())


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_parameter_count_is_the_dense_matrix_nonzeros_plus_biases(seed):
    spec = random_spec(seed)
    model = BlockRNN(spec, seed=seed)
    nonzero = int(torch.count_nonzero(model.effective_weight()))  # the init draws no exact zeros
    assert model.weights == nonzero
    assert model.parameters_count == nonzero + model.bias.numel()
    assert model.parameters_count == spec.parameters  # exact-count masks realise the spec's counts


@pytest.mark.parametrize("kernel", ["dense", "sparse"])
def test_a_model_pickles_and_saves_whole(kernel, tmp_path):
    """``pickle`` and ``torch.save(model)`` take a block RNN that has run (masks, values, kernels), and the copy
    computes the same outputs and still reloads masks through ``load_state_dict``."""
    import pickle

    spec = BlockSpec.from_budget(300, 10, 20_000, WIDE)
    model = BlockRNN(spec, seed=0, kernel=kernel)
    x = torch.randn(2, 4, 300)
    model(x).sum().backward()
    copy = pickle.loads(pickle.dumps(model))
    assert torch.equal(copy(x), model(x))
    torch.save(model, tmp_path / "m.pt")
    saved = torch.load(tmp_path / "m.pt", weights_only=False)
    assert torch.equal(saved(x), model(x))
    other = BlockRNN(spec, seed=1, kernel=kernel)
    saved.load_state_dict(other.state_dict())
    assert torch.equal(saved(x), other(x))


def test_load_state_dict_refuses_a_model_of_other_sizes():
    """Masks are flat indices into their block: the state of a model with another dx but the same counts per block
    (and so the same tensor shapes) would load into other positions. It is refused, before anything is loaded; a
    state saved without the sizes (older versions) still loads."""
    density = {"hx": 0.01, "hh": 0.2, "hy": 0.0, "yx": 0.0, "yh": 0.0, "yy": 0.0}
    wide, narrow = BlockRNN(BlockSpec(104, 10, 2, density), seed=0), BlockRNN(BlockSpec(96, 10, 2, density), seed=1)
    assert wide.nnz() == narrow.nnz()
    before = {k: v.clone() for k, v in wide.state_dict().items()}
    with pytest.raises(RuntimeError, match="state dict is of a block RNN with dx=96, dh=10, dy=2; this one has dx=104"):
        wide.load_state_dict(narrow.state_dict())
    assert all(torch.equal(v, before[k]) for k, v in wide.state_dict().items())  # nothing loaded
    with pytest.raises(RuntimeError, match="with dx=104"):
        torch.nn.Sequential(narrow).load_state_dict(torch.nn.Sequential(wide).state_dict())
    twin = BlockRNN(BlockSpec(104, 10, 2, density), seed=2)
    twin.load_state_dict({k: v for k, v in wide.state_dict().items() if k != "_extra_state"})
    assert torch.equal(twin.blocks["hx"].index, wide.blocks["hx"].index)


@pytest.mark.parametrize("corrupt", ["out of range", "unsorted", "repeated", "negative"])
def test_a_corrupt_mask_is_refused_before_it_is_loaded(corrupt, tmp_path):
    """A mask's flat indices must be strictly increasing and inside the block (the CSR kernels assume it): an
    edited or corrupt state is refused by load_state_dict and load_model, and nothing of it is loaded. The
    reference: the dense product of the loaded model would silently differ from the state's own block."""
    from balancedrnn.core.model import export_model, load_model
    from balancedrnn.io import DataError

    spec = BlockSpec(6, 5, 3, {b: 0.5 for b in BLOCKS})
    model = BlockRNN(spec, seed=0)
    state = model.state_dict()
    index = state["blocks.hh.index"].clone()
    if corrupt == "out of range":
        index[-1] = 5 * 5
    elif corrupt == "unsorted":
        index[[0, 1]] = index[[1, 0]]
    elif corrupt == "repeated":
        index[1] = index[0]
    else:
        index[0] = -1
    state["blocks.hh.index"] = index
    target = BlockRNN(spec, seed=1)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(RuntimeError, match="blocks.hh.index: indices must"):
        target.load_state_dict(state)
    assert all(torch.equal(v, before[k]) for k, v in target.state_dict().items())
    path = export_model(model, tmp_path / "m.pt")
    payload = torch.load(path, weights_only=False)
    payload["state"]["blocks.hh.index"] = index
    torch.save(payload, path)
    with pytest.raises(DataError, match="is corrupt: block hh's mask: indices must"):
        load_model(path)


def test_a_state_of_other_mask_counts_is_refused_before_anything_is_loaded():
    """The state of a model with the same sizes but other densities (another config: one block's count differs) is
    refused with nothing of it loaded: PyTorch used to load every tensor that fit (the bias and five blocks' masks
    and values) before refusing the one that did not, leaving a model of two configs after the error."""
    wide = {b: 0.2 for b in BLOCKS}
    other = BlockRNN(BlockSpec(20, 10, 3, {**wide, "hh": 0.5}), seed=1)
    source = BlockRNN(BlockSpec(20, 10, 3, wide), seed=0)
    with torch.no_grad():
        source.bias.fill_(7.0)
    before = {k: v.clone() for k, v in other.state_dict().items()}
    with pytest.raises(RuntimeError, match=r"other mask counts: blocks\.hh\.values \(\(20,\) for \(50,\)\)"):
        other.load_state_dict(source.state_dict())
    assert all(torch.equal(v, before[k]) for k, v in other.state_dict().items())  # nothing loaded
    with pytest.raises(RuntimeError, match="nothing was loaded"):
        torch.nn.Sequential(other).load_state_dict(torch.nn.Sequential(source).state_dict(), strict=False)
    assert all(torch.equal(v, before[k]) for k, v in other.state_dict().items())
    twin = BlockRNN(BlockSpec(20, 10, 3, wide), seed=5)  # the same config loads whole
    twin.load_state_dict(source.state_dict())
    x = torch.randn(2, 3, 20)
    assert torch.equal(twin(x), source(x))


@pytest.mark.parametrize("corrupt", ["no spec", "no values", "values short", "values of another dtype", "bias short",
                                     "bad readout", "zero dh"])
def test_load_model_refuses_a_corrupt_file_in_one_line(corrupt, tmp_path):
    """An export whose fields are missing or do not fit together is a one-line DataError naming the file: it used
    to be a KeyError traceback, or (values not matching their mask, a short bias) a model that loaded and failed
    only when run."""
    from balancedrnn.core.model import export_model, load_model
    from balancedrnn.io import DataError

    model = BlockRNN(BlockSpec(6, 5, 3, {b: 0.5 for b in BLOCKS}), seed=0)
    path = export_model(model, tmp_path / "m.pt")
    payload = torch.load(path, weights_only=False)
    state = payload["state"]
    if corrupt == "no spec":
        del payload["spec"]
    elif corrupt == "no values":
        del state["blocks.hh.values"]
    elif corrupt == "values short":
        state["blocks.hh.values"] = state["blocks.hh.values"][:-1]
    elif corrupt == "values of another dtype":
        state["blocks.hh.values"] = state["blocks.hh.values"].double()
    elif corrupt == "bias short":
        state["bias"] = state["bias"][:-1]
    elif corrupt == "bad readout":
        payload["readout"] = "bogus"
    else:
        payload["spec"]["dh"] = 0
    torch.save(payload, path)
    with pytest.raises(DataError, match=r"m\.pt is corrupt: ") as e:
        load_model(path)
    assert "\n" not in str(e.value)
    x = torch.randn(2, 3, 6)
    assert torch.equal(load_model(export_model(model, tmp_path / "ok.pt"))(x), model(x))  # a sound file loads


def test_state_dicts_round_trip_between_meta_and_cpu_models():
    """A model on the meta device (shapes only) takes another meta model's state, and a real state with
    assign=True, as PyTorch's own modules do: the mask check used to read the values of a meta tensor
    (Tensor.item() traceback). A real state is still checked, and a state of other sizes still refused."""
    spec = BlockSpec(6, 5, 2, {b: 0.4 for b in BLOCKS})
    source = BlockRNN(spec, seed=3)
    skeleton = BlockRNN(spec, seed=0, device="meta")
    skeleton.load_state_dict(BlockRNN(spec, seed=1, device="meta").state_dict())  # meta into meta
    assert skeleton.bias.is_meta and skeleton.blocks["hh"].index.is_meta
    skeleton.load_state_dict(source.state_dict(), assign=True)  # a real state into the skeleton
    x = torch.randn(2, 4, 6)
    assert not skeleton.bias.is_meta and torch.equal(skeleton(x), source(x))
    with pytest.raises(RuntimeError, match="state dict is of a block RNN with dx=6, dh=7"):
        BlockRNN(spec, device="meta").load_state_dict(BlockRNN(BlockSpec(6, 7, 2, spec.density), device="meta").state_dict())
    bad = source.state_dict()
    bad["blocks.hh.index"] = bad["blocks.hh.index"].flip(0)
    with pytest.raises(RuntimeError, match="strictly increasing"):
        BlockRNN(spec, device="meta").load_state_dict(bad, assign=True)


@pytest.mark.parametrize("seed", [3.7, "3", True, None])
def test_block_rnn_refuses_a_seed_that_is_not_an_integer(seed):
    """BlockRNN(seed=3.7) built the model of seed 3 without a word (int() truncated it); a string seed was a
    bare int() error. An integral float or a NumPy integer is still its integer."""
    import numpy as np

    spec = BlockSpec.from_budget(dx=4, dy=3, budget=300, density={b: 0.5 for b in BLOCKS})
    with pytest.raises(ValueError, match="seed must be an integer, got"):
        BlockRNN(spec, seed=seed)
    ref = BlockRNN(spec, seed=3).state_dict()
    for same in (3.0, np.int64(3)):
        got = BlockRNN(spec, seed=same).state_dict()
        assert all(torch.equal(ref[k], got[k]) for k in ref)


def test_a_seed_outside_what_torch_takes_is_refused_not_aliased():
    """torch reads a negative seed modulo 2**64: BlockRNN(seed=-1) was the model of seed 2**64 - 1, silently, and
    seed 2**64 failed with 'Overflow when unpacking long long'. A baseline reads its seed through the same rule."""
    from balancedrnn.core.baselines import make_baseline

    spec = BlockSpec.from_budget(dx=4, dy=3, budget=300, density={b: 0.5 for b in BLOCKS})
    for seed in (-1, 2**64):
        with pytest.raises(ValueError, match="seed must be an integer from 0 to 2\\*\\*64 - 1"):
            BlockRNN(spec, seed=seed)
        with pytest.raises(ValueError, match="seed must be an integer from 0 to 2\\*\\*64 - 1"):
            make_baseline("gru", 4, 3, 300, seed=seed)
    assert BlockRNN(spec, seed=2**64 - 1).seed == 2**64 - 1 and BlockRNN(spec, seed=0).seed == 0


def test_an_exported_model_keeps_its_budget_and_so_its_budget_note(tmp_path):
    """The budget a model was built at travels with `export_model`, so a reloaded model still says that its
    weights miss it; a model built from a spec alone has no budget and no note."""
    from balancedrnn.core.configs import build_model
    from balancedrnn.core.model import export_model, load_model

    model = build_model("balanced", 4, 2, 15, seed=0)
    export_model(model, tmp_path / "m.pt")
    back = load_model(tmp_path / "m.pt")
    assert back.budget == 15 and back.summary()["budget_note"] == model.summary()["budget_note"] != ""
    assert BlockRNN(model.spec, seed=0).summary()["budget_note"] == ""
    with pytest.raises(ValueError):
        BlockRNN(model.spec, seed=0, budget=-1)
