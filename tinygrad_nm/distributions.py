"""torch.distributions, the part a VAE or a policy-gradient loop uses: Normal, Uniform,
Bernoulli, Categorical, and kl_divergence between two of a kind.

Parameters broadcast to the batch shape. log_prob, entropy and rsample are composed of Tensor
ops, so they are differentiable in the parameters (rsample by reparameterisation: loc + scale *
eps); sample draws without a gradient. Draws come from tnm.manual_seed's generator on the host,
so a seed gives the same numbers on every backend (not PyTorch's numbers).
"""
import math

import numpy as np

from tinygrad_nm.grad_mode import no_grad
from tinygrad_nm.host import rng_for
from tinygrad_nm.losses import logsigmoid
from tinygrad_nm.tensor import Tensor
from tinygrad_nm.tensor_math import where

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def _param(value, like=None):
    """A parameter as a float tensor (a number takes like's dtype and backend)."""
    if isinstance(value, Tensor):
        return value if value.dtype.is_float else value.float()
    return Tensor(float(value), dtype=like.dtype if like is not None else None,
                  backend=like.backend if like is not None else None)


def _broadcast(*params):
    shape = np.broadcast_shapes(*(p.shape for p in params))
    return [p.expand(*shape) if p.shape != shape else p for p in params]


class Distribution:
    """batch_shape, event_shape, sample/rsample, log_prob, entropy, mean, variance, stddev."""
    has_rsample = False
    event_shape = ()

    def __init__(self, batch_shape, validate_args=None):
        self.batch_shape = tuple(batch_shape)

    def _extended(self, sample_shape):
        return tuple(sample_shape) + self.batch_shape + tuple(self.event_shape)

    def sample(self, sample_shape=()):
        with no_grad():
            return self.rsample(sample_shape) if self.has_rsample else self._draw(tuple(sample_shape))

    def rsample(self, sample_shape=()):
        raise NotImplementedError(f"{type(self).__name__} has no rsample (it cannot be reparameterised); use sample()")

    @property
    def stddev(self):
        return self.variance.sqrt()

    def __repr__(self):
        return f"{type(self).__name__}(batch_shape={self.batch_shape})"


class Normal(Distribution):
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        loc = _param(loc, scale if isinstance(scale, Tensor) else None)
        self.loc, self.scale = _broadcast(loc, _param(scale, loc))
        super().__init__(self.loc.shape)

    mean = property(lambda self: self.loc)
    mode = property(lambda self: self.loc)
    variance = property(lambda self: self.scale * self.scale)

    @property
    def stddev(self):
        return self.scale

    def rsample(self, sample_shape=()):
        shape = self._extended(sample_shape)
        eps = Tensor(rng_for(None, None).standard_normal(shape), dtype=self.loc.dtype, backend=self.loc.backend)
        return self.loc + self.scale * eps

    def log_prob(self, value):
        value = _param(value, self.loc)
        return -((value - self.loc) ** 2) / (2 * self.variance) - self.scale.log() - _LOG_SQRT_2PI

    def entropy(self):
        return 0.5 + _LOG_SQRT_2PI + self.scale.log()

    def cdf(self, value):
        return 0.5 * (1 + ((_param(value, self.loc) - self.loc) / (self.scale * math.sqrt(2))).erf())


class Uniform(Distribution):
    has_rsample = True

    def __init__(self, low, high, validate_args=None):
        low = _param(low, high if isinstance(high, Tensor) else None)
        self.low, self.high = _broadcast(low, _param(high, low))
        super().__init__(self.low.shape)

    mean = property(lambda self: (self.low + self.high) / 2)
    variance = property(lambda self: (self.high - self.low) ** 2 / 12)

    def rsample(self, sample_shape=()):
        u = Tensor(rng_for(None, None).random(self._extended(sample_shape)), dtype=self.low.dtype,
                   backend=self.low.backend)
        return self.low + (self.high - self.low) * u

    def log_prob(self, value):
        value = _param(value, self.low)
        inside = (value >= self.low).logical_and(value < self.high)
        return where(inside, -(self.high - self.low).log(), float("-inf"))

    def entropy(self):
        return (self.high - self.low).log()


