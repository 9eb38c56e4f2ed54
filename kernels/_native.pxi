# The body of every tinygrad_nm._native_<isa> module (each kernels/_native_<isa>.pyx includes this
# file; setup.py compiles each for its instruction set). Python-facing entry points only: each
# checks its arguments (shapes, dtypes, layout, thread count), then releases the GIL and runs a
# kernel from the .pxd files and tnm_gemm.h beside this one:
#   _arrays.pxd      the checks of arrays read through NumPy's struct (the hot entry points)
#   tnm_gemm.h       the blocked, packed, register-blocked, OpenMP-parallel matmul (C)
#   _matmul.pxd      its declarations, and the dot-product path for products of <= 4 columns
#   _activations.pxd relu / sigmoid / tanh forward and backward
#   _softmax.pxd     softmax, log-softmax, their backward, fused cross-entropy
#   _mathfn.pxd      vectorisable exp / sigmoid / tanh used by the two above
#
# Every function takes float32 or float64 (all its arrays must share the dtype) and writes into an
# `out` array the caller allocated, so the kernels never allocate Python objects. A wrong argument
# raises; it never reaches a kernel. The entry points a training step calls dozens of times (matmul,
# linear_act, axpy, the activations, cross-entropy) take the arrays themselves and read dtype, shape,
# strides and data from NumPy's array struct (_arrays.pxd); the others take typed memoryviews,
# whose checks are the same but cost a memoryview object per argument (bench/README.md, "Training").
from libc.stdint cimport int64_t
cimport numpy as cnp
from _arrays cimport F32, F64, array_kind, checked, data_of, whole_strides

from _matmul cimport (floating, thin_matmul_kernel, THIN_N, TNM_VEC_BYTES, TNM_ISA_NAME, TNM_SERIAL_GEMM,
                      tnm_gemm_init, tnm_gemm_s, tnm_gemm_d, tnm_gemm_epi_s, tnm_gemm_epi_d, TNM_ACT_NONE,
                      TNM_ACT_RELU, TNM_ACT_ROWS, tnm_cpu_supports, tnm_l1_bytes, tnm_l2_bytes,
                      tnm_l3_bytes, tnm_mr_s, tnm_nr_s, tnm_mr_d, tnm_nr_d, tnm_kc_s, tnm_mc_s, tnm_nc_s,
                      tnm_kc_d, tnm_mc_d, tnm_nc_d, tnm_kc_big_s, tnm_mc_big_s, tnm_kc_big_d, tnm_mc_big_d)
from _activations cimport (elementwise, RELU, SIGMOID, TANH, RELU_BACKWARD, SIGMOID_BACKWARD,
                           TANH_BACKWARD, CHUNK)
from _softmax cimport (rowwise, cross_entropy_kernel, cross_entropy_backward_kernel, SOFTMAX,
                       LOG_SOFTMAX, SOFTMAX_BACKWARD, LOG_SOFTMAX_BACKWARD, PARALLEL_MIN)

cdef extern from *:
    """
    #ifdef _OPENMP
    #define TNM_OPENMP 1
    #else
    #define TNM_OPENMP 0
    #endif
    """
    const int TNM_OPENMP

cdef extern from "tnm_pool.h":
    const int TNM_POOL
    void* TNM_OPENBLAS_CALLBACK     # tnm_openblas_threads: OpenBLAS's jobs on the matmul's pool

cnp.import_array()
tnm_gemm_init()  # reads the cache sizes and sets the matmul's block sizes from them

