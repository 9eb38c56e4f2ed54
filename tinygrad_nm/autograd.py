"""Reverse-mode autograd: the recorded-op node, the iterative backward walk, no_grad.

Every differentiable op (ops.py) is a `Function` subclass with `forward` and
`backward` side by side. Calling `Op.apply(...)` runs forward on backend buffers
and, when any input needs a gradient, records the node on the output tensor:
`out._ctx = node`, `node.parents = (input tensors, None for Python scalars)`.

Every recorded node gets a sequence number when it is created, so a node's
consumers always have larger numbers than the node itself. `backward` pops nodes
from a heap, largest number first: when a node comes out, every consumer that
can reach it has already delivered its gradient. One flat loop, no recursion:
a chain of a million nodes is just a long loop.
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
    """One recorded op. Subclasses define forward(be, *args) -> buffer and
    backward(be, grad) -> one gradient buffer (or None) per forward argument.

    `parents` holds the input tensors (None for Python numbers), `saved` what backward
    needs. `pending` and `grad` are scratch space for the backward walk."""
    # parents, saved: see above; seq: creation order; grad: during a walk, the sum of the
    # gradients delivered to this node's output so far. Slots: nodes are made once per op.
    __slots__ = ("parents", "saved", "seq", "grad")

    def needs_grad(self, i):
        p = self.parents[i]
        return p is not None and p.requires_grad

    def __repr__(self):
        return f"<{type(self).__name__} backward>"


def unbroadcast(be, grad, shape):
    """Sum a gradient of a broadcast result back down to an input's `shape`."""
    extra = len(grad.shape) - len(shape)
    axes = tuple(range(extra)) + tuple(i + extra for i, d in enumerate(shape)
                                        if d == 1 and grad.shape[i + extra] != 1)
    if axes:
        grad = be.sum(grad, axes, True)
    return be.reshape(grad, shape) if grad.shape != shape else grad


_SECOND_BACKWARD = ("trying to backward through the graph a second time: the first backward released "
                    "its saved buffers; pass retain_graph=True to the first backward() to keep them")

next_seq = itertools.count().__next__  # creation order of recorded nodes: a topological order


def backward(root, grad_buf, retain_graph=False):
    """Propagate `grad_buf` (d root / d root) to every leaf that requires grad.

    Leaves accumulate each gradient as it arrives; an interior node runs its backward
    once, after all of its consumers (they were created later: larger seq) ran theirs."""
    root_node = root._ctx
    if root_node is None:
        root._accumulate_grad(grad_buf)
        return
    be = root._be if backends._kernel_wrapper is None else backends.kernels(root._be)
    root_node.grad = grad_buf
    heap = [(-root_node.seq, root_node)]
    pop, push = heapq.heappop, heapq.heappush
    while heap:
        node = pop(heap)[1]
        parents = node.parents
        if parents is None:
            raise RuntimeError(_SECOND_BACKWARD)
        input_grads = node.backward(be, node.grad)
        node.grad = None
        if not retain_graph:  # drop saved buffers and graph links: memory is freed as we go
            node.saved = node.parents = None
        for p, pg in zip(parents, input_grads):
            if pg is None or p is None or not p.requires_grad:
                continue
            if pg.shape != p._buf.shape:
                pg = unbroadcast(be, pg, p._buf.shape)
            producer = p._ctx
            if producer is None:
                p._accumulate_grad(pg)
            elif producer.grad is None:
                producer.grad = pg
                push(heap, (-producer.seq, producer))
            else:
                producer.grad = be.add(producer.grad, pg)
