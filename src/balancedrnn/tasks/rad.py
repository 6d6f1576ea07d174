"""Random anomaly detection (RAD) on real MNIST (SPEC §5).

One sequence: a digit label; two different transforms, A ("normal") and B ("anomaly"); ten frames, each a
different random image of that label with A applied (fresh random parameters per frame) and clamped to the
value range of its untransformed image; the frame at a uniform random position k replaced by another
same-label image with B applied; an all-zero eleventh frame. Target: k, read at the eleventh step.

Frames are 50x50 (antialiased resize), normalised with MNIST's mean and std when a batch is read. The cache
keeps frames as 8-bit pixels of the clamped [0, 1] image (a quarter of float32), so a 30,000-sequence
training set holds 750 MB; the noise anomaly (std 0.01 = 2.55 grey levels) survives 8-bit quantisation.
Train, validation and test sequences are built from disjoint source images.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..core.spec import SpecError, check_seed
from ..io import DataError, atomic_write, cache_dir, cache_write, ensure_cache_dir, ensure_writable_dir, torch_load
from .base import BatchedSplit, require
from .mnist import MnistImages

GENERATOR_VERSION = 1
"""Bumped whenever the generated data would change; caches of another version are refused."""

SIZE = 50
FRAMES = 10
MEAN, STD = 0.1307, 0.3081
TRANSFORMS: tuple[str, ...] = (
    "baseline",
    "perspective_0.5",
    "perspective_0.9",
    "erasing",
    "noise",
    "erasing_perspective",
    "blur",
    "sharpness",
)
"""Transform names, in the order their integer ids are stored."""
KORNIA_TRANSFORMS = frozenset({"perspective_0.5", "perspective_0.9", "erasing_perspective", "blur", "sharpness"})
"""The transforms made with kornia (the ``rad`` extra); the others need only torch."""
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class RADConfig:
    """How a RAD data set is generated. Every field enters the cache key."""

    n_train: int = 2000
    """Training sequences (the paper: 30,000)."""
    n_val: int = 500
    """Validation sequences (the paper: 1,000)."""
    n_test: int = 1000
    """Test sequences (the paper: 1,000)."""
    seed: int = 0
    """Seed of the source split and of every random choice of the generator."""
    source_split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    """Fractions of the source digits reserved for train, validation and test (disjoint)."""
    transforms: tuple[str, ...] = TRANSFORMS
    """Transforms A and B are drawn from (at least two; all eight by default)."""
    size: int = SIZE
    """Side of a frame in pixels (the paper: 50, so dx = 2,500); the task zoo varies it (dx = size²)."""
    frames: int = FRAMES
    """Frames per sequence before the blank one (the paper: 10, the classes); the task zoo varies it."""

    def __post_init__(self) -> None:
        for name in ("n_train", "n_val", "n_test"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise DataError(f"{name} must be a positive integer, got {value!r}")
        try:
            check_seed("seed", self.seed)
        except SpecError as e:
            raise DataError(str(e)) from None
        fr = self.source_split
        if len(fr) != 3 or any(not (f > 0) for f in fr) or abs(sum(fr) - 1) > 1e-6:
            raise DataError(f"source_split must be three positive fractions summing to 1, got {fr!r}")
        for name, low in (("size", 8), ("frames", 2)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise DataError(f"{name} must be an integer >= {low}, got {value!r}")
        unknown = [t for t in self.transforms if t not in TRANSFORMS]
        if unknown or len(set(self.transforms)) < 2:
            raise DataError(f"transforms must be at least two distinct names of {', '.join(TRANSFORMS)}, got {self.transforms!r}")

    def sizes(self) -> dict[str, int]:
        return {"train": self.n_train, "val": self.n_val, "test": self.n_test}

    def nbytes(self) -> int:
        """Bytes of the generated tensors: 8-bit frames, plus the source indices and four labels (int64)."""
        return sum(self.sizes().values()) * (self.frames * self.size**2 + 8 * (self.frames + 1) + 8 * 4)


def physical_memory() -> int | None:
    """This machine's physical memory in bytes (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_fits(config: RADConfig) -> None:
    """Fail in one line, before any work, when generating ``config`` needs more memory than the machine has
    (measured: a peak of about three times the data, while the chunks are joined and hashed), instead of running
    for hours until the OS kills it."""
    need, have = 3 * config.nbytes(), physical_memory()
    if have is not None and need > have:
        n = sum(config.sizes().values())
        raise DataError(f"RAD data of {n:,} sequences need about {need / 1e9:,.1f} GB of memory to generate, more than "
                        f"this machine's {have / 1e9:,.1f} GB; ask for fewer sequences")


