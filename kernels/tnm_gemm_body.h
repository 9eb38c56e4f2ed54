/* One precision of the matmul in tnm_gemm.h; included there twice, with T = float and S = s, then
 * T = double and S = d. Every name it defines ends in _s or _d. */
#define FN(name) TNM_CAT(name, TNM_CAT(_, S))
#define VEC TNM_CAT(TNM_VEC_, S)
#define VL TNM_CAT(TNM_VL_, S)
#define MR TNM_CAT(TNM_MR_, S)
#define NV TNM_NV
#define NR (NV * VL)
#define VLOAD TNM_CAT(TNM_LOAD_, S)
#define VLOADU TNM_CAT(TNM_LOADU_, S)
#define VSTOREU TNM_CAT(TNM_STOREU_, S)
#define VBCAST TNM_CAT(TNM_BCAST_, S)
#define VFMA TNM_CAT(TNM_FMA_, S)
#define VADD TNM_CAT(TNM_ADD_, S)
#define VZERO TNM_CAT(TNM_ZERO_, S)
#define VMAX TNM_CAT(TNM_MAX_, S)

static const int FN(tnm_mr) = MR, FN(tnm_nr) = NR;
static ptrdiff_t FN(tnm_kc), FN(tnm_mc), FN(tnm_nc);   /* set by tnm_blocking_s/_d from the caches */
static ptrdiff_t FN(tnm_kc_big), FN(tnm_mc_big);       /* the k slice and row block of big products */

/* The block sizes, from the cache sizes tnm_read_caches found:
 * - KC: an A micro-panel (MR x KC) takes a quarter of L1: it stays there while the tile's B
 *   micro-panels stream past it (tnm_tile: rows outer); the rest of L1 is for them and C's rows
 *   (float64 at avx512: KC 128, not 256 as with B's panel in L1: 3-12% faster, bench/README.md);
 * - NC: the packed B block (KC x NC) takes half of L2, so the tiles re-read it from L2; but at
 *   least 512 columns: A is packed once per column group, and 192 columns (a 512 KiB L2, Zen 3)
 *   spent 8-10% of 512^3 and 1024^3 re-packing A (bench/README.md); a block past L2 streams from L3;
 * - MC: the tallest tile; its packed A (MC x KC) takes a quarter of L2;
 * - KC_BIG, MC_BIG: the same for big products (tnm_gemm_blocked: at least 4 MC rows and 2 KC deep),
 *   the A micro-panel in 1 / TNM_KC_BIG_L1_PART of L1: half at avx2, where KC 680 / MC 48 ran
 *   1024^3 6-14% and 2048^3 0-18% faster than 336 / 96 on Zen 3, but as the only blocks cut a
 *   convolution's 64 filters into two row blocks, 0-11% slower (bench/README.md); elsewhere the
 *   same as KC, MC. */
static ptrdiff_t FN(tnm_kc_for)(long l1_part) {    /* KC: the A micro-panel in 1 / l1_part of L1 */
    ptrdiff_t kc = tnm_l1_bytes / l1_part / (MR * (ptrdiff_t)sizeof(T)) / 8 * 8;
    return kc < 64 ? 64 : kc > 1024 ? 1024 : kc;
}

static ptrdiff_t FN(tnm_mc_for)(ptrdiff_t kc) {    /* MC: the packed A block in a quarter of L2 */
    ptrdiff_t mc = tnm_l2_bytes / 4 / (kc * (ptrdiff_t)sizeof(T)) / MR * MR;
    return mc < 4 * MR ? 4 * MR : mc > 2048 ? 2048 : mc;
}

static void FN(tnm_blocking)(void) {
    ptrdiff_t kc = FN(tnm_kc_for)(4);
    ptrdiff_t nc = tnm_l2_bytes / 2 / (kc * (ptrdiff_t)sizeof(T)) / NR * NR;
    FN(tnm_kc) = kc;
    FN(tnm_nc) = nc < 512 ? 512 : nc > 8192 ? 8192 : nc;
    FN(tnm_mc) = FN(tnm_mc_for)(kc);
    FN(tnm_kc_big) = FN(tnm_kc_for)(TNM_KC_BIG_L1_PART);
    FN(tnm_mc_big) = FN(tnm_mc_for)(FN(tnm_kc_big));
}

