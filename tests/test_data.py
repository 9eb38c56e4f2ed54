"""tinygrad_nm.data: rectangles, digits, the split, MNIST IDX files and the DataLoader."""
import gzip

import numpy as np
import pytest

from tinygrad_nm import data


# --- rectangles --------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [2, 7, 100])
def test_rectangles_shape_rounding_and_average_target(size):
    x, y = data.rectangles(50, size, seed=1)
    assert x.shape == (50, size * size) and y.shape == (50, 1)
    assert x.dtype == np.float32 and y.dtype == np.float32
    assert x.min() >= 0 and x.max() <= 1
    np.testing.assert_allclose(x * 10, np.round(x * 10), atol=1e-5)  # pixels rounded to 0.1
    np.testing.assert_allclose(y[:, 0], x.astype(np.float64).mean(axis=1), rtol=1e-6)


def test_rectangles_seeded():
    a, b, c = data.rectangles(5, 3, seed=4), data.rectangles(5, 3, seed=4), data.rectangles(5, 3, seed=5)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("size", [1, 101, 2.5])
def test_rectangles_size_out_of_range(size):
    with pytest.raises(ValueError, match="size must be an integer from 2 to 100"):
        data.rectangles(10, size)


# --- digits and the split -----------------------------------------------------------------------
def test_digits():
    pytest.importorskip("sklearn")
    x, y = data.digits()
    assert x.shape == (1797, 64) and y.shape == (1797,)
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert x.min() == 0 and x.max() == 1 and set(y.tolist()) == set(range(10))


def test_digits_equal_sklearns_load_digits(monkeypatch):
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits
    bunch = load_digits()
    x, y = data.digits()  # read from the CSV file inside the package
    np.testing.assert_array_equal(x, (bunch.data / 16).astype(np.float32))
    np.testing.assert_array_equal(y, bunch.target)
    monkeypatch.setattr(data.os.path, "isfile", lambda path: False)  # the file moved: load_digits
    x2, y2 = data.digits()
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(y2, y)


def test_digits_without_sklearn_names_the_package(monkeypatch):
    monkeypatch.setattr(data.importlib.util, "find_spec", lambda name: None)  # as if not installed
    with pytest.raises(ImportError, match=r"scikit-learn, which is not installed: pip install 'tinygrad_nm\[digits\]'"):
        data.digits()


@pytest.mark.parametrize("stratify", [False, True])
def test_split_is_a_seeded_partition(stratify):
    x = np.arange(100).reshape(100, 1)
    y = np.arange(100) % 4
    xtr, ytr, xte, yte = data.split(x, y, 0.2, seed=3, stratify=stratify)
    assert len(xte) == 20 and len(xtr) == 80
    assert sorted(np.concatenate([xtr, xte])[:, 0].tolist()) == list(range(100))
    np.testing.assert_array_equal(ytr, xtr[:, 0] % 4)  # rows stay paired with their labels
    again = data.split(x, y, 0.2, seed=3, stratify=stratify)
    np.testing.assert_array_equal(again[2], xte)
    if stratify:
        assert np.bincount(yte).tolist() == [5, 5, 5, 5]


def test_split_errors():
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        data.split(np.zeros((4, 1)), np.zeros(4), 1.0)
    with pytest.raises(ValueError, match="x has 4 rows but y has 3"):
        data.split(np.zeros((4, 1)), np.zeros(3))


