"""The CUDA kernels of the numba_cuda backend, written with Numba.

Every kernel is made by a factory, cached, so that what a kernel must know at compile time
(the elementwise function it applies, the dtype of its shared memory, its tile sizes) is a
closure constant: Numba compiles one specialised kernel per combination, and the shapes,
strides and scalars are ordinary arguments.

How the kernels address memory: a tensor is a view (shape, strides, offset) over a flat 1-D
device array, and the host passes each kernel the flat array already advanced to the view's
offset. `_offset(i, shape, strides)` turns the i-th element in row-major order into a position
in that array, so one kernel reads contiguous, transposed, sliced and broadcast (stride 0)
operands alike. The host first merges dimensions that are contiguous with each other in
every operand, so the common case is one dimension and no division at all.

Grid-stride loops (`for i in range(cuda.grid(1), n, cuda.gridsize(1))`) make every
elementwise and row kernel correct for any launch configuration; the host picks one from
the shape (numba_cuda.LaunchPolicy). Kernels that cooperate through shared memory
(reductions, softmax rows, matmul tiles) get their block size at compile time.

In Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1) the same Python source runs on the CPU,
one OS thread per CUDA thread; `device()` then leaves device functions as plain Python
functions, because a simulated device-function call costs ~15 us (it swaps module globals)
against ~0.1 us for a plain call. The simulator runs module-level device functions with this
module's `cuda` swapped for its fake one, which is why they may use `cuda.syncthreads()`.
"""
import functools
import math
import sys
import threading
import traceback

import numpy as np
from numba import config, cuda

SIMULATOR = bool(config.ENABLE_CUDASIM)


def _make_simulator_shared_arrays_thread_safe():
    """Numba's simulator gives a block its shared arrays lazily: the first thread to reach
    `cuda.shared.array` creates it, keyed by the caller's file and line, with an unlocked
    check-then-insert. Two threads arriving together can each create one, and the block then
    reduces over two different arrays (seen here as a rare wrong sum). This installs the same
    allocator under a lock. Dynamic shared memory (shape 0) has no such race: left as it is."""
    from numba.cuda.simulator.kernelapi import FakeCUDAShared
    original = FakeCUDAShared.array
    if getattr(original, "thread_safe", False):
        return
    lock = threading.Lock()

    def array(self, shape, dtype, alignment=None):
        allocations = getattr(self, "_allocations", None)
        if shape == 0 or alignment is not None or allocations is None or not isinstance(dtype, type):
            return original(self, shape, dtype, alignment)  # the cases Numba's own code handles alone
        caller = traceback.extract_stack(sys._getframe(1), limit=1)[-1][0:2]  # (file, line), as Numba keys it
        with lock:
            res = allocations.get(caller)
            if res is None:
                res = allocations[caller] = np.empty(shape, np.dtype(dtype))
        return res

    array.thread_safe = True
    FakeCUDAShared.array = array


if SIMULATOR:
    _make_simulator_shared_arrays_thread_safe()


def device(fn):
    """`fn` as a CUDA device function (a plain Python function in the simulator, see above)."""
    return fn if SIMULATOR else cuda.jit(device=True)(fn)


def kernel(fn):
    return cuda.jit(fn)


# --- addressing -----------------------------------------------------------------------------
@device
def _offset(i, shape, strides):
    """Position of the i-th element (row-major over `shape`) in an array with `strides`."""
    if len(shape) == 1:  # the common case once dimensions are merged: no division
        return i * strides[0]
    off = 0
    for d in range(len(shape) - 1, -1, -1):
        n = shape[d]
        off += (i % n) * strides[d]
        i //= n
    return off


# --- elementwise functions ------------------------------------------------------------------
# Each unary function gets (x, zero, one): the constants 0 and 1 in x's dtype, passed by the
# host, so a float32 kernel stays in float32 (a Python literal like 1.0 is float64 in Numba
# and would widen the arithmetic). The guards keep the simulator, which runs these on NumPy
# scalars through Python's math module, from raising where CUDA returns inf or nan.
def _neg(x, zero, one): return -x
def _exp(x, zero, one): return math.inf if x > 709.78 else math.exp(x)
def _log(x, zero, one): return math.log(x) if x > zero else (-math.inf if x == zero else math.nan)
def _sqrt(x, zero, one): return math.sqrt(x) if x >= zero else math.nan
def _abs(x, zero, one): return abs(x)
def _sign(x, zero, one): return one if x > zero else (-one if x < zero else x)  # keeps nan and 0
def _tanh(x, zero, one): return math.tanh(x)
def _relu(x, zero, one): return x if x > zero or x != x else zero  # nan propagates, as np.maximum


