"""Running a sweep: trial execution with timeouts, worker processes over the run store, and the summary a
sweep ends with (counts and an exit code that tells the truth)."""

from __future__ import annotations

import multiprocessing as mp
import multiprocessing.connection
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .spec import SweepSpec, check_optuna_budget, optuna_sampler, suggest_config, trial_configs, trial_params


# --------------------------------------------------------------------------------------- execution
def _alarm(signum: int, frame: Any) -> None:
    from ..train import TrialTimeout

    raise TrialTimeout("trial ran past the sweep's time limit")


@contextmanager
def _shown_by_the_command() -> Iterator[None]:
    """Hold back the data warnings (the MNIST fallback, a data set that could not be cached) while a worker loads
    the data again: the command said them once when it built the data before any worker started, and a worker
    repeated them at every trial, in Python's two-line form."""
    import warnings

    from ..io import CacheWarning
    from ..tasks.mnist import MnistWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MnistWarning)
        warnings.simplefilter("ignore", CacheWarning)
        yield


def run_one(config: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one trial under an optional time limit (SIGALRM) that covers loading its data too, returning its
    record."""
    from ..train import TrainConfig, TrialTimeout, run_trial

    cfg = TrainConfig.from_dict(config)
    if timeout and timeout > 0:
        signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        with _shown_by_the_command():
            return run_trial(cfg, data=None, progress=False)
    except TrialTimeout as e:  # the one-shot alarm fired outside run_trial's own try (starting its record, or
        from ..env import git_revision, versions  # returning it): still a timeout record, not a dead worker
        from ..record import RunRecord

        return RunRecord(trial_key=cfg.key(), config=asdict(cfg), seed=cfg.seed, status="timeout", error=str(e),
                         versions=versions(), git_revision=git_revision(), device=cfg.device).to_dict()
    finally:
        if timeout and timeout > 0:
            signal.setitimer(signal.ITIMER_REAL, 0)


def _config_worker(cfg_dict: dict[str, Any], threads: int, data_id: str | None = None) -> dict[str, Any]:
    """One trial in a spawned process: load the task's data there (from its cache) and run the config; a failed
    record, not a run, when that data is not ``data_id`` (the data the caller loaded: a --data file changed since)."""
    import torch

    from ..record import RunRecord
    from ..tasks import get_task
    from ..train import TrainConfig, data_fingerprint, run_trial

    torch.set_num_threads(threads)
    cfg = TrainConfig.from_dict(cfg_dict)
    with _shown_by_the_command():
        data = get_task(cfg.task).load(cfg, False)
    if data_id is not None and data_fingerprint(data) != data_id:
        return RunRecord(trial_key=cfg.key(), config=asdict(cfg), seed=cfg.seed, status="failed", failure="environment",
                         data_source=str(data.source), data_id=data_fingerprint(data),
                         error=f"the data changed while the trials ran: this trial would train on {data.source}, not "
                               f"on the data ({data_id}) the others trained on").to_dict()
    return run_trial(cfg, data=data, progress=False)


def _stop_processes(processes: list[Any], grace: float = 10.0) -> None:
    """Terminate worker processes and wait until each is gone (the pool's own thread reaps them too, so
    ``join`` may return before the process has), killing any still there after ``grace`` seconds."""
    import time

    for proc in processes:
        proc.terminate()
    deadline = time.monotonic() + grace
    while any(p.is_alive() for p in processes) and time.monotonic() < deadline:
        time.sleep(0.05)
    for proc in processes:
        if proc.is_alive():
            proc.kill()
            proc.join(grace)


def run_configs(configs: list[Any], data: Any, workers: int = 1, threads: int = 1,
                on_record: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Run a fixed list of :class:`~balancedrnn.train.TrainConfig` without a store (``balancedrnn compare``):
    in this process on ``data``, or in ``workers`` spawned processes that load the data from its cache. A worker
    that crashes becomes a failed record, never a lost table. ``on_record`` sees each record as it finishes."""
    from concurrent.futures import ProcessPoolExecutor, as_completed

    import torch

    from ..record import RunRecord
    from ..train import run_trial

    records: list[dict[str, Any]] = []

    def keep(record: dict[str, Any]) -> None:
        records.append(record)
        if on_record is not None:
            on_record(record)

    if workers == 1:
        before = torch.get_num_threads()  # the caller's process keeps its own setting
        torch.set_num_threads(threads)
        try:
            for cfg in configs:
                keep(run_trial(cfg, data=data, progress=False))
        finally:
            torch.set_num_threads(before)
        return records
    pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"))
    try:
        from ..train import data_fingerprint

        data_id = data_fingerprint(data) if data is not None else None  # every trial on the same data, or none
        futures = {pool.submit(_config_worker, asdict(c), threads, data_id): c for c in configs}
        for fut in as_completed(futures):
            try:
                keep(fut.result())
            except Exception as e:  # noqa: BLE001 - a crashed worker is a failed trial
                cfg = futures[fut]
                keep(RunRecord(trial_key=cfg.key(), config=asdict(cfg), seed=cfg.seed, status="failed",
                               error=f"worker crashed: {type(e).__name__}: {e}", failure="environment").to_dict())
    except BaseException:  # Ctrl-C, SIGTERM: an ordinary shutdown would first run every queued trial, for nothing
        workers_alive = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        _stop_processes(workers_alive)
        raise
    pool.shutdown()
    return records


def worker_loop(spec_dict: dict[str, Any], storage_url: str | None, run_dir: str, threads: int = 1,
                max_trials: int | None = None, worker: int = 0, policy: dict[str, Any] | None = None,
                log: Any = None, released: Any = None) -> int:
    """Claim and run trials until none are left (or ``max_trials``). Returns how many this worker finished;
    ``released`` (a ``multiprocessing.Value``) counts the dead workers' trials it took over."""
    import torch

    from . import store

    torch.set_num_threads(threads)
    spec = SweepSpec.from_dict(spec_dict, check_unread=False)  # checked by the caller; every field is given here
    done_policy = store.DonePolicy(**policy) if policy else None
    study = store.open_study(store.open_storage(storage_url, run_dir), spec.name)
    if spec.sampler.kind in ("tpe", "qmc"):
        study.sampler = optuna_sampler(spec)
        import warnings  # Optuna's "heartbeat ... used with Study.optimize": this loop beats for its trials itself

        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
    from ..train import PLACEMENT, TrainConfig

    here = TrainConfig.from_dict(spec.base)  # a trial queued by another command (machine) runs on this one's
    placement = {k: getattr(here, k) for k in PLACEMENT}  # MNIST path and device: its own may not exist here
    done = 0
    while max_trials is None or done < max_trials:
        if _INTERRUPTS.pending:  # an interrupt while this worker held no trial: stop before claiming another
            raise KeyboardInterrupt
        if spec.sampler.kind in ("tpe", "qmc"):
            if (len(store.done_keys(study, done_policy)) + _running(study) >= spec.sampler.n_trials
                    and not _waiting(study)):  # queued configs (released, retried) run even past n_trials: they are
                break  # trials the study holds already, whose latest record would otherwise stay a failure
            trial = study.ask()  # independent sampling happens at suggest time: seed it by the trial's number
            if "config" in trial.user_attrs:  # a dead worker's trial queued again (release_stale): run its config
                if not store.claim_popped(study, trial, done_policy):  # as it was, seed included; done elsewhere: next
                    continue
                config = trial.user_attrs["config"]
            elif _surplus(study, trial, spec.sampler.n_trials, done_policy):  # another worker asked at the same time
                from optuna.trial import TrialState

                trial.set_user_attr("status", "no-work")  # attributes first: a finished trial takes no more
                study.tell(trial, state=TrialState.FAIL)
                break
            else:
                config = _propose(study, trial, spec)
        else:
            trial = store.claim(study, done_policy)
            if trial is None:  # the queue is empty: first take over the trials of workers that died (another
                taken = store.release_stale(study)  # command's or machine's included)
                if taken:
                    if released is not None:  # the sweep's summary counts them as released
                        with released.get_lock():
                            released.value += taken
                    if log is not None:
                        log(f"took over {taken} trial(s) of workers that died")
                    trial = store.claim(study, done_policy)
            if trial is None:
                break
            config = trial.user_attrs["config"]
        config = {**config, **placement}
        try:
            with store.Heartbeat(trial), _interruptible():
                record = run_one(config, spec.timeout)
        except KeyboardInterrupt:
            from ..record import interrupted_record

            record = interrupted_record(config, trial.user_attrs.get("key"))
            store.finish(study, trial, record, done_policy)
            raise
        how = store.finish(study, trial, record, done_policy)
        if how != "recorded" and log is not None:
            log(f"trial {trial.number} ({config['model']}, seed {config['seed']}) was released while this worker "
                f"was stalled; its result is kept" + (" as a duplicate: the config has run again elsewhere"
                                                     if how == "duplicate" else " as a new trial"))
        done += 1
    return done


def _propose(study: Any, trial: Any, spec: SweepSpec) -> dict[str, Any]:
    """A new TPE or QMC trial's config, from the sampler (TPE seeded by the trial's number); the trial is marked
    this worker's, with the config's key and parameters."""
    from . import store
    from ..train import TrainConfig

    if spec.sampler.kind == "tpe":
        study.sampler = optuna_sampler(spec, trial.number)
    config = suggest_config(trial, spec)
    trial.set_user_attr("key", TrainConfig.from_dict(config).key())
    trial.set_user_attr("config", config)
    try:
        store.set_params(trial, {k: v for k, v in trial_params(config).items() if k not in trial.params})
    except ValueError:
        pass  # an infeasible suggestion: its record says why (a failed trial)
    store.mark_claimed(trial)
    return config


def _running(study: Any) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


def _surplus(study: Any, trial: Any, n_trials: int, policy: Any) -> bool:
    """Whether a TPE or QMC trial just asked for is one past ``n_trials``: workers that check the count at the same
    moment both ask, and a 2-worker sweep of n_trials 2 ran 3. The lower-numbered trials, running or done, are
    the sweep's; this one is surplus when they are ``n_trials`` already."""
    from optuna.trial import TrialState

    from . import store

    earlier = [t for t in store._trials(study) if t.number < trial.number
               and (t.state == TrialState.RUNNING or store.is_done(t, policy))]
    return len(earlier) >= n_trials


def _waiting(study: Any) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))


