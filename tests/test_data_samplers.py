"""tinygrad_nm.utils.data's samplers, IterableDataset and ChainDataset: against PyTorch where the result is
deterministic (orders, batches, lengths, error messages), statistically where it is random (our draws
are NumPy's, not PyTorch's numbers)."""
import re

import numpy as np
import pytest

import tinygrad_nm as tnm
from tinygrad_nm import Tensor
from tinygrad_nm.utils import data as D

torch = pytest.importorskip("torch")
T = torch.utils.data


def both(fn):
    """fn(module) for our module and PyTorch's."""
    return fn(D), fn(T)


def tolists(batches):
    return [b.tolist() if hasattr(b, "tolist") else b for b in batches]


# --- deterministic: against PyTorch ------------------------------------------------------------------------------
def test_sequential_sampler_and_lengths_as_torch():
    ours, theirs = both(lambda M: M.SequentialSampler(range(7)))
    assert list(ours) == list(theirs) == list(range(7)) and len(ours) == len(theirs) == 7
    for make in (lambda M: M.RandomSampler(range(7)), lambda M: M.RandomSampler(range(7), True, 20),
                 lambda M: M.RandomSampler(range(7), num_samples=10),
                 lambda M: M.SubsetRandomSampler([4, 1, 9]),
                 lambda M: M.WeightedRandomSampler([0.5, 1.0, 2.0], 11),
                 lambda M: M.WeightedRandomSampler([0.5, 1.0, 2.0], 2, replacement=False)):
        ours, theirs = both(make)
        assert len(ours) == len(theirs) == len(list(ours)) == len(list(theirs))


@pytest.mark.parametrize("n,batch_size", [(10, 3), (9, 3), (2, 5), (0, 2)])
@pytest.mark.parametrize("drop_last", [False, True])
def test_batch_sampler_as_torch(n, batch_size, drop_last):
    ours, theirs = both(lambda M: M.BatchSampler(M.SequentialSampler(range(n)), batch_size, drop_last))
    assert list(ours) == list(theirs) and len(ours) == len(theirs) == len(list(ours))
    plain = both(lambda M: M.BatchSampler(range(n), batch_size, drop_last))  # any iterable of indices
    assert list(plain[0]) == list(plain[1])


BAD = [
    lambda M: M.RandomSampler(range(3), replacement=1),
    lambda M: M.RandomSampler(range(3), num_samples=0),
    lambda M: M.RandomSampler(range(3), num_samples=2.0),
    lambda M: M.RandomSampler([]),
    lambda M: M.WeightedRandomSampler([1.0, 2.0], 0),
    lambda M: M.WeightedRandomSampler([1.0, 2.0], True),
    lambda M: M.WeightedRandomSampler([1.0, 2.0], 2, replacement=0),
    lambda M: M.WeightedRandomSampler([[1.0, 2.0]], 2),
    lambda M: list(M.WeightedRandomSampler([1.0, 2.0], 3, replacement=False)),
    lambda M: list(M.WeightedRandomSampler([-1.0, 2.0], 3)),
    lambda M: list(M.WeightedRandomSampler([0.0, 0.0], 3)),
    lambda M: list(M.WeightedRandomSampler([1.0, float("inf")], 3)),
    lambda M: M.BatchSampler(range(3), 0, False),
    lambda M: M.BatchSampler(range(3), "2", False),
    lambda M: M.BatchSampler(range(3), 2, 1),
    lambda M: M.DataLoader(range(3), batch_size=0),
    lambda M: M.DataLoader(range(3), batch_size=None, drop_last=True),
    lambda M: M.DataLoader(range(3), sampler=M.SequentialSampler(range(3)), shuffle=True),
    lambda M: M.DataLoader(range(3), batch_sampler=M.BatchSampler(range(3), 2, False), batch_size=2),
    lambda M: M.DataLoader(range(3), prefetch_factor=2),
    lambda M: M.DataLoader(range(3), persistent_workers=True),
    lambda M: M.DataLoader(range(3), timeout=-1),
    lambda M: M.DataLoader(Stream(3), shuffle=True),
    lambda M: M.DataLoader(Stream(3), sampler=[0, 1]),
    lambda M: M.DataLoader(Stream(3), batch_sampler=[[0, 1]]),
    lambda M: M.DataLoader(Unsized(), batch_size=2).__len__(),
    lambda M: list(M.ChainDataset([Stream(2), M.TensorDataset(torch_or_tnm(M).arange(3))])),
    lambda M: M.ConcatDataset([M.TensorDataset(torch_or_tnm(M).arange(3)), Stream(2)]),
]


def torch_or_tnm(M):
    return torch if M is T else tnm


