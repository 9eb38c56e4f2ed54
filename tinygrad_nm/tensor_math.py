"""Elementwise methods spelled as in PyTorch that compose the core's ops: where, maximum,
minimum, clamp, masked_fill, the named comparisons, isnan/isinf/isfinite, allclose/equal, sign,
square, reciprocal, rsqrt; and those on ops_elementwise.py's kernels: log2, log1p, expm1, floor,
ceil, trunc, round.

`TensorMath` is a mixin of Tensor (it never imports it). `where` is one op (ops_shape.Where, on
the `where` kernel); the rest are built from it and the operators, with PyTorch's gradients.
"""
import numpy as np

from tinygrad_nm import backends
from tinygrad_nm import dtypes as dt
from tinygrad_nm import host_math, ops_elementwise, ops_shape
from tinygrad_nm.shapes import broadcast_shape

_Number = (int, float, bool)


def _is_tensor(x):
    return hasattr(x, "_buf")


def where(condition, input=None, other=None):
    """torch.where(condition, input, other): input where condition (a bool tensor) holds, else
    other; input and other are tensors or numbers, broadcast together, dtypes promoted.
    Differentiable in both; an inf or nan in the branch not taken does not reach the result.
    torch.where(condition) alone: condition.nonzero(as_tuple=True)."""
    if input is None and other is None and _is_tensor(condition):
        return condition.nonzero(as_tuple=True)
    if not _is_tensor(condition) or condition.dtype is not dt.bool_:
        raise TypeError(f"where: condition must be a bool tensor, got "
                        f"{condition.dtype if _is_tensor(condition) else type(condition).__name__}")
    for name, v in (("input", input), ("other", other)):
        if not (_is_tensor(v) or isinstance(v, _Number) or isinstance(v, np.generic)):
            raise TypeError(f"where: {name} must be a tensor or a number, got {type(v).__name__}")
    x, y = (v.item() if isinstance(v, np.generic) else v for v in (input, other))
    if not _is_tensor(x) and not _is_tensor(y):  # two numbers: the first becomes a tensor
        x = type(condition)(x, backend=condition.backend, dtype=dt.promote(*(dt.to_dtype(type(v)) for v in (x, y))))
    tensors = [v for v in (x, y) if _is_tensor(v)]
    for t in tensors:
        condition._same_backend(t, "where")
    if len(tensors) == 2:
        dtype = dt.promote(x.dtype, y.dtype)
    else:
        dtype = dt.promote_scalar(tensors[0].dtype, y if tensors[0] is x else x)
    shape = condition.shape
    for t in tensors:
        shape = broadcast_shape(shape, t.shape, "where")
    x, y = (v.cast(dtype).expand(*shape) if _is_tensor(v) else _as_scalar(v, dtype) for v in (x, y))
    cond = condition.expand(*shape)._buf if condition.shape != shape else condition._buf
    return condition._apply(ops_shape.Where, dtype, (x, y), cond)


def _wide(x):
    """A tensor in float64 (a quotient rounded before the narrower dtype would lose digits); a number as is."""
    return x.cast(dt.float64) if _is_tensor(x) and x.dtype is not dt.float64 else x


def _as_scalar(v, dtype):
    return float(v) if dtype.is_float else bool(v) if dtype is dt.bool_ else int(v)


