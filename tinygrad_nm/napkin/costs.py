"""What each kernel must do, whatever backend runs it: its FLOPs and its compulsory bytes.

These are properties of the computation, not of a machine:
- `flops`: arithmetic operations. An add, multiply, compare or max is 1; a multiply-add is 2,
  so a matmul of (M, K) @ (K, N) is 2*M*N*K.
- `transcendentals`: evaluations of exp, log, tanh, atanh, a general pow. They are counted apart
  because no machine does them at its FLOP rate; for the roofline limit each one counts as
  `TRANSCENDENTAL_FLOPS` FLOPs (a vectorised exp is a short polynomial plus a range reduction).
- `bytes`: compulsory memory traffic: every input element read once and every output element
  written once, at the dtype's size. A broadcast input is read at its own size, a Python scalar
  costs nothing, a view (reshape, expand, a permute) costs nothing.
- `divides`: how many of the FLOPs are divisions, which hardware does several times slower than
  an add or a multiply (a compiled backend pays for them apart).
- `elements`: how many times the kernel's inner loop body runs (output elements; input elements
  for a reduction; multiply-adds for a matmul): what an interpreter pays for.
- `out_bytes`: the size of the newly allocated result (large ones come from fresh pages).

`kernel_cost(name, args, out)` takes a kernel's arguments as the kernel receives them: buffers
(anything with `.shape`, and `.dtype` with an itemsize), Python scalars and parameters (axes,
shapes, dtypes). `Buf(shape, itemsize)` stands for a buffer when only shapes are known.
"""
import math
from dataclasses import dataclass, replace

from tinygrad_nm.backends.kernels import KERNELS

TRANSCENDENTAL_FLOPS = 10  # FLOPs charged per exp/log/tanh for the roofline limit (a degree ~6 polynomial + range reduction)


@dataclass(frozen=True)
class Buf:
    """A buffer known only by its shape and element size: what `estimate` works from."""
    shape: tuple
    itemsize: int = 4

    @property
    def size(self):
        return math.prod(self.shape)

    @property
    def nbytes(self):
        return self.size * self.itemsize


@dataclass(frozen=True)
class Cost:
    kernel: str
    shapes: tuple          # the shapes of the buffer arguments, for display
    flops: float = 0.0
    transcendentals: float = 0.0
    bytes: float = 0.0
    elements: float = 0.0
    out_bytes: float = 0.0
    note: str = ""         # e.g. "pow x**2" when the arguments change the arithmetic
    itemsize: int = 4      # bytes per element of the data the kernel streams
    divides: float = 0.0   # of the flops, how many are divisions (several times an add's cost in hardware)

    @property
    def limit_flops(self):
        """FLOPs as the roofline counts them: transcendentals at TRANSCENDENTAL_FLOPS each."""
        return self.flops + TRANSCENDENTAL_FLOPS * self.transcendentals

    @property
    def intensity(self):
        """Arithmetic intensity, FLOP per byte: above the machine's FLOP/s : B/s ratio a kernel is compute bound."""
        return self.limit_flops / self.bytes if self.bytes else math.inf


def as_buf(x):
    """A Buf for anything buffer-like (backend buffer, NumPy array or scalar, Buf); None for Python numbers."""
    if isinstance(x, Buf):
        return x
    shape = getattr(x, "shape", None)
    if shape is None:
        return None
    dtype = getattr(x, "dtype", None)
    itemsize = getattr(dtype, "itemsize", None) or 8
    return Buf(tuple(shape), int(itemsize))


def broadcast_shape(*shapes):
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for dims in zip(*[(1,) * (ndim - len(s)) + tuple(s) for s in shapes]):
        sizes = {d for d in dims if d != 1}
        out.append(max(sizes) if sizes else 1)
    return tuple(out)


def _itemsize_of(dtype, default=4):
    return getattr(dtype, "itemsize", None) or default


# --- one function per family of kernels: (args as Buf / scalars / params, out Buf or None) -> Cost -----
def _unary(name, args, out):
    a = as_buf(args[0])
    n = a.size
    flops, trans = {
        "exp": (0, 1), "log": (0, 1), "atanh": (0, 1),
        "sigmoid": (3, 1),  # 1 / (1 + exp(-x)): a negate, an add, a divide and one exp
        "tanh": (5, 1),     # (1 - e) / (1 + e), e = exp(-2|x|), with x's sign: five operations and one exp
    }.get(name, (1, 0))     # neg, abs, sign, sqrt, relu: one operation each
    return Cost(name, (a.shape,), flops * n, trans * n, 2 * a.nbytes, n, a.nbytes)


