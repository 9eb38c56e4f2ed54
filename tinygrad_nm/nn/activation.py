"""The activation modules beyond layers.py's: ReLU6, Hardtanh, Hardsigmoid, Hardswish, Mish,
LogSigmoid, Softsign, PReLU, SELU, CELU, Hardshrink, Softshrink, Tanhshrink, Threshold, GLU,
Softmin, Softmax2d; each calls its function in functional.py (PyTorch's F)."""
from tinygrad_nm.device import backend_name
from tinygrad_nm import functional as F
from tinygrad_nm.nn.module import Module
from tinygrad_nm.nn.parameter import Parameter
from tinygrad_nm.tensor import Tensor


def _inplace_repr(inplace):
    return "inplace=True" if inplace else ""


class Hardtanh(Module):
    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False):
        super().__init__()
        if min_val > max_val:
            raise ValueError(f"Hardtanh: min_val ({min_val}) must not be greater than max_val ({max_val})")
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, x):
        return F.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self):
        return f"min_val={self.min_val}, max_val={self.max_val}" + (", inplace=True" if self.inplace else "")


class ReLU6(Hardtanh):
    def __init__(self, inplace=False):
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self):
        return _inplace_repr(self.inplace)


class _Simple(Module):
    """An activation with no parameter but PyTorch's `inplace` flag (accepted, results are new)."""
    fn = None

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return type(self).fn(x)

    def extra_repr(self):
        return _inplace_repr(self.inplace)


class Hardsigmoid(_Simple):
    fn = staticmethod(F.hardsigmoid)


class Hardswish(_Simple):
    fn = staticmethod(F.hardswish)


class Mish(_Simple):
    fn = staticmethod(F.mish)


class LogSigmoid(Module):
    def forward(self, x):
        return F.logsigmoid(x)


class Softsign(Module):
    def forward(self, x):
        return F.softsign(x)


class PReLU(Module):
    """x where x >= 0, else a * x, with a learned slope a: one, or one per channel (num_parameters)."""

    def __init__(self, num_parameters=1, init=0.25, device=None, dtype=None, backend=None):
        super().__init__()
        self.num_parameters = num_parameters
        self.weight = Parameter(Tensor.full((num_parameters,), init, dtype=dtype, backend=backend_name(device, backend)))

    def forward(self, x):
        return F.prelu(x, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class SELU(_Simple):
    fn = staticmethod(F.selu)


class CELU(Module):
    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, x):
        return F.celu(x, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class Hardshrink(Module):
    def __init__(self, lambd=0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, x):
        return F.hardshrink(x, self.lambd)

    def extra_repr(self):
        return str(self.lambd)


class Softshrink(Hardshrink):
    def forward(self, x):
        return F.softshrink(x, self.lambd)


class Tanhshrink(Module):
    def forward(self, x):
        return F.tanhshrink(x)


class Threshold(Module):
    def __init__(self, threshold, value, inplace=False):
        super().__init__()
        self.threshold, self.value, self.inplace = threshold, value, inplace

    def forward(self, x):
        return F.threshold(x, self.threshold, self.value)

    def extra_repr(self):
        return f"threshold={self.threshold}, value={self.value}" + (", inplace=True" if self.inplace else "")


class GLU(Module):
    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.glu(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Softmin(GLU):
    def __init__(self, dim=None):
        super().__init__(dim)

    def forward(self, x):
        return F.softmin(x, self.dim)


class Softmax2d(Module):
    """softmax over the channels of (N, C, H, W) or (C, H, W)."""

    def forward(self, x):
        if x.ndim not in (3, 4):
            raise ValueError(f"Softmax2d: expected a 3-D or 4-D input, got shape {x.shape}")
        return x.softmax(-3)
