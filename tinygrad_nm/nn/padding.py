"""The padding layers, PyTorch's names: ZeroPad, ConstantPad, ReflectionPad, ReplicationPad and
CircularPad, each in 1, 2 and 3 dims; each calls F.pad (padding.py) with its mode."""
from tinygrad_nm import functional as F
from tinygrad_nm.nn.module import Module


class _Pad(Module):
    dims, mode = 1, "constant"

    def __init__(self, padding, value=0.0):
        super().__init__()
        n = 2 * self.dims
        padding = (padding,) * n if isinstance(padding, int) else tuple(padding)
        if len(padding) != n:
            raise ValueError(f"{type(self).__name__}: padding must be an int or {n} ints, got {padding!r}")
        self.padding, self.value = padding, value

    def forward(self, x):
        return F.pad(x, self.padding, self.mode, self.value if self.mode == "constant" else None)

    def extra_repr(self):  # PyTorch's: ZeroPad2d((1, 1, 1, 1)), ConstantPad1d(padding=(2, 2), value=0.5)
        if type(self).__name__.startswith("Constant"):
            return f"padding={self.padding}, value={self.value}"
        return f"{self.padding}"


def _layer(name, dims, mode, zero=False):
    def init(self, padding, value=0.0):
        _Pad.__init__(self, padding, value)

    def zero_init(self, padding):
        _Pad.__init__(self, padding, 0.0)
    return type(name, (_Pad,), {"dims": dims, "mode": mode, "__init__": zero_init if zero else init,
                                "__module__": __name__, "__qualname__": name})


ZeroPad1d, ZeroPad2d, ZeroPad3d = (_layer(f"ZeroPad{d}d", d, "constant", zero=True) for d in (1, 2, 3))
ConstantPad1d, ConstantPad2d, ConstantPad3d = (_layer(f"ConstantPad{d}d", d, "constant") for d in (1, 2, 3))
ReflectionPad1d, ReflectionPad2d, ReflectionPad3d = (_layer(f"ReflectionPad{d}d", d, "reflect") for d in (1, 2, 3))
ReplicationPad1d, ReplicationPad2d, ReplicationPad3d = (_layer(f"ReplicationPad{d}d", d, "replicate")
                                                        for d in (1, 2, 3))
CircularPad1d, CircularPad2d, CircularPad3d = (_layer(f"CircularPad{d}d", d, "circular") for d in (1, 2, 3))
PADDING_LAYERS = [f"{kind}Pad{d}d" for kind in ("Zero", "Constant", "Reflection", "Replication", "Circular")
                  for d in (1, 2, 3)]
__all__ = PADDING_LAYERS
