"""Data sets and loaders, PyTorch's torch.utils.data: Dataset, TensorDataset, Subset, ConcatDataset, random_split,
IterableDataset, ChainDataset, DataLoader, default_collate and default_convert; the samplers live in
samplers.py and are imported here.

    ds = TensorDataset(Tensor(x), Tensor(y))
    train, test = random_split(ds, [0.8, 0.2], generator=np.random.default_rng(0))
    for xb, yb in DataLoader(train, batch_size=32, shuffle=True, generator=np.random.default_rng(1)):
        ...

Shuffling draws a new order every epoch from `generator` (a tnm.Generator, a NumPy Generator, or an int
seed), or from tnm.manual_seed's generator when none is given. (tinygrad_nm.data.DataLoader, the
array-based loader that `tinygrad-nm train` uses, replays an epoch from its number instead.)
"""
import bisect
import itertools
import math
import numbers

import numpy as np

from tinygrad_nm.tensor import Tensor
from tinygrad_nm.utils import samplers
from tinygrad_nm.utils.samplers import (BatchSampler, RandomSampler, Sampler, SequentialSampler,  # noqa: F401
                                        SubsetRandomSampler, WeightedRandomSampler, generator_rng)


class Dataset:
    """A map-style data set: subclasses define __getitem__(index) and __len__ (no default __len__, as
    PyTorch: len() of one without it raises TypeError, and an IterableDataset may have none)."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A stream of samples: subclasses define __iter__ (and __len__ only if they know it). The DataLoader
    batches it in order; no sampler or shuffle applies."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __add__(self, other):
        return ChainDataset([self, other])


class ChainDataset(IterableDataset):
    """Several IterableDatasets, one after another, chained as they are iterated."""

    def __init__(self, datasets):
        self.datasets = datasets

    def __iter__(self):
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError("ChainDataset only supports IterableDataset")
            yield from d

    def __len__(self):
        total = 0
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError("ChainDataset only supports IterableDataset")
            total += len(d)
        return total


def get_worker_info():
    """None: batches are made in this process, never in worker processes (even with num_workers > 0),
    so an IterableDataset that splits its stream by worker yields the whole stream once."""
    return None


class TensorDataset(Dataset):
    """Samples are tuples of the tensors' rows: ds[i] = (t0[i], t1[i], ...)."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        sizes = [t.shape[0] if t.ndim else None for t in tensors]
        if None in sizes or len(set(sizes)) != 1:
            raise ValueError(f"Size mismatch between tensors: first dimensions {sizes}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The samples of `dataset` at `indices`, in that order."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, [int(i) for i in indices]

    def __getitem__(self, index):
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __len__(self):
        return len(self.indices)


class ConcatDataset(Dataset):
    """The samples of several data sets, one after another."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        if any(isinstance(d, IterableDataset) for d in self.datasets):
            raise AssertionError("ConcatDataset does not support IterableDataset")
        self.ends = list(itertools.accumulate(len(d) for d in self.datasets))

    def __getitem__(self, index):
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"ConcatDataset: index {index} out of range for {len(self)} samples")
        which = bisect.bisect_right(self.ends, index)
        return self.datasets[which][index - (self.ends[which - 1] if which else 0)]

    def __len__(self):
        return self.ends[-1]


def random_split(dataset, lengths, generator=None):
    """Disjoint random Subsets of the given lengths (counts summing to len(dataset), or fractions
    summing to 1, the remainder given out one by one from the first, as PyTorch)."""
    n = len(dataset)
    lengths = list(lengths)
    if lengths and math.isclose(sum(lengths), 1) and sum(lengths) <= 1 and all(0 <= f <= 1 for f in lengths) \
            and not all(isinstance(f, int) for f in lengths):
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n or any(not isinstance(k, (int, np.integer)) or k < 0 for k in lengths):
        raise ValueError(f"Sum of input lengths {sum(lengths)} does not equal the length of the input dataset ({n}) "
                         f"(or a length is not a non-negative integer: {lengths})")
    order = generator_rng(generator).permutation(n)
    out, start = [], 0
    for k in lengths:
        out.append(Subset(dataset, order[start:start + k].tolist()))
        start += k
    return out


def default_collate(batch):
    """Stack a list of samples into a batch, as PyTorch's: Tensors, NumPy arrays and numbers
    become one Tensor with a new first dimension (Python floats as float64, ints as int64);
    dicts, tuples and lists are collated entry by entry; strings stay a list."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        for t in batch:
            if not isinstance(t, Tensor) or t.shape != elem.shape or t.backend != elem.backend:
                raise ValueError(f"default_collate: stack expects each tensor to be equal size and on one backend, "
                                 f"got {elem.shape} on {elem.backend} and "
                                 f"{getattr(t, 'shape', type(t).__name__)} on {getattr(t, 'backend', '?')}")
        return Tensor(np.stack([t.detach().numpy() for t in batch]), dtype=elem.dtype, backend=elem.backend)
    if isinstance(elem, (np.ndarray, np.generic)):
        if elem.dtype.kind not in "fiub":
            raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
                            f"found a NumPy array of {elem.dtype}")
        return Tensor(np.stack([np.asarray(b) for b in batch]))
    if isinstance(elem, bool):
        return Tensor(np.array(batch, dtype=bool))
    if isinstance(elem, numbers.Integral):
        return Tensor(np.array(batch, dtype=np.int64))
    if isinstance(elem, numbers.Real):
        return Tensor(np.array(batch, dtype=np.float64))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, dict):
        return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, (tuple, list)):
        if any(len(s) != len(elem) for s in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        columns = [default_collate(list(samples)) for samples in zip(*batch)]
        return columns if isinstance(elem, (tuple, list)) and type(elem) in (tuple, list) else type(elem)(*columns)
    raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
                    f"found {type(elem).__name__}")


