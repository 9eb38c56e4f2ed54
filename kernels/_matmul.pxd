# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Matmul: the blocked kernel of tnm_gemm.h (C, declared here), and the dot-product path for
products with at most THIN_N columns (Cython, below).

tnm_gemm.h is the Goto / BLIS structure: packed panels of A and B sized from the machine's
cache sizes, an MR x NR register-blocked micro-kernel in vector intrinsics of the instruction
set this module is compiled for, the tiles on tnm_pool.h's threads; narrow products (at most one
vector of columns or rows) and deep ones (a small C over a long K) take their own paths.
kernels/README.md explains it.
"""
from libc.stdlib cimport malloc, free
from cython.parallel cimport prange

ctypedef fused floating:
    float
    double

cdef extern from "tnm_gemm.h" nogil:
    const char* TNM_ISA_NAME        # "baseline", "avx2" or "avx512": the flags this module was built with
    const int TNM_VEC_BYTES         # the vector width of that instruction set (16, 32, 64)
    const long TNM_SERIAL_GEMM      # fewer multiply-adds than this: one thread
    long tnm_l1_bytes, tnm_l2_bytes, tnm_l3_bytes
    const int tnm_mr_s, tnm_nr_s, tnm_mr_d, tnm_nr_d
    Py_ssize_t tnm_kc_s, tnm_mc_s, tnm_nc_s, tnm_kc_d, tnm_mc_d, tnm_nc_d
    Py_ssize_t tnm_kc_big_s, tnm_mc_big_s, tnm_kc_big_d, tnm_mc_big_d   # big products' (tnm_gemm_blocked)
    void tnm_gemm_init()            # reads the caches, sets the block sizes; once, at import
    int tnm_cpu_supports(const char* isa)
    int tnm_gemm_s(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const float* a, Py_ssize_t rsa,
                   Py_ssize_t csa, const float* b, Py_ssize_t rsb, Py_ssize_t csb, float* c,
                   Py_ssize_t ldc, int nthreads)
    int tnm_gemm_d(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const double* a, Py_ssize_t rsa,
                   Py_ssize_t csa, const double* b, Py_ssize_t rsb, Py_ssize_t csb, double* c,
                   Py_ssize_t ldc, int nthreads)
    # the same with the epilogue: C = act(A @ B + bias) (bias: N elements or NULL; act: TNM_ACT_*)
    const int TNM_ACT_NONE, TNM_ACT_RELU, TNM_ACT_ROWS
    ctypedef void (*tnm_rows_fn_s)(float* x, Py_ssize_t n) noexcept nogil
    ctypedef void (*tnm_rows_fn_d)(double* x, Py_ssize_t n) noexcept nogil
    int tnm_gemm_epi_s(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const float* a, Py_ssize_t rsa,
                       Py_ssize_t csa, const float* b, Py_ssize_t rsb, Py_ssize_t csb, float* c,
                       Py_ssize_t ldc, const float* bias, int act, tnm_rows_fn_s rows, int nthreads)
    int tnm_gemm_epi_d(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const double* a, Py_ssize_t rsa,
                       Py_ssize_t csa, const double* b, Py_ssize_t rsb, Py_ssize_t csb, double* c,
                       Py_ssize_t ldc, const double* bias, int act, tnm_rows_fn_d rows, int nthreads)

cdef enum:
    NR_MAX = 32       # the widest 2-vector row: 2 AVX-512 vectors of floats (the dot products' lanes)


# --- thin products: out = a @ b with only a few columns (a Linear layer with one output) --------
cdef enum:
    THIN_N = 4        # at most this many columns take the dot-product path below


cdef inline floating _dot(const floating* x, const floating* y, Py_ssize_t n) noexcept nogil:
    """sum_k x[k] * y[k], both contiguous. Partial sums in the lanes of vector registers, as in
    the micro-kernel: 4 NR of them (8 independent FMA chains; 2 would wait on the FMA latency)
    while n allows, then NR, then the last few one by one. Each inner loop has a constant
    length, so it vectorises, and the order of the additions is fixed, so the result does not
    depend on the thread count."""
    cdef Py_ssize_t NR = 2 * TNM_VEC_BYTES // sizeof(floating), W = 4 * NR
    cdef floating acc[4 * NR_MAX]
    cdef floating total = 0
    cdef Py_ssize_t k, j, done = 0
    if n < NR:  # too short for the lanes to pay
        for k in range(n):
            total += x[k] * y[k]
        return total
    for j in range(W):
        acc[j] = 0
    if n >= W:
        for k in range(n // W):
            for j in range(W):
                acc[j] += x[k * W + j] * y[k * W + j]
        done = n // W * W
        for j in range(NR):  # fold the four groups of NR lanes into the first
            acc[j] = (acc[j] + acc[NR + j]) + (acc[2 * NR + j] + acc[3 * NR + j])
    for k in range((n - done) // NR):
        for j in range(NR):
            acc[j] += x[done + k * NR + j] * y[done + k * NR + j]
    done += (n - done) // NR * NR
    for j in range(NR):
        total += acc[j]
    for k in range(done, n):
        total += x[k] * y[k]
    return total


cdef inline int thin_matmul_kernel(const floating[:, :] a, const floating[:, :] b,
                                   floating[:, ::1] out, int num_threads) noexcept nogil:
    """out = a @ b for N = b.shape[1] <= THIN_N and rows of a contiguous (a.strides[1] is one
    element): each output is a dot product of a row of a with a column of b. The general kernel
    would pad b to NR columns (16x the work for one column) and pack all of a; this reads a
    once, in place, and b's columns in place too when they are contiguous (else it copies them
    out, N * K elements). Returns 0, or -1 if that copy could not be allocated."""
    cdef Py_ssize_t M = a.shape[0], K = a.shape[1], N = b.shape[1]
    cdef Py_ssize_t i, j, k, ldb = K
    cdef Py_ssize_t lda = a.strides[0] // <Py_ssize_t>sizeof(floating)
    cdef const floating* a0 = &a[0, 0]
    cdef floating* copy = NULL
    cdef const floating* bt
    if b.strides[0] == sizeof(floating) and b.strides[1] % sizeof(floating) == 0:
        bt = &b[0, 0]  # the columns are contiguous already (b is one column, or transposed)
        ldb = b.strides[1] // <Py_ssize_t>sizeof(floating)
    else:
        copy = <floating*> malloc(N * K * sizeof(floating))
        if copy == NULL:
            return -1
        for j in range(N):
            for k in range(K):
                copy[j * K + k] = b[k, j]
        bt = copy
    if num_threads <= 1:
        for i in range(M):
            for j in range(N):
                out[i, j] = _dot(a0 + i * lda, bt + j * ldb, K)
    else:
        for i in prange(M, num_threads=num_threads, schedule='static'):
            for j in range(N):
                out[i, j] = _dot(a0 + i * lda, bt + j * ldb, K)
    free(copy)
    return 0
