import sys

import numpy as np
import pytest
import torch

from balancedrnn.tasks.base import MissingExtra
from balancedrnn.tasks import rad
from balancedrnn.io import DataError


@pytest.fixture(scope="module")
def small(mnist):
    return rad.generate(mnist, rad.RADConfig(n_train=2000, n_val=300, n_test=300, seed=7))


def quantised_sources(mnist, idx):
    """The untransformed 50x50 frames of the given source images, as the cache stores them."""
    img = rad.prepare_images(mnist.images[idx.numpy()])
    return img.mul(255).round().clamp(0, 255).to(torch.uint8).view(len(idx), -1)


def test_shapes_and_blank_last_frame(small):
    s = small["train"]
    x = s.inputs(slice(0, 50))
    assert x.shape == (50, 11, 2500)
    assert torch.equal(x[:, 10], torch.zeros(50, 2500))
    assert torch.isfinite(x).all()
    assert s.target.min() >= 0 and s.target.max() <= 9


def test_exactly_one_anomaly_at_labelled_position(small, mnist):
    s = small["train"]
    labels = torch.from_numpy(mnist.labels)
    # every sequence uses 11 distinct source images of one digit
    assert all(len(set(row.tolist())) == 11 for row in s.sources[:200])
    assert torch.equal(labels[s.sources], s.digit.view(-1, 1).expand(-1, 11))
    assert bool((s.transform_a != s.transform_b).all())
    # pixel-level check, independent of the recipe: when A is the identity ("baseline") the nine normal
    # frames equal their untransformed source images exactly, and the frame at the label does not
    base = rad.TRANSFORMS.index("baseline")
    rows = (s.transform_a == base).nonzero().flatten()[:40]
    assert len(rows) > 10
    for i in rows.tolist():
        k = int(s.target[i])
        clean = quantised_sources(mnist, s.sources[i, :10])
        same = (s.frames[i] == clean).all(1)
        assert same.sum() == 9 and not same[k]
        anomaly_clean = quantised_sources(mnist, s.sources[i, 10:])
        assert not torch.equal(s.frames[i, k], anomaly_clean[0])  # B is never the identity here
    # and when B is the identity, the frame at the label is exactly the clean anomaly image
    rows = (s.transform_b == base).nonzero().flatten()[:20]
    for i in rows.tolist():
        k = int(s.target[i])
        assert torch.equal(s.frames[i, k], quantised_sources(mnist, s.sources[i, 10:])[0])


def test_label_distribution_uniform(small):
    counts = torch.bincount(small["train"].target, minlength=10).numpy()
    expected = len(small["train"]) / 10
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 27.9  # p = 0.001 at 9 degrees of freedom
    assert len(np.unique(small["train"].transform_b.numpy())) == 8


def test_same_seed_same_data(mnist):
    cfg = rad.RADConfig(n_train=200, n_val=50, n_test=50, seed=3)
    a, b = rad.generate(mnist, cfg), rad.generate(mnist, cfg)
    c = rad.generate(mnist, rad.RADConfig(n_train=200, n_val=50, n_test=50, seed=4))
    for split in rad.SPLITS:
        for key, t in a[split].tensors().items():
            assert torch.equal(t, getattr(b[split], key))
    assert not torch.equal(a["train"].frames, c["train"].frames)


def test_splits_share_no_source_image(small):
    sets = {name: set(small[name].sources.flatten().tolist()) for name in rad.SPLITS}
    assert not sets["train"] & sets["val"]
    assert not sets["train"] & sets["test"]
    assert not sets["val"] & sets["test"]


def test_no_nan_from_degenerate_perspective():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4000, 1, 50, 50)
    out = rad.perspective(x, 0.9, g)
    assert torch.isfinite(out).all()
    # a fully degenerate warp (all corners at one point) must be replaced, never produce NaN
    x1 = torch.rand(3, 1, 50, 50)
    assert torch.isfinite(rad.perspective(x1, 2.0, g)).all()


def test_transforms_stay_in_source_range(mnist):
    g = torch.Generator().manual_seed(1)
    frames = rad.prepare_images(mnist.images[:64])
    for tid in range(len(rad.TRANSFORMS)):
        out = rad.apply_transforms(frames, torch.full((64,), tid), g)
        assert torch.isfinite(out).all()
        assert (out >= frames.amin((1, 2, 3), keepdim=True) - 1e-6).all()
        assert (out <= frames.amax((1, 2, 3), keepdim=True) + 1e-6).all()


def test_cache_roundtrip_version_and_corruption(mnist, tmp_path):
    cfg = rad.RADConfig(n_train=100, n_val=20, n_test=20, seed=0)
    data = rad.build_or_load(mnist, cfg, directory=tmp_path, progress=False)
    path = data.path
    assert path.exists() and not list(tmp_path.glob(".*.tmp"))
    assert not data.from_cache and data.origin == "generated now and cached"
    again = rad.build_or_load(mnist, cfg, directory=tmp_path, progress=False)
    assert torch.equal(again["train"].frames, data["train"].frames)
    # the second call says it read the cache (what `data rad` reports), also in a fresh process's first load
    assert again.from_cache and again.origin.startswith("loaded from the cache") and again.path == path
    assert rad.load(path).from_cache
    rebuilt = rad.build_or_load(mnist, cfg, directory=tmp_path, rebuild=True, progress=False)
    assert not rebuilt.from_cache
    # a cache written by another generator version is refused with a one-line error
    payload = torch.load(path, weights_only=True)
    payload["generator_version"] = rad.GENERATOR_VERSION + 1
    torch.save(payload, path)
    with pytest.raises(DataError, match="generator version"):
        rad.load(path)
    # tampered contents fail their hash
    payload["generator_version"] = rad.GENERATOR_VERSION
    payload["splits"]["train"]["frames"][0, 0, 0] ^= 1
    torch.save(payload, path)
    with pytest.raises(DataError, match="do not match their hash"):
        rad.load(path)
    path.write_bytes(b"not a torch file")
    with pytest.raises(DataError, match="corrupt") as e:
        rad.load(path)
    # what the message says to do works with every command (train and the rad: variants have no --rebuild)
    assert "delete it and the next run regenerates it" in str(e.value) and "--rebuild" not in str(e.value)
    path.unlink()
    regenerated = rad.build_or_load(mnist, cfg, directory=tmp_path, progress=False)
    assert not regenerated.from_cache and torch.equal(regenerated["train"].frames, data["train"].frames)
    with pytest.raises(DataError, match="does not exist"):
        rad.load(tmp_path / "missing.pt")


