"""Scalar math for the pure-Python backend: Python floats following IEEE 754 as NumPy and
PyTorch do where Python's own operators and `math` functions raise or differ: division by zero and
0 ** negative give signed infinities, overflow gives an infinity of the right sign, exp(nan) and
log of a negative number give nan, a sum of inf and -inf gives nan.

Each function is called once per element: the common case comes first and costs nothing extra;
the special cases are handled in the branch (or the exception handler) it never takes.
"""
import builtins
import math

_inf, _nan = math.inf, math.nan


def div(x, y):
    try:
        return x / y
    except ZeroDivisionError:
        return _nan if x == 0 or x != x else math.copysign(_inf, x) * math.copysign(1.0, y)


def power(x, y):
    try:
        r = x ** y
    except (ZeroDivisionError, OverflowError):  # 0 ** negative, or past the largest float
        return pow_infinite(x, y)
    return _nan if isinstance(r, complex) else r  # a negative base to a fractional power


def pow_infinite(x, y):
    """IEEE 754 (and NumPy, PyTorch) where Python raises: an infinity, negative when the base is
    negative (-0.0 included) and the exponent an odd integer."""
    return math.copysign(_inf, x) if y % 2 == 1 else _inf


def log(x):
    return math.log(x) if x > 0 else (-_inf if x == 0 else _nan)


def sigmoid(x):
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def atanh(x):
    if -1 < x < 1:
        return math.atanh(x)
    return math.copysign(_inf, x) if builtins.abs(x) == 1 else _nan


def sin(x):
    return math.sin(x) if x - x == 0 else _nan  # math.sin raises at +-inf; IEEE gives nan


def cos(x):
    return math.cos(x) if x - x == 0 else _nan


def log2(x):
    return math.log2(x) if x > 0 else (-_inf if x == 0 else _nan)


def log1p(x):
    return math.log1p(x) if x > -1 else (-_inf if x == -1 else _nan)


def expm1(x):
    return math.expm1(x) if x < 709.78 else exp_large(x)  # nan fails the test too: exp_large keeps it


# floor, ceil, trunc and round: math's return ints and raise at inf and nan. +-inf and nan (x - x is
# not 0) come back as they are; a zero result takes x's sign (floor(-0.0), ceil(-0.5), round(-0.5)
# are -0.0), as IEEE 754 gives. round() rounds halves to even, as PyTorch does.
def floor(x):
    return (float(math.floor(x)) or math.copysign(0.0, x)) if x - x == 0 else x


def ceil(x):
    return (float(math.ceil(x)) or math.copysign(0.0, x)) if x - x == 0 else x


def trunc(x):
    return (float(math.trunc(x)) or math.copysign(0.0, x)) if x - x == 0 else x


def round_even(x):
    return (float(builtins.round(x)) or math.copysign(0.0, x)) if x - x == 0 else x


def exp_large(x):
    """exp near and past overflow, and of nan (which fails `x < 709.78` too)."""
    try:
        return math.exp(x)  # finite up to 709.78...
    except OverflowError:
        return _inf


def nanmax(values):
    m = builtins.max(values)
    return _nan if any(v != v for v in values) else m


def fsum(values):
    """Exactly rounded sum; where fsum raises (inf + -inf, or a partial sum past the largest
    float) the plain sum gives IEEE's answer, nan or an infinity, as NumPy does."""
    try:
        return math.fsum(values)
    except (ValueError, OverflowError):
        return builtins.sum(values)


def softmax_row(row):
    m = nanmax(row)
    e = list(map(math.exp, [x - m for x in row]))
    s = fsum(e)
    return [x / s for x in e]


def log_softmax_row(row):
    m = nanmax(row)
    shifted = [x - m for x in row]
    log_s = math.log(fsum(list(map(math.exp, shifted))))
    return [v - log_s for v in shifted]  # (x - m) - log s: m + log s would round log s away at large m
