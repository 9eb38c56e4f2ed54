# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""relu, sigmoid and tanh and their backward passes: one read of each input, one write.

Each op is a plain loop over a contiguous range (vectorised by the compiler;
fast_sigmoid / fast_tanh avoid libm calls for that reason). The driver splits
the array into CHUNK-sized pieces shared among OpenMP threads, or runs in the
calling thread when the array is small enough that waking threads costs more.
"""
from cython.parallel cimport prange

from _matmul cimport floating
from _mathfn cimport fast_sigmoid, fast_tanh

cdef enum:
    RELU = 0
    SIGMOID = 1
    TANH = 2
    RELU_BACKWARD = 3       # x, g -> g if x > 0 else 0
    SIGMOID_BACKWARD = 4    # y, g -> g * y * (1 - y)
    TANH_BACKWARD = 5       # y, g -> g * (1 - y * y)
    CHUNK = 32768           # elements per piece of work (128 KiB of float32)


cdef inline void _apply_range(int op, const floating* x, const floating* g, floating* out,
                              Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating zero = 0, one = 1      # typed constants: bare literals would turn float math into double
    if op == RELU:
        for i in range(lo, hi):
            out[i] = zero if x[i] <= zero else x[i]     # NaN stays NaN, as in np.maximum
    elif op == SIGMOID:
        for i in range(lo, hi):
            out[i] = fast_sigmoid(x[i])
    elif op == TANH:
        for i in range(lo, hi):
            out[i] = fast_tanh(x[i])
    elif op == RELU_BACKWARD:
        for i in range(lo, hi):
            out[i] = g[i] if x[i] > zero else zero
    elif op == SIGMOID_BACKWARD:
        for i in range(lo, hi):
            out[i] = g[i] * x[i] * (one - x[i])
    elif op == TANH_BACKWARD:
        for i in range(lo, hi):
            out[i] = g[i] * (one - x[i] * x[i])


cdef inline void elementwise(int op, const floating* x, const floating* g, floating* out,
                             Py_ssize_t n, int num_threads) noexcept nogil:
    """out[i] = op(x[i]) (or op(x[i], g[i]) for the backward ops) for i < n."""
    cdef Py_ssize_t c, hi, chunks = (n + CHUNK - 1) // CHUNK
    if num_threads <= 1 or chunks <= 1:
        _apply_range(op, x, g, out, 0, n)
        return
    for c in prange(chunks, num_threads=num_threads, schedule='dynamic'):
        hi = (c + 1) * CHUNK
        _apply_range(op, x, g, out, c * CHUNK, hi if hi < n else n)
