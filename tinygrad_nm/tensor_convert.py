"""Attributes, conversions and in-place methods spelled as in PyTorch: size(), dim(), device,
to(device/dtype/tensor), cpu(), cuda(), float() and friends, type(), clone(), add_ and friends.

`TensorConvert` is a mixin of Tensor (it never imports it). dtypes: tinygrad_nm stores bool,
int64, float16, float32 and float64; `int()` (PyTorch's int32) gives int64, as every integer width is
stored, and `bfloat16()` raises. In-place methods follow PyTorch's rules for leaves: a
leaf that requires grad can be written only under no_grad(); they also refuse to write a tensor
that is part of a recorded graph (PyTorch rewrites the graph there; tinygrad_nm does not), and
every write counts as a new version of the storage (the core's `_written`), so a backward that
saved the old values refuses to run.
"""
from tinygrad_nm import backends, ops, ops_shape
from tinygrad_nm import dtypes as dt
from tinygrad_nm.grad_mode import grad_mode
from tinygrad_nm.host import rng_for
from tinygrad_nm.device import backend_of, device, of_backend
from tinygrad_nm.shapes import broadcast_shape
from tinygrad_nm.tensor_shape import one_dim

_TYPE_NAMES = {"float16": "torch.HalfTensor", "float32": "torch.FloatTensor", "float64": "torch.DoubleTensor",
               "int64": "torch.LongTensor",
               "bool": "torch.BoolTensor"}
_UNSUPPORTED = ("bfloat16", "complex64", "complex128", "cfloat", "cdouble")


def _dtype(spec):
    """dt.to_dtype, with a clear word for the dtypes PyTorch has and tinygrad_nm does not."""
    name = getattr(spec, "name", None) or getattr(spec, "__name__", None) or spec
    if isinstance(name, str) and name.replace("torch.", "") in _UNSUPPORTED:
        raise TypeError(f"dtype {name} is not supported: tinygrad_nm holds bool, int64, float16, float32 and float64")
    for dtype_name, type_name in _TYPE_NAMES.items():  # "torch.FloatTensor", as t.type() gives
        if name == type_name:
            return dt.to_dtype(dtype_name)
    return dt.to_dtype(spec)


