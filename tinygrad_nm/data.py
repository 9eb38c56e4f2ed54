"""Data sets and a batch iterator. Data sets are host NumPy arrays; batches become Tensors.

- `rectangles(n, size)`: the walkthrough's random grayscale images and their average.
- `digits()`: scikit-learn's bundled 8x8 handwritten digits (the `digits` extra).
- `mnist(directory)`: the standard MNIST IDX files (raw or .gz) from a local directory.
- `DataLoader(x, y, batch_size, shuffle, seed)`: batches as Tensors, shuffled per epoch.

Nothing here downloads anything.
"""
import gzip
import importlib.util
import os

import numpy as np

from tinygrad_nm.tensor import Tensor


# --- the walkthrough's rectangles ------------------------------------------------------------
def rectangles(n=1000, size=2, seed=0):
    """`n` random size x size grayscale images, flattened to (n, size*size) float32 rows, each pixel
    rounded to 0.1 as in the walkthrough (1 = black); the target (n, 1) is each image's mean."""
    if not isinstance(size, int) or not 2 <= size <= 100:
        raise ValueError(f"rectangles: size must be an integer from 2 to 100, got {size!r}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"rectangles: n must be a positive integer, got {n!r}")
    rng = np.random.default_rng(seed)
    x = np.round(rng.random((n, size * size)), 1).astype(np.float32)
    return x, x.mean(axis=1, keepdims=True, dtype=np.float64).astype(np.float32)


# --- scikit-learn's digits -------------------------------------------------------------------
def digits():
    """The 1797 8x8 digits bundled with scikit-learn: x (1797, 64) float32 in [0, 1], y int64."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the digits data set comes with scikit-learn, which is not installed: "
                          "pip install 'tinygrad_nm[digits]' (or pip install scikit-learn)")
    # The digits are a CSV file inside scikit-learn's package. Reading it directly skips importing
    # sklearn and SciPy (over a second); load_digits is the fallback should the file ever move.
    path = os.path.join(spec.submodule_search_locations[0], "datasets", "data", "digits.csv.gz")
    if os.path.isfile(path):
        table = np.loadtxt(path, delimiter=",")
        pixels, labels = table[:, :-1], table[:, -1]
    else:
        from sklearn.datasets import load_digits
        bunch = load_digits()
        pixels, labels = bunch.data, bunch.target
    return (pixels / 16.0).astype(np.float32), labels.astype(np.int64)


def split(x, y, test_fraction=0.2, seed=0, stratify=False):
    """A shuffled hold-out split: (x_train, y_train, x_test, y_test), the test part `test_fraction`.
    With stratify (y holding class labels), each class is split in that proportion, so a small
    test set is not by chance short of some digit."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"split: test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    if len(x) != len(y):
        raise ValueError(f"split: x has {len(x)} rows but y has {len(y)}")
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(y == c) for c in np.unique(y)] if stratify else [np.arange(len(x))]
    test, train = [], []
    for members in groups:
        members = rng.permutation(members)
        n_test = max(1, int(round(len(members) * test_fraction)))
        test.append(members[:n_test])
        train.append(members[n_test:])
    test, train = rng.permutation(np.concatenate(test)), rng.permutation(np.concatenate(train))
    return x[train], y[train], x[test], y[test]


# --- MNIST IDX files -------------------------------------------------------------------------
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# IDX type byte -> big-endian NumPy dtype
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """Read one IDX file (raw, or gzipped: detected from its first bytes, not its name)."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise ValueError(f"{path}: a damaged or truncated gzip file ({e})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"{path}: not an IDX file (it should start with two zero bytes and a type code)")
    dtype, ndim = np.dtype(_IDX_TYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(f"{path}: the header promises shape {shape} ({expected} bytes of data) but the file "
                         f"holds {len(raw) - header} bytes: truncated or damaged")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _find(directory, name):
    for candidate in (name, name + ".gz"):
        path = os.path.join(directory, candidate)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"MNIST file {name!r} (or {name}.gz) not found in {directory!r}. tinygrad_nm downloads nothing: "
        f"put the four standard IDX files ({', '.join(n for pair in MNIST_FILES.values() for n in pair)}, "
        f"raw or .gz) in that directory")


def mnist(directory, part="train"):
    """MNIST images as (n, 784) float32 in [0, 1] and labels as int64, from `directory`."""
    if part not in MNIST_FILES:
        raise ValueError(f"mnist: part must be 'train' or 'test', got {part!r}")
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"MNIST directory {directory!r} does not exist")
    image_path, label_path = (_find(directory, name) for name in MNIST_FILES[part])
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{image_path} and {label_path}: expected images (n, rows, cols) and labels (n,), "
                         f"got {images.shape} and {labels.shape}")
    return (images.reshape(len(images), -1) / 255.0).astype(np.float32), labels.astype(np.int64)


# --- batches ---------------------------------------------------------------------------------
class DataLoader:
    """Mini-batches of (x, y) as Tensors. Iterating once is one epoch.

    With shuffle, epoch e's order comes from a generator seeded with (seed, e), never from state
    carried between epochs, so a run resumed at epoch e sees exactly the batches an uninterrupted
    run would. `epoch` counts the epochs started; set it to resume."""

    def __init__(self, x, y, batch_size, shuffle=True, seed=0, drop_last=False, backend=None):
        x, y = np.asarray(x), np.asarray(y)
        if len(x) != len(y):
            raise ValueError(f"DataLoader: x has {len(x)} rows but y has {len(y)}")
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        if drop_last and batch_size > len(x):
            raise ValueError(f"DataLoader: batch_size {batch_size} with drop_last leaves no batch "
                             f"from {len(x)} samples")
        if seed is None:  # a fresh seed, fixed from now on: epochs still replay from it
            seed = int(np.random.SeedSequence().entropy % 2 ** 63)
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"DataLoader: seed must be a non-negative integer or None, got {seed!r}")
        self.x, self.y, self.batch_size = x, y, batch_size
        self.shuffle, self.seed, self.drop_last, self.backend = shuffle, seed, drop_last, backend
        self.epoch = 0

    def __len__(self):
        full, rest = divmod(len(self.x), self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def order(self, epoch):
        """The sample order of `epoch` (0-based)."""
        if not self.shuffle:
            return np.arange(len(self.x))
        return np.random.default_rng((self.seed, epoch)).permutation(len(self.x))

    def __iter__(self):
        order = self.order(self.epoch)
        self.epoch += 1
        for i in range(len(self)):
            idx = order[i * self.batch_size:(i + 1) * self.batch_size]
            yield Tensor(self.x[idx], backend=self.backend), Tensor(self.y[idx], backend=self.backend)
