"""`estimate(op, *shapes)`: what a Tensor op costs and how long it should take here, before running it.

    >>> print(tnm.napkin.estimate("matmul", (1024, 1024), (1024, 1024)))
    matmul 1024x1024x1024 [numpy float32]: 2.15 GFLOP / 210 GFLOP/s (BLAS) + 700 ns call = 10.2 ms
      2.15 GFLOP, 12.6 MB; roofline limit 4.57 ms (2.15 GFLOP / 470 GFLOP/s peak); default rates ...

`op` is a Tensor method's name (matmul, add, relu, sigmoid, sum, mean, softmax, ...) or a kernel's.
A shape is a tuple; a Python number in its place is a scalar operand (`estimate("pow", (n,), 2)`).
Keyword parameters: `axis`/`keepdims` for reductions and softmax; `dtype`; `backend` (default:
the current default backend).
"""
import math
from dataclasses import dataclass, field

from tinygrad_nm import backends
from tinygrad_nm.backends.kernels import KERNELS
from tinygrad_nm.napkin import fmt, model, rates as rates_mod
from tinygrad_nm.napkin.costs import Buf, Cost, kernel_cost

_ITEMSIZE = {"float32": 4, "float64": 8, "int64": 8, "bool": 1}
_ALIASES = {"truediv": "div", "dot": "matmul", "__matmul__": "matmul", "transpose": "permute", "T": "permute",
            "cast": "astype", "view": "reshape", "maximum": "max", "negative": "neg"}


@dataclass
class KernelEstimate:
    """One kernel call: its Cost and its Prediction."""
    cost: Cost
    prediction: model.Prediction

    def __str__(self):
        c, p = self.cost, self.prediction
        return f"{c.kernel} {_label(c)}: {p.arithmetic()} = {fmt.seconds(p.seconds)}"


@dataclass
class Estimate:
    op: str
    backend: str
    dtype: str
    parts: list                  # KernelEstimate per kernel call the op makes
    rates: object = field(repr=False, default=None)

    @property
    def flops(self):
        return sum(p.cost.flops for p in self.parts)

    @property
    def transcendentals(self):
        return sum(p.cost.transcendentals for p in self.parts)

    @property
    def bytes(self):
        return sum(p.cost.bytes for p in self.parts)

    @property
    def seconds(self):
        return sum(p.prediction.seconds for p in self.parts)

    @property
    def limit_seconds(self):
        return sum(p.prediction.limit_seconds for p in self.parts)

    @property
    def kernels(self):
        return [p.cost.kernel for p in self.parts]

    def __str__(self):
        head = f"{self.op} {_label(self.parts[0].cost) if self.parts else ''} [{self.backend} {self.dtype}]"
        if len(self.parts) == 1:
            line1 = f"{head}: {self.parts[0].prediction.arithmetic()} = {fmt.seconds(self.seconds)}"
        else:
            line1 = f"{head}: " + " + ".join(f"{p.cost.kernel} {fmt.seconds(p.prediction.seconds)}" for p in self.parts) \
                    + f" = {fmt.seconds(self.seconds)}"
        limit_terms = "; ".join(t for p in self.parts for t in p.prediction.limit_terms)
        source = self.rates.describe() if self.rates is not None else ""
        line2 = (f"  {_work(self)}; roofline limit {fmt.seconds(self.limit_seconds)}"
                 + (f" ({limit_terms})" if limit_terms else "") + f"; {source}")
        return f"{line1}\n{line2}"

    __repr__ = __str__


def _work(e):
    parts = [fmt.flops(e.flops)]
    if e.transcendentals:
        parts.append(f"{fmt.count(e.transcendentals)} exp/log/tanh")
    parts.append(fmt.nbytes(e.bytes))
    return ", ".join(parts)


def _label(cost):
    return cost.note if cost.kernel == "matmul" else fmt.shapes(cost.shapes)


def estimate(op, *shapes, dtype="float32", backend=None, rates=None, **params):
    """An Estimate of Tensor op `op` on arguments of these shapes (see the module docstring)."""
    dtype = getattr(dtype, "name", dtype)
    if dtype not in _ITEMSIZE:
        raise ValueError(f"estimate: unknown dtype {dtype!r}; use one of {', '.join(_ITEMSIZE)}")
    backend = backend or backends.get_backend()
    rates = rates or rates_mod.current()
    calls = op_kernels(op, shapes, dtype, **params)
    parts = [estimate_kernel(name, args, backend, dtype, rates) for name, args in calls]
    return Estimate(op, backend, dtype, parts, rates)