/* x[i] = act(x[i]) for i < n, in place (sigmoid, tanh: _native.pxi passes its own loop). */
typedef void (*FN(tnm_rows_fn))(T* x, ptrdiff_t n);

/* The epilogue: what storing a tile's last k slice applies, C = act(C + bias) (linear_act). */
typedef struct {
    const T* bias_col;          /* bias[j] added to column j of C, or NULL */
    const T* bias_row;          /* bias[i] added to row i (the transposed product C^T = B^T A^T), or NULL */
    int act;                    /* TNM_ACT_NONE, TNM_ACT_RELU or TNM_ACT_ROWS */
    FN(tnm_rows_fn) rows;       /* the activation, for TNM_ACT_ROWS */
} FN(tnm_epi);

/* Store a finished block, v = acc (+ C if !first), through the epilogue: v + bias, then the
 * activation; relu in the registers, sigmoid/tanh on the block in tmp (in L1) before it is
 * written. Full blocks of a row-major C only (the caller checks); i0, j0: the block's place in C. */
static inline void FN(tnm_store_epi)(VEC acc[MR][NV], const int R, T* restrict c, ptrdiff_t ldc, int first,
                                     const FN(tnm_epi)* e, ptrdiff_t i0, ptrdiff_t j0) {
    T tmp[MR * NR];
    VEC zero = VZERO(), bias[NV];
    int rows = e->act == TNM_ACT_ROWS;
    TNM_UNROLL for (int v = 0; v < NV; v++) bias[v] = e->bias_col ? VLOADU(e->bias_col + j0 + v * VL) : zero;
    TNM_UNROLL for (int i = 0; i < R; i++) {
        VEC brow = e->bias_row ? VBCAST(e->bias_row[i0 + i]) : zero;
        TNM_UNROLL for (int v = 0; v < NV; v++) {
            T* ci = c + i * ldc + v * VL;
            VEC x = first ? acc[i][v] : VADD(VLOADU(ci), acc[i][v]);
            if (e->bias_col) x = VADD(x, bias[v]);
            if (e->bias_row) x = VADD(x, brow);
            if (e->act == TNM_ACT_RELU) x = VMAX(zero, x);   /* (0 > x) ? 0 : x: NaN stays NaN */
            VSTOREU(rows ? tmp + i * NR + v * VL : ci, x);
        }
    }
    if (!rows) return;
    e->rows(tmp, R * NR);
    TNM_UNROLL for (int i = 0; i < R; i++)
        TNM_UNROLL for (int v = 0; v < NV; v++) VSTOREU(c + i * ldc + v * VL, VLOADU(tmp + i * NR + v * VL));
}

/* Store the mr x nr corner of a block held in tmp (rows ldt apart) into C (rows ldc, columns csc
 * apart): C = tmp (first) or C + tmp, then the epilogue e (or none), one element at a time. The
 * store of an edge block, a transposed C's block, and a narrow product's rows. */
static void FN(tnm_store_buffered)(T* tmp, ptrdiff_t ldt, T* restrict c, ptrdiff_t ldc, ptrdiff_t csc,
                                   ptrdiff_t mr, ptrdiff_t nr, int first, const FN(tnm_epi)* e,
                                   ptrdiff_t i0, ptrdiff_t j0) {
    if (!e) {
        for (ptrdiff_t i = 0; i < mr; i++)
            for (ptrdiff_t j = 0; j < nr; j++)
                c[i * ldc + j * csc] = first ? tmp[i * ldt + j] : c[i * ldc + j * csc] + tmp[i * ldt + j];
        return;
    }
    for (ptrdiff_t i = 0; i < mr; i++)
        for (ptrdiff_t j = 0; j < nr; j++) {
            T x = first ? tmp[i * ldt + j] : c[i * ldc + j * csc] + tmp[i * ldt + j];
            if (e->bias_col) x += e->bias_col[j0 + j];
            if (e->bias_row) x += e->bias_row[i0 + i];
            if (e->act == TNM_ACT_RELU) x = (T)0 > x ? (T)0 : x;
            tmp[i * ldt + j] = x;
        }
    if (e->act == TNM_ACT_ROWS) e->rows(tmp, (mr - 1) * ldt + nr);
    for (ptrdiff_t i = 0; i < mr; i++)
        for (ptrdiff_t j = 0; j < nr; j++) c[i * ldc + j * csc] = tmp[i * ldt + j];
}

