/* The matmul's deep products: one precision, included by tnm_gemm_body.h (T, S, FN, tnm_buffer,
 * tnm_store_buffered and tnm_gemm_blocked are its).
 *
 * A small C over a long K (a convolution's weight gradient, 64 x 36864 @ 36864 x 288) is one tile:
 * cut into tiles for threads, every tile would pack all of A or all of B again over K, or share a
 * packed B of K x N (42 MB there, page faults on every call). Instead K is cut into TNM_DEEP_CHUNKS
 * equal chunks, each chunk's product is one task (its own tile, packed by its thread, slice by slice)
 * into its own partial C, and the partials are summed in chunk order, then the epilogue: the same
 * cut and the same order of additions on any thread count, so the result does not depend on it. */

#define TNM_DEEP_CHUNKS 8

/* Deep: C fits one tile (M <= MC, N <= NC) and each chunk has at least two k slices. */
static int FN(tnm_is_deep)(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K) {
    return M <= FN(tnm_mc) && N <= FN(tnm_nc) && K >= 2 * TNM_DEEP_CHUNKS * FN(tnm_kc);
}

typedef struct {
    ptrdiff_t M, N, K, rsa, csa, rsb, csb, kchunk;
    const T* a;
    const T* b;
    T* partial;                 /* TNM_DEEP_CHUNKS blocks of M x N, row-major */
    _Atomic int failed;
} FN(tnm_deep_job);

static void FN(tnm_deep_task)(void* arg, long t) {
    FN(tnm_deep_job)* j = (FN(tnm_deep_job)*)arg;
    ptrdiff_t p0 = t * j->kchunk, kc = j->K - p0 < j->kchunk ? j->K - p0 : j->kchunk;
    if (FN(tnm_gemm_blocked)(j->M, j->N, kc, j->a + p0 * j->csa, j->rsa, j->csa, j->b + p0 * j->rsb, j->rsb,
                             j->csb, j->partial + t * j->M * j->N, j->N, 1, NULL, 1) != 0)
        atomic_store(&j->failed, 1);
}

static _Thread_local T* FN(tnm_deep_buf);
static _Thread_local size_t FN(tnm_deep_cap);

/* C (M x N, rows ldc and columns csc apart) = A @ B through the epilogue e (or none), K deep. */
static int FN(tnm_gemm_deep)(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const T* a, ptrdiff_t rsa,
                             ptrdiff_t csa, const T* b, ptrdiff_t rsb, ptrdiff_t csb, T* c, ptrdiff_t ldc,
                             ptrdiff_t csc, const FN(tnm_epi)* e, int nthreads) {
    ptrdiff_t mn = M * N;
    T* partial = FN(tnm_buffer)(&FN(tnm_deep_buf), &FN(tnm_deep_cap), (size_t)(TNM_DEEP_CHUNKS * mn));
    if (!partial) return -1;
    FN(tnm_deep_job) j = {M, N, K, rsa, csa, rsb, csb, (K + TNM_DEEP_CHUNKS - 1) / TNM_DEEP_CHUNKS, a, b,
                          partial, 0};
    tnm_parallel(FN(tnm_deep_task), &j, TNM_DEEP_CHUNKS, nthreads);
    if (atomic_load(&j.failed)) return -1;
    for (ptrdiff_t t = 1; t < TNM_DEEP_CHUNKS; t++)     /* in chunk order, whatever ran where */
        for (ptrdiff_t i = 0; i < mn; i++) partial[i] += partial[t * mn + i];
    for (ptrdiff_t i = 0; i < M; i++)   /* each row through the epilogue, as the blocked kernel stores it */
        FN(tnm_store_buffered)(partial + i * N, N, c + i * ldc, ldc, csc, 1, N, 1, e, i, 0);
    if (FN(tnm_deep_cap) * sizeof(T) > TNM_KEEP_BYTES) {
        free(FN(tnm_deep_buf));
        FN(tnm_deep_buf) = NULL;
        FN(tnm_deep_cap) = 0;
    }
    return 0;
}

#undef TNM_DEEP_CHUNKS
