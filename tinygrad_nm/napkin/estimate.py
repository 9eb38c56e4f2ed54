"""`estimate(op, *shapes)` and `estimate(fn, *args)`: what Tensor code costs and how long it should
take here, before running it.

    >>> print(tnm.napkin.estimate("matmul", (1024, 1024), (1024, 1024)))
    matmul 1024x1024x1024 [numpy float32]: 2.15 GFLOP / 210 GFLOP/s (BLAS) + 700 ns call = 10.2 ms
      2.15 GFLOP, 12.6 MB; roofline limit 4.57 ms (2.15 GFLOP / 470 GFLOP/s peak); default rates ...
    >>> tnm.napkin.estimate(train_step, x, y, backend="cython").seconds   # a whole step: forward, backward, update

Nothing is derived by hand: the real Tensor code runs on the shape-only backend (backends/meta.py),
every kernel call it makes is recorded with its arguments, and each one is priced with the kernel
table's cost formula for the chosen backend. `op` is a Tensor method's name (matmul, add, relu,
sum, mean, softmax, ...) or a function of `tinygrad_nm.functional` (cross_entropy, mse_loss); a
shape is a tuple, a Python number in its place is a scalar operand (`estimate("pow", (n,), 2)`).
`fn` is any callable; its Tensor arguments are replaced by shape-only tensors of the same shape,
dtype and requires_grad, tuples by shape-only tensors of `dtype`, nn.Modules by shape-only copies
(the model itself is left as it is), and tensors it creates itself are made on the shape-only
backend. Keyword parameters other than `dtype`, `backend` and `rates` are
passed on to the op (`axis=`, `keepdims=`).
"""
import copy
from dataclasses import dataclass, field

from tinygrad_nm import backends, dtypes, functional
from tinygrad_nm.backends.costs import Cost
from tinygrad_nm.backends.kernels import kernel_cost
from tinygrad_nm.napkin import fmt, framework, locality, model, rates as rates_mod
from tinygrad_nm.napkin.trace import recording
from tinygrad_nm.tensor import Tensor

_ALIASES = {"truediv": "div", "dot": "matmul", "cast": "astype", "negative": "neg"}
_INTEGER_ARGS = {"cross_entropy": (1,)}  # the labels


@dataclass
class KernelEstimate:
    """One kernel call: its Cost, its Prediction, and tinygrad_nm's own cost around the call (the
    framework's, by the phase that made the call: framework.py)."""
    cost: Cost
    prediction: model.Prediction
    phase: str = "op"
    framework_seconds: float = 0.0

    @property
    def seconds(self):
        """The kernel and the framework around it."""
        return self.prediction.seconds + self.framework_seconds

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
    compiled: set = field(repr=False, default_factory=set)  # kernels compiled at their first launch (model.compiled_keys)

    @property
    def warmup_seconds(self):
        """Once per process, not per call: compiling the kernels the traced code is the first to launch."""
        return model.warmup_seconds(self.compiled, self.backend, self.rates)

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
        """The kernels alone (the framework's cost around them: framework_seconds)."""
        return sum(p.prediction.seconds for p in self.parts)

    @property
    def framework_seconds(self):
        return sum(p.framework_seconds for p in self.parts)

    @property
    def total_seconds(self):
        """What the traced code should take: its kernels and the framework around them."""
        return self.seconds + self.framework_seconds

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


