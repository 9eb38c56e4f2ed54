"""Reductions, spelled as in PyTorch (dim=, keepdim=) and NumPy (axis=, keepdims=): sum, mean,
max/min (with dim: a (values, indices) pair), amax, amin, argmax, argmin, var, std, logsumexp,
any, all, prod, cumsum, norm, and the softmax family (sort and the other orderings: tensor_order.py).

`TensorReduce` is a mixin of Tensor (it never imports it). Only sum, amax and the softmax family
are ops (ops.Sum, ops.Max, ops.Softmax, ops.LogSoftmax); the rest are composed from them and
elementwise methods, so each is differentiable with the gradient its composition gives (noted
where it differs from PyTorch's).
"""
import collections


from tinygrad_nm import dtypes as dt
from tinygrad_nm import indexing, ops
from tinygrad_nm.shapes import normalize_axes
from tinygrad_nm.tensor_shape import cat, dim_or_axis, no_dims, one_dim

# what max(dim)/min(dim), sort, topk and median(dim) return, as torch.return_types.max and kin
ValuesIndices = collections.namedtuple("ValuesIndices", ["values", "indices"])


def _numpy_style(t, dtype, out):
    """A reduction's NumPy arguments: `dtype` casts first (as np.sum does); `out` has no meaning
    for a tensor, whose results are new tensors."""
    if out is not None:
        raise TypeError("out= is not supported: tinygrad_nm reductions return a new tensor")
    return t if dtype is None else t.cast(dtype)


def _root(s, p):
    """s ** (1 / p), its gradient 0 where s is 0 (as PyTorch's norm; the root's own slope is infinite
    there, and infinity times the 0 that reaches it would be nan). nan stays nan."""
    nonzero = s != 0
    safe = s.where(nonzero, 1.0)
    return (safe.sqrt() if p == 2 else safe ** (1.0 / p)).where(nonzero, 0.0)


def _keep(keepdim, keepdims):
    return bool(keepdim if keepdims is None else keepdims)


