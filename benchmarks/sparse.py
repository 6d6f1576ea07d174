"""Sparse kernels against masked-dense blocks, in the same run.

Part 1: one training step (forward + backward + Adam) of a balanced-style block RNN at dx 46, dy 26, dh 4,096,
W_hh density 0.01 (hx = hy = 1, yx = yh = yy = 0.1), batch 64, 50 time steps: masked-dense kernels against the
automatic choice, on the compiled kernels (native.py) and on PyTorch's CSR operators. Each variant runs in its
own process so its peak memory (max RSS) is its own; the variants run one after another in each of --rounds
rounds, and the speed-up is the median of the rounds' ratios (timings on a shared machine drift by tens of
per cent within minutes, so each round compares runs made close in time).

Part 2: the crossover density where the sparse kernel starts to beat the dense one for the recurrent block W_hh
(a model whose other blocks are 1 wide; --cross-steps steps) at dh 512, 2,048 and 4,096, and the time of the
automatic choice at each density against masked-dense (it must never be slower). It measures the sparse
backend in use (the compiled kernels; with BALANCEDRNN_NATIVE=0, PyTorch's operators).

Run:  .venv/bin/python benchmarks/sparse.py [--threads 2]   (--threads 1 2: part 1 at each thread count;
      --profile: where part 1's sparse step spends its time, by operator and input shapes;
      --calls: single W_hh kernel calls, PyTorch's operators against the compiled kernels)
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import time

import torch
from _cli import check_entries, density, parse_args, positive  # a sibling module: benchmarks/ is on the path

from balancedrnn import BlockRNN, BlockSpec
from balancedrnn.kernels.dispatch import choose_kernel, crossover_density, sparse_backend
from balancedrnn.core.spec import exact_count


def rss_mb() -> float:
    """Current resident memory, MB."""
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    """Peak resident memory since the last :func:`reset_peak`, MB (Linux VmHWM)."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> None:
    """Reset the peak-RSS counter (Linux: write 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def step_setup(kernel: str, args: argparse.Namespace) -> tuple[BlockRNN, torch.optim.Optimizer, torch.Tensor, torch.Tensor]:
    """Part 1's model (one kernel choice), optimiser, inputs and targets."""
    torch.set_num_threads(args.threads)
    density = {"hx": 1.0, "hh": args.density, "hy": 1.0, "yx": 0.1, "yh": 0.1, "yy": 0.1}
    model = BlockRNN(BlockSpec(46, args.dh, 26, density), seed=0, kernel=kernel)  # type: ignore[arg-type]
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(0)
    return model, opt, torch.randn(args.batch, args.steps, 46, generator=gen), torch.randn(args.batch, args.steps, 26, generator=gen)


def profile_sparse_step(args: argparse.Namespace, steps: int = 5) -> None:
    """Where the sparse step's time goes: the compiled kernels' calls timed by block shape (the profiler cannot
    see inside them: it counts them in its _Recurrence rows), then torch.profiler over the same steps, by
    operator and input shapes."""
    import collections

    from torch.profiler import profile

    from balancedrnn.kernels import native

    model, opt, x, target = step_setup("auto", args)
    spent: dict[str, float] = collections.defaultdict(float)
    calls: dict[str, int] = collections.defaultdict(int)

    def timed(method: str):  # type: ignore[no-untyped-def]
        inner = getattr(native.NativeCSR, method)

        def wrapper(self, *a, **k):  # type: ignore[no-untyped-def]
            t0 = time.perf_counter()
            inner(self, *a, **k)
            key = f"{method} {self.rows}x{self.cols}" + (" +second block" if k.get("also") else "")
            spent[key] += time.perf_counter() - t0
            calls[key] += 1
        return wrapper

    def step() -> None:
        loss = torch.nn.functional.mse_loss(model(x), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    saved = {m: getattr(native.NativeCSR, m) for m in ("mm", "mm_t_sddmm", "sddmm")}
    for m in saved:
        setattr(native.NativeCSR, m, timed(m))
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    total = (time.perf_counter() - t0) / steps
    for m, f in saved.items():
        setattr(native.NativeCSR, m, f)
    print(f"# Compiled kernels in the sparse step ({steps} steps, threads {args.threads}): ms per step "
          f"(the step: {total * 1e3:.1f} ms with the timing wrappers)")
    for key in sorted(spent, key=spent.get, reverse=True):  # type: ignore[arg-type]
        print(f"{key:<40}{spent[key] / steps * 1e3:>8.1f} ms  ({calls[key] // steps} calls)")
    with profile(record_shapes=True) as prof:
        for _ in range(steps):
            step()
    print(f"\n# Profile of the sparse step ({steps} steps, threads {args.threads}); divide the times by {steps} for one step")
    print(prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=16,
                                                             max_shapes_column_width=60))


