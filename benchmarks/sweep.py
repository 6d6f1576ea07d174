"""Sweep throughput with 1 and 2 worker processes on the same short trials, and the run store's cost per trial.

Part 1 runs one grid of short RAD trials (one torch thread per worker) into a fresh embedded store with 1
worker, then into another with 2 workers, and prints trials per minute and their ratio.
Part 2 times the store's own work per trial (claim from the queue + writing the record and closing the
trial) on a journal file, without training, against the mean trial time of part 1.

Run:  .venv/bin/python benchmarks/sweep.py --mnist-dir <MNIST idx files> [--trials 12]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from _cli import parse_args, positive  # a sibling module: benchmarks/ is on the path

from balancedrnn.io import DataError
from balancedrnn.sweep import store
from balancedrnn.sweep.executor import prepare, run_sweep
from balancedrnn.sweep.spec import SweepSpec


def spec_dict(args: argparse.Namespace, name: str, workers: int) -> dict:
    seeds = list(range(args.trials // 2))
    return {
        "name": name,
        "workers": workers,
        "base": {"task": "rad", "budget": 100_000, "epochs": args.epochs, "n_train": args.n_train, "n_val": 100,
                 "n_test": 200, "lr": 1e-3, "mnist_dir": args.mnist_dir, "threads": 1},
        "sampler": {"kind": "grid", "models": ["dense", "uniform:0.3"], "seeds": seeds},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist-dir", default=None)
    parser.add_argument("--trials", type=positive, default=12)
    parser.add_argument("--epochs", type=positive, default=3)
    parser.add_argument("--n-train", type=positive, default=3000)
    args = parse_args(parser)
    if args.trials < 2 or args.trials % 2:
        parser.error(f"--trials must be an even number of at least 2 (two models, the same seeds), got {args.trials}")

    results = {}
    trial_times: list[float] = []
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            spec = SweepSpec.from_dict(spec_dict(args, f"bench-{workers}", workers))
            try:  # builds the data cache outside the timing; a missing or unreadable --mnist-dir stops here
                run_sweep(SweepSpec.from_dict(spec_dict(args, "warm", 1) | {"sampler": {"kind": "grid", "models": ["dense"], "seeds": [0]}}),
                          run_dir=tmp, progress=False)
            except DataError as e:
                parser.error(str(e))
            t0 = time.perf_counter()
            res = run_sweep(spec, run_dir=tmp, progress=False)
            wall = time.perf_counter() - t0
            if not res.done == res.total == args.trials or res.exit_code:  # a throughput of failed trials means nothing
                raise SystemExit(f"sweep.py: error: with {workers} worker(s) {res.counts.get('ok', 0)} of {args.trials} "
                                 f"trials finished ok ({res.counts}); no throughput to report")
            study = store.open_study(store.open_storage(None, tmp), spec.name, create=False)
            recs = list(store.iter_records(study))
            trial_times += [r["wall_time"] for r in recs]
            results[workers] = (wall, args.trials / wall * 60)
    print(f"# Part 1: {args.trials} RAD trials (budget 100,000, dense and uniform:0.3, {args.n_train} train sequences, "
          f"{args.epochs} epochs), one torch thread per worker")
    print(f"{'workers':>8}{'wall s':>10}{'trials/min':>12}")
    for w, (wall, tpm) in results.items():
        print(f"{w:>8}{wall:>10.1f}{tpm:>12.2f}")
    print(f"throughput ratio 2 workers / 1 worker: {results[2][1] / results[1][1]:.2f}x (target >= 1.7x)")

    # Part 2: the store's own cost per trial, no training
    with tempfile.TemporaryDirectory() as tmp:
        spec = SweepSpec.from_dict(spec_dict(args, "overhead", 1) | {"sampler": {"kind": "grid", "models": ["dense", "uniform:0.3"], "seeds": list(range(50))}})
        study, total, _, _ = prepare(spec, tmp)
        record = recs[0]
        costs = []
        for _ in range(total):
            t0 = time.perf_counter()
            trial = store.claim(study)
            store.finish(study, trial, dict(record, config=trial.user_attrs["config"]))
            costs.append(time.perf_counter() - t0)
        journal = Path(tmp) / "store.journal"
        size = journal.stat().st_size / total
    mean_trial = statistics.mean(trial_times)
    per = statistics.mean(costs)
    print(f"\n# Part 2: store work per trial (claim + record + close) on a journal file, {total} trials")
    print(f"mean store time per trial: {per * 1e3:.1f} ms (median {statistics.median(costs) * 1e3:.1f} ms, "
          f"last {costs[-1] * 1e3:.1f} ms); journal bytes per trial: {size:,.0f}")
    print(f"mean trial time: {mean_trial:.2f} s -> store overhead {100 * per / mean_trial:.2f} % of a trial (target < 1 %)")


if __name__ == "__main__":
    main()
