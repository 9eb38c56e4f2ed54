"""PyTorch functions that are compositions of other Tensor methods: shapes (tile, kron, tensordot,
baddbmm, diff, ravel, atleast_1d/2d/3d), elementwise functions without a kernel of their own
(exp2, logit, xlogy, logaddexp, heaviside, sgn; sinh ... atan and hypot through host_math.py),
selections (masked_select, masked_scatter, take, take_along_dim, index_fill, index_copy,
argwhere), running extremes and scans (cummax, cummin, logcumsumexp, aminmax), quantile and
nanquantile, and host counts and draws (histc, searchsorted, bucketize, multinomial).
Differentiable where PyTorch's are, through the methods they use; the host counts and draws have
no gradient, as in PyTorch.

`TensorComposite` is a mixin of Tensor (it never imports it); the functions that are not
methods in PyTorch take their tensors as arguments.
"""
import collections

import numpy as np

from tinygrad_nm import dtypes as dt
from tinygrad_nm import host_math
from tinygrad_nm.host import rng_for
from tinygrad_nm.tensor_reduce import ValuesIndices
from tinygrad_nm.tensor_math import where
from tinygrad_nm.tensor_shape import cat, one_dim, stack

MinMax = collections.namedtuple("aminmax", ["min", "max"])
_LN2 = float(np.log(2.0))
_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