/* The micro-kernel: C[0:mr, 0:nr] = (or +=, if !first) A micro-panel @ B micro-panel, that is
 *
 *     for p in range(kc):                       # one step of k
 *         for i in range(R):                    # R rows: a broadcast of ap[p*MR + i] ...
 *             for j in range(NR):               # ... times NR columns of bp (NV vector loads)
 *                 acc[i][j] += ap[p*MR + i] * bp[p*NR + j]
 *
 * with acc (R x NV vectors) held in registers for the whole k loop. R is MR, or a third or two
 * thirds of it for a row block at the bottom edge (tnm_micro_edge): M = 64 in MR = 12 rows is 5
 * blocks and 4 rows, not 72 rows of which 8 are padding (a convolution's 64 filters; 4 of 132
 * rows at batch 128). The packed panels are zero-padded, so the loop always computes the whole
 * R x NR block; an edge block (mr < R or nr < NR), or a C whose columns are not contiguous
 * (csc != 1: a transposed product), is stored through a buffer, and only its mr x nr corner
 * reaches C. */
static TNM_ALWAYS_INLINE void FN(tnm_micro_rows)(
        const int R, ptrdiff_t kc, const T* restrict ap, const T* restrict bp, T* restrict c, ptrdiff_t ldc,
        ptrdiff_t csc, ptrdiff_t mr, ptrdiff_t nr, int first, const FN(tnm_epi)* e, ptrdiff_t i0, ptrdiff_t j0) {
    VEC acc[MR][NV];
#if defined(__GNUC__)
    /* C's rows are far apart in memory (and a power-of-two stride maps them to the same L1 set):
     * start fetching them now, so they have arrived when the k loop ends */
    TNM_UNROLL for (int i = 0; i < R; i++) {
        __builtin_prefetch(c + i * ldc, 1, 3);
        __builtin_prefetch(c + i * ldc + NR - 1, 1, 3);
    }
#endif
    TNM_UNROLL for (int i = 0; i < R; i++)
        TNM_UNROLL for (int v = 0; v < NV; v++) acc[i][v] = VZERO();
    for (ptrdiff_t p = 0; p < kc; p++) {
        VEC b[NV];
        TNM_UNROLL for (int v = 0; v < NV; v++) b[v] = VLOAD(bp + v * VL);
        TNM_UNROLL for (int i = 0; i < R; i++) {
            VEC a = VBCAST(ap[i]);
            TNM_UNROLL for (int v = 0; v < NV; v++) acc[i][v] = VFMA(a, b[v], acc[i][v]);
        }
        ap += MR;
        bp += NR;
    }
    if (mr == R && nr == NR && csc == 1 && e) {
        FN(tnm_store_epi)(acc, R, c, ldc, first, e, i0, j0);
        return;
    }
    if (mr == R && nr == NR && csc == 1) {
        TNM_UNROLL for (int i = 0; i < R; i++)
            TNM_UNROLL for (int v = 0; v < NV; v++) {
                T* ci = c + i * ldc + v * VL;
                VSTOREU(ci, first ? acc[i][v] : VADD(VLOADU(ci), acc[i][v]));
            }
        return;
    }
    T tmp[MR * NR];
    TNM_UNROLL for (int i = 0; i < R; i++)
        TNM_UNROLL for (int v = 0; v < NV; v++) VSTOREU(tmp + i * NR + v * VL, acc[i][v]);
    FN(tnm_store_buffered)(tmp, NR, c, ldc, csc, mr, nr, first, e, i0, j0);
}

static inline void FN(tnm_micro)(ptrdiff_t kc, const T* restrict ap, const T* restrict bp, T* restrict c, ptrdiff_t ldc,
                          ptrdiff_t csc, ptrdiff_t mr, ptrdiff_t nr, int first, const FN(tnm_epi)* e, ptrdiff_t i0,
                          ptrdiff_t j0) {
    FN(tnm_micro_rows)(MR, kc, ap, bp, c, ldc, csc, mr, nr, first, e, i0, j0);
}

