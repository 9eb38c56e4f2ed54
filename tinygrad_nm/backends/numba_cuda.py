"""The Numba CUDA backend: tensors live in GPU memory and every kernel runs on the device.

A buffer is a `CudaBuffer`: a view (shape, strides, offset, in elements) over a flat 1-D
device array. Views make reshape of contiguous data, permute, expand and basic indexing
free, the way NumPy's arrays do, and the kernels (cuda_kernels.py) take strides, so they
read any view directly; a kernel writes a new contiguous buffer, or, for assign/setitem,
into a view. Data crosses to the host only in `to_numpy` and `item` (so in `numpy()`,
`item()`, `tolist()` and printing), and from the host only in `from_numpy` (creation,
`.to("numba_cuda")`); scalars travel as kernel arguments.

Launch configuration is chosen per call from the shape (`LaunchPolicy` below): a grid of
256-thread blocks for elementwise work, a serial or a block-per-row kernel for reductions
and softmax rows, the direct, tiled or register-blocked kernel for matmul.

Without a GPU, `NUMBA_ENABLE_CUDASIM=1` set before numba is imported runs the same kernels
in Numba's CUDA simulator, one OS thread per CUDA thread: correct but slow, so the policy
then launches a few threads per kernel (the grid-stride loops make any count correct).
"""
import builtins
import math
import os
import sys
from dataclasses import dataclass

import numpy as np

from tinygrad_nm import dtypes

NAME = "numba_cuda"
_INSTALL = "pip install 'tinygrad_nm[cuda]' (or: pip install numba numba-cuda)"

try:
    from numba import config as _numba_config
    from numba import cuda

    import numba_cuda  # noqa: F401  the maintained CUDA target; numba's built-in one is deprecated
    from tinygrad_nm.backends import cuda_kernels as K
    _IMPORT_ERROR = None
except ImportError as e:  # the backend is then unavailable; unavailable_reason() says why
    cuda = K = _numba_config = None
    _IMPORT_ERROR = e

_NP = {"bool": np.bool_, "int64": np.int64, "float32": np.float32, "float64": np.float64}
_reason = None
_checked = False
_bmax, _bmin = builtins.max, builtins.min  # this module defines kernels called max, sum, abs and pow


def _simulated():
    return bool(_numba_config is not None and _numba_config.ENABLE_CUDASIM)


# napkin prices this backend as a GPU: a launch per kernel, the device's rates, host<->device transfers
PRICING = {"family": "gpu"}


def unavailable_reason():
    """None when kernels can run (a CUDA GPU, or the simulator); otherwise why not and the fix."""
    global _reason, _checked
    if not _checked:
        _reason, _checked = _find_reason(), True
    return _reason


def _find_reason():
    if _IMPORT_ERROR is not None:
        return f"numba-cuda is not installed ({_IMPORT_ERROR}); install it with {_INSTALL}"
    if _simulated():
        return None
    asked = os.environ.get("NUMBA_ENABLE_CUDASIM", "0").strip() not in ("", "0")
    if asked:
        return ("NUMBA_ENABLE_CUDASIM=1 was set after numba had been imported, so Numba runs its real "
                "CUDA target; set the variable before Python starts")
    try:
        cuda.get_current_device()
    except Exception as e:  # CudaSupportError and friends: no driver, no device
        detail = " ".join(str(e).split())[:200]
        return (f"no usable CUDA GPU ({detail}); use a machine with an NVIDIA GPU and driver, or set "
                f"NUMBA_ENABLE_CUDASIM=1 before Python starts to run the kernels in Numba's CUDA "
                f"simulator (slow: for tests)")
    try:
        from numba.cuda.cudadrv.nvvm import NVVM
    except ImportError:  # another numba-cuda layout: a missing compiler will say so at the first launch
        return None
    try:
        NVVM()
    except Exception as e:
        return (f"a CUDA GPU is present but Numba cannot compile for it: libNVVM was not found ({e}); "
                f"install the CUDA compiler libraries, e.g. pip install 'numba-cuda[cu12]' or 'numba-cuda[cu13]' "
                f"to match the driver")
    return None