class Bernoulli(Distribution):
    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Bernoulli: either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            self.probs = _param(probs)
            clamped = _clamp_probs(self.probs)
            self.logits = clamped.log() - (-clamped).log1p()
        else:
            self.logits = _param(logits)
            self.probs = self.logits.sigmoid()
        super().__init__(self.probs.shape)

    mean = property(lambda self: self.probs)
    variance = property(lambda self: self.probs * (1 - self.probs))

    def _draw(self, sample_shape):
        u = rng_for(None, None).random(self._extended(sample_shape))
        return Tensor((u < self.probs.detach().numpy()).astype(np.float64), dtype=self.probs.dtype,
                      backend=self.probs.backend)

    def log_prob(self, value):  # -BCE with logits, stable: x * l - softplus(l)
        value = _param(value, self.logits)
        return value * self.logits - _softplus(self.logits)

    def entropy(self):
        return _softplus(self.logits) - self.probs * self.logits


def _clamp_probs(p):
    """p kept eps away from 0 and 1 (eps of its dtype) before a log, as PyTorch's clamp_probs."""
    eps = float(np.finfo(np.float64 if p.dtype.name == "float64" else np.float32).eps)
    return p.clamp(min=eps, max=1 - eps)


def _softplus(x):  # log(1 + exp(x)) = -log sigmoid(-x): finite everywhere, its gradient sigmoid(x) at 0 too
    return -logsigmoid(-x)


class Categorical(Distribution):
    """Over the last dim of probs (normalised to sum 1) or logits (normalised by logsumexp)."""

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Categorical: either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            probs = _param(probs)
            self.probs = probs / probs.sum(-1, keepdim=True)
            self.logits = _clamp_probs(self.probs).log()
        else:
            logits = _param(logits)
            self.logits = logits - logits.logsumexp(-1, keepdim=True)
            self.probs = self.logits.exp()
        self._num_events = self.probs.shape[-1]
        super().__init__(self.probs.shape[:-1])

    mean = property(lambda self: Tensor.full(self.batch_shape, float("nan"), dtype=self.probs.dtype,
                                             backend=self.probs.backend))
    variance = stddev = mean  # undefined for categories, nan as PyTorch's
    mode = property(lambda self: self.probs.argmax(-1))

    def _draw(self, sample_shape):
        """Inverse-CDF draws on the host: int64 category indices of shape sample_shape + batch_shape."""
        p = self.probs.detach().numpy().astype(np.float64).reshape(-1, self._num_events)
        u = rng_for(None, None).random((int(np.prod(sample_shape, dtype=np.int64)), len(p)))
        cdf = np.cumsum(p, -1)
        cdf /= cdf[:, -1:]
        picks = np.minimum((u[..., None] > cdf[None]).sum(-1), self._num_events - 1)
        return Tensor(picks.reshape(tuple(sample_shape) + self.batch_shape), backend=self.probs.backend)

    def log_prob(self, value):
        value = value if isinstance(value, Tensor) else Tensor(value, backend=self.logits.backend)
        logits, index = self.logits, value.long()
        shape = np.broadcast_shapes(index.shape, self.batch_shape)
        logits = logits.expand(*shape, self._num_events)
        return logits.gather(-1, index.expand(*shape).unsqueeze(-1)).squeeze(-1)

    def entropy(self):
        return -(self.probs * self.logits).sum(-1)


def kl_divergence(p, q):
    """KL(p || q) for two distributions of one kind (Normal, Bernoulli, Categorical, Uniform)."""
    if type(p) is not type(q):
        raise NotImplementedError(f"kl_divergence({type(p).__name__}, {type(q).__name__}): only two of one kind")
    if isinstance(p, Normal):
        ratio = (p.scale / q.scale) ** 2
        return 0.5 * (ratio + ((p.loc - q.loc) / q.scale) ** 2 - 1 - ratio.log())
    if isinstance(p, Categorical):  # inf where q gives 0 to a category p does not (PyTorch sets it so)
        terms = p.probs * (p.logits - q.logits)
        terms = where((q.probs == 0).logical_and(p.probs > 0), float("inf"), where(p.probs == 0, 0.0, terms))
        return terms.sum(-1)
    if isinstance(p, Bernoulli):
        kl = p.probs * (_softplus(-q.logits) - _softplus(-p.logits)) + \
            (1 - p.probs) * (_softplus(q.logits) - _softplus(p.logits))
        impossible = (q.probs == 0).logical_and(p.probs > 0).logical_or((q.probs == 1).logical_and(p.probs < 1))
        return where(impossible, float("inf"), kl)
    if isinstance(p, Uniform):
        inside = (q.low <= p.low).logical_and(p.high <= q.high)
        return where(inside, ((q.high - q.low) / (p.high - p.low)).log(), float("inf"))
    raise NotImplementedError(f"kl_divergence of {type(p).__name__} is not supported")