def _ignore(signum: int, frame: Any) -> None:
    """Ignore a signal from Python rather than with SIG_IGN: a second signal already pending when the handlers
    change (the terminal's SIGINT and the parent's SIGTERM arrive together) would otherwise surface as
    "OSError: Signal 15 ignored due to race condition" wherever the process happens to be."""


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, _ignore)
    signal.signal(signal.SIGTERM, _ignore)


@dataclass
class _InterruptState:
    """A worker's interrupt: raised at once only while a trial trains (``live``); anywhere else (claiming a
    trial, writing its record) it is only noted (``pending``) and acted on at the next safe point, so a trial
    is never left RUNNING with no record, nor a finished result dropped."""

    live: bool = False
    pending: bool = False


_INTERRUPTS = _InterruptState()


class _interruptible:
    """Context in which a worker's interrupt raises KeyboardInterrupt at once (one already noted raises on
    entry)."""

    def __enter__(self) -> None:
        _INTERRUPTS.live = True  # first, so an interrupt arriving now either raises or is seen just below
        if _INTERRUPTS.pending:
            raise KeyboardInterrupt

    def __exit__(self, *exc: object) -> None:
        _INTERRUPTS.live = False


def _interrupt_once(signum: int, frame: Any) -> None:
    """First Ctrl-C or SIGTERM: stop the trial (KeyboardInterrupt), or note it when no trial trains; later ones
    (or the parent's forward) are ignored, so the interrupted trial's record is written in peace."""
    _ignore_interrupts()
    _INTERRUPTS.pending = True
    if _INTERRUPTS.live:
        raise KeyboardInterrupt


