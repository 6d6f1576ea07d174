"""The fused recurrence (hand-written BPTT) against autograd through the obvious per-step loop on dense blocks."""

import pytest
import torch

from balancedrnn.core.model import ACTIVATIONS, BlockRNN
from balancedrnn.core.reference import reference_forward
from balancedrnn.core.spec import BLOCKS, BlockSpec


reference = reference_forward  # the package's plain, readable recurrence (balancedrnn/reference.py)


DENSITIES = {
    "random": None,
    "standard": {"hx": 1.0, "hh": 1.0, "hy": 0.0, "yx": 0.0, "yh": 1.0, "yy": 0.0},  # empty blocks
    "sparse": {b: 0.1 for b in BLOCKS},
    "dense": {b: 1.0 for b in BLOCKS},
}


@pytest.mark.parametrize("kernel", ["dense", "sparse"])
@pytest.mark.parametrize("readout", ["lagged", "current"])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("case", sorted(DENSITIES))
def test_outputs_and_every_gradient_equal_autograd_reference(kernel, readout, activation, case, sparse_backend):
    g = torch.Generator().manual_seed(len(case) + len(activation))
    d = DENSITIES[case] or {b: float(torch.rand(1, generator=g)) for b in BLOCKS}
    spec = BlockSpec(9, 70, 5, d, init={b: (0.0, 0.2) for b in BLOCKS})
    model = BlockRNN(spec, seed=3, readout=readout, activation=activation, kernel=kernel).double()
    with torch.no_grad():
        model.bias.normal_(0, 0.1, generator=g)
    x = torch.randn(4, 6, 9, dtype=torch.float64, generator=g, requires_grad=True)
    params = [x, model.bias] + [model.blocks[n].values for n in BLOCKS]
    out = model(x)
    ref = reference(model, x)
    torch.testing.assert_close(out, ref, atol=1e-10, rtol=1e-10)
    g_out = torch.randn(out.shape, dtype=torch.float64, generator=g)
    got = torch.autograd.grad(out, params, g_out, allow_unused=True)
    want = torch.autograd.grad(ref, params, g_out, allow_unused=True)
    for name, a, b in zip(["x", "bias", *BLOCKS], got, want):
        a = torch.zeros_like(params[0] if name == "x" else b) if a is None else a
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10, msg=f"gradient of {name}")


def test_gradcheck_small(sparse_backend):
    spec = BlockSpec(3, 5, 2, {b: 0.6 for b in BLOCKS}, init={b: (0.0, 0.5) for b in BLOCKS})
    model = BlockRNN(spec, seed=0, activation="tanh", kernel="sparse").double()
    x = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda xx: model(xx), (x,))


def test_activation_tables_cover_the_registry():
    from balancedrnn.kernels import recurrence

    assert set(recurrence._ACT_BACKWARD) == set(ACTIVATIONS)
    assert set(recurrence._ACT_FORWARD) | set(recurrence.NEEDS_PRE_ACTIVATION) == set(ACTIVATIONS)


@pytest.mark.parametrize("readout", ["lagged", "current"])
def test_gradient_through_a_carried_state(readout, sparse_backend):
    """Stepping with the state carried (as in truncated BPTT) back-propagates through the state."""
    spec = BlockSpec(5, 30, 3, {b: 0.4 for b in BLOCKS}, init={b: (0.0, 0.3) for b in BLOCKS})
    model = BlockRNN(spec, seed=1, readout=readout, kernel="sparse").double()
    x = torch.randn(2, 5, 5, dtype=torch.float64)
    params = [model.bias] + [model.blocks[n].values for n in BLOCKS]
    want = torch.autograd.grad(reference(model, x).square().sum(), params)
    state, total = None, 0
    for t in range(5):
        y, state = model.step(x[:, t], state)
        total = total + y.square().sum()
    got = torch.autograd.grad(total, params)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