# --- MNIST IDX -----------------------------------------------------------------------------------
def idx_bytes(array, type_code=0x08):
    array = np.asarray(array)
    header = bytes([0, 0, type_code, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return header + array.astype({0x08: ">u1", 0x0D: ">f4"}[type_code]).tobytes()


def write_mnist(directory, n_train=6, n_test=3, gz=False, seed=0):
    """Four tiny MNIST-format files (28x28 images) in `directory`; returns the arrays written."""
    rng = np.random.default_rng(seed)
    written = {}
    for part, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        for name, array in zip(data.MNIST_FILES[part], (images, labels)):
            raw = idx_bytes(array)
            path = directory / (name + (".gz" if gz else ""))
            path.write_bytes(gzip.compress(raw) if gz else raw)
        written[part] = (images, labels)
    return written


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reads_raw_and_gzipped_idx(tmp_path, gz):
    written = write_mnist(tmp_path, gz=gz)
    for part in ("train", "test"):
        x, y = data.mnist(str(tmp_path), part)
        images, labels = written[part]
        assert x.shape == (len(images), 784) and x.dtype == np.float32 and y.dtype == np.int64
        np.testing.assert_allclose(x, images.reshape(len(images), -1) / 255.0, rtol=1e-6)
        np.testing.assert_array_equal(y, labels)


def test_read_idx_other_types_and_gzip_detected_by_content(tmp_path):
    values = np.array([[1.5, -2.0], [0.25, 8.0]], dtype=np.float32)
    path = tmp_path / "floats.idx"  # no .gz in the name, gzipped content
    path.write_bytes(gzip.compress(idx_bytes(values, 0x0D)))
    out = data.read_idx(str(path))
    np.testing.assert_array_equal(out, values)
    assert out.dtype == np.float32 and out.dtype.isnative


def test_mnist_missing_file_is_named(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match=r"'t10k-labels-idx1-ubyte' \(or t10k-labels-idx1-ubyte.gz\) "
                                                r"not found in .*downloads nothing"):
        data.mnist(str(tmp_path), "test")
    with pytest.raises(FileNotFoundError, match="MNIST directory .*nowhere' does not exist"):
        data.mnist(str(tmp_path / "nowhere"))


def test_damaged_idx_files_are_refused_with_their_name(tmp_path):
    write_mnist(tmp_path)
    images = tmp_path / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte: the header promises shape \(6, 28, 28\).*truncated"):
        data.mnist(str(tmp_path))
    images.write_bytes(b"PK\x03\x04 not an idx file")
    with pytest.raises(ValueError, match="train-images-idx3-ubyte: not an IDX file"):
        data.mnist(str(tmp_path))
    images.write_bytes(gzip.compress(b"\x00\x00\x08\x03" * 10)[:-8])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte: a damaged or truncated gzip file"):
        data.mnist(str(tmp_path))


def test_mnist_images_and_labels_must_agree(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(5, np.uint8)))
    with pytest.raises(ValueError, match=r"expected images \(n, rows, cols\) and labels \(n,\), got \(6, 28, 28\) and \(5,\)"):
        data.mnist(str(tmp_path))


# --- DataLoader ----------------------------------------------------------------------------------
def test_loader_covers_every_sample_once_per_epoch_as_tensors(backend):
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    y = np.arange(10)
    loader = data.DataLoader(x, y, batch_size=4, seed=1)
    assert len(loader) == 3
    batches = list(loader)
    assert [len(xb) for xb, _ in batches] == [4, 4, 2]
    xs = np.concatenate([xb.numpy()[:, 0] for xb, _ in batches])
    ys = np.concatenate([yb.numpy() for _, yb in batches])
    assert sorted(xs.tolist()) == list(range(10)) and xs.tolist() != list(range(10))
    np.testing.assert_array_equal(xs, ys)  # pairs stay together
    xb, yb = batches[0]
    assert xb.backend == backend and xb.dtype == "float32" and yb.dtype == "int64" and not xb.requires_grad


def test_loader_order_depends_only_on_seed_and_epoch():
    x, y = np.zeros((20, 1)), np.arange(20)
    a = data.DataLoader(x, y, 5, seed=7)
    orders = [np.concatenate([yb.numpy() for _, yb in a]) for _ in range(3)]  # epochs 0, 1, 2
    assert a.epoch == 3
    assert not np.array_equal(orders[0], orders[1])
    b = data.DataLoader(x, y, 5, seed=7)
    b.epoch = 2  # resuming at epoch 2 replays epoch 2's order, whatever happened before
    np.testing.assert_array_equal(np.concatenate([yb.numpy() for _, yb in b]), orders[2])
    np.testing.assert_array_equal(b.order(1), orders[1])
    c = data.DataLoader(x, y, 5, seed=8)
    assert not np.array_equal(c.order(0), orders[0])
    np.testing.assert_array_equal(data.DataLoader(x, y, 5, shuffle=False).order(3), np.arange(20))


def test_loader_drop_last_and_errors():
    x, y = np.zeros((10, 1)), np.zeros(10)
    assert len(data.DataLoader(x, y, 4, drop_last=True)) == 2
    assert [len(xb) for xb, _ in data.DataLoader(x, y, 4, drop_last=True)] == [4, 4]
    with pytest.raises(ValueError, match="x has 10 rows but y has 9"):
        data.DataLoader(x, y[:9], 4)
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        data.DataLoader(x, y, 0)
    with pytest.raises(ValueError, match="seed must be a non-negative integer or None, got -1"):
        data.DataLoader(x, y, 2, seed=-1)
    with pytest.raises(ValueError, match="batch_size 11 with drop_last leaves no batch"):
        data.DataLoader(x, y, 11, drop_last=True)
    unseeded = data.DataLoader(x, y, 3, seed=None)
    np.testing.assert_array_equal(unseeded.order(0), unseeded.order(0))  # one seed, drawn once
