import copy
import math

import pytest
import torch
from torch import nn

from balancedrnn.core.itermap import IterativeMap, fill_counts
from balancedrnn.core.masks import MaskedBlock
from balancedrnn.core.model import BlockRNN
from balancedrnn.core.spec import BLOCKS, BlockSpec, SpecError, exact_count


@pytest.fixture(autouse=True)
def _one_thread():
    """The machine's cores are shared with other jobs."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def make_mlp(sizes: list[int], seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    acts = [nn.ReLU, nn.Tanh, nn.Sigmoid, nn.Identity]
    layers: list[nn.Module] = []
    for k, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if k < len(sizes) - 2:
            layers.append(acts[(k + seed) % len(acts)]())
    return nn.Sequential(*layers)


# ----------------------------------------------------------------------------------------- from_mlp
@pytest.mark.parametrize("sizes", [[6, 5, 3], [8, 7, 5, 2], [5, 9, 6, 4, 3]])
@pytest.mark.parametrize("mode", ["first", "every"])
def test_from_mlp_equals_mlp_whatever_the_initial_state(sizes, mode):
    mlp = make_mlp(sizes, seed=len(sizes))
    m = IterativeMap.from_mlp(mlp)
    assert m.iterations == len(sizes) - 1
    assert list(m.groups) == ["x"] + [f"h{k}" for k in range(1, len(sizes) - 1)] + ["y"]
    x = torch.randn(11, sizes[0])
    want = mlp(x)
    for trial in range(3):
        g = torch.Generator().manual_seed(trial)
        initial = {n: torch.randn(11, s, generator=g) * 10 for n, s in m.groups.items() if n != "x"}
        got = m(x, initial=initial, input_mode=mode)
        assert torch.allclose(got, want, atol=1e-5), (got - want).abs().max()
    # the whole state after L iterations holds every layer's output
    states = m.states(x, initial=torch.randn(sum(m.groups.values())))
    assert len(states) == len(sizes) - 1
    assert torch.allclose(states[-1]["x"], x)
    assert m.stack(states[-1]).shape == (11, sum(sizes))


def test_from_mlp_weights_and_sharing():
    mlp = make_mlp([6, 5, 4, 3], seed=0)
    shared = IterativeMap.from_mlp(mlp)
    copied = IterativeMap.from_mlp(mlp, share=False)
    assert shared.weights == 6 * 5 + 5 * 4 + 4 * 3 == copied.weights
    assert shared.parameters_count == sum(p.numel() for p in mlp.parameters())
    assert shared.block("h1", "x").weight is mlp[0].weight
    assert copied.block("h1", "x").weight is not mlp[0].weight
    # the block matrix view: one lower-triangular matrix with the identity on (x, x)
    w = shared.block_matrix()
    assert torch.equal(w[:6, :6], torch.eye(6))
    assert torch.equal(w[6:11, :6], mlp[0].weight.detach())
    assert torch.count_nonzero(w[:, 6 + 5 + 4 :]) == 0  # nothing reads y


def test_from_mlp_keeps_other_modules_as_activations():
    torch.manual_seed(1)
    mlp = nn.Sequential(nn.Linear(4, 6), nn.LeakyReLU(0.2), nn.Dropout(0.5), nn.Linear(6, 2), nn.Softmax(-1))
    mlp.eval()
    m = IterativeMap.from_mlp(mlp).eval()
    x = torch.randn(5, 4)
    assert torch.allclose(m(x, initial={"h1": torch.randn(5, 6)}), mlp(x), atol=1e-6)


def test_from_mlp_rejects_bad_sequentials():
    with pytest.raises(ValueError, match="starts with nn.Linear"):
        IterativeMap.from_mlp(nn.Sequential(nn.ReLU(), nn.Linear(3, 2)))
    with pytest.raises(ValueError, match="layer 2 takes 4 inputs but layer 1 gives 5"):
        IterativeMap.from_mlp(nn.Sequential(nn.Linear(3, 5), nn.Linear(4, 2)))


def test_from_mlp_refuses_running_statistics():
    """A map computes every group at every iteration: a BatchNorm's running statistics would be updated L times
    per pass (from unsettled hidden values), so after training its evaluation output would differ from the MLP's."""
    mlp = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))
    with pytest.raises(ValueError, match="layer 1 is followed by BatchNorm1d with running statistics") as exc:
        IterativeMap.from_mlp(mlp)
    assert "\n" not in str(exc.value)
    free = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4, track_running_stats=False), nn.ReLU(), nn.Linear(4, 2))
    x = torch.randn(8, 5)
    assert torch.allclose(IterativeMap.from_mlp(free)(x), free(x), atol=1e-6)


