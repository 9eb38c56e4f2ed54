"""Reductions (sum, max over any axes) and the block-wide reductions softmax rows share.

The host arranges the input as rows x length: the kept axes (merged into kshape/kstrides) index
the row, the reduced axes (rshape/rstrides) the position inside it. Short rows, and rows whose
elements lie far apart, are reduced by one thread each; long rows by blocks that cooperate
through shared memory, in passes over partial results (deterministic, no atomics).
"""
import functools

import numpy as np
from numba import cuda

from tinygrad_nm import dtypes
from tinygrad_nm.backends.kernels import of_family
from tinygrad_nm.backends.numba_cuda import device as D
from tinygrad_nm.backends.numba_cuda.jit import cooperative_function, device_function, kernel, offset
from tinygrad_nm.backends.numba_cuda.storage import fill

__all__ = list(of_family("reduce"))  # sum, max


# --- device side ------------------------------------------------------------------------------
@device_function
def max_nan(acc, x):
    """max that keeps a nan once seen, like np.max."""
    return x if x > acc or x != x else acc


@cooperative_function
def block_sum(cache, value):
    """Sum of `value` over the threads of the block (cache: shared, one slot per thread, 2^k)."""
    tid = cuda.threadIdx.x
    cache[tid] = value
    cuda.syncthreads()
    step = cache.shape[0] // 2
    while step > 0:
        if tid < step:
            cache[tid] += cache[tid + step]
        cuda.syncthreads()
        step //= 2
    total = cache[0]
    cuda.syncthreads()  # every thread has read the total before the cache is reused
    return total


@cooperative_function
def block_max(cache, value):
    tid = cuda.threadIdx.x
    cache[tid] = value
    cuda.syncthreads()
    step = cache.shape[0] // 2
    while step > 0:
        if tid < step:
            cache[tid] = max_nan(cache[tid], cache[tid + step])
        cuda.syncthreads()
        step //= 2
    total = cache[0]
    cuda.syncthreads()
    return total


@functools.cache
def reduce_kernels(kind, threads, acc_dtype, serial_threads):
    """(serial, block) kernels reducing `rows` rows of `length` elements each with sum or max.
    block runs `threads` per block, serial at most `serial_threads` (their launch bounds).

    serial: one thread per row, for short rows or rows whose elements lie far apart (then
        neighbouring threads read neighbouring memory).
    block: grid (chunks, rows); each block folds one chunk of one row into out[row * chunks +
        chunk]. With several chunks the host runs it again on those partials, so rows of any
        length are reduced without atomics, deterministically."""
    combine = device_function((lambda acc, x: acc + x) if kind == "sum" else (lambda acc, x: max_nan(acc, x)))
    block_reduce = block_sum if kind == "sum" else block_max

    @kernel(bound=(serial_threads, D.ASSUMED_OCCUPANCY["rows"]))
    def serial(a, kshape, kstrides, rshape, rstrides, out, rows, length, init):
        for r in range(cuda.grid(1), rows, cuda.gridsize(1)):
            base = offset(r, kshape, kstrides)
            acc = init
            for j in range(length):
                acc = combine(acc, a[base + offset(j, rshape, rstrides)])
            out[r] = acc

    @kernel(bound=(threads, D.ASSUMED_OCCUPANCY["rows"]))
    def block(a, kshape, kstrides, rshape, rstrides, out, rows, length, chunk, init):
        cache = cuda.shared.array(threads, acc_dtype)
        tid = cuda.threadIdx.x
        c = cuda.blockIdx.x
        start = c * chunk
        stop = min(start + chunk, length)
        for r in range(cuda.blockIdx.y, rows, cuda.gridDim.y):
            base = offset(r, kshape, kstrides)
            acc = init
            for j in range(start + tid, stop, threads):
                acc = combine(acc, a[base + offset(j, rshape, rstrides)])
            acc = block_reduce(cache, acc)
            if tid == 0:
                out[r * cuda.gridDim.x + c] = acc

    return serial, block


# --- host side --------------------------------------------------------------------------------
def _use_serial_rows(rows, length, inner_stride, p):
    """One thread per row when rows are short, or when there are enough rows and the reduced
    elements are not adjacent in memory (e.g. summing a batch over axis 0: thread r walks
    column r, and neighbouring threads read neighbouring addresses)."""
    return length <= p.serial_row_max or (inner_stride != 1 and rows >= p.threads)


def _reduce(kind, a, axes, keepdims):
    out_dtype = dtypes.int64 if kind == "sum" and a.dtype is dtypes.bool_ else a.dtype
    kept = [d for d in range(len(a.shape)) if d not in axes]
    out_shape = tuple(1 if d in axes else n for d, n in enumerate(a.shape)) if keepdims \
        else tuple(a.shape[d] for d in kept)
    out = D.empty(out_shape, out_dtype)
    rows = D.size(out_shape)
    length = D.size([a.shape[d] for d in axes])
    init = _identity_value(kind, out_dtype)
    if rows == 0:
        return out
    if length == 0:
        return fill(out, init)
    kshape, (kstrides,) = D.collapse([a.shape[d] for d in kept], [[a.strides[d] for d in kept]])
    rshape, (rstrides,) = D.collapse([a.shape[d] for d in axes], [[a.strides[d] for d in axes]])
    p = D.POLICY or D.policy()
    acc_type = D.np_type(out_dtype)
    serial, block = reduce_kernels(kind, p.reduce_threads, acc_type, p.threads)
    src = D.dev(a)
    if _use_serial_rows(rows, length, rstrides[-1], p):
        blocks, threads = D.grid(rows)
        serial[blocks, threads](src, kshape, kstrides, rshape, rstrides, out.data, rows, length, init)
        return out
    while True:  # block passes: each folds chunks of every row into partials, until one is left
        chunks = D.reduce_chunks(rows, length, p)
        chunk = -(-length // chunks)
        dest = out.data if chunks == 1 else D.alloc(rows * chunks, acc_type)
        grid = (chunks, min(rows, 65535))
        block[grid, p.reduce_threads](src, kshape, kstrides, rshape, rstrides, dest, rows, length, chunk, init)
        if chunks == 1:
            return out
        src, kshape, kstrides, rshape, rstrides, length = dest, (rows,), (chunks,), (chunks,), (1,), chunks


def _identity_value(kind, dtype):
    t = D.np_type(dtype)
    if kind == "sum":
        return t(0)
    if dtype.is_float:
        return t(-np.inf)
    return t(False) if dtype is dtypes.bool_ else t(np.iinfo(np.int64).min)


def sum(a, axes, keepdims):
    return _reduce("sum", a, axes, keepdims)


def max(a, axes, keepdims):
    return _reduce("max", a, axes, keepdims)
