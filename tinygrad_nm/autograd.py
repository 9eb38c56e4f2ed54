"""Reverse-mode autograd: the recorded op, the iterative backward walk, no_grad.

Every differentiable op (ops.py) is a `Function` subclass with `forward` and
`backward` side by side. The output tensor itself is the graph node: running an
op calls `Op.forward(out, be, *buffers)` with `out` as the context (`ctx`), and
when any input needs a gradient the tensor records `out._ctx = Op` (which op),
`out._a` and `out._b` (its one or two input tensors, None for a Python number)
and whatever forward kept in `out._saved`. No separate node object, no tuple of
inputs: one Python object per op keeps the allocation and the garbage
collector's work down (every op has at most two tensor inputs).

Every recorded tensor gets a sequence number when it is made, counting down, so
its consumers always have smaller numbers than itself. `backward` pops tensors
from a heap, smallest number (latest made) first: when one comes out, every
consumer that can reach it has already delivered its gradient. One flat loop,
no recursion: a chain of a million nodes is just a long loop.
"""
import contextlib
import itertools
from heapq import heappop, heappush, heappushpop

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
    """One kind of op. Subclasses define forward(ctx, be, a, [b], *params) -> buffer and
    backward(ctx, be, grad) -> (gradient for a, gradient for b), buffers or None, where
    `ctx` is the output tensor: forward keeps what backward needs in `ctx._saved`, and
    backward finds the input tensors in `ctx._a` and `ctx._b`. Never instantiated."""


def needs_grad(x):
    """Whether an op's input (`ctx._a` or `ctx._b`: a tensor, or None for a number) wants a gradient."""
    return x is not None and x.requires_grad


_SECOND_BACKWARD = ("trying to backward through the graph a second time: the first backward released "
                    "its saved buffers; pass retain_graph=True to the first backward() to keep them")

# ids of the leaf .grad buffers the running backward pass made: only those may be added into in
# place (ops.Index), since no view or saved buffer can refer to them yet. Emptied after each pass.
grad_buffers_made_this_pass = set()

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
    be = backends.kernels_of(root._be)
    root._gsum = grad_buf
    heap, t = [], root
    ready = None
    try:
        while True:
            a, b = t._a, t._b
            if a is None and b is None:  # every recorded op has an input tensor: this one was released
                raise RuntimeError(_SECOND_BACKWARD)
            ga, gb = t._ctx.backward(t, be, t._gsum)
            t._gsum = None
            if not retain_graph:  # drop saved buffers and graph links: memory is freed as we go
                t._saved = t._a = t._b = None
            # Hand each input its gradient: a leaf adds it to .grad; an interior tensor sums what
            # arrives, and the first arrival makes it `ready` (in a chain, the next node to run).
            # Written out for a, then for b: a loop over the pair costs ~10% of the whole walk.
            ready = None
            if ga is not None and a is not None and a.requires_grad:
                if a._ctx is None:
                    a._accumulate_grad(ga)
                elif a._gsum is not None:
                    a._gsum = be.add(a._gsum, ga)
                else:
                    a._gsum, ready = ga, a
            if gb is not None and b is not None and b.requires_grad:
                if b._ctx is None:
                    b._accumulate_grad(gb)
                elif b._gsum is not None:
                    b._gsum = be.add(b._gsum, gb)
                else:
                    if ready is not None:  # both became ready: a waits in the heap
                        heappush(heap, (ready._seq, ready))
                    b._gsum, ready = gb, b
            # Every node still to run is `ready` or in the heap; the next is the latest made of them.
            if ready is not None:
                t = ready if not heap or heap[0][0] > ready._seq else heappushpop(heap, (ready._seq, ready))[1]
            elif heap:
                t = heappop(heap)[1]
            else:
                return
    except BaseException:  # leave no partial gradient sums behind for the next backward to add to
        for node in [t, ready] + [entry[1] for entry in heap]:
            if node is not None:
                node._gsum = None
        raise
    finally:
        grad_buffers_made_this_pass.clear()