def _atanh(x, zero, one):
    if -one < x < one:
        return math.atanh(x)
    if x == one or x == -one:
        return math.copysign(math.inf, x)
    return math.nan


def _sigmoid(x, zero, one):
    if x >= zero:  # exp of a non-positive number only: no overflow for large |x|
        return one / (one + math.exp(-x))
    e = math.exp(x)
    return e / (one + e)


UNARY = {"neg": _neg, "exp": _exp, "log": _log, "sqrt": _sqrt, "abs": _abs, "sign": _sign, "tanh": _tanh,
         "sigmoid": _sigmoid, "relu": _relu, "atanh": _atanh}


def _identity(x, p, q): return x  # copy / astype / assign: the store converts the dtype
def _identity_scalar(p, q): return p  # full / fill
def _relu_backward(x, g, zero, one): return g if x > zero else zero
def _sigmoid_backward(y, g, zero, one): return g * y * (one - y)
def _tanh_backward(y, g, zero, one): return g * (one - y * y)
def _where(c, x, y, p, q): return x if c else y
def _where_scalar_b(c, x, p, q): return x if c else p
def _where_scalar_a(c, y, p, q): return p if c else y
def _where_scalars(c, p, q): return p if c else q


ACTIVATION_BACKWARD = {"relu_backward": _relu_backward, "sigmoid_backward": _sigmoid_backward,
                       "tanh_backward": _tanh_backward}

BINARY = {
    "add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y, "pow": lambda x, y: x ** y,
    "lt": lambda x, y: x < y, "le": lambda x, y: x <= y, "gt": lambda x, y: x > y,
    "ge": lambda x, y: x >= y, "eq": lambda x, y: x == y, "ne": lambda x, y: x != y,
}


@functools.cache
def binary_variants(name):
    """The three shapes a binary op takes: (buffer, buffer), (buffer, scalar p), (scalar p, buffer)."""
    op = device(BINARY[name])
    return (device(lambda x, y, p, q: op(x, y)), device(lambda x, p, q: op(x, p)),
            device(lambda x, p, q: op(p, x)))


# --- map kernels: out[i] = fn(a[i], ..., p, q) over a broadcast shape ------------------------
@functools.cache
def map_kernels(fn, arity):
    """(contiguous, strided) kernels applying fn to `arity` input arrays and two scalars p, q.

    contiguous(a, [b, [c,]] out, n, p, q): every operand is a plain run of n elements.
    strided(a, sa, [b, sb, [c, sc,]] out, so, shape, n, p, q): any strides, per operand."""
    f = device(fn)
    if arity == 0:
        @kernel
        def contiguous(out, n, p, q):
            for i in range(cuda.grid(1), n, cuda.gridsize(1)):
                out[i] = f(p, q)

        @kernel
        def strided(out, so, shape, n, p, q):
            for i in range(cuda.grid(1), n, cuda.gridsize(1)):
                out[_offset(i, shape, so)] = f(p, q)
    elif arity == 1:
        @kernel
        def contiguous(a, out, n, p, q):
            for i in range(cuda.grid(1), n, cuda.gridsize(1)):
                out[i] = f(a[i], p, q)

        @kernel
        def strided(a, sa, out, so, shape, n, p, q):
            for i in range(cuda.grid(1), n, cuda.gridsize(1)):
                out[_offset(i, shape, so)] = f(a[_offset(i, shape, sa)], p, q)
    elif arity == 2:
        @kernel
        def contiguous(a, b, out, n, p, q):
            for i in range(cuda.grid(1), n, cuda.gridsize(1)):
                out[i] = f(a[i], b[i], p, q)

        @kernel
        def strided(a, sa, b, sb, out, so, shape, n, p, q):
            for i in range(cuda.grid(1), n, cuda.gridsize(1)):
                out[_offset(i, shape, so)] = f(a[_offset(i, shape, sa)], b[_offset(i, shape, sb)], p, q)
    elif arity == 3:
        @kernel
        def contiguous(a, b, c, out, n, p, q):
            for i in range(cuda.grid(1), n, cuda.gridsize(1)):
                out[i] = f(a[i], b[i], c[i], p, q)

        @kernel
        def strided(a, sa, b, sb, c, sc, out, so, shape, n, p, q):
            for i in range(cuda.grid(1), n, cuda.gridsize(1)):
                out[_offset(i, shape, so)] = f(a[_offset(i, shape, sa)], b[_offset(i, shape, sb)],
                                               c[_offset(i, shape, sc)], p, q)
    else:
        raise ValueError(f"map kernels take 0 to 3 input arrays, not {arity}")
    return contiguous, strided