# ------------------------------------------------------------------------------------------ transforms
def prepare_images(images: np.ndarray, size: int = SIZE) -> torch.Tensor:
    """uint8 ``(N, 28, 28)`` digits to float ``(N, 1, size, size)`` in [0, 1] (default 50), antialiased resize."""
    x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0).unsqueeze(1)
    out = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.clamp_(0.0, 1.0)


def require_kornia(transforms: tuple[str, ...] = TRANSFORMS) -> None:
    """Fail early, in one line naming the extra, when ``transforms`` need kornia and it is not installed."""
    if any(t in KORNIA_TRANSFORMS for t in transforms):
        require("kornia", "rad", "generating RAD data (its perspective, blur and sharpness transforms)")


def _uniform(n: int, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=g) * (hi - lo) + lo


def perspective(x: torch.Tensor, distortion: float, g: torch.Generator) -> torch.Tensor:
    """Random perspective warp as torchvision's RandomPerspective (corner jitter up to ``distortion`` of
    half the side), background fill; degenerate warps are redrawn, and no NaN leaves this function."""
    require("kornia.geometry.transform", "rad", "RAD's perspective transform")
    from kornia.geometry.transform import get_perspective_transform, warp_perspective

    n, _, H, W = x.shape
    dw, dh = distortion * (W // 2), distortion * (H // 2)
    start = torch.tensor([[0.0, 0.0], [W - 1.0, 0.0], [W - 1.0, H - 1.0], [0.0, H - 1.0]]).expand(n, 4, 2)

    def corners(m: int) -> torch.Tensor:
        u = torch.rand(m, 4, 2, generator=g)
        off = torch.stack([u[..., 0] * dw, u[..., 1] * dh], -1)
        sign = torch.tensor([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]])
        return start[:m] + sign * off

    end = corners(n)
    M = get_perspective_transform(start, end)
    for _ in range(10):
        bad = ~torch.isfinite(M).flatten(1).all(1) | (torch.linalg.det(M).abs() < 1e-6)
        if not bool(bad.any()):
            break
        end[bad] = corners(int(bad.sum()))
        M[bad] = get_perspective_transform(start[: int(bad.sum())], end[bad])
    bad = ~torch.isfinite(M).flatten(1).all(1)
    M[bad] = torch.eye(3)
    out = warp_perspective(x, M, (H, W), mode="bilinear", padding_mode="zeros", align_corners=True)
    return torch.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def erasing(x: torch.Tensor, g: torch.Generator, scale: tuple[float, float] = (0.1, 0.2),
            ratio: tuple[float, float] = (0.3, 3.3)) -> torch.Tensor:
    """Random erasing as torchvision's RandomErasing: one rectangle of ``scale`` of the area, set to 0."""
    n, _, H, W = x.shape
    area = _uniform(n, *scale, g) * H * W
    log_r = _uniform(n, math.log(ratio[0]), math.log(ratio[1]), g)
    r = torch.exp(log_r)
    h = torch.sqrt(area * r).round().clamp(1, H - 1)
    w = torch.sqrt(area / r).round().clamp(1, W - 1)
    top = (torch.rand(n, generator=g) * (H - h + 1)).floor()
    left = (torch.rand(n, generator=g) * (W - w + 1)).floor()
    rows = torch.arange(H).view(1, H, 1)
    cols = torch.arange(W).view(1, 1, W)
    box = (rows >= top.view(n, 1, 1)) & (rows < (top + h).view(n, 1, 1))
    box = box & (cols >= left.view(n, 1, 1)) & (cols < (left + w).view(n, 1, 1))
    return x.masked_fill(box.unsqueeze(1), 0.0)


def noise(x: torch.Tensor, g: torch.Generator, std: float = 0.01) -> torch.Tensor:
    """Additive Gaussian noise."""
    return x + std * torch.randn(x.shape, generator=g)


def blur(x: torch.Tensor, g: torch.Generator, kernel: int = 15, sigma: tuple[float, float] = (0.1, 2.0)) -> torch.Tensor:
    """Gaussian blur with a 15x15 kernel and sigma drawn per frame from (0.1, 2.0), as torchvision's GaussianBlur."""
    require("kornia.filters", "rad", "RAD's blur transform")
    from kornia.filters import gaussian_blur2d

    s = _uniform(x.shape[0], *sigma, g)
    side = min(x.shape[-2:])
    if kernel >= side:  # reflect padding needs kernel // 2 < side: small frames (the task zoo's) get a smaller odd kernel
        kernel = side - 1 if side % 2 == 0 else side - 2
    return gaussian_blur2d(x, (kernel, kernel), torch.stack([s, s], 1), border_type="reflect")


