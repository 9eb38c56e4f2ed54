"""Differentiable ops the PyTorch-spelled API composes with, built on kernels that already exist
(expand, copy, full, setitem, getitem, where): forward and backward side by side, as in ops.py.

Expand and CatInto's chain copy into new storage, so a later in-place write to their result never reaches
the input's (a NumPy broadcast view would share it)."""
from tinygrad_nm.autograd import Op, needs_grad
from tinygrad_nm.ops import unbroadcast


class Expand(Op):
    """a broadcast to `shape` (Tensor.expand, expand_as, repeat). Backward sums back to a's shape."""

    def forward(ctx, be, a, shape):
        return be.copy(be.expand(a, shape))

    def backward(ctx, be, g):
        return unbroadcast(be, g, ctx._a._shape), None


class Clone(Op):
    """A copy in new storage (Tensor.clone; Tensor.contiguous with row_major); the gradient passes through."""

    def forward(ctx, be, a, row_major=False):
        return be.copy(a, row_major)

    def backward(ctx, be, g):
        return g, None


class CatInto(Op):
    """b copied into a's storage at `index` (a slice along the joined dim); the result is that same
    storage. torch.cat of k inputs is one zero-filled buffer and k of these in a chain (Tensor.cat):
    one allocation and one copy per input. Backward: a's gradient is g itself (each earlier link
    reads only its own slice of it, and the chain starts at the zeros, which need none), b's is
    its slice."""

    def forward(ctx, be, a, b, index):
        ctx._saved = index
        be.setitem(a, index, b)
        return a

    def backward(ctx, be, g):
        return g, (be.getitem(g, ctx._saved) if needs_grad(ctx._b) else None)


class Where(Op):
    """a where `cond` holds, else b (cond: a bool buffer of the result's shape, outside the graph;
    a and b: buffers of that shape or Python numbers). Each input gets the gradient where it was
    picked, 0 elsewhere, as torch.where's."""

    def forward(ctx, be, a, b, cond):
        ctx._saved = cond
        return be.where(cond, a, b)

    def backward(ctx, be, g):
        cond = ctx._saved
        return (be.where(cond, g, 0.0) if needs_grad(ctx._a) else None,
                be.where(cond, 0.0, g) if needs_grad(ctx._b) else None)