/* A bottom-edge row block of mr < MR rows: the kernel on a third or two thirds of MR when that
 * covers them (MR = 4, as in the SSE2 kernel: half), else the whole one. */
#define TNM_EDGE1 (MR % 3 == 0 ? MR / 3 : MR / 2)
#define TNM_EDGE2 (MR % 3 == 0 ? 2 * MR / 3 : MR / 2)
static void FN(tnm_micro_edge)(ptrdiff_t kc, const T* restrict ap, const T* restrict bp, T* restrict c,
                               ptrdiff_t ldc, ptrdiff_t csc, ptrdiff_t mr, ptrdiff_t nr, int first,
                               const FN(tnm_epi)* e, ptrdiff_t i0, ptrdiff_t j0) {
    if (mr <= TNM_EDGE1)
        FN(tnm_micro_rows)(TNM_EDGE1, kc, ap, bp, c, ldc, csc, mr, nr, first, e, i0, j0);
    else if (mr <= TNM_EDGE2)
        FN(tnm_micro_rows)(TNM_EDGE2, kc, ap, bp, c, ldc, csc, mr, nr, first, e, i0, j0);
    else
        FN(tnm_micro)(kc, ap, bp, c, ldc, csc, mr, nr, first, e, i0, j0);
}
#undef TNM_EDGE1
#undef TNM_EDGE2

/* packing A and B into panels (tnm_transpose, tnm_pack_b, tnm_pack_a) */
#include "tnm_pack_body.h"

/* A buffer of at least `count` elements, kept per thread between calls (packing buffers of a few
 * hundred KiB: a fresh malloc of that size is an mmap and page faults on every call). Each OpenMP
 * thread and each calling thread has its own, so concurrent calls never share one. */
static T* FN(tnm_buffer)(T** slot, size_t* cap, size_t count) {
    if (*cap < count) {
        free(*slot);
        *slot = NULL;
        *cap = 0;
        size_t bytes = (count * sizeof(T) + TNM_ALIGN - 1) / TNM_ALIGN * TNM_ALIGN;
        void* p = NULL;
        if (posix_memalign(&p, TNM_ALIGN, bytes) != 0) return NULL;
        *slot = (T*)p;
        *cap = count;
    }
    return *slot;
}

static _Thread_local T* FN(tnm_apack);
static _Thread_local size_t FN(tnm_apack_cap);
static _Thread_local T* FN(tnm_bpack);
static _Thread_local size_t FN(tnm_bpack_cap);
static _Thread_local T* FN(tnm_bpriv);
static _Thread_local size_t FN(tnm_bpriv_cap);
static _Thread_local unsigned char* FN(tnm_flags);
static _Thread_local size_t FN(tnm_flags_cap);

/* One product, cut into tasks: task t computes a whole tile of C (a block of rows x a group of
 * columns, over all of K), so tasks never wait for each other. B is packed for all of K, panel
 * by panel, by whichever task first needs a panel (flags: 0 unpacked, 1 being packed, 2 ready). */
typedef struct {
    ptrdiff_t M, N, K, rsa, csa, rsb, csb, ldc, csc;
    const T* a;
    const T* b;
    T* c;
    ptrdiff_t kcb, nk;          /* k slices: nk of kcb (the last may be shorter) */
    ptrdiff_t mcb, nmb;         /* row blocks: nmb of mcb rows (a multiple of MR) */
    ptrdiff_t mc_max;           /* the tallest row block allowed (tnm_mc, or tnm_mc_big) */
    ptrdiff_t ncb, ngroups;     /* column groups: ngroups of ncb columns (a multiple of NR) */
    ptrdiff_t npan, npad;       /* B's NR-wide panels in all, and N padded to whole panels */
    int private_b;              /* one row block (nmb == 1): each task packs its own group's B, slice
                                 * by slice, into its thread's buffer (kcb x ncb, in L2); no shared copy */
    T* bpack;                   /* packed B: k slice at pc starts at pc * npad, its panel q at + q * kc * NR */
    _Atomic unsigned char* flags;   /* per (k slice, panel) */
    _Atomic int failed;
    const FN(tnm_epi)* epi;     /* applied as the last k slice is stored, or NULL */
} FN(tnm_job);