def sharpness(x: torch.Tensor, g: torch.Generator, factor: float = 4.0) -> torch.Tensor:
    """Sharpness adjustment by ``factor`` (PIL/torchvision semantics)."""
    require("kornia.enhance", "rad", "RAD's sharpness transform")
    from kornia.enhance import sharpness as _sharpness

    return _sharpness(x, factor)


TRANSFORM_FNS: dict[str, Callable[[torch.Tensor, torch.Generator], torch.Tensor]] = {
    "baseline": lambda x, g: x,
    "perspective_0.5": lambda x, g: perspective(x, 0.5, g),
    "perspective_0.9": lambda x, g: perspective(x, 0.9, g),
    "erasing": erasing,
    "noise": noise,
    "erasing_perspective": lambda x, g: perspective(erasing(x, g), 0.5, g),
    "blur": blur,
    "sharpness": sharpness,
}


def apply_transforms(frames: torch.Tensor, ids: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Apply transform ``ids[i]`` to ``frames[i]`` (all frames of one transform in one batch), then clamp each
    frame to the value range of its untransformed image."""
    out = frames.clone()
    for tid, name in enumerate(TRANSFORMS):
        sel = (ids == tid).nonzero().flatten()
        if sel.numel():
            out[sel] = TRANSFORM_FNS[name](frames[sel], g)
    lo = frames.amin(dim=(1, 2, 3), keepdim=True)
    hi = frames.amax(dim=(1, 2, 3), keepdim=True)
    out = torch.nan_to_num(out, nan=0.0)
    return torch.minimum(torch.maximum(out, lo), hi)


# ------------------------------------------------------------------------------------------- sequences
@dataclass
class RADSplit(BatchedSplit):
    """One split: 8-bit frames ``(n, frames, size²)`` (default ``(n, 10, 2500)``) plus labels and what made each
    sequence."""

    frames: torch.Tensor
    """uint8 pixels of the ten non-blank frames."""
    target: torch.Tensor
    """Position k of the anomaly frame (0..9)."""
    digit: torch.Tensor
    """Digit label of the sequence."""
    transform_a: torch.Tensor
    """Id of the normal transform (index into TRANSFORMS)."""
    transform_b: torch.Tensor
    """Id of the anomaly transform."""
    sources: torch.Tensor
    """Source image indices, ``(n, frames + 1)``: the normal image drawn for each position (the one at the
    target is drawn but not shown: the anomaly replaces it), then the anomaly's source. :meth:`frame_sources`
    gives the images the frames show."""

    def frame_sources(self) -> torch.Tensor:
        """Source image of each shown frame, ``(n, frames)``: the normal images, the anomaly's at the target."""
        out = self.sources[:, :-1].clone()
        out[torch.arange(len(out)), self.target] = self.sources[:, -1]
        return out

    def inputs(self, index: torch.Tensor | slice | None = None) -> torch.Tensor:
        """Normalised float input ``(b, frames + 1, size²)`` (default ``(b, 11, 2500)``) with the blank last frame."""
        u8 = self.frames if index is None else self.frames[index]
        x = u8.float().div_(255.0).sub_(MEAN).div_(STD)
        return torch.cat([x, x.new_zeros(x.shape[0], 1, x.shape[2])], 1)

    def tensors(self) -> dict[str, torch.Tensor]:
        return {k: getattr(self, k) for k in ("frames", "target", "digit", "transform_a", "transform_b", "sources")}


def split_sources(labels: np.ndarray, fractions: tuple[float, float, float], g: torch.Generator) -> dict[str, torch.Tensor]:
    """Disjoint source-image pools for train/val/test, stratified by digit."""
    pools: dict[str, list[torch.Tensor]] = {s: [] for s in SPLITS}
    lab = torch.from_numpy(labels)
    for d in range(10):
        idx = (lab == d).nonzero().flatten()
        idx = idx[torch.randperm(idx.numel(), generator=g)]
        n_val = int(round(fractions[1] * idx.numel()))
        n_test = int(round(fractions[2] * idx.numel()))
        n_train = idx.numel() - n_val - n_test
        pools["train"].append(idx[:n_train])
        pools["val"].append(idx[n_train : n_train + n_val])
        pools["test"].append(idx[n_train + n_val :])
    return {s: torch.cat(p).sort().values for s, p in pools.items()}


def make_sequences(
    images: torch.Tensor,
    labels: torch.Tensor,
    pool: torch.Tensor,
    n: int,
    g: torch.Generator,
    transforms: tuple[str, ...] = TRANSFORMS,
    chunk: int = 1000,
    progress: Callable[[int], None] | None = None,
    frames: int = FRAMES,
) -> RADSplit:
    """``n`` RAD sequences of ``frames`` frames (the target is one of ``frames`` positions) drawn only from the
    source images in ``pool``."""
    pool_labels = labels[pool]
    by_digit = [pool[pool_labels == d] for d in range(10)]
    digits_ok = torch.tensor([p.numel() >= frames + 1 for p in by_digit])
    if not bool(digits_ok.any()):
        raise DataError(f"too few source images: no digit has the {frames + 1} images a sequence needs")
    allowed = digits_ok.nonzero().flatten()
    allowed_t = torch.tensor([TRANSFORMS.index(t) for t in transforms])
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in ("frames", "target", "digit", "transform_a", "transform_b", "sources")}
    done = 0
    while done < n:
        m = min(chunk, n - done)
        digit = allowed[torch.randint(allowed.numel(), (m,), generator=g)]
        ta = torch.randint(len(allowed_t), (m,), generator=g)
        tb = allowed_t[(ta + 1 + torch.randint(len(allowed_t) - 1, (m,), generator=g)) % len(allowed_t)]
        ta = allowed_t[ta]
        k = torch.randint(frames, (m,), generator=g)
        src = torch.empty(m, frames + 1, dtype=torch.int64)
        for d in allowed.tolist():
            rows = (digit == d).nonzero().flatten()
            if rows.numel():  # frames + 1 distinct images of digit d per sequence
                keys = torch.rand(rows.numel(), by_digit[d].numel(), generator=g)
                src[rows] = by_digit[d][keys.topk(frames + 1, dim=1).indices]
        frame_src = src[:, :frames].clone()
        frame_src[torch.arange(m), k] = src[:, frames]
        ids = ta.view(m, 1).repeat(1, frames)
        ids[torch.arange(m), k] = tb
        out = apply_transforms(images[frame_src.flatten()], ids.flatten(), g)
        parts["frames"].append(out.mul_(255.0).round_().clamp_(0, 255).to(torch.uint8).view(m, frames, -1))
        for key, value in (("target", k), ("digit", digit), ("transform_a", ta), ("transform_b", tb), ("sources", src)):
            parts[key].append(value)
        done += m
        if progress:
            progress(m)
    return RADSplit(**{key: torch.cat(v) for key, v in parts.items()})


