"""Tensor: a backend buffer, its dtype and backend, and the autograd link that made it.

This is the core every Tensor method runs through. The operators live in the TensorOps mixin
(tensor_ops.py), `@` in TensorProducts (products.py), the constructors in TensorCreation
(creation.py), the rest of PyTorch's spelling in TensorConvert (size(), device, to, in place),
TensorShape, TensorReduce, TensorOrder, TensorMath, TensorHooks and TensorComposite (tensor_*.py);
all call down into the runner here, `_run` (also spelled `_apply`, and `_binary` for `a OP b` with
promotion and broadcasting): the one place an op's forward runs and its result is recorded as a
graph node when a gradient will be needed. Kernels are reached only through
`backends.kernels_of(be)`.

    y = x @ w             products.py __matmul__ -> Tensor._apply -> _run (here) -> ops.MatMul.forward
                          -> backends/<name>.py matmul
    y.sum().backward()    Tensor.backward (here) -> autograd.backward walk -> ops.*.backward -> kernels
"""
import numpy as np

from tinygrad_nm import backends, indexing, ops
from tinygrad_nm.backends import kernels_of
from tinygrad_nm import dtypes as dt
from tinygrad_nm.autograd import backward as _walk_backward, next_seq, note_write
from tinygrad_nm.grad_mode import grad_mode
from tinygrad_nm.creation import TensorCreation
from tinygrad_nm.host import host_array
from tinygrad_nm.products import TensorProducts
from tinygrad_nm.shapes import broadcast_shape
from tinygrad_nm.tensor_composite import TensorComposite
from tinygrad_nm.tensor_convert import TensorConvert
from tinygrad_nm.tensor_hooks import TensorHooks
from tinygrad_nm.tensor_math import TensorMath
from tinygrad_nm.tensor_ops import TensorOps
from tinygrad_nm.tensor_order import TensorOrder
from tinygrad_nm.tensor_reduce import TensorReduce
from tinygrad_nm.tensor_shape import TensorShape

_Number = (int, float, bool)
_NO_INPUT = object()  # b_buf of a one-input op
_NO_PARAMS = ()  # the empty tuple, compared by identity: a truth test of a tuple costs a C call
_new = object.__new__
_Div, _Index, _Mul, _MulByNumber = ops.Div, ops.Index, ops.Mul, ops.MulByNumber
# Shared index tuples for w[i] with small i: no tuple per read for the garbage collector to walk
_INT_INDEX_CACHED = 1024
_INT_INDEX = tuple((i,) for i in range(_INT_INDEX_CACHED))


def _run(a, fn_cls, b=_NO_INPUT, reverse=False, dtype=None, shape=None, params=_NO_PARAMS):
    """The one place an op runs and is recorded: the tensor fn_cls.forward(a, [b], *params) (b OP a
    when `reverse`), made a graph node when grad mode is on and an input needs a gradient.

    `a` is a tensor; `b` a tensor, a Python number or absent. With no `dtype` this is `a OP b`
    elementwise (it is Tensor._binary): the operands are first brought to one backend, dtype and
    shape, the common cases (same backend, dtype and shape; a Python number) on the short path.
    With a `dtype` (Tensor._apply, w[i]) the inputs are taken as they are; the result's shape is
    `shape`, or read off its buffer. The result is on a's backend. Spelled out for speed (the
    walkthrough's scalar loop runs it 2800 times an epoch); the record at the end is shared."""
    be = a._be
    t = _new(Tensor)
    k = be if backends._kernel_wrapper is None else kernels_of(be)  # kernels_of(be), inlined
    if dtype is None:
        shape, dtype = a._shape, a.dtype  # the result's
        tb = type(b)
        if tb is Tensor or tb is not float and tb is not int and isinstance(b, Tensor):  # cheap tests first
            if b._be is not a._be or b.dtype is not dtype or b._shape != shape or fn_cls is _Div:
                a, b, shape = a._coerce_pair(fn_cls, b)
                dtype = a.dtype
                if a._shape != b._shape:
                    fn_cls = fn_cls.broadcasting  # its backward sums gradients back to each shape
            b_buf = b._buf
        elif (tb is float and dtype.is_float
              or tb is int and (dtype.is_float or dtype is dt.int64 and fn_cls is not _Div)):
            b, b_buf = None, b  # a Python number that leaves the dtype as it is
            if fn_cls is _Mul:
                fn_cls = _MulByNumber
        else:
            return a._binary_slow(fn_cls, b, reverse)
        if reverse:  # b OP a
            t._buf = fn_cls.forward(t, k, b_buf, a._buf)
            a, b = b, a
        else:
            t._buf = fn_cls.forward(t, k, a._buf, b_buf)
        t._shape, t.dtype = shape, dtype
    elif b is _NO_INPUT:  # one input (Tensor._apply)
        buf = fn_cls.forward(t, k, a._buf, *params) if params is not _NO_PARAMS else fn_cls.forward(t, k, a._buf)
        t._buf, t._shape, t.dtype = buf, buf.shape if shape is None else shape, dtype
        b = None
    else:  # two inputs as they are (Tensor._apply, w[i]: b a tensor, a number or an index)
        if isinstance(b, Tensor):
            b_buf = b._buf
        else:
            b, b_buf = None, b
        if reverse:  # b OP a
            buf = fn_cls.forward(t, k, b_buf, a._buf, *params)
            a, b = b, a
        else:
            buf = fn_cls.forward(t, k, a._buf, b_buf, *params) if params is not _NO_PARAMS else \
                fn_cls.forward(t, k, a._buf, b_buf)
        t._buf, t._shape, t.dtype = buf, buf.shape if shape is None else shape, dtype
    # the record, one for every op
    t._be, t.grad, t._version = be, None, None
    if (grad_mode.everywhere or grad_mode.here()) and (a is not None and a.requires_grad
                                                      or b is not None and b.requires_grad):
        t._a, t._b = a, b
        t._seq, t._gsum = next_seq(), None
        t.requires_grad, t._ctx = True, fn_cls
    else:
        t._saved, t.requires_grad, t._ctx = None, False, None
        t._gsum = None  # a leaf if it is made to require grad: the backward walk reads it
    return t


