/* Packing the matmul's operands into the panels the micro-kernel reads: one precision, included by
 * tnm_gemm_body.h (T, S, FN, MR, NR, NV, VL and the vector macros are its). */

/* dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols: the copy both packings need when
 * the operand's layout is the other way round (a transposed B, a row-major A). In 4 x 4 (float)
 * or 2 x 2 (double) blocks through SSE registers where the machine has them: 4 loads, 8
 * shuffles, 4 stores per 16 floats instead of 16 scalar loads and stores. */
static void FN(tnm_transpose)(const T* src, ptrdiff_t lds, ptrdiff_t rows, ptrdiff_t cols, T* restrict dst,
                              ptrdiff_t ldd) {
    ptrdiff_t r0 = 0, c0 = 0;
#if defined(__SSE2__) && !defined(TNM_SCALAR_KERNEL)
#define TB (16 / (ptrdiff_t)sizeof(T))        /* the block: 4 floats or 2 doubles */
    for (c0 = 0; c0 + TB <= cols; c0 += TB) {
        for (r0 = 0; r0 + TB <= rows; r0 += TB) {
            const T* s = src + r0 * lds + c0;
            T* d = dst + c0 * ldd + r0;
            if (sizeof(T) == 4) {
                __m128 x0 = _mm_loadu_ps((const float*)s), x1 = _mm_loadu_ps((const float*)(s + lds));
                __m128 x2 = _mm_loadu_ps((const float*)(s + 2 * lds)), x3 = _mm_loadu_ps((const float*)(s + 3 * lds));
                _MM_TRANSPOSE4_PS(x0, x1, x2, x3);
                _mm_storeu_ps((float*)d, x0);
                _mm_storeu_ps((float*)(d + ldd), x1);
                _mm_storeu_ps((float*)(d + 2 * ldd), x2);
                _mm_storeu_ps((float*)(d + 3 * ldd), x3);
            } else {
                __m128d x0 = _mm_loadu_pd((const double*)s), x1 = _mm_loadu_pd((const double*)(s + lds));
                _mm_storeu_pd((double*)d, _mm_unpacklo_pd(x0, x1));
                _mm_storeu_pd((double*)(d + ldd), _mm_unpackhi_pd(x0, x1));
            }
        }
        for (ptrdiff_t r = r0; r < rows; r++)                  /* rows left over: one by one */
            for (ptrdiff_t c = c0; c < c0 + TB; c++) dst[c * ldd + r] = src[r * lds + c];
    }
#undef TB
#endif
    for (ptrdiff_t c = c0; c < cols; c++)                      /* columns left over */
        for (ptrdiff_t r = 0; r < rows; r++) dst[c * ldd + r] = src[r * lds + c];
}

/* Pack B[0:kc, 0:n] (b points at its first element; rs, cs: row and column strides in elements)
 * panels q in [q0, q1): panel q holds columns q*NR.. as dst[q*kc*NR + p*NR + j] = B[p, q*NR + j],
 * zero past column n. */
static void FN(tnm_pack_b)(const T* b, ptrdiff_t rs, ptrdiff_t cs, ptrdiff_t kc, ptrdiff_t n,
                           T* restrict dst, ptrdiff_t q0, ptrdiff_t q1) {
    for (ptrdiff_t q = q0; q < q1; q++) {
        T* restrict d = dst + q * kc * NR;
        const T* s = b + q * NR * cs;
        ptrdiff_t nr = n - q * NR < NR ? n - q * NR : NR;
        if (cs == 1 && nr == NR) {            /* rows contiguous: NR-long copies, NV vector moves each */
            for (ptrdiff_t p = 0; p < kc; p++)  /* (a plain loop becomes a memcpy call per row: 2x slower) */
                TNM_UNROLL for (int v = 0; v < NV; v++) VSTOREU(d + p * NR + v * VL, VLOADU(s + p * rs + v * VL));
            continue;
        }
        if (nr < NR) memset(d, 0, (size_t)(kc * NR) * sizeof(T));
        if (rs == 1) {                         /* a transposed B: each column is contiguous */
            FN(tnm_transpose)(s, cs, nr, kc, d, NR);
        } else {
            for (ptrdiff_t p = 0; p < kc; p++)
                for (ptrdiff_t j = 0; j < nr; j++) d[p * NR + j] = s[p * rs + j * cs];
        }
    }
}

/* Pack A[0:m, 0:kc] into panels of MR rows: dst[q*kc*MR + p*MR + i] = A[q*MR + i, p], zero past
 * row m. */
static void FN(tnm_pack_a)(const T* a, ptrdiff_t rs, ptrdiff_t cs, ptrdiff_t m, ptrdiff_t kc,
                           T* restrict dst) {
    for (ptrdiff_t q = 0; q * MR < m; q++) {
        T* restrict d = dst + q * kc * MR;
        const T* s = a + q * MR * rs;
        ptrdiff_t mr = m - q * MR < MR ? m - q * MR : MR;
        if (cs == 1) {                         /* rows contiguous: MR streams, interleaved */
            FN(tnm_transpose)(s, rs, mr, kc, d, MR);
            for (ptrdiff_t p = 0; p < kc; p++)
                for (ptrdiff_t i = mr; i < MR; i++) d[p * MR + i] = 0;
        } else if (mr == MR && rs == 1) {      /* a transposed A: MR contiguous values per column */
            for (ptrdiff_t p = 0; p < kc; p++)
                TNM_UNROLL for (int i = 0; i < MR; i++) d[p * MR + i] = s[p * cs + i];
        } else {
            for (ptrdiff_t p = 0; p < kc; p++) {
                for (ptrdiff_t i = 0; i < mr; i++) d[p * MR + i] = s[i * rs + p * cs];
                for (ptrdiff_t i = mr; i < MR; i++) d[p * MR + i] = 0;
            }
        }
    }
}