class TensorMath:
    __slots__ = ()

    def where(self, condition, other):
        """self where condition holds, else other (Tensor.where, PyTorch's argument order)."""
        return where(condition, self, other)

    def masked_fill(self, mask, value):
        """value where mask (a bool tensor broadcastable to self) holds; self's shape and dtype."""
        if _is_tensor(value):
            if value.ndim:
                raise ValueError(f"masked_fill: value must be a number or a 0-d tensor, got shape {value.shape}")
            value = value.cast(self.dtype)
        elif isinstance(value, _Number) or isinstance(value, np.generic):
            value = _as_scalar(value, self.dtype)
        else:
            raise TypeError(f"masked_fill: value must be a number or a 0-d tensor, got {type(value).__name__}")
        if _is_tensor(mask):
            broadcast_shape(mask.shape, self.shape, "masked_fill: mask", into=True)
        return where(mask, value, self)

    def maximum(self, other):
        """Elementwise max; nan wins; at ties each input gets half the gradient (as PyTorch)."""
        return self._pick(other, 1)

    def minimum(self, other):
        return self._pick(other, -1)

    def _pick(self, other, sign):
        a, b = self, other
        first, second = (a > b, a < b) if sign > 0 else (a < b, a > b)
        if not (self.dtype.is_float or _is_tensor(other) and other.dtype.is_float):
            return where(first, a, b)  # integers: no gradient, no nan
        return where(first, a, where(second, b, a * 0.5 + b * 0.5))

    def clamp(self, min=None, max=None):
        """self limited to [min, max] (numbers or tensors); gradient 1 inside the closed interval."""
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must be given")
        out = self
        if min is not None:
            out = where(out < min, min, out)
        if max is not None:
            out = where(out > max, max, out)
        return out

    clip = clamp

    # --- comparisons by name (the operators, which PyTorch also names) -------------------------
    def eq(self, other): return self._named_compare("eq", other)
    def ne(self, other): return self._named_compare("ne", other)
    def lt(self, other): return self._named_compare("lt", other)
    def le(self, other): return self._named_compare("le", other)
    def gt(self, other): return self._named_compare("gt", other)
    def ge(self, other): return self._named_compare("ge", other)
    greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne

    def _named_compare(self, name, other):
        out = self._compare(name, other)
        if out is NotImplemented:
            raise TypeError(f"{name}: can't compare a tensor with {type(other).__name__}")
        return out

    def isnan(self):
        return self != self

    def isinf(self):
        if not self.dtype.is_float:
            return self._all_bool(False)
        return self.abs() == float("inf")

    def isfinite(self):
        if not self.dtype.is_float:
            return self._all_bool(True)
        return self.abs() < float("inf")  # false for inf and nan

    def _all_bool(self, value):
        return type(self).full(self.shape, value, dtype=dt.bool_, backend=self.backend)

    def allclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        """|self - other| <= atol + rtol * |other| everywhere (torch.allclose), as a Python bool."""
        other = self._as_tensor(other)
        self._same_backend(other, "allclose")
        if self.dtype is not other.dtype:
            raise TypeError(f"allclose: dtypes differ, {self.dtype} and {other.dtype}")
        broadcast_shape(self.shape, other.shape, "allclose")
        return bool(np.allclose(self._host(), other._host(), rtol=rtol, atol=atol, equal_nan=equal_nan))

    def isclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        other = self._as_tensor(other)
        self._same_backend(other, "isclose")
        close = np.isclose(self._host(), other._host(), rtol=rtol, atol=atol, equal_nan=equal_nan)
        return type(self)(close, backend=self.backend)

    def equal(self, other):
        """True when shapes and every element are equal (torch.equal)."""
        if not _is_tensor(other):
            raise TypeError(f"equal: expected a tensor, got {type(other).__name__}")
        self._same_backend(other, "equal")
        return self.shape == other.shape and bool((self == other).all())

    # --- logic: bool tensors (masks); other dtypes count as true where nonzero ------------------
    def logical_not(self):
        return self == 0 if self.dtype is not dt.bool_ else self == False  # noqa: E712 (elementwise)

    def logical_and(self, other):
        return where(self._truth(), self._truth(other), False)

    def logical_or(self, other):
        return where(self._truth(), True, self._truth(other))

    def logical_xor(self, other):
        return self._truth() != self._truth(other)

    def _truth(self, x=None):
        """x (default self) as a bool tensor: nonzero is true."""
        x = self if x is None else x if _is_tensor(x) else self._as_tensor(x)
        return x if x.dtype is dt.bool_ else x != 0

    def _bool_only(self, other, what):
        for t in (self, other):
            if _is_tensor(t) and t.dtype is not dt.bool_ or not _is_tensor(t) and not isinstance(t, bool):
                raise TypeError(f"{what}: bitwise operations on integer tensors are not supported; "
                                f"only bool tensors (masks) work with &, |, ^ and ~")

    def __and__(self, other):
        self._bool_only(other, "&")
        return self.logical_and(other)

    def __or__(self, other):
        self._bool_only(other, "|")
        return self.logical_or(other)

    def __xor__(self, other):
        self._bool_only(other, "^")
        return self.logical_xor(other)

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def __invert__(self):
        self._bool_only(True, "~")
        return self.logical_not()

    bitwise_and, bitwise_or, bitwise_xor, bitwise_not = __and__, __or__, __xor__, __invert__

    # --- elementwise -----------------------------------------------------------------------------
    def neg(self):
        if self.dtype is dt.bool_:
            raise TypeError("neg: negation of a bool tensor is not supported; use `~` style logic or `t == 0`")
        return -self

    negative = neg

    def square(self):
        return self * self

    def pow(self, exponent):
        """self ** exponent; exponent a number or a tensor (differentiable in both, as PyTorch)."""
        return self ** exponent

    def reciprocal(self):
        return 1.0 / (self if self.dtype.is_float else self.cast(dt.DEFAULT_FLOAT))

    def rsqrt(self):
        return self.sqrt().reciprocal()

    def sign(self):
        """-1, 0 or 1 (nan stays nan). Not differentiable: its gradient is 0 wherever defined, so the
        result is cut from the graph."""
        x = self.long() if self.dtype is dt.bool_ else self
        out = self._make(backends.kernels_of(x._be).sign(x._buf), x.dtype, x._be)
        return out.bool() if self.dtype is dt.bool_ else out

    # --- the operators by name, with PyTorch's extra arguments ----------------------------------
    def add(self, other, *, alpha=1):
        return self + (other if alpha == 1 else other * alpha)

    def sub(self, other, *, alpha=1):
        return self - (other if alpha == 1 else other * alpha)

    subtract = sub

    def mul(self, other):
        return self * other

    multiply = mul

    def div(self, other, *, rounding_mode=None):
        """self / other; rounding_mode "trunc" or "floor" rounds the quotient (gradient 0). Integer
        tensors stay integer and are divided exactly, on the host (as a mask's positions are found);
        float32 quotients are rounded from float64 ones, so 1e8 // 7 is exact."""
        if rounding_mode is None:
            return self / other
        if rounding_mode not in ("trunc", "floor"):
            raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")
        if self._integer_with(other):
            return self._integer_division(other, rounding_mode)
        q = _wide(self) / _wide(other)
        return self._narrowed((q.floor() if rounding_mode == "floor" else q.trunc()), other)

    divide = true_divide = div

    def floor_divide(self, other):
        return self.div(other, rounding_mode="floor")

    def remainder(self, other):
        """self - floor(self / other) * other: the sign of the divisor, as Python's % and PyTorch's
        (integers exactly, on the host; float32 through float64)."""
        if self._integer_with(other):
            return self._integer_division(other, "remainder")
        a, b = _wide(self), _wide(other)
        return self._narrowed(a - (a / b).floor() * b, other)

    def _integer_with(self, other):
        other_float = other.dtype.is_float if _is_tensor(other) else isinstance(other, float)
        return not self.dtype.is_float and not other_float

    def _narrowed(self, out, other):
        """A float64 result back in the dtype self op other has (PyTorch's promotion)."""
        dtype = dt.promote(self.dtype, other.dtype) if _is_tensor(other) else dt.promote_scalar(self.dtype, other)
        return out if out.dtype is dtype else out.cast(dtype)

    def _integer_division(self, other, mode):
        if _is_tensor(other):
            self._same_backend(other, mode)
        a, b = self.numpy(), other.numpy() if _is_tensor(other) else np.int64(other)
        if (np.asarray(b) == 0).any():
            raise RuntimeError(f"ZeroDivisionError: {mode}: integer division by zero")  # PyTorch's type and words
        q = np.floor_divide(a, b)
        out = np.remainder(a, b) if mode == "remainder" else \
            q + (((a % b) != 0) & ((a < 0) != (b < 0))) if mode == "trunc" else q
        return type(self)(out.astype(np.int64), backend=self.backend)

    __floordiv__, __mod__ = floor_divide, remainder

    def __rfloordiv__(self, other):
        return self._scalar_like(other).floor_divide(self)

    def __rmod__(self, other):
        return self._scalar_like(other).remainder(self)

    def _scalar_like(self, number):
        """A number as a 0-d tensor on self's backend (its own dtype: 7 // t is int if t is)."""
        return type(self)(number, backend=self.backend)

    def nonzero(self, *, as_tuple=False):
        """The indices of the nonzero elements (found on the host, as a mask's are): an (n, ndim)
        int64 tensor in row-major order, or with as_tuple one 1-D tensor per dim."""
        found = np.nonzero(np.atleast_1d(self.detach().numpy()))
        if as_tuple:
            return tuple(type(self)(f, backend=self.backend) for f in found)
        return type(self)(np.stack(found, axis=1).reshape(-1, max(self.ndim, 1))[:, :self.ndim] if self.ndim
                          else np.zeros((len(found[0]), 0), np.int64), backend=self.backend)

    def tan(self):
        x = self if self.dtype.is_float else self.cast(dt.DEFAULT_FLOAT)
        return x.sin() / x.cos()

    def erf(self):
        return host_math.erf(self)

    def erfc(self):
        return host_math.erfc(self)

    def atan2(self, other):
        return host_math.atan2(self, other)

    arctan2 = atan2

    def log10(self):
        """log(x) / log(10), computed in float64 (rounded once for float32: exact at powers of ten);
        a float64 input can be an ulp off, with no log10 kernel."""
        x = self if self.dtype.is_float else self.cast(dt.DEFAULT_FLOAT)
        out = _wide(x).log() * (1.0 / np.log(10.0))
        return out if out.dtype is x.dtype else out.cast(x.dtype)

    def nan_to_num(self, nan=0.0, posinf=None, neginf=None):
        """nan -> `nan`, +inf -> `posinf`, -inf -> `neginf` (default: the dtype's largest and
        smallest finite values, as PyTorch); other elements and integer tensors unchanged."""
        if not self.dtype.is_float:
            return self.clone()
        info = np.finfo(self.dtype.np_type)
        top, bottom = float(info.max if posinf is None else posinf), float(info.min if neginf is None else neginf)
        out = self.masked_fill(self.isnan(), float(nan))
        return out.masked_fill(self == float("inf"), top).masked_fill(self == float("-inf"), bottom)

    # --- on their own kernels (ops_elementwise.py); ints are lifted to the default float first ----
    def log2(self): return self._apply(ops_elementwise.Log2, *self._float())
    def log1p(self): return self._apply(ops_elementwise.Log1p, *self._float())
    def expm1(self): return self._apply(ops_elementwise.Expm1, *self._float())

    # rounding: gradient 0 (recorded, as PyTorch); an int64 tensor comes back as a copy, a bool one raises
    def floor(self): return self._rounded(ops_elementwise.Floor, "floor")
    def ceil(self): return self._rounded(ops_elementwise.Ceil, "ceil")
    def trunc(self): return self._rounded(ops_elementwise.Trunc, "trunc")
    fix = trunc

    def round(self, decimals=0):
        """Nearest integer, halves to even (2.5 -> 2.0, -0.5 -> -0.0); with `decimals`, to that many
        decimal places, as PyTorch computes it: round(x * 10**d) / 10**d (d < 0: x / 10**-d, then * )."""
        if not isinstance(decimals, int) or isinstance(decimals, bool):
            raise TypeError(f"round: decimals must be an int, got {type(decimals).__name__}")
        if decimals == 0:
            return self._rounded(ops_elementwise.Round, "round")
        if not self.dtype.is_float:
            raise TypeError(f"round: decimals={decimals} is not implemented for {self.dtype} tensors (as in PyTorch)")
        scale = 10.0 ** abs(decimals)
        if decimals > 0:
            return (self * scale)._rounded(ops_elementwise.Round, "round") / scale
        return (self / scale)._rounded(ops_elementwise.Round, "round") * scale

    def frac(self):
        """self - trunc(self): the fractional part, sign kept; gradient 1 (as PyTorch)."""
        return self - self.trunc()

    def _rounded(self, op, name):
        if self.dtype is dt.bool_:
            raise TypeError(f"{name}: not implemented for bool tensors (as in PyTorch); cast with .long() or .float()")
        if not self.dtype.is_float:
            return self.clone()
        return self._apply(op, self.dtype, (self,))
