"""Writing a Hammer data set in Minari's format: `write_dataset` (the data set's size measured once) against
Minari's own path (the size re-measured after every episode), in the same run, at growing sizes.

Episodes are random arrays of the Hammer shapes (201 x 46 observations, 200 x 26 actions); only the writing is
timed. Minari's own path is quadratic in the number of episodes, so it is run only up to --reference-max.

Run:  .venv/bin/python benchmarks/minari_write.py [--sizes 250 500 1000 2000] [--reference-max 1000]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import tempfile
import time

import numpy as np
from _cli import parse_args, positive  # a sibling module: benchmarks/ is on the path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=positive, nargs="+", default=[250, 500, 1000, 2000])
    p.add_argument("--reference-max", type=positive, default=1000)
    args = parse_args(p)
    root = tempfile.mkdtemp(prefix="minari-bench-")  # hundreds of MB at the default sizes: removed at the end
    os.environ["MINARI_DATASETS_PATH"] = root
    try:
        run(args)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(args: argparse.Namespace) -> None:
    from balancedrnn.tasks.hammer import dataset

    rng = np.random.default_rng(0)

    def episodes(n: int) -> list:
        return [dataset.Episode(rng.normal(size=(201, 46)), rng.uniform(-1, 1, (200, 26)).astype(np.float32),
                                rng.normal(size=200), i) for i in range(n)]

    for path in ("fast", "ref"):  # warm-up, untimed: imports and first-write costs would land on the first row
        real = dataset._size_once
        if path == "ref":
            dataset._size_once = contextlib.nullcontext  # type: ignore[assignment]
        try:
            dataset.write_dataset(f"bench/hammer/warm-{path}-v0", episodes(5), "bench", "bench")
        finally:
            dataset._size_once = real
    print("| episodes | write_dataset s | Minari's own path s | ratio |")
    print("|---:|---:|---:|---:|")
    for n in args.sizes:
        eps = episodes(n)
        t0 = time.perf_counter()
        dataset.write_dataset(f"bench/hammer/fast{n}-v0", eps, "bench", "bench")
        fast = time.perf_counter() - t0
        ref = float("nan")
        if n <= args.reference_max:
            real = dataset._size_once
            dataset._size_once = contextlib.nullcontext  # type: ignore[assignment]  # Minari's own behaviour
            try:
                t0 = time.perf_counter()
                dataset.write_dataset(f"bench/hammer/ref{n}-v0", eps, "bench", "bench")
                ref = time.perf_counter() - t0
            finally:
                dataset._size_once = real
        print(f"| {n:,} | {fast:.1f} | " + (f"{ref:.1f} | {ref / fast:.1f} |" if ref == ref else "(not run: quadratic) | |"),
              flush=True)


if __name__ == "__main__":
    main()