def kernel_calls(args: argparse.Namespace, rounds: int = 15, calls: int = 10) -> None:
    """Single kernel calls for part 1's W_hh (dh x dh at the density, batch columns): PyTorch's CSR operators
    against the compiled kernels, interleaved call by call in this process (median ms per call)."""
    from balancedrnn.kernels import native
    from balancedrnn.kernels.dispatch import CSRPattern
    from balancedrnn.core.masks import draw_mask_indices

    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    idx = draw_mask_indices(args.dh, args.dh, args.density, gen)
    p = CSRPattern.from_index(args.dh, args.dh, idx)
    vals = torch.randn(idx.numel(), generator=gen)
    w, w_t, grad = p.matrix(vals), p.matrix_t(vals), p.matrix(torch.zeros(idx.numel()))
    nat = native.NativeCSR(args.dh, args.dh, p.crow, p.col, p.crow_t, p.col_t, p.perm_t, vals)
    h, a = torch.randn(args.dh, args.batch, generator=gen), torch.randn(args.dh, args.batch, generator=gen)
    out, grad_t = torch.empty(args.dh, args.batch), torch.zeros(idx.numel())
    variants = {
        ("W @ h", "torch"): lambda: torch.addmm(out, w, h, beta=0.0, out=out),
        ("W @ h", "compiled"): lambda: nat.mm(h, out),
        ("W.T @ a and the weight gradient", "torch"): lambda: (
            torch.addmm(out, w_t, a, beta=0.0, out=out), torch.sparse.sampled_addmm(grad, a, h.t(), out=grad)),
        ("W.T @ a and the weight gradient", "compiled"): lambda: nat.mm_t_sddmm(a, h, grad_t, out),
    }
    times: dict[tuple[str, str], list[float]] = {k: [] for k in variants}
    for f in variants.values():
        f()
    for _ in range(rounds):
        for k, f in variants.items():
            t0 = time.perf_counter()
            for _ in range(calls):
                f()
            times[k].append((time.perf_counter() - t0) / calls * 1e3)
    print(f"# One call at dh {args.dh}, density {args.density}, batch {args.batch}, threads {args.threads} "
          f"(median of {rounds} x {calls} calls, variants interleaved)")
    print(f"{'operation':<34}{'torch ms':>10}{'compiled ms':>13}{'ratio':>8}")
    for op in ("W @ h", "W.T @ a and the weight gradient"):
        t, c = statistics.median(times[(op, "torch")]), statistics.median(times[(op, "compiled")])
        print(f"{op:<34}{t:>10.3f}{c:>13.3f}{t / c:>8.2f}")


def one_variant(kernel: str, args: argparse.Namespace) -> dict[str, float]:
    """Time training steps of the full model with one kernel choice (run in a child process)."""
    model, opt, x, target = step_setup(kernel, args)
    times = []
    base = peak = 0.0
    for i in range(args.repeats + 1):
        if i == 1:  # after the warm-up step (optimiser state exists): measure the step itself
            base = rss_mb()
            reset_peak()
        t0 = time.perf_counter()
        loss = torch.nn.functional.mse_loss(model(x), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t0)
    peak = peak_mb()
    return {"seconds": statistics.median(times), "peak_rss_mb": peak, "step_mb": peak - base,
            "loss": float(loss), "kernels": model.kernels(), "backend": sparse_backend()}  # type: ignore[dict-item]