/* The shared packed B's k slice at pc (length kc), panels q0..q1 of it: pack those nobody has
 * claimed, then wait for the ones another thread is packing (a few microseconds each). Each task
 * starts at its own panel, so two threads starting tiles of one group pack half each. Returns
 * panel q0. */
static T* FN(tnm_shared_b)(FN(tnm_job)* j, ptrdiff_t s, ptrdiff_t pc, ptrdiff_t kc, ptrdiff_t q0,
                           ptrdiff_t q1, long t) {
    T* bk = j->bpack + pc * j->npad;
    _Atomic unsigned char* flags = j->flags + s * j->npan;
    for (ptrdiff_t i = 0; i < q1 - q0; i++) {
        ptrdiff_t q = q0 + (i + t) % (q1 - q0);
        unsigned char expect = 0;
        if (atomic_load_explicit(&flags[q], memory_order_acquire) == 0
            && atomic_compare_exchange_strong(&flags[q], &expect, 1)) {
            FN(tnm_pack_b)(j->b + pc * j->rsb, j->rsb, j->csb, kc, j->N, bk, q, q + 1);
            atomic_store_explicit(&flags[q], 2, memory_order_release);
        }
    }
    for (ptrdiff_t q = q0; q < q1; q++)
        for (long spins = 0; atomic_load_explicit(&flags[q], memory_order_acquire) != 2; spins++) {
#if TNM_POOL
            /* a panel takes microseconds; longer, its packer is off its core (the other thread on
             * the same core as this one, when another process holds the second): give it the core */
            if (spins < 256)       /* ~10 us: pause is ~40 ns on current Intel cores */
                TNM_PAUSE();
            else
                sched_yield();
#endif
        }
    return bk + q0 * kc * NR;
}

static void FN(tnm_tile)(void* arg, long t) {
    FN(tnm_job)* j = (FN(tnm_job)*)arg;
    /* tasks in column-group-major order: tasks running at the same time share B's panels */
    ptrdiff_t g = t / j->nmb, ic = (t % j->nmb) * j->mcb, jc = g * j->ncb;
    ptrdiff_t mc = j->M - ic < j->mcb ? j->M - ic : j->mcb;
    ptrdiff_t nc = j->N - jc < j->ncb ? j->N - jc : j->ncb;
    ptrdiff_t q0 = jc / NR, q1 = (jc + nc + NR - 1) / NR;
    T* apack = FN(tnm_buffer)(&FN(tnm_apack), &FN(tnm_apack_cap), (size_t)(j->mcb * j->kcb));
    T* bpriv = j->private_b ? FN(tnm_buffer)(&FN(tnm_bpriv), &FN(tnm_bpriv_cap), (size_t)(j->kcb * j->ncb)) : NULL;
    if (!apack || (j->private_b && !bpriv)) {
        atomic_store(&j->failed, 1);
        return;
    }
    for (ptrdiff_t s = 0; s < j->nk; s++) {
        ptrdiff_t pc = s * j->kcb, kc = j->K - pc < j->kcb ? j->K - pc : j->kcb;
        T* bk = bpriv;          /* this slice's panel q0; panel q at (q - q0) * kc * NR */
        if (j->private_b)       /* nobody else reads this group's B: pack its slice here */
            FN(tnm_pack_b)(j->b + pc * j->rsb + jc * j->csb, j->rsb, j->csb, kc, j->N - jc, bpriv, 0, q1 - q0);
        else
            bk = FN(tnm_shared_b)(j, s, pc, kc, q0, q1, t);
        FN(tnm_pack_a)(j->a + ic * j->rsa + pc * j->csa, j->rsa, j->csa, mc, kc, apack);
        const FN(tnm_epi)* epi = s == j->nk - 1 ? j->epi : NULL;
        /* rows outer: the A micro-panel (MR x kc) stays in L1 while the tile's B panels stream
         * past it from L2, and C is stored row by row, along its rows (the hardware prefetcher
         * follows them). B's panel outer (BLIS's order) re-read all of A from L2 per panel and
         * walked down C's columns: 5-10% slower at 1024-2048 (bench/README.md). */
        for (ptrdiff_t ir = 0; ir < mc; ir += MR)
            for (ptrdiff_t q = q0; q < q1; q++) {
                ptrdiff_t jr = q * NR, nr = j->N - jr < NR ? j->N - jr : NR;
                ptrdiff_t mr = mc - ir < MR ? mc - ir : MR;
                const T* ap = apack + ir * kc;
                const T* bp = bk + (q - q0) * kc * NR;
                T* cp = j->c + (ic + ir) * j->ldc + jr * j->csc;
                if (mr == MR)
                    FN(tnm_micro)(kc, ap, bp, cp, j->ldc, j->csc, mr, nr, s == 0, epi, ic + ir, jr);
                else
                    FN(tnm_micro_edge)(kc, ap, bp, cp, j->ldc, j->csc, mr, nr, s == 0, epi, ic + ir, jr);
            }
    }
}

