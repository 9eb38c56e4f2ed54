"""pad: PyTorch's torch.nn.functional.pad, on its own so that the convolutions (conv.py) and
functional.py can both use it without importing each other."""
import numpy as np

from tinygrad_nm.tensor import Tensor


def pad(input, pad, mode="constant", value=None):
    """Pad the last len(pad) // 2 dimensions: pad = (left, right) for the last one, then (top,
    bottom) for the one before, ... mode "constant" (value; negative amounts crop), "reflect",
    "replicate" or "circular". Composed without a concatenation op: constant padding is a matmul
    with a 0/1 placement matrix (exact for finite inputs), the others one integer-array index per
    dimension, so both are differentiable."""
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}")
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: padding length must be even and at most 2 * {input.ndim}, got {tuple(pad)}")
    if mode != "constant" and value:
        raise ValueError(f"pad: value is only for mode 'constant', not {mode!r}")
    out = input
    for i in range(len(pad) // 2):
        left, right = pad[2 * i], pad[2 * i + 1]
        if left == 0 and right == 0:
            continue
        axis = out.ndim - 1 - i
        moved = out.transpose(axis, -1) if axis != out.ndim - 1 else out
        moved = _pad_last(moved, left, right, mode, 0.0 if value is None else value, axis)
        out = moved.transpose(axis, -1) if axis != out.ndim - 1 else moved
    return out


def _pad_last(x, left, right, mode, value, axis):
    n = x.shape[-1]
    m = n + left + right
    if m < 0:
        raise ValueError(f"pad: padding {(left, right)} leaves a negative size for dimension {axis} of size {n}")
    j = np.arange(m) - left  # the source position of each output position
    if mode == "constant":
        inside = (j >= 0) & (j < n)
        place = np.zeros((n, m))
        place[j[inside], np.flatnonzero(inside)] = 1.0
        lead = x.shape[:-1]
        flat = x.reshape(-1, n) @ Tensor(place, dtype=x.dtype, backend=x.backend)
        if value != 0:
            flat = flat + Tensor(np.where(inside, 0.0, value), dtype=x.dtype, backend=x.backend)
        return flat.reshape(*lead, m)
    if mode == "reflect":
        if max(left, right) >= n:
            raise ValueError(f"pad: reflect padding {(left, right)} must be smaller than the size {n} of dimension {axis}")
        period = 2 * (n - 1) if n > 1 else 1
        j = np.abs((j + period) % period) if n > 1 else np.zeros_like(j)
        j = np.where(j >= n, period - j, j)
    elif mode == "replicate":
        j = np.clip(j, 0, n - 1)
    else:  # circular
        if max(left, right) > n:
            raise ValueError(f"pad: circular padding {(left, right)} must be at most the size {n} of dimension {axis}")
        j = j % n
    return x[..., Tensor(j.astype(np.int64), backend=x.backend)]