@pytest.mark.parametrize("i", range(len(BAD)))
def test_bad_arguments_raise_as_torch(i):
    errors = []
    for M in (T, D):
        with pytest.raises(Exception) as info:
            BAD[i](M)
        errors.append(info.value)
    theirs, ours = errors
    assert type(ours) is type(theirs)
    assert re.sub(r" at 0x[0-9a-f]+", "", str(ours)) == re.sub(r" at 0x[0-9a-f]+", "", str(theirs))


def test_data_loader_attributes_are_fixed_after_init():
    loader = D.DataLoader(range(4), batch_size=2)
    assert isinstance(loader.sampler, D.SequentialSampler) and isinstance(loader.batch_sampler, D.BatchSampler)
    assert loader.batch_sampler.batch_size == 2 and loader.batch_size == 2
    with pytest.raises(ValueError, match="batch_size attribute should not be set after DataLoader is initialized"):
        loader.batch_size = 3


# --- data loaders over samplers ------------------------------------------------------------------------------------
def test_loader_with_sampler_and_batch_sampler(backend):
    x = np.arange(24.0).reshape(12, 2)
    ds = D.TensorDataset(Tensor(x), Tensor(np.arange(12)))
    loader = D.DataLoader(ds, batch_size=4, sampler=D.SubsetRandomSampler([0, 2, 4, 6, 8, 10], generator=0))
    seen = [b[1].tolist() for b in loader]
    assert [len(s) for s in seen] == [4, 2] and sorted(sum(seen, [])) == [0, 2, 4, 6, 8, 10] and len(loader) == 2
    order = [[11, 0, 5], [3], [7, 7]]
    loader = D.DataLoader(ds, batch_sampler=order)  # any iterable of index lists
    assert [b[1].tolist() for b in loader] == order and len(loader) == 3 and loader.batch_size is None
    for xb, yb in D.DataLoader(ds, batch_sampler=D.BatchSampler(D.RandomSampler(ds, generator=1), 5, True)):
        assert xb.shape == (5, 2) and xb.backend == backend
        np.testing.assert_array_equal(xb.numpy(), x[yb.numpy()])


def test_loader_without_batching_converts_as_torch():
    samples = [{"x": np.array([1.0, 2.0]), "n": 3, "s": "a"}, (np.int64(4), [np.float32(0.5)])]
    ours, theirs = both(lambda M: list(M.DataLoader(samples, batch_size=None)))
    assert tnm.is_tensor(ours[0]["x"]) and ours[0]["n"] == theirs[0]["n"] == 3 and ours[0]["s"] == "a"
    assert ours[0]["x"].tolist() == theirs[0]["x"].tolist() and str(ours[0]["x"].dtype) == "float64"
    assert type(ours[1]) is type(theirs[1]) is list and ours[1][0].item() == 4 and ours[1][1][0].item() == 0.5
    assert both(lambda M: list(M.DataLoader(range(3), batch_size=None))) == ([0, 1, 2], [0, 1, 2])


# --- iterable data sets --------------------------------------------------------------------------------------------
class Stream(D.IterableDataset, T.IterableDataset):
    """range(n) as a stream with a length (both libraries' IterableDataset, so one class serves both)."""

    def __init__(self, n, start=0):
        self.n, self.start = n, start

    def __iter__(self):
        return iter(range(self.start, self.start + self.n))

    def __len__(self):
        return self.n


class Unsized(D.IterableDataset, T.IterableDataset):
    def __iter__(self):
        yield from ({"a": i, "b": [i, 2.0 * i]} for i in range(5))


def columns(batch):
    """A collated dict batch as plain lists, whichever library made it."""
    return {k: tolists(v) if isinstance(v, list) else v.tolist() for k, v in batch.items()}


@pytest.mark.parametrize("batch_size", [1, 2, 3, None])
@pytest.mark.parametrize("drop_last", [False, True])
def test_loader_over_iterable_dataset_as_torch(backend, batch_size, drop_last):
    if batch_size is None and drop_last:
        return
    ours, theirs = both(lambda M: M.DataLoader(Stream(7), batch_size=batch_size, drop_last=drop_last, num_workers=0))
    assert tolists(ours) == tolists(theirs) and len(ours) == len(theirs)
    assert tolists(ours) == tolists(ours)  # a new pass over the stream each epoch
    ours, theirs = both(lambda M: M.DataLoader(Unsized(), batch_size=batch_size, drop_last=drop_last))
    assert [columns(b) if batch_size else b for b in ours] == [columns(b) if batch_size else b for b in theirs]
    with pytest.raises(TypeError, match="has no len"):
        len(ours)


