"""The host side of making a tensor: user data to a NumPy array and its dtype, shape arguments,
and the random generators that rand/randn draw from (on the host, so a seed gives the same
numbers on every backend)."""
import numbers

import numpy as np

from tinygrad_nm import dtypes as dt


def scalar_dtype(value):
    if isinstance(value, bool):
        return dt.bool_
    return dt.int64 if isinstance(value, numbers.Integral) else dt.DEFAULT_FLOAT


def shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    shape = tuple(shape)
    for d in shape:
        if not isinstance(d, (int, np.integer)) or isinstance(d, bool):
            raise TypeError(f"shape entries must be integers, got {shape!r}")
    return tuple(int(d) for d in shape)


_global_rng = [np.random.default_rng()]


def manual_seed(seed):
    """Seed the generator that rand/randn (and nn initialisation) use when given no seed."""
    _global_rng[0] = np.random.default_rng(seed)


def rng_for(seed, generator):
    """The NumPy generator to draw from: `generator` (a tnm.Generator or a NumPy Generator), a
    new one seeded by `seed`, or the global one."""
    if generator is not None:
        return getattr(generator, "rng", generator)  # tnm.Generator (generator.py) holds a NumPy one
    return np.random.default_rng(seed) if seed is not None else _global_rng[0]


def host_array(data, dtype):
    """Turn user data into a host NumPy array and the DType it will be stored as."""
    if isinstance(data, (np.ndarray, np.generic)):  # NumPy arrays and scalars keep their dtype
        source = np.asarray(data)
        inferred = None
    else:
        if isinstance(data, (str, bytes)) or data is None:
            raise TypeError(f"Tensor data must be numbers or (nested) lists of numbers, got {type(data).__name__}")
        try:
            source = np.array(data)
        except ValueError as e:
            raise ValueError(f"Tensor data must be a rectangular (nested) list of numbers: {e}") from None
        inferred = {"f": dt.DEFAULT_FLOAT, "i": dt.int64, "u": dt.int64, "b": dt.bool_}.get(source.dtype.kind)
        if source.size == 0 and source.dtype.kind == "f":
            inferred = dt.DEFAULT_FLOAT
    if source.dtype.kind not in "fiub":
        raise TypeError(f"Tensor data must be numeric, got values of NumPy dtype {source.dtype} "
                        f"(e.g. {source.ravel()[:1].tolist()})")
    return source, dtype or inferred or dt.to_dtype(source.dtype)
