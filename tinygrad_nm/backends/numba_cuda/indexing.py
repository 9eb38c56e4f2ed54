"""Movement and indexing: reshape, permute, expand and basic indexing as views (no kernel), and
integer-array indexing as gather / scatter / scatter-add kernels along one axis.
"""
from numba import cuda

from tinygrad_nm import dtypes
from tinygrad_nm.backends import strided
from tinygrad_nm.backends.kernels import of_family
from tinygrad_nm.backends.numba_cuda import device as D
from tinygrad_nm.backends.numba_cuda.device import CudaBuffer
from tinygrad_nm.backends.numba_cuda.elementwise import add
from tinygrad_nm.backends.numba_cuda.jit import indexed_offset, kernel, offset
from tinygrad_nm.backends.numba_cuda.storage import contiguous, copy, full, writable, write

__all__ = list(of_family("movement")) + ["getitem", "setitem", "index_add"]  # assign: storage.py


# --- device side: gather / scatter along one axis ----------------------------------------------
@kernel
def gather(src, shape, strides, axis, idx, out, n):
    """out[i] = src[position of element i, its coordinate on `axis` replaced by idx[...]]."""
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        out[i] = src[indexed_offset(i, shape, strides, axis, idx)]


@kernel
def last_writer(idx, winner, m):
    """winner[idx[p]] = the largest p naming that index: of repeated indices, the one that writes."""
    for p in range(cuda.grid(1), m, cuda.gridsize(1)):
        cuda.atomic.max(winner, idx[p], p)


@kernel
def scatter(dst, shape, strides, axis, idx, val, vstrides, n):
    """dst[indexed position of i] = val[i]: setitem where repeated indices write equal values."""
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        dst[indexed_offset(i, shape, strides, axis, idx)] = val[offset(i, shape, vstrides)]


@kernel
def scatter_last(dst, shape, strides, axis, idx, val, vstrides, winner, inner, n):
    """scatter where the values differ along `axis`: of repeated indices the last one writes, as in
    NumPy and PyTorch on a CPU (threads racing to the same element would leave any one of them);
    element i's position in idx is its coordinate on `axis`, `inner` elements apart."""
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        c = (i // inner) % shape[axis]
        if winner[idx[c]] == c:
            dst[indexed_offset(i, shape, strides, axis, idx)] = val[offset(i, shape, vstrides)]


@kernel
def scatter_add(dst, shape, strides, axis, idx, val, vstrides, n):
    """dst[indexed position of i] += val[i], atomically: repeated indices accumulate (index_add)."""
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        cuda.atomic.add(dst, indexed_offset(i, shape, strides, axis, idx), val[offset(i, shape, vstrides)])


# --- host side: views -------------------------------------------------------------------------
def reshape(a, shape):
    """A view where PyTorch's rule finds strides for the new shape (strided.reshape_strides), else a copy."""
    shape = tuple(shape)
    strides = strided.reshape_strides(a.shape, a.strides, shape)
    if strides is None:
        a, strides = contiguous(a), D.row_major(shape)
    return CudaBuffer(a.data, shape, strides, a.offset, a.dtype)


def permute(a, axes):
    return CudaBuffer(a.data, tuple(a.shape[i] for i in axes), tuple(a.strides[i] for i in axes),
                      a.offset, a.dtype)


def expand(a, shape):
    shape = tuple(shape)
    if a.shape == shape:
        return a
    return CudaBuffer(a.data, shape, D.strides_for(a, shape), a.offset, a.dtype)


def _index_view(a, index):
    """Apply the ints and slices of `index` as a view. Returns (view, axis, idx, to_front):
    the axis of the view an int64 index buffer `idx` selects along (None if there is none),
    and whether NumPy puts that axis first in the result (strided.array_axis_first)."""
    offset_, shape, strides = a.offset, [], []
    axis = idx = None
    for entry, n, s in zip(index, a.shape, a.strides):
        if isinstance(entry, slice):
            start, stop, step = entry.indices(n)
            length = len(range(start, stop, step))
            if length:
                offset_ += start * s
            shape.append(length)
            strides.append(s * step)
        elif isinstance(entry, CudaBuffer):
            axis, idx = len(shape), contiguous(entry)
            shape.append(n)
            strides.append(s)
        else:
            offset_ += int(entry) * s
    shape += a.shape[len(index):]
    strides += a.strides[len(index):]
    to_front = idx is not None and strided.array_axis_first(index)
    return CudaBuffer(a.data, tuple(shape), tuple(strides), offset_, a.dtype), axis, idx, to_front


def _front(ndim, axis):
    """The permutation that moves `axis` to the front."""
    return (axis,) + tuple(d for d in range(ndim) if d != axis)


# --- host side: integer-array indexing ----------------------------------------------------------
def getitem(a, index):
    view, axis, idx, to_front = _index_view(a, index)
    if idx is None:
        return view
    shape = view.shape[:axis] + idx.shape + view.shape[axis + 1:]
    out = D.empty(shape, a.dtype)
    n = out.size
    if n:
        blocks, threads = D.grid(n)
        gather[blocks, threads](D.dev(view), shape, view.strides, axis, D.dev(idx), out.data, n)
    return permute(out, _front(len(shape), axis)) if to_front else out


def _scatter(kern, view, axis, idx, to_front, value):
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
    n = D.size(shape)
    if n:
        args = (D.dev(view), shape, view.strides, axis, D.dev(idx), D.dev(value), value.strides)
        if kern is scatter and idx.size > 1 and value.strides[axis] != 0:  # repeats could differ: find the last
            winner = full((view.shape[axis],), -1, dtypes.int64)  # (a slot per index the axis has)
            blocks, threads = D.grid(idx.size)
            last_writer[blocks, threads](D.dev(idx), winner.data, idx.size)
            kern, args = scatter_last, args + (winner.data, D.size(shape[axis + 1:]))
        blocks, threads = D.grid(n)
        kern[blocks, threads](*args, n)


def setitem(a, index, value):
    view, axis, idx, to_front = _index_view(a, index)
    if idx is None:
        write(view, value)
    else:
        _scatter(scatter, view, axis, idx, to_front, value)


def index_add(acc, index, g):
    acc = writable(acc)
    view, axis, idx, to_front = _index_view(acc, index)
    if idx is None:
        write(view, add(view, g))
    else:
        _scatter(scatter_add, view, axis, idx, to_front, g)
    return acc
