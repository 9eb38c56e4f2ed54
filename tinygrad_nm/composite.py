"""Elementwise helpers the layers, losses and optimizers need, composed from Tensor methods.

where, maximum, minimum and clamp are now Tensor methods (tensor_math.py) and are kept here as
one-line calls for the modules that import them; erf has no kernel yet.
Each is differentiable where it says so, with PyTorch's gradient; none reaches below the
Tensor's public methods.
"""
import math

import numpy as np

from tinygrad_nm.grad_mode import is_grad_enabled
from tinygrad_nm import tensor_math
from tinygrad_nm.tensor import Tensor


def where(cond, x, y):
    """x where `cond` (a bool Tensor) holds, else y: Tensor.where (tensor_math.py)."""
    return tensor_math.where(cond, x, y)


def maximum(a, b):
    """Elementwise max of a and b. With a number it is clamp(min=number), whose gradient at a tie
    goes to the tensor (PyTorch's clamp_min, which the losses here follow); two tensors share
    it, as torch.maximum."""
    if not isinstance(b, Tensor):
        return a.clamp(min=b)
    return b.clamp(min=a) if not isinstance(a, Tensor) else a.maximum(b)


def minimum(a, b):
    """Elementwise min of a and b: clamp(max=number) with a number, else torch.minimum."""
    if not isinstance(b, Tensor):
        return a.clamp(max=b)
    return b.clamp(max=a) if not isinstance(a, Tensor) else a.minimum(b)


def clamp(x, min=None, max=None):
    """Tensor.clamp: gradient 1 inside the closed interval, 0 outside (as torch.clamp)."""
    return x if min is None and max is None else x.clamp(min, max)


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
