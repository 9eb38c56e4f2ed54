"""Elementwise helpers the layers, losses and optimizers need, composed from Tensor methods.

The Tensor API does not have these yet (where, maximum, clamp, log1p, expm1, erf are part of
the PyTorch-spelled Tensor API still to come); once it does, these become one-line calls.
Each is differentiable where it says so, with PyTorch's gradient; none reaches below the
Tensor's public methods.
"""
import math

import numpy as np

from tinygrad_nm.autograd import is_grad_enabled
from tinygrad_nm.tensor import Tensor


def where(cond, x, y):
    """x where `cond` (a bool Tensor) holds, else y; x and y Tensors or numbers, differentiable.

    Computed as x * m + y * (1 - m) with m = cond as 0/1: exact for finite values (multiplying by
    0 or 1 and adding 0 are exact). An inf or nan in the branch not taken would still give nan,
    so callers pass branches that are finite everywhere (see `log1p` for the usual trick)."""
    like = x if isinstance(x, Tensor) else y
    dtype = like.dtype if isinstance(like, Tensor) and like.dtype.is_float else "float32"
    m = cond.cast(dtype)
    return x * m + y * (1 - m)


def maximum(a, b):
    """Elementwise max of a and b (Tensors or numbers). Ties send the gradient to `a`."""
    return where(a >= b, a, b) if isinstance(a, Tensor) else where(b > a, b, a)


def minimum(a, b):
    """Elementwise min of a and b. Ties send the gradient to `a`."""
    return where(a <= b, a, b) if isinstance(a, Tensor) else where(b < a, b, a)


def clamp(x, min=None, max=None):
    """x limited to [min, max]; the gradient is 1 inside the closed interval and 0 outside, as
    torch.clamp's."""
    if min is not None:
        x = where(x < min, min, x)
    if max is not None:
        x = where(x > max, max, x)
    return x


def log1p(u):
    """log(1 + u) accurate for small u (Goldberg's trick: log(w) * u / (w - 1) with w = 1 + u
    rounded, which cancels the rounding of w). Needs u > -1 and finite."""
    w = 1 + u
    d = w - 1
    exact = d == 0  # 1 + u rounded to 1: log1p(u) = u to working precision
    safe_w, safe_d = where(exact, 2.0, w), where(exact, 1.0, d)  # keep the unused branch finite
    return where(exact, u, safe_w.log() * u / safe_d)


def expm1(x):
    """exp(x) - 1 accurate for small x (Kahan's trick: (u - 1) * x / log(u) with u = exp(x)).
    For x <= 0 only (what ELU needs), where u lies in [0, 1]."""
    u = x.exp()
    one, zero = u == 1, u == 0
    special = (one.long() + zero.long()) > 0
    safe_u = where(special, 0.5, u)  # keeps log(u) away from 0 and -inf in the unused branch
    general = (safe_u - 1) * x / safe_u.log()
    return where(one, x, where(zero, -1.0, general))


def _host_elementwise(x, value_fn, slope_fn):
    """f(x) computed on the host in float64 by `value_fn`, differentiable with f'(x) = slope_fn(x).

    For functions no kernel has yet (erf, the exact GELU). The result is
    value + (x - x.detach()) * slope: (x - x.detach()) is exactly 0 going forward and has
    gradient 1, so backward multiplies by the slope, as a hand-written op would."""
    host = x.detach().double().numpy().astype(np.float64)
    value = Tensor(value_fn(host), dtype=x.dtype, backend=x.backend)
    if not (x.requires_grad and is_grad_enabled()):
        return value
    slope = Tensor(slope_fn(host), dtype=x.dtype, backend=x.backend)
    return value + (x - x.detach()) * slope


_erf = np.vectorize(math.erf, otypes=[np.float64])
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def erf(x):
    """The error function, to float64 precision (math.erf), differentiable."""
    return _host_elementwise(x, _erf, lambda h: (2 / math.sqrt(math.pi)) * np.exp(-h * h))


def gelu_exact(x):
    """x * Phi(x), Phi the standard normal CDF: PyTorch's default GELU."""
    def value(h):
        return h * 0.5 * (1 + _erf(h / math.sqrt(2)))

    def slope(h):  # Phi(x) + x * phi(x)
        return 0.5 * (1 + _erf(h / math.sqrt(2))) + h * np.exp(-0.5 * h * h) / math.sqrt(2 * math.pi)
    return _host_elementwise(x, value, slope)
