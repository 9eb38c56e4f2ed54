"""Strided-index arithmetic, written once for every layer: broadcasting, row-major strides,
NumPy's indexing rules, and the per-element offset functions of a strided view.

Shape-level rules (`broadcast_shapes`, `indexed_shape`, `array_axis_first`) are used by the Tensor
layer's checks, the pure-Python and shape-only backends, and the cost formulas. The element-level
functions at the bottom are plain loops over integer arrays, written so that Numba compiles them
unchanged into device functions (`cuda.jit(device=True)(ordinal_to_position)`, as minitorch does):
the CUDA kernels and the Python tests run the same code.
"""
import math


def broadcast_shapes(*shapes, what="broadcast"):
    """NumPy's broadcast of `shapes`: aligned from the right, each axis equal or 1."""
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for dims in zip(*[(1,) * (ndim - len(s)) + tuple(s) for s in shapes]):
        size = 1
        for d in dims:
            if d != 1:
                if size != 1 and d != size:
                    raise ValueError(f"{what}: shapes {' and '.join(str(tuple(s)) for s in shapes)} "
                                     f"cannot be broadcast together")
                size = d
        out.append(size)
    return tuple(out)


def broadcasts_into(shape, target):
    """Whether `shape` broadcasts to exactly `target` (an assignment's value into its destination)."""
    if len(shape) > len(target):
        return all(d == 1 for d in shape[:len(shape) - len(target)]) and \
            broadcasts_into(shape[len(shape) - len(target):], target)
    return all(s == 1 or s == t for s, t in zip(shape[::-1], target[::-1]))


def strides(shape):
    """Row-major strides, in elements: element (i, j) of an (M, N) array is at i * N + j."""
    out, s = [], 1
    for d in reversed(shape):
        out.append(s)
        s *= d
    return tuple(out[::-1])


def is_row_major(shape, strides_):
    """Whether the elements lie one after another in row-major order (axes of size 1 aside)."""
    expected = 1
    for n, stride in zip(reversed(shape), reversed(strides_)):
        if n != 1:
            if stride != expected:
                return n == 0
            expected *= n
    return True


def is_dense(shape, strides_, unit=1):
    """Whether the elements fill a block of storage, each once, in some order of the axes (a
    transpose is dense, a stepped slice is not): PyTorch's is_non_overlapping_and_dense. Strides
    counted in `unit`s (1 for elements; an itemsize for bytes)."""
    expected = unit
    for stride, n in sorted((abs(s), n) for n, s in zip(shape, strides_) if n != 1):
        if stride != expected:
            return False
        expected *= n
    return True


def overlap(a, b):
    """How two views of one storage meet, as PyTorch's get_overlap_status tells it: "full" (the
    same elements in the same layout), "partial" (dense views whose storage ranges meet otherwise),
    or None (apart, or too hard to tell cheaply: a view with gaps). a and b are (start, shape,
    strides, itemsize), start and strides counted in the unit of itemsize (bytes, or 1 element)."""
    if a == b:
        return "full"
    (a0, a_shape, a_strides, a_item), (b0, b_shape, b_strides, b_item) = a, b
    a_n, b_n = math.prod(a_shape), math.prod(b_shape)
    if not a_n or not b_n or not is_dense(a_shape, a_strides, a_item) or not is_dense(b_shape, b_strides, b_item):
        return None
    a1, b1 = a0 + a_n * a_item, b0 + b_n * b_item
    if (a0, a1) == (b0, b1):
        return "full" if tuple(a_strides) == tuple(b_strides) else "partial"
    return "partial" if a0 < b1 and b0 < a1 else None


def reshape_strides(shape, strides_, new_shape):
    """Strides that show the elements of (shape, strides_) as `new_shape` without moving them, or
    None where none exist: PyTorch's rule (computeStride), so ours shares or copies where it does.
    Runs of axes that are contiguous with each other ("chunks") may be split and merged freely."""
    if not shape or 0 in shape:
        return strides(new_shape)
    new_strides, view_d, base_stride = [0] * len(new_shape), len(new_shape) - 1, strides_[-1]
    tensor_numel = view_numel = 1
    for d in range(len(shape) - 1, -1, -1):
        tensor_numel *= shape[d]
        if d == 0 or (shape[d - 1] != 1 and strides_[d - 1] != tensor_numel * base_stride):  # a chunk ends
            while view_d >= 0 and (view_numel < tensor_numel or new_shape[view_d] == 1):
                new_strides[view_d] = view_numel * base_stride
                view_numel *= new_shape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if d > 0:
                base_stride, tensor_numel, view_numel = strides_[d - 1], 1, 1
    return tuple(new_strides) if view_d == -1 else None


