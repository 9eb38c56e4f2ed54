"""The `torch.*` functions, so that a PyTorch program runs with `import tinygrad_nm as torch`:
constructors (tensor, zeros, rand, arange, linspace, ...), the *_like family, cat/stack/where,
and every Tensor method PyTorch also spells as a function (torch.sum(x, 1) is x.sum(1)).

`device=` takes "cpu" (the default backend when it runs on the host), "cuda" (the Numba CUDA
backend), a `tnm.device` or a backend name; `backend=` takes a backend name. Random numbers are
drawn on the host (creation.py), so a seed gives the same numbers on every backend.
"""
import builtins  # (this module defines torch.abs, max and min)

import numpy as np

from tinygrad_nm import dtypes as dt
from tinygrad_nm.device import backend_name
from tinygrad_nm.einsum import einsum
from tinygrad_nm.host import rng_for, shape_arg
from tinygrad_nm.tensor import Tensor
from tinygrad_nm.tensor_math import where
from tinygrad_nm.tensor_shape import cat, concat, concatenate, stack

__all__ = ["tensor", "as_tensor", "from_numpy", "is_tensor", "zeros", "ones", "full", "empty", "rand", "randn",
           "randint", "arange", "linspace", "eye", "zeros_like", "ones_like", "full_like", "empty_like", "rand_like",
           "randn_like", "cat", "concat", "concatenate", "stack", "where"]


def tensor(data, dtype=None, device=None, requires_grad=False, backend=None):
    """A new tensor holding a copy of `data` (numbers, nested lists, a NumPy array or a tensor)."""
    if isinstance(data, Tensor):
        data = data.detach()
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, backend=backend_name(device, backend))


def as_tensor(data, dtype=None, device=None):
    if isinstance(data, Tensor):
        return data.to(*(x for x in (device, dtype) if x is not None))
    return tensor(data, dtype=dtype, device=device)


