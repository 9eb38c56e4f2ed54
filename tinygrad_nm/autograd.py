"""Reverse-mode autograd: the recorded-op node, the iterative backward walk, no_grad.

Every differentiable op (ops.py) is a `Function` subclass with `forward` and
`backward` side by side. Calling `Op.apply(...)` runs forward on backend buffers
and, when any input needs a gradient, records the node on the output tensor:
`out._ctx = node`, `node.parents = (input tensors, None for Python scalars)`.

`backward` walks that graph without recursion: one pass counts how many
consumers each tensor has, a second pass hands each tensor's gradient to its
node once all of its consumers have contributed (Kahn's algorithm). A chain of
a million nodes is just a long loop.
"""
import contextlib

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
    pending = 0  # consumers that have yet to deliver a gradient during a walk
    grad = None  # the sum of the gradients delivered so far

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


def backward(root, grad_buf, retain_graph=False):
    """Propagate `grad_buf` (d root / d root) to every leaf that requires grad.

    Leaves accumulate each gradient as it arrives. An interior node waits until all
    consumers of its output have delivered, then runs its backward (Kahn's algorithm),
    so the walk is two flat loops whatever the depth of the graph."""
    root_node = root._ctx
    if root_node is None:
        root._accumulate_grad(grad_buf)
        return
    # pass 1: count, for each interior node, the consumers that will send its output a gradient
    stack = [root_node]
    while stack:
        parents = stack.pop().parents
        if parents is None:
            raise RuntimeError(_SECOND_BACKWARD)
        for p in parents:
            if p is not None and p.requires_grad:
                node = p._ctx
                if node is not None:
                    if node.pending:
                        node.pending += 1
                    else:
                        node.pending = 1
                        stack.append(node)
    # pass 2: run each node's backward once the gradient of its output is complete
    be = root._be if backends._kernel_wrapper is None else backends.kernels(root._be)
    root_node.grad = grad_buf
    ready = [root_node]
    while ready:
        node = ready.pop()
        input_grads = node.backward(be, node.grad)
        parents = node.parents
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
                continue
            producer.grad = pg if producer.grad is None else be.add(producer.grad, pg)
            producer.pending -= 1
            if not producer.pending:
                ready.append(producer)
