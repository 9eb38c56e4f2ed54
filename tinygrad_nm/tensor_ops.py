"""What a Tensor can do, as Python operators and methods: each one maps onto an op in ops.py.

`TensorOps` is a mixin: it never imports `Tensor` and holds no state. Every method checks its
arguments (shape arithmetic from shapes.py) and hands the op to the core's runner in tensor.py:
`self._binary(ops.Add, other)` for `a + b`, `self._apply(ops.Neg, dtype, (a,))` for the rest.
`@` and the other products are TensorProducts' (products.py).
"""
import math

import numpy as np

from tinygrad_nm import dtypes as dt
from tinygrad_nm import ops
from tinygrad_nm.grad_mode import grad_mode
from tinygrad_nm import backends, indexing
from tinygrad_nm.backends.strided import array_axis_first, array_place
from tinygrad_nm.shapes import broadcast_shape, normalize_index


# torch.set_printoptions (namespace.py) changes these: how __repr__ writes the values
PRINT_OPTIONS = dict(precision=4, threshold=1000, edgeitems=3, linewidth=80, sci_mode=None)


class TensorOps:
    __slots__ = ()

    # --- Python protocols and conversions (values come through the core's traced _host/item) ---
    def __len__(self):
        if not self._shape:
            raise TypeError("len() of a 0-d tensor")
        return self._shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def numpy(self):
        if self.requires_grad:
            raise RuntimeError("can't call numpy() on a tensor that requires grad; use t.detach().numpy()")
        return self._host()

    def __array__(self, dtype=None, copy=None):
        a = self._host()
        return a.astype(dtype) if dtype is not None else a

    def tolist(self):
        return self._host().tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.is_float:
            raise TypeError(f"only integer tensors of one element can be used as an index, got {self.dtype}")
        return int(self.item())

    def __bool__(self):
        if self.numel() != 1:
            raise RuntimeError(f"the truth value of a tensor with {self.numel()} elements (shape {self.shape}) "
                               "is ambiguous; use .any() or .all() style reductions")
        return bool(self.item())

    def __repr__(self):
        o = PRINT_OPTIONS
        body = np.array2string(self._host(), separator=", ", precision=o["precision"], threshold=o["threshold"],
                               edgeitems=o["edgeitems"], max_line_width=o["linewidth"], prefix="Tensor(",
                               suppress_small=o["sci_mode"] is False,
                               floatmode="maxprec" if o["sci_mode"] is not True else "fixed",
                               formatter={"float_kind": f"{{:.{o['precision']}e}}".format} if o["sci_mode"] else None)
        extra = f", grad_fn=<{self._ctx.__name__}Backward>" if self._ctx is not None else (
            ", requires_grad=True" if self.requires_grad else "")
        return f"Tensor({body}, shape={self.shape}, dtype={self.dtype}, backend={self.backend}{extra})"

    # --- arithmetic: a OP b, b a tensor, a Python number or array-like --------------------------
    def __add__(self, other): return self._binary(ops.Add, other)
    def __radd__(self, other): return self._binary(ops.Add, other, True)
    def __sub__(self, other): return self._binary(ops.Sub, other)
    def __rsub__(self, other): return self._binary(ops.Sub, other, True)
    def __mul__(self, other): return self._binary(ops.Mul, other)
    def __rmul__(self, other): return self._binary(ops.Mul, other, True)
    def __truediv__(self, other): return self._binary(ops.Div, other)
    def __rtruediv__(self, other): return self._binary(ops.Div, other, True)
    def __pow__(self, other): return self._binary(ops.Pow, other)
    def __rpow__(self, other): return self._binary(ops.Pow, other, True)
    def __neg__(self): return self._apply(ops.Neg, self.dtype, (self,))
    def __pos__(self): return self
    def __abs__(self): return self.abs()

    def _inplace(self, fn_cls, other):
        if grad_mode.enabled and (self.requires_grad or (isinstance(other, TensorOps) and other.requires_grad)):
            if self._ctx is None and self.requires_grad:
                raise RuntimeError("a leaf tensor that requires grad is being used in an in-place operation; "
                                   "update it inside `with tnm.no_grad():` or through `t.data`")
            return self._binary(fn_cls, other)  # inside a graph: record out of place, the name is rebound
        if isinstance(other, TensorOps) and other._be is self._be:
            self._no_partial_overlap(fn_cls.__name__.lower() + "_", other._buf)
        if ((fn_cls is ops.Sub or fn_cls is ops.Add) and isinstance(other, TensorOps) and other._be is self._be
                and other.dtype is self.dtype and self.dtype.is_float and other._shape == self._shape
                and (other._version is not self._version or self._version is None)):
            # `p -= lr * p.grad`: one pass in p's storage, as PyTorch's sub_ (the same roundings), no
            # result buffer, no copy back (bench/README.md, "Training": `p -= q` in one pass)
            k = backends.kernels_of(self._be)
            buf = k.axpy(self._buf, -1.0 if fn_cls is ops.Sub else 1.0, other._buf)
            self._buf = buf if buf is self._buf else k.assign(self._buf, buf)  # an immutable buffer: as below
            self._written()
            return self
        result = self._binary(fn_cls, other)
        if result is NotImplemented:
            raise TypeError(f"in-place {fn_cls.__name__.lower()}: unsupported operand of type "
                            f"{type(other).__name__} for a tensor of shape {self.shape}")
        if result.shape != self.shape:
            raise RuntimeError(f"in-place op: the result's shape {result.shape} does not match the "
                               f"tensor's shape {self.shape}")
        if result.dtype is not self.dtype and result.dtype.is_float and not self.dtype.is_float:
            raise RuntimeError(f"in-place op: result type {result.dtype} can't be stored in a {self.dtype} tensor")
        self._buf = backends.kernels_of(self._be).assign(self._buf, result._buf)
        self._written()
        return self

    def _no_partial_overlap(self, what, source, into=None):
        """Raise, as PyTorch does, where an in-place write into self (or its view `into`) would read
        `source` (a buffer of self's backend) after writing some of its elements: their storage
        partly overlaps."""
        if self._be.overlap(self._buf if into is None else into, source) == "partial":
            raise RuntimeError(f"{what}: unsupported operation: some elements of the input tensor and the written-to "
                               "tensor refer to a single memory location. Please clone() the tensor before performing "
                               "the operation.")

    def __iadd__(self, other):
        if self._ctx is not None and (grad_mode.everywhere or grad_mode.here()):  # `out += x` inside a graph, as in the walkthrough
            return self._binary(ops.Add, other)  # recorded out of place; Python rebinds the name
        return self._inplace(ops.Add, other)

    def __isub__(self, other): return self._inplace(ops.Sub, other)
    def __imul__(self, other): return self._inplace(ops.Mul, other)
    def __itruediv__(self, other): return self._inplace(ops.Div, other)

    # comparisons: bool tensors outside the graph
    def __lt__(self, other): return self._compare("lt", other)
    def __le__(self, other): return self._compare("le", other)
    def __gt__(self, other): return self._compare("gt", other)
    def __ge__(self, other): return self._compare("ge", other)
    def __eq__(self, other): return self._compare("eq", other)
    def __ne__(self, other): return self._compare("ne", other)

    # --- elementwise math -----------------------------------------------------------------------
    def exp(self): return self._apply(ops.Exp, *self._float())
    def log(self): return self._apply(ops.Log, *self._float())
    def sqrt(self): return self._apply(ops.Sqrt, *self._float())
    def abs(self): return self._apply(ops.Abs, self.dtype, (self,))
    def atanh(self): return self._apply(ops.Atanh, *self._float())
    def sin(self): return self._apply(ops.Sin, *self._float())
    def cos(self): return self._apply(ops.Cos, *self._float())
    def tanh(self): return self._apply(ops.Tanh, *self._float())
    def sigmoid(self): return self._apply(ops.Sigmoid, *self._float())
    def relu(self): return self._apply(ops.Relu, self.dtype, (self,))

    def _float(self):
        """Arguments for _apply of a float-only op: ints are lifted to the default float first."""
        t = self if self.dtype.is_float else self.cast(dt.DEFAULT_FLOAT)
        return t.dtype, (t,)

    # --- writing by index (reading, t[key], is the core's: its hot path is w[i]) ---------------
    def __setitem__(self, key, value):
        if grad_mode.enabled and self.requires_grad:
            raise RuntimeError("a tensor that requires grad is being written in place by t[...] = v; "
                               "write inside `with tnm.no_grad():` or through `t.data`")
        if indexing.is_advanced(key):  # several integer arrays, a multi-dim one or a boolean mask
            return indexing.setitem(self, key, value)
        index, new_axes = self._index(key)
        index = index if index is not None else (slice(None),) * max(self.ndim, 1)
        be = backends.kernels_of(self._be)
        if isinstance(value, TensorOps):
            made = getattr(value, "_view_of", None)
            if made is not None and made[0] is self._buf and made[1] is key and made[2] is value._buf:
                self._written()  # t[key] = t[key], as `t[key] -= x` ends: the view it changed is t's storage
                return
            self._same_backend(value, "setitem")
            if value.ndim:
                view = be.getitem(self._buf, index) if self.ndim else self._buf  # the elements written
                if 1 < value.numel() == math.prod(view.shape):  # t[1:] = t[:-1] raises, as in PyTorch
                    self._no_partial_overlap("setitem", value._buf, view)  # (a broadcast value: never)
                target = view.shape if self.ndim else ()  # in the kernel's order
                # t[key]'s shape as PyTorch orders it (an int and an array apart: the array's axis in
                # place, not first as the kernels' NumPy rule puts it), None axes included
                at = array_place(index) if array_axis_first(index) else 0
                ordered = target[1:at + 1] + target[:1] + target[at + 1:] if at else target
                seen = new_axes(ordered) if new_axes is not None else ordered
                broadcast_shape(value.shape, seen, f"t[{key!r}] = value", into=True)
                if new_axes is not None or at:  # the value in the selected elements' own layout
                    buf = be.reshape(be.expand(value._buf, seen), ordered)
                    if at:
                        buf = be.permute(buf, (at,) + tuple(i for i in range(len(ordered)) if i != at))
                    value = type(self)._make(buf, value.dtype, value._be)
            value = value.cast(self.dtype)._buf if value.dtype is not self.dtype else value._buf
        elif not isinstance(value, (int, float, bool)):
            return self.__setitem__(key, type(self)(value, dtype=self.dtype, backend=self.backend))
        if not self.ndim:
            self._buf = be.assign(self._buf, value)
        else:
            be.setitem(self._buf, index, value)
        self._written()

    def _index(self, key):
        """normalize_index on host values, then its integer arrays stored on this backend."""
        host_key = tuple(self._host_index(k) for k in key) if isinstance(key, tuple) else self._host_index(key)
        index, new_axes = normalize_index(self._shape, host_key)
        if index is not None and any(isinstance(e, np.ndarray) for e in index):
            be = backends.kernels_of(self._be)
            index = tuple(be.from_numpy(e, dt.int64) if isinstance(e, np.ndarray) else e for e in index)
        return index, new_axes

    def _host_index(self, k):
        if not isinstance(k, TensorOps):
            return k
        if k._be is not self._be:
            raise ValueError(f"index tensor is on backend {k.backend!r}, the tensor on {self.backend!r}")
        if k.ndim == 0 and k.dtype is not dt.bool_:  # indexes like an int (a float one raises)
            return k.__index__()
        return k._host()
