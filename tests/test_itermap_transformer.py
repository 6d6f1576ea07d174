"""Transformer encoders as iterative maps (SPEC §9, issue 21); the reference is the PyTorch encoder itself."""

import copy
import warnings

import pytest
import torch
from torch import nn

from balancedrnn.core.itermap import BlockSum, IterativeMap
from balancedrnn.core.masks import MaskedBlock
from balancedrnn.core.spec import SpecError, exact_count


@pytest.fixture(autouse=True)
def _one_thread():
    """The machine's cores are shared with other jobs."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


# (d_model, heads, feed-forward width, layers, norm_first, final norm, activation)
ARCHS = {
    "post-norm 3x4 heads": (16, 4, 32, 3, False, False, "relu"),
    "pre-norm 2x2 heads + final norm": (16, 2, 24, 2, True, True, "gelu"),
    "pre-norm 1 layer 3 heads, silu": (12, 3, 20, 1, True, False, nn.functional.silu),
    "post-norm 4x1 head + final norm": (8, 1, 16, 4, False, True, nn.Tanh()),
}


def make_encoder(arch: str, seed: int = 0, dropout: float = 0.1) -> nn.TransformerEncoder:
    """An encoder with every parameter (LayerNorm scales and shifts too) drawn at random, in eval mode."""
    d, heads, ff, n, norm_first, final, act = ARCHS[arch]
    torch.manual_seed(seed)
    layer = nn.TransformerEncoderLayer(d, heads, ff, dropout=dropout, activation=act, batch_first=True,
                                       norm_first=norm_first)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # enable_nested_tensor is irrelevant here
        enc = nn.TransformerEncoder(layer, n, norm=nn.LayerNorm(d) if final else None)
    with torch.no_grad():
        for p in enc.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
        for m in enc.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.add_(1.0)
    return enc.eval()


def random_initial(m: IterativeMap, batch: int, length: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {n: torch.randn(batch, length, s, generator=g) * 10 for n, s in m.groups.items() if n != "x"}


# ------------------------------------------------------------------------------------------ equality
@pytest.mark.parametrize("arch", list(ARCHS))
def test_map_equals_the_encoder_whatever_the_initial_state(arch):
    enc = make_encoder(arch)
    d, _, _, n, *_ = ARCHS[arch]
    m = IterativeMap.from_transformer(enc)
    assert m.tokens and m.iterations == 2 * n
    assert list(m.groups) == ["x"] + [f"{k}{i}" for i in range(1, n + 1) for k in ("a", "f")]
    x = torch.randn(5, 7, d)
    want = enc(x)  # parameters require grad: PyTorch's reference (slow) path
    for trial in range(3):
        got = m(x, initial=random_initial(m, 5, 7, trial))
        assert got.shape == want.shape
        assert torch.allclose(got, want, atol=1e-5), (got - want).abs().max()
    # without autograd PyTorch takes its fused fast path; it agrees with the map to float tolerance
    with torch.no_grad():
        fast = enc(x)
        assert torch.allclose(m(x, initial=random_initial(m, 5, 7, 9)), fast, atol=1e-5)
    # a stacked (total,) initial state broadcasts to every sample and token
    assert torch.allclose(m(x, initial=torch.randn(sum(m.groups.values())) * 5), want, atol=1e-5)


@pytest.mark.parametrize("arch", ["post-norm 3x4 heads", "pre-norm 2x2 heads + final norm"])
def test_every_group_holds_a_sub_layer_result(arch):
    """After 2L iterations group f_l is the output of the first l layers, and the input persists."""
    enc = make_encoder(arch, seed=1)
    d, _, _, n, _, final, _ = ARCHS[arch]
    m = IterativeMap.from_transformer(enc)
    x = torch.randn(3, 6, d)
    last = m.states(x, initial=random_initial(m, 3, 6, 0))[-1]
    assert torch.equal(last["x"], x)
    h = x
    for k, layer in enumerate(enc.layers, start=1):
        h = layer(h)
        if k < n or not final:
            assert torch.allclose(last[f"f{k}"], h, atol=1e-5)
    assert torch.allclose(m.stack(last)[..., -d:], enc(x), atol=1e-5)


@pytest.mark.parametrize("as_bool", [True, False])
def test_a_fixed_attention_mask_is_supported(as_bool):
    enc = make_encoder("pre-norm 2x2 heads + final norm", seed=2)
    causal = nn.Transformer.generate_square_subsequent_mask(6)
    mask = torch.isinf(causal) if as_bool else causal
    m = IterativeMap.from_transformer(enc, mask=mask)
    x = torch.randn(4, 6, 16)
    want = enc(x, mask=mask)
    assert torch.allclose(m(x, initial=random_initial(m, 4, 6, 1)), want, atol=1e-5)
    assert not torch.allclose(enc(x), want, atol=1e-3)  # the mask matters
    with pytest.raises(ValueError, match="mask is for 6 tokens; the input has 5"):
        m(torch.randn(4, 5, 16))  # the mask fixes the length


def test_share_and_copy():
    enc = make_encoder("post-norm 3x4 heads")
    shared = IterativeMap.from_transformer(enc)
    copied = IterativeMap.from_transformer(enc, share=False)
    assert shared.block("a1", "x").terms[1].attn is enc.layers[0].self_attn
    assert copied.block("a1", "x").terms[1].attn is not enc.layers[0].self_attn
    assert not any(p is q for p in copied.parameters() for q in enc.parameters())
    x = torch.randn(2, 5, 16)
    assert torch.allclose(copied(x), enc(x), atol=1e-5)
    with torch.no_grad():
        enc.layers[0].linear1.weight.add_(1.0)
    assert torch.allclose(shared(x), enc(x), atol=1e-5)
    assert not torch.allclose(copied(x), enc(x), atol=1e-3)


# ------------------------------------------------------------------------------------------ counting
@pytest.mark.parametrize("arch", list(ARCHS))
def test_counts_equal_the_encoders(arch):
    enc = make_encoder(arch)
    for share in (True, False):
        m = IterativeMap.from_transformer(enc, share=share)
        assert m.parameters_count == sum(p.numel() for p in enc.parameters())
        # weights = entries of the weight matrices, as for an MLP's nn.Linear blocks
        assert m.weights == sum(p.numel() for p in enc.parameters() if p.dim() == 2)
        assert m.summary()["weights"] == m.weights


# ------------------------------------------------------------------------------------------ gradients
@pytest.mark.parametrize("arch", list(ARCHS))
def test_gradients_equal_the_encoders(arch):
    enc = make_encoder(arch, seed=3)
    m = IterativeMap.from_transformer(enc)  # shared parameters: the same tensors in both
    params = list(enc.parameters())
    d = ARCHS[arch][0]
    x = torch.randn(3, 5, d, requires_grad=True)
    target = torch.randn(3, 5, d)

    def grads(model, **kw):
        loss = ((model(x, **kw) - target) ** 2).sum()
        return torch.autograd.grad(loss, params + [x], allow_unused=True)

    want = grads(enc)
    got = grads(m, initial=random_initial(m, 3, 5, 4))
    assert len(want) == len(got) == len(params) + 1
    for w, g in zip(want, got):
        assert w is not None and g is not None
        assert torch.allclose(g, w, atol=1e-4, rtol=1e-4), (g - w).abs().max()


# --------------------------------------------------------------------------------------------- fill
@pytest.mark.parametrize("include_input", [False, True])
def test_fill_at_a_budget_hits_it(include_input):
    enc = make_encoder("pre-norm 2x2 heads + final norm")
    m = IterativeMap.from_transformer(enc, share=False)
    base = m.weights
    todo = m.empty_pairs(include_input)
    assert len(todo) == 4 * 4 - 3 + (3 if include_input else 0)  # 3 sub-layer blocks among a1..f2, 1 from x
    budget = base + 1234
    m.fill(budget=budget, include_input=include_input, seed=5)
    assert m.weights == budget
    assert all(isinstance(m.block(o, i), MaskedBlock) for o, i in todo)
    x = torch.randn(2, 5, 16)
    out = m(x)
    assert out.shape == (2, 5, 16) and torch.isfinite(out).all()
    # the filled blocks act on each token: the same as applying the masked matrix token by token
    o, i = todo[0]
    blk = m.block(o, i)
    tok = torch.randn(2, 5, 16)
    per_token = torch.stack([tok[:, t] @ blk.dense().t() for t in range(5)], 1)
    for kernel in ("dense", "sparse"):
        blk.set_kernel(kernel)
        from balancedrnn.core.itermap import _op_of

        assert torch.allclose(_op_of(blk)(tok), per_token, atol=1e-6)
    with pytest.raises(SpecError) as exc:
        IterativeMap.from_transformer(enc).fill(budget=base - 1)
    assert "\n" not in str(exc.value)


def test_fill_at_a_density_counts_with_exact_count_and_trains():
    enc = make_encoder("post-norm 3x4 heads")
    m = IterativeMap.from_transformer(enc, share=False)
    base = m.weights
    todo = m.empty_pairs()
    m.fill(0.2, seed=1, kernel="sparse")
    assert m.weights == base + sum(exact_count(0.2, 16, 16) for _ in todo)
    x = torch.randn(8, 5, 16)
    target = torch.randn(8, 5, 16)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = (m(x) - target).square().mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    for o, i in todo:
        blk = m.block(o, i)
        assert blk.values.numel() == blk.nnz  # masks stay fixed: only masked-in entries exist


# ---------------------------------------------------------------------------------- token maps, generic
def test_a_token_map_of_linear_blocks_acts_on_each_token_like_the_vector_map():
    groups = {"x": 4, "h": 6, "y": 3}
    blocks = {("h", "x"): 0.6, ("h", "h"): "dense", ("y", "h"): ["dense", 0.5]}
    vec = IterativeMap(groups, blocks, activation={"h": "tanh"}, bias=True, iterations=3, seed=2)
    tok = IterativeMap(groups, blocks, activation={"h": "tanh"}, bias=True, iterations=3, seed=2, tokens=True)
    tok.load_state_dict(vec.state_dict())
    assert isinstance(tok.block("y", "h"), BlockSum)
    x = torch.randn(2, 5, 4)  # static: 2 samples of 5 tokens
    want = vec(x.reshape(10, 4)).view(2, 5, 3)
    assert torch.allclose(tok(x), want, atol=1e-6)
    seq = torch.randn(2, 3, 5, 4)  # a sequence of 3 steps of token sequences
    want = vec(seq.transpose(1, 2).reshape(10, 3, 4), return_sequence=True).view(2, 5, 3, 3).transpose(1, 2)
    assert torch.allclose(tok(seq, return_sequence=True), want, atol=1e-6)
    with pytest.raises(ValueError, match=r"input must have shape \(batch, T, 4\)"):
        tok(torch.randn(2, 4))


# -------------------------------------------------------------------------------------------- bad input
def one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


class MyLayer(nn.TransformerEncoderLayer):
    def forward(self, src, *args, **kwargs):
        return super().forward(src, *args, **kwargs) * 2


def test_bad_inputs_give_one_line_errors():
    enc = make_encoder("post-norm 3x4 heads")
    x = torch.randn(2, 6, 16)
    cases = [
        (lambda: IterativeMap.from_transformer(nn.TransformerDecoder(nn.TransformerDecoderLayer(16, 2, batch_first=True), 1)),
         "TransformerDecoder"),
        (lambda: IterativeMap.from_transformer(nn.Sequential(nn.Linear(16, 16))), "got Sequential"),
        (lambda: IterativeMap.from_transformer(enc.layers[0]), "got TransformerEncoderLayer"),
        (lambda: IterativeMap.from_transformer(nn.TransformerEncoder(MyLayer(16, 2, batch_first=True), 2, enable_nested_tensor=False)),
         "MyLayer"),
        (lambda: IterativeMap.from_transformer(nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2), 1, enable_nested_tensor=False).eval()),
         "batch_first=False"),
        (lambda: IterativeMap.from_transformer(copy.deepcopy(enc).train()), "training mode with dropout 0.1"),
        (lambda: IterativeMap.from_transformer(enc, src_key_padding_mask=torch.zeros(2, 6, dtype=torch.bool)),
         "src_key_padding_mask"),
        (lambda: IterativeMap.from_transformer(enc, is_causal=True), "is_causal"),
        (lambda: IterativeMap.from_transformer(enc, mask=torch.zeros(8, 6, 6)), "(T, T) attention mask"),
        (lambda: IterativeMap.from_transformer(enc, mask=torch.zeros(6, 6, dtype=torch.int64)), "bool or floating"),
        (lambda: IterativeMap.from_transformer(enc)(x[0]), "input must have shape"),
        (lambda: IterativeMap.from_transformer(enc)(x, initial={"a1": torch.zeros(3, 6, 16)}), "initial value of group a1"),
    ]
    for make, text in cases:
        with pytest.raises(ValueError) as exc:
            make()
        assert text in one_line(exc), (text, str(exc.value))


def test_training_mode_without_dropout_is_accepted():
    enc = make_encoder("pre-norm 2x2 heads + final norm", dropout=0.0).train()
    m = IterativeMap.from_transformer(enc)
    x = torch.randn(2, 4, 16)
    assert torch.allclose(m(x), enc(x), atol=1e-5)