# --- block-wide reductions through shared memory ----------------------------------------------
@device
def _max_nan(acc, x):
    """max that keeps a nan once seen, like np.max."""
    return x if x > acc or x != x else acc


@device
def _block_sum(cache, value):
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


@device
def _block_max(cache, value):
    tid = cuda.threadIdx.x
    cache[tid] = value
    cuda.syncthreads()
    step = cache.shape[0] // 2
    while step > 0:
        if tid < step:
            cache[tid] = _max_nan(cache[tid], cache[tid + step])
        cuda.syncthreads()
        step //= 2
    total = cache[0]
    cuda.syncthreads()
    return total


@functools.cache
def reduce_kernels(kind, threads, acc_dtype):
    """(serial, block) kernels reducing `rows` rows of `length` elements each with sum or max.

    The host arranges the input as rows x length: the kept axes (merged into kshape/kstrides)
    index the row, the reduced axes (rshape/rstrides) the position inside it.
    serial: one thread per row, for short rows or rows whose elements lie far apart (then
        neighbouring threads read neighbouring memory).
    block: grid (chunks, rows); each block folds one chunk of one row into out[row * chunks +
        chunk]. With several chunks the host runs it again on those partials, so rows of any
        length are reduced without atomics, deterministically."""
    combine = device((lambda acc, x: acc + x) if kind == "sum" else (lambda acc, x: _max_nan(acc, x)))
    block_reduce = _block_sum if kind == "sum" else _block_max

    @kernel
    def serial(a, kshape, kstrides, rshape, rstrides, out, rows, length, init):
        for r in range(cuda.grid(1), rows, cuda.gridsize(1)):
            base = _offset(r, kshape, kstrides)
            acc = init
            for j in range(length):
                acc = combine(acc, a[base + _offset(j, rshape, rstrides)])
            out[r] = acc

    @kernel
    def block(a, kshape, kstrides, rshape, rstrides, out, rows, length, chunk, init):
        cache = cuda.shared.array(threads, acc_dtype)
        tid = cuda.threadIdx.x
        c = cuda.blockIdx.x
        start = c * chunk
        stop = min(start + chunk, length)
        for r in range(cuda.blockIdx.y, rows, cuda.gridDim.y):
            base = _offset(r, kshape, kstrides)
            acc = init
            for j in range(start + tid, stop, threads):
                acc = combine(acc, a[base + _offset(j, rshape, rstrides)])
            acc = block_reduce(cache, acc)
            if tid == 0:
                out[r * cuda.gridDim.x + c] = acc

    return serial, block


# --- softmax family: one row at a time along the softmax axis ------------------------------------
# Row statistics (max, sum of exponentials, dot products) are kept in float64 whatever the
# input dtype: the rows are memory-bound, and it makes the serial and block variants agree.
@device
def _row_max(x, base, stride, start, length, step):
    m = -math.inf
    for j in range(start, length, step):
        m = _max_nan(m, x[base + j * stride])
    return m


@device
def _row_sum_exp(x, base, stride, start, length, step, m):
    s = 0.0
    for j in range(start, length, step):
        s += math.exp(x[base + j * stride] - m)
    return s


@device
def _write_softmax(x, xb, xs, out, ob, os, start, length, step, m, s, log):
    if log:
        lse = m + math.log(s)
        for j in range(start, length, step):
            out[ob + j * os] = x[xb + j * xs] - lse
    else:
        for j in range(start, length, step):
            out[ob + j * os] = math.exp(x[xb + j * xs] - m) / s


