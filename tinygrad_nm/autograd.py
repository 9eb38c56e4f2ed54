"""Reverse-mode autograd: the recorded op, the iterative backward walk, and
`grad` (torch.autograd.grad: the same walk from several outputs, into a returned tuple).
torch.autograd's custom `Function` and `gradcheck` are in autograd_function.py.

Every differentiable op (ops.py) is an `Op` subclass with `forward` and
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
no recursion: a chain of a million nodes is just a long loop. `grad` walks the
same way but keeps the sums in a dict of its own, runs only the nodes from
which a requested input can be reached, and writes no tensor's .grad.
"""
import itertools
from heapq import heappop, heappush, heappushpop

from tinygrad_nm import backends
from tinygrad_nm.grad_mode import (enable_grad, grad_mode, inference_mode, is_grad_enabled,  # noqa: F401
                                   no_grad, set_grad_enabled)  # (torch.autograd's names too)
from tinygrad_nm.tensor_hooks import hooked_grad, run_hook
from tinygrad_nm.autograd_function import (Function, FunctionCtx, GradcheckError, gradcheck,  # noqa: F401
                                           once_differentiable)  # (torch.autograd's custom Function, gradcheck)


class Op:
    """One kind of op. Subclasses define forward(ctx, be, a, [b], *params) -> buffer and
    backward(ctx, be, grad) -> (gradient for a, gradient for b), buffers or None, where
    `ctx` is the output tensor: forward keeps what backward needs in `ctx._saved`, and
    backward finds the input tensors in `ctx._a` and `ctx._b`. Never instantiated.

    `saves` names the tensors whose values backward reads ("a", "b", "out"): before its backward
    runs, check_versions refuses if one was written in place since the op ran. (None, not (),
    when it reads none: the walk's truth test of None takes no call.)

    `fresh` says, for a and for b, whether backward's gradient is a new buffer nobody else holds
    (a kernel's output, not `g` handed on): a leaf's first gradient is then kept as it is, where
    any other is copied (one kernel call per parameter less in a training step)."""
    saves = None
    fresh = (False, False)


def zero_grads(tensors, set_to_none=True):
    """Forget the gradients of `tensors` (Module.zero_grad, Optimizer.zero_grad): drop each .grad
    (set_to_none, PyTorch's default) or fill it with zeros in place."""
    for t in tensors:
        if t.grad is None:
            continue
        if set_to_none:
            t.grad = None
        else:
            with no_grad():
                t.grad.zero_()


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
# The number of the latest in-place write to any tensor (0: none yet). A node recorded after it
# (a larger number) saved nothing that was written since: the walk checks versions only for the
# others, so a program that writes only between steps (an optimizer) never pays for the check.
last_write = 0
# Whether a graph has ever crossed backends (ops.ToBackend ran): until one has, every node and
# leaf of a walk is on the root's backend, and the walk does not look each one's kernels up.
crossed_backends = False


def note_write():
    """A tensor's storage is being written in place now: the number of this write (Tensor._written)."""
    global last_write
    last_write = seq = next_seq()
    return seq


def note_crossing():
    """A graph now crosses backends (ops.ToBackend): backward walks look up each node's kernels."""
    global crossed_backends
    crossed_backends = True


def _run_leaf_hooks(hooked):
    """A leaf with hooks (tensor_hooks.py) summed only what arrived in the walk: its hooks run on
    that sum, all of them before any .grad is written, so a hook that raises changes nothing."""
    for leaf in hooked:
        leaf._gsum = leaf._hooked_sum(leaf._gsum)