/* A rough cost, in multiply-adds, of C = A @ B as the kernel runs it: the MR x NR blocks over the
 * padded M x N (a narrow C wastes most of each block), plus packing A and B, an element costing
 * (measured at AVX2, one thread, bench/README.md) ~5 multiply-adds' time for B's rows copied whole,
 * ~6 for a transposed B (4 x 4 blocks through registers, tnm_transpose), ~14 for A either way (MR
 * interleaved rows), ~20 for other strides (a scalar gather per element). */
static double FN(tnm_cost)(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, ptrdiff_t rsa, ptrdiff_t csa,
                           ptrdiff_t rsb, ptrdiff_t csb) {
    double padded = (double)((M + MR - 1) / MR * MR) * ((N + NR - 1) / NR * NR) * K;
    double pack_a = (double)M * K * (csa == 1 || rsa == 1 ? 14 : 20);
    double pack_b = (double)K * N * (csb == 1 ? 5 : rsb == 1 ? 6 : 20);
    return padded + pack_a + pack_b;
}

/* Cut C into tiles: row blocks of mcb <= MC rows (a multiple of MR) and column groups of ncb <= NC
 * columns (a multiple of NR). With threads, at least `target` tiles (2-4 per thread), so a thread
 * slowed by another process on its core just ends up with fewer; among the cuts that give that
 * many, the one that moves the least data: every tile packs its rows of A, and fetches its
 * columns of packed B over all of K into L2, so ngroups x |A| packed (a packed element counted
 * three times: read, written, and the transposing copy's extra cost over B's streaming reads)
 * plus nmb x |B| fetched - least for tiles near square (1024^3 on two threads: 4 x 2 tiles of
 * 264 x 512 rather than 8 x 1 of 132 x 1024). A group's B that stays in L2 is fetched once
 * whatever nmb (the loop streams it from L2 once per MR rows anyway), so there A is packed once:
 * the MLP step's 128x784 @ 784x256 cut 4 x 1, not 2 x 2 (whose A was packed twice: 4-10% slower,
 * bench/README.md). */
static void FN(tnm_tiles)(FN(tnm_job)* j, ptrdiff_t target) {
    ptrdiff_t M = j->M, N = j->N, K = j->K, mp = (M + MR - 1) / MR;
    ptrdiff_t best_nmb = (M + j->mc_max - 1) / j->mc_max, best_ng = (N + FN(tnm_nc) - 1) / FN(tnm_nc);
    if (target > 1) {
        double best = -1;
        ptrdiff_t nmb_max = mp < 4 * target + best_nmb ? mp : 4 * target + best_nmb;
        ptrdiff_t ng_max = j->npan < 4 * target + best_ng ? j->npan : 4 * target + best_ng;
        for (ptrdiff_t nmb = 1; nmb <= nmb_max; nmb++) {
            ptrdiff_t mcb = (mp + nmb - 1) / nmb * MR;
            if (mcb > j->mc_max || (nmb > 1 && (mp + nmb - 2) / (nmb - 1) * MR == mcb)) continue;
            for (ptrdiff_t ng = 1; ng <= ng_max; ng++) {
                ptrdiff_t ncb = (j->npan + ng - 1) / ng * NR;
                if (ncb > FN(tnm_nc) || (ng > 1 && (j->npan + ng - 2) / (ng - 1) * NR == ncb)) continue;
                ptrdiff_t tiles = ((M + mcb - 1) / mcb) * ((N + ncb - 1) / ncb);
                /* B's reads: the rows-outer loop streams a tile's packed B from L2 once per MR rows
                 * whatever the cut, so more row blocks cost only where a group's packed B (all of
                 * K) does not stay in L2 and each row block fetches it again from further out */
                double b_far = (double)K * ncb * sizeof(T) > tnm_l2_bytes / 2 ? 1.0 : 0.1;
                double reads = b_far * nmb * N + 3.0 * ng * M;
                /* too few tiles: worse than any cut with enough; then fewer reads */
                double score = (tiles < target ? 1e30 * (double)(target - tiles) : 0) + reads;
                if (best < 0 || score < best) best = score, best_nmb = nmb, best_ng = ng;
            }
        }
    }
    j->mcb = (mp + best_nmb - 1) / best_nmb * MR;
    j->nmb = (M + j->mcb - 1) / j->mcb;
    j->ncb = (j->npan + best_ng - 1) / best_ng * NR;
    j->ngroups = (N + j->ncb - 1) / j->ncb;
}

