"""The backend registry: which backends exist, which can run here, which one is the default.

A backend is one module in this package implementing the kernel set described
in `kernels.py`. Everything above this package talks to a backend only through
those functions, so adding a backend means writing one module and one line in
`_MODULES` below.
"""
import contextlib
import importlib
import os
import types

from tinygrad_nm.settings import settings

# name -> module that implements it (imported lazily: CUDA and native code are heavy)
_MODULES = {
    "python": "tinygrad_nm.backends.python",
    "numpy": "tinygrad_nm.backends.numpy",
    "cython": "tinygrad_nm.backends.cython",
    "numba_cuda": "tinygrad_nm.backends.numba_cuda",
    "meta": "tinygrad_nm.backends.meta",  # shapes only: what napkin.estimate traces on
}
ENV_VAR = "TINYGRAD_NM_BACKEND"  # settings.backend
DEFAULT = "numpy"
# PyTorch's device names (tnm.device, Tensor.to("cuda")): the backends that compute on a device
# other than the host. Every other backend is "cpu"; "cpu" itself means the default backend when
# that runs on the host, else DEFAULT.
_DEVICE_BACKENDS = {"cuda": "numba_cuda"}
_loaded = {}
_unavailable = {}  # name -> why it cannot run here
# `import tinygrad_nm as torch` makes this package torch.backends: the flags PyTorch programs set
# (torch.backends.cudnn.benchmark = True) and ask (torch.backends.mps.is_available()) are accepted;
# they change nothing here (no cuDNN, no Apple GPU).
cudnn = types.SimpleNamespace(benchmark=False, deterministic=False, enabled=True, allow_tf32=True,
                              is_available=lambda: False)
mps = types.SimpleNamespace(is_available=lambda: False, is_built=lambda: False)
cuda = types.SimpleNamespace(matmul=types.SimpleNamespace(allow_tf32=False, allow_fp16_reduced_precision_reduction=True,
                                                          allow_bf16_reduced_precision_reduction=True),
                             is_built=lambda: False)  # torch.backends.cuda: float32 products are float32 here


class BackendUnavailableError(RuntimeError):
    """A known backend that cannot run on this machine (not built, no GPU, ...)."""


def _try_load(name):
    if name in _loaded:
        return _loaded[name]
    if name in _unavailable:
        return None
    try:
        module = importlib.import_module(_MODULES[name])
        why = module.unavailable_reason()
    except ImportError as e:  # a backend whose module cannot even import says why itself
        module, why = None, (f"importing it failed: {e}; install its dependencies and build the native kernels "
                             f"with `pip install -e '.[test]'` (or `bash dev.sh test`)")
    if why:
        _unavailable[name] = why
        return None
    _loaded[name] = module
    if _threads_wanted is not None and hasattr(module, "set_num_threads"):
        module.set_num_threads(_threads_wanted)
    return module


_threads_wanted = None  # torch.set_num_threads's count, for backends loaded later too


def set_num_threads(n):
    """torch.set_num_threads: every backend with its own thread pool (set_num_threads) uses n
    threads from now on, those loaded later too; NumPy's BLAS is left to its own settings."""
    global _threads_wanted
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {n!r}")
    _threads_wanted = n
    for module in _loaded.values():
        if hasattr(module, "set_num_threads"):
            module.set_num_threads(n)


def get_num_threads():
    """The default backend's threads where it has a pool (num_threads), else this process's cores."""
    module = default()
    if hasattr(module, "num_threads"):
        return module.num_threads()
    return _threads_wanted if _threads_wanted is not None else available_cores()


