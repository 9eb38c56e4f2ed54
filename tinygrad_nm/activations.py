"""The activations PyTorch composes from clamps and smooth functions: relu6, hardtanh,
hardsigmoid, hardswish, mish, softsign, selu, celu, hardshrink, softshrink, tanhshrink, threshold
(re-exported by functional.py, PyTorch's F).

Each follows PyTorch's gradient where the formula has a kink: hardtanh (and relu6) passes the
gradient only strictly inside (min_val, max_val); hardsigmoid strictly inside (-3, 3); hardswish
gives 0 at and below -3 and 1 at and above 3. The branch not taken is a constant (detached), so
its gradient is 0 and an inf or nan in it never reaches the result's gradient.
"""
from tinygrad_nm.composite import where
from tinygrad_nm.losses import logsigmoid


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """input limited to [min_val, max_val]; gradient 1 strictly inside (and at nan), else 0."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) must not be greater than max_val ({max_val})")
    outside = (input <= min_val).logical_or(input >= max_val)
    return where(outside, input.detach().clamp(min_val, max_val), input)


def relu6(input, inplace=False):
    """min(max(x, 0), 6): hardtanh(x, 0, 6), as PyTorch computes it."""
    return hardtanh(input, 0.0, 6.0)


def hardsigmoid(input, inplace=False):
    """relu6(x + 3) / 6; gradient 1/6 strictly inside (-3, 3), else 0."""
    inside = (input > -3.0).logical_and(input < 3.0)
    return where(inside, (input + 3.0) / 6.0, ((input.detach() + 3.0).clamp(0.0, 6.0) / 6.0))


def hardswish(input, inplace=False):
    """x * relu6(x + 3) / 6."""
    return where(input <= -3.0, input.detach() * 0.0, where(input < 3.0, input * (input + 3.0) / 6.0, input))


def mish(input, inplace=False):
    """x * tanh(softplus(x)), softplus(x) = -log sigmoid(-x) (x itself past 20, as F.softplus)."""
    return input * where(input > 20.0, input, -logsigmoid(-input)).tanh()


def softsign(input):
    """x / (1 + |x|)."""
    return input / (input.abs() + 1.0)


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def selu(input, inplace=False):
    """scale * (x if x > 0 else alpha (e^x - 1)), PyTorch's self-normalising constants."""
    negative = where(input > 0, 0.0, input)
    return where(input > 0, input, negative.expm1() * _SELU_ALPHA) * _SELU_SCALE


def celu(input, alpha=1.0, inplace=False):
    """x if x > 0 else alpha (e^(x / alpha) - 1); the negative branch sees only x <= 0, so no overflow."""
    negative = where(input > 0, 0.0, input)
    return where(input > 0, input, (negative * (1.0 / alpha)).expm1() * alpha)


def hardshrink(input, lambd=0.5):
    """x where |x| > lambd, else 0 (nan stays nan)."""
    return where(input.abs() <= lambd, 0.0, input)


def softshrink(input, lambd=0.5):
    """x - lambd above lambd, x + lambd below -lambd, 0 between (nan stays nan)."""
    inside = (input >= -lambd).logical_and(input <= lambd)
    return where(inside, 0.0, where(input > lambd, input - lambd, input + lambd))


def tanhshrink(input):
    return input - input.tanh()


def threshold(input, threshold, value, inplace=False):
    """x where x > threshold, else value (nan stays nan)."""
    return where(input <= threshold, value, input)
