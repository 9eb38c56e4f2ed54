"""Elementwise functions no backend kernel computes yet: erf, erfc, asin, acos, atan, atan2 and the
exact GELU.

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
            with np.errstate(invalid="ignore", divide="ignore"):  # outside the domain: nan, as PyTorch, silently
                return x.new_tensor(value(_host(x)), dtype=_result_dtype(x))

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            with np.errstate(invalid="ignore", divide="ignore"):
                return g * g.new_tensor(slope(_host(x)))
    HostUnary.__name__ = HostUnary.__qualname__ = name.title().replace("_", "")
    return HostUnary.apply


erf = _unary("erf", _erf, lambda h: _TWO_OVER_SQRT_PI * np.exp(-h * h))
erfc = _unary("erfc", _erfc, lambda h: -_TWO_OVER_SQRT_PI * np.exp(-h * h))
asin = _unary("asin", np.arcsin, lambda h: 1 / np.sqrt(1 - h * h))
acos = _unary("acos", np.arccos, lambda h: -1 / np.sqrt(1 - h * h))
atan = _unary("atan", np.arctan, lambda h: 1 / (1 + h * h))
# x * Phi(x), Phi the standard normal CDF (PyTorch's default GELU); slope Phi(x) + x phi(x)
gelu_exact = _unary("gelu", lambda h: h * 0.5 * (1 + _erf(h / math.sqrt(2))),
                    lambda h: 0.5 * (1 + _erf(h / math.sqrt(2))) + h * np.exp(-0.5 * h * h) / math.sqrt(2 * math.pi))


class _Atan2(Function):
    @staticmethod
    def forward(ctx, y, x):
        if not hasattr(x, "_buf") or not hasattr(y, "_buf"):
            raise TypeError(f"atan2: both arguments must be tensors, got {type(y).__name__} and {type(x).__name__}")
        ctx.save_for_backward(y, x)
        return y.new_tensor(np.arctan2(_host(y), _host(x)), dtype=_result_dtype(y, x))

    @staticmethod
    def backward(ctx, g):  # d atan2(y, x) = (x dy - y dx) / (x^2 + y^2); 0 at the origin, as PyTorch
        y, x = ctx.saved_tensors
        hy, hx = np.broadcast_arrays(_host(y), _host(x))
        r2 = hx * hx + hy * hy
        with np.errstate(divide="ignore", invalid="ignore"):
            dy, dx = np.where(r2 == 0, 0.0, hx / r2), np.where(r2 == 0, 0.0, -hy / r2)
        return g * g.new_tensor(dy), g * g.new_tensor(dx)


def atan2(y, x):
    """The angle of (x, y), elementwise with broadcasting: torch.atan2(input=y, other=x)."""
    return _Atan2.apply(y, x)