def _arm_interrupts(take_sigint: bool) -> None:
    """Install a worker's interrupt handlers (SIGTERM always, Ctrl-C when ``take_sigint``), nothing noted."""
    _INTERRUPTS.live = _INTERRUPTS.pending = False
    if take_sigint:
        signal.signal(signal.SIGINT, _interrupt_once)
    signal.signal(signal.SIGTERM, _interrupt_once)


def _die_with_parent() -> None:
    """Ask Linux to send this worker SIGTERM when its parent dies (kill -9 of the sweep command), so no orphan
    keeps claiming trials; elsewhere a no-op (the heartbeat releases their trials)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _worker_main(spec_dict: dict[str, Any], storage_url: str | None, run_dir: str, threads: int, worker: int,
                 policy: dict[str, Any] | None, parent: int, take_sigint: bool = True, stop: Any = None,
                 released: Any = None) -> None:
    # workers start with Ctrl-C ignored (see run_sweep) and take it only while they work, so a Ctrl-C during
    # start-up or shut-down prints no traceback; SIGTERM (the parent's, or the parent's death) is the same.
    # ``take_sigint`` False: the sweep command itself ignores SIGINT (started with `&` by a non-interactive
    # shell, or under nohup), so its workers ignore it too rather than stop under a parent that goes on
    import sys

    _die_with_parent()
    if os.getppid() != parent:  # the parent died before the line above took effect
        return
    _arm_interrupts(take_sigint)
    if stop is not None and stop.is_set():  # the sweep was interrupted while this worker started, when its
        _INTERRUPTS.pending = True  # signals were still ignored: claim nothing
    try:
        worker_loop(spec_dict, storage_url, run_dir, threads, worker=worker, policy=policy,
                    log=lambda m: print(f"worker {worker}: {m}", file=sys.stderr, flush=True), released=released)
    except KeyboardInterrupt:
        pass
    except Exception as e:  # noqa: BLE001 - a store or system error: one line, and the parent reports the exit
        from .store import _cause

        print(f"worker {worker}: error: {_cause(e)}", file=sys.stderr, flush=True)
        sys.exit(1)
    finally:
        _ignore_interrupts()


@dataclass
class SweepResult:
    """What a sweep call did."""

    total: int
    """Configs of this sweep spec."""
    done: int
    """Of them, those with a final record (ok, failed, diverged or timeout) on the current data."""
    queued: int
    """Configs queued by this call."""
    released: int
    """Trials of dead workers released by this call."""
    interrupted: bool = False
    running_elsewhere: int = 0
    """Trials still running in workers that are not this call's (other machines)."""
    counts: dict[str, int] = field(default_factory=dict)
    """Statuses of the trials this call's workers finished: ok, failed, diverged, timeout, interrupted."""
    crashed: list[str] = field(default_factory=list)
    """This call's workers that died (killed, or crashed), one line each."""
    data_source: str = ""
    """The data the sweep trains on."""
    rerun_other_data: int = 0
    """Configs that had finished on other data and run again on this call's data."""
    retried: int = 0
    """Failed configs queued again (environment failures, or all with ``retry_failed``)."""
    other_trials: int = 0
    """Finished configs in the study that do not belong to this spec (an earlier spec under the same name)."""
    final_counts: dict[str, int] = field(default_factory=dict)
    """Statuses of the latest final records of this spec's configs on the sweep's data, whichever call ran them
    (ok, failed, ...)."""
    data_id: str | None = None
    """The fingerprint of the data the sweep trains on (its records are the ones on this data)."""

    @property
    def data_policy(self) -> Any:
        """The records that belong to this sweep's data (:meth:`store.DonePolicy.counts`)."""
        return _same_data_policy(self)

    @property
    def not_ok(self) -> dict[str, int]:
        """Of :attr:`final_counts`, the statuses other than ok: configs whose latest record is a failure."""
        return {k: n for k, n in self.final_counts.items() if k != "ok" and n}

    @property
    def failed(self) -> int:
        """Trials of this call that did not succeed."""
        return sum(self.counts.get(k, 0) for k in ("failed", "diverged", "timeout"))

    @property
    def exit_code(self) -> int:
        """0: every config's latest record ok and the sweep complete (or finishing elsewhere); 1: a trial
        failed, diverged or timed out (in this call or an earlier one, and not retried since), a worker died, or
        trials are missing; 130: interrupted."""
        if self.interrupted:
            return 130
        if (self.failed or self.not_ok or self.crashed
                or (self.done < self.total and not self.running_elsewhere)):
            return 1
        return 0