# ------------------------------------------------------------------------------------- from_block_rnn
def random_spec(seed: int) -> BlockSpec:
    g = torch.Generator().manual_seed(100 + seed)
    density = {b: float(torch.rand(1, generator=g)) for b in BLOCKS}
    if seed % 2 == 0:
        density["yy"] = 0.0
    if seed % 3 == 0:
        density["hh"] = 1.0
    return BlockSpec(7 + 3 * seed, 5 + 2 * seed, 2 + seed % 3, density, init={b: (0.0, 0.3) for b in BLOCKS})


@pytest.mark.parametrize("kernel", ["dense", "sparse"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_block_rnn_equals_its_iterative_map(kernel, seed, activation):
    model = BlockRNN(random_spec(seed), seed=seed, activation=activation, kernel=kernel)
    with torch.no_grad():
        model.bias.normal_(0, 0.3)
    for share in (True, False):
        m = IterativeMap.from_block_rnn(model, share=share)
        assert m.nnz() == {(b[0], b[1]): n for b, n in model.nnz().items()}
        assert m.weights == model.weights and m.parameters_count == model.parameters_count
        assert all(m.block(b[0], b[1]).kernel == kernel for b in BLOCKS)
        x = torch.randn(3, 6, model.dx)
        want = model(x)
        got = m(x, return_sequence=True)
        assert got.shape == want.shape
        assert torch.allclose(got, want, atol=1e-5), (got - want).abs().max()
        assert torch.allclose(m(x), want[:, -1], atol=1e-5)
    shared = IterativeMap.from_block_rnn(model)
    assert shared.block("h", "h") is model.blocks["hh"]
    assert shared.group_bias("y").data_ptr() == model.bias[model.dh :].data_ptr()


def test_block_rnn_gradients_agree():
    model = BlockRNN(random_spec(1), seed=3, kernel="sparse")
    m = IterativeMap.from_block_rnn(model, share=False)
    x = torch.randn(2, 4, model.dx)
    model(x).square().sum().backward()
    m(x, return_sequence=True).square().sum().backward()
    for b in BLOCKS:
        if model.blocks[b].nnz == 0:  # an absent block has no gradient in either form
            assert m.block(b[0], b[1]).values.grad is None
            continue
        assert torch.allclose(model.blocks[b].values.grad, m.block(b[0], b[1]).values.grad, atol=1e-5)


def test_block_rnn_current_readout_is_refused():
    model = BlockRNN(random_spec(0), readout="current")
    with pytest.raises(ValueError, match="readout='lagged' only"):
        IterativeMap.from_block_rnn(model)


@pytest.mark.parametrize("model", [nn.RNN(3, 4, batch_first=True), make_mlp([3, 4, 2], seed=0), None])
def test_from_block_rnn_refuses_other_models_in_one_line(model):
    with pytest.raises(ValueError, match="needs a BlockRNN") as exc:
        IterativeMap.from_block_rnn(model)
    assert "\n" not in str(exc.value)


# ---------------------------------------------------------------------------------------- validation
def one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize(
    "block",
    [
        nn.Linear(5, 3),  # the wrong way round: (h, x) needs 3 -> 5
        MaskedBlock.random(3, 5, 0.5, torch.Generator().manual_seed(0)),
        "identity",
        nn.Sequential(nn.Linear(3, 4), nn.ReLU()),
        nn.Linear(7, 5),
    ],
)
def test_block_that_does_not_fit_is_rejected_naming_the_pair(block):
    groups = {"x": 3, "h": 5, "y": 2}
    with pytest.raises(ValueError) as exc:
        IterativeMap(groups, {("y", "h"): "dense", ("h", "x"): block})
    assert "(h, x)" in one_line(exc)


def test_unknown_group_and_bad_specs_are_rejected():
    groups = {"x": 3, "h": 5, "y": 2}
    with pytest.raises(ValueError) as exc:
        IterativeMap(groups, {("h", "x"): "dense", ("h2", "h"): "dense"})
    msg = one_line(exc)
    assert "(h2, h)" in msg and "'h2'" in msg
    with pytest.raises(ValueError) as exc:
        IterativeMap(groups, {("h", "z"): 0.5})
    assert "(h, z)" in one_line(exc)
    with pytest.raises(ValueError) as exc:
        IterativeMap(groups, {("h", "x"): 1.5})
    assert "(h, x)" in one_line(exc)
    with pytest.raises(ValueError) as exc:
        IterativeMap(groups, {("h", "x"): "sparse"})
    assert "(h, x)" in one_line(exc)
    with pytest.raises(ValueError):
        IterativeMap({"x": 0, "h": 2}, {})
    with pytest.raises(ValueError, match="unknown activation"):
        IterativeMap(groups, {("h", "x"): "dense"}, activation={"h": "swish"})


def test_a_fitting_generic_module_is_accepted_and_the_probe_changes_nothing():
    bn = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5))
    before = copy.deepcopy(bn.state_dict())
    m = IterativeMap({"x": 3, "h": 5, "y": 2}, {("h", "x"): bn, ("y", "h"): 0.5}, activation={"h": "relu"},
                     iterations=2, bias=True)
    assert all(torch.equal(before[k], v) for k, v in bn.state_dict().items())
    assert bn.training
    assert m(torch.randn(4, 3)).shape == (4, 2)
    assert m.nnz()[("h", "x")] == 3 * 5 + 5 + 5 + 5  # all trainable entries of a generic module


