"""torch.distributions' Normal, Uniform, Bernoulli, Categorical and kl_divergence against torch on
every backend: log_prob, entropy, moments and KL with their gradients in the parameters; draws
by their statistics (the numbers are NumPy's, not PyTorch's) and rsample's reparameterisation."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tinygrad_nm as tnm  # noqa: E402
from torch_api_helpers import case, matches_torch  # noqa: E402

LOC, SCALE = np.array([[0.5, -1.0, 2.0]]), np.array([[1.5], [0.3]])
VALUES = np.array([[0.1, 0.2, 2.5], [1.0, -1.0, 0.0]])
LOGITS = np.array([[1.0, 2.0, 0.5], [0.0, 0.0, 3.0]])
PROBS = np.array([0.2, 0.9, 0.5])


def _normal(M, loc, scale):
    d = M.distributions.Normal(loc, scale)
    other = M.distributions.Normal(loc * 0.5, scale + 1)
    return (d.log_prob(M.tensor(VALUES, dtype=loc.dtype)), d.entropy(), d.mean, d.variance, d.stddev,
            d.cdf(M.tensor(VALUES, dtype=loc.dtype)), M.distributions.kl_divergence(d, other))


def _categorical(M, logits, probs):
    by_logits = M.distributions.Categorical(logits=logits)
    by_probs = M.distributions.Categorical(probs=probs.abs() + 0.1)
    index = M.tensor([2, 0])
    return (by_logits.log_prob(index), by_logits.entropy(), by_logits.probs, by_logits.logits,
            by_probs.log_prob(index), by_probs.entropy(), M.distributions.kl_divergence(by_logits, by_probs))


def _bernoulli(M, p, logits):
    by_probs, by_logits = M.distributions.Bernoulli(probs=p), M.distributions.Bernoulli(logits=logits)
    value = M.tensor([1.0, 0.0, 1.0], dtype=p.dtype)
    return (by_probs.log_prob(value), by_probs.entropy(), by_logits.log_prob(value), by_logits.entropy(),
            by_logits.mean, by_logits.variance, M.distributions.kl_divergence(by_probs, by_logits))


def _uniform(M, low, width):
    d = M.distributions.Uniform(low, low + width.abs() + 0.5, validate_args=False)
    inside = low + 0.25
    return d.log_prob(inside), d.entropy(), d.mean, d.variance, d.stddev


CASES = [
    case("normal", _normal, LOC, SCALE),
    case("categorical", _categorical, LOGITS, LOGITS),
    case("bernoulli", _bernoulli, PROBS, np.array([0.3, -1.0, 2.0])),
    case("uniform", _uniform, np.array([0.0, -1.0]), np.array([2.0, 0.5])),
]


test_matches_torch = matches_torch(CASES)


def test_draws_have_the_right_statistics(backend):
    tnm.manual_seed(0)
    n = tnm.distributions.Normal(tnm.tensor([1.0, -2.0]), tnm.tensor([0.5, 2.0]))
    x = n.sample((20000,))
    assert x.shape == (20000, 2) and not x.requires_grad
    np.testing.assert_allclose(x.mean(0).numpy(), [1.0, -2.0], atol=0.05)
    np.testing.assert_allclose(x.std(0).numpy(), [0.5, 2.0], rtol=0.03)
    c = tnm.distributions.Categorical(probs=tnm.tensor([0.1, 0.6, 0.3]))
    counts = np.bincount(c.sample((20000,)).numpy(), minlength=3) / 20000
    np.testing.assert_allclose(counts, [0.1, 0.6, 0.3], atol=0.015)
    b = tnm.distributions.Bernoulli(probs=tnm.tensor([0.25]))
    assert abs(b.sample((20000,)).mean().item() - 0.25) < 0.015
    u = tnm.distributions.Uniform(2.0, 5.0).sample((20000,))
    assert 2.0 <= u.min().item() and u.max().item() < 5.0 and abs(u.mean().item() - 3.5) < 0.03


def test_rsample_is_reparameterised(backend):
    tnm.manual_seed(1)
    loc = tnm.tensor([0.5, -1.0], requires_grad=True)
    scale = tnm.tensor([2.0, 0.5], requires_grad=True)
    z = tnm.distributions.Normal(loc, scale).rsample((3,))
    z.sum().backward()
    eps = (z.detach() - loc.detach()) / scale.detach()
    np.testing.assert_allclose(loc.grad.numpy(), [3.0, 3.0])  # d z / d loc = 1, summed over 3 draws
    np.testing.assert_allclose(scale.grad.numpy(), eps.sum(0).numpy(), rtol=1e-5)  # d z / d scale = eps
    with pytest.raises(NotImplementedError, match="Categorical has no rsample"):
        tnm.distributions.Categorical(logits=tnm.zeros(3)).rsample()


def test_bad_arguments_are_refused(backend):
    with pytest.raises(ValueError, match="either `probs` or `logits` must be specified, but not both"):
        tnm.distributions.Categorical(probs=tnm.ones(3), logits=tnm.ones(3))
    with pytest.raises(ValueError, match="Bernoulli: either"):
        tnm.distributions.Bernoulli()
    with pytest.raises(NotImplementedError, match="only two of one kind"):
        tnm.distributions.kl_divergence(tnm.distributions.Normal(0.0, 1.0), tnm.distributions.Uniform(0.0, 1.0))
