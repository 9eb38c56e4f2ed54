"""The softmax family: softmax, log_softmax, their backward, and the fused cross-entropy, one row
at a time along the softmax axis.

Each comes as a pair of kernels: `serial`, one thread per row (short rows, or so many rows that
they fill the GPU), and `block`, one block per row, its threads striding along the row and
combining through shared memory (reductions.block_sum / block_max).

Row statistics (max, sum of exponentials, dot products) are kept in float64 whatever the input
dtype: the rows are memory-bound, and it makes the serial and block variants agree. Logarithms
of probabilities are formed as (x - max) - log(sum), never x - (max + log(sum)): with large
logits, max + log(sum) rounds to the input's precision before the subtraction can cancel it.
"""
import functools
import math

import numpy as np
from numba import cuda

from tinygrad_nm.backends.numba_cuda import device as D
from tinygrad_nm.backends.numba_cuda.jit import device_function, kernel, offset
from tinygrad_nm.backends.numba_cuda.reductions import block_max, block_sum, max_nan, sum as _reduce_sum
from tinygrad_nm.backends.numba_cuda.storage import contiguous, full

__all__ = ["softmax", "log_softmax", "softmax_backward", "log_softmax_backward", "cross_entropy",
           "cross_entropy_backward"]


# --- device side ------------------------------------------------------------------------------
@device_function
def _row_max(x, base, stride, start, length, step, neg_inf):
    m = neg_inf  # -inf in x's dtype: m, x - m and exp(x - m) stay in float32 for float32 rows
    for j in range(start, length, step):
        m = max_nan(m, x[base + j * stride])
    return m


@device_function
def _row_sum_exp(x, base, stride, start, length, step, m):
    s = 0.0
    for j in range(start, length, step):
        s += math.exp(x[base + j * stride] - m)
    return s


@device_function
def _write_softmax(x, xb, xs, out, ob, os, start, length, step, m, s, log):
    if log:
        log_s = math.log(s)
        for j in range(start, length, step):
            out[ob + j * os] = (x[xb + j * xs] - m) - log_s
    else:
        for j in range(start, length, step):
            out[ob + j * os] = math.exp(x[xb + j * xs] - m) / s


@device_function
def _row_dot(y, yb, ys, g, gb, gs, start, length, step, log):
    d = 0.0
    for j in range(start, length, step):
        d += g[gb + j * gs] if log else g[gb + j * gs] * y[yb + j * ys]
    return d


@device_function
def _write_softmax_backward(y, yb, ys, g, gb, gs, out, ob, os, start, length, step, d, log):
    for j in range(start, length, step):
        yj = y[yb + j * ys]
        gj = g[gb + j * gs]
        out[ob + j * os] = gj - math.exp(yj) * d if log else yj * (gj - d)


@functools.cache
def softmax_kernels(log, threads, serial_threads):
    """(serial, block) kernels for softmax (log=False) or log_softmax (log=True) along rows.
    Arguments: x, xk (row strides), xs (stride along the axis), out, ok, os, kshape, rows, length."""
    @kernel(bound=(serial_threads, D.ASSUMED_OCCUPANCY["softmax"]))
    def serial(x, xk, xs, out, ok, os, kshape, rows, length, neg_inf):
        for r in range(cuda.grid(1), rows, cuda.gridsize(1)):
            xb = offset(r, kshape, xk)
            ob = offset(r, kshape, ok)
            m = _row_max(x, xb, xs, 0, length, 1, neg_inf)
            s = _row_sum_exp(x, xb, xs, 0, length, 1, m)
            _write_softmax(x, xb, xs, out, ob, os, 0, length, 1, m, s, log)

    @kernel(bound=(threads, D.ASSUMED_OCCUPANCY["softmax"]))
    def block(x, xk, xs, out, ok, os, kshape, rows, length, neg_inf):
        cache = cuda.shared.array(threads, np.float64)
        tid = cuda.threadIdx.x
        for r in range(cuda.blockIdx.x, rows, cuda.gridDim.x):
            xb = offset(r, kshape, xk)
            ob = offset(r, kshape, ok)
            m = block_max(cache, _row_max(x, xb, xs, tid, length, threads, neg_inf))
            s = block_sum(cache, _row_sum_exp(x, xb, xs, tid, length, threads, m))
            _write_softmax(x, xb, xs, out, ob, os, tid, length, threads, m, s, log)

    return serial, block


