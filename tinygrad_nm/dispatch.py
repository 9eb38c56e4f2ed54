"""How an op runs: from a Tensor method or Python operator to `Op.forward`, and the recording.

`_apply` is the one general place where a forward runs on the inputs' buffers and, if any
input needs a gradient, the output tensor is recorded as a graph node (autograd.py).
`_binary` (every `a OP b`) and `_index_one` (`w[i]`) are the same thing written out for the
two hottest cases, with dtype promotion, broadcasting and backend checks on the way.

The hot paths assign at most three attributes per statement: with four or more targets
Python builds and unpacks a tuple first, a cost paid on every op.
"""
import numpy as np

from tinygrad_nm import backends
from tinygrad_nm import dtypes as dt
from tinygrad_nm.autograd import grad_mode, next_seq
from tinygrad_nm.ops import Div, Index, Mul, MulByNumber
from tinygrad_nm.shapes import broadcast_shape
from tinygrad_nm.tensor import Tensor

_Number = (int, float, bool)
_new_tensor = object.__new__


def _apply(fn_cls, dtype, inputs, *params):
    """Run fn_cls.forward on the buffers of `inputs` (one or two: tensors, or a tensor and a
    Python number); record the op if a gradient will be needed."""
    be = inputs[0]._be if isinstance(inputs[0], Tensor) else inputs[1]._be
    t = _new_tensor(Tensor)
    bufs = [x._buf if isinstance(x, Tensor) else x for x in inputs]
    t._buf = fn_cls.forward(t, be if backends._kernel_wrapper is None else backends.kernels(be), *bufs, *params)
    t._shape, t.dtype, t._be = t._buf.shape, dtype, be
    t.grad = None
    if grad_mode.enabled and any(isinstance(x, Tensor) and x.requires_grad for x in inputs):
        a, b = (inputs if len(inputs) == 2 else (inputs[0], None))
        t._a = a if isinstance(a, Tensor) else None
        t._b = b if isinstance(b, Tensor) else None
        t._seq, t._gsum = next_seq(), None
        t.requires_grad, t._ctx = True, fn_cls
    else:
        t._saved, t.requires_grad, t._ctx = None, False, None
    return t


def _index_one(a, index):
    """_apply(ops.Index) for one element of a 1-D tensor, w[i]: the walkthrough's hot path."""
    be = a._be
    t = _new_tensor(Tensor)
    t._buf = Index.forward(t, be if backends._kernel_wrapper is None else backends.kernels(be), a._buf, index)
    t._shape, t.dtype, t._be = (), a.dtype, be
    t.grad = None
    if a.requires_grad and grad_mode.enabled:
        t._a, t._b = a, None
        t._seq, t._gsum = next_seq(), None
        t.requires_grad, t._ctx = True, Index
    else:
        t._saved, t.requires_grad, t._ctx = None, False, None
    return t


# Shared index tuples for w[i] with small i: a loop over w[i] allocates no tuple per read,
# one object fewer per read for Python's garbage collector to walk (see autograd.py).
_INT_INDEX_CACHED = 1024
_INT_INDEX = tuple((i,) for i in range(_INT_INDEX_CACHED))


