"""torch.special: the special functions under PyTorch's names, each the Tensor method or composite
that computes it (erf and erfc on the host: host_math.py)."""
import math

from tinygrad_nm.tensor_math import where


def expit(input):
    return input.sigmoid()


def logit(input, eps=None):
    return input.logit(eps)


def erf(input):
    return input.erf()


def erfc(input):
    return input.erfc()


def ndtr(input):
    """The standard normal CDF: erfc(-x / sqrt(2)) / 2."""
    return (-input * (1 / math.sqrt(2))).erfc() * 0.5


def log_ndtr(input):
    return ndtr(input).log()


def xlogy(input, other):
    return input.xlogy(other)


def exp2(input):
    return input.exp2()


def expm1(input):
    return input.expm1()


def log1p(input):
    return input.log1p()


def logsumexp(input, dim, keepdim=False):
    return input.logsumexp(dim, keepdim)


def softmax(input, dim, dtype=None):
    return (input if dtype is None else input.cast(dtype)).softmax(dim)


def log_softmax(input, dim, dtype=None):
    return (input if dtype is None else input.cast(dtype)).log_softmax(dim)


def sinc(input):
    """sin(pi x) / (pi x), 1 at 0 (its gradient there 0)."""
    x = input * math.pi
    safe = where(x == 0, 1.0, x)
    return where(x == 0, 1.0, safe.sin() / safe)