class TensorReduce:
    __slots__ = ()

    # --- the ops (dtype= and out= are NumPy's: np.sum(t), np.mean(t), np.max(t) pass them) ------
    def sum(self, dim=None, keepdim=False, dtype=None, out=None, *, axis=None, keepdims=None):
        dim, keepdim = dim_or_axis(dim, axis, "sum"), _keep(keepdim, keepdims)
        if dtype is not None or out is not None:
            return _numpy_style(self, dtype, out).sum(dim, keepdim)
        if self.dtype is dt.bool_:  # counting: True + True is 2, an int64 as in PyTorch
            return self.long().sum(dim, keepdim)
        axes = normalize_axes(dim, self.ndim)
        if not axes:  # a 0-d tensor: its value, in new storage as every reduction's result
            return self.clone()
        return self._apply(ops.Sum, self.dtype, (self,), axes, keepdim)

    def amax(self, dim=(), keepdim=False):
        """The largest value over `dim` (() or None: every dim); ties share the gradient equally."""
        axes = normalize_axes(dim_or_axis(dim, None, "amax"), self.ndim)
        if any(self.shape[ax] == 0 for ax in axes):
            raise ValueError(f"max() over an empty dim of a tensor with shape {self.shape}")
        if not axes:  # a 0-d tensor: its value, in new storage as every reduction's result
            return self.clone()
        if self.dtype is dt.bool_:
            return self.long().amax(axes, keepdim).bool()
        return self._apply(ops.Max, self.dtype, (self,), axes, keepdim)

    def amin(self, dim=(), keepdim=False):
        if self.dtype is dt.bool_:
            return self.long().amin(dim, keepdim).bool()
        return -(-self).amax(dim, keepdim)

    def softmax(self, dim=None, dtype=None, *, axis=None):
        return self._along_axis(ops.Softmax, dim_or_axis(dim, axis, "softmax"), 1.0, dtype)

    def log_softmax(self, dim=None, dtype=None, *, axis=None):
        return self._along_axis(ops.LogSoftmax, dim_or_axis(dim, axis, "log_softmax"), 0.0, dtype)

    def _along_axis(self, fn_cls, dim, single, dtype):
        """The softmax family: a 0-d tensor is one row of one element (softmax 1, log_softmax 0, as
        PyTorch gives); an empty row has nothing to normalise (the result is as empty)."""
        x = self if dtype is None else self.cast(dtype)
        x = x if x.dtype.is_float else x.cast(dt.DEFAULT_FLOAT)
        axis = normalize_axes(-1 if dim is None else dim, x.ndim)
        if not x.ndim or x.numel() == 0:
            return x * 0.0 + single
        return x._apply(fn_cls, x.dtype, (x,), axis[0])

    # --- composed ----------------------------------------------------------------------------
    def mean(self, dim=None, keepdim=False, dtype=None, out=None, *, axis=None, keepdims=None):
        dim, keepdim = dim_or_axis(dim, axis, "mean"), _keep(keepdim, keepdims)
        if dtype is not None or out is not None:
            return _numpy_style(self, dtype, out).mean(dim, keepdim)
        count = self._count(dim)
        x = self if self.dtype.is_float else self.cast(dt.DEFAULT_FLOAT)
        return x.sum(dim, keepdim) / count if count else x.sum(dim, keepdim) * float("nan")

    def _count(self, dim):
        count = 1
        for ax in normalize_axes(dim, self.ndim):
            count *= self.shape[ax]
        return count

    def max(self, dim=None, keepdim=False, out=None, *, axis=None, keepdims=None):
        """max(): the largest element. max(dim): (values, indices), the gradient going to the index
        picked (PyTorch's rule). max(other): maximum(self, other). max(axis=): NumPy's amax."""
        if out is not None:
            return _numpy_style(self, None, out).max(dim, keepdim, axis=axis, keepdims=keepdims)
        if hasattr(dim, "_buf"):
            return self.maximum(dim)
        if dim is None:
            return self.amax(axis, _keep(keepdim, keepdims))
        return self._extreme(dim, keepdim, self.argmax)

    def min(self, dim=None, keepdim=False, out=None, *, axis=None, keepdims=None):
        if out is not None:
            return _numpy_style(self, None, out).min(dim, keepdim, axis=axis, keepdims=keepdims)
        if hasattr(dim, "_buf"):
            return self.minimum(dim)
        if dim is None:
            return self.amin(axis, _keep(keepdim, keepdims))
        return self._extreme(dim, keepdim, self.argmin)

    def _extreme(self, dim, keepdim, arg):
        d = one_dim(dim, self.ndim, "max/min")
        indices = arg(d, keepdim=True)
        values = self.gather(d, indices) if self.ndim else self
        if not keepdim and self.ndim:
            values, indices = values.squeeze(d), indices.squeeze(d)
        return ValuesIndices(values, indices)

    def argmax(self, dim=None, keepdim=False, *, axis=None):
        return self._arg_extreme(dim_or_axis(dim, axis, "argmax"), keepdim, 1)

    def argmin(self, dim=None, keepdim=False, *, axis=None):
        return self._arg_extreme(dim_or_axis(dim, axis, "argmin"), keepdim, -1)

    def _arg_extreme(self, dim, keepdim, sign):
        """The first index of the largest (sign 1) or smallest (-1) value along dim; nan counts as
        the extreme, as in PyTorch. dim None: the index into the flattened tensor."""
        x = self.detach()
        x = x.long() if x.dtype is dt.bool_ else x
        if dim is None:
            out = x.reshape(-1)._arg_extreme(0, False, sign)
            return out.reshape(*(1,) * self.ndim) if keepdim else out
        d = one_dim(dim, self.ndim, "argmax/argmin")
        if not self.ndim:
            return type(self).zeros((), dtype=dt.int64, backend=self.backend)
        n = self.shape[d]
        if n == 0:
            raise ValueError(f"argmax/argmin over the empty dim {d} of a tensor with shape {self.shape}")
        x = x if sign > 0 else -x
        hit = ((x == x.amax(d, keepdim=True)).long() + x.isnan().long()) > 0
        pos = type(self).arange(n, backend=self.backend).reshape(n, *(1,) * (self.ndim - d - 1))
        return pos.where(hit, n).amin(d, keepdim)

    def gather(self, dim, index):
        """out[i][j][k] = self[i][index[i][j][k]][k] for dim 1 (torch.gather); differentiable in self."""
        return indexing.gather(self, dim, index)

    # scatter, scatter_add, index_add: indexing.py (the same flat offsets as gather, written back)
    def scatter_add(self, dim, index, src):
        return indexing.scatter_add(self, dim, index, src)

    def scatter_add_(self, dim, index, src):
        return indexing.inplace(self, "scatter_add_", lambda: self.scatter_add(dim, index, src), src)

    def scatter(self, dim, index, src=None, *, value=None):
        return indexing.scatter(self, dim, index, src, value)

    def scatter_(self, dim, index, src=None, *, value=None):
        return indexing.inplace(self, "scatter_", lambda: self.scatter(dim, index, src, value=value), src)

    def index_add(self, dim, index, source, *, alpha=1):
        return indexing.index_add(self, dim, index, source, alpha)

    def index_add_(self, dim, index, source, *, alpha=1):
        return indexing.inplace(self, "index_add_", lambda: self.index_add(dim, index, source, alpha=alpha), source)

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None, keepdims=None):
        """Variance with `correction` (default 1, Bessel's; unbiased=False means 0)."""
        dim, keepdim = dim_or_axis(dim, axis, "var"), _keep(keepdim, keepdims)
        if unbiased is not None and correction is not None:
            raise TypeError("var/std: pass unbiased= or correction=, not both")
        c = correction if correction is not None else (1 if unbiased is None or unbiased else 0)
        x = self if self.dtype.is_float else self.cast(dt.DEFAULT_FLOAT)
        centered = x - x.mean(dim, keepdim=True)
        return (centered * centered).sum(dim, keepdim) / float(max(self._count(dim) - c, 0))

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None, keepdims=None):
        return self.var(dim, unbiased, keepdim, correction=correction, axis=axis, keepdims=keepdims).sqrt()

    def logsumexp(self, dim, keepdim=False):
        x = self if self.dtype.is_float else self.cast(dt.DEFAULT_FLOAT)
        m = x.detach().amax(dim, keepdim=True)
        m = m.where(m.isfinite(), 0.0)  # an all -inf row: log(0) = -inf, not nan
        out = (x - m).exp().sum(dim, keepdim=True).log() + m
        return out if keepdim else out.reshape(*self._reduced_shape(dim))

    def _reduced_shape(self, dim):
        axes = normalize_axes(dim, self.ndim)
        return tuple(s for i, s in enumerate(self.shape) if i not in axes)

    def any(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        if no_dims(dim):  # PyTorch: over no dim, each element's truth
            return self != 0
        dim, keepdim = dim_or_axis(dim, axis, "any"), _keep(keepdim, keepdims)
        return (self != 0).sum(dim, keepdim) > 0

    def all(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        if no_dims(dim):  # PyTorch: over no dim, each element's truth
            return self != 0
        dim, keepdim = dim_or_axis(dim, axis, "all"), _keep(keepdim, keepdims)
        return (self == 0).sum(dim, keepdim) == 0

    def prod(self, dim=None, keepdim=False, dtype=None):
        """Products along dim, multiplied pairwise in log2(n) rounds (the gradient is exact at zeros)."""
        x = self if dtype is None else self.cast(dtype)
        x = x.long() if x.dtype is dt.bool_ else x
        if dim is None:
            out = x.reshape(-1).prod(0)
            return out.reshape(*(1,) * self.ndim) if keepdim else out
        d = one_dim(dim, self.ndim, "prod")
        if not x.ndim:  # nothing to multiply: the value, in new storage as every reduction's result
            return x.clone() if x is self else x
        lead = (slice(None),) * d
        while x.shape[d] > 1:
            n = x.shape[d]
            pairs = x[lead + (slice(0, n - 1, 2),)] * x[lead + (slice(1, n, 2),)]
            x = pairs if n % 2 == 0 else cat([pairs, x[lead + (slice(n - 1, n),)]], d)
        if x.shape[d] == 0:  # the empty product
            x = type(self).ones(*x.shape[:d], 1, *x.shape[d + 1:], dtype=x.dtype, backend=self.backend)
        if x is self:  # a dim of 1: nothing multiplied, but the result is new storage all the same
            x = x.clone()
        return x if keepdim else x.squeeze(d)

    def count_nonzero(self, dim=None):
        return (self != 0).sum(dim)

    def cumprod(self, dim, dtype=None):
        """Running products along dim (as cumsum, multiplying)."""
        return self._scan(dim, dtype, "cumprod", 1, lambda a, b: a * b)

    def cumsum(self, dim, dtype=None):
        """Running sums along dim: log2(n) rounds of adding a shifted copy (Hillis and Steele)."""
        return self._scan(dim, dtype, "cumsum", 0, lambda a, b: a + b)

    def _scan(self, dim, dtype, what, identity, combine):
        """log2(n) rounds of combining x with a copy shifted by 1, 2, 4, ... along dim (the identity
        shifted in): each element ends up combined with all of those before it."""
        x = self if dtype is None else self.cast(dtype)
        x = x.long() if x.dtype is dt.bool_ else x
        d = one_dim(dim, self.ndim, what)
        if not x.ndim:
            return x.clone()
        n, shift, lead = x.shape[d], 1, (slice(None),) * d
        while shift < n:
            pad = type(self).full((*x.shape[:d], shift, *x.shape[d + 1:]), identity, x.dtype, self.backend)
            x = combine(x, cat([pad, x[lead + (slice(0, n - shift),)]], d))
            shift *= 2
        return x if x is not self else x.clone()

    def norm(self, p="fro", dim=None, keepdim=False):
        """The vector p-norm over dim (all elements by default): p 2/"fro", 1, inf, -inf, 0 or any
        other number; its gradient at an all-zero input is 0, as PyTorch's."""
        x = self if self.dtype.is_float else self.cast(dt.DEFAULT_FLOAT)
        if p in ("fro", 2, 2.0):
            return _root((x * x).sum(dim, keepdim), 2)
        if not isinstance(p, (int, float)) or isinstance(p, bool):
            raise ValueError(f"norm: unsupported p={p!r}; use a number, inf, -inf or 'fro'")
        a = x.abs()
        if p == float("inf"):
            return a.amax(() if dim is None else dim, keepdim)
        if p == float("-inf"):
            return a.amin(() if dim is None else dim, keepdim)
        if p == 0:
            return (a != 0).sum(dim, keepdim).cast(x.dtype)
        if p == 1:
            return a.sum(dim, keepdim)
        return _root((a ** p).sum(dim, keepdim), p)