def estimate(op, *args, dtype="float32", backend=None, rates=None, device=None, **params):
    """An Estimate of `op` (a Tensor op's name, or any callable) on these arguments (module docstring).
    `device`: for a GPU backend, a GPU by name ("H200", "A100", ...) priced from its datasheet."""
    dtype_name = getattr(dtype, "name", dtype)
    if dtype_name not in ("float32", "float64"):
        raise ValueError(f"estimate: dtype {dtype!r} is not a float dtype tinygrad_nm computes in; "
                         f"use float32 or float64")
    backend = backend or backends.get_backend()
    rates = rates or rates_mod.current()
    calls, label = trace_kernels(op, *args, dtype=dtype_name, **params)
    placements = placements_of(calls, backend)
    parts = [estimate_kernel(name, kargs, backend, dtype_name, rates, out, device, call.phase, placed)
             for call, placed in zip(calls, placements) for name, kargs, out in [call]]
    name = getattr(backend, "NAME", backend)
    return Estimate(label, name, dtype_name, parts, rates, model.compiled_keys([p.cost for p in parts], name, dtype_name))


def trace_kernels(op, *args, dtype="float32", **params):
    """Run `op` on the shape-only backend; returns ([(kernel, args, out)] in call order, a label)."""
    meta = backends.shape_only()
    fn, label = (op, getattr(op, "__name__", "fn")) if callable(op) else (_op_callable(op), op)
    integer_args = _INTEGER_ARGS.get(label, ()) if isinstance(op, str) else ()
    meta_args = [_to_meta(a, meta, dtypes.int64 if i in integer_args else dtypes.to_dtype(dtype))
                 for i, a in enumerate(args)]
    with backends.use_backend(meta.NAME), recording() as calls:
        try:
            fn(*meta_args, **params)
        except TypeError as e:
            if callable(op):
                raise
            raise TypeError(f"estimate({op!r}, ...): {e}") from None
    return calls, label


def placements_of(calls, backend):
    """Where each recorded (kernel, args, out) call's operands lie on `backend`, the calls taken as
    one step of a loop (locality.py: reuse distances, and layouts where the backend declares them)."""
    return locality.place([(name, locality.buffer_keys(args, out),
                            kernel_cost(name, args, out if hasattr(out, "shape") else None).bytes > 0)
                           for name, args, out in calls], backend)


def estimate_kernel(name, args, backend, dtype, rates, out=None, device=None, phase="op", placement=None):
    """One kernel call priced on `backend`; `phase` (framework.PHASES) prices the framework around it;
    `placement` (placements_of) where the call sits in a traced program."""
    cost = kernel_cost(name, args, out if hasattr(out, "shape") else None)
    scalar = model.all_scalars(args)
    prediction = model.predict(cost, backend, rates, dtype, scalar_args=scalar, device=device, placement=placement)
    return KernelEstimate(cost, prediction, phase, framework.per_call(rates, phase, name, cost.shapes))


def _to_meta(a, meta, dtype):
    if hasattr(a, "named_modules") and hasattr(a, "to"):  # an nn.Module: a copy on shapes alone
        return copy.deepcopy(a).to(meta.NAME)
    if isinstance(a, Tensor):
        t = Tensor._make(meta.empty(a.shape, a.dtype), a.dtype, meta)
        return t.requires_grad_(True) if a.requires_grad else t
    if isinstance(a, (tuple, list)):
        if not all(isinstance(d, int) and d >= 0 for d in a):
            raise TypeError(f"estimate: a shape is a tuple of non-negative ints, got {a!r}")
        return Tensor._make(meta.empty(tuple(a), dtype), dtype, meta)
    return a  # a Python number (a scalar operand) or a parameter


def _op_callable(op):
    if not isinstance(op, str):
        raise TypeError(f"estimate: op must be a Tensor op's name or a callable, got {op!r}")
    name = _ALIASES.get(op.strip("_"), op.strip("_"))
    for candidate in ((op,) if op.startswith("__") else (name, f"__{name}__")):  # "add" is Tensor.__add__
        method = getattr(Tensor, candidate, None)
        if callable(method):
            return method
    fn = getattr(functional, name, None)
    if callable(fn):
        return fn
    raise ValueError(f"estimate: unknown op {op!r}: not a Tensor method nor a function of tinygrad_nm.functional "
                     f"(try matmul, add, mul, relu, sigmoid, sum, mean, softmax, cross_entropy, mse_loss)")