class TensorConvert:
    __slots__ = ()

    # --- attributes ------------------------------------------------------------------------------
    def size(self, dim=None):
        """The shape (a tuple), or the length of one dim: t.size(), t.size(-1)."""
        if dim is None:
            return self._shape
        return self._shape[one_dim(dim, self.ndim, "size")] if self.ndim else self._no_dims("size")

    def _no_dims(self, what):
        raise IndexError(f"{what}: a 0-d tensor has no dims")

    def dim(self):
        return len(self._shape)

    def nelement(self):
        return self.numel()

    def element_size(self):
        return self.dtype.itemsize

    itemsize = property(element_size)
    nbytes = property(lambda self: self.numel() * self.dtype.itemsize)
    ndimension = dim

    def get_device(self):
        """-1 on the host, the device index (0) on the GPU, as PyTorch."""
        return -1 if self.device.type == "cpu" else 0

    @property
    def is_cpu(self):
        return self.device.type == "cpu"

    @property
    def device(self):
        """The device this tensor is on: device("cpu") for host backends, device("cuda", 0) for the GPU."""
        return of_backend(self._be)

    @property
    def is_cuda(self):
        return self.device.type == "cuda"

    # --- conversions ---------------------------------------------------------------------------
    def to(self, *args, dtype=None, device=None, copy=False, non_blocking=False):
        """to(dtype), to(device), to(device, dtype), to(other_tensor) (its device and dtype), or
        keywords; a device is a `tnm.device`, "cpu", "cuda", "cuda:0" or a backend name. Returns
        self when nothing changes (unless copy=True); differentiable across backends."""
        args = list(args)
        if args and hasattr(args[0], "_buf"):
            other = args.pop(0)
            device, dtype = device or other.device, dtype or other.dtype
        if len(args) > 2:
            raise TypeError(f"to: too many arguments {tuple(args)}")
        for a in args:
            if _is_device(a):
                if device is not None:
                    raise TypeError(f"to: two devices given, {device!r} and {a!r}")
                device = a
            else:
                try:
                    spec = _dtype(a)
                except TypeError as e:
                    if isinstance(a, str) and "not supported" not in str(e):
                        raise ValueError(f"to({a!r}): neither a backend ({', '.join(backends.known_backends())}), "
                                         f"a device ({', '.join(backends.device_types())}) nor a dtype "
                                         f"(bool, int64, float16, float32, float64)") from None
                    raise TypeError(f"to: {e}") from None
                if dtype is not None:
                    raise TypeError(f"to: two dtypes given, {dtype!r} and {a!r}")
                dtype = spec
        be = self._be if device is None else backend_of(device)
        out = self if dtype is None else self.cast(_dtype(dtype))
        out = out._to_backend(be)
        return out.clone() if copy and out is self else out

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else device)

    def float(self):
        return self.cast(dt.float32)

    def double(self):
        return self.cast(dt.float64)

    def long(self):
        return self.cast(dt.int64)

    def int(self):
        """PyTorch's int32: tinygrad_nm stores every integer width as int64."""
        return self.cast(dt.int64)

    def bool(self):
        return self.cast(dt.bool_)

    def half(self):
        return self.cast(dt.float16)

    def bfloat16(self):
        return self.cast(_dtype("bfloat16"))

    def type(self, dtype=None):
        """No argument: PyTorch's type name ("torch.FloatTensor"). With one: cast to it."""
        if dtype is None:
            return _TYPE_NAMES[self.dtype.name]
        return self.cast(_dtype(dtype))

    def clone(self):
        """A copy in new storage; differentiable."""
        return self._apply(ops_shape.Clone, self.dtype, (self,))

    def contiguous(self):
        """self if its storage is row-major already, else a row-major copy (which a write to never reaches self)."""
        return self if self.is_contiguous() else self._apply(ops_shape.Clone, self.dtype, (self,), True)

    def is_contiguous(self):
        return self._be.is_contiguous(self._buf)  # a view made by t(), permute or a stepped slice may not be

    # --- in place ------------------------------------------------------------------------------
    def _check_inplace(self, what, *others):
        if not grad_mode.enabled:
            return
        if self.requires_grad and self._ctx is None:
            raise RuntimeError(f"{what}: a leaf tensor that requires grad is being used in an in-place operation; "
                               "update it inside `with tnm.no_grad():` or through `t.data`")
        if self.requires_grad or any(getattr(o, "requires_grad", False) for o in others):
            raise RuntimeError(f"{what}: in-place operations on tensors in a recorded graph are not supported; "
                               "use the out-of-place form (e.g. `x = x + y` for `x.add_(y)`)")

    def add_(self, other, alpha=1):
        self._check_inplace("add_", other)
        if alpha != 1:  # other * alpha is a new tensor: check the overlap with other itself
            self._no_partial_overlaps("add_", other)
        return self._inplace(ops.Add, other if alpha == 1 else other * alpha)

    def sub_(self, other, alpha=1):
        self._check_inplace("sub_", other)
        if alpha != 1:
            self._no_partial_overlaps("sub_", other)
        return self._inplace(ops.Sub, other if alpha == 1 else other * alpha)

    def _no_partial_overlaps(self, what, *values):
        """_no_partial_overlap (tensor_ops.py) for each tensor among values on self's backend: the
        in-place ops that make their result before writing it raise where PyTorch's would."""
        for v in values:
            if hasattr(v, "_buf") and v._be is self._be:
                self._no_partial_overlap(what, v._buf)

    def mul_(self, other):
        self._check_inplace("mul_", other)
        return self._inplace(ops.Mul, other)

    def div_(self, other):
        self._check_inplace("div_", other)
        return self._inplace(ops.Div, other)

    def fill_(self, value):
        self._check_inplace("fill_", value)
        if hasattr(value, "_buf"):
            if value.ndim:
                raise RuntimeError(f"fill_: value must be a number or a 0-d tensor, got shape {value.shape}")
            value = value.item()
        if not isinstance(value, (int, float, bool)):
            raise TypeError(f"fill_: value must be a number or a 0-d tensor, got {type(value).__name__}")
        value = float(value) if self.dtype.is_float else bool(value) if self.dtype is dt.bool_ else int(value)
        return self._store_buf(backends.kernels_of(self._be).assign(self._buf, value))

    def clamp_(self, min=None, max=None):
        self._check_inplace("clamp_", min, max)
        self._no_partial_overlaps("clamp_", min, max)
        return self._store(self.clamp(min, max), "clamp_")

    clip_ = clamp_

    def clamp_min(self, min): return self.clamp(min=min)
    def clamp_max(self, max): return self.clamp(max=max)
    def clamp_min_(self, min): return self.clamp_(min=min)
    def clamp_max_(self, max): return self.clamp_(max=max)

    def lerp(self, end, weight):
        """self + weight * (end - self): weight a number or a tensor."""
        return self + weight * (end - self)

    def addcmul(self, tensor1, tensor2, *, value=1):
        return self + value * (tensor1 * tensor2)

    def addcdiv(self, tensor1, tensor2, *, value=1):
        return self + value * (tensor1 / tensor2)

    # random fills in place: drawn on the host from tnm.manual_seed's generator, as rand/randn
    def uniform_(self, a=0.0, b=1.0, *, generator=None):
        self._check_inplace("uniform_")
        self._random_fill_check("uniform_", a <= b, f"from {a} must be at most to {b}")
        return self._store(self._host_draw(generator, "random") * (b - a) + a, "uniform_")

    def normal_(self, mean=0.0, std=1.0, *, generator=None):
        self._check_inplace("normal_")
        self._random_fill_check("normal_", std >= 0, f"std must be non-negative, got {std}")
        return self._store(self._host_draw(generator, "standard_normal") * std + mean, "normal_")

    def random_(self, from_=0, to=None, *, generator=None):
        """Integers drawn uniformly from [from_, to) (random_(to): [0, to); neither: [0, 2^24], the
        integers a float32 holds exactly), as PyTorch."""
        self._check_inplace("random_")
        low, high = (0, from_) if to is None and from_ else (from_, to if to is not None else 2 ** 24 + 1)
        if low >= high:
            raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
        drawn = rng_for(None, generator).integers(low, high, self.shape)
        return self._store(type(self)(drawn, dtype=self.dtype, backend=self.backend), "random_")

    def exponential_(self, lambd=1.0, *, generator=None):
        self._check_inplace("exponential_")
        self._random_fill_check("exponential_", lambd > 0, f"lambd must be positive, got {lambd}")
        return self._store(self._host_draw(generator, "standard_exponential") * (1.0 / lambd), "exponential_")

    def bernoulli_(self, p=0.5, *, generator=None):
        """1 with probability p (a number or a tensor broadcast to self), else 0."""
        self._check_inplace("bernoulli_")
        draws = rng_for(None, generator).random(self.shape)
        prob = p.detach().numpy() if hasattr(p, "_buf") else p
        return self._store(type(self)((draws < prob) * 1.0, dtype=self.dtype, backend=self.backend),
                           "bernoulli_")

    def _random_fill_check(self, what, ok, problem):
        if not self.dtype.is_float:
            raise TypeError(f"{what}: not implemented for {self.dtype} tensors (as in PyTorch); use a float tensor")
        if not ok:
            raise ValueError(f"{what}: {problem}")

    def _host_draw(self, generator, kind):
        return type(self)(getattr(rng_for(None, generator), kind)(self.shape), dtype=self.dtype, backend=self.backend)

    def _in_place(name):  # noqa: N805 (a class-body helper: t.exp_() is t.copy_(t.exp()), checked as add_)
        def method(self, *args, **kwargs):
            self._check_inplace(name + "_", *args, *kwargs.values())
            self._no_partial_overlaps(name + "_", *args, *kwargs.values())
            return self._store(getattr(self, name)(*args, **kwargs), name + "_")
        method.__name__ = method.__qualname__ = name + "_"
        return method

    for _name in ("exp", "log", "sqrt", "abs", "neg", "relu", "sigmoid", "tanh", "pow", "sin", "cos", "floor",
                  "ceil", "trunc", "round", "reciprocal", "square", "lerp", "addcmul", "addcdiv", "log1p", "expm1",
                  "sign", "frac", "remainder", "floor_divide", "nan_to_num", "masked_fill", "index_fill",
                  "index_copy", "sinh", "cosh", "asin", "acos", "atan", "exp2", "logit", "xlogy", "hypot",
                  "deg2rad", "rad2deg", "masked_scatter"):
        locals()[_name + "_"] = _in_place(_name)
    del _name, _in_place
    __ifloordiv__, __imod__ = floor_divide_, remainder_  # noqa: F821 (made by the loop above)

    def copy_(self, src, non_blocking=False):
        """Write src's values (broadcast to self's shape, cast to self's dtype, from any backend)."""
        self._check_inplace("copy_", src)
        src = src if hasattr(src, "_buf") else type(self)(src, dtype=self.dtype, backend=self.backend)
        broadcast_shape(src.shape, self.shape, "copy_", into=True)
        src = src.detach()._to_backend(self._be).cast(self.dtype)
        self._no_partial_overlap("copy_", src._buf)
        return self._store(src, "copy_")

    def _store(self, result, what):
        """Write result (checked first: nothing is written if it does not fit) into self's storage."""
        if result.shape != self.shape:
            broadcast_shape(result.shape, self.shape, what, into=True)
        if result.dtype is not self.dtype:
            if result.dtype.is_float and not self.dtype.is_float:
                raise RuntimeError(f"{what}: result type {result.dtype} can't be stored in a {self.dtype} tensor")
            result = result.cast(self.dtype)
        return self._store_buf(backends.kernels_of(self._be).assign(self._buf, result._buf))

    def _store_buf(self, buf):
        self._buf = buf
        self._written()
        return self

    def detach_(self):
        """Cut this tensor from the graph that made it; it becomes a leaf not requiring grad."""
        self._ctx, self._a, self._b, self._saved = None, None, None, None
        self.requires_grad = False
        return self


def _is_device(a):
    """A tnm.device, or a string naming a device type or backend ("cuda:1" too: device() then
    says what is wrong with it)."""
    if isinstance(a, device):
        return True
    return isinstance(a, str) and a.partition(":")[0] in (*backends.device_types(), *backends.known_backends())
