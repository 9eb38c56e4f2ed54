"""Shape and movement methods, spelled as in PyTorch: view/reshape, flatten, (un)squeeze, permute,
transpose, expand, repeat, split, chunk, flip, and the functions cat and stack.

`TensorShape` is a mixin of Tensor (it never imports it). Views (reshape, permute, slicing)
share the input's storage and its count of in-place writes, as in PyTorch; expand, repeat, cat,
stack and flip make new storage. Everything is built from ops.Reshape/Permute/Index and the
three ops in ops_shape.py, so every method is differentiable.
"""
import numpy as np

from tinygrad_nm import dtypes as dt
from tinygrad_nm import ops, ops_shape
from tinygrad_nm.host import shape_arg
from tinygrad_nm.shapes import broadcast_shape, normalize_axes, reshape_target


def dim_or_axis(dim, axis, what):
    """PyTorch's dim= or NumPy's axis=, whichever was given (both: an error). An empty dim=() means
    every dim, as in PyTorch; NumPy's axis=() reduces none, and stays ()."""
    if dim is not None and axis is not None:
        raise TypeError(f"{what}: got both dim={dim!r} and axis={axis!r}; pass one")
    if dim is None:
        return axis
    return None if no_dims(dim) else dim


def no_dims(dim):
    """An empty dim=() or []: PyTorch's reductions read it as every dim (any/all: none)."""
    return isinstance(dim, (tuple, list)) and not dim


def one_dim(d, ndim, what, extra=0):
    """A single dim, negatives counted from the end; a 0-d tensor accepts 0 and -1 (as PyTorch).
    `extra`: how many positions past the last dim are allowed (unsqueeze: 1)."""
    n = max(ndim, 1) + extra
    if not isinstance(d, (int, np.integer)) or isinstance(d, bool):
        raise TypeError(f"{what}: dim must be an int, got {d!r}")
    if not -n <= d < n:
        raise IndexError(f"{what}: dim {d} is out of range for a tensor with {ndim} dimension(s) "
                         f"(expected [{-n}, {n - 1}])")
    return int(d) % n