# --- what this module is: the facts napkin prices it by (backends/cython.py gathers them) ---------
ISA = TNM_ISA_NAME.decode()        # the instruction set this module was compiled for
OPENMP = bool(TNM_OPENMP)          # False: built without OpenMP, the kernels other than matmul run on one thread
POOL = bool(TNM_POOL)              # matmul's own threads (POSIX threads); False: it runs on one thread
# the address of a C function OpenBLAS can run its threaded calls through (its
# openblas_set_threads_callback_function), so NumPy's BLAS uses the same threads; 0 without a pool
OPENBLAS_CALLBACK = <size_t>TNM_OPENBLAS_CALLBACK
VECTOR_BYTES = TNM_VEC_BYTES       # the SIMD width the build targets (16 SSE/NEON, 32 AVX2, 64 AVX-512)
CACHE_BYTES = {"L1": tnm_l1_bytes, "L2": tnm_l2_bytes, "L3": tnm_l3_bytes}  # as read at import
# the matmul's register block (MR x NR) and blocks (KC, MC, NC; KC_BIG, MC_BIG for big products), per
# dtype (tnm_gemm_body.h)
MATMUL_BLOCKS = {"float32": {"MR": tnm_mr_s, "NR": tnm_nr_s, "KC": tnm_kc_s, "MC": tnm_mc_s, "NC": tnm_nc_s,
                             "KC_BIG": tnm_kc_big_s, "MC_BIG": tnm_mc_big_s},
                 "float64": {"MR": tnm_mr_d, "NR": tnm_nr_d, "KC": tnm_kc_d, "MC": tnm_mc_d, "NC": tnm_nc_d,
                             "KC_BIG": tnm_kc_big_d, "MC_BIG": tnm_mc_big_d}}
SERIAL_MATMUL = TNM_SERIAL_GEMM    # multiply-adds below which matmul runs on the calling thread
PARALLEL_MIN_ELEMENTWISE = CHUNK   # sigmoid/tanh: elements from which the chunks go to the threads
PARALLEL_MIN_ROWS = PARALLEL_MIN   # softmax family: elements (rows x n) from which rows go to threads
THIN_MATMUL_N = THIN_N             # products with at most this many columns: dot products, no packing


def cpu_supports(isa):
    """Can this CPU (and its OS) run the module built for `isa` ("baseline", "avx2", "avx512")?"""
    return bool(tnm_cpu_supports(isa.encode()))


cdef int _threads(int num_threads) except -1:
    if num_threads < 1:
        raise ValueError(f"num_threads must be at least 1, got {num_threads}")
    return num_threads


# --- matmul ---------------------------------------------------------------------------------------
cdef int _thin(const floating[:, :] a, const floating[:, :] b, floating[:, ::1] out, int num_threads) except -2:
    """The dot-product path (thin_matmul_kernel) on memoryviews of the arrays: few products take it."""
    cdef int rc
    with nogil:
        rc = thin_matmul_kernel(a, b, out, num_threads)
    return rc


cdef int _matmul(str fn, cnp.ndarray a, cnp.ndarray b, cnp.ndarray out, int kind, int num_threads,
                 const void* bias, int code, int op) except -1:
    """out = act(a @ b + bias) for checked arrays of `kind`, M, N, K > 0: matmul's and linear_act's
    common part. Products with at most THIN_N columns and rows of a contiguous take dot products;
    the epilogue then runs on the few columns (_bias_act)."""
    cdef cnp.npy_intp* da = cnp.PyArray_DIMS(a)
    cdef cnp.npy_intp* sa = cnp.PyArray_STRIDES(a)
    cdef cnp.npy_intp* sb = cnp.PyArray_STRIDES(b)
    cdef Py_ssize_t M = da[0], K = da[1], N = cnp.PyArray_DIM(b, 1), item = 4 if kind == F32 else 8
    cdef int rc = 0
    cdef const void* pa = data_of(a)
    cdef const void* pb = data_of(b)
    cdef void* po = data_of(out)
    whole_strides(fn, a, b, item)
    cdef Py_ssize_t rsa = sa[0] // item, csa = sa[1] // item, rsb = sb[0] // item, csb = sb[1] // item
    if N <= THIN_N and csa == 1:  # a few columns, rows of a contiguous: dot products, no packing
        if M * N * K < TNM_SERIAL_GEMM:
            num_threads = 1
        rc = _thin[float](a, b, out, num_threads) if kind == F32 else _thin[double](a, b, out, num_threads)
        if rc == 0 and (bias != NULL or op >= 0):
            with nogil:
                if kind == F32:
                    _bias_act(<float*>po, M, N, <const float*>bias, op)
                else:
                    _bias_act(<double*>po, M, N, <const double*>bias, op)
    else:
        with nogil:
            if kind == F32:
                rc = tnm_gemm_epi_s(M, N, K, <const float*>pa, rsa, csa, <const float*>pb, rsb, csb, <float*>po, N,
                                    <const float*>bias, code, _sigmoid_s if op == SIGMOID else _tanh_s, num_threads)
            else:
                rc = tnm_gemm_epi_d(M, N, K, <const double*>pa, rsa, csa, <const double*>pb, rsb, csb, <double*>po,
                                    N, <const double*>bias, code, _sigmoid_d if op == SIGMOID else _tanh_d,
                                    num_threads)
    if rc != 0:
        raise MemoryError(f"{fn}: could not allocate the packed copies of a ({M}, {K}) @ ({K}, {N}) product")
    return 0