def _binary(fn_cls, a, b, reverse=False):
    """a (a Tensor) OP b, or b OP a when reverse; b may be a Python number or array-like.
    The common cases (same backend, dtype and shape; or a Python float) take the short path."""
    shape = a._shape  # the result's
    if type(b) is Tensor:
        if b._be is not a._be or b.dtype is not a.dtype or b._shape != shape or fn_cls is Div:
            a, b, shape = _coerce_pair(fn_cls, a, b)
            if a._shape != b._shape:
                fn_cls = fn_cls.broadcasting  # its backward sums gradients back to each shape
        b_tensor, b_buf = b, b._buf
    elif (type(b) is float and a.dtype.is_float
          or type(b) is int and (a.dtype.is_float or a.dtype is dt.int64 and fn_cls is not Div)):
        b_tensor, b_buf = None, b  # a Python number that leaves the dtype as it is
        if fn_cls is Mul:
            fn_cls = MulByNumber
    else:
        return _binary_slow(fn_cls, a, b, reverse)
    be = a._be
    kernels = be if backends._kernel_wrapper is None else backends.kernels(be)
    t = _new_tensor(Tensor)  # the record-or-not tail of _apply, inlined: the hottest path in the library
    t._buf = fn_cls.forward(t, kernels, b_buf, a._buf) if reverse else fn_cls.forward(t, kernels, a._buf, b_buf)
    t._shape, t.dtype, t._be = shape, a.dtype, be
    t.grad = None
    if grad_mode.enabled and (a.requires_grad or b_tensor is not None and b_tensor.requires_grad):
        if reverse:
            t._a, t._b = b_tensor, a
        else:
            t._a, t._b = a, b_tensor
        t._seq, t._gsum = next_seq(), None
        t.requires_grad, t._ctx = True, fn_cls
    else:
        t._saved, t.requires_grad, t._ctx = None, False, None
    return t


def _coerce_pair(fn_cls, a, b):
    """Two tensors about to meet in a binary op: same backend, promoted dtype, broadcastable
    shapes. Returns them and the result's shape."""
    _same_backend(a, b, fn_cls.__name__.lower())
    if a.dtype is not b.dtype:
        a, b = _promote_pair(a, b)
    if fn_cls is Div and not a.dtype.is_float:  # true division of integers gives floats
        a, b = a.cast(dt.DEFAULT_FLOAT), b.cast(dt.DEFAULT_FLOAT)
    if a._shape != b._shape:
        return a, b, broadcast_shape(a._shape, b._shape, fn_cls.__name__.lower())
    return a, b, a._shape


def _binary_slow(fn_cls, a, b, reverse):
    """Numbers that change the dtype, NumPy scalars, lists and arrays."""
    if isinstance(b, np.generic):
        return _binary(fn_cls, a, b.item(), reverse)
    if isinstance(b, _Number):
        dtype = dt.promote_scalar(a.dtype, b)
        if fn_cls is Div and not dtype.is_float:
            dtype = dt.DEFAULT_FLOAT
        if dtype is a.dtype:  # e.g. a float32 tensor and a Python int
            return _apply(fn_cls, dtype, (b, a) if reverse else (a, b))
        return _binary(fn_cls, a.cast(dtype), b, reverse)
    try:
        b = _as_tensor(b, a)
    except (TypeError, ValueError):
        return NotImplemented
    return _binary(fn_cls, b, a) if reverse else _binary(fn_cls, a, b)


def _compare(name, a, b):
    """Elementwise comparison: a bool tensor outside the graph."""
    if isinstance(b, np.generic):
        b = b.item()
    if isinstance(b, Tensor):
        _same_backend(a, b, name)
        a, b = _promote_pair(a, b)
        if a._shape != b._shape:
            broadcast_shape(a._shape, b._shape, name)
        b = b._buf
    elif not isinstance(b, _Number):
        try:
            return _compare(name, a, _as_tensor(b, a))
        except (TypeError, ValueError):
            return NotImplemented
    return Tensor._make(getattr(backends.kernels(a._be), name)(a._buf, b), dt.bool_, a._be)


def _float(t):
    """Arguments for _apply of a float-only op: ints are lifted to the default float first."""
    if not t.dtype.is_float:
        t = t.cast(dt.DEFAULT_FLOAT)
    return t.dtype, (t,)


def _promote_pair(a, b):
    dtype = dt.promote(a.dtype, b.dtype)
    return a.cast(dtype), b.cast(dtype)


def _same_backend(a, b, what):
    if a._be is not b._be:
        raise ValueError(f"{what}: tensors are on different backends, {a.backend!r} and {b.backend!r}; "
                         f"move one with .to({a.backend!r})")


def _as_tensor(x, like):
    return x if isinstance(x, Tensor) else Tensor(x, backend=like.backend)
