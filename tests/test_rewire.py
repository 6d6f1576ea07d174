"""Dynamic sparsity (``TrainConfig.rewire``, ``MaskedBlock.rewire``), held to a dense matrix with zeros."""

import math

import pytest
import torch

from balancedrnn.core.configs import build_model
from balancedrnn.core.masks import MaskedBlock
from balancedrnn.core.reference import reference_forward
from balancedrnn.core.spec import BLOCKS
from balancedrnn.train import TrainConfig, rewire_fraction, rewire_model, run_trial


def test_rewire_drops_the_smallest_and_grows_as_many_at_inactive_positions():
    block = MaskedBlock.random(13, 17, 0.3, torch.Generator().manual_seed(0))
    before = block.dense().detach().clone()
    active = before != 0
    k = block.rewire(0.25, torch.Generator().manual_seed(1))
    assert k == round(0.25 * int(active.sum()))
    after = block.dense().detach()
    now = block.mask()
    assert int(now.sum()) == int(active.sum())  # the count, hence density and budget, is kept
    assert bool((block.index[1:] > block.index[:-1]).all())  # sorted, unique
    magnitudes = before[active].abs().sort().values
    dropped = active & ~now
    assert int(dropped.sum()) == k
    assert bool((before[dropped].abs() <= magnitudes[k - 1]).all())  # the k smallest went
    grown = now & ~active
    assert int(grown.sum()) == k and bool((after[grown] == 0).all())  # grown where nothing was, at zero
    kept = active & now
    assert torch.equal(after[kept], before[kept])  # the rest kept their values at their positions


@pytest.mark.parametrize("density", [0.0, 1.0])
def test_a_full_or_empty_block_has_nothing_to_move(density):
    block = MaskedBlock.random(5, 7, density, torch.Generator().manual_seed(0))
    index, values = block.index.clone(), block.values.detach().clone()
    assert block.rewire(0.5, torch.Generator().manual_seed(1)) == 0
    assert torch.equal(block.index, index) and torch.equal(block.values.detach(), values)


def test_adam_moments_follow_their_entries(adam_block):
    block, opt, moments = adam_block(0.4)
    old = block.mask()
    block.rewire(0.3, torch.Generator().manual_seed(3), opt)
    new = block.mask()
    for name, dense_before in moments.items():
        dense_after = MaskedBlock(9, 11, block.index, opt.state[block.values][name]).dense().detach()
        assert torch.equal(dense_after[old & new], dense_before[old & new])
        assert bool((dense_after[new & ~old] == 0).all())
    opt.zero_grad()
    block.dense().sum().backward()
    opt.step()  # the optimiser still steps the same parameter


@pytest.mark.parametrize("kernel", ["dense", "sparse"])
def test_the_rewired_network_computes_what_its_dense_matrices_say(kernel):
    model = build_model("uniform:0.2", 12, 4, 600, seed=0, kernel=kernel, init=dict.fromkeys(BLOCKS, (0.0, 0.3)))
    x = torch.randn(3, 5, 12, generator=torch.Generator().manual_seed(0))
    model(x)  # builds (and caches) the kernels' structures from the first masks
    hp, nnz = model.hidden_proportion(), model.nnz()
    assert rewire_model(model, 0.4, torch.Generator().manual_seed(1)) > 0
    assert model.nnz() == nnz and model.hidden_proportion() == hp
    assert torch.allclose(model(x), reference_forward(model, x), atol=1e-6)


def test_schedule_decays_to_nothing_at_the_last_epoch():
    assert rewire_fraction(0.3, 0, 10) == pytest.approx(0.3)
    assert rewire_fraction(0.3, 5, 10) == pytest.approx(0.15)
    assert rewire_fraction(0.3, 10, 10) == 0.0
    assert all(rewire_fraction(0.3, e, 10) >= rewire_fraction(0.3, e + 1, 10) for e in range(10))
    assert math.isclose(rewire_fraction(0.3, 3, 10), 0.3 * 0.5 * (1 + math.cos(math.pi * 0.3)))


def test_training_with_rewire_is_reproducible_and_keeps_the_budget(rad_toy):
    base = dict(model="uniform:0.2", budget=20_000, epochs=3, n_train=300, n_val=100, n_test=100, threads=1)
    fixed = run_trial(TrainConfig(**base), data=rad_toy, progress=False)
    a = run_trial(TrainConfig(**base, rewire=0.3), data=rad_toy, progress=False)
    b = run_trial(TrainConfig(**base, rewire=0.3), data=rad_toy, progress=False)
    assert a["status"] == b["status"] == "ok"
    assert a["history"] == b["history"] and a["final"] == b["final"]  # same seed, same numbers
    assert a["history"] != fixed["history"]  # the masks moved
    assert a["model"]["nnz"] == fixed["model"]["nnz"]
    assert a["trial_key"] != fixed["trial_key"]
    assert TrainConfig(**base, rewire=0.0).key() == TrainConfig(**base).key()  # older keys stay valid


@pytest.mark.parametrize("option", [{"rewire": 0.3}, {"prune": 0.5}])
def test_moving_masks_leaves_dense_training_unchanged(option, rad_toy):
    """Dense has no inactive entry to grow into and nothing to prune: rewire and prune leave its run as it is."""
    base = dict(model="dense", budget=30_000, epochs=2, n_train=300, n_val=100, n_test=100, threads=1)
    a = run_trial(TrainConfig(**base), data=rad_toy, progress=False)
    b = run_trial(TrainConfig(**base, **option), data=rad_toy, progress=False)
    assert a["status"] == "ok", a["error"]
    assert a["history"] == b["history"] and a["final"] == b["final"]


@pytest.mark.parametrize("bad, match", [({"rewire": 1.0}, "rewire must be a fraction"),
                                        ({"rewire": -0.1}, "rewire must be"),
                                        ({"rewire": 0.3, "model": "lstm"}, "has none")])
def test_bad_rewire(bad, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**{"model": "balanced", **bad})


def test_estimator_rewires_and_keeps_its_budget():
    """``BlockRNNClassifier(rewire=...)`` trains with moving masks (its model wrapped for the last step), the same
    seed gives the same model, and the densities stay the config's."""
    import numpy as np

    from balancedrnn import BlockRNNClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3, 12))
    y = (X[:, 0, -1] > 0).astype(int)
    kw = dict(config="uniform:0.3", budget=400, epochs=3, random_state=0)
    fixed = BlockRNNClassifier(**kw).fit(X, y)
    a = BlockRNNClassifier(**kw, rewire=0.3).fit(X, y)
    b = BlockRNNClassifier(**kw, rewire=0.3).fit(X, y)
    assert a.loss_curve_ == b.loss_curve_ and a.loss_curve_ != fixed.loss_curve_
    assert a.summary_["nnz"] == fixed.summary_["nnz"]
    masks = {name: blk.index for name, blk in a.model_.blocks.items()}
    assert any(not torch.equal(masks[n], blk.index) for n, blk in fixed.model_.blocks.items() if 0 < blk.density < 1)
    with pytest.raises(ValueError, match="rewire must be a fraction"):
        BlockRNNClassifier(**{**kw, "rewire": 1.0}).fit(X, y)
