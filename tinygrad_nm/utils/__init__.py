"""tinygrad_nm.utils: data loading (tinygrad_nm.utils.data, PyTorch's torch.utils.data)."""
from tinygrad_nm.utils import data  # noqa: F401  (tinygrad_nm.utils.data)
