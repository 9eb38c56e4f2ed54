"""The python backend's storage: flat row-major lists, views of them, and the kernels that move,
index and write elements (the compute kernels are in python.py).

A PyBuffer owns a list: element (i, j) of an (M, N) buffer is `data[i * N + j]`. A PyView is a
window on a PyBuffer's list, as a NumPy or PyTorch view is: an offset and a stride per axis, so
that `a[1]`, `a[:, 1:]` and `a.t()` share a's storage, see its in-place updates and write into
it. Reading a view's `data` gathers its elements into a new list in row-major order, so every
compute kernel reads a view as it reads a buffer; the kernels that write in place (setitem,
index_add, assign, axpy) write through `targets`.
"""
import math
from itertools import repeat

from tinygrad_nm.backends.strided import (gather_offsets, index_offsets, is_row_major, overlap as _overlap,
                                         reshape_strides, strides as row_strides)

_size = math.prod  # the elements of a shape


class PyBuffer:
    """Flat row-major storage: `data` (list), `shape` (tuple), `dtype` (a DType)."""
    __slots__ = ("data", "shape", "dtype", "__weakref__")  # weak references: conv_compose keeps columns per x

    def __init__(self, data, shape, dtype):
        self.data, self.shape, self.dtype = data, shape, dtype

    def __repr__(self):
        return f"{type(self).__name__}(shape={self.shape}, dtype={self.dtype}, data={self.data[:8]}...)"


class PyView(PyBuffer):
    """Element (i, j) is `base.data[offset + i * strides[0] + j * strides[1]]`; `base` owns its list.
    `run`: the elements are one contiguous run of it (an element, a row, a[1:3])."""
    __slots__ = ("base", "offset", "strides", "run")

    def __init__(self, base, offset, strides, shape, dtype):
        self.base, self.offset, self.strides, self.shape, self.dtype = base, offset, strides, shape, dtype
        self.run = not shape or is_row_major(shape, strides)

    @property
    def data(self):
        """The elements, read now (a new list): a slice when the view is one contiguous run."""
        if self.run:
            return self.base.data[self.offset:self.offset + _size(self.shape)]
        data = self.base.data
        return [data[o] for o in self.offsets()]

    def offsets(self):
        """Where each element lives in base.data, in row-major order (not kept: a list of ints per
        element would outweigh the data)."""
        return gather_offsets(zip(self.shape, self.strides), self.offset)


def _view(a, offset, strides, shape):
    """A view of a's storage (a buffer or a view: the new view's base is always the owner)."""
    if isinstance(a, PyView):
        return PyView(a.base, a.offset + offset, strides, shape, a.dtype)
    return PyView(a, offset, strides, shape, a.dtype)


def _layout(a):
    return (a.strides, a.shape) if isinstance(a, PyView) else (row_strides(a.shape), a.shape)


def targets(a, offsets=None):
    """(list, positions): where a's elements (or its row-major elements `offsets`) live, to write them."""
    if isinstance(a, PyView):
        if offsets is None and a.run:
            return a.base.data, range(a.offset, a.offset + _size(a.shape))
        where = a.offsets()
        return a.base.data, where if offsets is None else [where[o] for o in offsets]
    return a.data, range(len(a.data)) if offsets is None else offsets


def caster(dtype):
    return float if dtype.is_float else (bool if dtype.name == "bool" else int)


# --- storage ------------------------------------------------------------------------------
def from_numpy(array, dtype):
    import numpy as np  # the host border: data arrives as a NumPy array
    flat = np.asarray(array).astype(dtype.np_type).ravel().tolist()
    return PyBuffer(flat, tuple(array.shape), dtype)


def to_numpy(a):
    import numpy as np
    return np.array(a.data, dtype=a.dtype.np_type).reshape(a.shape)


def item(a):
    return a.base.data[a.offset] if isinstance(a, PyView) else a.data[0]


def full(shape, value, dtype):
    return PyBuffer([caster(dtype)(value)] * _size(shape), tuple(shape), dtype)


def astype(a, dtype):
    return PyBuffer(list(map(caster(dtype), a.data)), a.shape, dtype)


def copy(a, row_major=False):
    return PyBuffer(list(a.data), a.shape, a.dtype)  # a buffer's list is always row-major


def writable(a):
    return a  # lists are always mutable, and views write into their base


def is_contiguous(a):
    return not isinstance(a, PyView) or a.run


def same_storage(a, b):
    return _list(a) is _list(b)


def overlap(a, b):
    """strided.overlap of a and b where they share a list (elements are the unit), else None."""
    return _overlap(_extent(a), _extent(b)) if _list(a) is _list(b) else None


def _list(a):
    return a.base.data if isinstance(a, PyView) else a.data