def test_the_probe_keeps_each_submodules_own_mode():
    """A module in training mode with a part frozen in evaluation mode (a BatchNorm whose statistics are
    fixed) keeps that part in evaluation mode after the probe: the probe changes no state."""
    mod = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.Dropout(0.5))
    mod[1].eval()
    IterativeMap({"x": 3, "h": 5}, {("h", "x"): mod}, iterations=1)
    assert [m.training for m in mod] == [True, False, True]


def test_bad_inputs_are_rejected():
    m = IterativeMap({"x": 3, "y": 2}, {("y", "x"): "dense"})
    with pytest.raises(ValueError, match="no default number of iterations"):
        m(torch.randn(4, 3))
    with pytest.raises(ValueError, match="input must have shape"):
        m(torch.randn(4, 4), iterations=1)
    with pytest.raises(ValueError, match="input_mode"):
        m(torch.randn(4, 5, 3), input_mode="first")
    with pytest.raises(ValueError, match="initial value of group y"):
        m(torch.randn(4, 3), iterations=1, initial={"y": torch.zeros(4, 3)})


def test_semantics_simultaneous_update_and_empty_rows():
    """Groups read the previous state; a group without blocks becomes act(bias); a sequence may run on."""
    ident = {("a", "x"): "identity", ("b", "a"): "identity"}
    m = IterativeMap({"x": 2, "a": 2, "b": 2, "c": 2}, ident, bias={"c": torch.tensor([1.0, -2.0])},
                     activation={"c": "relu"})
    x = torch.tensor([[3.0, 4.0]])
    s1, s2 = m.states(x, iterations=2, initial={"a": torch.ones(2), "b": torch.ones(2)})
    assert torch.equal(s1["a"], x) and torch.equal(s1["b"], torch.ones(1, 2))  # b read the old a
    assert torch.equal(s2["b"], x)
    assert torch.equal(s1["x"], torch.zeros(1, 2))  # no (x, x) block: x is not kept after being read
    assert torch.equal(s2["a"], torch.zeros(1, 2))  # input inserted at the first iteration only
    assert torch.equal(s1["c"], torch.tensor([[1.0, 0.0]]))
    seq = torch.randn(1, 3, 2)
    out = m.states(seq, iterations=5)
    assert torch.equal(out[2]["a"], seq[:, 2]) and torch.equal(out[3]["b"], seq[:, 2])
    assert torch.equal(out[4]["b"], torch.zeros(1, 2))


# ------------------------------------------------------------------------------------------- filling
def test_fill_at_a_density_counts_with_exact_count():
    m = IterativeMap.from_mlp(make_mlp([20, 16, 12, 4], seed=2))
    base = m.weights
    empty = m.empty_pairs()
    assert ("y", "y") in empty and ("h1", "h2") in empty and ("h2", "x") not in empty
    assert ("x", "h1") not in empty  # the input row holds data and is never filled
    assert set(m.empty_pairs(include_input=True)) - set(empty) == {("h2", "x"), ("y", "x")}
    m.fill(0.3, seed=1)
    nnz = m.nnz()
    for o, i in empty:
        assert nnz[(o, i)] == exact_count(0.3, m.groups[o], m.groups[i])
        assert isinstance(m.block(o, i), MaskedBlock)
    assert m.weights == base + sum(exact_count(0.3, m.groups[o], m.groups[i]) for o, i in empty)
    with pytest.raises(ValueError, match=r"\(y, y\) is already present"):
        m.fill(0.1, pairs=[("y", "y")])