def matmul(cnp.ndarray a not None, cnp.ndarray b not None, cnp.ndarray out not None, int num_threads=1):
    """out = a @ b. a (M, K) and b (K, N) may have any strides (whole elements); out is (M, N),
    C-contiguous; all three float32, or all float64."""
    cdef int kind = array_kind("matmul", a, "a")
    checked("matmul", a, "a", kind, 2, False, False)
    checked("matmul", b, "b", kind, 2, False, False)
    checked("matmul", out, "out", kind, 2, True, True)
    cdef cnp.npy_intp* db = cnp.PyArray_DIMS(b)
    cdef cnp.npy_intp* do = cnp.PyArray_DIMS(out)
    cdef Py_ssize_t M = cnp.PyArray_DIM(a, 0), K = cnp.PyArray_DIM(a, 1), N = db[1]
    num_threads = _threads(num_threads)
    if db[0] != K:
        raise ValueError(f"matmul: shapes ({M}, {K}) and ({db[0]}, {N}) are not aligned")
    if do[0] != M or do[1] != N:
        raise ValueError(f"matmul: out has shape ({do[0]}, {do[1]}), expected ({M}, {N})")
    if M == 0 or N == 0:
        return
    if K == 0:
        out.fill(0)
        return
    _matmul("matmul", a, b, out, kind, num_threads, NULL, TNM_ACT_NONE, -1)


# --- linear layer + activation: the matmul's epilogue ----------------------------------------------
# sigmoid and tanh on a block of C, called by the matmul as it stores the block (tnm_gemm_body.h);
# the same loops as the activation kernels
cdef void _sigmoid_s(float* x, Py_ssize_t n) noexcept nogil:
    elementwise(SIGMOID, x, NULL, x, n, 1)

cdef void _sigmoid_d(double* x, Py_ssize_t n) noexcept nogil:
    elementwise(SIGMOID, x, NULL, x, n, 1)

cdef void _tanh_s(float* x, Py_ssize_t n) noexcept nogil:
    elementwise(TANH, x, NULL, x, n, 1)

cdef void _tanh_d(double* x, Py_ssize_t n) noexcept nogil:
    elementwise(TANH, x, NULL, x, n, 1)

_ACT_CODES = {"relu": RELU, "sigmoid": SIGMOID, "tanh": TANH}


cdef void _bias_act(floating* out, Py_ssize_t M, Py_ssize_t N, const floating* bias, int op) noexcept nogil:
    """out = op(out + bias), row by row: the epilogue of the dot-product path (N <= THIN_N); op < 0:
    no activation."""
    cdef Py_ssize_t i, j
    for i in range(M):
        if bias != NULL:
            for j in range(N):
                out[i * N + j] = out[i * N + j] + bias[j]
        if op >= 0:
            elementwise(op, out + i * N, NULL, out + i * N, N, 1)


