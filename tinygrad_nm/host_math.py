"""Elementwise functions no backend kernel computes yet: erf, erfc, sinh, cosh, asinh, acosh, asin,
acos, atan, atan2, hypot and the exact GELU.

Each is computed on the host in float64 (math.erf per element, NumPy's arctan2), rounded once
to the result's dtype, and differentiable through a custom autograd Function
(autograd_function.py) whose backward multiplies by the derivative, also computed on the host.
A round trip to the host per call: right for a layer or a loss, not at a kernel's speed.
"""
import math

import numpy as np

from tinygrad_nm import dtypes as dt
from tinygrad_nm.autograd_function import Function

_erf = np.vectorize(math.erf, otypes=[np.float64])
_erfc = np.vectorize(math.erfc, otypes=[np.float64])
_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)


def _host(x):
    return x.detach().numpy().astype(np.float64)


def _result_dtype(*xs):
    """The inputs' float dtype (float64 if any is), an integer input's result being float32."""
    floats = {x.dtype for x in xs if x.dtype.is_float}
    return dt.float64 if dt.float64 in floats else floats.pop() if len(floats) == 1 else dt.DEFAULT_FLOAT


def _unary(name, value, slope):
    """torch.<name>: value(x) forward, g * slope(x) backward, both on the float64 host values."""
    class HostUnary(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # nan/inf as PyTorch, silently
                return x.new_tensor(value(_host(x)), dtype=_result_dtype(x))

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                return g * g.new_tensor(slope(_host(x)))
    HostUnary.__name__ = HostUnary.__qualname__ = name.title().replace("_", "")
    return HostUnary.apply


erf = _unary("erf", _erf, lambda h: _TWO_OVER_SQRT_PI * np.exp(-h * h))
erfc = _unary("erfc", _erfc, lambda h: -_TWO_OVER_SQRT_PI * np.exp(-h * h))
sinh = _unary("sinh", np.sinh, np.cosh)
cosh = _unary("cosh", np.cosh, np.sinh)
asinh = _unary("asinh", np.arcsinh, lambda h: 1 / np.hypot(h, 1))
acosh = _unary("acosh", np.arccosh, lambda h: 1 / np.sqrt((h - 1) * (h + 1)))
asin = _unary("asin", np.arcsin, lambda h: 1 / np.sqrt(1 - h * h))
acos = _unary("acos", np.arccos, lambda h: -1 / np.sqrt(1 - h * h))
atan = _unary("atan", np.arctan, lambda h: 1 / (1 + h * h))
# x * Phi(x), Phi the standard normal CDF (PyTorch's default GELU); slope Phi(x) + x phi(x)
gelu_exact = _unary("gelu", lambda h: h * 0.5 * (1 + _erf(h / math.sqrt(2))),
                    lambda h: 0.5 * (1 + _erf(h / math.sqrt(2))) + h * np.exp(-0.5 * h * h) / math.sqrt(2 * math.pi))


def _binary(name, value, slopes):
    """torch.<name>(a, b), broadcast: value(a, b) forward; backward g times each of slopes(a, b)."""
    class HostBinary(Function):
        @staticmethod
        def forward(ctx, a, b):
            if not hasattr(a, "_buf") or not hasattr(b, "_buf"):
                raise TypeError(f"{name}: both arguments must be tensors, got {type(a).__name__} and "
                                f"{type(b).__name__}")
            ctx.save_for_backward(a, b)
            return a.new_tensor(value(_host(a), _host(b)), dtype=_result_dtype(a, b))

        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            with np.errstate(divide="ignore", invalid="ignore"):
                da, db = slopes(*np.broadcast_arrays(_host(a), _host(b)))
            return g * g.new_tensor(da), g * g.new_tensor(db)
    HostBinary.__name__ = HostBinary.__qualname__ = name.title()
    return HostBinary.apply


def _atan2_slopes(y, x):  # d atan2(y, x) = (x dy - y dx) / (x^2 + y^2); 0 at the origin, as PyTorch
    r2 = x * x + y * y
    return np.where(r2 == 0, 0.0, x / r2), np.where(r2 == 0, 0.0, -y / r2)


def _hypot_slopes(a, b):  # a / h, b / h; 0 where both are 0
    h = np.hypot(a, b)
    return np.where(h == 0, 0.0, a / h), np.where(h == 0, 0.0, b / h)


atan2 = _binary("atan2", np.arctan2, _atan2_slopes)  # torch.atan2(input=y, other=x): the angle of (x, y)
hypot = _binary("hypot", np.hypot, _hypot_slopes)