/* narrow products, at most VL columns (tnm_narrow_task, tnm_gemm_narrow) */
#include "tnm_narrow_body.h"

/* The blocked product: C (M x N, rows ldc and columns csc apart) = A @ B through the epilogue (or
 * none), cut into tiles for nthreads (tnm_tiles) and run on the pool. Returns 0, or -1 if a packing
 * buffer could not be allocated. */
static int FN(tnm_gemm_blocked)(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const T* a, ptrdiff_t rsa,
                                ptrdiff_t csa, const T* b, ptrdiff_t rsb, ptrdiff_t csb, T* c, ptrdiff_t ldc,
                                ptrdiff_t csc, const FN(tnm_epi)* epi, int nthreads) {
    FN(tnm_job) j;
    j.M = M, j.N = N, j.K = K, j.a = a, j.rsa = rsa, j.csa = csa, j.b = b, j.rsb = rsb, j.csb = csb;
    j.c = c, j.ldc = ldc, j.csc = csc, j.epi = epi;
    /* a big product (many row blocks, K several slices) takes the big blocks (tnm_blocking); then
     * k slices of equal length (784 = 4 x 196, not 3 x 256 + 16): no sliver at the end */
    int big = M >= 4 * FN(tnm_mc) && K >= 2 * FN(tnm_kc);
    ptrdiff_t kc = big ? FN(tnm_kc_big) : FN(tnm_kc);
    j.mc_max = big ? FN(tnm_mc_big) : FN(tnm_mc);
    j.nk = (K + kc - 1) / kc;
    j.kcb = (K + j.nk - 1) / j.nk;
    j.nk = (K + j.kcb - 1) / j.kcb;
    j.npan = (N + NR - 1) / NR;
    j.npad = j.npan * NR;
    /* 4 tiles per thread; 2 for a product under ~0.3 ms on one core, where a worker the OS starts
     * late leaves the caller every tile, and each tile more re-packs A (bench/README.md) */
    FN(tnm_tiles)(&j, nthreads <= 1 ? 1 : (double)M * N * K < TNM_SMALL_GEMM ? 2 * nthreads : 4 * nthreads);
    j.private_b = j.nmb == 1;
    atomic_init(&j.failed, 0);
    if (j.private_b) {      /* each task packs its own B slices (tnm_tile): no shared copy, no flags */
        j.bpack = NULL;
        j.flags = NULL;
        tnm_parallel(FN(tnm_tile), &j, (long)j.ngroups, nthreads);
        return atomic_load(&j.failed) ? -1 : 0;
    }
    j.bpack = FN(tnm_buffer)(&FN(tnm_bpack), &FN(tnm_bpack_cap), (size_t)(K * j.npad));
    size_t nflags = (size_t)(j.nk * j.npan);
    if (FN(tnm_flags_cap) < nflags) {
        free(FN(tnm_flags));
        FN(tnm_flags) = malloc(nflags);
        FN(tnm_flags_cap) = FN(tnm_flags) ? nflags : 0;
    }
    if (!j.bpack || !FN(tnm_flags)) return -1;
    memset(FN(tnm_flags), 0, nflags);
    j.flags = (_Atomic unsigned char*)FN(tnm_flags);
    tnm_parallel(FN(tnm_tile), &j, (long)(j.nmb * j.ngroups), nthreads);
    if (FN(tnm_bpack_cap) * sizeof(T) > TNM_KEEP_BYTES) {   /* a big B's copy is not kept between calls */
        free(FN(tnm_bpack));
        FN(tnm_bpack) = NULL;
        FN(tnm_bpack_cap) = 0;
    }
    return atomic_load(&j.failed) ? -1 : 0;
}

