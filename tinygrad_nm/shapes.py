"""Shape arithmetic for the Tensor layer's checks: broadcasting, axes, reshape targets, indices.

Pure functions of shapes and host values: nothing here touches a backend. Checked here, once, so
every backend gets well-formed arguments and every user gets the same error message whichever
backend they run. The rules themselves (NumPy's broadcasting and index placement) are written
once, in backends/strided.py, for every layer.
"""
import numpy as np

from tinygrad_nm.backends.strided import broadcast_shapes, broadcasts_into


def broadcast_shape(a, b, what, into=False):
    """NumPy's broadcast of shapes a and b (or, with into=True, of a into exactly b)."""
    if into:
        if not broadcasts_into(tuple(a), tuple(b)):
            raise ValueError(f"{what}: shape {tuple(a)} cannot be broadcast into {tuple(b)}")
        return tuple(b)
    return broadcast_shapes(a, b, what=what)


def normalize_axes(axis, ndim, sort=True):
    """axis=None -> all axes; ints or tuples, negatives counted from the end."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axes = (axis,)
    elif isinstance(axis, (tuple, list)):
        axes = tuple(axis)
    else:
        raise TypeError(f"axis must be an int or a tuple of ints, got {axis!r}")
    out = []
    for ax in axes:
        if not isinstance(ax, (int, np.integer)) or isinstance(ax, bool):
            raise TypeError(f"axis must be an int or a tuple of ints, got {axis!r}")
        if not -max(ndim, 1) <= ax < max(ndim, 1):
            raise IndexError(f"axis {ax} is out of range for a tensor with {ndim} dimension(s)")
        out.append(int(ax) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"axis {axis!r} repeats an axis")
    if ndim == 0:
        return ()
    return tuple(sorted(out)) if sort else tuple(out)


def reshape_target(shape, target):
    """The concrete shape for reshape(target), inferring one -1."""
    size = 1
    for d in shape:
        size *= d
    known, unknown = 1, [i for i, d in enumerate(target) if d == -1]
    for d in target:
        if d != -1:
            if d < 0:
                raise ValueError(f"reshape: invalid dimension {d} in {target}")
            known *= d
    if len(unknown) > 1:
        raise ValueError(f"reshape: only one dimension can be -1, got {target}")
    if unknown:
        if known == 0 or size % known:
            raise ValueError(f"cannot reshape a tensor of shape {tuple(shape)} ({size} elements) into {target}")
        target = tuple(size // known if d == -1 else d for d in target)
    elif known != size:
        raise ValueError(f"cannot reshape a tensor of shape {tuple(shape)} ({size} elements) into {target}")
    return tuple(target)


def normalize_index(shape, key):
    """Validate t[key] for a tensor of `shape` (tensors in the key already replaced by their host
    values). Returns (index, new_axes): `index` a tuple for backend getitem, its integer array
    entry a host int64 NumPy array with negatives wrapped (or None when the key selects
    everything), and `new_axes(shape) -> shape` when the key holds None (newaxis)."""
    if isinstance(key, int) and not isinstance(key, bool) and len(shape) == 1:  # the hot path: w[i]
        n = shape[0]
        if not -n <= key < n:
            raise IndexError(f"index {key} is out of bounds for axis 0 with size {n}")
        return (key + n if key < 0 else key,), None
    key = key if isinstance(key, tuple) else (key,)
    if sum(k is Ellipsis for k in key) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = sum(1 for k in key if k is not None and k is not Ellipsis)
    if used > len(shape):
        raise IndexError(f"too many indices for a tensor of dimension {len(shape)}: {key!r}")
    expanded = []
    for k in key:
        if k is Ellipsis:
            expanded.extend([slice(None)] * (len(shape) - used))
        else:
            expanded.append(k)
    index, layout, axis, arrays = [], [], 0, 0  # layout: how each kept output axis arises
    for k in expanded:
        if k is None:
            layout.append("new")
            continue
        n = shape[axis]
        if getattr(k, "ndim", None) == 0 and not isinstance(k, np.generic) and getattr(k, "dtype", None) != "bool":
            k = k.__index__()  # a 0-d integer tensor or array indexes like an int (a float one raises)
        if isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_)):
            if not -n <= k < n:
                raise IndexError(f"index {k} is out of bounds for axis {axis} with size {n}")
            index.append(int(k) + n if k < 0 else int(k))
        elif isinstance(k, slice):
            check_slice(k)
            index.append(k)
            layout.append("axis")
        else:
            index.append(_index_array(k, axis, n))
            layout.append("axis")
            arrays += 1
        axis += 1
    if arrays > 1:
        raise IndexError("only one integer-array index per indexing expression is supported")
    new_axes = None
    if "new" in layout:
        def new_axes(out_shape, layout=tuple(layout)):
            dims, it = [], iter(out_shape)
            for kind in layout:
                dims.append(1 if kind == "new" else next(it))
            dims.extend(it)
            return tuple(dims)
    if all(isinstance(k, slice) and k == slice(None) for k in index):
        return None, new_axes
    return tuple(index), new_axes


def check_slice(k):
    """A slice in an index: integer bounds, a positive step (as PyTorch requires)."""
    for part in (k.start, k.stop, k.step):
        if part is not None and not isinstance(part, (int, np.integer)):
            raise TypeError(f"slice bounds must be integers, got {k!r}")
    if k.step is not None and k.step <= 0:
        raise ValueError(f"slice step must be positive, got {k.step}")


def _index_array(k, axis, n):
    """An integer-array index along `axis`, checked: a host int64 array, negatives wrapped."""
    try:
        host = np.asarray(k)
    except ValueError as e:
        raise IndexError(f"invalid index {k!r}: {e}") from None
    if host.dtype.kind not in "iu" and not (host.size == 0 and host.dtype.kind == "f"):
        raise IndexError(f"tensors can be indexed by ints, slices, None, ... and integer arrays; "
                         f"got {type(k).__name__} of {host.dtype}")
    if host.ndim != 1:
        raise IndexError(f"integer-array indices must be 1-D, got shape {host.shape}")
    if host.size and (host.min() < -n or host.max() >= n):
        bad = host[(host < -n) | (host >= n)][0]
        raise IndexError(f"index {bad} is out of bounds for axis {axis} with size {n}")
    return np.where(host < 0, host + n, host).astype(np.int64)
