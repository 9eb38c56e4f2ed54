"""A small gradient checker: autograd against central finite differences, in float64.

    check_grad(lambda a, b: a * b, np_a, np_b)

builds float64 tensors on the current default backend, runs `fn`, backpropagates
a fixed random weighting of the output (so every output element counts, with a
different weight, and a sum cannot hide compensating errors), and compares each
input's `.grad` with (f(x + eps) - f(x - eps)) / 2 eps of the same weighted sum,
where f is the forward evaluated under `no_grad`. Forward values themselves are
checked elsewhere against NumPy and PyTorch.
"""
import numpy as np

import tinygrad_nm as tnm
from tinygrad_nm import Tensor

EPS = 1e-6


def uniform(shape, low=-2.0, high=2.0, seed=0):
    return np.random.default_rng(seed).uniform(low, high, size=shape)


def away_from_zero(shape, low=0.3, high=2.0, seed=0):
    """Values of either sign whose magnitude lies in [low, high]: no kinks of abs/relu nearby."""
    rng = np.random.default_rng(seed)
    return rng.uniform(low, high, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def _weighted(out, weight):
    return float(np.sum(np.asarray(out, dtype=np.float64) * weight))


def numeric_grads(fn, arrays, weight, eps=EPS):
    """d sum(weight * fn(*arrays)) / d arrays[i] by central differences."""
    def f(arrs):
        with tnm.no_grad():
            return _weighted(fn(*[Tensor(a, dtype="float64") for a in arrs]), weight)

    grads = []
    for i, a in enumerate(arrays):
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            plus = [x.copy() for x in arrays]
            minus = [x.copy() for x in arrays]
            plus[i][idx] += eps
            minus[i][idx] -= eps
            g[idx] = (f(plus) - f(minus)) / (2 * eps)
        grads.append(g)
    return grads


def check_grad(fn, *arrays, atol=1e-6, rtol=1e-5, seed=1):
    """Assert autograd's gradient of fn at `arrays` matches finite differences; returns the output."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    tensors = [Tensor(a, dtype="float64", requires_grad=True) for a in arrays]
    out = fn(*tensors)
    assert isinstance(out, Tensor), f"fn returned {type(out).__name__}, not a Tensor"
    assert out.dtype == "float64", f"float64 inputs gave a {out.dtype} output"
    assert out.requires_grad, "the output of a differentiable op does not require grad"
    weight = np.random.default_rng(seed).uniform(0.5, 1.5, size=out.shape) * \
        np.random.default_rng(seed + 1).choice([-1.0, 1.0], size=out.shape)
    out.backward(Tensor(weight, dtype="float64", backend=out.backend))
    expected = numeric_grads(fn, arrays, weight)
    for i, (t, e) in enumerate(zip(tensors, expected)):
        assert t.grad is not None, f"input {i} (shape {t.shape}) received no gradient"
        assert t.grad.shape == t.shape, f"input {i}: grad shape {t.grad.shape} != input shape {t.shape}"
        assert t.grad.dtype == "float64", f"input {i}: grad dtype {t.grad.dtype}"
        np.testing.assert_allclose(t.grad.numpy(), e, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {i} (shape {t.shape})")
    return out