def default_convert(data):
    """One sample as a DataLoader without batching (batch_size=None) yields it, as PyTorch's: NumPy
    arrays and scalars of numbers become Tensors, inside dicts, tuples and lists too; the rest stays."""
    if isinstance(data, (np.ndarray, np.generic)):
        return Tensor(np.asarray(data)) if data.dtype.kind in "fiub" else data
    if isinstance(data, dict):
        return type(data)({key: default_convert(value) for key, value in data.items()})
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # a namedtuple
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, (tuple, list)):  # a tuple becomes a list, as PyTorch's
        return [default_convert(d) for d in data]
    return data


class _InfiniteConstantSampler(Sampler):
    """An IterableDataset loader's sampler, as PyTorch's: None forever (the stream sets the order)."""

    def __iter__(self):
        return itertools.repeat(None)


class DataLoader:
    """Batches from a Dataset: for a map-style one, the indices of `sampler` (in order, or a new random
    order each epoch with shuffle) grouped by `batch_sampler` (batch_size at a time, the last batch
    smaller unless drop_last); for an IterableDataset, its samples in order, batch_size at a time.
    Samples are combined by collate_fn. Arguments are checked as PyTorch checks them."""

    _fixed = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers")

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device="", in_order=True):
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers option should be non-negative; use num_workers=0 to disable multiprocessing "
                             f"(got {num_workers!r})")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing.let num_workers > 0 "
                             "to enable multiprocessing, otherwise set prefetch_factor to None.")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        # num_workers > 0 is accepted: the same batches are made in this process (no worker processes, so
        # worker_init_fn is never called); pin_memory and the other worker options have nothing to do here
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            if shuffle not in {False, None}:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle option, "
                                 f"but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler option, "
                                 f"but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified batch_sampler option, "
                                 f"but got batch_sampler={batch_sampler}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                                 "and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")
        if sampler is None:
            sampler = _InfiniteConstantSampler() if self._iterable else \
                RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:  # checks batch_size (PyTorch's message)
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.dataset, self.batch_size, self.drop_last, self.generator = dataset, batch_size, drop_last, generator
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self.num_workers, self.pin_memory, self.timeout, self.worker_init_fn = num_workers, pin_memory, timeout, \
            worker_init_fn
        self.prefetch_factor, self.persistent_workers = prefetch_factor, persistent_workers
        batching = batch_sampler is not None
        self.collate_fn = collate_fn if collate_fn is not None else default_collate if batching else default_convert
        self._initialized = True

    def __setattr__(self, name, value):
        if name in self._fixed and self.__dict__.get("_initialized"):
            raise ValueError(f"{name} attribute should not be set after {type(self).__name__} is initialized")
        super().__setattr__(name, value)

    def __iter__(self):
        if self._iterable:
            yield from self._stream()
        elif self.batch_sampler is None:  # no batching: samples one by one
            for i in self.sampler:
                yield self.collate_fn(self.dataset[i])
        else:
            for batch in self.batch_sampler:
                yield self._fetch(batch)

    def _stream(self):
        samples = iter(self.dataset)
        if self.batch_size is None:
            yield from (self.collate_fn(sample) for sample in samples)
            return
        while batch := list(itertools.islice(samples, self.batch_size)):
            if self.drop_last and len(batch) < self.batch_size:
                return
            yield self.collate_fn(batch)

    def _fetch(self, batch):
        if isinstance(self.dataset, TensorDataset) and self.collate_fn is default_collate:
            # the same result as stacking the rows one by one, with one index op per tensor
            index = np.asarray(batch, dtype=np.int64)
            return [t.detach()[Tensor(index, backend=t.backend)] for t in self.dataset.tensors]
        return self.collate_fn([self.dataset[i] for i in batch])

    def __len__(self):
        if not self._iterable:
            return len(self.batch_sampler if self.batch_sampler is not None else self.sampler)
        n = len(self.dataset)  # TypeError when the IterableDataset has no __len__, as PyTorch
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)


sampler = samplers  # torch.utils.data.sampler.SubsetRandomSampler and the like