def backward(root, grad_buf, retain_graph=False):
    """Propagate `grad_buf` (d root / d root) to every leaf that requires grad.

    An interior tensor runs its op's backward once, after all of its consumers (made later) ran
    theirs; a leaf sums what arrives, and when the walk is over each leaf's sum becomes its .grad
    or is added into it. Nothing is written to a .grad before that, so a walk that fails
    part-way leaves every .grad as it was. Every op's backward returns gradients of its inputs'
    own shapes (ops.py undoes broadcasting).

    A tensor's `_gsum` is what has arrived so far. A leaf's is a buffer this walk made or owns (a
    copy, a sum, or the new buffer of an op whose gradient is `fresh`: ops may hand one buffer to
    several inputs), so an op may add into it in place (Index)."""
    here = root._be  # the backend of the node being run, and its kernels (kernels_of, inlined)
    be = here if backends._kernel_wrapper is None else backends.kernels_of(here)
    leaves, t = [], root
    hooked = heap = ready = None  # (hooked, heap: lists when first needed)
    written, crossing = last_write, crossed_backends
    try:
        if root._ctx is None:  # backward() of a leaf: the gradient is its own
            root._gsum = be.copy(grad_buf)
            leaves.append(root)
            if root._saved is not None:
                hooked = [root]
        else:
            root._gsum = grad_buf
            while True:
                a, b = t._a, t._b
                if a is None and b is None:  # every recorded op has an input tensor: this one was released
                    raise RuntimeError(_SECOND_BACKWARD)
                if crossing and t._be is not here:  # a graph that crosses backends (Tensor.to): that node's kernels
                    here = t._be
                    be = backends.kernels_of(here)
                if written < t._seq and t._ctx.saves and (a is not None and a._version is not None or b is not None
                                                          and b._version is not None or t._version is not None):
                    check_versions(t)  # a write came after t was recorded, and t saved a written tensor
                ga, gb = t._ctx.backward(t, be, t._gsum)
                t._gsum = None
                if not retain_graph:  # drop saved buffers and graph links: memory is freed as we go
                    t._saved = t._a = t._b = None
                # Hand each input its gradient: a second arrival is summed; a leaf's first arrival is
                # its sum (a copy where the op shares the buffer or hooks will see it; added to .grad
                # when the walk is over);
                # an interior tensor's first arrival makes it `ready` (in a chain, the next node to
                # run). Written out for a, then for b: a loop over the pair costs ~10% of the whole
                # walk. (An input on another backend than its consumer gets its gradient on its own
                # backend, from ops.ToBackend, summed with its kernels.)
                ready = None
                if ga is not None and a is not None and a.requires_grad:
                    if a._gsum is not None:
                        a._gsum = (be if not crossing or a._be is here else backends.kernels_of(a._be)).add(a._gsum, ga)
                    elif a._ctx is None:
                        k = be if not crossing or a._be is here else backends.kernels_of(a._be)
                        a._gsum = ga if t._ctx.fresh[0] and a._saved is None else k.copy(ga)
                        if a._saved is not None:
                            hooked = [a] if hooked is None else hooked + [a]
                        leaves.append(a)
                    else:
                        a._gsum, ready = ga, a
                if gb is not None and b is not None and b.requires_grad:
                    if b._gsum is not None:
                        b._gsum = (be if not crossing or b._be is here else backends.kernels_of(b._be)).add(b._gsum, gb)
                    elif b._ctx is None:
                        k = be if not crossing or b._be is here else backends.kernels_of(b._be)
                        b._gsum = gb if t._ctx.fresh[1] and b._saved is None else k.copy(gb)
                        if b._saved is not None:
                            hooked = [b] if hooked is None else hooked + [b]
                        leaves.append(b)
                    else:
                        if ready is not None:  # both became ready: a waits in the heap
                            if heap is None:
                                heap = []
                            heappush(heap, (ready._seq, ready))
                        b._gsum, ready = gb, b
                # Every node still to run is `ready` or in the heap; the next is the latest made of them.
                if ready is not None:
                    t = ready if not heap or heap[0][0] > ready._seq else heappushpop(heap, (ready._seq, ready))[1]
                elif heap:
                    t = heappop(heap)[1]
                else:
                    break
        if hooked is not None:
            _run_leaf_hooks(hooked)
    except BaseException:  # no .grad was changed; no partial sums left for the next backward
        for node in [t, ready] + leaves + [entry[1] for entry in heap or ()]:
            if node is not None:
                node._gsum = None
        raise
    for leaf in leaves:  # a .grad set by hand must fit before any is written (nothing changes on error)
        g = leaf.grad
        if g is not None and (g._shape != leaf._shape or g.dtype is not leaf.dtype or g._be is not leaf._be):
            for node in leaves:
                node._gsum = None
            raise RuntimeError(f"backward: the .grad of a leaf of shape {leaf.shape}, {leaf.dtype}, on {leaf.backend} "
                               f"is {g.shape}, {g.dtype}, on {g.backend}; it must match (set it to None to replace it)")
    for leaf in leaves:  # the walk succeeded: each leaf's sum becomes its .grad, or is added to it
        g = leaf.grad
        if g is None:
            leaf.grad = leaf._make(leaf._gsum, leaf.dtype, leaf._be)
        else:  # in .grad's own storage, as PyTorch's AccumulateGrad: a view of .grad sees the sum
            k = backends.kernels_of(leaf._be)
            buf = k.axpy(g._buf, 1.0, leaf._gsum)
            g._buf = buf if buf is g._buf else k.assign(g._buf, buf)
        leaf._gsum = None