class TensorComposite:
    __slots__ = ()

    def diff(self, n=1, dim=-1, prepend=None, append=None):
        """Differences of neighbours along dim, n times, of self with prepend and append (tensors of
        self's shape but along dim) joined before and after it."""
        out = cat([t for t in (prepend, self, append) if t is not None], dim) if prepend is not None or \
            append is not None else self
        for _ in range(n):
            length = out.shape[dim] - 1
            out = out.narrow(dim, 1, length) - out.narrow(dim, 0, length)
        return out

    def argwhere(self):
        """The indices of the nonzero elements, (n, ndim): nonzero()."""
        return self.nonzero()

    def ravel(self):
        return self.reshape(-1)

    @property
    def mH(self):  # the conjugate transpose of the last two dims: mT, as every tensor here is real
        return self.mT

    def type_as(self, other):
        return self.cast(other.dtype)

    def is_floating_point(self):
        return self.dtype.is_float

    def is_complex(self):
        return False

    def tile(self, *dims):
        """self repeated dims[i] times along each dim; fewer dims than self's are padded with 1s in
        front (as PyTorch), more make new leading dims."""
        dims = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
        dims = (1,) * (self.ndim - len(dims)) + tuple(dims)
        return self.reshape(*(1,) * (len(dims) - self.ndim), *self.shape).repeat(*dims)

    def kron(self, other):
        """The Kronecker product: every element of self times the whole of other, in blocks."""
        n = max(self.ndim, other.ndim)
        a = self.reshape(*(1,) * (n - self.ndim), *self.shape)
        b = other.reshape(*(1,) * (n - other.ndim), *other.shape)
        # (a0, 1, a1, 1, ...) * (1, b0, 1, b1, ...) -> (a0 b0, a1 b1, ...)
        prod = a.reshape(*(x for d in a.shape for x in (d, 1))) * b.reshape(*(x for d in b.shape for x in (1, d)))
        return prod.reshape(*(p * q for p, q in zip(a.shape, b.shape)))

    def baddbmm(self, batch1, batch2, *, beta=1, alpha=1):
        """beta * self + alpha * (batch1 @ batch2), batched (self broadcast); beta=0 ignores self's
        values (nan and inf too), self's gradient then 0."""
        product = batch1.bmm(batch2)
        product = product if alpha == 1 else product * alpha
        return product + ((self * 0).nan_to_num(0.0, 0.0, 0.0) if beta == 0 else self if beta == 1 else self * beta)

    def heaviside(self, values):
        """0 where self < 0, values where self == 0, 1 where self > 0."""
        zero, one = self._like_host(0).cast(self.dtype), self._like_host(1).cast(self.dtype)
        return where(self > 0, one, where(self == 0, values.cast(self.dtype), zero))

    def sgn(self):
        return self.sign()

    def quantile(self, q, dim=None, keepdim=False, *, interpolation="linear"):
        """The q-th quantiles (q a number or a 1-D tensor in [0, 1]) along dim (of the flattened
        tensor without dim), between the sorted values as `interpolation` says; nan if the row holds one."""
        return self._quantile(q, dim, keepdim, interpolation, "quantile", ignore_nan=False)

    def nanquantile(self, q, dim=None, keepdim=False, *, interpolation="linear"):
        """quantile with nans left out of each row (a row of nans only: nan)."""
        return self._quantile(q, dim, keepdim, interpolation, "nanquantile", ignore_nan=True)

    def _quantile(self, q, dim, keepdim, interpolation, what, ignore_nan):
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(f"{what}: interpolation must be one of {', '.join(_INTERPOLATIONS)}, got {interpolation!r}")
        if not self.dtype.is_float:
            raise RuntimeError(f"{what}() input tensor must be either float or double dtype, got {self.dtype}")
        qs = q.detach().numpy() if hasattr(q, "_buf") else np.asarray(q, np.float64)
        if qs.ndim > 1 or ((qs < 0) | (qs > 1)).any():
            raise RuntimeError(f"{what}() q values must be in the range [0, 1] (one number or a 1-D tensor), got {q}")
        x, d = (self.reshape(-1), 0) if dim is None else (self, one_dim(dim, self.ndim, what))
        values = x.sort(d).values  # nan sorts last
        nans = np.isnan(x.detach().numpy()).sum(axis=d, keepdims=True)
        valid = x.shape[d] - nans if ignore_nan else np.where(nans > 0, 0, x.shape[d])  # 0: the answer is nan
        nan = self._like_host(np.nan).cast(self.dtype)
        outs = []
        for p in np.atleast_1d(qs):
            rank = p * np.maximum(valid - 1, 0)  # where the quantile lies between the sorted values
            low, high = np.floor(rank), np.ceil(rank)
            frac = rank - low
            if interpolation == "lower":
                high = low
            elif interpolation == "higher":
                low = high
            elif interpolation == "nearest":  # round half to even, as PyTorch
                low = high = np.round(rank)
            elif interpolation == "midpoint":
                frac = np.where(high > low, 0.5, 0.0)
            a = values.gather(d, self._like_host(low.astype(np.int64)))
            b = values.gather(d, self._like_host(high.astype(np.int64)))
            out = a + (b - a) * self._like_host(frac).cast(self.dtype)
            out = nan.where(self._like_host(valid == 0), out)  # keeps dim d, of size 1
            outs.append(out.reshape(*(1,) * self.ndim) if keepdim and dim is None else out if keepdim
                        else out.squeeze(d) if dim is not None else out.reshape(()))
        return outs[0] if qs.ndim == 0 else stack(outs, 0)

    def _like_host(self, array):
        """A host array as a tensor on self's backend."""
        return type(self)(np.asarray(array), backend=self.backend)

    # --- elementwise functions without a kernel, composed (asin, acos, atan: host_math.py) ----------
    def sinh(self):  # NumPy's on the host: exact for tiny x, no overflow before the result's
        return host_math.sinh(self)

    def cosh(self):
        return host_math.cosh(self)

    def asinh(self):
        return host_math.asinh(self)

    def acosh(self):
        return host_math.acosh(self)

    def asin(self):
        return host_math.asin(self)

    def acos(self):
        return host_math.acos(self)

    def atan(self):
        return host_math.atan(self)

    arcsinh, arccosh, arcsin, arccos, arctan = asinh, acosh, asin, acos, atan

    def exp2(self):
        return (self._floating() * _LN2).exp()

    def deg2rad(self):
        return self._floating() * (np.pi / 180)

    def rad2deg(self):
        return self._floating() * (180 / np.pi)

    def logit(self, eps=None):
        """log(p / (1 - p)), p clamped to [eps, 1 - eps] first when eps is given."""
        p = self._floating() if eps is None else self._floating().clamp(eps, 1 - eps)
        return (p / (1 - p)).log()

    def xlogy(self, other):
        """self * log(other), 0 where self is 0 (unless other is nan); d/dself is log(other), 0 only
        where self is 0 and other <= 0, as PyTorch's."""
        x = self._floating()
        other = other if hasattr(other, "_buf") else x._like_host(other).cast(x.dtype)
        return x * where((x == 0).logical_and(other <= 0), 0.0, other.log())

    def hypot(self, other):
        """sqrt(a^2 + b^2) without overflow or underflow in the squares (NumPy's, on the host)."""
        return host_math.hypot(self, other)

    def logaddexp(self, other):
        """log(exp(a) + exp(b)) without overflow: max + log1p(exp(min - max)); max where it is infinite."""
        high, low = self.maximum(other), self.minimum(other)
        return where(high.isinf(), high, high + (low - high).exp().log1p())

    def logaddexp2(self, other):
        return (self * _LN2).logaddexp(other * _LN2) / _LN2

    def _floating(self):
        return self if self.dtype.is_float else self.cast(dt.DEFAULT_FLOAT)

    # --- selections ------------------------------------------------------------------------------
    def masked_select(self, mask):
        """The elements where mask (broadcast with self) is True, as a 1-D tensor."""
        x, m = (self, mask) if tuple(mask.shape) == self.shape else _broadcast_pair(self, mask)
        return x[m]

    def masked_scatter(self, mask, source):
        """self with the positions where mask (broadcast to self) is True filled, in row-major order,
        by source's first elements; differentiable in both (a gather from source, then where)."""
        m = mask if tuple(mask.shape) == self.shape else mask.expand(*self.shape)
        picked = m.detach().numpy().reshape(-1)
        if picked.sum() > source.numel():
            raise RuntimeError(f"masked_scatter: the mask selects {int(picked.sum())} elements but source has only "
                               f"{source.numel()}")
        order = np.where(picked, np.cumsum(picked) - 1, 0).reshape(self.shape)
        return where(m, source.reshape(-1)[self._like_host(order)].cast(self.dtype), self)

    def take(self, index):
        """self flattened, read at index (any shape): the result has index's shape."""
        return self.reshape(-1)[index]

    def take_along_dim(self, indices, dim=None):
        """gather along dim with indices broadcast against self (except along dim); flattened without dim."""
        if dim is None:
            return self.reshape(-1)[indices.reshape(-1)]
        d = one_dim(dim, self.ndim, "take_along_dim")
        shape = [max(a, b) for a, b in zip(self.shape, indices.shape)]
        grow = lambda t, n: t.expand(*(n[i] if i != d else t.shape[d] for i in range(t.ndim)))  # noqa: E731
        return grow(self, shape).gather(d, grow(indices, shape))

    def index_fill(self, dim, index, value):
        """self with the slices at index along dim set to value (differentiable as masked_fill)."""
        return self.masked_fill(self._index_mask(dim, index, "index_fill"), value)

    def index_copy(self, dim, index, source):
        """self with its slices at index along dim replaced by source's slices, in order."""
        return self.masked_fill(self._index_mask(dim, index, "index_copy"), 0).index_add(dim, index, source)

    def _index_mask(self, dim, index, what):
        d = one_dim(dim, self.ndim, what)
        picked = np.zeros(self.shape[d] if self.ndim else 1, bool)
        picked[np.asarray(index.tolist() if hasattr(index, "_buf") else index, np.int64)] = True
        shape = [1] * self.ndim
        if self.ndim:
            shape[d] = -1
        return self._like_host(np.broadcast_to(picked.reshape(shape), self.shape))

    def aminmax(self, *, dim=None, keepdim=False):
        """(min, max) over dim (all elements without it)."""
        if dim is None:
            return MinMax(self.amin(), self.amax())
        return MinMax(self.amin(dim, keepdim), self.amax(dim, keepdim))

    def cummax(self, dim):
        """Running maximum along dim and where it was reached (the latest of equal maxima, as PyTorch)."""
        return self._running(dim, "cummax", np.greater_equal)

    def cummin(self, dim):
        return self._running(dim, "cummin", np.less_equal)

    def _running(self, dim, what, better):
        d = one_dim(dim, self.ndim, what)
        host = np.moveaxis(np.atleast_1d(self.detach().numpy()), d if self.ndim else 0, -1)
        at = np.zeros(host.shape, np.int64)
        for k in range(1, host.shape[-1]):  # the previous winner, or k where k ties or beats it (a nan always)
            prev = np.take_along_axis(host, at[..., k - 1:k], -1)[..., 0]
            with np.errstate(invalid="ignore"):
                take = better(host[..., k], prev) | np.isnan(host[..., k])
            at[..., k] = np.where(take, k, at[..., k - 1])
        indices = self._like_host(np.moveaxis(at, -1, d if self.ndim else 0).reshape(self.shape))
        return ValuesIndices(self.gather(d, indices) if self.ndim else self.clone(), indices)

    def logcumsumexp(self, dim):
        """log(cumsum(exp(x))) along dim: cumsum's scan (tensor_reduce.py) combining with logaddexp,
        so no step overflows or underflows."""
        return self._floating()._scan(dim, None, "logcumsumexp", float("-inf"), lambda a, b: a.logaddexp(b))

    def multinomial(self, num_samples, replacement=False, *, generator=None):
        """Indices drawn with the (unnormalised) weights in each row: int64, one row per row."""
        weights = np.atleast_2d(self.detach().numpy().astype(np.float64))
        if (weights < 0).any() or not np.isfinite(weights).all() or (weights.sum(axis=1) <= 0).any():
            raise RuntimeError("multinomial: weights must be finite, non-negative, and not all zero in a row")
        if not replacement and num_samples > weights.shape[1]:
            raise RuntimeError(f"multinomial: cannot sample n_sample > prob_dist.size(-1) samples without "
                               f"replacement ({num_samples} from {weights.shape[1]} categories)")
        rng = rng_for(None, generator)
        rows = [rng.choice(len(w), num_samples, p=w / w.sum()) if replacement
                else _without_replacement(rng, w, num_samples) for w in weights]
        out = np.array(rows, dtype=np.int64)
        return self._like_host(out if self.ndim > 1 else out[0])

    def histc(self, bins=100, min=0, max=0):
        """A histogram of bins equal-width bins between min and max (both 0: the data's own range);
        elements outside are ignored. Of self's dtype."""
        host = self.detach().numpy().astype(np.float64).ravel()
        low, high = float(min), float(max)
        if low == high and host.size:
            low, high = float(host.min()), float(host.max())
        if low == high:
            low, high = low - 1, high + 1
        if low > high:
            raise RuntimeError(f"histc: max ({max}) must be larger than min ({min})")
        counts, _ = np.histogram(host[(host >= low) & (host <= high)], bins=bins, range=(low, high))
        return type(self)(counts, dtype=self.dtype, backend=self.backend)