def test_iterable_dataset_workers_chain_and_add():
    assert D.get_worker_info() is None  # batches are made in this process
    loader = D.DataLoader(Stream(5), batch_size=2, num_workers=2)
    assert tolists(loader) == [[0, 1], [2, 3], [4]]
    ours, theirs = both(lambda M: M.ChainDataset([Stream(2), Stream(3, start=10)]))
    assert list(ours) == list(theirs) == [0, 1, 10, 11, 12] and len(ours) == len(theirs) == 5
    chained = Stream(1) + Stream(2, start=5)
    assert isinstance(chained, D.ChainDataset) and list(chained) == [0, 5, 6]
    ds = D.TensorDataset(tnm.arange(3))
    joined = ds + ds
    assert isinstance(joined, D.ConcatDataset) and len(joined) == 6 and joined[4][0].item() == 1
    assert tolists(D.DataLoader(D.ChainDataset([Stream(3), Stream(2)]), batch_size=2)) == [[0, 1], [2, 0], [1]]


# --- random: statistics and seeding --------------------------------------------------------------------------------
def test_random_sampler_permutation_and_replacement():
    tnm.manual_seed(0)
    orders = [list(D.RandomSampler(range(50))) for _ in range(2)]
    assert sorted(orders[0]) == sorted(orders[1]) == list(range(50)) and orders[0] != orders[1]
    more = list(D.RandomSampler(range(10), num_samples=25))  # two permutations and half of a third
    assert [sorted(more[i:i + 10]) for i in (0, 10)] == [list(range(10))] * 2 and len(set(more[20:])) == 5
    drawn = np.array(list(D.RandomSampler(range(10), replacement=True, num_samples=5000)))
    assert drawn.min() == 0 and drawn.max() == 9 and len(drawn) == 5000
    assert np.abs(np.bincount(drawn) / 5000 - 0.1).max() < 0.03  # uniform


def test_subset_random_sampler_covers_exactly_the_subset():
    subset = [3, 17, 5, 40, 8]
    orders = [list(D.SubsetRandomSampler(subset, generator=np.random.default_rng(2))) for _ in range(2)]
    assert orders[0] == orders[1] and sorted(orders[0]) == sorted(subset)
    sampler = D.SubsetRandomSampler(subset)
    assert all(sorted(sampler) == sorted(subset) for _ in range(5))


@pytest.mark.parametrize("weights", [[1.0, 2.0, 3.0, 4.0], [0.0, 5.0, 0.0, 1.0, 4.0]])
def test_weighted_random_sampler_follows_the_weights(weights):
    n = 20000
    drawn = np.array(list(D.WeightedRandomSampler(Tensor(weights), n, generator=tnm.Generator().manual_seed(0))))
    expected = np.array(weights) / sum(weights)
    assert np.abs(np.bincount(drawn, minlength=len(weights)) / n - expected).max() < 0.015
    once = list(D.WeightedRandomSampler(weights, 2, replacement=False))
    assert len(set(once)) == 2 and all(weights[i] > 0 for i in once)
    drawn = list(D.WeightedRandomSampler([1.0, 0.0, 3.0], 3, replacement=False))
    assert sorted(drawn) == [0, 1, 2] and drawn[-1] == 1  # the zero weights once the others run out, as torch
    assert D.WeightedRandomSampler([1, 2], 3).weights.dtype == "float64"


def test_seeded_generators_give_reproducible_orders():
    def orders(generator):
        return [list(D.RandomSampler(range(30), generator=generator)),
                list(D.WeightedRandomSampler(np.arange(1.0, 31.0), 30, generator=generator)),
                list(D.SubsetRandomSampler(list(range(0, 60, 2)), generator=generator))]
    assert orders(tnm.Generator().manual_seed(5)) == orders(tnm.Generator().manual_seed(5))
    assert orders(np.random.default_rng(5)) == orders(np.random.default_rng(5))
    assert orders(tnm.Generator().manual_seed(5)) != orders(tnm.Generator().manual_seed(6))
    tnm.manual_seed(9)
    first = orders(None)
    tnm.manual_seed(9)
    assert orders(None) == first  # the global generator, read at each pass
    sampler = D.RandomSampler(range(30), generator=3)  # an int seed: reproducible, and a new order each epoch
    epochs, again = [list(sampler), list(sampler)], D.RandomSampler(range(30), generator=3)
    assert epochs == [list(again), list(again)] and epochs[0] != epochs[1]
    loaders = [D.DataLoader(range(30), batch_size=7, shuffle=True, generator=tnm.Generator().manual_seed(1))
               for _ in range(2)]
    assert tolists(loaders[0]) == tolists(loaders[1]) and isinstance(loaders[0].sampler, D.RandomSampler)