def test_fill_with_pairs_beyond_the_per_pair_densities_is_refused():
    """pairs=[a, b] with density={a: .3} added b as an empty block: the map then said b was present, so it
    could not be filled later, and nothing said so."""
    m = IterativeMap.from_mlp(make_mlp([20, 16, 12, 4], seed=2))
    before = dict(m.nnz())
    with pytest.raises(ValueError, match=r"no density given for block \(y, y\)"):
        m.fill({("h1", "h2"): 0.3}, pairs=[("h1", "h2"), ("y", "y")])
    assert dict(m.nnz()) == before  # refused before anything was added
    m.fill({("h1", "h2"): 0.3, ("y", "y"): 0.5}, pairs=[("h1", "h2"), ("y", "y")], seed=1)
    assert m.nnz()[("y", "y")] == exact_count(0.5, 4, 4)


@pytest.mark.parametrize("budget", [800, 1000, 1234, 1599])
@pytest.mark.parametrize("include_input", [False, True])
def test_fill_at_a_budget_hits_it(budget, include_input):
    m = IterativeMap.from_mlp(make_mlp([30, 17, 11, 5], seed=3))
    todo = m.empty_pairs(include_input)
    m.fill(budget=budget, include_input=include_input, seed=7)
    # within one entry per filled block of rounding (and in fact exact with exact-count masks)
    assert abs(m.weights - budget) <= len(todo)
    assert m.weights == budget
    dens = [m.block(o, i).density for o, i in todo]
    sizes = [m.groups[o] * m.groups[i] for o, i in todo]
    assert max(dens) - min(dens) <= 2 / min(sizes) + 1e-12  # one common density up to one entry


def test_fill_counts_out_of_reach_budgets():
    shapes = {("a", "b"): (3, 4), ("b", "b"): (4, 4)}
    assert sum(fill_counts(shapes, 10, existing=5).values()) == 5
    assert fill_counts(shapes, 33, existing=5) == {("a", "b"): 12, ("b", "b"): 16}
    with pytest.raises(SpecError, match=r"must lie in \[5, 33\]") as exc:
        fill_counts(shapes, 4, existing=5)
    assert "\n" not in str(exc.value)
    with pytest.raises(SpecError, match=r"must lie in \[5, 33\]"):
        fill_counts(shapes, 34, existing=5)


def test_training_a_filled_map_reduces_the_loss_and_keeps_masks():
    torch.manual_seed(0)
    m = IterativeMap.from_mlp(make_mlp([12, 16, 8, 3], seed=4)).fill(budget=600, seed=2, kernel="sparse")
    masked = {p: m.blocks[f"{p[0]}<-{p[1]}"] for p in m.pairs if isinstance(m.blocks[f"{p[0]}<-{p[1]}"], MaskedBlock)}
    support = m.block_matrix().detach() != 0
    x = torch.randn(64, 12)
    target = torch.sin(x[:, :3]) + x[:, 3:6] * 0.5
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = (m(x, iterations=4, input_mode="every") - target).square().mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
    after = m.block_matrix().detach()
    assert torch.count_nonzero(after[~support]) == 0
    for blk in masked.values():
        assert blk.values.numel() == blk.nnz
        assert torch.count_nonzero(blk.dense().detach()[~blk.mask()]) == 0


def test_blocks_drawn_into_a_double_map_follow_its_dtype():
    """fill and add_block on a float64 map (e.g. from a float64 MLP) draw float64 blocks, not float32 ones
    that fail in the forward pass."""
    mlp = make_mlp([5, 4, 2], seed=1).double()
    m = IterativeMap.from_mlp(mlp).fill(0.5, include_input=True, seed=1)
    m.add_block(("h1", "h1"), "dense")
    assert {p.dtype for p in m.parameters()} == {torch.float64}
    x = torch.randn(3, 5, dtype=torch.float64)
    assert m(x).dtype == torch.float64
    m2 = IterativeMap.from_mlp(mlp).fill(budget=40, seed=1)
    assert m2.weights == 40 and m2(x).shape == (3, 2)


