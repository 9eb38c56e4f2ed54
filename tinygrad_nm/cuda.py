"""torch.cuda's questions, which a PyTorch program asks before it picks a device
(`device = "cuda" if torch.cuda.is_available() else "cpu"`), answered for the backend that
device("cuda") stands for (backends.for_device)."""
from tinygrad_nm import amp, backends  # noqa: F401 (torch.cuda.amp: autocast, GradScaler)


def _backend():
    """The module behind device("cuda"), or the reason it cannot run here (a string)."""
    try:
        return backends.for_device("cuda")
    except (backends.BackendUnavailableError, ValueError) as e:
        return str(e)


def _require(what):
    module = _backend()
    if isinstance(module, str):
        raise RuntimeError(f"torch.cuda.{what}: no CUDA device here ({module})")
    return module


def is_available():
    """Whether device("cuda") can run here: its backend imports and finds a GPU (or, with
    NUMBA_ENABLE_CUDASIM=1, Numba's simulator, which runs the same kernels on the CPU, slowly)."""
    return not isinstance(_backend(), str)


def device_count():
    return 1 if is_available() else 0  # one device: device("cuda", 0)


def current_device():
    _require("current_device")
    return 0


def get_device_name(device=None):
    module = _require("get_device_name")
    return module.describe().get("device", module.NAME) if hasattr(module, "describe") else module.NAME


def synchronize(device=None):
    """Wait for every launched kernel (launches are asynchronous): before reading a clock."""
    sync = getattr(_require("synchronize"), "synchronize", None)
    if sync is not None:
        sync()


def manual_seed(seed):
    """Accepted for PyTorch programs; no effect: every backend's random numbers are drawn on the
    host from the generator tnm.manual_seed seeds, so they are the same on CPU and GPU."""


manual_seed_all = manual_seed


def empty_cache():
    """Give the device memory the backend keeps for reuse (its caching allocator's free blocks)
    back to the driver, as PyTorch does; nothing to do where there is no CUDA device or no cache."""
    module = _backend()
    release = None if isinstance(module, str) else getattr(module, "empty_cache", None)
    if release is not None:
        release()


def is_bf16_supported():
    return False  # no bfloat16 dtype in tinygrad_nm
