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
import threading
from heapq import heappop, heappush, heappushpop

from tinygrad_nm import backends


class _GradMode:
    """Whether ops are recorded, per thread, as PyTorch's grad mode is. `everywhere` is True while
    no thread has switched recording off: the one attribute an op reads in the common case. Only
    while some thread is inside no_grad does an op ask about its own thread (`here()`)."""

    def __init__(self):
        self.everywhere = True
        self._local = threading.local()
        self._off = 0  # how many threads have recording switched off
        self._lock = threading.Lock()

    def here(self):
        return getattr(self._local, "enabled", True)

    @property
    def enabled(self):
        return self.everywhere or self.here()

    def set(self, enabled):
        """Switch recording on or off in this thread; returns what it was."""
        previous, enabled = self.here(), bool(enabled)
        if previous != enabled:
            with self._lock:
                self._local.enabled = enabled
                self._off += -1 if enabled else 1
                self.everywhere = self._off == 0
        return previous


grad_mode = _GradMode()


class set_grad_enabled(contextlib.ContextDecorator):
    """`with set_grad_enabled(False):` (or as a decorator, or a plain call) switches recording in
    this thread; as a context manager or decorator it restores the previous mode after."""

    def __init__(self, mode):
        self.mode, self._previous = bool(mode), []
        self._applied = grad_mode.set(self.mode)  # a plain call takes effect at once, as in PyTorch

    def __enter__(self):
        self._previous.append(self._applied if self._applied is not None else grad_mode.set(self.mode))
        self._applied = None
        return self

    def __exit__(self, *exc):
        grad_mode.set(self._previous.pop())
        return False

    def _recreate_cm(self):  # a decorator makes a fresh manager per call (ContextDecorator's hook)
        return type(self).__new__(type(self))._init_lazy(self.mode)

    def _init_lazy(self, mode):
        self.mode, self._previous, self._applied = mode, [], None
        return self


def _lazy(mode):
    """A grad-mode context manager that changes nothing until entered."""
    return set_grad_enabled.__new__(set_grad_enabled)._init_lazy(mode)


def no_grad(fn=None):
    """Inside this block (or this decorated function) no op is recorded in this thread: results
    have requires_grad=False. `@no_grad` and `@no_grad()` both work."""
    return _lazy(False)(fn) if callable(fn) else _lazy(False)


def enable_grad(fn=None):
    return _lazy(True)(fn) if callable(fn) else _lazy(True)


def inference_mode(mode=True):
    """PyTorch's inference mode; here the same as no_grad (there is no extra bookkeeping to skip)."""
    return _lazy(False)(mode) if callable(mode) else _lazy(not mode)


def is_grad_enabled():
    return grad_mode.enabled


class Function:
    """One kind of op. Subclasses define forward(ctx, be, a, [b], *params) -> buffer and
    backward(ctx, be, grad) -> (gradient for a, gradient for b), buffers or None, where
    `ctx` is the output tensor: forward keeps what backward needs in `ctx._saved`, and
    backward finds the input tensors in `ctx._a` and `ctx._b`. Never instantiated.

    `saves` names the tensors whose values backward reads ("a", "b", "out"): their versions are
    noted when the op is recorded and checked before its backward runs (check_versions)."""
    saves = ()


def needs_grad(x):
    """Whether an op's input (`ctx._a` or `ctx._b`: a tensor, or None for a number) wants a gradient."""
    return x is not None and x.requires_grad


def check_versions(t):
    """Refuse to run t's backward when a tensor it saved was written in place after t was recorded
    (PyTorch's rule): its gradient would be computed from values the forward never saw.

    A tensor's `_version` is None while its storage is neither written nor shared; then a list
    [writes, when] shared by every view of the storage, `when` the `next_seq()` number of the
    last write (0: never written). Numbers count down, so a write after t has a smaller one than
    t's `_seq`: nothing is noted when an op is recorded."""
    saves = t._ctx.saves
    late = [(name, x) for name, x in (("input a", t._a if "a" in saves else None),
                                      ("input b", t._b if "b" in saves else None),
                                      ("output", t if "out" in saves else None))
            if x is not None and x._version is not None and x._version[1] < t._seq]
    if late:
        which = "; ".join(f"its {name} (shape {x.shape}, {x.dtype}) is at version {x._version[0]}" for name, x in late)
        raise RuntimeError(f"one of the tensors needed to compute the gradient of {t._ctx.__name__} has been "
                           f"modified by an in-place operation after {t._ctx.__name__} used it: {which}. "
                           f"Write in place only after backward (or work on a .clone()).")