def prepare(spec: SweepSpec, run_dir: str | Path = "runs", policy: Any = None,
            log: Any = None) -> tuple[Any, int, int, int]:
    """Open the store, release dead workers' trials and queue every missing config (under the done-policy
    ``policy``: data and retries). Returns (study, total trials, newly queued, released)."""
    from . import store
    from ..train import TrainConfig

    if spec.sampler.kind in ("tpe", "qmc"):
        check_optuna_budget(spec)
    configs = [] if spec.sampler.kind in ("tpe", "qmc") else trial_configs(spec)  # validate before touching the store
    params = [trial_params(c) for c in configs]
    storage = store.open_storage(spec.storage, run_dir, log=log)
    study = store.open_study(storage, spec.name)
    if spec.sampler.kind in ("tpe", "qmc"):  # before any write: nothing of this store is changed
        _check_optuna_study(study, spec)
    with store.writing(study):  # nothing has run yet: a store that cannot be written is one line, exit 2
        released = store.release_stale(study)
        if spec.sampler.kind in ("tpe", "qmc"):
            return study, spec.sampler.n_trials, _queue_again(study, policy), released
        keys = [TrainConfig.from_dict(c).key() for c in configs]
        queued = store.enqueue_missing(study, configs, keys, params, policy)
    return study, len(set(keys)), queued, released