@functools.cache
def softmax_backward_kernels(log, threads, serial_threads):
    """(serial, block): softmax: out = y * (g - sum(g * y)); log_softmax: out = g - exp(y) * sum(g)."""
    @kernel  # no launch bound: under one ptxas spills the float64 kernels on sm_90; unbounded: 40-80 registers
    def serial(y, yk, ys, g, gk, gs, out, ok, os, kshape, rows, length):
        for r in range(cuda.grid(1), rows, cuda.gridsize(1)):
            yb = offset(r, kshape, yk)
            gb = offset(r, kshape, gk)
            ob = offset(r, kshape, ok)
            d = _row_dot(y, yb, ys, g, gb, gs, 0, length, 1, log)
            _write_softmax_backward(y, yb, ys, g, gb, gs, out, ob, os, 0, length, 1, d, log)

    @kernel
    def block(y, yk, ys, g, gk, gs, out, ok, os, kshape, rows, length):
        cache = cuda.shared.array(threads, np.float64)
        tid = cuda.threadIdx.x
        for r in range(cuda.blockIdx.x, rows, cuda.gridDim.x):
            yb = offset(r, kshape, yk)
            gb = offset(r, kshape, gk)
            ob = offset(r, kshape, ok)
            d = block_sum(cache, _row_dot(y, yb, ys, g, gb, gs, tid, length, threads, log))
            _write_softmax_backward(y, yb, ys, g, gb, gs, out, ob, os, tid, length, threads, d, log)

    return serial, block


@functools.cache
def cross_entropy_kernels(threads, serial_threads):
    """(serial, block) fused cross-entropy forward over logits x (rows, classes) with strides
    (x0, x1): probs[r, :] = softmax(x[r, :]) (contiguous) and
    losses[r] = -log_softmax(x[r, :])[labels[r]] * scale, scale = 1 / rows, summed by the host."""
    @kernel(bound=(serial_threads, D.ASSUMED_OCCUPANCY["softmax"]))
    def serial(x, x0, x1, labels, probs, losses, rows, length, scale, neg_inf):
        for r in range(cuda.grid(1), rows, cuda.gridsize(1)):
            xb = r * x0
            m = _row_max(x, xb, x1, 0, length, 1, neg_inf)
            s = _row_sum_exp(x, xb, x1, 0, length, 1, m)
            _write_softmax(x, xb, x1, probs, r * length, 1, 0, length, 1, m, s, False)
            losses[r] = (math.log(s) - (x[xb + labels[r] * x1] - m)) * scale

    @kernel(bound=(threads, D.ASSUMED_OCCUPANCY["softmax"]))
    def block(x, x0, x1, labels, probs, losses, rows, length, scale, neg_inf):
        cache = cuda.shared.array(threads, np.float64)
        tid = cuda.threadIdx.x
        for r in range(cuda.blockIdx.x, rows, cuda.gridDim.x):
            xb = r * x0
            m = block_max(cache, _row_max(x, xb, x1, tid, length, threads, neg_inf))
            s = block_sum(cache, _row_sum_exp(x, xb, x1, tid, length, threads, m))
            _write_softmax(x, xb, x1, probs, r * length, 1, tid, length, threads, m, s, False)
            if tid == 0:
                losses[r] = (math.log(s) - (x[xb + labels[r] * x1] - m)) * scale

    return serial, block