@device
def _row_dot(y, yb, ys, g, gb, gs, start, length, step, log):
    d = 0.0
    for j in range(start, length, step):
        d += g[gb + j * gs] if log else g[gb + j * gs] * y[yb + j * ys]
    return d


@device
def _write_softmax_backward(y, yb, ys, g, gb, gs, out, ob, os, start, length, step, d, log):
    for j in range(start, length, step):
        yj = y[yb + j * ys]
        gj = g[gb + j * gs]
        out[ob + j * os] = gj - math.exp(yj) * d if log else yj * (gj - d)


@functools.cache
def softmax_kernels(log, threads):
    """(serial, block) kernels for softmax (log=False) or log_softmax (log=True) along rows.
    Arguments: x, xk (row strides), xs (stride along the axis), out, ok, os, kshape, rows, length.
    serial: one thread per row. block: one block per row, the threads striding along it."""
    @kernel
    def serial(x, xk, xs, out, ok, os, kshape, rows, length):
        for r in range(cuda.grid(1), rows, cuda.gridsize(1)):
            xb = _offset(r, kshape, xk)
            ob = _offset(r, kshape, ok)
            m = _row_max(x, xb, xs, 0, length, 1)
            s = _row_sum_exp(x, xb, xs, 0, length, 1, m)
            _write_softmax(x, xb, xs, out, ob, os, 0, length, 1, m, s, log)

    @kernel
    def block(x, xk, xs, out, ok, os, kshape, rows, length):
        cache = cuda.shared.array(threads, np.float64)
        tid = cuda.threadIdx.x
        for r in range(cuda.blockIdx.x, rows, cuda.gridDim.x):
            xb = _offset(r, kshape, xk)
            ob = _offset(r, kshape, ok)
            m = _block_max(cache, _row_max(x, xb, xs, tid, length, threads))
            s = _block_sum(cache, _row_sum_exp(x, xb, xs, tid, length, threads, m))
            _write_softmax(x, xb, xs, out, ob, os, tid, length, threads, m, s, log)

    return serial, block


@functools.cache
def softmax_backward_kernels(log, threads):
    """(serial, block): softmax: out = y * (g - sum(g * y)); log_softmax: out = g - exp(y) * sum(g)."""
    @kernel
    def serial(y, yk, ys, g, gk, gs, out, ok, os, kshape, rows, length):
        for r in range(cuda.grid(1), rows, cuda.gridsize(1)):
            yb = _offset(r, kshape, yk)
            gb = _offset(r, kshape, gk)
            ob = _offset(r, kshape, ok)
            d = _row_dot(y, yb, ys, g, gb, gs, 0, length, 1, log)
            _write_softmax_backward(y, yb, ys, g, gb, gs, out, ob, os, 0, length, 1, d, log)

    @kernel
    def block(y, yk, ys, g, gk, gs, out, ok, os, kshape, rows, length):
        cache = cuda.shared.array(threads, np.float64)
        tid = cuda.threadIdx.x
        for r in range(cuda.blockIdx.x, rows, cuda.gridDim.x):
            yb = _offset(r, kshape, yk)
            gb = _offset(r, kshape, gk)
            ob = _offset(r, kshape, ok)
            d = _block_sum(cache, _row_dot(y, yb, ys, g, gb, gs, tid, length, threads, log))
            _write_softmax_backward(y, yb, ys, g, gb, gs, out, ob, os, tid, length, threads, d, log)

    return serial, block