def from_numpy(array):
    """A tensor with the array's values and dtype (a copy: unlike PyTorch, it does not share memory)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a NumPy array, got {type(array).__name__}")
    return Tensor(array)


def is_tensor(obj):
    return isinstance(obj, Tensor)


def _sized(fill):
    def make(*size, dtype=None, device=None, requires_grad=False, backend=None):
        return fill(shape_arg(size), dtype=dtype, backend=backend_name(device, backend), requires_grad=requires_grad)
    return make


zeros = _sized(lambda s, **kw: Tensor.zeros(*s, **kw))
ones = _sized(lambda s, **kw: Tensor.ones(*s, **kw))
empty = zeros  # "uninitialised" memory: zeros here, so nothing depends on leftover values


def full(size, fill_value, dtype=None, device=None, requires_grad=False, backend=None):
    return Tensor.full(size, fill_value, dtype=dtype, backend=backend_name(device, backend), requires_grad=requires_grad)


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False, backend=None):
    return Tensor.rand(*size, generator=generator, dtype=dtype, backend=backend_name(device, backend),
                       requires_grad=requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False, backend=None):
    return Tensor.randn(*size, generator=generator, dtype=dtype, backend=backend_name(device, backend),
                        requires_grad=requires_grad)


def randint(low, high=None, size=None, generator=None, dtype=None, device=None, backend=None):
    """Integers uniform in [low, high): randint(high, size) or randint(low, high, size)."""
    if size is None and high is not None and not isinstance(high, (int, np.integer)):  # randint(high, size)
        low, high, size = 0, low, high
    elif high is None:  # randint(high, size=...)
        low, high = 0, low
    if size is None:
        raise TypeError("randint: missing the size argument, e.g. randint(10, (3,))")
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    values = rng_for(None, generator).integers(low, high, shape_arg((size,)))
    return Tensor(values, dtype=dtype or dt.int64, backend=backend_name(device, backend))


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False, backend=None):
    t = Tensor.arange(start, end, step, dtype=dtype, backend=backend_name(device, backend))
    return t.requires_grad_(True) if requires_grad else t


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False, backend=None):
    if not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"linspace: steps must be a non-negative int, got {steps!r}")
    t = Tensor(np.linspace(start, end, steps), dtype=dtype or dt.DEFAULT_FLOAT, backend=backend_name(device, backend))
    return t.requires_grad_(True) if requires_grad else t


def eye(n, m=None, dtype=None, device=None, requires_grad=False, backend=None):
    t = Tensor.eye(n, m, dtype=dtype, backend=backend_name(device, backend))
    return t.requires_grad_(True) if requires_grad else t


def _like(make):
    def like(input, *args, dtype=None, device=None, requires_grad=False, backend=None):
        if not isinstance(input, Tensor):
            raise TypeError(f"expected a tensor, got {type(input).__name__}")
        name = backend_name(device, backend) or input.backend
        return make(input.shape, *args, dtype=dtype or input.dtype, backend=name, requires_grad=requires_grad)
    return like


zeros_like = _like(lambda s, **kw: Tensor.zeros(*s, **kw))
ones_like = _like(lambda s, **kw: Tensor.ones(*s, **kw))
empty_like = zeros_like
full_like = _like(lambda s, value, **kw: Tensor.full(s, value, **kw))
rand_like = _like(lambda s, **kw: Tensor.rand(*s, **kw))
randn_like = _like(lambda s, **kw: Tensor.randn(*s, **kw))


# --- Tensor methods PyTorch also spells as functions: torch.exp(x) is x.exp() ------------------
_METHODS = ("abs exp log sqrt tanh sigmoid relu neg negative sign square reciprocal rsqrt clamp clip maximum "
            "minimum masked_fill eq ne lt le gt ge isnan isinf isfinite allclose isclose equal sum mean max min "
            "amax amin argmax argmin var std logsumexp any all prod cumsum norm softmax log_softmax reshape "
            "flatten unflatten unsqueeze squeeze permute transpose swapaxes t flip split chunk unbind matmul "
            "numel gather clone detach atanh logical_not logical_and logical_or logical_xor narrow index_select "
            "tril triu sin cos scatter scatter_add index_add log2 log1p expm1 floor ceil trunc fix round frac "
            "mm bmm mv dot outer floor_divide remainder tan "
            "log10 nan_to_num nonzero sort argsort topk median count_nonzero cumprod roll lerp addcmul addcdiv "
            "clamp_min clamp_max repeat_interleave addmm erf erfc atan2 arctan2 inverse det logdet slogdet mode unique bincount movedim moveaxis "
            "is_floating_point is_complex tile kron baddbmm heaviside sgn quantile nanquantile histc "
            "sinh cosh asinh acosh asin acos atan arcsinh arccosh arcsin arccos arctan exp2 deg2rad rad2deg logit "
            "xlogy hypot logaddexp logaddexp2 masked_select take take_along_dim index_fill index_copy aminmax "
            "cummax cummin logcumsumexp multinomial ravel masked_scatter diff argwhere").split()


def _function(name):
    def fn(input, *args, **kwargs):
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}(): argument 'input' must be a Tensor, not {type(input).__name__}")
        return getattr(input, name)(*args, **kwargs)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"torch.{name}(input, ...): input.{name}(...)."
    return fn


for _name in _METHODS:
    globals()[_name] = _function(_name)
    __all__.append(_name)


def _operand(x, other, name):
    """input as a tensor: a number first (torch.add(2, t)) becomes a 0-d tensor beside `other`."""
    if isinstance(x, Tensor):
        return x
    if isinstance(other, Tensor) and isinstance(x, (int, float, bool, np.number)):
        return other._scalar_like(x)
    raise TypeError(f"{name}(): argument 'input' must be a Tensor or a number beside one, not {type(x).__name__}")


def add(input, other, *, alpha=1):
    return _operand(input, other, "add").add(other, alpha=alpha)


def sub(input, other, *, alpha=1):
    return _operand(input, other, "sub").sub(other, alpha=alpha)


def mul(input, other):
    return _operand(input, other, "mul").mul(other)


def div(input, other, *, rounding_mode=None):
    return _operand(input, other, "div").div(other, rounding_mode=rounding_mode)


subtract, multiply, divide, true_divide = sub, mul, div, div


def pow(input, exponent):
    return input ** exponent


# --- random: drawn on the host from tnm.manual_seed's generator (or generator=), as rand/randn ----
def randperm(n, generator=None, dtype=None, device=None, requires_grad=False, backend=None):
    """A random permutation of 0 .. n - 1."""
    return Tensor(rng_for(None, generator).permutation(n), dtype=dtype or dt.int64, backend=backend_name(device, backend))


def normal(mean, std, size=None, generator=None, dtype=None, device=None, backend=None):
    """Normal draws: mean and std numbers (size= gives the shape) or tensors (their broadcast shape)."""
    tensors = [v for v in (mean, std) if isinstance(v, Tensor)]
    if not tensors and size is None:
        raise TypeError("normal: with a number mean and std, pass size=, e.g. normal(0.0, 1.0, size=(3,))")
    shape = shape_arg((size,)) if size is not None else np.broadcast_shapes(*(t.shape for t in tensors))
    name = backend_name(device, backend) or (tensors[0].backend if tensors else None)
    z = Tensor(rng_for(None, generator).standard_normal(shape), dtype=dtype or (tensors[0].dtype if tensors else None),
               backend=name)
    return z * std + mean


def bernoulli(input, p=None, generator=None):
    """1 with probability `input` (or p), else 0, per element; input's dtype and backend."""
    prob = input if p is None else input * 0 + p
    draws = Tensor(rng_for(None, generator).random(input.shape), dtype=input.dtype, backend=input.backend)
    return (draws < prob).to(input.dtype)


