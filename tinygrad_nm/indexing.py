"""Advanced indexing as PyTorch does it, lowered to ONE flat integer index into the source.

    x[torch.arange(n), y]   x[a, :, b]   x[mask]   x[a, b] = v   x.scatter_add(dim, index, src)

Several integer arrays (broadcast against each other), arrays of any number of dims and boolean
masks all become the same thing here: the flat row-major offset, in x, of every element of the
result, computed on the host with NumPy from the index arrays and x's strides. The existing
one-array kernels then do the work on the flattened tensor: `getitem` gathers, `index_add`
scatters the gradient back with repeats accumulating, `setitem` writes. So no backend needs a
kernel of its own for any of this, and reading is differentiable through ops.Index.

PyTorch's placement rule: ints are applied first (they drop their dims) and None adds a dim of
size 1; then the broadcast shape of the arrays takes the place of the first array's dim when the
arrays' dims are adjacent, and goes first in the result when a slice (or None) separates them.
A boolean mask stands for the integer arrays of its nonzero positions (found on the host: the
mask is read back through the backend's `to_numpy` kernel, so napkin's trace sees the transfer).

tensor.py hands a key here only when its own path cannot take it (several arrays, a multi-dim
array, a mask): `w[i]` and `w[idx]` with one 1-D int array stay on the core's short path.
"""
import numpy as np

from tinygrad_nm import backends
from tinygrad_nm import dtypes as dt
from tinygrad_nm.autograd import Op, needs_grad
from tinygrad_nm.ops import Index, Reshape
from tinygrad_nm.shapes import broadcast_shape, check_slice
from tinygrad_nm.tensor_shape import one_dim

_BASIC = (int, slice, type(None), type(Ellipsis))


# --- which keys come here ----------------------------------------------------------------------
def is_advanced(key):
    """Whether t[key] needs this module: a boolean (mask or scalar), an integer array with other
    than one dim, or more than one integer array."""
    if type(key) is not tuple:  # (the common keys first: this runs before every t[key] but w[i])
        if type(key) in _BASIC:
            return False
        key = (key,)
    arrays = 0
    for k in key:
        if type(k) in _BASIC:
            continue
        if isinstance(k, (bool, np.bool_)):
            return True
        if hasattr(k, "_buf"):  # a tensor
            ndim, is_bool = len(k._shape), k.dtype is dt.bool_
        elif isinstance(k, (list, tuple, np.ndarray)):
            try:
                host = np.asarray(k)
            except ValueError:  # ragged: the core's checks say what is wrong
                continue
            ndim, is_bool = host.ndim, host.dtype.kind == "b"
        else:
            continue
        if is_bool or ndim > 1:
            return True
        arrays += ndim == 1
    return arrays > 1


# --- the plan: flat offsets of every element of x[key] -----------------------------------------
def flat_offsets(x, key):
    """The flat row-major offset in x of each element of x[key], a host int64 array of the
    result's shape. Raises, naming the problem, before anything is read or written."""
    shape = x.shape
    entries = []
    for k in (key if type(key) is tuple else (key,)):
        if hasattr(k, "_buf"):
            k = x._host_index(k)  # an int for a 0-d integer tensor, else its host array
        elif isinstance(k, (list, tuple)):
            k = np.asarray(k)
        elif isinstance(k, (bool, np.bool_)):
            k = np.asarray(k)
        if isinstance(k, np.ndarray) and k.ndim == 0 and k.dtype.kind in "iu":
            k = int(k)  # a 0-d integer array indexes like an int
        entries.append(k)
    entries = _expand_ellipsis(shape, entries)
    strides, axis, base = _strides(shape), 0, 0
    dims, arrays, slots = [], [], []  # dims: per result axis before placing the arrays, its offsets
    for k in entries:
        if k is None:
            dims.append(np.zeros(1, np.int64))
            continue
        if isinstance(k, np.ndarray) and k.dtype.kind == "b":
            if k.ndim == 0:  # a new dim of size 1, indexed by [0] (True) or [] (False), as NumPy does
                slots.append(len(dims))
                dims.append(None)
                arrays.append((np.zeros(1 if k else 0, np.int64), 0))
                continue
            if k.shape != shape[axis:axis + k.ndim]:
                raise IndexError(f"the mask's shape {k.shape} does not match the indexed tensor's shape {shape} "
                                 f"at dims {axis}..{axis + k.ndim - 1} (that is {shape[axis:axis + k.ndim]})")
            for coords in np.nonzero(k):  # a mask is the integer arrays of its nonzero positions
                slots.append(len(dims))
                dims.append(None)
                arrays.append((coords, strides[axis]))
                axis += 1
            continue
        n, st = shape[axis], strides[axis]
        if isinstance(k, (int, np.integer)):
            if not -n <= k < n:
                raise IndexError(f"index {k} is out of bounds for dim {axis} with size {n}")
            base += (int(k) % n) * st
        elif isinstance(k, slice):
            check_slice(k)
            dims.append(np.arange(*k.indices(n), dtype=np.int64) * st)
        else:
            slots.append(len(dims))
            dims.append(None)
            arrays.append((_checked_array(k, axis, n), st))
        axis += 1
    dims.extend(np.arange(shape[a], dtype=np.int64) * strides[a] for a in range(axis, len(shape)))
    return _combine(base, dims, arrays, slots)