def _without_replacement(rng, w, n):
    """n categories drawn without replacement: the nonzero weights first, then (as PyTorch) the
    zero-weight categories in index order once those run out."""
    nonzero = np.flatnonzero(w > 0)
    picked = rng.choice(nonzero, min(n, len(nonzero)), replace=False, p=w[nonzero] / w[nonzero].sum())
    return np.concatenate([picked, np.flatnonzero(w == 0)[:n - len(picked)]])


def _broadcast_pair(a, b):
    shape = np.broadcast_shapes(a.shape, tuple(b.shape))
    return a.expand(*shape), b.expand(*shape)


def searchsorted(sorted_sequence, values, *, out_int32=False, right=False, side=None, sorter=None):
    """For each value, the index where it would be inserted into sorted_sequence (the last dim,
    row by row for an N-d sequence) to keep it sorted: before equal elements, or after them with right."""
    right = right or side == "right"
    seq = sorted_sequence.detach().numpy()
    vals = values.detach().numpy() if hasattr(values, "_buf") else np.asarray(values)
    if sorter is not None:
        seq = np.take_along_axis(seq, sorter.numpy(), -1)
    side_name = "right" if right else "left"
    if seq.ndim == 1:
        found = np.searchsorted(seq, vals, side=side_name)
    else:
        if seq.shape[:-1] != vals.shape[:-1]:
            raise RuntimeError(f"searchsorted: sorted_sequence {seq.shape} and values {vals.shape} must have the "
                               f"same leading dims")
        rows = [np.searchsorted(s, v, side=side_name) for s, v in zip(seq.reshape(-1, seq.shape[-1]),
                                                                   vals.reshape(-1, vals.shape[-1]))]
        found = np.array(rows).reshape(vals.shape)
    return type(sorted_sequence)(found, dtype=dt.int64, backend=sorted_sequence.backend)