def _queue_again(study: Any, policy: Any) -> int:
    """A TPE or QMC sweep's finished configs that no longer count under ``policy`` (a failure to retry, a run on
    other data) queued again as they were, as a dead worker's trial is (:func:`store.release_stale`); a new
    proposal in their place left the failed record the config's latest, so such a sweep never exited 0. Every one,
    even past ``n_trials`` (workers of one command can together start a trial or two more than it): the workers run
    queued trials before they stop. Returns how many were queued."""
    from . import store

    counted = store.done_keys(study, policy)
    again = store.done_keys(study) - counted
    first: dict[str, Any] = {}
    for t in store._trials(study):
        if t.user_attrs.get("key") in again and store.is_done(t) and "config" in t.user_attrs:
            first.setdefault(t.user_attrs["key"], t)
    chosen = sorted(first.values(), key=lambda t: t.number)
    return store.enqueue_missing(study, [t.user_attrs["config"] for t in chosen], [t.user_attrs["key"] for t in chosen],
                                 [dict(t.params) for t in chosen], policy)


def _check_optuna_study(study: Any, spec: SweepSpec) -> None:
    """A TPE or QMC sweep counts every trial of its study towards ``n_trials`` and its sampler learns from all of
    them, so a study holding another sweep's trials (another task, budget, epochs, a grid) is refused in one line
    rather than silently run short or not at all."""
    from . import store
    from .spec import SweepError, optuna_mismatch

    other, why = 0, None
    for t in store._trials(study):
        if "config" not in t.user_attrs:
            continue
        reason = optuna_mismatch(spec, t.user_attrs["config"])
        if reason is not None:
            other, why = other + 1, why or reason
    if other:
        raise SweepError(f"study {spec.name!r} holds {other} trial(s) of another sweep ({why}); the {spec.sampler.kind} "
                         "sampler would count them towards n_trials and learn from them: give the sweep another name")