def _expand_ellipsis(shape, entries):
    if sum(k is Ellipsis for k in entries) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = sum(k.ndim if isinstance(k, np.ndarray) and k.dtype.kind == "b" else 1
               for k in entries if k is not None and k is not Ellipsis)
    if used > len(shape):
        raise IndexError(f"too many indices for a tensor of dimension {len(shape)}")
    out = []
    for k in entries:
        out.extend([slice(None)] * (len(shape) - used) if k is Ellipsis else [k])
    return out


def _strides(shape):
    out, s = [], 1
    for d in reversed(shape):
        out.append(s)
        s *= d
    return out[::-1]


def _checked_array(k, axis, n):
    """An integer-array index along dim `axis` of size n: int64, negatives wrapped, in range."""
    host = np.asarray(k)
    if host.dtype.kind not in "iu":
        if host.size or host.dtype.kind != "f":  # an empty list arrives as float64: allow it
            raise IndexError(f"tensors can be indexed by ints, slices, None, ..., integer arrays and boolean "
                             f"masks; got an array of {host.dtype} for dim {axis}")
        host = host.astype(np.int64)
    host = host.astype(np.int64, copy=False)
    if host.size:
        low, high = host.min(), host.max()
        if low < -n or high >= n:
            bad = low if low < -n else high
            raise IndexError(f"index {bad} is out of bounds for dim {axis} with size {n}")
        if low < 0:
            host = np.where(host < 0, host + n, host)
    return host


def _combine(base, dims, arrays, slots):
    """Broadcast the arrays, place their shape as PyTorch does, add every axis's offsets.
    `arrays`: (host index array, stride) pairs. The sums go into one array, in place where the
    shapes allow: at a few million elements fresh allocations cost as much as the arithmetic."""
    try:
        shapes = {a.shape for a, _ in arrays}
        bshape = shapes.pop() if len(shapes) == 1 else np.broadcast_shapes(*shapes)
    except ValueError:
        raise IndexError("shape mismatch: indexing arrays could not be broadcast together with shapes "
                         + ", ".join(str(a.shape) for a, _ in arrays)) from None
    adjacent = slots == list(range(slots[0], slots[0] + len(slots)))
    place = slots[0] if adjacent else 0
    basic = [d for d in dims if d is not None]  # the other axes, in order
    out_shape = tuple(len(d) for d in basic[:place]) + bshape + tuple(len(d) for d in basic[place:])
    ndim = len(out_shape)
    total = np.multiply(arrays[0][0], arrays[0][1], dtype=np.int64)  # a new array: ours to write into
    for a, st in arrays[1:]:
        total = _accumulate(total, a * st if st != 1 else a)
    total = total.reshape((1,) * place + total.shape + (1,) * (ndim - place - len(total.shape)))
    for i, d in enumerate(basic):
        at = i if i < place else i + len(bshape)
        total = _accumulate(total, d.reshape((1,) * at + (-1,) + (1,) * (ndim - at - 1)))
    if base:
        total = _accumulate(total, base)
    return total if total.shape == out_shape else np.broadcast_to(total, out_shape)


def _accumulate(total, term):
    """total + term, written into total (always an array made here) when it has the sum's shape."""
    try:
        total += term  # NumPy refuses (ValueError) when the sum would be larger than total
        return total
    except ValueError:
        return total + term


def _flat_index(x, offsets):
    """The offsets as the one-entry index the kernels take, stored on x's backend."""
    return (backends.kernels_of(x._be).from_numpy(np.ascontiguousarray(offsets).reshape(-1), dt.int64),)


def _reshaped(t, shape):
    """t.reshape(shape), differentiable, without Tensor.reshape's checks (the shapes here are right by
    construction) and without marking t's storage as shared: the flat view lives only inside one op."""
    return t if t._shape == shape else type(t)._apply(Reshape, t.dtype, (t,), shape)


