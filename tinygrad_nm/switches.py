"""PyTorch's global switches and handles that a program sets up before it trains: compile,
set_float32_matmul_precision, use_deterministic_algorithms, set_printoptions. Each is recorded
and does what it can here, as its docstring says."""
import sys

from tinygrad_nm.tensor_ops import PRINT_OPTIONS


def compile(model=None, *, fullgraph=False, dynamic=None, backend="inductor", mode=None, options=None,
            disable=False):
    """torch.compile: the model (or function) as it is, or a decorator that returns it so: nothing
    is compiled here, every op runs its backend's kernel as it is called."""
    if model is None:
        return lambda fn: fn
    return model


_matmul_precision = ["highest"]


def set_float32_matmul_precision(precision):
    """Recorded: float32 products are always computed in float32 here ("highest")."""
    if precision not in ("highest", "high", "medium"):
        raise RuntimeError(f"set_float32_matmul_precision: expected 'highest', 'high' or 'medium', got {precision!r}")
    _matmul_precision[0] = precision


def get_float32_matmul_precision():
    return _matmul_precision[0]


_PRINT_PROFILES = {"default": dict(precision=4, threshold=1000, edgeitems=3, linewidth=80),
                   "short": dict(precision=2, threshold=1000, edgeitems=2, linewidth=80),
                   "full": dict(precision=4, threshold=sys.maxsize, edgeitems=3, linewidth=80)}


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None):
    """How tensors print, as torch.set_printoptions: a profile ("default", "short", "full") first,
    then each option given; sci_mode True/False forces scientific notation on or off."""
    if profile is not None:
        if profile not in _PRINT_PROFILES:
            raise ValueError(f"set_printoptions: profile must be one of {', '.join(_PRINT_PROFILES)}, got {profile!r}")
        PRINT_OPTIONS.update(_PRINT_PROFILES[profile])
    given = dict(precision=precision, threshold=threshold, edgeitems=edgeitems, linewidth=linewidth)
    PRINT_OPTIONS.update({k: v for k, v in given.items() if v is not None})
    PRINT_OPTIONS["sci_mode"] = sci_mode


_deterministic = [False]


def use_deterministic_algorithms(mode, *, warn_only=False):
    """Recorded, and changes nothing: the CPU backends' kernels are deterministic (fixed
    summation orders) and so are the GPU backend's reductions; its index_add (Embedding's and
    scatter_add's gradients) adds with atomics, whose float order can vary between runs on a GPU."""
    _deterministic[0] = bool(mode)


def are_deterministic_algorithms_enabled():
    return _deterministic[0]