@functools.cache
def cross_entropy_kernels(threads):
    """(serial, block) fused cross-entropy forward over logits x (rows, classes) with strides
    (x0, x1): probs[r, :] = softmax(x[r, :]) (contiguous) and
    losses[r] = -log_softmax(x[r, :])[labels[r]] * scale, scale = 1 / rows, summed by the host."""
    @kernel
    def serial(x, x0, x1, labels, probs, losses, rows, length, scale):
        for r in range(cuda.grid(1), rows, cuda.gridsize(1)):
            xb = r * x0
            m = _row_max(x, xb, x1, 0, length, 1)
            s = _row_sum_exp(x, xb, x1, 0, length, 1, m)
            _write_softmax(x, xb, x1, probs, r * length, 1, 0, length, 1, m, s, False)
            losses[r] = (m + math.log(s) - x[xb + labels[r] * x1]) * scale

    @kernel
    def block(x, x0, x1, labels, probs, losses, rows, length, scale):
        cache = cuda.shared.array(threads, np.float64)
        tid = cuda.threadIdx.x
        for r in range(cuda.blockIdx.x, rows, cuda.gridDim.x):
            xb = r * x0
            m = _block_max(cache, _row_max(x, xb, x1, tid, length, threads))
            s = _block_sum(cache, _row_sum_exp(x, xb, x1, tid, length, threads, m))
            _write_softmax(x, xb, x1, probs, r * length, 1, tid, length, threads, m, s, False)
            if tid == 0:
                losses[r] = (m + math.log(s) - x[xb + labels[r] * x1]) * scale

    return serial, block


@kernel
def cross_entropy_backward(probs, labels, g, out, rows, length, scale):
    """out[r, c] = g[0] * scale * (probs[r, c] - (c == labels[r])): g stays on the device."""
    gs = g[0] * scale
    for i in range(cuda.grid(1), rows * length, cuda.gridsize(1)):
        r = i // length
        c = i - r * length
        p = probs[i]
        out[i] = gs * (p - 1) if c == labels[r] else gs * p


# --- gather / scatter along one axis (integer-array indexing) ----------------------------------
@device
def _indexed_offset(i, shape, strides, axis, idx):
    """Like _offset, but the coordinate along `axis` is looked up in the index array."""
    off = 0
    for d in range(len(shape) - 1, -1, -1):
        n = shape[d]
        c = i % n
        i //= n
        if d == axis:
            c = idx[c]
        off += c * strides[d]
    return off


@kernel
def gather(src, shape, strides, axis, idx, out, n):
    """out[i] = src[position of element i, its coordinate on `axis` replaced by idx[...]]."""
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        out[i] = src[_indexed_offset(i, shape, strides, axis, idx)]


@kernel
def scatter(dst, shape, strides, axis, idx, val, vstrides, n):
    """dst[indexed position of i] = val[i]: setitem. Repeated indices: one of the writes wins."""
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        dst[_indexed_offset(i, shape, strides, axis, idx)] = val[_offset(i, shape, vstrides)]


@kernel
def scatter_add(dst, shape, strides, axis, idx, val, vstrides, n):
    """dst[indexed position of i] += val[i], atomically: repeated indices accumulate (index_add)."""
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        cuda.atomic.add(dst, _indexed_offset(i, shape, strides, axis, idx), val[_offset(i, shape, vstrides)])


# --- matmul ------------------------------------------------------------------------------------
@functools.cache
def direct_matmul(dtype):
    """C = A @ B (2-D, contiguous) with one thread per output element reading A's row and B's
    column straight from global memory: for products with a thin side (a matrix times a
    vector, a batch of 4 times 10 classes) where a shared-memory tile would mostly idle.
    Neighbouring threads take neighbouring columns: B and C accesses are coalesced."""
    zero = dtype(0)

    @kernel
    def matmul(A, B, C, M, N, K):
        for e in range(cuda.grid(1), M * N, cuda.gridsize(1)):
            i = e // N
            j = e - i * N
            acc = zero
            for k in range(K):
                acc += A[i, k] * B[k, j]
            C[i, j] = acc

    return matmul


@functools.cache
def tiled_matmul(tile, dtype, checked):
    """C = A @ B (2-D, contiguous), one thread per output element, blocks of tile x tile threads.

    Each block walks K in steps of `tile`, staging a tile of A and one of B in shared memory so
    that every element loaded from global memory is used `tile` times. threadIdx.x runs along
    the columns: the loads of B and stores of C are coalesced, and sA[ty, k] is one address per
    warp (a broadcast). checked=False drops the bounds tests when the shape is a tile multiple."""
    zero = dtype(0)

    @kernel
    def matmul(A, B, C, M, N, K):
        sA = cuda.shared.array((tile, tile), dtype)
        sB = cuda.shared.array((tile, tile), dtype)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        row = cuda.blockIdx.y * tile + ty
        col = cuda.blockIdx.x * tile + tx
        acc = zero
        for k0 in range(0, K, tile):
            if checked:
                sA[ty, tx] = A[row, k0 + tx] if row < M and k0 + tx < K else zero
                sB[ty, tx] = B[k0 + ty, col] if k0 + ty < K and col < N else zero
            else:
                sA[ty, tx] = A[row, k0 + tx]
                sB[ty, tx] = B[k0 + ty, col]
            cuda.syncthreads()
            for k in range(tile):
                acc += sA[ty, k] * sB[k, tx]
            cuda.syncthreads()
        if not checked or (row < M and col < N):
            C[row, col] = acc

    return matmul