def spec_keys(spec: SweepSpec) -> set[str] | None:
    """Keys of a grid/random/hidden-proportion spec's configs (None for Optuna's samplers)."""
    from ..train import TrainConfig

    if spec.sampler.kind in ("tpe", "qmc"):
        check_optuna_budget(spec)  # its trials' configs are drawn as they run: the budget is checked here
        return None
    return {TrainConfig.from_dict(c).key() for c in trial_configs(spec)}


def _build_data_once(spec: SweepSpec, progress: bool) -> Any:
    """Generate (and cache) the base config's data set before the workers start, so they do not race to; returns
    it (its source and fingerprint identify the sweep's data)."""
    from ..tasks import get_task
    from ..train import TrainConfig

    cfg = TrainConfig.from_dict(spec.base)
    return get_task(cfg.task).load(cfg, progress)


class _Terminated(KeyboardInterrupt):
    """SIGTERM to the sweep command: stop like Ctrl-C."""


def _terminate(signum: int, frame: Any) -> None:
    raise _Terminated


def _count_done(study: Any, keys: set[str] | None, policy: Any, n_trials: int) -> int:
    from . import store

    done = store.done_keys(study, policy)
    return len(done & keys) if keys is not None else min(len(done), n_trials)


def run_sweep(spec: SweepSpec, run_dir: str | Path = "runs", progress: bool = True, retry_failed: bool = False,
              log: Any = None) -> SweepResult:
    """Run a sweep with ``spec.workers`` local processes (one torch thread each) until every trial is done.

    Safe to call again after an interruption, and from several machines on one shared storage. Configs that
    finished on other data run again on this call's data; failures whose cause was the environment run again,
    and with ``retry_failed`` every failure does. SIGTERM stops the sweep like Ctrl-C (workers record their
    trials as interrupted).
    """
    from optuna.trial import TrialState

    from . import store
    from ..progress import progress_bar
    from ..train import data_fingerprint

    since = time.time()
    keys = spec_keys(spec)  # validates every config before anything is built or written
    from ..env import check_device

    check_device(str(spec.base.get("device", "cpu")))  # the device this machine's workers would train on
    store._grace()  # $BALANCEDRNN_STORE_GRACE, read by the workers too: bad, it is one line before any work
    store._answer_timeout()  # $BALANCEDRNN_STORE_TIMEOUT likewise
    data = _build_data_once(spec, progress)
    policy = store.DonePolicy(data_id=data_fingerprint(data), data_source=str(data.source), since=since,
                              retry_failed=retry_failed)
    study, total, queued, released = prepare(spec, run_dir, policy, log)
    # finished before, to run again now (on other data, or a failure to retry); queuing and releasing change
    # neither set, so both are read from the one study prepare opened
    stale = store.done_keys(study) - store.done_keys(study, policy)
    if keys is not None:  # another spec's configs in the study are not queued by this one: not counted as re-run
        stale &= keys
    finished: dict[str, list[Any]] = {}
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("key") in stale and store.is_done(t):
            finished.setdefault(t.user_attrs["key"], []).append(t)
    rerun_other_data = sum(1 for ts in finished.values() if not any(_same_data(t, policy) for t in ts))
    ctx = mp.get_context("spawn")
    spec_dict = {**asdict(spec), "sampler": asdict(spec.sampler)}
    policy_dict = asdict(policy)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited: a fresh interpreter keeps it ignored
    take_sigint = previous != signal.SIG_IGN  # workers take Ctrl-C only when the sweep command does
    forward = signal.SIGINT if take_sigint else signal.SIGTERM  # passed on to the workers on an interrupt
    stop = ctx.Event()  # set on an interrupt: a worker still starting (signals ignored) sees it once armed
    taken = ctx.Value("i", 0)  # dead workers' trials this call's workers took over
    procs = [ctx.Process(target=_worker_main, args=(spec_dict, spec.storage, str(run_dir), 1, i, policy_dict,
                                                    os.getpid(), take_sigint, stop, taken), daemon=False)
             for i in range(spec.workers)]
    previous_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    interrupted = False
    try:
        try:
            for p in procs:
                p.start()
        finally:  # an interrupt from here on is caught below, and the workers are told
            signal.signal(signal.SIGINT, previous)
            signal.signal(signal.SIGTERM, _terminate)
        with progress_bar(total, f"sweep {spec.name}", enabled=progress) as advance:
            seen = _count_done(study, keys, policy, spec.sampler.n_trials)
            advance(seen)
            while any(p.is_alive() for p in procs):
                # a second between progress updates, but no waiting once the last worker has ended
                mp.connection.wait([p.sentinel for p in procs if p.is_alive()], timeout=1.0)
                try:
                    now = _count_done(study, keys, policy, spec.sampler.n_trials)
                except Exception as e:  # the store is away (a database restart): the workers meet it too;
                    if not store.is_store_failure(e):
                        raise
                    continue  # wait for them, and judge the store once they have ended
                if now > seen:
                    advance(now - seen, info="done")  # the line reads "sweep NAME: 3/8 done"
                    seen = now
    except KeyboardInterrupt:
        interrupted = True
        _ignore_interrupts()  # let the workers record their trials undisturbed
        stop.set()  # before the signals: a worker that misses its signal while starting up sees this
        for p in procs:
            if p.is_alive() and p.pid:
                os.kill(p.pid, forward)
    finally:
        for p in procs:
            if p.pid is not None:  # started
                p.join()
        signal.signal(signal.SIGTERM, previous_term)
    pids = {p.pid for p in procs}
    released += taken.value
    crashed = [f"worker {i} (pid {p.pid}) " + (f"was killed by signal {-p.exitcode}" if (p.exitcode or 0) < 0
                                                else f"exited with code {p.exitcode}")
               for i, p in enumerate(procs) if p.exitcode not in (0, None) and not interrupted]
    with store.lost_mid_run(f"sweep {spec.name}"):  # read once the workers have ended
        # trials of workers that died (this call's, or another command's on this host or past the grace period)
        # are released first, so a trial counts as running elsewhere only while its worker may be alive
        if not interrupted:
            released += store.release_stale(study)  # their trials run again next time
        host = socket.gethostname()
        counts: dict[str, int] = {}
        running_elsewhere = 0
        for t in study.get_trials(deepcopy=False):
            w = t.user_attrs.get("worker") or {}
            # a pid is ours only for trials claimed since this call began: an earlier command's worker may have had
            ours = (w.get("host") == host and w.get("pid") in pids  # the same pid (Linux reuses them)
                    and float(w.get("started") or 0) >= since)
            if t.state == TrialState.RUNNING and not ours and (keys is None or t.user_attrs.get("key") in keys):
                running_elsewhere += 1  # of this spec: another spec's trial finishes none of this one's configs
            status = t.user_attrs.get("status")
            if ours and status in (*store.FINISHED_STATUSES, "interrupted"):
                counts[status] = counts.get(status, 0) + 1
        done = _count_done(study, keys, policy, spec.sampler.n_trials)
        all_done = store.done_keys(study)
        other = len(all_done - keys) if keys is not None else 0
        final: dict[str, int] = {}  # a later run on other data (another command's) is not this sweep's latest
        for rec in store.iter_records(study, policy=_same_data_policy(policy)):
            if keys is None or rec.get("trial_key") in keys:
                final[str(rec.get("status"))] = final.get(str(rec.get("status")), 0) + 1
        return SweepResult(total=total, done=done, queued=queued, released=released, interrupted=interrupted,
                           running_elsewhere=running_elsewhere, counts=counts, crashed=crashed,
                           data_source=str(data.source), rerun_other_data=rerun_other_data,
                           retried=len(stale) - rerun_other_data, other_trials=other, final_counts=final,
                           data_id=policy.data_id)


def _same_data_policy(policy: Any) -> Any:
    """The part of a done-policy that is about data: which records were trained on the policy's data."""
    from . import store

    return store.DonePolicy(data_id=policy.data_id, data_source=policy.data_source or None)


def _same_data(trial: Any, policy: Any) -> bool:
    """Whether a finished trial's record was trained on the policy's data."""
    return _same_data_policy(policy).counts(trial)