# --- launch policy ----------------------------------------------------------------------------
@dataclass(frozen=True)
class LaunchPolicy:
    """How kernels are launched; chosen once for the device, replaceable (tests shrink it)."""
    threads: int          # threads per block of elementwise / gather kernels (grid-stride loops)
    thread_items: int     # ... but no more threads than n / thread_items for n items
    max_blocks: int       # at most this many blocks: enough to fill the GPU, then threads loop
    reduce_threads: int   # block size of cooperative reductions and softmax rows (a power of 2)
    reduce_items: int     # elements each reducing thread folds before a row is split in chunks
    serial_row_max: int   # rows this short are reduced by one thread each
    tile: int             # tiled matmul: tile x tile threads per block
    tiled_min: int        # matmul() takes the tiled kernel when both output sides reach this
    blocking: tuple       # register-blocked matmul: (BM, BN, BK, TM, TN)


def gpu_policy(sm_count):
    return LaunchPolicy(threads=256, thread_items=1, max_blocks=32 * sm_count, reduce_threads=256, reduce_items=16,
                        serial_row_max=32, tile=32, tiled_min=32, blocking=(128, 128, 8, 8, 8))


# The simulator pays ~0.1-0.5 ms per simulated thread and a few microseconds per element a
# thread handles: few threads, each doing more (>= 128 elements), is what keeps it fast. So
# matmul() prefers the direct kernel (grid-stride, <= 8 threads) and the register-blocked one
# (64 outputs per thread) to the tiled one (a thread per output), which tests call by name.
# Tests shrink these further to cross block and chunk boundaries with small data.
SIMULATOR_POLICY = LaunchPolicy(threads=8, thread_items=128, max_blocks=1, reduce_threads=4, reduce_items=64,
                                serial_row_max=64, tile=4, tiled_min=64, blocking=(16, 16, 8, 8, 8))
POLICY = None


def policy():
    global POLICY
    if POLICY is None:
        if _simulated():
            # The simulator's main thread polls its threads (started, waiting in syncthreads,
            # done) under the GIL; a short switch interval hands the GIL over sooner. Measured
            # here: the digits example 2-7x faster than with Python's default 5 ms.
            sys.setswitchinterval(_bmin(sys.getswitchinterval(), 1e-4))
            POLICY = SIMULATOR_POLICY
        else:
            _quiet_small_grid_warnings()
            POLICY = gpu_policy(cuda.get_current_device().MULTIPROCESSOR_COUNT)
    return POLICY


def _quiet_small_grid_warnings():
    """Numba warns on every launch of fewer than 128 blocks; a framework whose tensors are often
    small launches such grids on purpose (the grid is sized to the data)."""
    try:
        from numba.cuda.core import config as cuda_config
        cuda_config.CUDA_LOW_OCCUPANCY_WARNINGS = 0
    except (ImportError, AttributeError):  # another numba-cuda layout: the warnings stay
        pass


