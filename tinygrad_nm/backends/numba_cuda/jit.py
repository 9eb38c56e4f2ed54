"""How the package's kernels are compiled and launched: the decorators, element addressing, and
the one launcher every elementwise kernel goes through (`map_`).

Every kernel is made by a factory, cached, so that what a kernel must know at compile time
(the elementwise function it applies, the dtype of its shared memory, its tile sizes) is a
closure constant: Numba compiles one specialised kernel per combination, and the shapes,
strides and scalars are ordinary arguments.

How kernels address memory: the host passes each kernel the flat device array already advanced
to the view's offset, and `offset(i, shape, strides)` (strided.ordinal_to_position, the index
arithmetic every layer shares) turns the i-th element in row-major order into a position in it, so one kernel reads contiguous, transposed, sliced and broadcast (stride 0)
operands alike. The host first merges dimensions that are contiguous with each other in every
operand (`device.collapse`), so the common case is one dimension and no division at all.

Grid-stride loops (`for i in range(cuda.grid(1), n, cuda.gridsize(1))`) make every elementwise
and row kernel correct for any launch configuration; the host picks one from the shape
(device.LaunchPolicy). Kernels that cooperate through shared memory (reductions, softmax rows,
matmul tiles) get their block size at compile time.

In Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1) the same Python source runs on the CPU, one
OS thread per CUDA thread; `device_function()` then leaves device functions as plain Python
functions, because a simulated device-function call costs ~15 us (it swaps module globals)
against ~0.1 us for a plain call (those that use `cuda` themselves are `cooperative_function`s).
"""
import functools
import math
import sys
import threading
import traceback

import numpy as np
from numba import config, cuda

from tinygrad_nm.backends import strided
from tinygrad_nm.backends.numba_cuda import device as D

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


def device_function(fn):
    """`fn` as a CUDA device function (a plain Python function in the simulator, see above)."""
    return fn if SIMULATOR else cuda.jit(device=True)(fn)


def cooperative_function(fn):
    """A device function that itself uses `cuda` (threadIdx, syncthreads), called from kernels in
    other modules: compiled as a device function in the simulator too, because the simulator
    swaps in its fake `cuda` only in the module of the function it runs (the ~15 us per call are
    paid a few times per row, not per element)."""
    return cuda.jit(device=True)(fn)


def kernel(fn=None, *, bound=None):
    """A CUDA kernel. bound=(threads, occupancy): it is launched with at most `threads` per block
    and needs that occupancy (device.ASSUMED_OCCUPANCY), so ptxas must fit enough blocks per SM
    in the register file (CUDA's launch bounds; the simulator has none)."""
    if fn is None:
        return functools.partial(kernel, bound=bound)
    if bound is None or SIMULATOR:
        return cuda.jit(fn)
    threads, occupancy = bound
    return cuda.jit(fn, launch_bounds=(threads, max(1, math.ceil(occupancy * D.SM_THREADS / threads))))


# --- addressing: strided.py's element-level functions, compiled as device functions -------------
offset = device_function(strided.ordinal_to_position)       # (i, shape, strides) -> position of element i
indexed_offset = device_function(strided.indexed_position)  # ... its coordinate on `axis` looked up in idx


# --- map kernels: out[i] = fn(a[i], ..., p, q) over a broadcast shape ------------------------
@functools.cache
def map_kernels(fn, arity):
    """(contiguous, strided) kernels applying fn to `arity` input arrays and two scalars p, q.

    contiguous(a, [b, [c,]] out, n, p, q): every operand is a plain run of n elements.
    strided(a, sa, [b, sb, [c, sc,]] out, so, shape, n, p, q): any strides, per operand."""
    f = device_function(fn)
    if arity == 0:
        @kernel
        def contiguous(out, n, p, q):
            for i in range(cuda.grid(1), n, cuda.gridsize(1)):
                out[i] = f(p, q)

        @kernel
        def strided(out, so, shape, n, p, q):
            for i in range(cuda.grid(1), n, cuda.gridsize(1)):
                out[offset(i, shape, so)] = f(p, q)
    elif arity == 1:
        @kernel
        def contiguous(a, out, n, p, q):
            for i in range(cuda.grid(1), n, cuda.gridsize(1)):
                out[i] = f(a[i], p, q)

        @kernel
        def strided(a, sa, out, so, shape, n, p, q):
            for i in range(cuda.grid(1), n, cuda.gridsize(1)):
                out[offset(i, shape, so)] = f(a[offset(i, shape, sa)], p, q)
    elif arity == 2:
        @kernel
        def contiguous(a, b, out, n, p, q):
            for i in range(cuda.grid(1), n, cuda.gridsize(1)):
                out[i] = f(a[i], b[i], p, q)

        @kernel
        def strided(a, sa, b, sb, out, so, shape, n, p, q):
            for i in range(cuda.grid(1), n, cuda.gridsize(1)):
                out[offset(i, shape, so)] = f(a[offset(i, shape, sa)], b[offset(i, shape, sb)], p, q)
    elif arity == 3:
        @kernel
        def contiguous(a, b, c, out, n, p, q):
            for i in range(cuda.grid(1), n, cuda.gridsize(1)):
                out[i] = f(a[i], b[i], c[i], p, q)

        @kernel
        def strided(a, sa, b, sb, c, sc, out, so, shape, n, p, q):
            for i in range(cuda.grid(1), n, cuda.gridsize(1)):
                out[offset(i, shape, so)] = f(a[offset(i, shape, sa)], b[offset(i, shape, sb)],
                                              c[offset(i, shape, sc)], p, q)
    else:
        raise ValueError(f"map kernels take 0 to 3 input arrays, not {arity}")
    return contiguous, strided


def map_(fn, inputs, dtype=None, p=0, q=0, out=None):
    """out[i] = fn(inputs[0][i], ..., p, q) over the inputs' broadcast shape; a new contiguous
    buffer of `dtype`, or written into the view `out`. p and q: scalars typed by the caller."""
    if out is None:
        out = D.empty(D.broadcast_shape(*[x.shape for x in inputs]) if inputs else (), dtype)
    shape = out.shape
    n = D.size(shape)
    if n == 0:
        return out
    strides = [x.strides if x.shape == shape else D.strides_for(x, shape) for x in inputs]
    cshape, cstrides = D.collapse(shape, strides + [out.strides])
    contiguous, strided = map_kernels(fn, len(inputs))
    blocks, threads = D.grid(n)
    arrays = [D.dev(x) for x in inputs]
    if all(s == (1,) for s in cstrides):  # everything one run of n elements: no index arithmetic
        contiguous[blocks, threads](*arrays, D.dev(out), n, p, q)
    else:
        args = []
        for arr, st in zip(arrays, cstrides):
            args += (arr, st)
        strided[blocks, threads](*args, D.dev(out), cstrides[-1], cshape, n, p, q)
    return out


def constants(dtype):
    """(0, 1) in the buffer's dtype: what unary device functions get, so float32 stays float32."""
    t = D.np_type(dtype)
    return t(0), t(1)


def scalar(value, dtype):
    """A Python number as a kernel argument of the buffer's dtype (Numba types it from this)."""
    return D.np_type(dtype)(value)
