"""tinygrad_nm: a small deep-learning framework you can read in an afternoon.

    import tinygrad_nm as tnm
    from tinygrad_nm import Tensor, functional as F

    x = Tensor([[0.2, 0.5, 0.4, 0.7]])
    w = Tensor.randn(4, 1, requires_grad=True)
    loss = F.mse_loss(x @ w, Tensor([[0.45]]))
    loss.backward()          # w.grad now holds d loss / d w

The backend that runs the kernels is picked by TINYGRAD_NM_BACKEND (default: the
NumPy one), `tnm.set_backend(name)`, `with tnm.use_backend(name):` or
`Tensor(..., backend=name)`. PyTorch's spelling works too: `tnm.tensor(data, device="cuda")`,
`t.to("cpu")`, `tnm.zeros(2, 3)`, `tnm.cat(...)` (README: "PyTorch coverage"). Every TINYGRAD_NM_* setting: tinygrad_nm/settings.py, `tnm.Context`.
"""
from tinygrad_nm.grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from tinygrad_nm.backends import (BackendUnavailableError, available_backends, get_backend, get_num_threads,
                                  set_backend, set_num_threads, use_backend)
from tinygrad_nm.dtypes import DType, bool_, float16, float32, float64, int64
from tinygrad_nm.host import manual_seed
from tinygrad_nm.settings import Context, watch
from tinygrad_nm.settings import settings as _settings
from tinygrad_nm.tensor import Tensor
from tinygrad_nm import cuda, functional, linalg, nn, optim, utils
from tinygrad_nm.serialization import load, load_safetensors, save, save_safetensors
from tinygrad_nm.device import device
from tinygrad_nm import namespace as _namespace
from tinygrad_nm import amp, distributions, special
from tinygrad_nm.amp import autocast
from tinygrad_nm.generator import Generator, get_rng_state, set_rng_state
from tinygrad_nm.switches import (are_deterministic_algorithms_enabled, compile, get_float32_matmul_precision,  # noqa: A004
                                  set_float32_matmul_precision, set_printoptions, use_deterministic_algorithms)
from tinygrad_nm.tensor_composite import atleast_1d, atleast_2d, atleast_3d, bucketize, searchsorted, tensordot
from tinygrad_nm.namespace import *  # noqa: F401,F403 (torch.* functions: tensor, zeros, cat, exp, ...)
# PyTorch's dtype names. Every integer width is stored as int64 (int32 and int are int64 here);
# float16 (half) is stored as such where the backend can (README's coverage table); bfloat16 does not exist.
from tinygrad_nm.dtypes import bool_ as bool  # noqa: A001 (torch.bool; shadows the builtin in this module only)
float, double, long, int32, int, half = float32, float64, int64, int64, int64, float16  # noqa: A001
int8, int16, short, uint8 = int64, int64, int64, int64  # stored as int64 too: no wraparound at 8 or 16 bits

__all__ = ["Tensor", "cuda", "linalg", "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled",
           "inference_mode", "functional", "nn", "optim", "available_backends",
           "get_backend", "set_backend", "use_backend", "set_num_threads", "get_num_threads", "BackendUnavailableError", "DType", "bool_",
           "float32", "float64", "int64", "manual_seed", "Context", "utils", "save", "load", "save_safetensors",
           "load_safetensors", "device", "bool", "float", "double", "long", "int32", "int", "float16", "half", "int8", "int16", "short", "uint8",
           "amp", "distributions", "special", "autocast", "Generator", "get_rng_state", "set_rng_state", "compile", "set_float32_matmul_precision",
           "get_float32_matmul_precision", "set_printoptions", "use_deterministic_algorithms",
           "are_deterministic_algorithms_enabled", "atleast_1d", "atleast_2d", "atleast_3d", "bucketize", "searchsorted",
           "tensordot"] + _namespace.__all__
__version__ = "0.1.0"


def __getattr__(name):  # `tnm.napkin` imports the cost model on first use, keeping `import tinygrad_nm` light
    if name == "napkin":
        import importlib
        return importlib.import_module("tinygrad_nm.napkin")
    raise AttributeError(f"module 'tinygrad_nm' has no attribute {name!r}")


def _follow_debug(level):  # TINYGRAD_NM_DEBUG or Context(debug=...): one line per kernel call
    import importlib
    importlib.import_module("tinygrad_nm.napkin.trace")._follow_debug_setting(level)


watch("debug", _follow_debug)
if _settings.debug:
    _follow_debug(_settings.debug)
