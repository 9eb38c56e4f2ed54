"""`napkin.summary(model, input_shape)`: a model's layers as torchinfo lists them (output shape,
parameters), with what napkin adds: FLOPs and bytes forward and backward, activation memory, the
predicted time of each layer on a backend, its share of the step, and what bounds it.

Nothing runs for real: a copy of the model is moved to the shape-only backend, run once to learn
each layer's input shape, then each layer is run alone, forward and backward, with every kernel
it calls recorded and priced (napkin.estimate's machinery). A layer's backward includes the
gradient of its input, which the first layer of a model does not need.

    print(tnm.napkin.summary(model, (32, 64), backend="numpy"))
"""
import copy
from dataclasses import dataclass, field

from tinygrad_nm import backends, dtypes
from tinygrad_nm.napkin import fmt, rates as rates_mod
from tinygrad_nm.napkin.estimate import estimate_kernel
from tinygrad_nm.napkin.trace import recording
from tinygrad_nm.tensor import Tensor


@dataclass
class LayerRow:
    name: str
    kind: str
    out_shape: tuple
    params: int
    forward: list = field(default_factory=list)   # KernelEstimate per kernel call
    backward: list = field(default_factory=list)
    activation_bytes: int = 0

    def flops(self, part):
        return sum(k.cost.limit_flops for k in getattr(self, part))

    def bytes(self, part):
        return sum(k.cost.bytes for k in getattr(self, part))

    def seconds(self, part=None):
        parts = (part,) if part else ("forward", "backward")
        return sum(k.seconds for p in parts for k in getattr(self, p))  # kernels and the framework around them

    @property
    def bound(self):
        """What most of the layer's predicted time is spent on (compute, memory, overhead, ...)."""
        by = {}
        for k in self.forward + self.backward:
            by[k.prediction.bound] = by.get(k.prediction.bound, 0.0) + k.prediction.seconds
        around = sum(k.framework_seconds for k in self.forward + self.backward)
        if around:  # the framework's cost around each call is a per-call overhead too
            by["overhead"] = by.get("overhead", 0.0) + around
        return max(by, key=by.get) if by else "-"


@dataclass
class Summary:
    rows: list
    backend: str
    input_shape: tuple
    rates: object = None

    @property
    def params(self):
        return sum(r.params for r in self.rows)

    @property
    def seconds(self):
        return sum(r.seconds() for r in self.rows)

    def __str__(self):
        total = self.seconds or float("nan")
        head = (f"{'layer':<14} {'type':<12} {'output shape':<16} {'params':>9} {'fwd FLOPs':>10} {'bwd FLOPs':>10} "
                f"{'fwd bytes':>9} {'bwd bytes':>9} {'activations':>11} {'fwd time':>9} {'bwd time':>9} {'share':>6}  bound")
        lines = [f"napkin summary: input {fmt.shape(self.input_shape)}, backend {self.backend}", head, "-" * len(head)]
        for r in self.rows:
            lines.append(f"{r.name[:14]:<14} {r.kind[:12]:<12} {fmt.shape(r.out_shape)[:16]:<16} {r.params:>9,} "
                         f"{fmt.flops(r.flops('forward')):>10} {fmt.flops(r.flops('backward')):>10} "
                         f"{fmt.nbytes(r.bytes('forward')):>9} {fmt.nbytes(r.bytes('backward')):>9} "
                         f"{fmt.nbytes(r.activation_bytes):>11} {fmt.seconds(r.seconds('forward')):>9} "
                         f"{fmt.seconds(r.seconds('backward')):>9} {r.seconds() / total:>6.0%}  {r.bound}")
        lines.append("-" * len(head))
        fwd = sum(r.flops("forward") for r in self.rows)
        bwd = sum(r.flops("backward") for r in self.rows)
        act = sum(r.activation_bytes for r in self.rows)
        moved = {part: sum(r.bytes(part) for r in self.rows) for part in ("forward", "backward")}
        lines.append(f"total: {self.params:,} parameters; {fmt.flops(fwd)} forward, {fmt.flops(bwd)} backward; "
                     f"{fmt.nbytes(moved['forward'])} moved forward, {fmt.nbytes(moved['backward'])} backward; "
                     f"{fmt.nbytes(act)} of activations; predicted {fmt.seconds(self.seconds)} per forward + "
                     f"backward on {self.backend} (kernels and the framework around them; layers only: no loss, no "
                     f"optimizer step)")
        if self.rates is not None:
            lines.append(self.rates.describe())
        return "\n".join(lines)

    __repr__ = __str__


def summary(model, input_shape, backend=None, dtype="float32", rates=None, device=None):
    """The Summary of `model` (an nn.Module) on an input of `input_shape`, priced for `backend`
    (default: the current default backend; `device`: a named GPU for a GPU backend)."""
    if not hasattr(model, "named_modules"):
        raise TypeError(f"summary: expected an nn.Module, got {type(model).__name__}")
    input_shape = tuple(input_shape)
    dtype = dtypes.to_dtype(dtype)
    backend = backend or backends.get_backend()
    rates = rates or rates_mod.current()
    meta = backends.shape_only()
    shadow = copy.deepcopy(model).to(meta.NAME)  # the same layers, on shapes alone
    layers = [(name or type(m).__name__, m) for name, m in shadow.named_modules() if not list(m.children())]
    seen = {}  # layer -> its input's shape and dtype, from one run of the whole model

    def note_input(module, args, out):  # a forward hook: returns None, so the output is left alone
        seen.setdefault(id(module), (args[0].shape, args[0].dtype))
    hooks = [m.register_forward_hook(note_input) for _, m in layers]
    try:
        with backends.use_backend(meta.NAME):
            shadow(Tensor._make(meta.empty(input_shape, dtype), dtype, meta))
    finally:
        for h in hooks:
            h.remove()
    rows = []
    for name, layer in layers:
        if id(layer) not in seen:
            continue  # a layer the forward never called
        shape, in_dtype = seen[id(layer)]
        x = Tensor._make(meta.empty(shape, in_dtype), in_dtype, meta)
        if in_dtype.is_float:
            x.requires_grad_(True)
        with backends.use_backend(meta.NAME):
            with recording() as forward:
                y = layer(x)
            with recording() as backward:
                if y.requires_grad:
                    y.backward(Tensor._make(meta.empty(y.shape, y.dtype), y.dtype, meta))
        price = [[estimate_kernel(k, a, backend, str(dtype), rates, o, device, call.phase)
                  for call in calls for k, a, o in [call]]
                 for calls in (forward, backward)]
        params = sum(p.numel() for p in layer.parameters())
        rows.append(LayerRow(name, type(layer).__name__, y.shape, params, price[0], price[1],
                             y.numel() * y.dtype.itemsize))
    return Summary(rows, getattr(backend, "NAME", backend), input_shape, rates)