@pytest.mark.parametrize("init", [(float("nan"), 0.05), (0.0, float("inf")), (0.0, -0.05), (0.0,), "ab"])
def test_a_bad_init_is_refused_before_drawing(init):
    """The map's and fill's (mean, std) are checked as BlockSpec checks its init: no NaN or negative-std draws."""
    groups = {"x": 3, "h": 4, "y": 2}
    with pytest.raises(SpecError, match="init") as exc:
        IterativeMap(groups, {("h", "x"): 0.5}, init=init)
    assert "\n" not in str(exc.value)
    m = IterativeMap(groups, {("h", "x"): 0.5, ("y", "h"): 0.5}, iterations=2)
    with pytest.raises(SpecError, match="init"):
        m.fill(0.5, init=init)
    with pytest.raises(SpecError, match="init"):
        m.fill(budget=m.weights + 3, init=init)
    assert m.empty_pairs() == [("h", "h"), ("h", "y"), ("y", "y")]  # nothing was added


def test_building_a_map_leaves_the_global_rng_alone():
    """Blocks are drawn from the map's own generator: from_mlp and 'dense' blocks do not advance torch's global
    RNG (so building a map does not change later shuffles or dropout draws)."""
    mlp = make_mlp([5, 4, 2], seed=0)
    torch.manual_seed(0)
    want = torch.rand(3)
    for build in (lambda: IterativeMap.from_mlp(mlp), lambda: IterativeMap.from_mlp(mlp, share=False),
                  lambda: IterativeMap({"x": 3, "y": 2}, {("y", "x"): "dense"}, seed=5).fill(0.5)):
        torch.manual_seed(0)
        build()
        assert torch.equal(torch.rand(3), want)


def test_bias_given_as_one_group_name():
    """bias="hy" is the group hy, not the groups h and y (a string is not split into letters)."""
    m = IterativeMap({"x": 3, "h": 4, "y": 2, "hy": 5}, {("hy", "x"): "dense"}, bias="hy")
    assert list(m.biases) == ["hy"]
    m = IterativeMap({"x": 3, "h1": 4}, {("h1", "x"): "dense"}, bias="h1")
    assert list(m.biases) == ["h1"]


# ----------------------------------------------------------------------------- a slow reference
def _reference_states(m: IterativeMap, x: torch.Tensor, n: int, mode: str, initial: torch.Tensor) -> list[torch.Tensor]:
    """SPEC §9 written out: one dense matrix over the stacked state, assembled entry by entry from each block's
    mask and values (not from ``block_matrix``), iterated in float64 one sample and one row at a time."""
    start, at = {}, 0
    for g, size in m.groups.items():
        start[g], at = at, at + size
    total = at
    w = [[0.0] * total for _ in range(total)]
    for o, i in m.pairs:
        blk = m.block(o, i)
        if isinstance(blk, MaskedBlock):
            mat = torch.zeros(blk.rows * blk.cols, dtype=torch.float64)
            for k, v in zip(blk.index.tolist(), blk.values.tolist()):
                mat[k] = v
            mat = mat.view(blk.rows, blk.cols)
        elif isinstance(blk, nn.Linear):
            mat = blk.weight.detach().double()
        else:
            mat = torch.eye(m.groups[o], dtype=torch.float64)
        for r in range(m.groups[o]):
            for c in range(m.groups[i]):
                w[start[o] + r][start[i] + c] += float(mat[r, c])
    bias = [0.0] * total
    for g in m.groups:
        b = m.group_bias(g)
        for r in range(m.groups[g]):
            bias[start[g] + r] = 0.0 if b is None else float(b[r])
    act = {"relu": lambda v: max(v, 0.0), "tanh": math.tanh, "identity": lambda v: v}
    out = []
    z = [list(map(float, row)) for row in initial.double()]
    for t in range(n):
        new = []
        for s, prev in enumerate(z):
            read = list(prev)
            data = None
            if x.dim() == 3:
                data = x[s, t] if t < x.shape[1] else None
            elif mode == "every" or t == 0:
                data = x[s]
            if data is not None:
                read[start[m.input]:start[m.input] + m.groups[m.input]] = [float(v) for v in data]
            row = []
            for g, size in m.groups.items():
                f = act[m.activation_names[g]]
                for r in range(size):
                    q = start[g] + r
                    row.append(f(sum(w[q][c] * read[c] for c in range(total)) + bias[q]))
            new.append(row)
        z = new
        out.append(torch.tensor(z, dtype=torch.float64))
    return out


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("mode", ["first", "every", "sequence"])
def test_a_general_filled_map_equals_the_slow_block_matrix_reference(seed, mode):
    """Masked, dense, identity and filled blocks (above and below the diagonal), biases and activations, a
    random initial state, static input inserted once or every time, and a sequence run past its end."""
    groups = {"x": 4, "h1": 5, "h2": 3, "y": 2}
    blocks = {("x", "x"): "identity", ("h1", "x"): 0.6, ("h2", "h1"): "dense", ("y", "h2"): 0.5, ("h1", "h2"): 0.4}
    m = IterativeMap(groups, blocks, activation={"h1": "relu", "h2": "tanh"}, bias=True, iterations=4, seed=seed)
    with torch.no_grad():
        for b in m.biases.values():
            b.param.normal_(generator=torch.Generator().manual_seed(seed))
    m.fill(0.3, include_input=True, seed=seed + 5)
    gen = torch.Generator().manual_seed(seed + 10)
    initial = torch.randn(3, sum(groups.values()), generator=gen)
    x = torch.randn(3, 3, 4, generator=gen) if mode == "sequence" else torch.randn(3, 4, generator=gen)
    n = 5
    got = m.states(x, n, initial=initial, input_mode=None if mode == "sequence" else mode)
    want = _reference_states(m, x, n, mode, initial)
    for g, w in zip(got, want):
        assert torch.allclose(m.stack(g).detach().double(), w, atol=1e-5)


