"""`import tinygrad_nm.nn.functional as F`: the same functions as tinygrad_nm.functional
(PyTorch's torch.nn.functional spelling)."""
from tinygrad_nm.functional import *  # noqa: F401,F403
from tinygrad_nm.functional import __all__  # noqa: F401