def test_interrupted_generation_leaves_no_partial_cache(mnist, tmp_path, monkeypatch):
    calls = {"n": 0}

    def boom(*a, **k):
        calls["n"] += 1
        raise KeyboardInterrupt

    monkeypatch.setattr(rad, "generate", boom)
    with pytest.raises(KeyboardInterrupt):
        rad.build_or_load(mnist, rad.RADConfig(n_train=10, n_val=10, n_test=10), directory=tmp_path, progress=False)
    assert calls["n"] == 1 and not list(tmp_path.iterdir())


def test_bad_config():
    with pytest.raises(DataError, match="n_train"):
        rad.RADConfig(n_train=0)
    with pytest.raises(DataError, match="transforms"):
        rad.RADConfig(transforms=("baseline", "wobble"))


def test_generation_without_kornia_fails_first_in_one_line(mnist, tmp_path, monkeypatch):
    """Without the rad extra, generating stops before any work with one line naming kornia and the extra;
    transforms that need only torch still generate."""
    monkeypatch.setitem(sys.modules, "kornia", None)
    cfg = rad.RADConfig(n_train=10, n_val=10, n_test=10)
    for call in (lambda: rad.generate(mnist, cfg), lambda: rad.build_or_load(mnist, cfg, directory=tmp_path, progress=False)):
        with pytest.raises(MissingExtra, match=r"kornia, which is not installed: pip install 'balancedrnn\[rad\]'$") as e:
            call()
        assert "\n" not in str(e.value)
    assert not list(tmp_path.iterdir())
    only_torch = rad.RADConfig(n_train=10, n_val=10, n_test=10, transforms=("baseline", "erasing", "noise"))
    assert not rad.build_or_load(mnist, only_torch, directory=tmp_path, progress=False).from_cache


def test_more_data_than_memory_fails_first_in_one_line(mnist, tmp_path, monkeypatch):
    """Sizes whose data cannot fit in memory are refused before any work, not generated until the OS kills the
    process (``data rad --n-train 99999999999999999999`` ran on and on)."""
    def started(*a, **k):
        raise AssertionError("generation started")

    monkeypatch.setattr(rad, "make_sequences", started)
    huge = rad.RADConfig(n_train=10**15, n_val=10, n_test=10)
    for call in (lambda: rad.generate(mnist, huge), lambda: rad.build_or_load(mnist, huge, directory=tmp_path, progress=False)):
        with pytest.raises(DataError, match=r"^RAD data of 1,000,000,000,000,020 sequences need about .* GB of memory") as e:
            call()
        assert "\n" not in str(e.value)
    assert not list(tmp_path.iterdir())


def test_seed_outside_the_seed_range_is_named():
    """A seed torch cannot take is refused naming the seed (it was "Overflow when unpacking long long"), at the one
    limit runs also have (spec.MAX_SEED); a train run's seed and data seed too."""
    from balancedrnn.core.spec import MAX_SEED
    from balancedrnn.train import TrainConfig

    for seed in (2**64, MAX_SEED + 1, -1):
        with pytest.raises(DataError, match=r"^seed must be an integer from 0 to 4,294,967,295"):
            rad.RADConfig(seed=seed)
        for name in ("seed", "data_seed"):
            with pytest.raises(ValueError, match=rf"^{name} must be an integer from 0 to 4,294,967,295"):
                TrainConfig(**{name: seed})
    assert rad.RADConfig(seed=MAX_SEED).seed == MAX_SEED and TrainConfig(seed=MAX_SEED, data_seed=3e2).data_seed == 300


def test_frame_sources_are_the_images_shown(small, mnist):
    """``frame_sources`` names the image each frame shows (the anomaly's at the target), so ``data rad`` counts the
    source images a split shows, not also the normal image each sequence drew for the anomaly's place."""
    s = small["train"]
    fs = s.frame_sources()
    assert fs.shape == (len(s), 10)
    rows = torch.arange(len(s))
    assert torch.equal(fs[rows, s.target], s.sources[:, 10])
    base = rad.TRANSFORMS.index("baseline")
    for i in (s.transform_a == base).nonzero().flatten()[:10].tolist():
        clean = quantised_sources(mnist, fs[i])
        same = (s.frames[i] == clean).all(1)
        assert same.sum() == 9 and not same[int(s.target[i])]
    one = rad.make_sequences(rad.prepare_images(mnist.images), torch.from_numpy(mnist.labels),
                             torch.arange(len(mnist.labels)), 1, torch.Generator().manual_seed(0))
    assert len(one.frame_sources().unique()) == 10  # ten frames show ten images; eleven were drawn