def estimate_kernel(name, args, backend, dtype, rates, out=None):
    cost = kernel_cost(name, args, out)
    scalar = all(getattr(a, "shape", None) == () for a in args if hasattr(a, "shape"))
    return KernelEstimate(cost, model.predict(cost, backend, rates, dtype, scalar_args=scalar))


def op_kernels(op, shapes, dtype="float32", axis=None, keepdims=False):
    """The kernel calls [(kernel, args)] a Tensor op makes on arguments of these shapes (forward only)."""
    name = op.strip("_").removeprefix("r") if op.startswith("__r") else op.strip("_")
    name = _ALIASES.get(name, name)
    size = _ITEMSIZE[dtype]

    def buf(s):
        if isinstance(s, (int, float)) and not isinstance(s, bool):
            return s  # a Python number: a scalar operand
        if not isinstance(s, (tuple, list)):
            raise TypeError(f"estimate({op!r}, ...): shapes are tuples (or Python numbers for scalars), got {s!r}")
        return Buf(tuple(int(d) for d in s), size)

    def need(k):
        if len(shapes) != k:
            raise TypeError(f"estimate({op!r}, ...) takes {k} shape(s), got {len(shapes)}: {shapes}")

    def axes_of(shape):
        nd = len(shape)
        if axis is None:
            return tuple(range(nd))
        ax = (axis,) if isinstance(axis, int) else tuple(axis)
        return tuple(sorted(a % nd for a in ax))

    unary = ("neg", "exp", "log", "sqrt", "abs", "sign", "tanh", "sigmoid", "relu", "atanh")
    binary = ("add", "sub", "mul", "div", "pow", "lt", "le", "gt", "ge", "eq", "ne")
    if name in unary:
        need(1)
        return [(name, (buf(shapes[0]),))]
    if name in binary:
        need(2)
        return [(name, (buf(shapes[0]), buf(shapes[1])))]
    if name == "matmul":
        need(2)
        a, b = tuple(shapes[0]), tuple(shapes[1])
        a2 = (1,) + a if len(a) == 1 else a
        b2 = b + (1,) if len(b) == 1 else b
        if len(a2) != 2 or len(b2) != 2 or a2[1] != b2[0]:
            raise ValueError(f"estimate('matmul', {a}, {b}): shapes are not aligned for a matrix product")
        return [("matmul", (Buf(a2, size), Buf(b2, size)))]
    if name in ("sum", "max", "mean"):
        need(1)
        shape = tuple(shapes[0])
        axes = axes_of(shape)
        calls = [("sum" if name == "mean" else name, (Buf(shape, size), axes, keepdims))]
        if name == "mean":
            out = tuple(1 if i in axes else d for i, d in enumerate(shape)) if keepdims else \
                tuple(d for i, d in enumerate(shape) if i not in axes)
            calls.append(("div", (Buf(out, size), float(math.prod(shape[a] for a in axes)))))
        return calls
    if name in ("softmax", "log_softmax"):
        need(1)
        shape = tuple(shapes[0])
        return [(name, (Buf(shape, size), (axis if axis is not None else -1) % len(shape)))]
    if name == "cross_entropy":
        need(2)
        return [("cross_entropy", (Buf(tuple(shapes[0]), size), Buf(tuple(shapes[1]), 8)))]
    if name == "mse_loss":
        need(2)
        shape = tuple(shapes[0])
        b = Buf(shape, size)
        return [("sub", (b, b)), ("mul", (b, b)), ("sum", (b, tuple(range(len(shape))), False)),
                ("div", (Buf((), size), float(math.prod(shape))))]
    if name in ("reshape", "permute", "expand", "copy", "to_numpy", "item"):
        need(1)
        extra = {"reshape": (tuple(shapes[0]),), "permute": (tuple(reversed(range(len(shapes[0])))),),
                 "expand": (tuple(shapes[0]),)}.get(name, ())
        return [(name, (buf(shapes[0]), *extra))]
    if name == "astype":
        need(1)
        from tinygrad_nm import dtypes
        return [("astype", (buf(shapes[0]), dtypes.to_dtype(dtype)))]
    if name == "where":
        need(3)
        return [("where", (Buf(tuple(shapes[0]), 1), buf(shapes[1]), buf(shapes[2])))]
    if name in KERNELS:
        raise ValueError(f"estimate: kernel {name!r} takes parameters beyond shapes; price it with "
                         f"napkin.estimate_kernel({name!r}, args, backend, dtype, rates)")
    raise ValueError(f"estimate: unknown op {op!r}; try matmul, add, sub, mul, div, pow, relu, sigmoid, tanh, exp, "
                     f"log, sqrt, sum, mean, max, softmax, log_softmax, cross_entropy, mse_loss, reshape, permute")