# --- reading and writing -----------------------------------------------------------------------
def getitem(x, key):
    """x[key], differentiable: a gather from the flattened x (its backward scatters-with-add)."""
    offsets = flat_offsets(x, key)
    flat = _reshaped(x, (x.numel(),))  # a copy only where x's storage is not row-major
    return _reshaped(type(x)._apply(Index, x.dtype, (flat,), _flat_index(x, offsets)), offsets.shape)


def setitem(x, key, value):
    """x[key] = value, value broadcast to x[key]'s shape; everything checked before the write."""
    offsets = flat_offsets(x, key)
    be = backends.kernels_of(x._be)
    if hasattr(value, "_buf"):
        x._same_backend(value, "setitem")
        broadcast_shape(value.shape, offsets.shape, "t[index] = value", into=True)
        value = value._buf if value.dtype is x.dtype else be.astype(value._buf, x.dtype)
        if len(value.shape) > offsets.ndim:  # leading dims of 1 (checked above): dropped
            value = be.reshape(value, value.shape[len(value.shape) - offsets.ndim:])
        value = be.reshape(be.expand(value, offsets.shape), (offsets.size,))
    elif not isinstance(value, (int, float, bool)):
        return setitem(x, key, type(x)(value, dtype=x.dtype, backend=x.backend))
    if offsets.size:
        flat = be.reshape(x._buf, (x.numel(),))
        be.setitem(flat, _flat_index(x, offsets), value)
        written = be.reshape(flat, x.shape)
        # The flat buffer is x's storage unless x's layout made reshape copy: when other tensors may
        # share that storage (x has a version counter), write the values back into it.
        x._buf = written if x._version is None else be.assign(x._buf, written)
    x._written()


# --- gather, scatter, index_add: the same flat offsets, one dim given by an index tensor ---------
def along_offsets(shape, d, index):
    """The flat offset in a tensor of `shape` of position p of `index` (a host int64 array with as
    many dims), p's coordinate along dim d replaced by index[p] (gather's and scatter's map)."""
    strides = _strides(shape)
    terms = [(np.arange(n, dtype=np.int64) * strides[a]).reshape((1,) * a + (-1,) + (1,) * (index.ndim - a - 1))
             for a, n in enumerate(index.shape) if a != d]
    total = index * strides[d] if strides[d] != 1 else index
    if not terms:
        return total
    total = total + terms[0]  # a new array (index may be the caller's): the other sums go into it
    for term in terms[1:]:
        total = _accumulate(total, term)
    return total


def _along_checked(x, what, dim, index, src=None):
    """dim (normalised) and the host offsets for gather / scatter: PyTorch's checks, in its words."""
    d = one_dim(dim, x.ndim, what)
    if not hasattr(index, "_buf") or index.dtype is not dt.int64:
        raise TypeError(f"{what}: index must be an int64 tensor, got "
                        f"{index.dtype if hasattr(index, '_buf') else type(index).__name__}")
    x._same_backend(index, what)
    _same_dims(x, what, "index", index)
    if any(i > s for a, (i, s) in enumerate(zip(index.shape, x.shape)) if a != d):
        raise ValueError(f"{what}: index shape {index.shape} exceeds the tensor's {x.shape} outside dim {d}")
    if src is not None and any(i > s for i, s in zip(index.shape, src.shape)):
        raise ValueError(f"{what}: index shape {index.shape} exceeds src's shape {src.shape}")
    host = index._host().astype(np.int64, copy=False).reshape(index.shape)
    n = x.shape[d] if x.ndim else 1
    low, high = (host.min(), host.max()) if host.size else (0, 0)
    if host.size and (low < 0 or high >= n):
        bad = low if low < 0 else high
        raise IndexError(f"{what}: index {bad} is out of range for dim {d} with size {n}")
    return d, along_offsets(x.shape, d, host) if x.ndim else host


def _same_dims(x, what, name, t):
    if t.ndim != x.ndim:
        raise ValueError(f"{what}: {name} must have {x.ndim} dims, as the tensor of shape {x.shape} has; "
                         f"got shape {t.shape}")


def gather(x, dim, index):
    """out[i][j][k] = x[i][index[i][j][k]][k] for dim 1 (torch.gather); differentiable in x."""
    _, offsets = _along_checked(x, "gather", dim, index)
    out = type(x)._apply(Index, x.dtype, (_reshaped(x, (x.numel(),)),), _flat_index(x, offsets))
    return _reshaped(out, tuple(index.shape))


class IndexAdd(Op):
    """a (flat) with b added at the flat positions `index`, repeats accumulating: scatter_add and
    index_add. Backward: a's gradient passes through, b's is read back at the same positions."""

    def forward(ctx, be, a, b, index):
        ctx._saved = index
        return be.index_add(be.copy(a), index, b)

    def backward(ctx, be, g):
        return g, (be.getitem(g, ctx._saved) if needs_grad(ctx._b) else None)


