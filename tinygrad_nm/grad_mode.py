"""Grad mode: whether ops are recorded (PyTorch's no_grad, enable_grad, set_grad_enabled,
inference_mode), per thread. The op runner (tensor.py) reads `grad_mode.everywhere` on every op;
autograd.py re-exports these names, as torch.autograd does."""
import contextlib
import threading


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
