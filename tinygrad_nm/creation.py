"""Making tensors from nothing: full, zeros, ones, rand, randn, arange, eye (Tensor's constructors).

A mixin of classmethods: `Tensor.zeros(2, 3)` calls `TensorCreation.zeros` with `cls` the
Tensor class, so this module never imports it. Random numbers are drawn on the host, so a seed
gives the same numbers on every backend.
"""
import numpy as np

from tinygrad_nm import backends
from tinygrad_nm import dtypes as dt
from tinygrad_nm.device import backend_of
from tinygrad_nm.host import rng_for, scalar_dtype, shape_arg


class TensorCreation:
    __slots__ = ()

    @classmethod
    def full(cls, shape, value, dtype=None, backend=None, requires_grad=False):
        shape = shape_arg(shape)
        if any(d < 0 for d in shape):
            raise ValueError(f"negative dimension in shape {shape}")
        dtype = dt.to_dtype(dtype) or scalar_dtype(value)
        be = backends.default() if backend is None else backends.load(backend)
        t = cls._make(backends.kernels_of(be).full(shape, value, dtype), dtype, be)
        return t.requires_grad_(requires_grad) if requires_grad else t

    @classmethod
    def zeros(cls, *shape, dtype=None, backend=None, requires_grad=False):
        return cls.full(shape, 0.0, dtype or dt.DEFAULT_FLOAT, backend, requires_grad)

    @classmethod
    def ones(cls, *shape, dtype=None, backend=None, requires_grad=False):
        return cls.full(shape, 1.0, dtype or dt.DEFAULT_FLOAT, backend, requires_grad)

    @classmethod
    def zeros_like(cls, t, **kw):
        return cls.zeros(*t.shape, dtype=kw.pop("dtype", t.dtype), backend=kw.pop("backend", t.backend), **kw)

    @classmethod
    def ones_like(cls, t, **kw):
        return cls.ones(*t.shape, dtype=kw.pop("dtype", t.dtype), backend=kw.pop("backend", t.backend), **kw)

    # --- new_*: self's dtype and backend unless given (PyTorch's Tensor.new_zeros and kin) --------
    def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
        return type(self).full(size, fill_value, dtype or self.dtype, self._new_backend(device), requires_grad)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        return self.new_full(shape_arg(size), 0, dtype=dtype, device=device, requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        return self.new_full(shape_arg(size), 1, dtype=dtype, device=device, requires_grad=requires_grad)

    new_empty = new_zeros  # "uninitialised": zeros here, as tnm.empty

    def new_tensor(self, data, *, dtype=None, device=None, requires_grad=False):
        """A copy of `data` (numbers, lists, an array or a tensor), by default of self's dtype and backend."""
        data = data.detach().numpy() if hasattr(data, "_buf") else data
        return type(self)(data, requires_grad, dtype or self.dtype, self._new_backend(device))

    def _new_backend(self, device):
        return self.backend if device is None else backend_of(device).NAME

    @classmethod
    def rand(cls, *shape, seed=None, generator=None, dtype=None, backend=None, requires_grad=False):
        """Uniform in [0, 1). Same seed, same numbers on every backend (drawn on the host)."""
        rng = rng_for(seed, generator)
        return cls(rng.random(shape_arg(shape)), requires_grad, dtype or dt.DEFAULT_FLOAT, backend)

    @classmethod
    def randn(cls, *shape, seed=None, generator=None, dtype=None, backend=None, requires_grad=False):
        """Standard normal. Same seed, same numbers on every backend (drawn on the host)."""
        rng = rng_for(seed, generator)
        return cls(rng.standard_normal(shape_arg(shape)), requires_grad, dtype or dt.DEFAULT_FLOAT, backend)

    @classmethod
    def arange(cls, start, stop=None, step=1, dtype=None, backend=None):
        if stop is None:
            start, stop = 0, start
        if step == 0:
            raise ValueError("arange: step must not be zero")
        is_int = all(isinstance(v, int) for v in (start, stop, step))
        dtype = dt.to_dtype(dtype) or (dt.int64 if is_int else dt.DEFAULT_FLOAT)
        return cls(np.arange(start, stop, step), dtype=dtype, backend=backend)

    @classmethod
    def eye(cls, n, m=None, dtype=None, backend=None):
        return cls(np.eye(n, m), dtype=dtype or dt.DEFAULT_FLOAT, backend=backend)
