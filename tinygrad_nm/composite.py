"""Elementwise helpers the layers, losses and optimizers need, composed from Tensor methods.

where, maximum, minimum and clamp are now Tensor methods (tensor_math.py) and are kept here as
one-line calls for the modules that import them (erf and the exact GELU: host_math.py).
Each is differentiable where it says so, with PyTorch's gradient; none reaches below the
Tensor's public methods.
"""
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