def block_step_time(dh: int, density: float, kernel: str, batch: int, steps: int, repeats: int) -> float:
    """Median seconds of forward + backward + Adam of a block RNN whose only large block is W_hh (dh x dh at
    ``density``, on the given kernel); the other blocks are 1-wide, so the time is the recurrent block's."""
    spec = BlockSpec(1, dh, 1, {"hx": 1.0, "hh": density, "hy": 0.0, "yx": 0.0, "yh": 1.0, "yy": 0.0})
    model = BlockRNN(spec, seed=0, kernel={"hh": kernel})  # type: ignore[dict-item]
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.randn(batch, steps, 1, generator=torch.Generator().manual_seed(0))
    times = []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        loss = model(x).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def crossover(args: argparse.Namespace) -> list[dict[str, object]]:
    torch.set_num_threads(args.threads)
    rows = []
    grid = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.85]
    for dh in args.cross_dh:
        t_dense = block_step_time(dh, 0.5, "dense", args.batch, args.cross_steps, args.cross_repeats)
        found = None
        prev = None
        bound = ""  # "<=": sparse no faster even at the sparsest density timed; ">": faster at every density timed
        counts: set[int] = set()
        for nominal in grid:
            # the block's own density: at a small dh the grid's densities round to no entry (a block that is not
            # there would be timed under a density it does not have) or to a count an earlier point already timed
            nnz = exact_count(nominal, dh, dh)
            if nnz == 0 or nnz in counts:
                continue
            counts.add(nnz)
            p = nnz / (dh * dh)
            t_sparse = block_step_time(dh, p, "sparse", args.batch, args.cross_steps, args.cross_repeats)
            auto = choose_kernel(dh, dh, nnz)
            t_auto = t_sparse if auto == "sparse" else t_dense
            rows.append({"dh": dh, "density": p, "dense_ms": t_dense * 1e3, "sparse_ms": t_sparse * 1e3,
                         "auto": auto, "auto_vs_dense": t_auto / t_dense})
            if found is None and t_sparse >= t_dense:
                if prev is None:
                    found, bound = p, "<= "
                else:  # interpolate the ratio crossing 1 in log density
                    (p0, r0), r1 = prev, t_sparse / t_dense
                    f = (0 - math.log(r0)) / (math.log(r1) - math.log(r0)) if r1 != r0 else 0.0
                    found = math.exp(math.log(p0) + f * (math.log(p) - math.log(p0)))
            prev = (p, t_sparse / t_dense)
            if found is not None and p >= 0.3 and t_sparse > 1.5 * t_dense:
                break
        if found is None:  # the crossover lies above the densest block timed, not at 1.0
            found, bound = (prev[0], "> ") if prev is not None else (1.0, "")
        rows.append({"dh": dh, "crossover": found, "bound": bound, "model_crossover": crossover_density(dh * dh)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=positive, nargs="+", default=[2],
                        help="torch threads; several values run part 1 once per value (part 2 uses the first)")
    parser.add_argument("--dh", type=positive, default=4096)
    parser.add_argument("--density", type=density, default=0.01)
    parser.add_argument("--batch", type=positive, default=64)
    parser.add_argument("--steps", type=positive, default=50)
    parser.add_argument("--repeats", type=positive, default=7, help="timed steps per variant and round (median)")
    parser.add_argument("--rounds", type=positive, default=3, help="rounds of part 1 (each runs every variant once)")
    parser.add_argument("--cross-dh", type=positive, nargs="+", default=[512, 2048, 4096])
    parser.add_argument("--cross-steps", type=positive, default=10)
    parser.add_argument("--cross-repeats", type=positive, default=3)
    parser.add_argument("--skip-crossover", action="store_true")
    parser.add_argument("--skip-step", action="store_true", help="run part 2 only")
    parser.add_argument("--profile", action="store_true", help="profile part 1's sparse step by operator and exit")
    parser.add_argument("--calls", action="store_true", help="time single W_hh kernel calls, torch vs compiled, and exit")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parse_args(parser)
    if not args.skip_step or args.calls or args.profile:  # part 2 sweeps its own densities and sizes
        check_entries(parser, args.dh, args.density)
    threads = args.threads
    if args.calls:
        args.threads = threads[0]
        kernel_calls(args)
        return
    if args.profile:
        args.threads = threads[0]
        profile_sparse_step(args)
        return
    if args.one:
        args.threads = threads[0]
        print(json.dumps(one_variant(args.one, args)))
        return
    if not args.skip_step:
        for n in threads:
            args.threads = n
            part1(args)
    if args.skip_crossover:
        return
    args.threads = threads[0]
    part2(args)


VARIANTS = (("masked-dense", "dense", "1"), ("sparse, torch", "auto", "0"), ("sparse, native", "auto", "1"))
"""Part 1's variants: name, kernel choice, BALANCEDRNN_NATIVE in the child process."""


def part1(args: argparse.Namespace) -> None:
    import os

    print(f"# Part 1: training step, dx 46, dy 26, dh {args.dh}, W_hh density {args.density}, batch {args.batch}, "
          f"T {args.steps}, threads {args.threads}, {args.rounds} rounds")
    rounds: list[dict[str, dict]] = []
    for _ in range(args.rounds):
        results = {}
        for name, kernel, native in VARIANTS:
            cmd = [sys.executable, __file__, "--one", kernel, "--threads", str(args.threads), "--dh", str(args.dh),
                   "--density", str(args.density), "--batch", str(args.batch), "--steps", str(args.steps),
                   "--repeats", str(args.repeats)]
            env = {**os.environ, "BALANCEDRNN_NATIVE": native}
            out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout.strip().splitlines()[-1]
            results[name] = json.loads(out)
        rounds.append(results)
    print(f"{'variant':<16}{'s/step (each round)':>28}{'peak RSS MB':>13}{'step peak MB':>14}  kernels")
    for name, _, _ in VARIANTS:
        r = rounds[-1][name]
        times = ", ".join(f"{rd[name]['seconds']:.3f}" for rd in rounds)
        ks = ",".join(f"{k}:{v[0]}" for k, v in r["kernels"].items())
        print(f"{name:<16}{times:>28}{r['peak_rss_mb']:>13.0f}{r['step_mb']:>14.0f}  {ks} ({r['backend']})")
    print("(peak RSS: the process's peak during the timed steps; step peak: that peak above the memory held "
          "before the step, i.e. what the forward/backward/Adam step itself allocates)")
    dense = [rd["masked-dense"]["seconds"] for rd in rounds]
    for name in ("sparse, torch", "sparse, native"):
        ratios = [d / rd[name]["seconds"] for d, rd in zip(dense, rounds)]
        print(f"speed-up of {name} over masked-dense: {statistics.median(ratios):.1f}x median "
              f"({', '.join(f'{x:.1f}' for x in ratios)}; target >= 20x)")
    losses = {name: rounds[-1][name]["loss"] for name, _, _ in VARIANTS}
    print("losses: " + ", ".join(f"{k} {v:.6f}" for k, v in losses.items()))


def part2(args: argparse.Namespace) -> None:
    print(f"\n# Part 2: the recurrent block W_hh alone, {args.cross_steps} steps, batch {args.batch}, threads {args.threads}, "
          f"sparse backend {sparse_backend()}")
    print(f"{'dh':>6}{'density':>9}{'dense ms':>10}{'sparse ms':>11}{'auto':>8}{'auto/dense':>12}")
    for row in crossover(args):
        if "crossover" in row:
            print(f"{row['dh']:>6}  measured crossover density {row['bound']}{row['crossover']:.3f} "
                  f"(library's rule: {row['model_crossover']:.3f})")
        else:
            print(f"{row['dh']:>6}{row['density']:>9.3f}{row['dense_ms']:>10.2f}{row['sparse_ms']:>11.2f}{row['auto']:>8}{row['auto_vs_dense']:>12.2f}")


if __name__ == "__main__":
    main()