def _binary(name, args, out):
    a, b = as_buf(args[0]), as_buf(args[1])
    bufs = [x for x in (a, b) if x is not None]
    shape = out.shape if out is not None else broadcast_shape(*[x.shape for x in bufs])
    n = math.prod(shape)
    out_itemsize = 1 if name in ("lt", "le", "gt", "ge", "eq", "ne") else bufs[0].itemsize
    flops, trans, note = n, 0, ""
    if name == "pow":
        exponent = args[1] if b is None else None
        if isinstance(exponent, (int, float)) and float(exponent).is_integer() and 1 <= abs(exponent) <= 4:
            k = int(abs(exponent))   # x**k as k-1 multiplies (at least one); a negative k adds a divide
            flops, note = n * max(k - 1, 1) + (n if exponent < 0 else 0), f"x**{exponent:g}"
        else:
            flops, trans = n, 2 * n  # exp(b * log(a))
    in_bytes = sum(x.nbytes for x in bufs)
    return Cost(name, tuple(x.shape for x in bufs), flops, trans, in_bytes + n * out_itemsize, n,
                n * out_itemsize, note)


def _activation_backward(name, args, out):
    y, g = as_buf(args[0]), as_buf(args[1])
    n = g.size
    flops = {"relu_backward": 1, "sigmoid_backward": 3, "tanh_backward": 3}[name]  # g*y*(1-y), g*(1-y*y)
    return Cost(name, (y.shape, g.shape), flops * n, 0, y.nbytes + 2 * g.nbytes, n, g.nbytes)


def _reduce(name, args, out):
    a, axes = as_buf(args[0]), args[1]  # keepdims changes the shape, not the work
    kept = [d for i, d in enumerate(a.shape) if i not in axes]
    m = math.prod(kept)
    return Cost(name, (a.shape,), a.size, 0, a.nbytes + m * a.itemsize, a.size, m * a.itemsize,
                f"over axes {tuple(axes)}")


def _view(name, args, out):
    """reshape, expand, permute: metadata only where the storage allows it (the compulsory cost is nil)."""
    a = as_buf(args[0])
    return Cost(name, (a.shape,), elements=a.size)


def _getitem(name, args, out):
    a, index = as_buf(args[0]), args[1]
    shape = out.shape if out is not None else _indexed_shape(a.shape, index)
    n = math.prod(shape)
    return Cost(name, (a.shape,), 0, 0, 2 * n * a.itemsize, n, n * a.itemsize)


def _setitem(name, args, out):
    a, index, value = as_buf(args[0]), args[1], args[2]
    n = math.prod(_indexed_shape(a.shape, index))
    v = as_buf(value)
    return Cost(name, (a.shape,), 0, 0, n * a.itemsize + (v.nbytes if v else 0), n, 0)


def _index_add(name, args, out):
    acc, g = as_buf(args[0]), as_buf(args[2])
    # read g, read-modify-write the indexed part of acc: no new storage
    return Cost(name, (acc.shape, g.shape), g.size, 0, 3 * g.nbytes, g.size, 0)


def _softmax_family(name, args, out):
    a = as_buf(args[0])
    n = a.size
    rows = n // a.shape[args[-1]] if a.shape else 1
    flops, trans = {
        "softmax": (4, 1),               # max, subtract, exp, sum, divide
        "log_softmax": (4, 1),           # max, subtract, exp, sum, subtract (+ one log per row)
        "softmax_backward": (4, 0),      # y * g, sum, subtract, multiply
        "log_softmax_backward": (3, 1),  # sum g, exp(y), multiply, subtract
    }[name]
    reads = 2 if name.endswith("backward") else 1
    return Cost(name, (a.shape,) * reads, flops * n, trans * n + (rows if name == "log_softmax" else 0),
                (reads + 1) * a.nbytes, n, a.nbytes, f"along axis {args[-1]}")


def _cross_entropy(name, args, out):
    logits, labels = as_buf(args[0]), as_buf(args[1])
    n, c = logits.shape
    # log_softmax per row (max, subtract, exp, sum, log), pick the label's entry, average; keep softmax for backward
    return Cost(name, (logits.shape, labels.shape), 5 * n * c, n * c + n,
                logits.nbytes + labels.nbytes + logits.nbytes + logits.itemsize, n * c, logits.nbytes)


def _cross_entropy_backward(name, args, out):
    probs, labels = as_buf(args[0]), as_buf(args[1])
    return Cost(name, (probs.shape, labels.shape), 2 * probs.size, 0,
                2 * probs.nbytes + labels.nbytes, probs.size, probs.nbytes)