@dataclass
class RADData:
    """Train, validation and test splits of RAD, with the config and MNIST source that made them."""

    config: RADConfig
    source: str
    splits: dict[str, RADSplit]
    path: Path | None = None
    """The cache file (content-addressed: its name identifies the data, :func:`balancedrnn.train.data_fingerprint`),
    once saved, when loaded, or where a save the cache refused would have put it."""
    from_cache: bool = False
    """True when read from an existing cache file, False when generated by this call."""

    @property
    def origin(self) -> str:
        """How this data set was obtained, for a progress line: loaded from the cache or generated now."""
        if self.from_cache:
            return "loaded from the cache (delete the file to regenerate it)"
        return "generated now and cached" if self.path is not None and self.path.exists() else "generated now (not cached)"

    def __getitem__(self, split: str) -> RADSplit:
        return self.splits[split]


def generate(
    mnist: MnistImages, config: RADConfig, progress: Callable[[int], None] | None = None
) -> RADData:
    """Generate all three splits (seeded; the same seed and source give identical data)."""
    check_fits(config)
    require_kornia(config.transforms)
    g = torch.Generator().manual_seed(config.seed)
    images = prepare_images(mnist.images, config.size)
    labels = torch.from_numpy(mnist.labels)
    pools = split_sources(mnist.labels, config.source_split, g)
    splits = {}
    for split, n in config.sizes().items():
        splits[split] = make_sequences(images, labels, pools[split], n, g, config.transforms, progress=progress,
                                       frames=config.frames)
    return RADData(config, mnist.source, splits)