def bucketize(input, boundaries, *, out_int32=False, right=False):
    """searchsorted(boundaries, input): the bucket of each element of input."""
    return searchsorted(boundaries, input, right=right)


def tensordot(a, b, dims=2):
    """Sum over dims of a and b: an int n (a's last n with b's first n) or two lists of dims; a
    matmul of the two reshaped."""
    if isinstance(dims, int):
        dims_a, dims_b = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        dims_a, dims_b = ([d] if isinstance(d, int) else list(d) for d in dims)
    dims_a = [one_dim(d, a.ndim, "tensordot") for d in dims_a]
    dims_b = [one_dim(d, b.ndim, "tensordot") for d in dims_b]
    if [a.shape[i] for i in dims_a] != [b.shape[i] for i in dims_b]:
        raise RuntimeError(f"tensordot: contracted dims of a {a.shape} (dims {dims_a}) and b {b.shape} (dims "
                           f"{dims_b}) differ in size")
    keep_a = [i for i in range(a.ndim) if i not in dims_a]
    keep_b = [i for i in range(b.ndim) if i not in dims_b]
    k = int(np.prod([a.shape[i] for i in dims_a]))
    left = a.permute(*keep_a, *dims_a).reshape(-1, k)
    right = b.permute(*dims_b, *keep_b).reshape(k, -1)
    return (left @ right).reshape(*(a.shape[i] for i in keep_a), *(b.shape[i] for i in keep_b))


def atleast_1d(*tensors):
    return _atleast(tensors, 1)


def atleast_2d(*tensors):
    return _atleast(tensors, 2)


def atleast_3d(*tensors):
    return _atleast(tensors, 3)


def _atleast(tensors, n):
    """Each tensor with at least n dims, PyTorch's way: 0-d -> (1,...), 1-d (k,) -> (1, k) or
    (1, k, 1), 2-d (i, j) -> (i, j, 1)."""
    tensors = tensors[0] if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)) else tensors
    out = []
    for t in tensors:
        shape = t.shape
        if t.ndim < n:
            shape = {0: (1,) * n, 1: (1, *t.shape) if n == 2 else (1, *t.shape, 1), 2: (*t.shape, 1)}[t.ndim]
        out.append(t.reshape(*shape) if shape != t.shape else t)
    return out[0] if len(out) == 1 else tuple(out)
