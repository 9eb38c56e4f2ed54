"""Elementwise kernels: unary math, binary arithmetic and comparisons with broadcasting, and the
activations' backward. Each is a one-line device function applied by the map launcher
(jit.map_), which compiles one contiguous and one strided kernel per function and arity.

The host functions are made from the kernel table (its unary and binary families and the fused
activation backward): a name there with no device function below fails at import. astype, copy
and where (unary and binary in the table) are storage maps: storage.py.
"""
import builtins
import functools
import math

import numpy as np

from tinygrad_nm import dtypes
from tinygrad_nm.backends.kernels import TABLE, of_family
from tinygrad_nm.backends.numba_cuda.device import CudaBuffer
from tinygrad_nm.backends.numba_cuda.jit import constants, device_function, map_, scalar
from tinygrad_nm.backends.numba_cuda.storage import __all__ as STORAGE, to_numpy

UNARY = tuple(n for n in of_family("unary") if n not in STORAGE)     # not astype, copy
BINARY = tuple(n for n in of_family("binary") if n not in STORAGE)   # not where
COMPARE = tuple(n for n in BINARY if "bool buffer" in TABLE[n].doc)
ARITHMETIC = tuple(n for n in BINARY if n not in COMPARE)
ACTIVATION_BACKWARD = tuple(n for n in of_family("fused") if n.endswith("_backward") and TABLE[n].signature
                            in (f"{n}(x, g)", f"{n}(y, g)"))
FAMILY = UNARY + BINARY + ACTIVATION_BACKWARD
_builtin_abs = builtins.abs  # this module defines a kernel called abs (and one called pow)


# --- unary device functions: (x, zero, one) -> value --------------------------------------------
# Each gets the constants 0 and 1 in x's dtype, passed by the host, so a float32 kernel stays in
# float32 (a Python literal like 1.0 is float64 in Numba and would widen the arithmetic). The
# guards keep the simulator, which runs these on NumPy scalars through Python's math module,
# from raising where CUDA returns inf or nan.
def _neg(x, zero, one): return -x
def _exp(x, zero, one): return math.inf if x > 709.78 else math.exp(x)
def _log(x, zero, one): return math.log(x) if x > zero else (-math.inf if x == zero else math.nan)
def _sqrt(x, zero, one): return math.sqrt(x) if x >= zero else math.nan
def _abs(x, zero, one): return _builtin_abs(x)
def _sign(x, zero, one): return one if x > zero else (-one if x < zero else x)  # keeps nan and 0
def _tanh(x, zero, one): return math.tanh(x)
def _sin(x, zero, one): return math.sin(x) if x - x == zero else math.nan  # inf - inf is nan: nan at +-inf
def _cos(x, zero, one): return math.cos(x) if x - x == zero else math.nan
def _relu(x, zero, one): return x if x > zero or x != x else zero  # nan propagates, as np.maximum
def _log2(x, zero, one): return math.log2(x) if x > zero else (-math.inf if x == zero else math.nan)
def _log1p(x, zero, one): return math.log1p(x) if x > -one else (-math.inf if x == -one else math.nan)
def _expm1(x, zero, one): return math.inf if x > 709.78 else math.expm1(x)


# The rounding functions: Numba's math.floor/ceil/trunc return an int64, so values that are integers
# already (|x| >= 2**52, +-inf) and nan come back as they are, and a zero result takes x's sign
# (ceil(-0.5) is -0.0), as IEEE 754 gives.
_INTEGRAL = 4503599627370496.0  # 2 ** 52: every float of at least this size is an integer


@device_function  # called from the device functions below
def _as_float(r, x, zero):
    return zero + r if r != 0 else math.copysign(zero, x)


def _floor(x, zero, one): return _as_float(math.floor(x), x, zero) if _builtin_abs(x) < _INTEGRAL else x
def _ceil(x, zero, one): return _as_float(math.ceil(x), x, zero) if _builtin_abs(x) < _INTEGRAL else x
def _trunc(x, zero, one):  # floor or ceil by sign: NumPy's float32 scalars, the simulator's x, lack __trunc__
    if not _builtin_abs(x) < _INTEGRAL:
        return x
    return _as_float(math.floor(x) if x >= zero else math.ceil(x), x, zero)


def _round(x, zero, one):
    """Nearest integer, halves to even (PyTorch's round); x - floor(x) is exact in floating point."""
    if not _builtin_abs(x) < _INTEGRAL:
        return x
    r = math.floor(x)
    d = x - r
    if d > 0.5 or (d == 0.5 and r % 2 == 1):
        r += 1
    return _as_float(r, x, zero)


def _atanh(x, zero, one):
    if -one < x < one:
        return math.atanh(x)
    if x == one or x == -one:
        return math.copysign(math.inf, x)
    return math.nan


