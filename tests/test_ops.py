"""The recurrence as PyTorch custom operators: torch.compile(fullgraph=True) gives the eager outputs and gradients."""

import pytest
import torch

from balancedrnn import BlockRNN, BlockSpec
from balancedrnn.core.spec import BLOCKS

CASES = [  # (activation, readout, kernel, densities)
    ("relu", "lagged", "auto", {"hx": 0.1, "hh": 0.5, "hy": 1.0, "yx": 0.1, "yh": 0.3, "yy": 0.1}),
    ("relu", "lagged", "sparse", {"hx": 0.1, "hh": 0.2, "hy": 1.0, "yx": 0.1, "yh": 0.1, "yy": 0.0}),
    ("tanh", "current", "sparse", {"hx": 0.2, "hh": 0.3, "hy": 0.5, "yx": 0.1, "yh": 0.2, "yy": 0.3}),
    ("gelu", "lagged", "dense", {b: 0.4 for b in BLOCKS}),
]


def grads_of(model, x, g):
    model.zero_grad(set_to_none=True)
    x = x.detach().clone().requires_grad_(True)
    y = model(x)
    y.backward(g)
    return y.detach(), x.grad, {n.removeprefix("_orig_mod."): p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("activation,readout,kernel,density", CASES)
def test_compiled_fullgraph_equals_eager(activation, readout, kernel, density, sparse_backend):
    torch.manual_seed(0)
    spec = BlockSpec.from_budget(60, 5, 4_000, density)
    model = BlockRNN(spec, seed=1, activation=activation, readout=readout, kernel=kernel).double()
    x = torch.randn(3, 5, 60, dtype=torch.float64)
    g = torch.randn(3, 5, 5, dtype=torch.float64)
    y, gx, gp = grads_of(model, x, g)
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True)  # fails on any graph break
    yc, gxc, gpc = grads_of(compiled, x, g)
    torch.testing.assert_close(yc, y, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(gxc, gx, atol=1e-12, rtol=1e-12)
    for name in gp:
        torch.testing.assert_close(gpc[name], gp[name], atol=1e-12, rtol=1e-12)


def test_one_graph_no_breaks():
    model = BlockRNN(BlockSpec.from_budget(60, 5, 4_000, CASES[0][3]), seed=0)
    torch._dynamo.reset()
    explained = torch._dynamo.explain(model)(torch.randn(2, 4, 60))
    assert explained.graph_count == 1 and explained.graph_break_count == 0


def test_operator_checks():
    """PyTorch's own checks of a custom operator: schema, fake (meta) implementation, autograd registration."""
    from balancedrnn.kernels import ops

    model = BlockRNN(BlockSpec.from_budget(30, 4, 1_500, CASES[1][3]), seed=0, kernel="sparse").double()
    xs = torch.randn(4, 30, 2, dtype=torch.float64, requires_grad=True)
    blocks = model.blocks
    args = (xs, torch.zeros(model.dh, 2, dtype=torch.float64), torch.zeros(4, 2, dtype=torch.float64), model.bias,
            [blocks[n].values for n in BLOCKS], [blocks[n].index for n in BLOCKS],
            [d for n in BLOCKS for d in (blocks[n].rows, blocks[n].cols)], [ops._KERNEL_CODE[blocks[n].kernel] for n in BLOCKS],
            "relu", "lagged")
    torch.library.opcheck(torch.ops.balancedrnn.block_rnn.default, args,
                          test_utils=("test_schema", "test_faketensor", "test_autograd_registration"))


def test_compiled_step_carries_state():
    """Running ``step`` through a compiled model gives the eager model's outputs."""
    model = BlockRNN(BlockSpec.from_budget(20, 3, 800, CASES[0][3]), seed=2)
    x = torch.randn(2, 6, 20)
    want = model(x)
    torch._dynamo.reset()
    step = torch.compile(model.step, fullgraph=True)
    state, outs = None, []
    for t in range(6):
        y, state = step(x[:, t], state)
        outs.append(y)
    torch.testing.assert_close(torch.stack(outs, 1), want, atol=1e-6, rtol=1e-5)
