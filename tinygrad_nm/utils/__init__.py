"""tinygrad_nm.utils: data loading (tinygrad_nm.utils.data, PyTorch's torch.utils.data, with its samplers
from tinygrad_nm.utils.samplers)."""
from tinygrad_nm.utils import data  # noqa: F401  (tinygrad_nm.utils.data)
