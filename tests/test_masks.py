import torch
import pytest

from balancedrnn.core.masks import MaskedBlock, draw_mask_indices
from balancedrnn.core.spec import exact_count


@pytest.mark.parametrize("density", [0.0, 1e-4, 0.013, 0.2, 0.5, 0.999, 1.0])
def test_exact_counts(density):
    g = torch.Generator().manual_seed(1)
    idx = draw_mask_indices(37, 53, density, g)
    assert idx.numel() == exact_count(density, 37, 53)
    assert idx.unique().numel() == idx.numel()  # without replacement
    assert bool((idx[1:] > idx[:-1]).all()) if idx.numel() > 1 else True
    assert idx.numel() == 0 or (idx.min() >= 0 and idx.max() < 37 * 53)


def test_bernoulli_realised_count_is_random_but_close():
    counts = [draw_mask_indices(100, 100, 0.3, torch.Generator().manual_seed(s), "bernoulli").numel() for s in range(5)]
    assert len(set(counts)) > 1
    assert all(abs(c - 3000) < 250 for c in counts)


def test_same_seed_same_mask():
    a = draw_mask_indices(20, 30, 0.25, torch.Generator().manual_seed(3))
    b = draw_mask_indices(20, 30, 0.25, torch.Generator().manual_seed(3))
    c = draw_mask_indices(20, 30, 0.25, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_dense_matches_mask_and_values():
    g = torch.Generator().manual_seed(0)
    block = MaskedBlock.random(6, 9, 0.3, g, mean=1.0, std=0.1)
    dense = block.dense()
    mask = block.mask()
    assert int(mask.sum()) == block.nnz
    assert torch.equal(dense[~mask], torch.zeros(int((~mask).sum())))
    assert torch.equal(dense[mask], block.values.detach())  # row-major order of the mask = sorted index


def test_unknown_method():
    with pytest.raises(ValueError, match="unknown mask method"):
        draw_mask_indices(3, 3, 0.5, torch.Generator(), "magic")  # type: ignore[arg-type]


@pytest.mark.parametrize("index, message", [
    ([5, 1, 7], "strictly increasing"),
    ([1, 1, 7], "strictly increasing"),
    ([1, 5, 9], r"must lie in \[0, 9\)"),
    ([-1, 2, 3], r"must lie in \[0, 9\)"),
])
def test_a_block_built_from_a_bad_index_is_refused(index, message):
    """MaskedBlock (exported) takes only a mask its kernels can use: an unsorted or repeated index used to build a
    block whose sparse product silently differed from its own dense matrix (the reference: x @ dense().T), and an
    out-of-range one failed only when run."""
    with pytest.raises(ValueError, match=message):
        MaskedBlock(3, 3, torch.tensor(index), torch.tensor([1.0, 2.0, 3.0]))
    good = MaskedBlock(3, 3, torch.tensor([1, 5, 7]), torch.tensor([1.0, 2.0, 3.0])).set_kernel("sparse")
    x = torch.randn(2, 3)
    torch.testing.assert_close(good.operator()(x), x @ good.dense().T)


@pytest.mark.parametrize("method", ["exact", "bernoulli"])
def test_a_mask_density_outside_0_1_is_refused(method):
    """draw_mask_indices (exported) refuses a density outside [0, 1]: 1.5 used to give a full mask and -0.1 an
    empty one without a word, NaN a traceback from the rounding."""
    g = torch.Generator().manual_seed(0)
    for bad in (1.5, -0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"mask density must be a number in \[0, 1\]"):
            draw_mask_indices(4, 5, bad, g, method)
    assert draw_mask_indices(4, 5, 1.0, g, method).tolist() == list(range(20))
    assert draw_mask_indices(4, 5, 0.0, g, method).numel() == 0
