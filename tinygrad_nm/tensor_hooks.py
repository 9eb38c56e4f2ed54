"""retain_grad() and register_hook() on tensors made by an op, as in PyTorch.

`TensorHooks` is a mixin of Tensor (it never imports it). Neither adds work to the backward
walk: the node's op (its `_ctx`, a Function subclass) is replaced by a subclass whose backward
first passes the arriving gradient (already summed over every consumer) through the hooks, in
the order registered, then keeps it in `.grad` if retained (last, as PyTorch does), then runs
the op's own backward.
"""


def _wrapped(op, hooks, retain):
    """`op` whose backward first runs `hooks` on the gradient and, if `retain`, keeps it."""
    def backward(ctx, be, g):
        for hook in hooks:
            out = hook(ctx._make(g, ctx.dtype, ctx._be))
            if out is not None:
                if not hasattr(out, "_buf") or out.shape != ctx.shape:
                    raise RuntimeError(f"hook returned {out!r}: expected None or a tensor of shape {ctx.shape}")
                g = out.cast(ctx.dtype)._buf
        if retain:
            ctx.grad = ctx._make(be.copy(g), ctx.dtype, ctx._be) if ctx.grad is None \
                else ctx._make(be.add(ctx.grad._buf, g), ctx.dtype, ctx._be)
        return op.backward(ctx, be, g)
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
        """hook(grad) runs when this tensor's gradient has been computed; a tensor it returns takes
        the gradient's place. Supported on tensors made by an op (not on leaves)."""
        if not self.requires_grad:
            raise RuntimeError("can't register a hook on a tensor that does not require grad")
        if self._ctx is None:
            raise NotImplementedError("register_hook on a leaf tensor is not supported in tinygrad_nm; "
                                      "hook a tensor made from it (e.g. `y = w * 1`) or edit w.grad after backward")
        if not callable(hook):
            raise TypeError(f"register_hook: expected a callable, got {type(hook).__name__}")
        op, hooks, retain = self._hook_state()
        self._ctx = _wrapped(op, hooks + (hook,), retain)

    def _hook_state(self):
        """(the op underneath, its hooks, whether it retains the gradient)."""
        return getattr(self._ctx, "_hooked", (self._ctx, (), False))
