/* CSR kernels for the masked blocks of balancedrnn, in float and double, parallel over rows with OpenMP.
 *
 * Every dense operand is row-major with a leading dimension (its row stride, in elements) and n columns (the
 * batch). Three kernels cover a block's work in a recurrence:
 *
 *   spmm          out = acc + W @ x                      (the forward product; acc may be NULL, alias out, or
 *                                                        be one column broadcast over the batch: a bias)
 *   spmm_t_sddmm  out = acc + W.T @ g   and   grad += (g @ inp.T) at W's non-zeros
 *                                                        (the backward product and the weight gradient in one
 *                                                        pass over W.T's rows, each row of g loaded once)
 *   sddmm         grad += (g @ inp.T) at W's non-zeros   (the weight gradient alone, along W's rows)
 *
 * Each output element is computed by one thread in a fixed order, so the results do not depend on the number
 * of threads. Built and loaded by native.py (compiled once per machine into the cache).
 */
#ifndef REAL
#include <stdint.h>

#define NV 4 /* vectors of the batch processed together per row: a tile of 4 x 64 bytes, held in registers */
#define MIN_PARALLEL_WORK 32768 /* multiply-adds below which one thread is faster than waking the others */

/* Version of the functions' signatures; native.py checks it (ABI there). */
int brnn_abi(void) { return 3; }

static int threads_for(int64_t work, int nthreads) { return work < MIN_PARALLEL_WORK || nthreads < 1 ? 1 : nthreads; }

#define INLINE static inline __attribute__((always_inline))

/* Calls CALL(k, rem) with the compile-time constant k = nv (0..NV), so every tile width gets its own unrolled
   code with its accumulators in registers; a full tile (k = NV) has no remainder columns. */
#define DISPATCH_NV(nv, rem, CALL)                                                                            \
    switch (nv) {                                                                                             \
    case 4: CALL(4, 0); break;                                                                                \
    case 3: CALL(3, rem); break;                                                                              \
    case 2: CALL(2, rem); break;                                                                              \
    case 1: CALL(1, rem); break;                                                                              \
    default: CALL(0, rem); break;                                                                             \
    }

/* Sum of a 64-byte vector's lanes, pairwise in a fixed order (halves added until one lane is left). */
typedef float vf16 __attribute__((vector_size(64)));
typedef float vf8 __attribute__((vector_size(32)));
typedef float vf4 __attribute__((vector_size(16)));
typedef double vd8 __attribute__((vector_size(64)));
typedef double vd4 __attribute__((vector_size(32)));
typedef double vd2 __attribute__((vector_size(16)));

static inline float hsum_f32(vf16 s) {
    vf8 a = __builtin_shufflevector(s, s, 0, 1, 2, 3, 4, 5, 6, 7) +
            __builtin_shufflevector(s, s, 8, 9, 10, 11, 12, 13, 14, 15);
    vf4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
    return (b[0] + b[2]) + (b[1] + b[3]);
}

