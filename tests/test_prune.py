"""Gradual magnitude pruning (``TrainConfig.prune``, ``MaskedBlock.prune``), held to a dense matrix with zeros."""

import pytest
import torch

from balancedrnn.core.configs import build_model
from balancedrnn.core.masks import MaskedBlock
from balancedrnn.core.reference import reference_forward
from balancedrnn.core.spec import BLOCKS
from balancedrnn.train import TrainConfig, prune_count, prune_end, run_trial, start_dense


def test_prune_drops_the_smallest_and_keeps_the_rest_in_place():
    block = MaskedBlock.random(13, 17, 0.5, torch.Generator().manual_seed(0))
    before = block.dense().detach().clone()
    active = before != 0
    k = 20
    assert block.prune(k) == k
    after, now = block.dense().detach(), block.mask()
    assert int(now.sum()) == int(active.sum()) - k == block.nnz
    assert not bool((now & ~active).any())  # nothing grows
    assert bool((block.index[1:] > block.index[:-1]).all())  # sorted, unique
    dropped = active & ~now
    assert float(before[dropped].abs().max()) <= float(before[now].abs().min())  # the k smallest went
    assert torch.equal(after[now], before[now])
    assert block.prune(10_000) == int(now.sum()) and block.nnz == 0  # at most everything
    assert block.prune(3) == 0


def test_adam_moments_follow_the_kept_entries_and_training_goes_on(adam_block):
    block, opt, moments = adam_block(1.0)
    block.prune(40, opt)
    kept = block.mask()
    for name, dense_before in moments.items():
        state = opt.state[block.values][name]
        assert state.shape == block.values.shape
        dense_after = MaskedBlock(9, 11, block.index, state).dense().detach()
        assert torch.equal(dense_after[kept], dense_before[kept])
    opt.zero_grad()
    block.dense().sum().backward()
    opt.step()  # the optimiser still steps the same (smaller) parameter
    assert block.values.grad.shape == block.values.shape


def test_schedule_is_cubic_from_full_to_the_target():
    assert prune_end(0.5, 24) == 12 and prune_end(1.0, 24) == 23 and prune_end(0.01, 24) == 1
    counts = [prune_count(1000, 100, e, 12) for e in range(24)]
    assert counts[0] == 1000 and counts[12:] == [100] * 12
    assert all(a >= b for a, b in zip(counts, counts[1:]))
    assert counts[6] == 100 + round(900 * 0.5 ** 3)
    assert counts[0] - counts[1] > counts[10] - counts[11]  # fast at first


@pytest.mark.parametrize("kernel", ["dense", "sparse"])
def test_the_pruned_network_computes_what_its_dense_matrices_say(kernel):
    model = build_model("uniform:0.2", 12, 4, 600, seed=0, kernel=kernel, init=dict.fromkeys(BLOCKS, (0.0, 0.3)))
    target = model.nnz()
    config = TrainConfig(model="uniform:0.2", epochs=4, prune=0.5, kernel=kernel, init_std=0.3)
    pruning = start_dense(model, config)
    assert all(b.density == 1.0 for b in model.blocks.values())
    x = torch.randn(3, 5, 12, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(model(x), reference_forward(model, x), atol=1e-5)
    for block, count in pruning:
        block.prune(block.nnz - count)
    assert model.nnz() == target
    assert torch.allclose(model(x), reference_forward(model, x), atol=1e-5)


def test_training_with_prune_is_reproducible_and_ends_at_the_budget(rad_toy):
    base = dict(model="uniform:0.2", budget=20_000, epochs=4, n_train=300, n_val=100, n_test=100, threads=1)
    fixed = run_trial(TrainConfig(**base), data=rad_toy, progress=False)
    a = run_trial(TrainConfig(**base, prune=0.5), data=rad_toy, progress=False)
    b = run_trial(TrainConfig(**base, prune=0.5), data=rad_toy, progress=False)
    assert a["status"] == b["status"] == "ok", a["error"]
    assert a["history"] == b["history"] and a["final"] == b["final"]  # same seed, same numbers
    assert a["history"] != fixed["history"]
    assert a["model"]["nnz"] == fixed["model"]["nnz"]
    assert a["trial_key"] != fixed["trial_key"]
    assert TrainConfig(**base, prune=0.0).key() == TrainConfig(**base).key()  # older keys stay valid


def test_the_trained_network_holds_the_configs_counts(rad_toy):
    from balancedrnn.train import build_for_task, fit
    from balancedrnn.tasks import get_task

    config = TrainConfig(model="uniform:0.3", budget=20_000, epochs=3, prune=0.6, threads=1)
    task = get_task(config.task)
    model = build_for_task(config, task)
    nnz = model.nnz()
    fit(model, rad_toy, task, config, progress=False)
    assert model.nnz() == nnz  # every block at its count, so budget and hidden proportion are the config's
    x = rad_toy.splits["val"].inputs(slice(0, 4))
    with torch.no_grad():
        assert torch.allclose(model(x), reference_forward(model, x), atol=1e-4)


@pytest.mark.parametrize("bad, match", [({"prune": 1.5}, "prune must be a fraction"),
                                        ({"prune": -0.1}, "prune must be"),
                                        ({"prune": 0.5, "model": "lstm"}, "has none"),
                                        ({"prune": 0.5, "rewire": 0.3}, "choose one"),
                                        ({"prune": 0.5, "epochs": 1}, "at least 2 epochs"),
                                        ({"prune": 0.5, "patience": 2}, "patience")])
def test_bad_prune(bad, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**{"model": "balanced", **bad})


def test_estimator_prunes_to_its_budget_and_pickles():
    """``BlockRNNClassifier(prune=...)`` starts dense and ends at the config's counts; the same seed gives the same
    model, and the pickled estimator predicts as the trained one."""
    import pickle

    import numpy as np

    from balancedrnn import BlockRNNClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3, 12))
    y = (X[:, 0, -1] > 0).astype(int)
    kw = dict(config="uniform:0.3", budget=400, epochs=4, random_state=0)
    fixed = BlockRNNClassifier(**kw).fit(X, y)
    a = BlockRNNClassifier(**kw, prune=0.5).fit(X, y)
    b = BlockRNNClassifier(**kw, prune=0.5).fit(X, y)
    assert a.loss_curve_ == b.loss_curve_ and a.loss_curve_ != fixed.loss_curve_
    assert {n: blk.nnz for n, blk in a.model_.blocks.items()} == {n: blk.nnz for n, blk in fixed.model_.blocks.items()}
    again = pickle.loads(pickle.dumps(a))
    assert np.array_equal(again.predict_proba(X), a.predict_proba(X))
    for bad in ({"prune": 1.5}, {"prune": 0.5, "early_stopping": True}, {"prune": 0.5, "epochs": 1}):
        with pytest.raises(ValueError, match="prune"):
            BlockRNNClassifier(**{**kw, **bad}).fit(X, y)
