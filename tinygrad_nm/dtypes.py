"""The five dtypes a Tensor can hold, and PyTorch's promotion rule between them.

Each DType carries its NumPy type (`np_type`): the one map every backend stores and converts by.
A DType compares equal to its name and to the matching NumPy dtype, so
`t.dtype == "float32"`, `t.dtype == np.float32` and `t.dtype == tnm.float32`
all work. Backends map a DType onto their own storage (NumPy dtype, Python
float/int/bool, device array dtype).
"""
import numpy as np


class DType:
    __slots__ = ("name", "itemsize", "is_float", "rank", "np_type")

    def __init__(self, name, itemsize, is_float, rank, np_type):
        self.name, self.itemsize, self.is_float, self.rank, self.np_type = name, itemsize, is_float, rank, np_type

    def __repr__(self):
        return f"tnm.{self.name}"

    def __str__(self):
        return self.name

    def __eq__(self, other):
        if isinstance(other, DType):
            return self is other
        try:
            return self is to_dtype(other)
        except (TypeError, ValueError):
            return False

    def __hash__(self):
        return hash(self.name)


bool_ = DType("bool", 1, False, 0, np.bool_)
int64 = DType("int64", 8, False, 1, np.int64)
# float16: stored as such where a backend can (each backend says what it does with it: its module doc)
float16 = DType("float16", 2, True, 2, np.float16)
float32 = DType("float32", 4, True, 3, np.float32)
float64 = DType("float64", 8, True, 4, np.float64)

DEFAULT_FLOAT = float32
ALL = (bool_, int64, float16, float32, float64)
_BY_NAME = {d.name: d for d in ALL}
_BY_NAME.update({"bool_": bool_, "float": float32, "double": float64, "long": int64, "int": int64, "half": float16})
_BY_NUMPY = {np.dtype(d.np_type): d for d in ALL}


def to_dtype(spec):
    """Normalise a dtype given as a DType, a name ("float32"), a NumPy dtype or a Python type."""
    if spec is None or isinstance(spec, DType):
        return spec
    if spec is float:
        return float32
    if spec is int:
        return int64
    if spec is bool:
        return bool_
    if isinstance(spec, np.dtype) and spec in _BY_NUMPY:  # an array's dtype: NumPy's dtype.name is slow Python
        return _BY_NUMPY[spec]
    name = getattr(spec, "name", None) or getattr(spec, "__name__", None) or spec
    if isinstance(name, str) and name in _BY_NAME:
        return _BY_NAME[name]
    if isinstance(name, str) and name.startswith(("int", "uint")):
        return int64  # every integer width is stored as int64, as labels and indices
    raise TypeError(f"unsupported dtype {spec!r}; tinygrad_nm supports {', '.join(d.name for d in ALL)}")


def category(dtype):
    """bool 0, integer 1, float 2: what a 0-d tensor or a Python number can lift a tensor to."""
    return 2 if dtype.is_float else (0 if dtype is bool_ else 1)


def promote(a, b):
    """PyTorch's rule for two tensors: the higher of bool < int64 < float16 < float32 < float64."""
    return a if a.rank >= b.rank else b


def promote_scalar(dt, value):
    """A Python number beside a tensor keeps the tensor's dtype unless it lifts an integer to float."""
    if isinstance(value, bool) or dt.is_float:
        return dt
    if isinstance(value, float):
        return DEFAULT_FLOAT
    return int64 if dt is bool_ else dt