def linear_act(cnp.ndarray a not None, cnp.ndarray b not None, cnp.ndarray bias, cnp.ndarray out not None,
               str act, int num_threads=1):
    """out = act(a @ b + bias): the matmul with bias (N elements, or None) and activation ("relu",
    "sigmoid", "tanh", or None for none: F.linear) applied to each block of out as it is stored.
    a (M, K) and b (K, N) may have any strides (whole elements); out is (M, N), C-contiguous."""
    cdef int kind = array_kind("linear_act", a, "a"), op = -1, code = TNM_ACT_NONE
    cdef const void* bp = NULL
    if act is not None:
        if act not in _ACT_CODES:
            raise ValueError(f"linear_act: unknown activation {act!r}; expected one of {', '.join(_ACT_CODES)} "
                             f"or None")
        op = _ACT_CODES[act]
        code = TNM_ACT_RELU if op == RELU else TNM_ACT_ROWS
    checked("linear_act", a, "a", kind, 2, False, False)
    checked("linear_act", b, "b", kind, 2, False, False)
    checked("linear_act", out, "out", kind, 2, True, True)
    cdef cnp.npy_intp* db = cnp.PyArray_DIMS(b)
    cdef cnp.npy_intp* do = cnp.PyArray_DIMS(out)
    cdef Py_ssize_t M = cnp.PyArray_DIM(a, 0), K = cnp.PyArray_DIM(a, 1), N = db[1]
    if db[0] != K or do[0] != M or do[1] != N:
        raise ValueError(f"linear_act: shapes ({M}, {K}) @ ({db[0]}, {N}) into out ({do[0]}, {do[1]}) do not fit")
    if bias is not None:
        checked("linear_act", bias, "bias", kind, 1, True, False)
        if cnp.PyArray_DIM(bias, 0) != N:
            raise ValueError(f"linear_act: bias has {cnp.PyArray_DIM(bias, 0)} elements, the product {N} columns")
        bp = data_of(bias)
    num_threads = _threads(num_threads)
    if M == 0 or N == 0:
        return
    if K == 0:  # no products: act(0 + bias) per row
        out.fill(0)
        with nogil:
            if kind == F32:
                _bias_act(<float*>data_of(out), M, N, <const float*>bp, op)
            else:
                _bias_act(<double*>data_of(out), M, N, <const double*>bp, op)
        return
    _matmul("linear_act", a, b, out, kind, num_threads, bp, code, op)