class TensorShape:
    __slots__ = ()

    # --- views: the same storage, a new shape ------------------------------------------------
    def reshape(self, *shape):
        target = reshape_target(self.shape, shape_arg(shape))
        if target == self.shape:
            return self
        out = self._apply(ops.Reshape, self.dtype, (self,), target)
        # a view where the strides allow one (as PyTorch): its in-place writes count with self's; a copy's do not
        return self._alias(out) if self._be.same_storage(self._buf, out._buf) else out

    def view(self, *shape):
        if len(shape) == 1 and not isinstance(shape[0], (int, np.integer, tuple, list)):
            raise TypeError("view(dtype) reinterprets bits, which tinygrad_nm does not support; use .to(dtype)")
        out = self.reshape(*shape)
        if out is not self and self.numel() > 1 and not self._be.same_storage(self._buf, out._buf):
            raise RuntimeError(f"view{tuple(out.shape)}: view size is not compatible with input tensor's size and "
                               f"stride {tuple(self.shape)} (at least one dimension spans across two contiguous "
                               "subspaces). Use .reshape(...) instead.")
        return out

    def view_as(self, other):
        return self.view(*other.shape)

    def reshape_as(self, other):
        return self.reshape(*other.shape)

    def flatten(self, start_dim=0, end_dim=-1):
        if not self.ndim:
            return self.reshape(1)
        s, e = one_dim(start_dim, self.ndim, "flatten"), one_dim(end_dim, self.ndim, "flatten")
        if s > e:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} (shape {self.shape})")
        size = 1
        for d in self.shape[s:e + 1]:
            size *= d
        return self.reshape(*self.shape[:s], size, *self.shape[e + 1:])  # not -1: a 0 elsewhere makes it ambiguous

    def unflatten(self, dim, sizes):
        d = one_dim(dim, self.ndim, "unflatten")
        sizes = shape_arg((sizes,))
        inner = reshape_target((self.shape[d],), sizes)  # checks the sizes multiply to the dim (one -1)
        return self.reshape(*self.shape[:d], *inner, *self.shape[d + 1:])

    def unsqueeze(self, dim):
        d = one_dim(dim, self.ndim, "unsqueeze", extra=1 if self.ndim else 1)
        return self.reshape(*self.shape[:d], 1, *self.shape[d:])

    def squeeze(self, dim=None):
        if dim is None:
            return self.reshape(*(n for n in self.shape if n != 1))
        dims = dim if isinstance(dim, (tuple, list)) else (dim,)
        drop = {one_dim(d, self.ndim, "squeeze") for d in dims} if self.ndim else set()
        return self.reshape(*(n for i, n in enumerate(self.shape) if not (i in drop and n == 1)))

    def permute(self, *dims):
        dims = shape_arg(dims)
        if len(dims) != self.ndim or sorted(normalize_axes(dims, self.ndim)) != list(range(self.ndim)):
            raise ValueError(f"permute{tuple(dims)}: not a permutation of the {self.ndim} dims of shape {self.shape}")
        dims = tuple(d % self.ndim for d in dims)
        return self if dims == tuple(range(self.ndim)) else self._alias(self._apply(ops.Permute, self.dtype, (self,), dims))

    def transpose(self, dim0=None, dim1=None):
        """No arguments: reverse the dims (NumPy). Two: swap those dims (PyTorch)."""
        if dim0 is None and dim1 is None:
            return self.permute(*reversed(range(self.ndim)))
        if dim0 is None or dim1 is None:
            raise TypeError("transpose(dim0, dim1) needs both dims (or neither, to reverse them all)")
        d0, d1 = one_dim(dim0, self.ndim, "transpose"), one_dim(dim1, self.ndim, "transpose")
        if d0 == d1 or not self.ndim:  # swapping a dim with itself: the tensor as it is
            return self
        dims = list(range(self.ndim))
        dims[d0], dims[d1] = dims[d1], dims[d0]
        return self.permute(*dims)

    swapaxes = swapdims = transpose

    def movedim(self, source, destination):
        """The dims `source` (an int or a sequence) moved to positions `destination`, the others
        keeping their order: a permute."""
        src = [source] if isinstance(source, int) else list(source)
        dst = [destination] if isinstance(destination, int) else list(destination)
        if len(src) != len(dst):
            raise ValueError(f"movedim: source {source} and destination {destination} must have the same length")
        src = [one_dim(d, self.ndim, "movedim") for d in src]
        dst = [one_dim(d, self.ndim, "movedim") for d in dst]
        if len(set(src)) != len(src) or len(set(dst)) != len(dst):
            raise ValueError(f"movedim: repeated dim in source {source} or destination {destination}")
        rest = iter(d for d in range(self.ndim) if d not in src)
        placed = dict(zip(dst, src))
        return self.permute(*(placed[i] if i in placed else next(rest) for i in range(self.ndim)))

    moveaxis = movedim

    def unfold(self, dimension, size, step):
        """Every window of `size` elements along `dimension`, `step` apart: that dim becomes the
        number of windows, (n - size) // step + 1, and the window is a new last dim. A gather here
        (differentiable as indexing is), where PyTorch's is a view."""
        d = one_dim(dimension, max(self.ndim, 1), "unfold")
        n = self.shape[d] if self.ndim else 1
        if not 0 <= size <= n:
            raise RuntimeError(f"unfold: size {size} does not fit dim {d} of shape {self.shape} (size {n})")
        if step <= 0:
            raise RuntimeError(f"unfold: step must be positive, got {step}")
        if not self.ndim:
            return self.reshape(size)
        windows = np.arange((n - size) // step + 1)[:, None] * step + np.arange(size)
        return self.movedim(d, -1)[..., windows].movedim(-2, d)

    def t(self):
        if self.ndim > 2:
            raise ValueError(f"t() expects a tensor with <= 2 dimensions, got shape {self.shape}; use transpose(d0, d1)")
        return self.transpose()

    @property
    def T(self):
        return self.transpose()

    @property
    def mT(self):
        if self.ndim < 2:
            raise ValueError(f"mT needs at least 2 dimensions, got shape {self.shape}")
        return self.transpose(-2, -1)

    # --- new storage ---------------------------------------------------------------------------
    def expand(self, *sizes):
        sizes = shape_arg(sizes)
        if len(sizes) < self.ndim:
            raise ValueError(f"expand{sizes}: fewer sizes than the tensor's {self.ndim} dims (shape {self.shape})")
        lead = len(sizes) - self.ndim  # -1 keeps a dim's size
        target = tuple(self.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(sizes))
        if any(s < 0 for s in target):
            raise ValueError(f"expand{sizes}: -1 is only allowed for existing dims (shape {self.shape})")
        broadcast_shape(self.shape, target, f"expand{sizes}", into=True)
        if target == self.shape:
            return self
        return self._apply(ops_shape.Expand, self.dtype, (self,), target)

    def expand_as(self, other):
        return self.expand(*other.shape)

    def repeat(self, *sizes):
        """Tile: each dim repeated sizes[i] times (leading sizes add dims), as torch.repeat."""
        sizes = shape_arg(sizes)
        if len(sizes) < self.ndim:
            raise ValueError(f"repeat{sizes}: need at least one size per dim of shape {self.shape}")
        if any(s < 0 for s in sizes):
            raise ValueError(f"repeat{sizes}: sizes must be non-negative")
        shape = (1,) * (len(sizes) - self.ndim) + self.shape
        paired = self.reshape(*(x for d in shape for x in (1, d)))  # a size-1 dim before each dim
        tiled = paired.expand(*(x for r, d in zip(sizes, shape) for x in (r, d)))
        if tiled is paired:  # every size 1: expand had nothing to do, but repeat's result is new storage
            tiled = tiled.clone()
        return tiled.reshape(*(r * d for r, d in zip(sizes, shape)))

    def flip(self, *dims):
        dims = shape_arg(dims)
        out = self
        for d in sorted({one_dim(d, self.ndim, "flip") for d in dims}) if self.ndim else ():
            if self.shape[d] > 1:
                key = (slice(None),) * d + (np.arange(self.shape[d] - 1, -1, -1),)
                out = out[key]
        return out if out is not self else self.clone()

    def split(self, split_size_or_sections, dim=0):
        d = one_dim(dim, self.ndim, "split")
        if not self.ndim:
            raise ValueError("split: a 0-d tensor has no dim to split")
        n, s = self.shape[d], split_size_or_sections
        if isinstance(s, (int, np.integer)):
            if s <= 0 and n:
                raise ValueError(f"split: split_size must be positive, got {s}")
            sizes = [min(s, n - i) for i in range(0, n, s)] if n else [0]
        else:
            sizes = list(s)
            if sum(sizes) != n or any(x < 0 for x in sizes):
                raise ValueError(f"split: sections {sizes} do not add up to dim {d}'s size {n} (shape {self.shape})")
        out, start = [], 0
        for size in sizes:
            out.append(self[(slice(None),) * d + (slice(start, start + size),)])
            start += size
        return tuple(out)

    def chunk(self, chunks, dim=0):
        if not isinstance(chunks, (int, np.integer)) or chunks <= 0:
            raise ValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
        n = self.shape[one_dim(dim, self.ndim, "chunk")] if self.ndim else 0
        if n == 0:  # PyTorch gives `chunks` empty pieces
            return self.split([0] * chunks, dim)
        return self.split(-(-n // chunks), dim)

    def repeat_interleave(self, repeats=None, dim=None, *, output_size=None):
        """Each element (or slice along dim) repeated `repeats` times (an int, or one count per
        element as a tensor or list): an index_select by indices made on the host. Without
        repeats, self holds the counts and the result is the indices 0, 1, ... each repeated."""
        if repeats is None:
            counts = self.tolist()
            return type(self)(np.repeat(np.arange(len(counts)), counts), backend=self.backend)
        if dim is None:
            out = self.reshape(-1).repeat_interleave(repeats, 0)
        else:
            out = self._repeat_interleave(repeats, dim)
        if output_size is not None and (out.shape[0 if dim is None else dim] != output_size):
            raise RuntimeError(f"repeat_interleave: output_size={output_size}, but the repeats give "
                               f"{out.shape[0 if dim is None else dim]}")
        return out

    def _repeat_interleave(self, repeats, dim):
        d = one_dim(dim, self.ndim, "repeat_interleave")
        counts = repeats.tolist() if hasattr(repeats, "_buf") else repeats
        n = self.shape[d] if self.ndim else 1
        if not isinstance(counts, int) and len(counts) != n:
            raise ValueError(f"repeat_interleave: {len(counts)} repeats for dim {d} of size {n} (shape {self.shape})")
        picks = np.repeat(np.arange(n), counts)
        return (self if self.ndim else self.reshape(1)).index_select(d, type(self)(picks, backend=self.backend))

    def roll(self, shifts, dims=None):
        """Elements shifted along dims (wrapping around); without dims, over the flattened tensor."""
        if dims is None:
            return self.reshape(-1).roll(shifts, 0).reshape(*self.shape)
        shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
        dims = (dims,) if isinstance(dims, int) else tuple(dims)
        if len(shifts) != len(dims):
            raise ValueError(f"roll: {len(shifts)} shifts for {len(dims)} dims (shifts={shifts}, dims={dims})")
        out = self
        for shift, dim in zip(shifts, dims):
            d = one_dim(dim, self.ndim, "roll")
            n = self.shape[d] if self.ndim else 1
            k = shift % n if n else 0
            if k:
                out = cat([out.narrow(d, n - k, k), out.narrow(d, 0, n - k)], d)
        return out if out is not self else self.clone()

    def narrow(self, dim, start, length):
        """self's elements start .. start + length - 1 along dim (a view)."""
        d = one_dim(dim, self.ndim, "narrow")
        n = self.shape[d]
        start = start + n if start < 0 else start
        if not (0 <= start <= n and 0 <= length <= n - start):
            raise IndexError(f"narrow: start {start} and length {length} exceed dim {d} of size {n} (shape {self.shape})")
        return self[(slice(None),) * d + (slice(start, start + length),)]

    def index_select(self, dim, index):
        """The entries at `index` (a 1-D integer tensor or list) along dim, a copy."""
        d = one_dim(dim, self.ndim, "index_select")
        return self[(slice(None),) * d + (index,)] if self.ndim else self[index]

    def tril(self, diagonal=0):
        return self._triangle(diagonal, lower=True)

    def triu(self, diagonal=0):
        return self._triangle(diagonal, lower=False)

    def _triangle(self, diagonal, lower):
        """Zeros above (tril) or below (triu) the diagonal of the last two dims; differentiable."""
        if self.ndim < 2:
            raise ValueError(f"{'tril' if lower else 'triu'}: needs at least 2 dims, got shape {self.shape}")
        rows, cols = self.shape[-2:]
        r = type(self).arange(rows, backend=self.backend).reshape(rows, 1)
        c = type(self).arange(cols, backend=self.backend).reshape(1, cols)
        keep = (c - r <= diagonal) if lower else (c - r >= diagonal)
        return self.masked_fill(keep.logical_not(), 0)

    def unbind(self, dim=0):
        d = one_dim(dim, self.ndim, "unbind")
        return tuple(piece.squeeze(d) for piece in self.split(1, d)) if self.shape[d] else ()


def cat(tensors, dim=0):
    """torch.cat: tensors joined along an existing dim (dtypes promoted, as in PyTorch): one new
    buffer, each input copied into it once."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    first = tensors[0]
    if not hasattr(first, "_buf"):
        raise TypeError(f"cat: expected tensors, got {type(first).__name__}")
    tensors = [first._as_tensor(t) for t in tensors]
    nonempty = [t for t in tensors if t.shape != (0,)]  # PyTorch skips 1-D empty tensors
    tensors = nonempty or tensors[:1]
    d = one_dim(dim, tensors[0].ndim, "cat")
    dtype = tensors[0].dtype
    for i, t in enumerate(tensors):
        first._same_backend(t, "cat")
        if not t.ndim or t.ndim != tensors[0].ndim or any(
                a != b for j, (a, b) in enumerate(zip(t.shape, tensors[0].shape)) if j != d):
            raise ValueError(f"cat: tensor {i} has shape {t.shape}, which does not match {tensors[0].shape} "
                             f"outside dim {d}")
        dtype = dt.promote(dtype, t.dtype)
    tensors = [t.cast(dtype) for t in tensors]
    if len(nonempty) <= 1:
        return tensors[0].clone()
    shape = list(tensors[0].shape)
    shape[d] = sum(t.shape[d] for t in tensors)
    out = first.full(tuple(shape), 0, dtype, first.backend)  # the zeros each input is copied into
    start, lead = 0, (slice(None),) * d
    for t in tensors:  # each input copied once into its slice (ops_shape.CatInto)
        out = out._apply(ops_shape.CatInto, dtype, (out, t), lead + (slice(start, start + t.shape[d]),))
        start += t.shape[d]
    return out


concat = concatenate = cat


def stack(tensors, dim=0):
    """torch.stack: tensors of one shape joined along a new dim."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"stack: all tensors must have the same shape, got {sorted(shapes)}")
    d = one_dim(dim, tensors[0].ndim, "stack", extra=1)
    return cat([t.unsqueeze(d) for t in tensors], d)
