"""Data sets and loaders, PyTorch's torch.utils.data: Dataset, TensorDataset, Subset, ConcatDataset, random_split,
DataLoader and default_collate.

    ds = TensorDataset(Tensor(x), Tensor(y))
    train, test = random_split(ds, [0.8, 0.2], generator=np.random.default_rng(0))
    for xb, yb in DataLoader(train, batch_size=32, shuffle=True, generator=np.random.default_rng(1)):
        ...

Shuffling draws a new order every epoch from `generator` (a NumPy Generator, or an int seed),
or from tnm.manual_seed's generator when none is given. (tinygrad_nm.data.DataLoader, the
array-based loader that `tinygrad-nm train` uses, replays an epoch from its number instead.)
"""
import bisect
import itertools
import math
import numbers

import numpy as np

from tinygrad_nm.host import rng_for
from tinygrad_nm.tensor import Tensor


class Dataset:
    """A map-style data set: subclasses define __getitem__(index) and __len__."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__")


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
    order = _generator(generator).permutation(n)
    out, start = [], 0
    for k in lengths:
        out.append(Subset(dataset, order[start:start + k].tolist()))
        start += k
    return out


def _generator(generator):
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator))
    return rng_for(None, generator)


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


class DataLoader:
    """Batches from a map-style Dataset: batch_size samples at a time (the last batch smaller
    unless drop_last), in order or shuffled each epoch, combined by collate_fn."""

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device="", in_order=True):
        if batch_size is not None and (not isinstance(batch_size, int) or isinstance(batch_size, bool)
                                       or batch_size < 1):
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size!r}")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None or drop_last):
            raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last")
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers option should be non-negative; use num_workers=0 to disable multiprocessing "
                             f"(got {num_workers!r})")
        # num_workers > 0 is accepted: the same batches are made in this process (no worker processes, so
        # worker_init_fn is never called); pin_memory and the other worker options have nothing to do here
        self.dataset, self.batch_size, self.shuffle, self.drop_last = dataset, batch_size, shuffle, drop_last
        self.sampler, self.batch_sampler, self.generator = sampler, batch_sampler, generator
        self.collate_fn = collate_fn if collate_fn is not None else default_collate
        self._rng = _generator(generator) if shuffle else None

    def _indices(self):
        if self.sampler is not None:
            return list(self.sampler)
        n = len(self.dataset)
        return self._rng.permutation(n).tolist() if self.shuffle else list(range(n))

    def _batches(self):
        if self.batch_sampler is not None:
            yield from self.batch_sampler
            return
        indices = self._indices()
        for start in range(0, len(indices), self.batch_size):
            batch = indices[start:start + self.batch_size]
            if len(batch) < self.batch_size and self.drop_last:
                return
            yield batch

    def __iter__(self):
        if self.batch_size is None and self.batch_sampler is None:  # no batching: samples one by one
            for i in self._indices():
                yield self.dataset[i]
            return
        for batch in self._batches():
            if isinstance(self.dataset, TensorDataset) and self.collate_fn is default_collate:
                # the same result as stacking the rows one by one, with one index op per tensor
                index = np.asarray(batch, dtype=np.int64)
                yield [t.detach()[Tensor(index, backend=t.backend)] for t in self.dataset.tensors]
            else:
                yield self.collate_fn([self.dataset[i] for i in batch])

    def __len__(self):
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