_SECOND_BACKWARD = ("trying to backward through the graph a second time: the first backward released "
                    "its saved buffers; pass retain_graph=True to the first backward() to keep them")

# Creation order of recorded nodes, counting down: a topological order in which the latest-made
# node has the smallest number, so it is the one heapq (a min-heap) pops first.
next_seq = itertools.count(-1, -1).__next__


def commit(leaves):
    """End of a backward call that succeeded: each leaf's gradient, summed during the walk in its
    `_gsum` (its old .grad plus what arrived), becomes its .grad. Nothing is written to a .grad
    before this point, so a walk that fails part-way leaves every .grad as it was."""
    for leaf in leaves:
        buf, leaf._gsum = leaf._gsum, None
        if leaf.grad is None:
            leaf.grad = leaf._make(buf, leaf.dtype, leaf._be)
        else:
            leaf.grad._buf = buf


def backward(root, grad_buf, retain_graph=False):
    """Propagate `grad_buf` (d root / d root) to every leaf that requires grad.

    An interior tensor runs its op's backward once, after all of its consumers (made later) ran
    theirs; a leaf sums what arrives, starting from its .grad, and every leaf's sum becomes its
    .grad when the walk is over (`commit`). Every op's backward returns gradients of its inputs'
    own shapes (ops.py undoes broadcasting).

    A tensor's `_gsum` is what has arrived so far. A leaf's is a buffer this walk made (a copy or a
    sum: ops may hand one buffer to several inputs), so an op may add into it in place (Index)."""
    here = root._be  # the backend of the node being run, and its kernels (kernels_of, inlined)
    be = here if backends._kernel_wrapper is None else backends.kernels_of(here)
    if root._ctx is None:
        root._gsum = be.copy(grad_buf) if root.grad is None else be.add(root.grad._buf, grad_buf)
        return commit((root,))
    root._gsum = grad_buf
    leaves, heap, t = [], [], root
    ready = None
    try:
        while True:
            a, b = t._a, t._b
            if a is None and b is None:  # every recorded op has an input tensor: this one was released
                raise RuntimeError(_SECOND_BACKWARD)
            if t._be is not here:  # a graph that crosses backends (Tensor.to): that node's kernels
                here = t._be
                be = backends.kernels_of(here)
            if t._ctx.saves and (a is not None and a._version is not None or b is not None and b._version
                                 is not None or t._version is not None):  # (all None: nothing written)
                check_versions(t)
            ga, gb = t._ctx.backward(t, be, t._gsum)
            t._gsum = None
            if not retain_graph:  # drop saved buffers and graph links: memory is freed as we go
                t._saved = t._a = t._b = None
            # Hand each input its gradient: a second arrival is summed; a leaf's first arrival is
            # added to its .grad (or copied); an interior tensor's first arrival makes it `ready`
            # (in a chain, the next node to run). Written out for a, then for b: a loop over the
            # pair costs ~10% of the whole walk. (An input on another backend than its consumer
            # gets its gradient on its own backend, from ops.ToBackend, summed with its kernels.)
            ready = None
            if ga is not None and a is not None and a.requires_grad:
                if a._gsum is not None:
                    a._gsum = (be if a._be is here else backends.kernels_of(a._be)).add(a._gsum, ga)
                elif a._ctx is None:
                    k = be if a._be is here else backends.kernels_of(a._be)
                    a._gsum = k.copy(ga) if a.grad is None else k.add(a.grad._buf, ga)
                    leaves.append(a)
                else:
                    a._gsum, ready = ga, a
            if gb is not None and b is not None and b.requires_grad:
                if b._gsum is not None:
                    b._gsum = (be if b._be is here else backends.kernels_of(b._be)).add(b._gsum, gb)
                elif b._ctx is None:
                    k = be if b._be is here else backends.kernels_of(b._be)
                    b._gsum = k.copy(gb) if b.grad is None else k.add(b.grad._buf, gb)
                    leaves.append(b)
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
                return commit(leaves)
    except BaseException:  # no .grad was changed; no partial sums left for the next backward
        for node in [t, ready] + leaves + [entry[1] for entry in heap]:
            if node is not None:
                node._gsum = None
        raise