def _extent(a):
    return (a.offset, a.shape, a.strides, 1) if isinstance(a, PyView) else (0, a.shape, row_strides(a.shape), 1)


def _write(a, values, offsets=None):
    """a's elements (or its row-major elements `offsets`) = values (a list, of a's type: made before
    any write, as it may read a view of the same storage: `x[1:] = x[:-1]`), in a's storage."""
    data, where = targets(a, offsets)
    if type(where) is range:  # one run: a slice assignment
        data[where.start:where.stop] = values
    else:
        for o, v in zip(where, values):
            data[o] = v


def _values(value, shape, dtype):
    """What a write of `value` (a buffer broadcast to `shape`, or a scalar) stores: a list of dtype's type."""
    cast = caster(dtype)
    return list(map(cast, expand(value, shape).data)) if isinstance(value, PyBuffer) else [cast(value)] * _size(shape)


def assign(a, value):
    _write(a, _values(value, a.shape, a.dtype))
    return a


# --- broadcasting ------------------------------------------------------------------------------
def expand(a, shape):
    """Materialise a broadcast: each axis of size 1 repeated to the target length."""
    shape = tuple(shape)
    if a.shape == shape:
        return a
    src = (1,) * (len(shape) - len(a.shape)) + a.shape
    if not _size(shape):  # a 0 anywhere: nothing to repeat (and a block of 0 below would not advance)
        return PyBuffer([], shape, a.dtype)
    data, block = a.data, 1
    for axis in range(len(shape) - 1, -1, -1):
        n = shape[axis]
        if src[axis] == 1 and n != 1:
            if block == 1:
                data = [x for x in data for _ in repeat(None, n)]
            else:
                data = [x for start in range(0, len(data), block) for x in data[start:start + block] * n]
        block *= n
    return PyBuffer(data, shape, a.dtype)


# --- movement: views where PyTorch makes views ---------------------------------------------------
def reshape(a, shape):
    """A view where PyTorch's reshape makes one (strides exist for the new shape), else a copy."""
    shape = tuple(shape)
    if not isinstance(a, PyView):
        return PyBuffer(a.data, shape, a.dtype)  # the same list: writes through either reach both
    strides = reshape_strides(a.shape, a.strides, shape)
    if strides is not None:
        return PyView(a.base, a.offset, strides, shape, a.dtype)
    return PyBuffer(a.data, shape, a.dtype)  # a.data is a fresh list: a copy


def permute(a, axes):
    """A view with its strides permuted (no element moves until a kernel reads it)."""
    if list(axes) == sorted(axes):
        return a
    strides, shape = _layout(a)
    return _view(a, 0, tuple(strides[ax] for ax in axes), tuple(shape[ax] for ax in axes))


def contiguous_permute(a, axes):
    """permute's elements in a buffer of their own (for kernels that walk them by runs)."""
    out = permute(a, axes)
    return out if out is a and not isinstance(a, PyView) else PyBuffer(out.data, out.shape, a.dtype)


def _basic_view(a, index):
    """a[index] as a view, for an index of ints (already wrapped to >= 0) and slices only."""
    strides, shape = _layout(a)
    offset, out_strides, out_shape = 0, [], []
    for axis, entry in enumerate(index):
        if isinstance(entry, int):
            offset += entry * strides[axis]
        else:
            r = range(*entry.indices(shape[axis]))
            offset += (r.start * strides[axis]) if len(r) else 0
            out_strides.append(r.step * strides[axis])
            out_shape.append(len(r))
    return _view(a, offset, tuple(out_strides) + strides[len(index):], tuple(out_shape) + shape[len(index):])


def _index_plan(shape, index):
    """Row-major offsets and result shape of a[index] (strided.py), the int-array entry given as its list."""
    return index_offsets(shape, tuple(e.data if isinstance(e, PyBuffer) else e for e in index))


def getitem(a, index):
    if len(index) == 1 == len(a.shape) and type(index[0]) is int and type(a) is PyBuffer:
        return PyView(a, index[0], (), (), a.dtype)  # the walkthrough's w[i]: an element of a vector
    if all(type(e) is int or type(e) is slice for e in index):
        return _basic_view(a, index)  # a view, as in PyTorch
    offsets, shape = _index_plan(a.shape, index)
    data = a.data
    return PyBuffer([data[o] for o in offsets], shape, a.dtype)


def setitem(a, index, value):
    offsets, shape = _index_plan(a.shape, index)
    _write(a, _values(value, shape, a.dtype), offsets)


def index_add(acc, index, g):
    offsets, shape = _index_plan(acc.shape, index)
    cast, (data, where) = caster(acc.dtype), targets(acc, offsets)
    for o, v in zip(where, expand(g, shape).data):  # one offset per pair: repeats accumulate
        data[o] = cast(data[o] + v)
    return acc
