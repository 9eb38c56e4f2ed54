"""tinygrad_nm.utils.data: Dataset, TensorDataset, Subset, random_split, DataLoader, default_collate."""
import numpy as np
import pytest

from tinygrad_nm import Tensor
from tinygrad_nm.utils.data import DataLoader, Dataset, Subset, TensorDataset, default_collate, random_split


def test_tensor_dataset_loader_batches_shuffles_and_drops(backend):
    x, y = np.arange(20.0).reshape(10, 2), np.arange(10)
    ds = TensorDataset(Tensor(x), Tensor(y))
    assert len(ds) == 10 and [t.tolist() for t in ds[3]] == [[6.0, 7.0], 3]
    batches = list(DataLoader(ds, batch_size=4))
    assert [len(b[1]) for b in batches] == [4, 4, 2] and batches[0][1].tolist() == [0, 1, 2, 3]
    assert batches[0][0].backend == backend and batches[0][0].dtype == "float64"  # NumPy arrays keep their dtype
    assert [len(b[1]) for b in DataLoader(ds, batch_size=4, drop_last=True)] == [4, 4]
    assert len(DataLoader(ds, batch_size=4)) == 3 and len(DataLoader(ds, batch_size=4, drop_last=True)) == 2
    loader = DataLoader(ds, batch_size=3, shuffle=True, generator=np.random.default_rng(0))
    epoch1 = np.concatenate([b[1].numpy() for b in loader])
    epoch2 = np.concatenate([b[1].numpy() for b in loader])
    assert sorted(epoch1) == list(range(10)) and not np.array_equal(epoch1, epoch2)  # a new order each epoch
    again = DataLoader(ds, batch_size=3, shuffle=True, generator=np.random.default_rng(0))
    assert np.array_equal(np.concatenate([b[1].numpy() for b in again]), epoch1)  # seeded: reproducible
    for xb, yb in DataLoader(ds, batch_size=3, shuffle=True, generator=1):
        np.testing.assert_array_equal(xb.numpy(), x[yb.numpy()])  # rows stay paired


def test_default_collate_as_torch():
    pytest.importorskip("torch")
    from torch.utils.data import default_collate as tcollate
    samples = [{"x": np.array([1.0, 2.0], dtype=np.float32), "y": 1, "w": 0.5, "name": "a", "pair": (1, 2.0)},
               {"x": np.array([3.0, 4.0], dtype=np.float32), "y": 0, "w": 1.5, "name": "b", "pair": (3, 4.0)}]
    ours, theirs = default_collate(samples), tcollate(samples)
    assert ours["name"] == theirs["name"] == ["a", "b"]
    for key in ("x", "y", "w"):
        np.testing.assert_array_equal(ours[key].numpy(), theirs[key].numpy())
        assert str(ours[key].dtype) == str(theirs[key].dtype).replace("torch.", "")
    assert [t.tolist() for t in ours["pair"]] == [t.tolist() for t in theirs["pair"]]
    stacked = default_collate([Tensor([1, 2]), Tensor([3, 4])])
    assert stacked.shape == (2, 2) and stacked.dtype == "int64"
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        default_collate([(1, 2), (3,)])
    with pytest.raises(ValueError, match="equal size"):
        default_collate([Tensor([1.0]), Tensor([1.0, 2.0])])


class Squares(Dataset):
    def __len__(self):
        return 7

    def __getitem__(self, i):
        return {"i": i, "sq": np.array([i * i], dtype=np.int64)}


def test_custom_dataset_subset_random_split_and_collate_fn(backend):
    ds = Squares()
    train, test = random_split(ds, [5, 2], generator=np.random.default_rng(0))
    assert len(train) == 5 and len(test) == 2
    assert sorted(train.indices + test.indices) == list(range(7))
    a, b, c = random_split(ds, [0.5, 0.3, 0.2], generator=0)
    assert [len(a), len(b), len(c)] == [4, 2, 1]  # floor counts, the remainder from the first
    batch = next(iter(DataLoader(Subset(ds, [3, 1]), batch_size=2)))
    assert batch["i"].tolist() == [3, 1] and batch["sq"].tolist() == [[9], [1]]
    firsts = [b for b in DataLoader(ds, batch_size=3, collate_fn=lambda items: [it["i"] for it in items])]
    assert firsts == [[0, 1, 2], [3, 4, 5], [6]]
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(ds, [3, 3])
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(ValueError, match="Size mismatch between tensors"):
        TensorDataset(Tensor([1, 2]), Tensor([1]))