def poisson(input, generator=None):
    """A Poisson draw for each rate in input, of input's dtype."""
    rates = input.detach().numpy()
    if (rates < 0).any() or not np.isfinite(rates).all():
        raise RuntimeError("poisson: the rates must be finite and non-negative")
    return Tensor(rng_for(None, generator).poisson(rates), dtype=input.dtype, backend=input.backend)


def logspace(start, end, steps, base=10.0, dtype=None, device=None, requires_grad=False, backend=None):
    t = Tensor(np.logspace(start, end, steps, base=base), dtype=dtype or dt.DEFAULT_FLOAT,
               backend=backend_name(device, backend))
    return t.requires_grad_(True) if requires_grad else t


def meshgrid(*tensors, indexing="ij"):
    """Coordinate grids of 1-D tensors: "ij" (matrix) or "xy" (Cartesian: the first two swapped)."""
    tensors = tuple(tensors[0]) if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)) else tensors
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    order = list(tensors)
    if indexing == "xy" and len(order) >= 2:
        order[0], order[1] = order[1], order[0]
    shape = tuple(t.numel() for t in order)
    grids = [t.reshape(*(-1 if i == k else 1 for i in range(len(order)))).expand(*shape) for k, t in enumerate(order)]
    if indexing == "xy" and len(grids) >= 2:
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


# --- dtypes' limits, shapes, broadcasting ---------------------------------------------------------
Size = tuple  # a shape is a tuple here: x.size() == torch.Size([4, 3])


def finfo(type=None):
    """A float dtype's limits (eps, max, min, tiny, bits, resolution): NumPy's finfo of its storage."""
    return np.finfo((dt.to_dtype(type) or dt.DEFAULT_FLOAT).np_type)


def iinfo(type):
    return np.iinfo(dt.to_dtype(type).np_type)


def get_default_dtype():
    return dt.DEFAULT_FLOAT


def broadcast_to(input, size):
    return input.expand(*size)


def broadcast_tensors(*tensors):
    shape = np.broadcast_shapes(*(t.shape for t in tensors))
    return tuple(t.expand(*shape) for t in tensors)


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return (input.var(dim, unbiased, keepdim, correction=correction), input.mean(dim, keepdim))


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return (input.std(dim, unbiased, keepdim, correction=correction), input.mean(dim, keepdim))


def fliplr(input):
    return input.flip(1)


def flipud(input):
    return input.flip(0)


def diag(input, diagonal=0):
    """A 1-D input: the square matrix with it on the `diagonal`-th diagonal. A 2-D input: that
    diagonal of it, as a 1-D tensor. Differentiable both ways (a scatter into zeros, and an index)."""
    if input.ndim == 1:
        n = input.shape[0]
        m = n + builtins.abs(diagonal)
        rows = np.arange(n) + builtins.max(-diagonal, 0)
        flat = Tensor(rows * m + rows + diagonal, backend=input.backend)
        return Tensor.zeros(m * m, dtype=input.dtype, backend=input.backend).scatter(0, flat, input).reshape(m, m)
    if input.ndim != 2:
        raise RuntimeError(f"diag: expected a 1-D or 2-D input, got shape {input.shape}")
    rows, cols = input.shape
    start_row, start_col = builtins.max(-diagonal, 0), builtins.max(diagonal, 0)
    length = builtins.max(builtins.min(rows - start_row, cols - start_col), 0)
    index = np.arange(length)
    return input[Tensor(index + start_row, backend=input.backend), Tensor(index + start_col, backend=input.backend)]


def trace(input):
    if input.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, got shape {input.shape}")
    return diag(input).sum()


def isin(elements, test_elements, *, invert=False):
    """Whether each element is among test_elements (found on the host, as a mask is): a bool tensor."""
    values = test_elements.detach().numpy() if isinstance(test_elements, Tensor) else np.asarray(test_elements)
    found = np.isin(elements.detach().numpy(), values, invert=invert)
    return Tensor(found, backend=elements.backend)


def cdist(x1, x2, p=2.0):
    """The p-norm distance between each row of x1 (..., P, M) and each row of x2 (..., R, M): (..., P, R),
    from the differences themselves (exact; memory P x R x M)."""
    return (x1.unsqueeze(-2) - x2.unsqueeze(-3)).norm(p, dim=-1)


__all__ += ["add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide", "pow", "einsum",
            "randperm", "normal", "bernoulli", "logspace", "meshgrid", "Size",
            "finfo", "iinfo", "get_default_dtype", "broadcast_to", "broadcast_tensors", "var_mean", "std_mean",
            "fliplr", "flipud", "diag", "trace", "isin", "cdist", "poisson"]