@pytest.mark.parametrize("seed", [3.7, -1, True, "3"])
def test_a_seed_that_is_not_a_whole_number_is_refused(seed):
    """seed=3.7 drew the very blocks of seed 3 (int() truncated it), silently; IterativeMap and fill now take a seed
    as a run does (spec.check_seed), and an integral float is its integer."""
    groups = {"x": 3, "h": 4, "y": 2}
    with pytest.raises(SpecError, match="seed must be an integer"):
        IterativeMap(groups, {("h", "x"): 0.5, ("y", "h"): 0.5}, seed=seed)
    with pytest.raises(SpecError, match="seed must be an integer"):
        IterativeMap(groups, {("h", "x"): 0.5, ("y", "h"): 0.5}).fill(0.5, seed=seed)
    a = IterativeMap(groups, {("h", "x"): 0.5, ("y", "h"): 0.5}, seed=3.0).fill(0.5, seed=2.0)
    b = IterativeMap(groups, {("h", "x"): 0.5, ("y", "h"): 0.5}, seed=3).fill(0.5, seed=2)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_biases_keep_the_precision_of_a_float64_map():
    """A bias given as a float64 tensor was stored in float32 (its value rounded), and bias=True made float32 zeros
    in a float64 map, so the bias trained in float32: both now take the map's (or the given tensor's) dtype."""
    groups = {"x": 3, "h": 4, "y": 2}
    blocks = {("h", "x"): nn.Linear(3, 4, bias=False).double(), ("y", "h"): nn.Linear(4, 2, bias=False).double()}
    given = torch.tensor([0.1, 1 / 3, 1e-9 + 1, -2.0], dtype=torch.float64)
    imap = IterativeMap(groups, blocks, bias={"h": given, "y": [1, 2]})
    assert torch.equal(imap.group_bias("h"), given)
    assert imap.group_bias("y").dtype == torch.float64 and imap.group_bias("y").tolist() == [1.0, 2.0]
    assert IterativeMap(groups, blocks, bias=True).group_bias("h").dtype == torch.float64
    assert IterativeMap(groups, {("h", "x"): 0.5}, bias=True).group_bias("h").dtype == torch.get_default_dtype()
    f32 = IterativeMap(groups, {("h", "x"): 0.5}, bias={"h": given})
    assert f32.group_bias("h").dtype == torch.float32  # the map's dtype: its outputs stay float32


def test_an_array_input_runs_as_the_tensor_it_holds():
    """A NumPy array or nested lists stopped with AttributeError ('numpy.ndarray' object has no attribute 'dim');
    a BlockRNN takes them, and so does the map now (in the map's dtype)."""
    np = pytest.importorskip("numpy")
    mlp = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    imap = IterativeMap.from_mlp(mlp)
    x = np.random.default_rng(0).standard_normal((5, 3))  # float64, the map is float32
    want = mlp(torch.as_tensor(x, dtype=torch.float32))
    torch.testing.assert_close(imap(x), want)
    torch.testing.assert_close(imap(x.tolist()), want)
    with pytest.raises(ValueError, match="tensor or array of numbers"):
        imap([["a", "b", "c"]])
