"""Hammer demonstrations in Minari's format, and behaviour-cloning splits from them.

Generated data sets are written through Minari's own API under ``$MINARI_DATASETS_PATH`` (default: the
project cache), so a generated set and a public Minari id (``D4RL/hammer/expert-v2``, downloaded by Minari
when online) load the same way.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..base import BatchedSplit
from ...io import OFFLINE_ENV, DataError, cache_dir, offline
from .env import ACT_DIM, GENERATED_EXPERT_ID, OBS_DIM, REF_EXPERT, REF_RANDOM, STD_FLOOR, check_dataset_id

PUBLIC_EXPERT_ID = "D4RL/hammer/expert-v2"


def minari_dir() -> tuple[Path, str]:
    """Where Minari keeps data sets, and the variable that places it: ``$MINARI_DATASETS_PATH``, else the cache."""
    if os.environ.get("MINARI_DATASETS_PATH"):
        return Path(os.environ["MINARI_DATASETS_PATH"]).expanduser(), "MINARI_DATASETS_PATH"
    return cache_dir() / "minari", "BALANCEDRNN_CACHE"


def _minari() -> Any:
    os.environ.setdefault("MINARI_DATASETS_PATH", str(minari_dir()[0]))
    try:
        import minari
    except ImportError:
        raise DataError("Adroit Hammer data sets need Minari: pip install 'balancedrnn[hammer]'") from None
    return minari


@dataclass
class Episode:
    """One episode: observations (T+1, 46), actions (T, 26), D4RL rewards (T,)."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    seed: int | None = None


@contextlib.contextmanager
def _size_once() -> Iterator[None]:
    """Minari 0.5's arrow storage re-measures the whole data set on disk after every episode it writes, so writing n
    episodes costs O(n²) (5,000 Hammer episodes: over an hour). Inside this block the measurement is skipped;
    :func:`write_dataset` measures once at the end. Without that private class the writing is just slow."""
    try:
        from minari.dataset._storages.arrow_storage import ArrowStorage
    except ImportError:  # pragma: no cover - another Minari layout
        yield
        return
    measure = ArrowStorage.get_size
    ArrowStorage.get_size = lambda self: 0.0  # type: ignore[method-assign]
    try:
        yield
    finally:
        ArrowStorage.get_size = measure  # type: ignore[method-assign]


@contextlib.contextmanager
def _datasets_root(path: Any) -> Iterator[None]:
    """Minari reads and writes its data sets under ``path`` inside this block (``$MINARI_DATASETS_PATH``)."""
    before = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(path)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = before


