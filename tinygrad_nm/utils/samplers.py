"""PyTorch's samplers (torch.utils.data.Sampler and its subclasses): the order in which a DataLoader
takes a map-style data set's indices, and BatchSampler, which groups them into batches.

    sampler = WeightedRandomSampler(class_weights[labels], num_samples=len(labels))
    loader = DataLoader(ds, batch_size=32, sampler=sampler)

Random orders are drawn on the host from `generator` (a tnm.Generator, a NumPy Generator, or an int
seed turned into one generator once) or, when it is None, from tnm.manual_seed's generator at the
start of each pass. The draws are NumPy's, not PyTorch's numbers; the semantics are PyTorch's.
"""
import itertools

import numpy as np

from tinygrad_nm.host import rng_for
from tinygrad_nm.tensor import Tensor


def generator_rng(generator):
    """The NumPy generator for a generator= argument; an int is a seed (a new generator each call)."""
    if _is_seed(generator):
        return np.random.default_rng(int(generator))
    return rng_for(None, generator)


def _is_seed(generator):
    return isinstance(generator, (int, np.integer)) and not isinstance(generator, bool)


class Sampler:
    """Base class: subclasses define __iter__ (indices, or lists of indices for a batch sampler) and
    usually __len__, which len(DataLoader) needs."""

    def __iter__(self):
        raise NotImplementedError


class _Drawing(Sampler):
    """A sampler that draws from `generator`: an int seed becomes one generator here, so that each
    pass still draws a new order (as DataLoader(shuffle=True, generator=int)); anything else is read
    at each pass, so that tnm.manual_seed or generator.manual_seed between passes is seen."""

    def _rng(self):
        if _is_seed(self.generator):
            if getattr(self, "_seeded", (None,))[0] != self.generator:
                self._seeded = (self.generator, generator_rng(self.generator))
            return self._seeded[1]
        return rng_for(None, self.generator)


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1, every pass."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(_Drawing):
    """A new random order each pass: permutations of the data set (as many, and a part of one more, as
    num_samples needs), or with replacement num_samples independent uniform draws."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source, self.replacement, self._num_samples, self.generator = \
            data_source, replacement, num_samples, generator
        if not isinstance(self.replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got replacement={self.replacement}")
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={self.num_samples}")

    @property
    def num_samples(self):
        """len(data_source) unless given: read at each pass, as the data set may grow."""
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n, rng = len(self.data_source), self._rng()
        if self.replacement:
            yield from rng.integers(0, n, self.num_samples).tolist()
            return
        for _ in range(self.num_samples // n):
            yield from rng.permutation(n).tolist()
        yield from rng.permutation(n).tolist()[:self.num_samples % n]

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(_Drawing):
    """The given indices in a new random order each pass (without replacement)."""

    def __init__(self, indices, generator=None):
        self.indices, self.generator = indices, generator

    def __iter__(self):
        for i in self._rng().permutation(len(self.indices)).tolist():
            yield self.indices[i]

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(_Drawing):
    """num_samples indices into `weights`, each drawn with probability proportional to its weight
    (with replacement by default; without, an index is drawn at most once)."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={num_samples}")
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement should be a boolean value, but got replacement={replacement}")
        values = weights.detach().numpy() if isinstance(weights, Tensor) else weights
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape {tuple(values.shape)}")
        self.weights = Tensor(values)  # float64, as PyTorch's (a double tensor)
        self.num_samples, self.replacement, self.generator = num_samples, replacement, generator

    def __iter__(self):
        w = self.weights.numpy()
        if not self.replacement and self.num_samples > len(w):  # PyTorch's checks and messages (torch.multinomial)
            raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
        if not np.isfinite(w).all():
            raise RuntimeError("invalid multinomial distribution (encountering probability entry = infinity or NaN)")
        if (w < 0).any():
            raise RuntimeError("invalid multinomial distribution (encountering probability entry < 0)")
        if w.sum() <= 0:
            raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
        yield from self.weights.multinomial(self.num_samples, self.replacement, generator=self._rng()).tolist()

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of batch_size indices from `sampler` (any iterable of indices); the last one shorter,
    or dropped when drop_last."""

    def __init__(self, sampler, batch_size, drop_last):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self):
        indices = iter(self.sampler)
        while batch := list(itertools.islice(indices, self.batch_size)):
            if self.drop_last and len(batch) < self.batch_size:
                return
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else (n + self.batch_size - 1) // self.batch_size