def _grid(n):
    """(blocks, threads) for a grid-stride kernel over n items."""
    p = POLICY or policy()
    threads = _bmax(1, min(p.threads, -(-n // p.thread_items)))
    return min(-(-n // threads), p.max_blocks), threads


# --- buffers ----------------------------------------------------------------------------------
class CudaBuffer:
    """A view over device storage: `data` (a flat 1-D device array), `shape`, `strides` and
    `offset` in elements, `dtype` (a DType)."""
    __slots__ = ("data", "shape", "strides", "offset", "dtype")

    def __init__(self, data, shape, strides, offset, dtype):
        self.data, self.shape, self.strides, self.offset, self.dtype = data, shape, strides, offset, dtype

    @property
    def size(self):
        return _size(self.shape)

    def __repr__(self):
        return f"CudaBuffer(shape={self.shape}, strides={self.strides}, offset={self.offset}, dtype={self.dtype})"


def _size(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def _row_major(shape):
    strides, s = [], 1
    for d in reversed(shape):
        strides.append(s)
        s *= d
    return tuple(reversed(strides))


def _empty(shape, dtype):
    shape = tuple(shape)
    return CudaBuffer(cuda.device_array(_size(shape), _NP[dtype.name]), shape, _row_major(shape), 0, dtype)


def _is_contiguous(a):
    expected = 1
    for n, s in zip(reversed(a.shape), reversed(a.strides)):
        if n != 1 and s != expected:
            return False
        expected *= n
    return True


def _contiguous(a):
    return a if _is_contiguous(a) else copy(a)


def _dev(a):
    """The device array the kernels index: storage starting at the view's first element."""
    return a.data if a.offset == 0 else a.data[a.offset:]


def _writable(a):
    """False for broadcast views (a stride 0 over a dimension longer than 1): one element
    stands for many, so writing through it is not what the caller means."""
    return all(s != 0 or n <= 1 for n, s in zip(a.shape, a.strides))


def _broadcast_shape(*shapes):
    ndim = _bmax(len(s) for s in shapes)
    out = [1] * ndim
    for s in shapes:
        for i, d in enumerate(s, ndim - len(s)):
            if d != 1:
                if out[i] not in (1, d):
                    raise ValueError(f"shapes {' and '.join(map(str, shapes))} do not broadcast")
                out[i] = d
    return tuple(out)


def _strides_for(a, shape):
    """a's strides when broadcast to `shape`: 0 along new and stretched dimensions."""
    lead = len(shape) - len(a.shape)
    return (0,) * lead + tuple(0 if n == 1 and m != 1 else s
                               for n, m, s in zip(a.shape, shape[lead:], a.strides))


def _collapse(shape, strides_list):
    """Merge neighbouring dimensions that are contiguous with each other in every operand and
    drop dimensions of size 1: (shape, [strides...]) with as few dimensions as possible (>= 1)."""
    merged_shape, merged = [], [[] for _ in strides_list]
    for d, n in enumerate(shape):
        if n == 1:
            continue
        if merged_shape and all(st[-1] == s[d] * n for st, s in zip(merged, strides_list)):
            merged_shape[-1] *= n
            for st, s in zip(merged, strides_list):
                st[-1] = s[d]
        else:
            merged_shape.append(n)
            for st, s in zip(merged, strides_list):
                st.append(s[d])
    if not merged_shape:  # a single element: any stride reaches it
        return (1,), [(1,)] * len(strides_list)
    return tuple(merged_shape), [tuple(st) for st in merged]


def _np_type(dtype):
    return _NP[dtype.name]


# --- the elementwise launcher -------------------------------------------------------------------
def _map(fn, inputs, dtype=None, p=0, q=0, out=None):
    """out[i] = fn(inputs[0][i], ..., p, q) over the inputs' broadcast shape; a new contiguous
    buffer of `dtype`, or written into the view `out`. p and q: scalars typed by the caller."""
    if out is None:
        out = _empty(_broadcast_shape(*[x.shape for x in inputs]) if inputs else (), dtype)
    shape = out.shape
    n = _size(shape)
    if n == 0:
        return out
    strides = [x.strides if x.shape == shape else _strides_for(x, shape) for x in inputs]
    cshape, cstrides = _collapse(shape, strides + [out.strides])
    contiguous, strided = K.map_kernels(fn, len(inputs))
    blocks, threads = _grid(n)
    arrays = [_dev(x) for x in inputs]
    if all(s == (1,) for s in cstrides):  # everything one run of n elements: no index arithmetic
        contiguous[blocks, threads](*arrays, _dev(out), n, p, q)
    else:
        args = []
        for arr, st in zip(arrays, cstrides):
            args += (arr, st)
        strided[blocks, threads](*args, _dev(out), cstrides[-1], cshape, n, p, q)
    return out


def _constants(dtype):
    t = _np_type(dtype)
    return t(0), t(1)


def _scalar(value, dtype):
    """A Python number as a kernel argument of the buffer's dtype (Numba types it from this)."""
    return _np_type(dtype)(value)


# --- storage ------------------------------------------------------------------------------------
def from_numpy(array, dtype):
    array = np.asarray(array)
    host = np.ascontiguousarray(array, dtype=_np_type(dtype)).reshape(-1)
    data = cuda.to_device(host) if host.size else cuda.device_array(0, host.dtype)
    return CudaBuffer(data, tuple(array.shape), _row_major(array.shape), 0, dtype)


def _to_host(device_array):
    """The one place device data is copied to the host."""
    return device_array.copy_to_host()


def to_numpy(a):
    n = a.size
    if n == 0:
        return np.empty(a.shape, dtype=_np_type(a.dtype))
    a = _contiguous(a)
    return _to_host(a.data[a.offset:a.offset + n]).reshape(a.shape)


def item(a):
    return _to_host(a.data[a.offset:a.offset + 1])[0].item()  # a one-element view: its element is at offset


def full(shape, value, dtype):
    return _fill(_empty(shape, dtype), value)


def _fill(out, value):
    return _map(K._identity_scalar, [], p=_scalar(value, out.dtype), q=_scalar(value, out.dtype), out=out)


def astype(a, dtype):
    return _map(K._identity, [a], dtype, *_constants(dtype))


def copy(a):
    return _map(K._identity, [a], a.dtype, *_constants(a.dtype))


def _write(view, value):
    """view[...] = value (a buffer broadcastable to the view, or a Python number), in place."""
    if isinstance(value, CudaBuffer):
        if value.data is view.data:  # overlapping source and destination: read from a copy
            value = copy(value)
        _map(K._identity, [value], out=view, p=_scalar(0, view.dtype), q=_scalar(0, view.dtype))
    else:
        _fill(view, value)


def writable(a):
    return a if _writable(a) else copy(a)  # a broadcast view gets storage of its own


def assign(a, value):
    if not _writable(a):  # a broadcast view: the result gets storage of its own
        out = _empty(a.shape, a.dtype)
        _write(out, value)
        return out
    _write(a, value)
    return a


def where(cond, a, b):
    if isinstance(a, CudaBuffer) and isinstance(b, CudaBuffer):
        return _map(K._where, [cond, a, b], a.dtype, *_constants(a.dtype))
    if isinstance(a, CudaBuffer):
        return _map(K._where_scalar_b, [cond, a], a.dtype, _scalar(b, a.dtype), _scalar(0, a.dtype))
    if isinstance(b, CudaBuffer):
        return _map(K._where_scalar_a, [cond, b], b.dtype, _scalar(a, b.dtype), _scalar(0, b.dtype))
    raise TypeError("where: at least one of a and b must be a buffer (the result takes its dtype)")


# --- elementwise ----------------------------------------------------------------------------------
def _unary(name):
    def kernel(a):
        return _map(K.UNARY[name], [a], a.dtype, *_constants(a.dtype))
    kernel.__name__ = name
    kernel.__doc__ = f"out[i] = {name}(a[i]) on the device."
    return kernel


neg, exp, log, sqrt, abs, sign, tanh, sigmoid, relu, atanh = (
    _unary(n) for n in ("neg", "exp", "log", "sqrt", "abs", "sign", "tanh", "sigmoid", "relu", "atanh"))


def relu_backward(x, g):
    return _map(K._relu_backward, [x, g], g.dtype, *_constants(g.dtype))


def sigmoid_backward(y, g):
    return _map(K._sigmoid_backward, [y, g], g.dtype, *_constants(g.dtype))


def tanh_backward(y, g):
    return _map(K._tanh_backward, [y, g], g.dtype, *_constants(g.dtype))


def _binary(name, compare=False):
    def kernel(a, b):
        both, scalar_right, scalar_left = K.binary_variants(name)
        if isinstance(a, CudaBuffer) and isinstance(b, CudaBuffer):
            dtype = dtypes.bool_ if compare else a.dtype
            return _map(both, [a, b], dtype, *_constants(a.dtype))
        buf, value, fn = (a, b, scalar_right) if isinstance(a, CudaBuffer) else (b, a, scalar_left)
        p = _compare_scalar(value, buf.dtype) if compare else _scalar(value, buf.dtype)
        return _map(fn, [buf], dtypes.bool_ if compare else buf.dtype, p, p)
    kernel.__name__ = name
    kernel.__doc__ = f"out = a {name} b with broadcasting; either may be a Python scalar."
    return kernel


def _compare_scalar(value, dtype):
    """Comparisons see the scalar's own value: int64 buffer < 2.5 must not compare with 2."""
    if isinstance(value, float) and not dtype.is_float:
        return np.float64(value)
    if isinstance(value, int) and not isinstance(value, bool) and dtype is dtypes.bool_:
        return np.int64(value)
    return _scalar(value, dtype)


add, sub, mul, div, pow = (_binary(n) for n in ("add", "sub", "mul", "div", "pow"))
lt, le, gt, ge, eq, ne = (_binary(n, compare=True) for n in ("lt", "le", "gt", "ge", "eq", "ne"))


# --- reductions -----------------------------------------------------------------------------------
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
    out = _empty(out_shape, out_dtype)
    rows = _size(out_shape)
    length = _size([a.shape[d] for d in axes])
    init = _identity_value(kind, out_dtype)
    if rows == 0:
        return out
    if length == 0:
        return _fill(out, init)
    kshape, (kstrides,) = _collapse([a.shape[d] for d in kept], [[a.strides[d] for d in kept]])
    rshape, (rstrides,) = _collapse([a.shape[d] for d in axes], [[a.strides[d] for d in axes]])
    p = POLICY or policy()
    acc_type = _np_type(out_dtype)
    serial, block = K.reduce_kernels(kind, p.reduce_threads, acc_type)
    src = _dev(a)
    if _use_serial_rows(rows, length, rstrides[-1], p):
        blocks, threads = _grid(rows)
        serial[blocks, threads](src, kshape, kstrides, rshape, rstrides, out.data, rows, length, init)
        return out
    while True:  # block passes: each folds chunks of every row into partials, until one is left
        per_block = p.reduce_threads * p.reduce_items
        chunks = min(-(-length // per_block), _bmax(1, p.max_blocks // rows))
        chunk = -(-length // chunks)
        dest = out.data if chunks == 1 else cuda.device_array(rows * chunks, acc_type)
        grid = (chunks, min(rows, 65535))
        block[grid, p.reduce_threads](src, kshape, kstrides, rshape, rstrides, dest, rows, length, chunk, init)
        if chunks == 1:
            return out
        src, kshape, kstrides, rshape, rstrides, length = dest, (rows,), (chunks,), (chunks,), (1,), chunks


def _identity_value(kind, dtype):
    t = _np_type(dtype)
    if kind == "sum":
        return t(0)
    if dtype.is_float:
        return t(-np.inf)
    return t(False) if dtype is dtypes.bool_ else t(np.iinfo(np.int64).min)


def sum(a, axes, keepdims):
    return _reduce("sum", a, axes, keepdims)


def max(a, axes, keepdims):
    return _reduce("max", a, axes, keepdims)


# --- movement ------------------------------------------------------------------------------------
def reshape(a, shape):
    shape = tuple(shape)
    a = _contiguous(a)
    return CudaBuffer(a.data, shape, _row_major(shape), a.offset, a.dtype)


def permute(a, axes):
    return CudaBuffer(a.data, tuple(a.shape[i] for i in axes), tuple(a.strides[i] for i in axes),
                      a.offset, a.dtype)


def expand(a, shape):
    shape = tuple(shape)
    if a.shape == shape:
        return a
    return CudaBuffer(a.data, shape, _strides_for(a, shape), a.offset, a.dtype)


def _index_view(a, index):
    """Apply the ints and slices of `index` as a view. Returns (view, axis, idx, to_front):
    the axis of the view an int64 index buffer `idx` selects along (None if there is none),
    and whether NumPy puts that axis first in the result (when ints and the array are not
    all adjacent in the index, as in a[1, :, idx])."""
    offset, shape, strides = a.offset, [], []
    axis = idx = None
    advanced = []  # positions in `index` of ints and the array: NumPy's "advanced" indices
    for pos, (entry, n, s) in enumerate(zip(index, a.shape, a.strides)):
        if isinstance(entry, slice):
            start, stop, step = entry.indices(n)
            length = len(range(start, stop, step))
            if length:
                offset += start * s
            shape.append(length)
            strides.append(s * step)
        elif isinstance(entry, CudaBuffer):
            axis, idx = len(shape), _contiguous(entry)
            shape.append(n)
            strides.append(s)
            advanced.append(pos)
        else:
            offset += int(entry) * s
            advanced.append(pos)
    shape += a.shape[len(index):]
    strides += a.strides[len(index):]
    to_front = idx is not None and advanced != list(range(advanced[0], advanced[0] + len(advanced)))
    return CudaBuffer(a.data, tuple(shape), tuple(strides), offset, a.dtype), axis, idx, to_front


def _front(ndim, axis):
    """The permutation that moves `axis` to the front."""
    return (axis,) + tuple(d for d in range(ndim) if d != axis)


def getitem(a, index):
    view, axis, idx, to_front = _index_view(a, index)
    if idx is None:
        return view
    shape = view.shape[:axis] + idx.shape + view.shape[axis + 1:]
    out = _empty(shape, a.dtype)
    n = out.size
    if n:
        blocks, threads = _grid(n)
        K.gather[blocks, threads](_dev(view), shape, view.strides, axis, _dev(idx), out.data, n)
    return permute(out, _front(len(shape), axis)) if to_front else out


def _scatter(kernel, view, axis, idx, to_front, value):
    """view[..., idx, ...] = value (or += with scatter_add), value broadcast to the result shape
    of the same getitem."""
    shape = view.shape[:axis] + idx.shape + view.shape[axis + 1:]
    if not isinstance(value, CudaBuffer):
        value = full((), value, view.dtype)
    elif value.data is view.data:
        value = copy(value)
    if to_front:  # value is laid out like getitem's result: move its first axis back in place
        front = _front(len(shape), axis)
        value = expand(value, tuple(shape[d] for d in front))
        value = permute(value, tuple(sorted(range(len(shape)), key=front.__getitem__)))
    else:
        value = expand(value, shape)
    n = _size(shape)
    if n:
        blocks, threads = _grid(n)
        kernel[blocks, threads](_dev(view), shape, view.strides, axis, _dev(idx), _dev(value), value.strides, n)


def setitem(a, index, value):
    view, axis, idx, to_front = _index_view(a, index)
    if idx is None:
        _write(view, value)
    else:
        _scatter(K.scatter, view, axis, idx, to_front, value)


def index_add(acc, index, g):
    acc = writable(acc)
    view, axis, idx, to_front = _index_view(acc, index)
    if idx is None:
        _write(view, add(view, g))
    else:
        _scatter(K.scatter_add, view, axis, idx, to_front, g)
    return acc


# --- softmax family ---------------------------------------------------------------------------
def _rows(shape, axis, *bufs):
    """Rows along `axis`: (kshape, [row strides per buffer], [axis stride per buffer], rows, length)."""
    kept = [d for d in range(len(shape)) if d != axis]
    kshape, kstrides = _collapse([shape[d] for d in kept], [[b.strides[d] for d in kept] for b in bufs])
    return kshape, kstrides, [b.strides[axis] for b in bufs], _size([shape[d] for d in kept]), shape[axis]


def _row_launch(kernels, rows, length, args):
    """Serial kernel (a thread per row) for short rows or many rows; else a block per row."""
    p = POLICY or policy()
    serial, block = kernels
    if length <= p.serial_row_max or rows >= 4 * p.max_blocks:
        blocks, threads = _grid(rows)
        serial[blocks, threads](*args)
    else:
        block[min(rows, p.max_blocks), p.reduce_threads](*args)


def _softmax(a, axis, log):
    out = _empty(a.shape, a.dtype)
    kshape, (xk, ok), (xs, os), rows, length = _rows(a.shape, axis, a, out)
    if rows and length:
        kernels = K.softmax_kernels(log, (POLICY or policy()).reduce_threads)
        _row_launch(kernels, rows, length, (_dev(a), xk, xs, out.data, ok, os, kshape, rows, length))
    return out


def softmax(a, axis):
    return _softmax(a, axis, False)


def log_softmax(a, axis):
    return _softmax(a, axis, True)


def _softmax_backward(y, g, axis, log):
    out = _empty(y.shape, y.dtype)
    kshape, (yk, gk, ok), (ys, gs, os), rows, length = _rows(y.shape, axis, y, g, out)
    if rows and length:
        kernels = K.softmax_backward_kernels(log, (POLICY or policy()).reduce_threads)
        _row_launch(kernels, rows, length,
                    (_dev(y), yk, ys, _dev(g), gk, gs, out.data, ok, os, kshape, rows, length))
    return out


def softmax_backward(y, g, axis):
    return _softmax_backward(y, g, axis, False)


def log_softmax_backward(y, g, axis):
    return _softmax_backward(y, g, axis, True)


def cross_entropy(logits, labels):
    rows, length = logits.shape
    probs = _empty((rows, length), logits.dtype)
    if rows == 0:
        return full((), math.nan, logits.dtype), probs
    losses = _empty((rows,), logits.dtype)
    kernels = K.cross_entropy_kernels((POLICY or policy()).reduce_threads)
    _row_launch(kernels, rows, length, (_dev(logits), logits.strides[0], logits.strides[1],
                                        _dev(_contiguous(labels)), probs.data, losses.data, rows, length,
                                        1.0 / rows))
    return sum(losses, (0,), False), probs


def cross_entropy_backward(probs, labels, g):
    rows, length = probs.shape
    probs = _contiguous(probs)
    out = _empty(probs.shape, probs.dtype)
    n = rows * length
    if n:
        blocks, threads = _grid(n)
        K.cross_entropy_backward[blocks, threads](_dev(probs), _dev(_contiguous(labels)), _dev(g), out.data,
                                                  rows, length, 1.0 / rows)
    return out


# --- matmul -------------------------------------------------------------------------------------------
def _as_2d(a):
    """A 2-D row-major device array with a's values (a copy only if a is not contiguous:
    e.g. the transposed operand of a backward pass; one O(MK) pass before O(MNK) work)."""
    a = _contiguous(a)
    return a.data[a.offset:a.offset + a.size].reshape(a.shape)


def matmul(a, b):
    """The register-blocked kernel once both output dimensions fill its block tile, else the tiled
    kernel once they fill a tile, else the direct one (a thin product: a tile would mostly idle)."""
    p = POLICY or policy()
    m, n = a.shape[0], b.shape[1]
    if m >= p.blocking[0] and n >= p.blocking[1]:
        return _matmul(a, b, "register_blocked")
    return _matmul(a, b, "tiled" if m >= p.tiled_min and n >= p.tiled_min else "direct")


def matmul_direct(a, b):
    return _matmul(a, b, "direct")


def matmul_tiled(a, b):
    return _matmul(a, b, "tiled")


def matmul_register_blocked(a, b):
    return _matmul(a, b, "register_blocked")


def _matmul(a, b, kind):
    (m, k), (_, n) = a.shape, b.shape
    if a.dtype is dtypes.bool_:  # logical matmul: count in int64, then any
        return ne(_matmul(astype(a, dtypes.int64), astype(b, dtypes.int64), kind), 0)
    out = _empty((m, n), a.dtype)
    if m == 0 or n == 0:
        return out
    if k == 0:
        return _fill(out, 0)
    A, B, C = _as_2d(a), _as_2d(b), out.data.reshape((m, n))
    p = POLICY or policy()
    dtype = _np_type(a.dtype)
    if kind == "direct":
        blocks, threads = _grid(m * n)
        K.direct_matmul(dtype)[blocks, threads](A, B, C, m, n, k)
        return out
    if kind == "tiled":
        t = p.tile
        kern = K.tiled_matmul(t, dtype, not (m % t == 0 and n % t == 0 and k % t == 0))
        rows_per_launch, block = t * 65535, (t, t)
    else:
        bm, bn, bk, tm, tn = p.blocking
        kern, threads = K.register_blocked_matmul(bm, bn, bk, tm, tn, dtype,
                                                  not (m % bm == 0 and n % bn == 0 and k % bk == 0))
        t, rows_per_launch, block = bm, bm * 65535, threads
    gx = -(-n // (t if kind == "tiled" else p.blocking[1]))
    for r0 in range(0, m, rows_per_launch):  # grid.y is limited to 65535 blocks: run in row slabs
        r1 = min(m, r0 + rows_per_launch)
        kern[(gx, -(-(r1 - r0) // t)), block](A[r0:r1], B, C[r0:r1], r1 - r0, n, k)
    return out


def synchronize():
    """Wait for every launched kernel (launches are asynchronous on a GPU): for timing."""
    cuda.synchronize()


def describe():
    """The device and versions, for benchmark records."""
    import numba
    info = {"numba": numba.__version__, "numba_cuda": getattr(sys.modules.get("numba_cuda"), "__version__", "?"),
            "simulator": _simulated()}
    if not _simulated():
        dev = cuda.get_current_device()
        info.update(device=dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name),
                    compute_capability=".".join(map(str, dev.compute_capability)),
                    multiprocessors=dev.MULTIPROCESSOR_COUNT)
        try:
            info["driver"] = ".".join(map(str, cuda.cudadrv.driver.driver.get_version()))
            info["runtime"] = ".".join(map(str, cuda.runtime.get_version()))
        except Exception as e:  # versions are informative only
            info["versions_error"] = str(e)
    return info