# --- torch.autograd.grad ------------------------------------------------------------------------
def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, only_inputs=True,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """The gradients of `outputs` (each weighted by its entry of `grad_outputs`, None: 1 for a
    one-element output) with respect to each of `inputs`, as a tuple, as torch.autograd.grad.
    No tensor's .grad changes. An input the outputs do not depend on raises, unless allow_unused
    (then its entry is None, or zeros with materialize_grads). Hooks on the tensors run as in
    backward(). The graph is released unless retain_graph. create_graph=True (gradients of
    gradients) is out of scope: the backward pass is not itself recorded."""
    if create_graph:
        raise NotImplementedError("autograd.grad(create_graph=True): gradients of gradients are out of scope in "
                                  "tinygrad_nm (the backward pass is not recorded as a graph)")
    if is_grads_batched:
        raise NotImplementedError("autograd.grad(is_grads_batched=True) is not supported; loop over the grad_outputs")
    outputs, inputs = _tensor_list(outputs, "outputs"), _tensor_list(inputs, "inputs")
    seeds = [None] * len(outputs) if grad_outputs is None else _tensor_list(grad_outputs, "grad_outputs", True)
    if len(seeds) != len(outputs):
        raise RuntimeError(f"autograd.grad: {len(seeds)} grad_outputs for {len(outputs)} outputs")
    if materialize_grads and allow_unused is False:
        raise ValueError("autograd.grad: materialize_grads=True needs allow_unused=True (or left unset)")
    allow_unused = materialize_grads if allow_unused is None else allow_unused
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(f"autograd.grad: input {i} (shape {t.shape}) does not require grad")
    seeds = [_seed(out, g, i) for i, (out, g) in enumerate(zip(outputs, seeds))]
    sums = _grad_walk(outputs, seeds, inputs, bool(retain_graph))
    result = []
    for i, t in enumerate(inputs):
        be = backends.kernels_of(t._be)
        g = sums.get(id(t), (None, None))[1]
        if g is None and not allow_unused:
            raise RuntimeError(f"autograd.grad: input {i} (shape {t.shape}) was not used in the graph of the "
                               f"outputs; pass allow_unused=True to get None for it")
        if g is None:
            result.append(t._make(be.full(t.shape, 0, t.dtype), t.dtype, t._be) if materialize_grads else None)
            continue
        for hook in (t._saved or ()) if t._ctx is None else ():  # a leaf's hooks (an op's ran in the walk)
            g = run_hook(hook, t, g)
        result.append(t._make(be.copy(g), t.dtype, t._be))  # its own storage: buffers may be shared
    return tuple(result)


def _tensor_list(x, what, nones=False):
    items = list(x) if isinstance(x, (list, tuple)) else [x]
    for i, t in enumerate(items):
        if not hasattr(t, "_buf") and not (nones and t is None):
            raise TypeError(f"autograd.grad: {what}[{i}] is a {type(t).__name__}, not a tensor")
    return items


def _seed(out, g, i):
    """The gradient buffer an output starts from (Tensor.backward's rules for `grad`)."""
    if not out.requires_grad:
        raise RuntimeError(f"autograd.grad: output {i} (shape {out.shape}) does not require grad: no input of "
                           f"its computation required grad (or it ran under no_grad())")
    if g is None:
        if out.numel() != 1:
            raise RuntimeError(f"autograd.grad: grad can be implicitly created only for one-element outputs; "
                               f"output {i} has shape {out.shape}, so pass grad_outputs")
        return backends.kernels_of(out._be).full(out.shape, 1.0, out.dtype)
    g = out._as_tensor(g)
    if g.shape != out.shape or g._be is not out._be:
        raise RuntimeError(f"autograd.grad: grad_outputs[{i}] has shape {g.shape} on {g.backend!r}; output {i} has "
                           f"shape {out.shape} on {out.backend!r}")
    return g.cast(out.dtype)._buf


def _reaching(outputs, inputs):
    """The ids of the tensors from which some input can be reached (the inputs included): the only
    nodes whose backward grad() needs to run."""
    wanted, seen, order, stack = {id(t) for t in inputs}, set(), [], list(outputs)
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        order.append(t)
        if t._ctx is not None:
            if t._a is None and t._b is None:
                raise RuntimeError(_SECOND_BACKWARD)
            stack.extend(x for x in (t._a, t._b) if x is not None and x.requires_grad)
    reaching = set()
    for t in sorted(order, key=lambda t: (t._ctx is not None, -t._seq if t._ctx is not None else 0)):  # inputs first
        if id(t) in wanted or t._ctx is not None and any(x is not None and id(x) in reaching for x in (t._a, t._b)):
            reaching.add(id(t))
    return reaching


def _grad_walk(outputs, seeds, inputs, retain_graph):
    """backward()'s walk from several roots, summing gradients in a dict {id: (tensor, buffer)}
    instead of the tensors; a node runs its op's backward only if an input lies beyond it."""
    reaching, wanted = _reaching(outputs, inputs), {id(t) for t in inputs}
    sums, heap = {}, []

    def deliver(x, g):
        if g is None or x is None or id(x) not in reaching:
            return
        if id(x) in sums:
            sums[id(x)] = (x, backends.kernels_of(x._be).add(sums[id(x)][1], g))
        else:
            sums[id(x)] = (x, g)
            if x._ctx is not None:
                heappush(heap, (x._seq, x))

    for out, g in zip(outputs, seeds):
        deliver(out, g)
    while heap:
        t = heappop(heap)[1]
        be = backends.kernels_of(t._be)
        op, hooks, retain = getattr(t._ctx, "_hooked", (t._ctx, (), False))
        g = hooked_grad(t, be, sums[id(t)][1], hooks, retain)  # as backward() would (retain_grad too)
        sums[id(t)] = (t, g)
        if not any(x is not None and id(x) in reaching for x in (t._a, t._b)):
            continue  # an input with nothing wanted beyond it
        if op.saves:
            check_versions(t)
        ga, gb = op.backward(t, be, g)
        a, b = t._a, t._b
        if not retain_graph:
            t._saved = t._a = t._b = None
        deliver(a, ga)
        deliver(b, gb)
    return {k: v for k, v in sums.items() if k in wanted}