class Tensor(TensorCreation, TensorConvert, TensorShape, TensorReduce, TensorOrder, TensorMath, TensorHooks,
             TensorOps, TensorProducts, TensorComposite):
    # _shape: the buffer's shape (reading it off a NumPy array builds a tuple). _ctx: the op (an
    # Op) that made this tensor, None for a leaf; _a, _b, _saved, _seq, _gsum: its inputs,
    # what its backward needs, creation order, the gradient summed in a backward walk (autograd.py).
    # _version: [in-place writes to the storage, when the last was], shared by its views (None:
    # never shared nor written; autograd.check_versions). A leaf's _saved: its hooks (tensor_hooks).
    __slots__ = ("_buf", "_shape", "dtype", "_be", "requires_grad", "grad", "_ctx", "_a", "_b", "_saved", "_seq", "_gsum",
                 "_version", "_view_of", "__weakref__")
    __array_ufunc__ = None  # NumPy defers to our reflected operators: np.float32(2) * t works
    __hash__ = object.__hash__  # tensors are usable as dict keys although == is elementwise

    def __init__(self, data, requires_grad=False, dtype=None, backend=None):
        be = backends.default() if backend is None else backends.load(backend)
        if isinstance(data, Tensor):
            array, dtype = data._host(), dt.to_dtype(dtype) or data.dtype
        else:
            array, dtype = host_array(data, dt.to_dtype(dtype))
        self._buf = backends.kernels_of(be).from_numpy(array, dtype)
        self._shape = tuple(self._buf.shape)
        self.dtype, self._be, self.grad, self._ctx = dtype, be, None, None
        self.requires_grad, self._version, self._gsum, self._saved = False, None, None, None
        if requires_grad:
            self.requires_grad_(True)

    @staticmethod
    def _make(buf, dtype, be):
        """A leaf tensor around an existing buffer (op results are made by _apply and _binary)."""
        t = _new(Tensor)
        t._buf, t._shape, t.dtype = buf, tuple(buf.shape), dtype  # (unpacking 4 would build a tuple)
        t._be, t.requires_grad, t.grad = be, False, None
        t._ctx = t._version = t._gsum = t._saved = None
        return t

    # --- attributes ---------------------------------------------------------------------------
    @property
    def shape(self):
        return self._shape

    @property
    def ndim(self):
        return len(self._shape)

    def numel(self):
        n = 1
        for d in self._shape:
            n *= d
        return n

    @property
    def backend(self):
        return self._be.NAME

    @property
    def is_leaf(self):
        return self._ctx is None

    @property
    def grad_fn(self):
        return self._ctx

    # --- conversions --------------------------------------------------------------------------
    def _host(self):
        """The values as a host NumPy array (a transfer kernel: traced like any other)."""
        return backends.kernels_of(self._be).to_numpy(self._buf)

    def item(self):
        if self.numel() != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.shape}")
        return backends.kernels_of(self._be).item(self._buf)

    def _to_backend(self, be):
        """A copy on backend module `be` (Tensor.to parses what the caller asked for)."""
        if be is self._be:
            return self
        # differentiable: the gradient flows back to this backend (ops.ToBackend)
        out = _run(self, ops.ToBackend, dtype=self.dtype, params=(backends.kernels_of(be), self.dtype))
        out._be = be  # made by be's kernels (ops.ToBackend)
        return out

    def cast(self, dtype):
        dtype = dt.to_dtype(dtype)
        if dtype is self.dtype:
            return self
        if self.requires_grad and not dtype.is_float:
            return Tensor._make(backends.kernels_of(self._be).astype(self._buf, dtype), dtype, self._be)
        return self._apply(ops.Cast, dtype, (self,), dtype)

    astype = cast

    # --- autograd -----------------------------------------------------------------------------
    def requires_grad_(self, requires_grad=True):
        if requires_grad and not self.dtype.is_float:
            raise RuntimeError(f"only floating point tensors can require gradients, this one is {self.dtype}")
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("requires_grad can only be switched off on a leaf; use .detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self):
        """The same storage, cut from the graph (and counting in-place writes with it); `.data` is
        the same: a view without gradient tracking, writes through it update self."""
        return self._alias(Tensor._make(self._shared_buf(), self.dtype, self._be))

    data = property(detach)

    def _alias(self, view):
        """`view` shares this tensor's storage: it shares its count of in-place writes too."""
        if self._version is None:
            self._version = [0, 0]
        view._version = self._version
        return view

    def _written(self):
        """This tensor's storage was just written in place: one more version, and when (autograd
        checks it against when each op that saved the tensor was recorded)."""
        if self._version is None:
            self._version = [1, note_write()]
        else:
            self._version[0] += 1
            self._version[1] = note_write()

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
            if self.numel() != 1:
                raise RuntimeError(f"grad can be implicitly created only for one-element outputs; this "
                                   f"tensor has shape {self.shape}, so pass backward(grad) of that shape")
            buf = backends.kernels_of(self._be).full(self.shape, 1.0, self.dtype)
        else:
            g = grad if type(grad) is Tensor else Tensor(grad, dtype=self.dtype, backend=self.backend)
            if g._shape != self._shape:
                raise RuntimeError(f"backward(grad): grad has shape {g.shape} but the tensor has shape {self.shape}")
            if g._be is not self._be:
                raise RuntimeError(f"backward(grad): grad is on backend {g.backend!r}, tensor on {self.backend!r}")
            buf = g._buf if g.dtype is self.dtype else g.cast(self.dtype)._buf
        _walk_backward(self, buf, retain_graph)

    def zero_(self):
        if self.requires_grad and self._ctx is None and grad_mode.enabled:
            raise RuntimeError("a leaf tensor that requires grad is being zeroed in place; do it inside "
                               "`with tnm.no_grad():` or through `t.data.zero_()`")
        self._buf = backends.kernels_of(self._be).assign(self._buf, 0)
        self._written()
        return self

    # --- the runner: every op's forward runs here ---------------------------------------------
    @staticmethod
    def _apply(fn_cls, dtype, inputs, *params):
        """Run fn_cls.forward on the buffers of `inputs` (one or two: tensors, or a tensor and a
        Python number, either first) as they are; record the op if a gradient will be needed."""
        x, y = inputs if len(inputs) == 2 else (inputs[0], _NO_INPUT)
        if isinstance(x, Tensor):
            return _run(x, fn_cls, y, False, dtype, None, params)
        return _run(y, fn_cls, x, True, dtype, None, params)  # a number first: x OP tensor

    # self OP b, or b OP self when reverse; b may be a Python number or array-like (see _run)
    _binary = _run

    def _coerce_pair(self, fn_cls, b):
        """Two tensors about to meet in a binary op: same backend, promoted dtype, broadcastable
        shapes. Returns them and the result's shape."""
        self._same_backend(b, fn_cls.__name__.lower())
        a = self
        if a.dtype is not b.dtype:
            a, b = a._promote_pair(b)
        if fn_cls is _Div and not a.dtype.is_float:  # true division of integers gives floats
            a, b = a.cast(dt.DEFAULT_FLOAT), b.cast(dt.DEFAULT_FLOAT)
        if a._shape != b._shape:
            return a, b, broadcast_shape(a._shape, b._shape, fn_cls.__name__.lower())
        return a, b, a._shape

    def _binary_slow(self, fn_cls, b, reverse):
        """Numbers that change the dtype, NumPy scalars, lists and arrays."""
        if isinstance(b, np.generic):
            return self._binary(fn_cls, b.item(), reverse)
        if isinstance(b, _Number):
            dtype = dt.promote_scalar(self.dtype, b)
            if fn_cls is _Div and not dtype.is_float:
                dtype = dt.DEFAULT_FLOAT
            if dtype is self.dtype:  # e.g. a float32 tensor and a Python int
                return Tensor._apply(fn_cls, dtype, (b, self) if reverse else (self, b))
            return self.cast(dtype)._binary(fn_cls, b, reverse)
        try:
            b = self._as_tensor(b)
        except (TypeError, ValueError):
            return NotImplemented
        return b._binary(fn_cls, self) if reverse else self._binary(fn_cls, b)

    def _compare(self, name, b):
        """Elementwise comparison: a bool tensor outside the graph."""
        a = self
        if isinstance(b, np.generic):
            b = b.item()
        if isinstance(b, Tensor):
            a._same_backend(b, name)
            a, b = a._promote_pair(b)
            if a._shape != b._shape:
                broadcast_shape(a._shape, b._shape, name)
            b = b._buf
        elif not isinstance(b, _Number):
            try:
                return a._compare(name, a._as_tensor(b))
            except (TypeError, ValueError):
                return NotImplemented
        return Tensor._make(getattr(backends.kernels_of(a._be), name)(a._buf, b), dt.bool_, a._be)

    def _promote_pair(self, b):
        """PyTorch's promotion: the higher dtype; a 0-d tensor beside a dimensioned one counts only when
        its category is higher (int64 [1, 2] + float64 0-d: float64; float16 [1.] + float64 0-d: float16)."""
        if (self.ndim == 0) != (b.ndim == 0):
            small, big = (self, b) if self.ndim == 0 else (b, self)
            dtype = big.dtype if dt.category(small.dtype) <= dt.category(big.dtype) else small.dtype
        else:
            dtype = dt.promote(self.dtype, b.dtype)
        return self.cast(dtype), b.cast(dtype)

    def _same_backend(self, b, what):
        if self._be is not b._be:
            raise ValueError(f"{what}: tensors are on different backends, {self.backend!r} and {b.backend!r}; "
                             f"move one with .to({self.backend!r})")

    def _as_tensor(self, x):
        return x if isinstance(x, Tensor) else Tensor(x, backend=self.backend)

    # --- indexing -----------------------------------------------------------------------------
    def __getitem__(self, key):
        shape = self._shape
        if type(key) is int and len(shape) == 1 and -shape[0] <= key < shape[0]:  # the hot path: w[i]
            key = key + shape[0] if key < 0 else key
            # the walkthrough's hot path. The index goes in as Index.forward's second argument, like a
            # number (no *params call); the element is a view of self's storage: it shares its version
            out = _run(self, _Index, _INT_INDEX[key] if key < _INT_INDEX_CACHED else (key,), False, self.dtype, ())
            version = self._version
            if version is None:
                version = self._version = [0, 0]
            out._version = version
            return out
        if indexing.is_advanced(key):  # several integer arrays, a multi-dim one or a boolean mask
            return indexing.getitem(self, key)
        index, new_axes = self._index(key)
        if index is not None and any(type(e) is int for e in index) and any(hasattr(e, "shape") for e in index):
            # PyTorch applies the ints first (basic indexing), then the array: its axis stays in place
            # (NumPy would move it to the front when a slice separates the two)
            ints = tuple(e if type(e) is int else slice(None) for e in index)
            out = Tensor._apply(ops.Index, self.dtype, (self,), ints)
            out = Tensor._apply(ops.Index, self.dtype, (out,), tuple(e for e in index if type(e) is not int))
        else:
            # t[:], t[...]: a new view of all of it (not t itself, as in PyTorch: t[:].data = x must not rebind t)
            index = (slice(None),) * self.ndim if index is None else index
            out = Tensor._apply(ops.Index, self.dtype, (self,), index)
        if not any(hasattr(e, "shape") for e in index):
            self._alias(out)  # basic indexing: a view of the same storage, as in PyTorch
            out._view_of = (self._buf, key, out._buf)  # `t[key] -= x` writes it back: __setitem__ skips the copy
        if new_axes is not None:
            out = out.reshape(*new_axes(out.shape))
        return out