/* deep products, a small C over a long K (tnm_gemm_deep) */
#include "tnm_deep_body.h"

/* C (M x N, row stride ldc) = act(A (M x K, strides rsa, csa) @ B (K x N, strides rsb, csb) + bias),
 * all strides in elements; M, N, K > 0; bias (N elements, contiguous) may be NULL, act is one of
 * TNM_ACT_*, `rows` the activation's function for TNM_ACT_ROWS. Returns 0, or -1 if a packing
 * buffer could not be allocated (C is then incomplete). */
static int FN(tnm_gemm_epi)(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const T* a, ptrdiff_t rsa,
                            ptrdiff_t csa, const T* b, ptrdiff_t rsb, ptrdiff_t csb, T* c, ptrdiff_t ldc,
                            const T* bias, int act, FN(tnm_rows_fn) rows, int nthreads) {
    FN(tnm_epi) epi = {bias, NULL, act, rows};
    const FN(tnm_epi)* e = bias || act != TNM_ACT_NONE ? &epi : NULL;
    ptrdiff_t csc = 1;
    if ((double)M * N * K < TNM_SERIAL_GEMM) nthreads = 1;
    if (N <= VL)                /* one vector of columns: no padding to NR, A read in place */
        return FN(tnm_gemm_narrow)(M, N, K, a, rsa, csa, b, rsb, csb, c, ldc, 1, e, nthreads);
    if (M <= VL) {              /* one vector of rows: the same on C^T = B^T A^T, the bias along its rows */
        epi.bias_row = bias;
        epi.bias_col = NULL;
        return FN(tnm_gemm_narrow)(N, M, K, b, csb, rsb, a, csa, rsa, c, 1, ldc, e, nthreads);
    }
    if (FN(tnm_cost)(N, M, K, csb, rsb, csa, rsa) < 0.8 * FN(tnm_cost)(M, N, K, rsa, csa, rsb, csb)) {
        /* A narrow C (h.T @ g with 10 columns: NR = 32 would compute 3.2x the work): compute
         * C^T = B^T @ A^T instead, the same kernel with the operands' strides swapped, writing
         * C through its column stride. */
        ptrdiff_t t = M; M = N; N = t;
        const T* p = a; a = b; b = p;
        t = rsa; rsa = csb; csb = t;
        t = csa; csa = rsb; rsb = t;
        csc = ldc;
        ldc = 1;
        epi.bias_row = bias;    /* the bias follows C's columns: the computed C^T's rows */
        epi.bias_col = NULL;
    }
    if (FN(tnm_is_deep)(M, N, K))
        return FN(tnm_gemm_deep)(M, N, K, a, rsa, csa, b, rsb, csb, c, ldc, csc, e, nthreads);
    return FN(tnm_gemm_blocked)(M, N, K, a, rsa, csa, b, rsb, csb, c, ldc, csc, e, nthreads);
}

/* C = A @ B, no epilogue (the arguments as tnm_gemm_epi's). */
static int FN(tnm_gemm)(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const T* a, ptrdiff_t rsa,
                        ptrdiff_t csa, const T* b, ptrdiff_t rsb, ptrdiff_t csb, T* c, ptrdiff_t ldc,
                        int nthreads) {
    return FN(tnm_gemm_epi)(M, N, K, a, rsa, csa, b, rsb, csb, c, ldc, NULL, TNM_ACT_NONE, NULL, nthreads);
}

#undef FN
#undef VEC
#undef VL
#undef MR
#undef NV
#undef NR
#undef VLOAD
#undef VLOADU
#undef VSTOREU
#undef VBCAST
#undef VFMA
#undef VADD
#undef VZERO
#undef VMAX
