# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Row-wise softmax, log-softmax, their backward passes, and the fused cross-entropy.

Every kernel works on the rows of a C-contiguous (rows, n) array: it reads a
row from memory once (the second and third sweeps over it hit L1) and writes
the output row once. Sums are kept in double, so float32 rows of any length
stay accurate. Rows are shared among OpenMP threads when there is enough work.
"""
from libc.math cimport log
from libc.stdint cimport int64_t
from cython.parallel cimport prange

from _matmul cimport floating
from _mathfn cimport fast_exp

cdef enum:
    SOFTMAX = 0
    LOG_SOFTMAX = 1
    SOFTMAX_BACKWARD = 2        # y, g -> y * (g - sum(g * y))
    LOG_SOFTMAX_BACKWARD = 3    # y, g -> g - exp(y) * sum(g)
    PARALLEL_MIN = 32768        # fewer elements than this run in the calling thread


cdef inline floating _row_max(const floating* x, Py_ssize_t n) noexcept nogil:
    cdef floating m = x[0]
    cdef Py_ssize_t j
    for j in range(1, n):
        if x[j] > m or x[j] != x[j]:    # NaN wins, as in np.max
            m = x[j]
    return m


cdef inline void _row(int op, const floating* x, const floating* g, floating* out,
                      Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t j
    cdef floating m, lse, inv
    cdef double s = 0
    if op == SOFTMAX:
        m = _row_max(x, n)
        for j in range(n):                  # a separate loop from the sum, so it vectorises
            out[j] = fast_exp(x[j] - m)
        for j in range(n):
            s += out[j]
        inv = <floating>(1 / s)            # s is double: one division per row
        for j in range(n):
            out[j] = out[j] * inv
    elif op == LOG_SOFTMAX:
        m = _row_max(x, n)
        for j in range(n):
            s += fast_exp(x[j] - m)
        lse = <floating>log(s)
        for j in range(n):
            out[j] = (x[j] - m) - lse       # NumPy's order: exact for x near the max
    elif op == SOFTMAX_BACKWARD:
        for j in range(n):
            s += g[j] * x[j]
        for j in range(n):
            out[j] = x[j] * (g[j] - <floating>s)
    elif op == LOG_SOFTMAX_BACKWARD:
        for j in range(n):
            s += g[j]
        for j in range(n):
            out[j] = g[j] - fast_exp(x[j]) * <floating>s


cdef inline void rowwise(int op, const floating* x, const floating* g, floating* out,
                         Py_ssize_t rows, Py_ssize_t n, int num_threads) noexcept nogil:
    """op on each of the rows of length n (n >= 1) of x (and g), into out."""
    cdef Py_ssize_t r
    if num_threads <= 1 or rows * n < PARALLEL_MIN:
        for r in range(rows):
            _row(op, x + r * n, g + r * n if g != NULL else NULL, out + r * n, n)
        return
    for r in prange(rows, num_threads=num_threads, schedule='static'):
        _row(op, x + r * n, g + r * n if g != NULL else NULL, out + r * n, n)


cdef inline double cross_entropy_kernel(const floating* logits, const int64_t* labels,
                                        floating* probs, Py_ssize_t rows, Py_ssize_t n,
                                        int num_threads, int* bad_label) noexcept nogil:
    """probs = softmax(logits) row by row; returns sum over rows of -log softmax[label].
    A label outside [0, n) sets bad_label[0] (the row's loss then counts as 0)."""
    cdef Py_ssize_t r
    cdef double total = 0
    if num_threads <= 1 or rows * n < PARALLEL_MIN:
        for r in range(rows):
            total += _ce_row(logits + r * n, labels[r], probs + r * n, n, bad_label)
        return total
    for r in prange(rows, num_threads=num_threads, schedule='static'):
        total += _ce_row(logits + r * n, labels[r], probs + r * n, n, bad_label)
    return total


cdef inline double _ce_row(const floating* x, int64_t label, floating* p, Py_ssize_t n,
                           int* bad_label) noexcept nogil:
    cdef Py_ssize_t j
    cdef floating m = _row_max(x, n), inv
    cdef double s = 0
    for j in range(n):
        p[j] = fast_exp(x[j] - m)
    for j in range(n):
        s += p[j]
    inv = <floating>(1 / s)
    for j in range(n):
        p[j] = p[j] * inv
    if label < 0 or label >= n:
        bad_label[0] = 1
        return 0
    return log(s) - (x[label] - m)          # -log softmax[label] = log(sum) - (x[label] - max)


cdef inline void cross_entropy_backward_kernel(const floating* probs, const int64_t* labels,
                                               floating scale, floating* out, Py_ssize_t rows,
                                               Py_ssize_t n, int num_threads,
                                               int* bad_label) noexcept nogil:
    """out[r, c] = (probs[r, c] - (c == labels[r])) * scale."""
    cdef Py_ssize_t r
    if num_threads <= 1 or rows * n < PARALLEL_MIN:
        for r in range(rows):
            _ce_backward_row(probs + r * n, labels[r], scale, out + r * n, n, bad_label)
        return
    for r in prange(rows, num_threads=num_threads, schedule='static'):
        _ce_backward_row(probs + r * n, labels[r], scale, out + r * n, n, bad_label)


cdef inline void _ce_backward_row(const floating* p, int64_t label, floating scale, floating* out,
                                  Py_ssize_t n, int* bad_label) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(n):
        out[j] = p[j] * scale
    if label < 0 or label >= n:
        bad_label[0] = 1
    else:
        out[label] = (p[label] - <floating>1) * scale
