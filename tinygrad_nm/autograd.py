"""Reverse-mode autograd: the recorded op, the iterative backward walk, no_grad.

Every differentiable op (ops.py) is a `Function` subclass with `forward` and
`backward` side by side. The output tensor itself is the graph node: running an
op calls `Op.forward(out, be, *buffers)` with `out` as the context (`ctx`), and
when any input needs a gradient the tensor records `out._ctx = Op` (which op),
`out._parents` (the input tensors, None for Python numbers) and whatever forward
kept in `out._saved`. No separate node object: one Python object per op keeps
both the allocation and the garbage collector's work down.

Every recorded tensor gets a sequence number when it is made, counting down, so
its consumers always have smaller numbers than itself. `backward` pops tensors
from a heap, smallest number (latest made) first: when one comes out, every
consumer that can reach it has already delivered its gradient. One flat loop, no recursion: a chain of a
million nodes is just a long loop.
"""
import contextlib
import heapq
import itertools

from tinygrad_nm import backends


class _GradMode:
    """Whether ops are recorded. Process-wide (not per thread): one attribute read per op."""
    enabled = True


grad_mode = _GradMode()


@contextlib.contextmanager
def no_grad():
    """Inside this block no op is recorded: results have requires_grad=False."""
    previous, grad_mode.enabled = grad_mode.enabled, False
    try:
        yield
    finally:
        grad_mode.enabled = previous


@contextlib.contextmanager
def enable_grad():
    previous, grad_mode.enabled = grad_mode.enabled, True
    try:
        yield
    finally:
        grad_mode.enabled = previous


def is_grad_enabled():
    return grad_mode.enabled


class Function:
    """One kind of op. Subclasses define forward(ctx, be, *args) -> buffer and
    backward(ctx, be, grad) -> one gradient buffer (or None) per forward argument, where
    `ctx` is the output tensor: forward keeps what backward needs in `ctx._saved`, and
    backward finds the inputs in `ctx._parents`. They are never instantiated."""


def needs_grad(ctx, i):
    """Whether forward argument `i` of the op that made `ctx` wants a gradient."""
    p = ctx._parents[i]
    return p is not None and p.requires_grad


_SECOND_BACKWARD = ("trying to backward through the graph a second time: the first backward released "
                    "its saved buffers; pass retain_graph=True to the first backward() to keep them")

# Creation order of recorded nodes, counting down: a topological order in which the latest-made
# node has the smallest number, so it is the one heapq (a min-heap) pops first.
next_seq = itertools.count(-1, -1).__next__


def backward(root, grad_buf, retain_graph=False):
    """Propagate `grad_buf` (d root / d root) to every leaf that requires grad.

    Leaves accumulate each gradient as it arrives; an interior tensor runs its op's
    backward once, after all of its consumers (made later) ran theirs. Every op's backward
    returns gradients of its inputs' own shapes (ops.py undoes broadcasting)."""
    if root._ctx is None:
        root._accumulate_grad(grad_buf)
        return
    be = root._be if backends._kernel_wrapper is None else backends.kernels(root._be)
    root._gsum = grad_buf
    heap = [(root._seq, root)]
    pop, push = heapq.heappop, heapq.heappush
    while heap:
        t = pop(heap)[1]
        parents = t._parents
        if parents is None:
            raise RuntimeError(_SECOND_BACKWARD)
        input_grads = t._ctx.backward(t, be, t._gsum)
        t._gsum = None
        if not retain_graph:  # drop saved buffers and graph links: memory is freed as we go
            t._saved = t._parents = None
        for p, pg in zip(parents, input_grads):
            if pg is None or p is None or not p.requires_grad:
                continue
            if p._ctx is None:
                p._accumulate_grad(pg)
            elif p._gsum is None:
                p._gsum = pg
                push(heap, (p._seq, p))
            else:
                p._gsum = be.add(p._gsum, pg)