@kernel
def cross_entropy_backward_kernel(probs, labels, g, out, rows, length, scale):
    """out[r, c] = g[0] * scale * (probs[r, c] - (c == labels[r])): g stays on the device."""
    gs = g[0] * scale
    for i in range(cuda.grid(1), rows * length, cuda.gridsize(1)):
        r = i // length
        c = i - r * length
        p = probs[i]
        out[i] = gs * (p - 1) if c == labels[r] else gs * p


# --- host side --------------------------------------------------------------------------------
def _rows(shape, axis, *bufs):
    """Rows along `axis`: (kshape, [row strides per buffer], [axis stride per buffer], rows, length)."""
    kept = [d for d in range(len(shape)) if d != axis]
    kshape, kstrides = D.collapse([shape[d] for d in kept], [[b.strides[d] for d in kept] for b in bufs])
    return kshape, kstrides, [b.strides[axis] for b in bufs], D.size([shape[d] for d in kept]), shape[axis]


def _row_launch(kernels, rows, length, args):
    """Serial kernel (a thread per row) for short rows or many rows; else a block per row."""
    p = D.POLICY or D.policy()
    serial, block = kernels
    if length <= p.serial_row_max or rows >= 4 * p.max_blocks:
        blocks, threads = D.grid(rows)
        serial[blocks, threads](*args)
    else:
        block[min(rows, p.max_blocks), p.reduce_threads](*args)


def _softmax(a, axis, log):
    out = D.empty(a.shape, a.dtype)
    kshape, (xk, ok), (xs, os), rows, length = _rows(a.shape, axis, a, out)
    if rows and length:
        p = D.POLICY or D.policy()
        kernels = softmax_kernels(log, p.reduce_threads, p.threads)
        _row_launch(kernels, rows, length, (D.dev(a), xk, xs, out.data, ok, os, kshape, rows, length,
                                            D.np_type(a.dtype)(-math.inf)))
    return out


def softmax(a, axis):
    return _softmax(a, axis, False)


def log_softmax(a, axis):
    return _softmax(a, axis, True)


def _softmax_backward(y, g, axis, log):
    out = D.empty(y.shape, y.dtype)
    kshape, (yk, gk, ok), (ys, gs, os), rows, length = _rows(y.shape, axis, y, g, out)
    if rows and length:
        p = D.POLICY or D.policy()
        kernels = softmax_backward_kernels(log, p.reduce_threads, p.threads)
        _row_launch(kernels, rows, length,
                    (D.dev(y), yk, ys, D.dev(g), gk, gs, out.data, ok, os, kshape, rows, length))
    return out


def softmax_backward(y, g, axis):
    return _softmax_backward(y, g, axis, False)


def log_softmax_backward(y, g, axis):
    return _softmax_backward(y, g, axis, True)


def cross_entropy(logits, labels):
    rows, length = logits.shape
    probs = D.empty((rows, length), logits.dtype)
    if rows == 0:
        return full((), math.nan, logits.dtype), probs
    losses = D.empty((rows,), logits.dtype)
    p = D.POLICY or D.policy()
    kernels = cross_entropy_kernels(p.reduce_threads, p.threads)
    _row_launch(kernels, rows, length, (D.dev(logits), logits.strides[0], logits.strides[1],
                                        D.dev(contiguous(labels)), probs.data, losses.data, rows, length,
                                        1.0 / rows, D.np_type(logits.dtype)(-math.inf)))
    return _reduce_sum(losses, (0,), False), probs


def cross_entropy_backward(probs, labels, g):
    rows, length = probs.shape
    probs = contiguous(probs)
    out = D.empty(probs.shape, probs.dtype)
    n = rows * length
    if n:
        blocks, threads = D.grid(n)
        cross_entropy_backward_kernel[blocks, threads](D.dev(probs), D.dev(contiguous(labels)), D.dev(g), out.data,
                                                       rows, length, 1.0 / rows)
    return out
