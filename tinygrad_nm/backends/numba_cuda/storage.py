"""Storage kernels: transfers between host and device, creation, casts, copies, assignment, where.

Data crosses to the host only in `to_numpy` and `item` (so in `numpy()`, `item()`, `tolist()`
and printing), and from the host only in `from_numpy` (creation, `.to(...)`); scalars travel as
kernel arguments. Everything else here is an elementwise map (jit.map_) of a one-line device
function.
"""
import numpy as np

from tinygrad_nm.backends import strided
from tinygrad_nm.backends.numba_cuda import device as D
from tinygrad_nm.backends.numba_cuda.jit import constants, map_, scalar
from tinygrad_nm.backends.numba_cuda.device import CudaBuffer


# --- device functions: (inputs..., p, q) -> value ---------------------------------------------
def _identity(x, p, q): return x  # copy / astype / assign: the store converts the dtype
def _identity_scalar(p, q): return p  # full / fill
def _where(c, x, y, p, q): return x if c else y
def _where_scalar_b(c, x, p, q): return x if c else p
def _where_scalar_a(c, y, p, q): return p if c else y


# --- transfers ----------------------------------------------------------------------------------
def from_numpy(array, dtype):
    array = np.asarray(array)
    host = np.ascontiguousarray(array, dtype=D.np_type(dtype)).reshape(-1)
    return CudaBuffer(D.upload(host), tuple(array.shape), D.row_major(array.shape), 0, dtype)


def to_numpy(a):
    n = a.size
    if n == 0:
        return np.empty(a.shape, dtype=D.np_type(a.dtype))
    a = contiguous(a)
    return D.download(a.data[a.offset:a.offset + n]).reshape(a.shape)


def item(a):
    return D.download(a.data[a.offset:a.offset + 1])[0].item()  # a one-element view: its element is at offset


# --- creation, casts, copies --------------------------------------------------------------------
def full(shape, value, dtype):
    return fill(D.empty(shape, dtype), value)


def fill(out, value):
    return map_(_identity_scalar, [], p=scalar(value, out.dtype), q=scalar(value, out.dtype), out=out)


def astype(a, dtype):
    return map_(_identity, [a], dtype, *constants(dtype))


def copy(a, row_major=False):
    return map_(_identity, [a], a.dtype, *constants(a.dtype))  # into a new row-major buffer, always


def contiguous(a):
    return a if D.is_contiguous(a) else copy(a)


# --- writes -------------------------------------------------------------------------------------
def write(view, value):
    """view[...] = value (a buffer broadcastable to the view, or a Python number), in place."""
    if isinstance(value, CudaBuffer):
        if value.data is view.data:  # overlapping source and destination: read from a copy
            value = copy(value)
        map_(_identity, [value], out=view, p=scalar(0, view.dtype), q=scalar(0, view.dtype))
    else:
        fill(view, value)


def writable(a):
    return a if D.is_writable(a) else copy(a)  # a broadcast view gets storage of its own


def assign(a, value):
    if not D.is_writable(a):  # a broadcast view: the result gets storage of its own
        out = D.empty(a.shape, a.dtype)
        write(out, value)
        return out
    write(a, value)
    return a


def where(cond, a, b):
    if isinstance(a, CudaBuffer) and isinstance(b, CudaBuffer):
        return map_(_where, [cond, a, b], a.dtype, *constants(a.dtype))
    if isinstance(a, CudaBuffer):
        return map_(_where_scalar_b, [cond, a], a.dtype, scalar(b, a.dtype), scalar(0, a.dtype))
    if isinstance(b, CudaBuffer):
        return map_(_where_scalar_a, [cond, b], b.dtype, scalar(a, b.dtype), scalar(0, b.dtype))
    raise TypeError("where: at least one of a and b must be a buffer (the result takes its dtype)")


is_contiguous = D.is_contiguous


def same_storage(a, b):
    return b.data is a.data  # a reshape shares the device array or copies into a new one


def overlap(a, b):
    """strided.overlap of two views of one device array (elements are the unit), else None."""
    return strided.overlap(_extent(a), _extent(b)) if b.data is a.data else None


def _extent(a):
    return a.offset, a.shape, a.strides, 1


__all__ = ["from_numpy", "to_numpy", "item", "full", "astype", "copy", "assign", "where", "writable", "is_contiguous",
           "same_storage", "overlap"]