/* The lane sums of four vectors at once (fewer shuffles than four hsum calls), pairwise in a fixed order. */
static inline void hsum4_f32(vf16 a, vf16 b, vf16 c, vf16 d, float out[4]) {
    vf16 ab = __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
              __builtin_shufflevector(a, b, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    vf16 cd = __builtin_shufflevector(c, d, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
              __builtin_shufflevector(c, d, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    vf16 s = __builtin_shufflevector(ab, cd, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) +
             __builtin_shufflevector(ab, cd, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
    s += __builtin_shufflevector(s, s, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
    s += __builtin_shufflevector(s, s, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
    out[0] = s[0], out[1] = s[4], out[2] = s[8], out[3] = s[12];
}

static inline void hsum4_f64(vd8 a, vd8 b, vd8 c, vd8 d, double out[4]) {
    vd8 ab = __builtin_shufflevector(a, b, 0, 1, 2, 3, 8, 9, 10, 11) + __builtin_shufflevector(a, b, 4, 5, 6, 7, 12, 13, 14, 15);
    vd8 cd = __builtin_shufflevector(c, d, 0, 1, 2, 3, 8, 9, 10, 11) + __builtin_shufflevector(c, d, 4, 5, 6, 7, 12, 13, 14, 15);
    vd8 s = __builtin_shufflevector(ab, cd, 0, 1, 4, 5, 8, 9, 12, 13) + __builtin_shufflevector(ab, cd, 2, 3, 6, 7, 10, 11, 14, 15);
    s += __builtin_shufflevector(s, s, 1, 0, 3, 2, 5, 4, 7, 6);
    out[0] = s[0], out[1] = s[2], out[2] = s[4], out[3] = s[6];
}

static inline double hsum_f64(vd8 s) {
    vd4 a = __builtin_shufflevector(s, s, 0, 1, 2, 3) + __builtin_shufflevector(s, s, 4, 5, 6, 7);
    vd2 b = __builtin_shufflevector(a, a, 0, 1) + __builtin_shufflevector(a, a, 2, 3);
    return b[0] + b[1];
}

#define REAL float
#define IREAL int32_t
#define LANES 16
#define NAME(f) f##_f32
#include "sparse.c"
#undef REAL
#undef IREAL
#undef LANES
#undef NAME
#define REAL double
#define IREAL int64_t
#define LANES 8
#define NAME(f) f##_f64
#include "sparse.c"

#else /* the kernels, once per REAL */

/* A 64-byte vector of REAL (GCC/Clang vector extension: AVX-512, two AVX registers or four SSE/NEON ones),
   readable at any address of a REAL. */
typedef REAL NAME(vec) __attribute__((vector_size(64), aligned(sizeof(REAL)), may_alias));
typedef IREAL NAME(ivec) __attribute__((vector_size(64)));
#define VEC NAME(vec)
#define IVEC NAME(ivec)
#define TILE (NV * LANES)

/* Start of a row tile's accumulators: acc's row (or its one value, if bcast), or zero. */
INLINE void NAME(load_acc)(VEC *t, REAL *r, const REAL *acc, int bcast, int nv, int rem) {
    const VEC zero = {0};
    for (int v = 0; v < nv; v++) {
        if (!acc) t[v] = zero;
        else if (bcast) t[v] = zero + acc[0];
        else t[v] = *(const VEC *)(acc + v * LANES);
    }
    for (int q = 0; q < rem; q++) r[q] = !acc ? 0 : bcast ? acc[0] : acc[nv * LANES + q];
}

/* One row tile of out = acc + W @ x: nv vectors and rem more columns, starting at column c0 of row i. */
INLINE void NAME(spmm_tile)(const int32_t *restrict crow, const int32_t *restrict col, const REAL *restrict val,
                            const REAL *restrict x, int64_t ldx, const REAL *acc, int bcast, REAL *out, int64_t i,
                            int64_t c0, const int nv, const int rem) {
    VEC t[NV], u[NV];
    REAL r[LANES], ru[LANES];
    NAME(load_acc)(t, r, acc, bcast, nv, rem);
    for (int v = 0; v < nv; v++) u[v] = (VEC){0};
    for (int q = 0; q < rem; q++) ru[q] = 0;
    const int32_t end = crow[i + 1];
    int32_t k = crow[i];
    if (nv <= 2) /* narrow tiles: too few accumulators to hide the multiply-add latency, so use two sets */
        for (; k + 1 < end; k += 2) {
            const REAL s0 = val[k], s1 = val[k + 1];
            const REAL *x0 = x + (int64_t)col[k] * ldx + c0, *x1 = x + (int64_t)col[k + 1] * ldx + c0;
            for (int v = 0; v < nv; v++) {
                t[v] += s0 * *(const VEC *)(x0 + v * LANES);
                u[v] += s1 * *(const VEC *)(x1 + v * LANES);
            }
            for (int q = 0; q < rem; q++) {
                r[q] += s0 * x0[nv * LANES + q];
                ru[q] += s1 * x1[nv * LANES + q];
            }
        }
    for (; k < end; k++) {
        const REAL s0 = val[k];
        const REAL *x0 = x + (int64_t)col[k] * ldx + c0;
        for (int v = 0; v < nv; v++) t[v] += s0 * *(const VEC *)(x0 + v * LANES);
        for (int q = 0; q < rem; q++) r[q] += s0 * x0[nv * LANES + q];
    }
    for (int v = 0; v < nv; v++) *(VEC *)(out + v * LANES) = t[v] + u[v];
    for (int q = 0; q < rem; q++) out[nv * LANES + q] = r[q] + ru[q];
}

void NAME(brnn_spmm)(int64_t rows, int64_t n, const int32_t *crow, const int32_t *col, const REAL *val,
                     const REAL *x, int64_t ldx, const REAL *acc, int64_t ldacc, int bcast, REAL *out,
                     int64_t ldo, int nthreads) {
    int nt = threads_for((int64_t)crow[rows] * n, nthreads);
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t i = 0; i < rows; i++) {
        for (int64_t c0 = 0; c0 < n; c0 += TILE) {
            const int64_t w = n - c0 < TILE ? n - c0 : TILE;
            const int nv = (int)(w / LANES), rem = (int)(w % LANES);
            const REAL *a = acc ? acc + i * ldacc + (bcast ? 0 : c0) : 0;
            REAL *o = out + i * ldo + c0;
#define SPMM_CALL(K, R) NAME(spmm_tile)(crow, col, val, x, ldx, a, bcast, o, i, c0, K, R)
            DISPATCH_NV(nv, rem, SPMM_CALL)
#undef SPMM_CALL
        }
    }
}

/* One row tile of the weight gradient alone, row by row of W: grad[k] += g[i] . inp[col[k]] over the tile. */
INLINE void NAME(sddmm_tile)(const int32_t *restrict crow, const int32_t *restrict col, const REAL *restrict g,
                             const REAL *restrict inp, int64_t ldi, REAL *restrict grad, int64_t i, int64_t c0,
                             const int nv, const int rem) {
    VEC a[NV] = {{0}};
    for (int v = 0; v < nv; v++) a[v] = *(const VEC *)(g + v * LANES);
    const int32_t end = crow[i + 1];
    int32_t k = crow[i];
#define SDDMM_NONZERO(m)                                                                                      \
    do {                                                                                                      \
        const REAL *xr = inp + (int64_t)col[k + m] * ldi + c0;                                                \
        d[m] = (VEC){0};                                                                                      \
        for (int v = 0; v < nv; v++) d[m] += a[v] * *(const VEC *)(xr + v * LANES);                         \
        for (int q = 0; q < rem; q++) e[m] += g[nv * LANES + q] * xr[nv * LANES + q];                         \
    } while (0)
    for (; k + 4 <= end; k += 4) {
        VEC d[4];
        REAL e[4] = {0}, sums[4];
        SDDMM_NONZERO(0);
        SDDMM_NONZERO(1);
        SDDMM_NONZERO(2);
        SDDMM_NONZERO(3);
        NAME(hsum4)(d[0], d[1], d[2], d[3], sums);
        for (int m = 0; m < 4; m++) grad[k + m] += sums[m] + e[m];
    }
    for (; k < end; k++) {
        VEC d[1];
        REAL e[1] = {0};
        SDDMM_NONZERO(0);
        grad[k] += NAME(hsum)(d[0]) + e[0];
    }
#undef SDDMM_NONZERO
}

/* grad (W's row-major order) += (g @ inp.T) at W's non-zeros; g is (rows x n), inp is (cols x n). For a block
   whose transposed product is not needed: each row of g is loaded once, and wide blocks (few rows, many
   columns) are walked along their long rows. */
void NAME(brnn_sddmm)(int64_t rows, int64_t n, const int32_t *crow, const int32_t *col, const REAL *g, int64_t ldg,
                      const REAL *inp, int64_t ldi, REAL *grad, int nthreads) {
    int nt = threads_for((int64_t)crow[rows] * n, nthreads);
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t i = 0; i < rows; i++) {
        for (int64_t c0 = 0; c0 < n; c0 += TILE) {
            const int64_t w = n - c0 < TILE ? n - c0 : TILE;
            const int nv = (int)(w / LANES), rem = (int)(w % LANES);
            const REAL *gi = g + i * ldg + c0;
#define SDDMM_CALL(K, R) NAME(sddmm_tile)(crow, col, gi, inp, ldi, grad, i, c0, K, R)
            DISPATCH_NV(nv, rem, SDDMM_CALL)
#undef SDDMM_CALL
        }
    }
}

/* One block's share of a transposed product: W.T in CSR (row j lists the rows i = col_t[k] of W with a
   non-zero in column j, valued val_t[k]), the gradient g of W's output (rows x n, row stride ldg), and the
   weight gradient grad_t (in the transposed order; NULL: not wanted). */
typedef struct {
    const int32_t *crow_t, *col_t;
    const REAL *val_t, *g;
    int64_t ldg;
    REAL *grad_t;
} NAME(tblock);

/* Row j's non-zeros of one block, for one tile: product terms into t/u (r/ru), dot products with the input row
   h (in) into grad_t. Four non-zeros go together: their dot products are reduced at once. */
INLINE void NAME(tblock_row)(const NAME(tblock) b, const VEC *h, const REAL *restrict in, int has_out, VEC *t,
                             VEC *u, REAL *r, REAL *ru, int64_t j, int64_t c0, const int nv, const int rem) {
    const int32_t *restrict col_t = b.col_t;
    const REAL *restrict val_t = b.val_t, *restrict g = b.g;
    REAL *restrict grad_t = b.grad_t;
    const int64_t ldg = b.ldg;
    const int32_t end = b.crow_t[j + 1];
    int32_t k = b.crow_t[j];
/* one non-zero m of the group: its product term into the accumulators T/R, its dot product into d[m]/e[m] */
#define FUSED_NONZERO(m, T, R)                                                                                \
    do {                                                                                                      \
        const REAL *gr = g + (int64_t)col_t[k + m] * ldg + c0;                                                \
        const REAL s = has_out ? val_t[k + m] : 0;                                                            \
        d[m] = (VEC){0};                                                                                      \
        for (int v = 0; v < nv; v++) {                                                                        \
            const VEC gv = *(const VEC *)(gr + v * LANES);                                                    \
            if (has_out) T[v] += s * gv;                                                                      \
            if (grad_t) d[m] += gv * h[v];                                                                    \
        }                                                                                                     \
        for (int q = 0; q < rem; q++) {                                                                       \
            if (has_out) R[q] += s * gr[nv * LANES + q];                                                      \
            if (grad_t) e[m] += gr[nv * LANES + q] * in[nv * LANES + q];                                      \
        }                                                                                                     \
    } while (0)
    for (; k + 4 <= end; k += 4) {
        VEC d[4];
        REAL e[4] = {0};
        if (nv <= 2) { /* narrow tiles: alternate two sets of accumulators (see spmm_tile) */
            FUSED_NONZERO(0, t, r);
            FUSED_NONZERO(1, u, ru);
            FUSED_NONZERO(2, t, r);
            FUSED_NONZERO(3, u, ru);
        } else {
            FUSED_NONZERO(0, t, r);
            FUSED_NONZERO(1, t, r);
            FUSED_NONZERO(2, t, r);
            FUSED_NONZERO(3, t, r);
        }
        if (grad_t) {
            REAL sums[4];
            NAME(hsum4)(d[0], d[1], d[2], d[3], sums);
            for (int m = 0; m < 4; m++) grad_t[k + m] += sums[m] + e[m];
        }
    }
    for (; k < end; k++) {
        VEC d[1];
        REAL e[1] = {0};
        FUSED_NONZERO(0, t, r);
        if (grad_t) grad_t[k] += NAME(hsum)(d[0]) + e[0];
    }
#undef FUSED_NONZERO
}

/* One row tile of out = epilogue(acc + W1.T @ g1 + W2.T @ g2) with the weight gradients (see brnn_spmm_t_sddmm).
   Returns the tile's sum of the (masked) output, for rowsum. */
INLINE REAL NAME(spmm_t_sddmm_tile)(const NAME(tblock) b1, const NAME(tblock) b2, int two, const REAL *restrict in,
                                    const REAL *acc, int bcast, const REAL *mask, REAL *out, int64_t j, int64_t c0,
                                    const int nv, const int rem) {
    VEC t[NV] = {{0}}, u[NV] = {{0}}, h[NV] = {{0}};
    REAL r[LANES] = {0}, ru[LANES] = {0};
    const int has_out = out != 0;
    if (has_out) {
        NAME(load_acc)(t, r, acc, bcast, nv, rem);
        for (int v = 0; v < nv; v++) u[v] = (VEC){0};
        for (int q = 0; q < rem; q++) ru[q] = 0;
    }
    if (b1.grad_t || (two && b2.grad_t))
        for (int v = 0; v < nv; v++) h[v] = *(const VEC *)(in + v * LANES);
    for (int bi = 0; bi < 1 + two; bi++) /* one copy of the code for both blocks: it compiles much faster */
        NAME(tblock_row)(bi ? b2 : b1, h, in, has_out, t, u, r, ru, j, c0, nv, rem);
    if (!has_out) return 0;
    REAL total = 0;
    for (int v = 0; v < nv; v++) {
        VEC o = t[v] + u[v];
        if (mask) /* the ReLU's derivative: keep where the mask row is positive (a NaN gradient elsewhere too) */
            o = (VEC)((IVEC)o & (IVEC)(*(const VEC *)(mask + v * LANES) > (VEC){0}));
        total += NAME(hsum)(o);
        *(VEC *)(out + v * LANES) = o;
    }
    for (int q = 0; q < rem; q++) {
        REAL o = r[q] + ru[q];
        if (mask && !(mask[nv * LANES + q] > 0)) o = 0;
        total += o;
        out[nv * LANES + q] = o;
    }
    return total;
}

/* out (optional) = epilogue(acc + W1.T @ g1 [+ W2.T @ g2]) and, per block, grad_t += g[i] . inp[j] at its
   non-zeros (in its transposed order; NULL: not wanted). The blocks share their columns (their input, inp) and
   so W.T's rows; out, inp, acc and mask are (cols x n). The epilogue, for a ReLU row: zero where mask <= 0 (the
   derivative of relu at the states mask), then rowsum[j] += the row's sum (a bias gradient); either optional. */
void NAME(brnn_spmm_t_sddmm)(int64_t cols, int64_t n,
                             const int32_t *crow_t, const int32_t *col_t, const REAL *val_t, const REAL *g,
                             int64_t ldg, REAL *grad_t,
                             const int32_t *crow_t2, const int32_t *col_t2, const REAL *val_t2, const REAL *g2,
                             int64_t ldg2, REAL *grad_t2,
                             const REAL *inp, int64_t ldi, const REAL *acc, int64_t ldacc, int bcast,
                             const REAL *mask, int64_t ldm, REAL *rowsum, REAL *out, int64_t ldo, int nthreads) {
    const int two = crow_t2 != 0;
    const NAME(tblock) b1 = {crow_t, col_t, val_t, g, ldg, grad_t};
    const NAME(tblock) b2 = {crow_t2, col_t2, val_t2, g2, ldg2, grad_t2};
    int64_t nnz = crow_t[cols] + (two ? crow_t2[cols] : 0);
    int nt = threads_for(nnz * n * ((out != 0) + (grad_t != 0)), nthreads);
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t j = 0; j < cols; j++) {
        REAL total = 0;
        for (int64_t c0 = 0; c0 < n; c0 += TILE) {
            const int64_t w = n - c0 < TILE ? n - c0 : TILE;
            const int nv = (int)(w / LANES), rem = (int)(w % LANES);
            const REAL *in = inp ? inp + j * ldi + c0 : 0;
            const REAL *a = (out && acc) ? acc + j * ldacc + (bcast ? 0 : c0) : 0;
            const REAL *m = (out && mask) ? mask + j * ldm + c0 : 0;
            REAL *o = out ? out + j * ldo + c0 : 0;
#define FUSED_CALL(K, R) total += NAME(spmm_t_sddmm_tile)(b1, b2, two, in, a, bcast, m, o, j, c0, K, R)
            DISPATCH_NV(nv, rem, FUSED_CALL)
#undef FUSED_CALL
        }
        if (out && rowsum) rowsum[j] += total;
    }
}

#undef VEC
#undef IVEC
#undef TILE
#endif