@functools.cache
def register_blocked_matmul(bm, bn, bk, tm, tn, dtype, checked):
    """C = A @ B with 2-D register blocking: a block of (bm/tm) * (bn/tn) threads computes a
    bm x bn tile of C, each thread a tm x tn sub-tile held in registers.

    Per step of bk along K the block stages A[bm, bk] (transposed, so a thread's tm values for
    one k are contiguous) and B[bk, bn] in shared memory; then for each k a thread loads tm
    values of A and tn of B into registers and does tm * tn multiply-adds with them: tm * tn
    FMAs per tm + tn shared-memory loads, against 1 per 2 in the tiled kernel. A thread's tn
    columns are strided by the number of column groups (bn / tn), so a warp reads consecutive
    words of sB (no bank conflicts) and writes consecutive columns of C. The loops over the
    sub-tile have constant trip counts: LLVM unrolls them and the local arrays live in registers.

    The inner loop reads the (flat) shared tiles through unsigned running indices. Numba gives
    every signed index a negative-index fix-up (i + n if i < 0), which here cost more integer
    instructions than there are FMAs; an unsigned index cannot be negative, and one advanced by
    a constant per k leaves each load at a register plus a constant offset (the PTX of this loop
    is its 64 FMAs, 16 shared loads and the two increments)."""
    threads = (bm // tm) * (bn // tn)
    col_groups = bn // tn
    a_size, b_size = bk * bm, bk * bn
    zero = dtype(0)
    U = np.uint64

    @kernel
    def matmul(A, B, C, M, N, K):
        sA = cuda.shared.array(a_size, dtype)  # sA[k * bm + m] = A[brow + m, k0 + k]
        sB = cuda.shared.array(b_size, dtype)  # sB[k * bn + n] = B[k0 + k, bcol + n]
        acc = cuda.local.array((tm, tn), dtype)
        ra = cuda.local.array(tm, dtype)
        rb = cuda.local.array(tn, dtype)
        tid = cuda.threadIdx.x
        trow = (tid // col_groups) * tm  # this thread's rows trow .. trow + tm - 1 of the tile,
        tcol = tid % col_groups  # and its columns tcol, tcol + col_groups, tcol + 2 * col_groups, ...
        brow = cuda.blockIdx.y * bm
        bcol = cuda.blockIdx.x * bn
        for i in range(tm):
            for j in range(tn):
                acc[i, j] = zero
        for k0 in range(0, K, bk):
            for e in range(tid, a_size, threads):  # consecutive threads read along a row of A
                r = e // bk
                c = e - r * bk
                if checked:
                    sA[c * bm + r] = A[brow + r, k0 + c] if brow + r < M and k0 + c < K else zero
                else:
                    sA[c * bm + r] = A[brow + r, k0 + c]
            for e in range(tid, b_size, threads):  # ... and along a row of B
                r = e // bn
                c = e - r * bn
                if checked:
                    sB[e] = B[k0 + r, bcol + c] if k0 + r < K and bcol + c < N else zero
                else:
                    sB[e] = B[k0 + r, bcol + c]
            cuda.syncthreads()
            ia = U(trow)
            ib = U(tcol)
            for kk in range(bk):
                for i in range(tm):
                    ra[i] = sA[ia + U(i)]
                for j in range(tn):
                    rb[j] = sB[ib + U(j * col_groups)]
                for i in range(tm):
                    for j in range(tn):
                        acc[i, j] += ra[i] * rb[j]
                ia += U(bm)
                ib += U(bn)
            cuda.syncthreads()
        for i in range(tm):
            for j in range(tn):
                r = brow + trow + i
                c = bcol + tcol + j * col_groups
                if not checked or (r < M and c < N):
                    C[r, c] = acc[i, j]

    return matmul, threads