def write_dataset(dataset_id: str, episodes: Sequence[Episode], algorithm: str, description: str) -> str:
    """Write episodes as a Minari data set, replacing one of the same id only once it is whole: the set is written
    in a hidden folder beside the others (Minari's listing skips it) and moved into place, so a process killed while
    writing leaves the old set, never a half-written one (only the hidden folder, which a later write ignores)."""
    import shutil
    import tempfile

    check_dataset_id(dataset_id)
    minari = _minari()
    from minari.data_collector.episode_buffer import EpisodeBuffer
    from minari.storage import get_dataset_path

    from .env import ENV_ID, require_simulator

    buffers = []
    for i, ep in enumerate(episodes):
        T = len(ep.actions)
        buffers.append(EpisodeBuffer(
            id=i, seed=ep.seed, observations=np.asarray(ep.observations, np.float64),
            actions=np.asarray(ep.actions, np.float32), rewards=list(map(float, ep.rewards)),
            terminations=[False] * T, truncations=[False] * (T - 1) + [True], infos={},
        ))
    require_simulator()
    import warnings

    root = get_dataset_path()
    staging = Path(tempfile.mkdtemp(prefix=".writing-", dir=root))
    try:
        with _datasets_root(staging):
            with warnings.catch_warnings(), _size_once():
                warnings.simplefilter("ignore")
                minari.create_dataset_from_buffers(
                    dataset_id, buffers, env=ENV_ID, algorithm_name=algorithm, description=description,
                    data_format="arrow", ref_min_score=REF_RANDOM, ref_max_score=REF_EXPERT,
                    author="balancedrnn", author_email="none",
                )
            storage = minari.load_dataset(dataset_id).storage
            storage.update_metadata({"dataset_size": storage.get_size()})
        namespace = dataset_id.rsplit("/", 1)[0] if "/" in dataset_id else None
        if namespace is not None:
            from minari.namespace import create_namespace, list_local_namespaces

            if namespace not in list_local_namespaces():
                create_namespace(namespace)
        final = get_dataset_path(dataset_id)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists() or final.is_symlink():  # the old set (or a half-written folder) out of the way first
            os.replace(final, staging / "replaced")
        os.replace(staging / dataset_id, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dataset_id


GENERATED_NAMESPACE = "balancedrnn/"
"""Ids under this namespace are data sets ``balancedrnn data hammer`` makes; they are never published."""


def _is_local(minari: Any, dataset_id: str) -> bool:
    """Whether Minari lists the data set locally (without its warnings about other, misconfigured folders)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dataset_id in minari.list_local_datasets()


@contextlib.contextmanager
def _quiet_hub() -> Iterator[None]:
    """Without the Hugging Face hub's warnings while Minari downloads: offline it logs five 'Retrying in ...' lines
    (ten on stderr) before the error, which the one-line DataError says on its own."""
    import logging

    with contextlib.suppress(ImportError):  # its import sets the level: import it (as Minari would) before setting it
        import huggingface_hub.utils.logging  # noqa: F401
    hub = logging.getLogger("huggingface_hub")
    level = hub.level
    hub.setLevel(logging.ERROR)
    try:
        yield
    finally:
        hub.setLevel(level)


def load_episodes(dataset_id: str, download: bool = False) -> list[Episode]:
    """Episodes of a Minari data set (local, or downloaded by Minari when ``download`` and online). A generated id
    (:data:`GENERATED_NAMESPACE`) is never downloaded: when it is not here, the error says how to make it."""
    check_dataset_id(dataset_id)
    minari = _minari()
    local = _is_local(minari, dataset_id)
    if not local:
        from minari.storage import get_dataset_path

        folder = get_dataset_path(dataset_id)
        if (folder / "data").is_dir():  # Minari's listing skips a set whose metadata do not read: here, but damaged
            raise DataError(f"data set {dataset_id} is damaged or incomplete (its metadata do not read); delete {folder} "
                            f"and make it again")
    if dataset_id.startswith(GENERATED_NAMESPACE) and not local:
        if dataset_id == GENERATED_EXPERT_ID:
            raise DataError(f"no expert data set {dataset_id} yet: make it with `balancedrnn data hammer`, "
                            f"or pass a Minari id such as --dataset {PUBLIC_EXPERT_ID} "
                            f"(reproduce and sweep: --set dataset={PUBLIC_EXPERT_ID})")
        raise DataError(f"no data set {dataset_id} here: {GENERATED_NAMESPACE} ids are made, never downloaded; make it "
                        f"with `balancedrnn data hammer ... --dataset-id {dataset_id}`")
    if download and not local:
        if offline():
            raise DataError(f"Minari data set {dataset_id!r} is not here and downloads are off ({OFFLINE_ENV}=1)")
    else:
        download = False
    try:
        with _quiet_hub():
            ds = minari.load_dataset(dataset_id, download=download)
    except Exception as e:  # noqa: BLE001 - Minari raises several kinds for a missing id
        raise DataError(f"cannot load Minari data set {dataset_id!r}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    episodes = []

    def damaged(what: str) -> DataError:
        return DataError(f"data set {dataset_id} is damaged or incomplete ({what}); delete {ds.storage.data_path.parent} "
                         f"and make it again")

    try:
        for ep in ds.iterate_episodes():
            obs, act = np.asarray(ep.observations), np.asarray(ep.actions)
            if obs.ndim != 2 or obs.shape[1] != OBS_DIM or act.ndim != 2 or act.shape[1] != ACT_DIM:
                raise DataError(f"data set {dataset_id} has observations {obs.shape[1:]} and actions {act.shape[1:]}; "
                                f"Adroit Hammer needs ({OBS_DIM},) and ({ACT_DIM},)")
            if not (np.isfinite(obs).all() and np.isfinite(act).all()):
                raise DataError(f"data set {dataset_id} has NaN or infinite values in episode {ep.id}")
            episodes.append(Episode(obs, act, np.asarray(ep.rewards), None))
    except DataError:
        raise
    except (FileNotFoundError, ValueError, KeyError, IndexError, TypeError) as e:  # an episode file gone or unreadable
        what = f"{type(e).__name__}: {str(e).splitlines()[0]}" if str(e) else type(e).__name__
        raise damaged(what) from None
    if len(episodes) != ds.total_episodes:  # an episode folder without its data file: Minari skips it unsaid and
        # labels the later episodes with the ids before them, so the set would load one episode short
        raise damaged(f"{len(episodes)} of its {ds.total_episodes} episodes read")
    if getattr(ds.storage, "FORMAT", None) in ("arrow", "parquet"):  # a folder per episode (hdf5: one file, no folders)
        folders = sum(1 for p in Path(ds.storage.data_path).iterdir() if p.is_dir() and p.name.isdigit())
        if folders != ds.total_episodes:  # a count below the folders (an append cut short): Minari reads that many, unsaid
            raise damaged(f"{folders} episode folders for the {ds.total_episodes} episodes its metadata counts")
    if not episodes:
        raise DataError(f"data set {dataset_id} holds no episodes")
    return episodes


def episodes_digest(episodes: Sequence[Episode]) -> str:
    """A short hash of the episodes' observations and actions (what cloning trains on): a data set regenerated
    under the same id and episode count gets another, so a sweep's data id (the hash of its data's source) tells
    the new data from the old and reruns the trials trained on the old."""
    import hashlib

    h = hashlib.blake2b(digest_size=8)
    for ep in episodes:
        for a in (ep.observations, ep.actions):
            a = np.ascontiguousarray(a)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(a.tobytes())
    return h.hexdigest()


def load_requested(dataset: str | None) -> tuple[str, list[Episode]]:
    """``(id, episodes)`` of the data set a run asks for (``--dataset``): the named one (downloaded by Minari when
    online), else the generated expert set, which is never downloaded."""
    dataset_id = dataset or GENERATED_EXPERT_ID
    return dataset_id, load_episodes(dataset_id, download=dataset is not None)


def dataset_stamp(dataset: str | None) -> str:
    """Which copy of a local data set is on disk now (its metadata file's inode and time), '' when there is none:
    a set written again under the same id (``data hammer --rebuild``) gets another stamp, so data built from the old
    copy and kept in memory is not served as the new one's."""
    _minari()  # the data sets' root ($MINARI_DATASETS_PATH, default the cache), even before anything else read one
    from minari.storage import get_dataset_path

    try:
        st = (get_dataset_path(dataset or GENERATED_EXPERT_ID) / "data" / "metadata.json").stat()
    except OSError:
        return ""
    return f"{st.st_ino}-{st.st_mtime_ns}"


@dataclass
class CloningSplit(BatchedSplit):
    """Episodes for behaviour cloning: x = normalised observations (final one dropped), target = actions."""

    x: torch.Tensor
    target: torch.Tensor

    def inputs(self, index: torch.Tensor | slice | None = None) -> torch.Tensor:
        return self.x if index is None else self.x[index]


@dataclass
class CloningData:
    """Train/validation/test episodes, the observation statistics, and the mean-action baseline."""

    splits: dict[str, CloningSplit]
    obs_mean: np.ndarray
    obs_std: np.ndarray
    source: str
    baseline: dict[str, float]


def cloning_data(episodes: Sequence[Episode], fractions: tuple[float, float, float] = (0.9, 0.05, 0.05),
                 seed: int = 0, source: str = "") -> CloningData:
    """Split by episode (seeded), normalise observations with training statistics (std floored)."""
    n = len(episodes)
    if n < 3:
        raise DataError(f"behaviour cloning needs at least 3 episodes (train/val/test), got {n}")
    for i, ep in enumerate(episodes):
        obs, act = np.shape(ep.observations), np.shape(ep.actions)
        if len(obs) != 2 or obs[1] != OBS_DIM or len(act) != 2 or act[1] != ACT_DIM or obs[0] != act[0] + 1:
            raise DataError(f"episode {i} has observations {obs} and actions {act}; Adroit Hammer needs (T+1, {OBS_DIM}) "
                            f"and (T, {ACT_DIM})")
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(fractions[1] * n)))
    n_test = max(1, int(round(fractions[2] * n)))
    while n_val + n_test > n - 1:  # rounded up past the episodes there are: training keeps one, the larger gives it
        if n_val >= n_test:
            n_val -= 1
        else:
            n_test -= 1
    parts = {"train": order[: n - n_val - n_test], "val": order[n - n_val - n_test : n - n_test], "test": order[n - n_test :]}
    lengths = {len(ep.actions) for ep in episodes}
    if len(lengths) != 1:
        raise DataError(f"episodes have different lengths {sorted(lengths)}; expected fixed-length episodes")
    train_obs = np.concatenate([episodes[i].observations[:-1] for i in parts["train"]]).astype(np.float64)
    mean = train_obs.mean(0)
    std = np.maximum(train_obs.std(0), STD_FLOOR)
    splits = {}
    for name, idx in parts.items():
        x = np.stack([(episodes[i].observations[:-1].astype(np.float64) - mean) / std for i in idx])
        y = np.stack([episodes[i].actions for i in idx])
        splits[name] = CloningSplit(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32))
    mean_action = splits["train"].target.reshape(-1, ACT_DIM).mean(0)
    baseline = {f"{s}_mse_mean_action": float((splits[s].target - mean_action).pow(2).mean()) for s in ("val", "test")}
    return CloningData(splits, mean, std, source, baseline)