def _matmul(name, args, out):
    a, b = as_buf(args[0]), as_buf(args[1])
    (m, k), (_, n) = a.shape, b.shape
    return Cost(name, (a.shape, b.shape), 2 * m * n * k, 0, a.nbytes + b.nbytes + m * n * a.itemsize,
                m * n * k, m * n * a.itemsize, f"{m}x{k}x{n}")


def _where(name, args, out):
    bufs = [as_buf(x) for x in args]
    present = [x for x in bufs if x is not None]
    shape = out.shape if out is not None else broadcast_shape(*[x.shape for x in present])
    n = math.prod(shape)
    itemsize = (bufs[1] or bufs[2] or present[0]).itemsize
    return Cost(name, tuple(x.shape for x in present), n, 0, sum(x.nbytes for x in present) + n * itemsize,
                n, n * itemsize)


def _copy_like(name, args, out):
    """copy, astype, from_numpy, to_numpy: read every element, write every element."""
    a = as_buf(args[0])
    out_itemsize = _itemsize_of(args[1], a.itemsize) if name in ("astype", "from_numpy") and len(args) > 1 \
        else a.itemsize
    return Cost(name, (a.shape,), 0, 0, a.nbytes + a.size * out_itemsize, a.size, a.size * out_itemsize)


def _full(name, args, out):
    shape, dtype = tuple(args[0]), args[2]
    n = math.prod(shape)
    return Cost(name, (shape,), 0, 0, n * _itemsize_of(dtype), n, n * _itemsize_of(dtype))


def _assign(name, args, out):
    a, v = as_buf(args[0]), as_buf(args[1])
    return Cost(name, (a.shape,), 0, 0, a.nbytes + (v.nbytes if v else 0), a.size, 0)


def _item(name, args, out):
    a = as_buf(args[0])
    return Cost(name, (a.shape,), 0, 0, a.itemsize, 1, 0)


_FAMILIES = {
    **{k: _unary for k in ("neg", "exp", "log", "sqrt", "abs", "sign", "tanh", "sigmoid", "relu", "atanh")},
    **{k: _binary for k in ("add", "sub", "mul", "div", "pow", "lt", "le", "gt", "ge", "eq", "ne")},
    **{k: _activation_backward for k in ("relu_backward", "sigmoid_backward", "tanh_backward")},
    "sum": _reduce, "max": _reduce,
    "reshape": _view, "permute": _view, "expand": _view,
    "getitem": _getitem, "setitem": _setitem, "index_add": _index_add,
    **{k: _softmax_family for k in ("softmax", "log_softmax", "softmax_backward", "log_softmax_backward")},
    "cross_entropy": _cross_entropy, "cross_entropy_backward": _cross_entropy_backward,
    "from_numpy": _copy_like, "to_numpy": _copy_like, "copy": _copy_like, "astype": _copy_like,
    "item": _item, "full": _full, "assign": _assign, "where": _where, "matmul": _matmul,
}
_missing = set(KERNELS) - set(_FAMILIES)
if _missing:  # a kernel added to the set must get a cost formula here
    raise ImportError(f"napkin.costs has no cost formula for kernel(s) {sorted(_missing)}")


def kernel_cost(name, args, out=None):
    """The Cost of calling kernel `name` with `args` (and, when known, its result `out`)."""
    try:
        family = _FAMILIES[name]
    except KeyError:
        raise ValueError(f"no cost formula for kernel {name!r}; known kernels: {', '.join(KERNELS)}") from None
    cost = family(name, args, as_buf(out) if out is not None else None)
    divides = _DIVIDES.get(name, 0) * cost.elements
    return replace(cost, itemsize=_data_itemsize(name, args), divides=divides)


# divisions per element (per loop trip) of the kernels that divide
_DIVIDES = {"div": 1, "sigmoid": 1, "tanh": 1, "softmax": 1}


def _data_itemsize(name, args):
    """The element size of the data a kernel streams: its first buffer's (where: the values', full: its dtype's)."""
    if name == "full":
        return _itemsize_of(args[2])
    candidates = args[1:] if name == "where" else args
    for x in candidates:
        b = as_buf(x)
        if b is not None:
            return b.itemsize
    return 4


def _indexed_shape(shape, index):
    """The shape of a[index] for a basic index (ints, slices) plus at most one 1-D integer array."""
    out = []
    for axis, entry in enumerate(index):
        if isinstance(entry, int):
            continue
        if isinstance(entry, slice):
            out.append(len(range(*entry.indices(shape[axis]))))
        else:
            out.append(as_buf(entry).shape[0] if as_buf(entry) is not None else len(entry))
    return tuple(out) + tuple(shape[len(index):])
