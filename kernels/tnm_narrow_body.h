/* The matmul's narrow products (at most one vector of columns): one precision, included by
 * tnm_gemm_body.h (T, S, FN, MR, VL, the vector macros, tnm_buffer and tnm_store_buffered are its). */

/* --- narrow products: at most VL columns (one vector), e.g. h @ W2 with 10 classes --------------
 * The blocked kernel would pad every row to NR = 2 vectors (3.2x the work at 10 of 32 columns)
 * and pack A to use each element once. Here B is copied once into K rows of one vector each (zero
 * past column N) and A is read in place: MR rows at a time, one accumulator vector per row, a
 * broadcast of A[i, p] times B's row p. */
typedef struct {
    ptrdiff_t M, N, K, rsa, csa, ldc, csc, rows;    /* rows: per task, a multiple of MR */
    const T* a;
    const T* bpad;              /* B, K x VL, zero past column N */
    T* c;
    const FN(tnm_epi)* epi;
    _Atomic int failed;
} FN(tnm_narrow_job);

static void FN(tnm_narrow_task)(void* arg, long t) {
    FN(tnm_narrow_job)* j = (FN(tnm_narrow_job)*)arg;
    ptrdiff_t i1 = (t + 1) * j->rows < j->M ? (t + 1) * j->rows : j->M;
    T tmp[MR * VL];
    for (ptrdiff_t i = t * j->rows; i < i1; i += MR) {
        const T* a = j->a + i * j->rsa;
        ptrdiff_t mr = i1 - i < MR ? i1 - i : MR, rsa = j->rsa, csa = j->csa;
        if (mr < MR) {          /* the last rows: copied into MR zero-padded rows, run like the others */
            T* rows = FN(tnm_buffer)(&FN(tnm_apack), &FN(tnm_apack_cap), (size_t)(MR * j->K));
            if (!rows) {
                atomic_store(&j->failed, 1);
                return;
            }
            for (ptrdiff_t p = 0; p < j->K; p++)
                for (ptrdiff_t r = 0; r < MR; r++) rows[p * MR + r] = r < mr ? a[r * rsa + p * csa] : (T)0;
            a = rows, rsa = 1, csa = MR;
        }
        VEC acc[MR];
        TNM_UNROLL for (int r = 0; r < MR; r++) acc[r] = VZERO();
        if (rsa == 1) {         /* a transposed A (h.T @ g), or the copied rows: a step's MR values adjacent */     /* a transposed A (h.T @ g): the MR values of a step adjacent */
            for (ptrdiff_t p = 0; p < j->K; p++) {
                VEC b = VLOAD(j->bpad + p * VL);
                TNM_UNROLL for (int r = 0; r < MR; r++) acc[r] = VFMA(VBCAST(a[p * csa + r]), b, acc[r]);
            }
        } else {
            for (ptrdiff_t p = 0; p < j->K; p++) {
                VEC b = VLOAD(j->bpad + p * VL);
                TNM_UNROLL for (int r = 0; r < MR; r++) acc[r] = VFMA(VBCAST(a[r * rsa + p * csa]), b, acc[r]);
            }
        }
        TNM_UNROLL for (int r = 0; r < MR; r++) VSTOREU(tmp + r * VL, acc[r]);
        FN(tnm_store_buffered)(tmp, VL, j->c + i * j->ldc, j->ldc, j->csc, mr, j->N, 1, j->epi, i, 0);
    }
}

/* C (M x N, rows ldc and columns csc apart) = A @ B through the epilogue, N <= VL. */
static int FN(tnm_gemm_narrow)(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const T* a, ptrdiff_t rsa,
                               ptrdiff_t csa, const T* b, ptrdiff_t rsb, ptrdiff_t csb, T* c, ptrdiff_t ldc,
                               ptrdiff_t csc, const FN(tnm_epi)* epi, int nthreads) {
    T* bpad = FN(tnm_buffer)(&FN(tnm_bpack), &FN(tnm_bpack_cap), (size_t)(K * VL));
    if (!bpad) return -1;
    for (ptrdiff_t p = 0; p < K; p++)
        for (ptrdiff_t q = 0; q < VL; q++) bpad[p * VL + q] = q < N ? b[p * rsb + q * csb] : (T)0;
    FN(tnm_narrow_job) j = {M, N, K, rsa, csa, ldc, csc, 0, a, bpad, c, epi, 0};
    /* 4 tasks per thread, each whole groups of MR rows */
    ptrdiff_t groups = (M + MR - 1) / MR, tasks = nthreads > 1 ? 4 * (ptrdiff_t)nthreads : 1;
    j.rows = (groups + tasks - 1) / tasks * MR;
    tnm_parallel(FN(tnm_narrow_task), &j, (long)((M + j.rows - 1) / j.rows), nthreads);
    if (FN(tnm_bpack_cap) * sizeof(T) > TNM_KEEP_BYTES) {
        free(FN(tnm_bpack));
        FN(tnm_bpack) = NULL;
        FN(tnm_bpack_cap) = 0;
    }
    return atomic_load(&j.failed) ? -1 : 0;
}
