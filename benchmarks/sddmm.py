"""Is there a faster weight gradient for a sparse block than PyTorch's ``sampled_addmm``? (issue 5)

At the shape of ``benchmarks/sparse.py`` (W_hh 4,096 x 4,096 at density 0.01, batch 64, 50 time steps) the
backward pass of a sparse block does, per time step, a sampled dense-dense product (the weight gradient at the
mask) and a CSR product with W.T (the gradient flowing to h). This times, over 50 steps, in the same run:

1. the weight gradient alone: ``torch.sparse.sampled_addmm`` (the library's kernel, the reference) against
   numba kernels: one dot product per non-zero, and four non-zeros per pass over the row of ``a``;
2. both backward products: PyTorch (CSR product with W.T plus ``sampled_addmm``) against one fused numba
   kernel that walks W.T's rows once and does both (each row of ``a`` loaded once for the two products).

numba is not a dependency of the library's core (it comes with the ``timeseries`` extra, which aeon needs;
without it only the reference is timed); every kernel's result is checked against PyTorch's before it is timed.

Run:  .venv/bin/python benchmarks/sddmm.py [--threads 2] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from _cli import check_entries, density, parse_args, positive  # a sibling module: benchmarks/ is on the path
from balancedrnn.core.spec import exact_count


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def numba_kernels() -> dict[str, Callable[..., None]]:
    from numba import njit, prange

    @njit(parallel=True, fastmath=True)
    def dot_per_nonzero(crow, col, a, h, out):  # out[k] += a[i] . h[col[k]]
        for i in prange(crow.shape[0] - 1):
            ai = a[i]
            for k in range(crow[i], crow[i + 1]):
                hj = h[col[k]]
                s = np.float32(0.0)
                for b in range(a.shape[1]):
                    s += ai[b] * hj[b]
                out[k] += s

    @njit(parallel=True, fastmath=True)
    def four_per_pass(crow, col, a, h, out):  # the same, four non-zeros per pass over a[i]
        for i in prange(crow.shape[0] - 1):
            ai = a[i]
            k, end = crow[i], crow[i + 1]
            while k + 4 <= end:
                h0, h1, h2, h3 = h[col[k]], h[col[k + 1]], h[col[k + 2]], h[col[k + 3]]
                s0 = s1 = s2 = s3 = np.float32(0.0)
                for b in range(a.shape[1]):
                    x = ai[b]
                    s0 += x * h0[b]
                    s1 += x * h1[b]
                    s2 += x * h2[b]
                    s3 += x * h3[b]
                out[k] += s0
                out[k + 1] += s1
                out[k + 2] += s2
                out[k + 3] += s3
                k += 4
            while k < end:
                hj = h[col[k]]
                s = np.float32(0.0)
                for b in range(a.shape[1]):
                    s += ai[b] * hj[b]
                out[k] += s
                k += 1

    @njit(parallel=True, fastmath=True)
    def fused(tcrow, tcol, tval, a, h, g, out):  # g = W.T @ a and out[k] += a[i] . h[j], over W.T's rows j
        for j in prange(tcrow.shape[0] - 1):
            hj, gj = h[j], g[j]
            gj[:] = 0.0
            for k in range(tcrow[j], tcrow[j + 1]):
                ai, w = a[tcol[k]], tval[k]
                s = np.float32(0.0)
                for b in range(a.shape[1]):
                    x = ai[b]
                    s += x * hj[b]
                    gj[b] += w * x
                out[k] += s

    return {"dot_per_nonzero": dot_per_nonzero, "four_per_pass": four_per_pass, "fused": fused}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dh", type=positive, default=4096)
    p.add_argument("--density", type=density, default=0.01)
    p.add_argument("--batch", type=positive, default=64)
    p.add_argument("--steps", type=positive, default=50)
    p.add_argument("--threads", type=positive, default=2)
    p.add_argument("--repeats", type=positive, default=5)
    args = parse_args(p)
    check_entries(p, args.dh, args.density)
    torch.set_num_threads(args.threads)
    dh, batch, steps = args.dh, args.batch, args.steps
    gen = torch.Generator().manual_seed(0)
    nnz = exact_count(args.density, dh, dh)  # the library's counting rule (round half up), not Python's round
    flat = torch.randperm(dh * dh, generator=gen)[:nnz].sort().values
    rows, cols = flat // dh, flat % dh
    w = torch.sparse_coo_tensor(torch.stack([rows, cols]), 0.1 * torch.randn(nnz, generator=gen), (dh, dh)).coalesce()
    w_csr, wt_csr = w.to_sparse_csr(), w.t().coalesce().to_sparse_csr()
    to_csr_order = torch.argsort(cols * dh + rows)  # position in W.T's order -> position in W's order
    a = torch.randn(steps, dh, batch, generator=gen)
    h = torch.randn(steps, dh, batch, generator=gen)
    print(f"# dh {dh}, density {args.density}, {nnz:,} non-zeros, batch {batch}, {steps} steps, threads {args.threads}")

    def torch_grad() -> torch.Tensor:
        g = torch.sparse_csr_tensor(w_csr.crow_indices(), w_csr.col_indices(), torch.zeros(nnz), (dh, dh))
        for t in range(steps):
            torch.sparse.sampled_addmm(g, a[t], h[t].t(), out=g)
        return g.values()

    def torch_both() -> tuple[torch.Tensor, torch.Tensor]:
        out = torch.empty(dh, batch)
        for t in range(steps):
            torch.addmm(out, wt_csr, a[t], beta=0.0, out=out)
        return torch_grad(), out

    ref_grad, (_, ref_g) = torch_grad(), torch_both()
    t_grad, t_both = timed(torch_grad, args.repeats), timed(torch_both, args.repeats)
    print(f"{'kernel':<34}{'ms':>9}{'ratio':>8}")
    print(f"{'torch sampled_addmm (reference)':<34}{t_grad * 1e3:>9.1f}{1.0:>8.2f}")
    try:
        import numba
    except ImportError:
        print("numba is not installed (it comes with the timeseries extra): only the reference was timed")
        return
    numba.set_num_threads(args.threads)
    k = numba_kernels()
    crow, col = w_csr.crow_indices().numpy(), w_csr.col_indices().numpy()
    an, hn = a.numpy(), h.numpy()
    for name in ("dot_per_nonzero", "four_per_pass"):
        def run(kernel: Callable[..., None] = k[name]) -> np.ndarray:
            out = np.zeros(nnz, np.float32)
            for t in range(steps):
                kernel(crow, col, an[t], hn[t], out)
            return out
        assert torch.allclose(torch.from_numpy(run()), ref_grad, rtol=1e-4, atol=1e-3), name
        s = timed(run, args.repeats)
        print(f"{'numba ' + name:<34}{s * 1e3:>9.1f}{t_grad / s:>8.2f}")
    print(f"{'torch CSR W.T product + sampled':<34}{t_both * 1e3:>9.1f}{1.0:>8.2f}")
    tcrow, tcol, tval = wt_csr.crow_indices().numpy(), wt_csr.col_indices().numpy(), wt_csr.values().numpy()

    def fused() -> tuple[torch.Tensor, np.ndarray]:
        out, g = np.zeros(nnz, np.float32), np.empty((dh, batch), np.float32)
        for t in range(steps):
            k["fused"](tcrow, tcol, tval, an[t], hn[t], g, out)
        grad = torch.empty(nnz)
        grad[to_csr_order] = torch.from_numpy(out)
        return grad, g

    grad, g = fused()
    assert torch.allclose(grad, ref_grad, rtol=1e-4, atol=1e-3) and np.allclose(g, ref_g.numpy(), rtol=1e-4, atol=1e-4)
    s = timed(fused, args.repeats)
    print(f"{'numba fused (both products)':<34}{s * 1e3:>9.1f}{t_both / s:>8.2f}")


if __name__ == "__main__":
    main()