def _length(entry):
    return entry.shape[0] if hasattr(entry, "shape") else len(entry)


def array_axis_first(index):
    """NumPy's placement rule for one integer array among ints and slices: the array's axis
    stays in place when the advanced entries (ints and the array) are adjacent, and goes first
    in the result when a slice separates them (`a[0, :, idx]` has idx's axis first)."""
    advanced = [i for i, e in enumerate(index) if not isinstance(e, slice)]
    has_array = any(not isinstance(e, (int, slice)) for e in index)
    return has_array and len(advanced) > 1 and advanced[-1] - advanced[0] >= len(advanced)


def array_place(index):
    """Where the integer array's axis sits among the result's axes when it stays in place: after
    the slices before it (the ints before it drop their axes)."""
    return sum(1 for e in index[:next(i for i, e in enumerate(index) if not isinstance(e, (int, slice)))]
               if isinstance(e, slice))


def indexed_shape(shape, index):
    """The shape of a[index]: `index` has one entry per leading axis, each an int (dropped), a
    slice, or a 1-D integer array (anything with a length); the remaining axes are kept."""
    out, array_pos = [], None
    for axis, entry in enumerate(index):
        if isinstance(entry, int):
            continue
        if isinstance(entry, slice):
            out.append(len(range(*entry.indices(shape[axis]))))
        else:
            array_pos = len(out)
            out.append(_length(entry))
    out.extend(shape[len(index):])
    if array_pos is not None and array_axis_first(index):
        out.insert(0, out.pop(array_pos))
    return tuple(out)


def gather_offsets(dims, start=0):
    """Flat offsets for walking a list of (length, stride) axes in row-major order, from `start`."""
    offsets = [start]
    for n, stride in dims:
        steps = [k * stride for k in range(n)]
        offsets = [i + k for i in offsets for k in steps]
    return offsets


def index_offsets(shape, index):
    """The flat offsets a[index] reads from a row-major array of `shape`, in the result's
    row-major order, and the result's shape. `index` as for indexed_shape (the integer-array
    entry a sequence of ints, negatives counted from the end)."""
    st, dims, base = strides(shape), [], 0
    for axis, entry in enumerate(index):
        if isinstance(entry, int):
            base += entry * st[axis]
        elif isinstance(entry, slice):
            r = range(*entry.indices(shape[axis]))
            dims.append([i * st[axis] for i in r])
        else:  # pick these positions along the axis
            dims.append([(i + shape[axis] if i < 0 else i) * st[axis] for i in entry])
    dims.extend([i * st[axis] for i in range(shape[axis])] for axis in range(len(index), len(shape)))
    if array_axis_first(index):  # the array's axis moves to the front of the result
        dims.insert(0, dims.pop(array_place(index)))
    offsets = [base]
    for steps in dims:
        offsets = [o + s for o in offsets for s in steps]
    return offsets, tuple(len(steps) for steps in dims)


# --- element level: compiled by Numba for the GPU, run as Python in the tests ----------------
def ordinal_to_position(ordinal, shape, strides_):
    """The storage offset of element number `ordinal` (row-major over `shape`) of an array with
    these strides: the multi-index and its offset in one pass with no index array, so that a GPU
    thread keeps everything in registers (the CUDA kernels' addressing). One axis: no division."""
    if len(shape) == 1:
        return ordinal * strides_[0]
    position = 0
    for i in range(len(shape) - 1, -1, -1):
        n = shape[i]
        position += (ordinal % n) * strides_[i]
        ordinal //= n
    return position


def indexed_position(ordinal, shape, strides_, axis, index):
    """ordinal_to_position with the coordinate along `axis` looked up in the integer array
    `index`: where element `ordinal` of a[..., index, ...] (the array on `axis`) lives in a."""
    position = 0
    for i in range(len(shape) - 1, -1, -1):
        n = shape[i]
        c = ordinal % n
        ordinal //= n
        if i == axis:
            c = index[c]
        position += c * strides_[i]
    return position