def test_two_forwards_then_one_backward_and_reused_states_are_refused():
    spec = BlockSpec(4, 40, 2, {b: 0.3 for b in BLOCKS})
    model = BlockRNN(spec, seed=0, kernel="sparse").double()
    x1, x2 = (torch.randn(3, 6, 4, dtype=torch.float64) for _ in range(2))
    params = [model.blocks[n].values for n in BLOCKS]
    # gradient accumulation: both forward passes alive at once
    got = torch.autograd.grad(model(x1).sum() + model(x2).sum(), params)
    want = torch.autograd.grad(reference(model, x1).sum() + reference(model, x2).sum(), params)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)
    # a retained graph may run backward again, but not after its states were lent to a later forward
    loss = model(x1).sum()
    loss.backward(retain_graph=True)
    loss.backward(retain_graph=True)
    with torch.no_grad():
        model(x2)
    model(x2).sum().backward()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()




@pytest.mark.parametrize("kernel", ["dense", "sparse"])
def test_a_retained_graph_gives_the_same_weight_gradients_each_backward(kernel, sparse_backend):
    """backward twice on one retained graph (two losses, gradcheck's reentrancy check) must not add the first
    call's weight gradients into the second's."""
    spec = BlockSpec(2, 66, 2, {b: 0.4 for b in BLOCKS}, init={b: (0.0, 0.3) for b in BLOCKS})
    model = BlockRNN(spec, seed=2, kernel=kernel, activation="tanh").double()  # smooth, for gradcheck
    x = torch.randn(3, 4, 2, dtype=torch.float64)
    params = [model.bias] + [model.blocks[n].values for n in BLOCKS]
    want = torch.autograd.grad(reference(model, x).sum(), params)
    loss = model(x).sum()
    first = torch.autograd.grad(loss, params, retain_graph=True)
    second = torch.autograd.grad(loss, params)
    for a, b, c in zip(first, second, want):
        torch.testing.assert_close(a, c, atol=1e-10, rtol=1e-10)
        torch.testing.assert_close(b, c, atol=1e-10, rtol=1e-10)
    assert torch.autograd.gradcheck(lambda b, v: model(x), (model.bias, model.blocks["hh"].values))


def test_reference_is_the_spec_written_out():
    """The package's readable reference agrees with a hand-computed two-step example (SPEC §2, lagged readout)."""
    spec = BlockSpec(1, 1, 1, {b: 1.0 for b in BLOCKS})
    model = BlockRNN(spec, seed=0).double()
    with torch.no_grad():
        for name, v in zip(BLOCKS, (2.0, 0.5, 1.0, 3.0, -1.0, 0.25)):  # hx hh hy yx yh yy
            model.blocks[name].values.fill_(v)
        model.bias.copy_(torch.tensor([0.1, -0.2], dtype=torch.float64))
    x = torch.tensor([[[1.0], [2.0]]], dtype=torch.float64)
    # h1 = relu(2*1 + 0.5*0 + 1*0 + 0.1) = 2.1;  y1 = 3*1 - 1*0 + 0.25*0 - 0.2 = 2.8 (reads h0)
    # h2 = relu(2*2 + 0.5*2.1 + 1*2.8 + 0.1) = 7.95;  y2 = 3*2 - 1*2.1 + 0.25*2.8 - 0.2 = 4.4 (reads h1)
    want = torch.tensor([[[2.8], [4.4]]], dtype=torch.float64)
    torch.testing.assert_close(reference_forward(model, x), want)
    torch.testing.assert_close(model(x), want)


@pytest.mark.parametrize("kernel", ["dense", "sparse"])
def test_a_sequence_of_no_steps_back_propagates(kernel, sparse_backend):
    """Zero time steps: no outputs, the last h is h_0, so h_0's gradient is the last h's and every other is 0
    (backward raised IndexError)."""
    from balancedrnn.kernels.ops import block_rnn

    model = BlockRNN(BlockSpec(5, 80, 2, {b: 0.1 for b in BLOCKS}), seed=0, kernel=kernel).double()
    x = torch.randn(2, 0, 5, dtype=torch.float64, requires_grad=True)
    model(x).sum().backward()
    assert x.grad.shape == x.shape and not model.bias.grad.any()
    h0 = torch.randn(80, 2, dtype=torch.float64, requires_grad=True)
    y0 = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    ys, h = block_rnn(torch.zeros(0, 5, 2, dtype=torch.float64), (h0, y0), model.bias, model.blocks, "relu",
                      "lagged", None)
    assert ys.shape == (0, 2, 2) and torch.equal(h, h0)
    (3 * h.sum()).backward()
    assert bool((h0.grad == 3).all()) and not y0.grad.any()