# ---------------------------------------------------------------------------------------------- cache
def cache_key(mnist: MnistImages, config: RADConfig) -> str:
    """Content hash of what determines the data: the source digits and the generator config."""
    fields = asdict(config)
    for name, default in (("size", SIZE), ("frames", FRAMES)):  # the paper's shape keeps the keys of older caches
        if fields[name] == default:
            del fields[name]
    blob = json.dumps({"mnist": mnist.fingerprint(), "config": fields}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _digest(splits: dict[str, RADSplit]) -> str:
    h = hashlib.sha256()
    for name in SPLITS:
        for key, t in splits[name].tensors().items():
            h.update(name.encode() + key.encode())
            h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


def save(data: RADData, path: Path, strict: bool = True) -> Path | None:
    """Write the data set atomically with its generator version and content hash; returns the path, or (not
    ``strict``) None with a :class:`~balancedrnn.io.CacheWarning` when it cannot be written (``data.path`` names the
    cache file either way, so runs on these data get the data id a cached copy gives)."""
    payload = {
        "generator_version": GENERATOR_VERSION,
        "config": asdict(data.config),
        "source": data.source,
        "sha256": _digest(data.splits),
        "splits": {name: split.tensors() for name, split in data.splits.items()},
    }
    if strict:
        atomic_write(path, lambda f: torch.save(payload, f))
    elif not cache_write(path, lambda f: torch.save(payload, f), "RAD data set"):
        data.path = path
        return None
    data.path = path
    return path


def load(path: str | Path) -> RADData:
    """Read a cached data set, refusing another generator version or contents that fail their hash (the message
    says to delete the file: ``train`` and the ``rad:`` variants have no ``--rebuild``, and every command that
    reads the cache regenerates a missing file)."""
    path = Path(path)
    payload = torch_load(path, "RAD cache", "; delete it and the next run regenerates it")
    if not isinstance(payload, dict) or "generator_version" not in payload:
        raise DataError(f"RAD cache {path} is not a RAD data file")
    if payload["generator_version"] != GENERATOR_VERSION:
        raise DataError(
            f"RAD cache {path} was written by generator version {payload['generator_version']}, this library "
            f"writes version {GENERATOR_VERSION}; delete it and the next run regenerates it"
        )
    try:
        splits = {name: RADSplit(**payload["splits"][name]) for name in SPLITS}
        c = payload["config"]
        config = RADConfig(**{**c, "source_split": tuple(c["source_split"]), "transforms": tuple(c["transforms"])})
    except (KeyError, TypeError) as e:
        raise DataError(f"RAD cache {path} is corrupt (missing {e}); delete it and the next run regenerates it") from None
    if _digest(splits) != payload["sha256"]:
        raise DataError(f"RAD cache {path} is corrupt: its contents do not match their hash; delete it and the next run regenerates it")
    return RADData(config, payload["source"], splits, path, from_cache=True)


def cache_path(mnist: MnistImages, config: RADConfig, directory: Path | None = None) -> Path:
    """Where the data set for (source, config) is cached."""
    return (directory or cache_dir() / "rad") / f"rad-{cache_key(mnist, config)[:20]}.pt"


_LOADED: dict[tuple[str, int, int], RADData] = {}
"""The last cache file this process loaded, keyed by path, modification time and size."""


def build_or_load(
    mnist: MnistImages,
    config: RADConfig,
    directory: Path | None = None,
    rebuild: bool = False,
    progress: bool = True,
    strict: bool = False,
) -> RADData:
    """The cached data set for (source, config), generating and caching it when absent (or ``rebuild``).

    The result's ``from_cache`` (and ``origin``) says which happened. Loading a cache needs only the core
    install; generating needs kornia (the ``rad`` extra), checked before any work. A cache that cannot be written
    (unwritable, a full disk) costs only a rebuild next time: a one-line :class:`~balancedrnn.io.CacheWarning`, and
    the data are returned from memory (its ``origin`` says not cached); with ``strict`` (``data rad``, whose job is the cache) it is a
    DataError, the directory checked before generating.
    """
    path = cache_path(mnist, config, directory)
    if path.exists() and not rebuild:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
        if key not in _LOADED:  # a worker running many trials reads and verifies the file once
            _LOADED.clear()
            _LOADED[key] = load(path)
        return _LOADED[key]
    check_fits(config)
    require_kornia(config.transforms)
    if strict:  # the variable that places it is named, unless the caller chose the directory
        ensure_cache_dir(path.parent) if directory is None else ensure_writable_dir(path.parent, "cache directory")
    total = sum(config.sizes().values())
    from ..progress import progress_bar

    with progress_bar(total, "generating RAD sequences", enabled=progress) as advance:
        data = generate(mnist, config, progress=advance)
    save(data, path, strict=strict)
    return data