class IndexPut(Op):
    """a (flat) with b (a flat buffer or a number) written at the flat positions `index`: scatter.
    Backward: a gets the gradient where it was not overwritten, b what its positions received."""

    def forward(ctx, be, a, b, index):
        ctx._saved = index
        out = be.copy(a)
        be.setitem(out, index, b)
        return out

    def backward(ctx, be, g):
        ga = None
        if needs_grad(ctx._a):
            ga = be.copy(g)
            be.setitem(ga, ctx._saved, 0)
        return ga, (be.getitem(g, ctx._saved) if needs_grad(ctx._b) else None)


def _src_part(x, what, src, shape):
    """The leading `shape` block of src (PyTorch reads only as much of src as index covers), flat."""
    if not hasattr(src, "_buf"):
        raise TypeError(f"{what}: src must be a tensor, got {type(src).__name__}")
    x._same_backend(src, what)
    if src.dtype is not x.dtype:
        raise RuntimeError(f"{what}: expected src's dtype {src.dtype} to equal the tensor's {x.dtype}")
    if tuple(src.shape) != tuple(shape):
        src = src[tuple(slice(0, n) for n in shape)]
    return _reshaped(src, (src.numel(),))


def scatter_add(x, dim, index, src):
    """out = x, then out[index[i][j]][j] += src[i][j] for dim 0 (torch.scatter_add); differentiable
    in x and src."""
    if hasattr(src, "_buf"):
        _same_dims(x, "scatter_add", "src", src)
    _, offsets = _along_checked(x, "scatter_add", dim, index, src)
    src = _src_part(x, "scatter_add", src, index.shape)
    out = type(x)._apply(IndexAdd, x.dtype, (_reshaped(x, (x.numel(),)), src), _flat_index(x, offsets))
    return _reshaped(out, x.shape)


def scatter(x, dim, index, src=None, value=None):
    """out = x, then out[index[i][j]][j] = src[i][j] for dim 0 (torch.scatter; `value`: a number
    instead of src). Repeated positions keep one of the values written, as PyTorch leaves it open."""
    if (src is None) == (value is None):
        raise TypeError("scatter: pass exactly one of src (a tensor) and value (a number)")
    if src is not None and not hasattr(src, "_buf"):
        src, value = None, src  # x.scatter(dim, index, 1.5): PyTorch's positional value
    if src is not None:
        _same_dims(x, "scatter", "src", src)
    _, offsets = _along_checked(x, "scatter", dim, index, src)
    if src is not None:
        b = _src_part(x, "scatter", src, index.shape)
    elif isinstance(value, (int, float, bool)):
        b = float(value) if x.dtype.is_float else int(value)
    else:
        raise TypeError(f"scatter: value must be a number, got {type(value).__name__}")
    out = type(x)._apply(IndexPut, x.dtype, (_reshaped(x, (x.numel(),)), b), _flat_index(x, offsets))
    return _reshaped(out, x.shape)


def index_add(x, dim, index, source, alpha=1):
    """out = x, then out[..., index[i], ...] += alpha * source[..., i, ...] along dim
    (torch.index_add); differentiable in x and source."""
    d = one_dim(dim, x.ndim, "index_add")
    if not hasattr(source, "_buf"):
        raise TypeError(f"index_add: source must be a tensor, got {type(source).__name__}")
    host = x._host_index(index) if hasattr(index, "_buf") else np.asarray(index)
    if np.ndim(host) != 1:
        raise IndexError(f"index_add: index must be 1-D, got shape {np.shape(host)}")
    offsets = flat_offsets(x, (slice(None),) * d + (host,)) if x.ndim else host.astype(np.int64)
    if tuple(source.shape) != offsets.shape:
        raise ValueError(f"index_add: source has shape {source.shape}, expected {offsets.shape} (the tensor's "
                         f"shape {x.shape} with dim {d} of the index's length {len(host)})")
    source = _src_part(x, "index_add", source if alpha == 1 else source * alpha, offsets.shape)
    out = type(x)._apply(IndexAdd, x.dtype, (_reshaped(x, (x.numel(),)), source), _flat_index(x, offsets))
    return _reshaped(out, x.shape)


def inplace(x, what, result, *others):
    """x.<what>_(...): PyTorch's in-place rules, then result written into x's storage."""
    x._check_inplace(what, *others)
    return x._store(result(), what)


__all__ = ["is_advanced", "flat_offsets", "getitem", "setitem", "gather", "scatter_add", "scatter", "index_add",
           "along_offsets"]