@pytest.mark.parametrize("kernel", ["dense", "sparse"])
def test_training_after_inference_mode(kernel, sparse_backend):
    """A forward pass under ``torch.inference_mode`` (evaluation) does not lend its buffers to a later training
    pass: PyTorch forbids writing to an inference tensor outside that mode, so training stopped with an error."""
    model = BlockRNN(BlockSpec(5, 80, 2, {b: 0.1 for b in BLOCKS}), seed=0, kernel=kernel)
    x = torch.randn(3, 4, 5)
    with torch.inference_mode():
        evaluated = model(x)
    y = model(x)
    y.sum().backward()
    assert torch.equal(y.detach(), evaluated)
    with torch.inference_mode():
        assert torch.equal(model(x), evaluated)


@pytest.mark.parametrize("kernel", ["dense", "sparse"])
def test_second_order_gradients_are_refused_and_the_named_alternative_gives_them(kernel, sparse_backend):
    """The hand-written backward carries no graph: under create_graph=True a gradient penalty's terms through it
    were dropped without a word (native sparse kernels) or failed inside addmm (dense). It now refuses in one line,
    and the alternative it names, the IterativeMap on dense kernels, gives the second-order gradient of the
    plain loop."""
    from balancedrnn.core.itermap import IterativeMap

    g = torch.Generator().manual_seed(5)
    spec = BlockSpec(4, 30, 2, {b: 0.5 for b in BLOCKS}, init={b: (0.0, 0.3) for b in BLOCKS})
    model = BlockRNN(spec, seed=1, activation="tanh", kernel=kernel).double()
    x = torch.randn(3, 5, 4, dtype=torch.float64, generator=g, requires_grad=True)
    w = model.blocks["hh"].values

    def penalised_grad(out: torch.Tensor) -> torch.Tensor:
        (gx,) = torch.autograd.grad(out.pow(2).sum(), x, create_graph=True)
        return torch.autograd.grad(out.sum() + gx.pow(2).sum(), w)[0]

    with pytest.raises(RuntimeError, match="no double backward") as err:
        penalised_grad(model(x))
    assert "\n" not in str(err.value)
    want = penalised_grad(reference(model, x))
    got = penalised_grad(IterativeMap.from_block_rnn(model).set_kernel("dense")(x, return_sequence=True))
    torch.testing.assert_close(got, want, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("readout", ["Lagged", "lag", "standard"])
def test_an_unknown_readout_is_refused_not_run_as_current(readout):
    """The passes test readout == "lagged", so any other word (a typo, a readout set on the model after it was
    built) ran the current readout without a word; the recurrence now names the readouts it knows."""
    from balancedrnn.kernels.recurrence import run_recurrence

    model = BlockRNN(BlockSpec(3, 5, 2, {b: 1.0 for b in BLOCKS}), seed=0)
    x = torch.randn(2, 4, 3)
    model.readout = readout
    with pytest.raises(ValueError, match="unknown readout"):
        model(x)
    with pytest.raises(ValueError, match="unknown readout"):
        run_recurrence(x.permute(1, 2, 0), model.initial_state(2), model.bias, model.blocks, "relu", readout)


@pytest.mark.parametrize("kernel", ["dense", "sparse"])
def test_values_written_between_forward_and_backward_are_refused(kernel, sparse_backend):
    """The sparse kernels read the block's values in the backward (the CSR matrix and the compiled kernels' copy
    share their storage), so an in-place write after the forward (an optimiser step before a retained graph's
    backward) gave gradients of a model that never ran, silently. Autograd now checks the values' version, as
    it does for nn.Linear's weight."""
    from balancedrnn.core.masks import MaskedBlock
    from balancedrnn.kernels.dispatch import sparse_matmul

    model = BlockRNN(BlockSpec(4, 90, 2, {b: 0.3 for b in BLOCKS}), seed=0, kernel=kernel).double()
    out = model(torch.randn(3, 5, 4, dtype=torch.float64))
    with torch.no_grad():
        model.blocks["hh"].values.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()
    block = MaskedBlock.random(90, 70, 0.1, torch.Generator().manual_seed(0)).double()
    x = torch.randn(5, 70, dtype=torch.float64, requires_grad=True)
    out = sparse_matmul(block.values, x, block.pattern())
    with torch.no_grad():
        block.values.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()
