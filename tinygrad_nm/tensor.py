"""Tensor: a backend buffer, its dtype and backend, and the autograd link that made it.

Python's operators and the methods here map onto the ops in ops.py through
dispatch.py, where a forward runs and, if any input needs a gradient, the op is
recorded. `y = x @ w` runs `Tensor.__matmul__ -> _apply(ops.MatMul) ->
MatMul.forward -> backend.matmul`; `y.sum().backward()` runs the walk in
autograd.py, which calls `MatMul.backward -> backend.matmul` again.
"""

import numpy as np

from tinygrad_nm import backends, ops
from tinygrad_nm import dtypes as dt
from tinygrad_nm.autograd import backward as _walk_backward, grad_mode
from tinygrad_nm.host import host_array, rng_for, scalar_dtype, shape_arg
from tinygrad_nm.shapes import broadcast_shape, normalize_axes, normalize_index, reshape_target


class Tensor:
    # _shape: the buffer's shape, kept here because reading it from a NumPy array builds a tuple.
    # _ctx: the op (a Function subclass) that made this tensor, None for a leaf; _a, _b, _saved,
    # _seq, _gsum: that op's input tensors, what its backward needs, creation order, and the
    # gradient summed during a backward walk (autograd.py). A recorded tensor is its own graph node.
    __slots__ = ("_buf", "_shape", "dtype", "_be", "requires_grad", "grad", "_ctx", "_a", "_b", "_saved", "_seq", "_gsum",
                 "__weakref__")
    __array_ufunc__ = None  # NumPy defers to our reflected operators: np.float32(2) * t works
    __hash__ = object.__hash__  # tensors are usable as dict keys although == is elementwise

    def __init__(self, data, requires_grad=False, dtype=None, backend=None):
        be = backends.default() if backend is None else backends.load(backend)
        if isinstance(data, Tensor):
            array, dtype = data._be.to_numpy(data._buf), dt.to_dtype(dtype) or data.dtype
        else:
            array, dtype = host_array(data, dt.to_dtype(dtype))
        self._buf = be.from_numpy(array, dtype)
        self._shape = tuple(self._buf.shape)
        self.dtype, self._be, self.grad, self._ctx = dtype, be, None, None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @staticmethod
    def _make(buf, dtype, be):
        """A leaf tensor around an existing buffer (op results are made in dispatch.py)."""
        t = _new_tensor(Tensor)
        t._buf, t._shape, t.dtype, t._be = buf, tuple(buf.shape), dtype, be
        t.requires_grad, t.grad, t._ctx = False, None, None
        return t

    # --- constructors -------------------------------------------------------------------------
    @staticmethod
    def full(shape, value, dtype=None, backend=None, requires_grad=False):
        shape = shape_arg(shape)
        if any(d < 0 for d in shape):
            raise ValueError(f"negative dimension in shape {shape}")
        dtype = dt.to_dtype(dtype) or scalar_dtype(value)
        be = backends.default() if backend is None else backends.load(backend)
        t = Tensor._make(be.full(shape, value, dtype), dtype, be)
        return t.requires_grad_(requires_grad) if requires_grad else t

    @staticmethod
    def zeros(*shape, dtype=None, backend=None, requires_grad=False):
        return Tensor.full(shape, 0.0, dtype or dt.DEFAULT_FLOAT, backend, requires_grad)

    @staticmethod
    def ones(*shape, dtype=None, backend=None, requires_grad=False):
        return Tensor.full(shape, 1.0, dtype or dt.DEFAULT_FLOAT, backend, requires_grad)

    @staticmethod
    def zeros_like(t, **kw):
        return Tensor.zeros(*t.shape, dtype=kw.pop("dtype", t.dtype), backend=kw.pop("backend", t.backend), **kw)

    @staticmethod
    def ones_like(t, **kw):
        return Tensor.ones(*t.shape, dtype=kw.pop("dtype", t.dtype), backend=kw.pop("backend", t.backend), **kw)

    @staticmethod
    def rand(*shape, seed=None, generator=None, dtype=None, backend=None, requires_grad=False):
        """Uniform in [0, 1). Same seed, same numbers on every backend (drawn on the host)."""
        rng = rng_for(seed, generator)
        return Tensor(rng.random(shape_arg(shape)), requires_grad, dtype or dt.DEFAULT_FLOAT, backend)

    @staticmethod
    def randn(*shape, seed=None, generator=None, dtype=None, backend=None, requires_grad=False):
        """Standard normal. Same seed, same numbers on every backend (drawn on the host)."""
        rng = rng_for(seed, generator)
        return Tensor(rng.standard_normal(shape_arg(shape)), requires_grad, dtype or dt.DEFAULT_FLOAT, backend)

    @staticmethod
    def arange(start, stop=None, step=1, dtype=None, backend=None):
        if stop is None:
            start, stop = 0, start
        if step == 0:
            raise ValueError("arange: step must not be zero")
        is_int = all(isinstance(v, int) for v in (start, stop, step))
        dtype = dt.to_dtype(dtype) or (dt.int64 if is_int else dt.DEFAULT_FLOAT)
        return Tensor(np.arange(start, stop, step), dtype=dtype, backend=backend)

    @staticmethod
    def eye(n, m=None, dtype=None, backend=None):
        return Tensor(np.eye(n, m), dtype=dtype or dt.DEFAULT_FLOAT, backend=backend)

    # --- attributes ---------------------------------------------------------------------------
    @property
    def shape(self):
        return self._shape

    @property
    def ndim(self):
        return len(self._shape)

    @property
    def size(self):
        n = 1
        for d in self._shape:
            n *= d
        return n

    def numel(self):
        return self.size

    @property
    def backend(self):
        return self._be.NAME

    @property
    def is_leaf(self):
        return self._ctx is None

    @property
    def grad_fn(self):
        return self._ctx

    def __len__(self):
        if not self._shape:
            raise TypeError("len() of a 0-d tensor")
        return self._shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    # --- conversions --------------------------------------------------------------------------
    def numpy(self):
        if self.requires_grad:
            raise RuntimeError("can't call numpy() on a tensor that requires grad; use t.detach().numpy()")
        return self._be.to_numpy(self._buf)

    def __array__(self, dtype=None, copy=None):
        a = self._be.to_numpy(self._buf)
        return a.astype(dtype) if dtype is not None else a

    def tolist(self):
        return self._be.to_numpy(self._buf).tolist()

    def item(self):
        if self.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.shape}")
        return self._be.item(self._buf)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.is_float:
            raise TypeError(f"only integer tensors of one element can be used as an index, got {self.dtype}")
        return int(self.item())

    def __bool__(self):
        if self.size != 1:
            raise RuntimeError(f"the truth value of a tensor with {self.size} elements (shape {self.shape}) "
                               "is ambiguous; use .any() or .all() style reductions")
        return bool(self.item())

    def __repr__(self):
        body = np.array2string(self._be.to_numpy(self._buf), separator=", ", precision=4, prefix="Tensor(")
        extra = f", grad_fn=<{self._ctx.__name__}Backward>" if self._ctx is not None else (
            ", requires_grad=True" if self.requires_grad else "")
        return f"Tensor({body}, shape={self.shape}, dtype={self.dtype}, backend={self.backend}{extra})"

    def to(self, target):
        """`t.to("python")` copies to another backend; `t.to("float64")` changes dtype."""
        if isinstance(target, str) and target in backends._MODULES:
            be = backends.load(target)
            if be is self._be:
                return self
            out = Tensor._make(be.from_numpy(self._be.to_numpy(self._buf), self.dtype), self.dtype, be)
            return out.requires_grad_(self.requires_grad) if self.requires_grad else out
        try:
            return self.cast(target)
        except TypeError:
            if not isinstance(target, str):
                raise
            raise ValueError(f"to({target!r}): neither a backend (available: {', '.join(backends.available_backends())};"
                             f" known: {', '.join(backends._MODULES)}) nor a dtype (bool, int64, float32, float64)") from None

    def cast(self, dtype):
        dtype = dt.to_dtype(dtype)
        if dtype is self.dtype:
            return self
        if self.requires_grad and not dtype.is_float:
            return Tensor._make(self._be.astype(self._buf, dtype), dtype, self._be)
        return _apply(ops.Cast, dtype, (self,), dtype)

    astype = cast

    def float(self):
        return self.cast(dt.float32)

    def double(self):
        return self.cast(dt.float64)

    def long(self):
        return self.cast(dt.int64)

    # --- autograd -----------------------------------------------------------------------------
    def requires_grad_(self, requires_grad=True):
        if requires_grad and not self.dtype.is_float:
            raise RuntimeError(f"only floating point tensors can require gradients, this one is {self.dtype}")
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("requires_grad can only be switched off on a leaf; use .detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self):
        """The same storage, cut from the graph."""
        return Tensor._make(self._shared_buf(), self.dtype, self._be)

    @property
    def data(self):
        """A view of the same storage without gradient tracking: writes through it update self."""
        return Tensor._make(self._shared_buf(), self.dtype, self._be)

    def _shared_buf(self):
        """The buffer, made shareable first (a backend may hold 0-d results as immutable scalars),
        so that writes through a view (.data, detach) reach this tensor."""
        self._buf = self._be.writable(self._buf)
        return self._buf

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            value = Tensor(value, dtype=self.dtype, backend=self.backend)
        if value._be is not self._be:
            raise ValueError(f"cannot set .data of a {self.backend} tensor to a {value.backend} tensor")
        self._buf, self._shape, self.dtype = value._buf, value._shape, value.dtype

    def backward(self, grad=None, retain_graph=False):
        """Accumulate d self / d leaf into every leaf's .grad. `grad` defaults to 1 for one element."""
        if type(grad) is Tensor and grad._be is self._be and grad.dtype is self.dtype \
                and grad._shape == self._shape and self.requires_grad:
            return _walk_backward(self, grad._buf, retain_graph)  # the common, already-checked case
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad: no input of the "
                               "computation had requires_grad=True (or it ran under no_grad())")
        if grad is None:
            if self.size != 1:
                raise RuntimeError(f"grad can be implicitly created only for one-element outputs; this "
                                   f"tensor has shape {self.shape}, so pass backward(grad) of that shape")
            buf = self._be.full(self.shape, 1.0, self.dtype)
        else:
            g = grad if type(grad) is Tensor else Tensor(grad, dtype=self.dtype, backend=self.backend)
            if g._shape != self._shape:
                raise RuntimeError(f"backward(grad): grad has shape {g.shape} but the tensor has shape {self.shape}")
            if g._be is not self._be:
                raise RuntimeError(f"backward(grad): grad is on backend {g.backend!r}, tensor on {self.backend!r}")
            buf = g._buf if g.dtype is self.dtype else g.cast(self.dtype)._buf
        _walk_backward(self, buf, retain_graph)

    def _accumulate_grad(self, g):
        be = self._be if backends._kernel_wrapper is None else backends.kernels(self._be)  # napkin sees these
        if self.grad is None:  # a private copy: ops may hand the same buffer to several inputs
            self.grad = Tensor._make(be.copy(g), self.dtype, self._be)
        else:
            self.grad._buf = be.add(self.grad._buf, g)

    def zero_(self):
        self._buf = self._be.assign(self._buf, 0)
        return self

    # --- arithmetic ---------------------------------------------------------------------------
    def __add__(self, other): return _binary(ops.Add, self, other)
    def __radd__(self, other): return _binary(ops.Add, self, other, True)
    def __sub__(self, other): return _binary(ops.Sub, self, other)
    def __rsub__(self, other): return _binary(ops.Sub, self, other, True)
    def __mul__(self, other): return _binary(ops.Mul, self, other)
    def __rmul__(self, other): return _binary(ops.Mul, self, other, True)
    def __truediv__(self, other): return _binary(ops.Div, self, other)
    def __rtruediv__(self, other): return _binary(ops.Div, self, other, True)
    def __pow__(self, other): return _binary(ops.Pow, self, other)
    def __rpow__(self, other): return _binary(ops.Pow, self, other, True)
    def __matmul__(self, other): return self.matmul(other)
    def __rmatmul__(self, other): return _as_tensor(other, self).matmul(self)
    def __neg__(self): return _apply(ops.Neg, self.dtype, (self,))
    def __pos__(self): return self
    def __abs__(self): return self.abs()

    def __iadd__(self, other):
        if self._ctx is not None and grad_mode.enabled:  # `out += x` inside a graph, as in the walkthrough
            return _binary(ops.Add, self, other)  # recorded out of place; Python rebinds the name
        return self._inplace(ops.Add, other)

    def __isub__(self, other): return self._inplace(ops.Sub, other)
    def __imul__(self, other): return self._inplace(ops.Mul, other)
    def __itruediv__(self, other): return self._inplace(ops.Div, other)

    def _inplace(self, fn_cls, other):
        if grad_mode.enabled and (self.requires_grad or (isinstance(other, Tensor) and other.requires_grad)):
            if self._ctx is None and self.requires_grad:
                raise RuntimeError("a leaf tensor that requires grad is being used in an in-place operation; "
                                   "update it inside `with tnm.no_grad():` or through `t.data`")
            return _binary(fn_cls, self, other)  # inside a graph: record out of place, the name is rebound
        result = _binary(fn_cls, self, other)
        if result.shape != self.shape:
            raise RuntimeError(f"in-place op: the result's shape {result.shape} does not match the "
                               f"tensor's shape {self.shape}")
        if result.dtype is not self.dtype and result.dtype.is_float and not self.dtype.is_float:
            raise RuntimeError(f"in-place op: result type {result.dtype} can't be stored in a {self.dtype} tensor")
        self._buf = backends.kernels(self._be).assign(self._buf, result._buf)
        return self

    def __lt__(self, other): return _compare("lt", self, other)
    def __le__(self, other): return _compare("le", self, other)
    def __gt__(self, other): return _compare("gt", self, other)
    def __ge__(self, other): return _compare("ge", self, other)
    def __eq__(self, other): return _compare("eq", self, other)
    def __ne__(self, other): return _compare("ne", self, other)

    # --- math ---------------------------------------------------------------------------------
    def exp(self): return _apply(ops.Exp, *_float(self))
    def log(self): return _apply(ops.Log, *_float(self))
    def sqrt(self): return _apply(ops.Sqrt, *_float(self))
    def abs(self): return _apply(ops.Abs, self.dtype, (self,))
    def atanh(self): return _apply(ops.Atanh, *_float(self))
    def tanh(self): return _apply(ops.Tanh, *_float(self))
    def sigmoid(self): return _apply(ops.Sigmoid, *_float(self))
    def relu(self): return _apply(ops.Relu, self.dtype, (self,))

    # dtype= and out= are NumPy's: np.sum(t), np.mean(t) and np.max(t) call these methods with them
    def sum(self, axis=None, keepdims=False, dtype=None, out=None):
        if dtype is not None or out is not None:
            return _numpy_style(self, dtype, out).sum(axis, keepdims)
        if self.dtype is dt.bool_:  # counting: True + True is 2, an int64 as in PyTorch
            return self.long().sum(axis, keepdims)
        axes = normalize_axes(axis, self.ndim)
        if not axes:
            return self
        return _apply(ops.Sum, self.dtype, (self,), axes, keepdims)

    def mean(self, axis=None, keepdims=False, dtype=None, out=None):
        if dtype is not None or out is not None:
            return _numpy_style(self, dtype, out).mean(axis, keepdims)
        axes = normalize_axes(axis, self.ndim)
        count = 1
        for ax in axes:
            count *= self.shape[ax]
        x = self if self.dtype.is_float else self.cast(dt.DEFAULT_FLOAT)
        return x.sum(axis, keepdims) / count if count else x.sum(axis, keepdims) * float("nan")

    def max(self, axis=None, keepdims=False, out=None):
        if out is not None:
            return _numpy_style(self, None, out).max(axis, keepdims)
        axes = normalize_axes(axis, self.ndim)
        if any(self.shape[ax] == 0 for ax in axes):
            raise ValueError(f"max() over an empty axis of a tensor with shape {self.shape}")
        if not axes:
            return self
        return _apply(ops.Max, self.dtype, (self,), axes, keepdims)

    def softmax(self, axis=-1):
        return _apply(ops.Softmax, self.dtype, (self,), normalize_axes(axis, self.ndim)[0])

    def log_softmax(self, axis=-1):
        return _apply(ops.LogSoftmax, self.dtype, (self,), normalize_axes(axis, self.ndim)[0])

    # --- movement -----------------------------------------------------------------------------
    def reshape(self, *shape):
        target = reshape_target(self.shape, shape_arg(shape))
        if target == self.shape:
            return self
        return _apply(ops.Reshape, self.dtype, (self,), target)

    view = reshape

    def flatten(self, start_dim=0):
        start_dim = normalize_axes(start_dim, self.ndim)[0] if self.ndim else 0
        return self.reshape(*self.shape[:start_dim], -1)

    def permute(self, *axes):
        axes = shape_arg(axes)
        if sorted(normalize_axes(axes, self.ndim)) != list(range(self.ndim)) or len(axes) != self.ndim:
            raise ValueError(f"permute{tuple(axes)}: not a permutation of the {self.ndim} axes of shape {self.shape}")
        axes = tuple(a % self.ndim for a in axes)
        return self if axes == tuple(range(self.ndim)) else _apply(ops.Permute, self.dtype, (self,), axes)

    def transpose(self, dim0=None, dim1=None):
        """No arguments: reverse the axes (NumPy). Two: swap those axes (PyTorch)."""
        if dim0 is None:
            return self.permute(*reversed(range(self.ndim)))
        axes = list(range(self.ndim))
        d0, d1 = normalize_axes((dim0, dim1), self.ndim, sort=False)
        axes[d0], axes[d1] = axes[d1], axes[d0]
        return self.permute(*axes)

    @property
    def T(self):
        return self.transpose()

    def matmul(self, other):
        other = _as_tensor(other, self)
        _same_backend(self, other, "matmul")
        a, b = _promote_pair(self, other)
        if a.ndim == 0 or b.ndim == 0 or a.ndim > 2 or b.ndim > 2:
            raise ValueError(f"matmul needs 1-D or 2-D operands, got shapes {a.shape} and {b.shape}")
        a2 = a.reshape(1, -1) if a.ndim == 1 else a
        b2 = b.reshape(-1, 1) if b.ndim == 1 else b
        if a2.shape[1] != b2.shape[0]:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned: "
                             f"{a2.shape[1]} (last dim of the first) != {b2.shape[0]} (first dim of the second)")
        out = _apply(ops.MatMul, a.dtype, (a2, b2))
        if a.ndim == 1 and b.ndim == 1:
            return out.reshape()
        if a.ndim == 1 or b.ndim == 1:
            return out.reshape(-1)
        return out

    dot = matmul

    def __getitem__(self, key):
        shape = self._shape
        if type(key) is int and len(shape) == 1 and -shape[0] <= key < shape[0]:  # the hot path: w[i]
            key = key + shape[0] if key < 0 else key
            return _index_one(self, _INT_INDEX[key] if key < _INT_INDEX_CACHED else (key,))
        index, new_axes = normalize_index(self, key)
        out = self if index is None else _apply(ops.Index, self.dtype, (self,), index)
        if new_axes is not None:
            out = out.reshape(*new_axes(out.shape))
        return out

    def __setitem__(self, key, value):
        if grad_mode.enabled and self.requires_grad:
            raise RuntimeError("a tensor that requires grad is being written in place by t[...] = v; "
                               "write inside `with tnm.no_grad():` or through `t.data`")
        index, new_axes = normalize_index(self, key)
        index = index if index is not None else (slice(None),) * max(self.ndim, 1)
        if isinstance(value, Tensor):
            _same_backend(self, value, "setitem")
            if value.ndim:
                target = self._be.getitem(self._buf, index).shape if self.ndim else ()
                broadcast_shape(value.shape, target, f"t[{key!r}] = value", into=True)
            value = value.cast(self.dtype)._buf if value.dtype is not self.dtype else value._buf
        elif not isinstance(value, _Number):
            return self.__setitem__(key, Tensor(value, dtype=self.dtype, backend=self.backend))
        if not self.ndim:
            self._buf = self._be.assign(self._buf, value)
        else:
            self._be.setitem(self._buf, index, value)



def _numpy_style(t, dtype, out):
    """A reduction's NumPy arguments: `dtype` casts first (as np.sum does); `out` has no meaning
    for a tensor, whose results are new tensors."""
    if out is not None:
        raise TypeError("out= is not supported: tinygrad_nm reductions return a new tensor")
    return t if dtype is None else t.cast(dtype)

# Below the class: dispatch.py builds Tensors, so it imports this module's Tensor.
from tinygrad_nm.dispatch import (  # noqa: E402
    _INT_INDEX, _INT_INDEX_CACHED, _Number, _apply, _as_tensor, _binary, _compare, _float, _index_one,
    _new_tensor, _promote_pair, _same_backend)