# --- an optimizer's step ---------------------------------------------------------------------------
cdef void _axpy(floating* a, floating alpha, const floating* x, floating beta, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    if beta == 1:
        for i in range(n):
            a[i] = a[i] + alpha * x[i]
    else:  # beta * a rounded first, as PyTorch's mul_ then add_
        for i in range(n):
            a[i] = beta * a[i]
            a[i] = a[i] + alpha * x[i]


def axpy(cnp.ndarray a not None, double alpha, cnp.ndarray x not None, double beta=1.0):
    """a[i] = beta * a[i] + alpha * x[i], in place (a and x C-contiguous, of one dtype and size): one
    pass where NumPy makes two or three and a temporary (SGD's momentum: beta the momentum, alpha
    1 - dampening)."""
    cdef int kind = array_kind("axpy", a, "a")
    checked("axpy", a, "a", kind, -1, True, True)
    checked("axpy", x, "x", kind, -1, True, False)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(a)
    if cnp.PyArray_SIZE(x) != n:
        raise ValueError(f"axpy: a has {n} elements, x {cnp.PyArray_SIZE(x)}")
    cdef char* pa = <char*>data_of(a)
    cdef char* px = <char*>data_of(x)
    cdef Py_ssize_t nbytes = n * cnp.PyArray_ITEMSIZE(a)
    if pa != px and pa < px + nbytes and px < pa + nbytes:  # `x[1:] += x[:-1]`: x read after a is written
        raise ValueError("axpy: a and x overlap, shifted; the loop would read elements it already wrote")
    with nogil:
        if kind == F32:
            _axpy(<float*>data_of(a), <float>alpha, <const float*>data_of(x), <float>beta, n)
        else:
            _axpy(<double*>data_of(a), alpha, <const double*>data_of(x), beta, n)


# --- activations ----------------------------------------------------------------------------------
cdef _elementwise(str fn, int op, cnp.ndarray x, cnp.ndarray g, cnp.ndarray out, int num_threads):
    """out = op(x) (g None) or op(x, g), over C-contiguous arrays of one dtype and size."""
    cdef int kind = array_kind(fn, x, "x")
    cdef const void* pg = NULL
    checked(fn, x, "x", kind, -1, True, False)
    checked(fn, out, "out", kind, -1, True, True)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(x)
    if g is not None:
        checked(fn, g, "g", kind, -1, True, False)
        pg = data_of(g)
    if cnp.PyArray_SIZE(out) != n or (g is not None and cnp.PyArray_SIZE(g) != n):
        raise ValueError(f"{fn}: inputs and out must have the same number of elements, got {x.size}"
                         f"{'' if g is None else f', {g.size}'} and {out.size}")
    num_threads = _threads(num_threads)
    if n == 0:
        return
    with nogil:
        if kind == F32:
            elementwise(op, <const float*>data_of(x), <const float*>pg, <float*>data_of(out), n, num_threads)
        else:
            elementwise(op, <const double*>data_of(x), <const double*>pg, <double*>data_of(out), n, num_threads)


def relu(cnp.ndarray x not None, cnp.ndarray out not None, int num_threads=1):
    """out[i] = max(x[i], 0) (NaN stays NaN)."""
    _elementwise("relu", RELU, x, None, out, num_threads)


def sigmoid(cnp.ndarray x not None, cnp.ndarray out not None, int num_threads=1):
    """out[i] = 1 / (1 + exp(-x[i]))."""
    _elementwise("sigmoid", SIGMOID, x, None, out, num_threads)


def tanh(cnp.ndarray x not None, cnp.ndarray out not None, int num_threads=1):
    """out[i] = tanh(x[i])."""
    _elementwise("tanh", TANH, x, None, out, num_threads)


def relu_backward(cnp.ndarray x not None, cnp.ndarray g not None, cnp.ndarray out not None, int num_threads=1):
    """out[i] = g[i] if x[i] > 0 else 0 (x: relu's input)."""
    _elementwise("relu_backward", RELU_BACKWARD, x, g, out, num_threads)


def sigmoid_backward(cnp.ndarray y not None, cnp.ndarray g not None, cnp.ndarray out not None, int num_threads=1):
    """out[i] = g[i] * y[i] * (1 - y[i]) (y: sigmoid's output)."""
    _elementwise("sigmoid_backward", SIGMOID_BACKWARD, y, g, out, num_threads)


def tanh_backward(cnp.ndarray y not None, cnp.ndarray g not None, cnp.ndarray out not None, int num_threads=1):
    """out[i] = g[i] * (1 - y[i] ** 2) (y: tanh's output)."""
    _elementwise("tanh_backward", TANH_BACKWARD, y, g, out, num_threads)


# --- softmax family: along the last axis of (rows, n) arrays --------------------------------------
cdef _rows(int op, const floating[:, ::1] x, floating[:, ::1] out, int num_threads):
    num_threads = _threads(num_threads)
    if out.shape[0] != x.shape[0] or out.shape[1] != x.shape[1]:
        raise ValueError(f"out has shape ({out.shape[0]}, {out.shape[1]}), the input ({x.shape[0]}, {x.shape[1]})")
    if x.shape[0] == 0 or x.shape[1] == 0:
        return
    with nogil:
        rowwise(op, &x[0, 0], NULL, &out[0, 0], x.shape[0], x.shape[1], num_threads)


cdef _rows_backward(int op, const floating[:, ::1] y, const floating[:, ::1] g, floating[:, ::1] out,
                    int num_threads):
    num_threads = _threads(num_threads)
    if (g.shape[0] != y.shape[0] or g.shape[1] != y.shape[1] or out.shape[0] != y.shape[0]
            or out.shape[1] != y.shape[1]):
        raise ValueError(f"inputs and out must have the same shape, got ({y.shape[0]}, {y.shape[1]}), "
                         f"({g.shape[0]}, {g.shape[1]}) and ({out.shape[0]}, {out.shape[1]})")
    if y.shape[0] == 0 or y.shape[1] == 0:
        return
    with nogil:
        rowwise(op, &y[0, 0], &g[0, 0], &out[0, 0], y.shape[0], y.shape[1], num_threads)


def softmax(const floating[:, ::1] x, floating[:, ::1] out, int num_threads=1):
    """out[r] = exp(x[r] - max x[r]) / sum(exp(x[r] - max x[r])) for each row r."""
    _rows(SOFTMAX, x, out, num_threads)


def log_softmax(const floating[:, ::1] x, floating[:, ::1] out, int num_threads=1):
    """out[r] = x[r] - max x[r] - log(sum(exp(x[r] - max x[r]))) for each row r."""
    _rows(LOG_SOFTMAX, x, out, num_threads)


def softmax_backward(const floating[:, ::1] y, const floating[:, ::1] g, floating[:, ::1] out,
                     int num_threads=1):
    """out[r] = y[r] * (g[r] - sum(g[r] * y[r])) (y: softmax's output)."""
    _rows_backward(SOFTMAX_BACKWARD, y, g, out, num_threads)


def log_softmax_backward(const floating[:, ::1] y, const floating[:, ::1] g, floating[:, ::1] out,
                         int num_threads=1):
    """out[r] = g[r] - exp(y[r]) * sum(g[r]) (y: log_softmax's output)."""
    _rows_backward(LOG_SOFTMAX_BACKWARD, y, g, out, num_threads)


cdef (Py_ssize_t, Py_ssize_t) _ce_checked(str fn, cnp.ndarray x, cnp.ndarray labels, cnp.ndarray out,
                                           int kind) except *:
    """The (rows, n) of cross-entropy's checked (rows, n) x and out and (rows,) int64 labels."""
    checked(fn, x, "the input", kind, 2, True, False)
    checked(fn, labels, "labels", -1, 1, True, False)
    checked(fn, out, "out", kind, 2, True, True)
    cdef Py_ssize_t rows = cnp.PyArray_DIM(x, 0), n = cnp.PyArray_DIM(x, 1)
    if cnp.PyArray_DIM(labels, 0) != rows or cnp.PyArray_DIM(out, 0) != rows or cnp.PyArray_DIM(out, 1) != n:
        raise ValueError(f"{fn}: input ({rows}, {n}) needs labels ({rows},) and out of the same shape, got "
                         f"{(<object>labels).shape} and {(<object>out).shape}")
    return rows, n


def cross_entropy(cnp.ndarray logits not None, cnp.ndarray labels not None, cnp.ndarray probs not None,
                  int num_threads=1):
    """probs = softmax(logits) by rows; returns the mean over rows of -log probs[r, labels[r]]
    (as a Python float, summed in double). NaN for zero rows, like np.mean of nothing."""
    cdef int kind = array_kind("cross_entropy", logits, "logits")
    cdef Py_ssize_t rows, n
    rows, n = _ce_checked("cross_entropy", logits, labels, probs, kind)
    cdef double total
    cdef int bad[1]
    num_threads = _threads(num_threads)
    if rows == 0:
        return float("nan")
    if n == 0:
        raise ValueError("cross_entropy: logits have no classes (shape (N, 0))")
    bad[0] = 0
    with nogil:
        if kind == F32:
            total = cross_entropy_kernel(<const float*>data_of(logits), <const int64_t*>data_of(labels),
                                         <float*>data_of(probs), rows, n, num_threads, bad)
        else:
            total = cross_entropy_kernel(<const double*>data_of(logits), <const int64_t*>data_of(labels),
                                         <double*>data_of(probs), rows, n, num_threads, bad)
    if bad[0]:
        raise ValueError(f"cross_entropy: labels must lie in [0, {n})")
    return total / rows


def cross_entropy_backward(cnp.ndarray probs not None, cnp.ndarray labels not None, double scale,
                           cnp.ndarray out not None, int num_threads=1):
    """out[r, c] = (probs[r, c] - (c == labels[r])) * scale; scale is the loss gradient / rows."""
    cdef int kind = array_kind("cross_entropy_backward", probs, "probs")
    cdef Py_ssize_t rows, n
    rows, n = _ce_checked("cross_entropy_backward", probs, labels, out, kind)
    cdef int bad[1]
    num_threads = _threads(num_threads)
    if rows == 0 or n == 0:
        return
    bad[0] = 0
    with nogil:
        if kind == F32:
            cross_entropy_backward_kernel(<const float*>data_of(probs), <const int64_t*>data_of(labels), <float>scale,
                                          <float*>data_of(out), rows, n, num_threads, bad)
        else:
            cross_entropy_backward_kernel(<const double*>data_of(probs), <const int64_t*>data_of(labels), scale,
                                          <double*>data_of(out), rows, n, num_threads, bad)
    if bad[0]:
        raise ValueError(f"cross_entropy_backward: labels must lie in [0, {n})")


include "_windows.pxi"     # im2col / col2im and max pooling: the window kernels
include "_conv_fused.pxi"