def available_cores():
    """The cores this process may run on (its affinity mask on Linux)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def available_backends():
    """Names of the backends that can compute on this machine, in a stable order (the shape-only
    backend, which holds no values, is loadable but not listed)."""
    return [name for name in _MODULES if _try_load(name) is not None and getattr(_loaded[name], "COMPUTES", True)]


def known_backends():
    """Every backend name this package has, whether or not it can run here, in a stable order."""
    return list(_MODULES)


def shape_only():
    """The backend whose kernels work on shapes and dtypes alone (napkin traces on it)."""
    return load("meta")


def pricing(backend):
    """(the PRICING facts a backend declares, None) or (None, why there are none). Read from the
    module even where the backend cannot run (a GPU backend on a machine with no GPU can still be
    priced from its facts); `backend` is a name or a module."""
    module = backend
    if isinstance(backend, str):
        if backend not in _MODULES:
            return None, f"unknown backend {backend!r}"
        module = _loaded.get(backend)
        if module is None:
            try:
                module = importlib.import_module(_MODULES[backend])
            except ImportError as e:
                return None, f"backend {backend!r} cannot be imported ({e})"
    facts = getattr(module, "PRICING", None)
    if facts is None:
        return None, f"backend {getattr(module, 'NAME', module)!r} declares no pricing facts"
    return facts, None


def checked(names):
    """`names` (a list from a setting, or None), each loaded so that one which cannot run here
    fails loudly rather than being skipped; None when there are none."""
    for n in names or ():
        load(n)
    return list(names) if names else None


def load(name):
    """The backend module called `name`; a clear error if the name is unknown or cannot run here."""
    if not isinstance(name, str) or name not in _MODULES:
        raise ValueError(f"unknown backend {name!r}; available backends: {', '.join(available_backends())}"
                         f" (all known: {', '.join(_MODULES)})")
    module = _try_load(name)
    if module is None:
        raise BackendUnavailableError(f"backend {name!r} cannot run here: {_unavailable[name]}")
    return module


def device_type(backend):
    """PyTorch's device type ("cpu" or "cuda") of a backend module."""
    for kind, name in _DEVICE_BACKENDS.items():
        if backend.NAME == name:
            return kind
    return "cpu"


def device_types():
    """The device types a program can name: "cpu" and those of the device backends."""
    return ["cpu", *_DEVICE_BACKENDS]


def for_device(kind):
    """The backend module a PyTorch device type stands for; a clear error if it cannot run here."""
    if kind == "cpu":
        host = default()
        return host if device_type(host) == "cpu" else load(DEFAULT)
    if kind not in _DEVICE_BACKENDS:
        raise ValueError(f"unknown device type {kind!r}; device types: {', '.join(device_types())}"
                         f" (or a backend name: {', '.join(_MODULES)})")
    return load(_DEVICE_BACKENDS[kind])


_default = None


def get_backend():
    """The name of the backend new tensors are created on."""
    return default().NAME


def default():
    """The module of the default backend (loaded on first use, so a bad env var errors clearly)."""
    global _default
    if _default is None:
        name = settings.backend or DEFAULT
        try:
            _default = load(name)
        except (ValueError, BackendUnavailableError) as e:
            raise type(e)(f"{ENV_VAR}={name!r}: {e}") from None
    return _default


def set_backend(name):
    """Make `name` the default backend for tensors created from now on."""
    global _default
    _default = load(name)


@contextlib.contextmanager
def use_backend(name):
    """`with use_backend("python"): ...` creates tensors on that backend inside the block."""
    global _default
    previous = _default
    _default = load(name)
    try:
        yield _default
    finally:
        _default = previous


@contextlib.contextmanager
def own_threads(module, n):
    """Hold a backend module's own thread pool at n threads inside the block (a backend with
    set_num_threads, which returns the setting it replaced; any other is left as it is)."""
    setter = getattr(module, "set_num_threads", None)
    before = setter(n) if setter is not None else None
    try:
        yield module
    finally:
        if setter is not None:
            setter(before)


# --- the one place napkin accounting hooks in -------------------------------------------
# Every kernel call above this package goes through `kernels_of(backend)`. Normally that is the backend
# module itself (no overhead); while tracing is on, it is a wrapper that times each kernel.
_kernel_wrapper = None


def kernels_of(backend):
    """The kernels to call on `backend`: the module itself, or napkin's tracing stand-in."""
    return backend if _kernel_wrapper is None else _kernel_wrapper(backend)


def set_kernel_wrapper(wrapper):
    """Install (or with None, remove) a function backend -> object with the same kernels."""
    global _kernel_wrapper
    previous, _kernel_wrapper = _kernel_wrapper, wrapper
    return previous