def _sigmoid(x, zero, one):
    if x >= zero:  # exp of a non-positive number only: no overflow for large |x|
        return one / (one + math.exp(-x))
    e = math.exp(x)
    return e / (one + e)


# --- activation backward: (forward value, g, zero, one) -> value ---------------------------------
def _relu_backward(x, g, zero, one): return g if x > zero else zero
def _sigmoid_backward(y, g, zero, one): return g * y * (one - y)
def _tanh_backward(y, g, zero, one): return g * (one - y * y)


# --- binary operators (x, y) -> value -------------------------------------------------------
def _add(x, y): return x + y
def _sub(x, y): return x - y
def _mul(x, y): return x * y
def _div(x, y): return x / y
def _pow(x, y): return x ** y
def _lt(x, y): return x < y
def _le(x, y): return x <= y
def _gt(x, y): return x > y
def _ge(x, y): return x >= y
def _eq(x, y): return x == y
def _ne(x, y): return x != y


DEVICE_FUNCTIONS = {name: globals()[f"_{name}"] for name in FAMILY}  # KeyError here: a kernel lacks one


@functools.cache
def binary_variants(name):
    """The three shapes a binary op takes: (buffer, buffer), (buffer, scalar p), (scalar p, buffer)."""
    op = device_function(DEVICE_FUNCTIONS[name])
    return (device_function(lambda x, y, p, q: op(x, y)), device_function(lambda x, p, q: op(x, p)),
            device_function(lambda x, p, q: op(p, x)))


# --- host side ----------------------------------------------------------------------------------
def _unary(name):
    fn = DEVICE_FUNCTIONS[name]

    def kernel(a):
        return map_(fn, [a], a.dtype, *constants(a.dtype))
    kernel.__name__ = kernel.__qualname__ = name
    kernel.__doc__ = f"out[i] = {name}(a[i]) on the device."
    return kernel


def _activation_backward(name):
    fn = DEVICE_FUNCTIONS[name]

    def kernel(y, g):
        return map_(fn, [y, g], g.dtype, *constants(g.dtype))
    kernel.__name__ = kernel.__qualname__ = name
    kernel.__doc__ = f"{name}(forward value, gradient) elementwise on the device."
    return kernel


def _binary(name, compare):
    def kernel(a, b):
        both, scalar_right, scalar_left = binary_variants(name)
        if isinstance(a, CudaBuffer) and isinstance(b, CudaBuffer):
            dtype = dtypes.bool_ if compare else a.dtype
            return map_(both, [a, b], dtype, *constants(a.dtype))
        buf, value, fn = (a, b, scalar_right) if isinstance(a, CudaBuffer) else (b, a, scalar_left)
        p = _compare_scalar(value, buf.dtype) if compare else scalar(value, buf.dtype)
        return map_(fn, [buf], dtypes.bool_ if compare else buf.dtype, p, p)
    kernel.__name__ = kernel.__qualname__ = name
    kernel.__doc__ = f"out = a {name} b with broadcasting; either may be a Python scalar."
    return kernel


def _compare_scalar(value, dtype):
    """Comparisons see the scalar's own value: int64 buffer < 2.5 must not compare with 2."""
    if isinstance(value, float) and not dtype.is_float:
        return np.float64(value)
    if isinstance(value, int) and not isinstance(value, bool) and dtype is dtypes.bool_:
        return np.int64(value)
    return scalar(value, dtype)


HOST_FUNCTIONS = {**{n: _unary(n) for n in UNARY}, **{n: _binary(n, False) for n in ARITHMETIC},
                  **{n: _binary(n, True) for n in COMPARE},
                  **{n: _activation_backward(n) for n in ACTIVATION_BACKWARD}}
_pow_kernel = HOST_FUNCTIONS["pow"]


def _checked_pow(a, b):
    """out = a ** b with broadcasting; either may be a Python scalar. An integer to a negative
    integer power raises, as in NumPy and PyTorch: the device's integer power cannot fail (it
    writes 0 or 1), so the host looks at the exponent first (a tensor exponent costs one copy of
    it to the host)."""
    base, exponent = (a if isinstance(a, CudaBuffer) else b), b
    if not base.dtype.is_float and base.dtype is not dtypes.bool_:
        low = to_numpy(exponent).min(initial=0) if isinstance(exponent, CudaBuffer) else exponent
        if low < 0:
            raise ValueError("Integers to negative integer powers are not allowed.")
    return _pow_kernel(a, b)


_checked_pow.__name__ = _checked_pow.__qualname__ = "pow"
HOST_FUNCTIONS["pow"] = _checked_pow
globals().update(HOST_FUNCTIONS)  # neg, exp, ..., add, ..., lt, ..., relu_backward, ... as module functions
__all__ = list(FAMILY)
