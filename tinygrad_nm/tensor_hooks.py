"""retain_grad() and register_hook(), as in PyTorch.

`TensorHooks` is a mixin of Tensor (it never imports it). On a tensor made by an op, neither adds
work to the backward walk: the node's op (its `_ctx`, an Op subclass) is replaced by a
subclass whose backward first passes the arriving gradient (already summed over every consumer)
through the hooks, in the order registered, then keeps it in `.grad` if retained (last, as
PyTorch does), then runs the op's own backward.

A leaf has no op to wrap: its hooks are kept in its `_saved` (unused on a leaf; None when it has
none), the one attribute the backward walk checks at a leaf's first gradient of a call. A hooked
leaf's gradients are summed apart from its .grad during the call; at its end (autograd.backward)
the hooks see the sum once, as in PyTorch, and what they return is added into `.grad`.
"""
from tinygrad_nm import backends


def run_hook(hook, t, g):
    """The gradient buffer `g` of tensor t after hook(grad) (a returned tensor replaces it)."""
    out = hook(t._make(g, t.dtype, t._be))
    if out is None:
        return g
    if not hasattr(out, "_buf") or out.shape != t.shape:
        raise RuntimeError(f"hook returned {out!r}: expected None or a tensor of shape {t.shape}")
    return out.cast(t.dtype)._buf


def hooked_grad(t, be, g, hooks, retain):
    """The gradient buffer g of the node t after its `hooks`, kept in t.grad if `retain`."""
    for hook in hooks:
        g = run_hook(hook, t, g)
    if retain:
        t.grad = t._make(be.copy(g), t.dtype, t._be) if t.grad is None \
            else t._make(be.add(t.grad._buf, g), t.dtype, t._be)
    return g


def _wrapped(op, hooks, retain):
    """`op` whose backward first runs `hooks` on the gradient and, if `retain`, keeps it."""
    def backward(ctx, be, g):
        return op.backward(ctx, be, hooked_grad(ctx, be, g, hooks, retain))
    return type(op.__name__, (op,), {"backward": backward, "_hooked": (op, tuple(hooks), retain),
                                     "__doc__": op.__doc__})


class TensorHooks:
    __slots__ = ()

    def retain_grad(self):
        """Keep this non-leaf tensor's gradient in .grad during backward (a no-op on a leaf)."""
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on a tensor that does not require grad")
        if self._ctx is not None:
            op, hooks, _ = self._hook_state()
            self._ctx = _wrapped(op, hooks, True)

    @property
    def retains_grad(self):
        return self._ctx is not None and self._hook_state()[2]

    def register_hook(self, hook):
        """hook(grad) runs when this tensor's gradient has been computed (on a leaf: once per
        backward call, before it is added into .grad); a tensor it returns takes the gradient's
        place. Returns a handle whose remove() unregisters it."""
        if not self.requires_grad:
            raise RuntimeError("can't register a hook on a tensor that does not require grad")
        if not callable(hook):
            raise TypeError(f"register_hook: expected a callable, got {type(hook).__name__}")
        if self._ctx is None:
            self._saved = (self._saved or ()) + (hook,)
        else:
            op, hooks, retain = self._hook_state()
            self._ctx = _wrapped(op, hooks + (hook,), retain)
        return _Handle(self, hook)

    def _hook_state(self):
        """(the op underneath, its hooks, whether it retains the gradient); a leaf: (None, hooks, False)."""
        if self._ctx is None:
            return None, self._saved or (), False
        return getattr(self._ctx, "_hooked", (self._ctx, (), False))

    # --- a leaf's hooks at the end of a backward call (autograd._run_leaf_hooks) --------------
    def _hooked_sum(self, g):
        """The gradient g summed for this leaf over the call, through its hooks: the buffer that
        becomes .grad (a copy: a hook may return a tensor of its own) or is added to it."""
        be = backends.kernels_of(self._be)
        for hook in self._saved:
            g = run_hook(hook, self, g)
        return be.copy(g) if self.grad is None else g


class _Handle:
    """What register_hook returns: remove() takes the hook off again (PyTorch's RemovableHandle)."""

    def __init__(self, tensor, hook):
        self._tensor, self._hook = tensor, hook

    def remove(self):
        t, hook = self._tensor, self._hook
        op, hooks, retain = t._hook_state()
        rest = tuple(h for h in hooks if h is not hook)
        if t._ctx is None:
            t._saved = rest or None
        elif op is not None:
            t._ctx = _wrapped(op, rest, retain) if rest or retain else op
