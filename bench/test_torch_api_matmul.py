"""The PyTorch-spelled products and joins against NumPy on the numpy backend (issue 13), each
figure a ratio taken in one run:

- batched matmul (B, 16, 16) @ (B, 16, 16), `cat` of two halves and `where` at 1K to 4M output
  elements, each beside the same NumPy call (np.matmul, np.concatenate, np.where): the goal is
  within 2x of NumPy;
- per-op overhead on tiny tensors: matmul, batched matmul, cat, where and einsum beside `add`
  (forward only, no gradient recorded).

Each group runs its reference first; the second test stores the ratio in extra_info and prints
it. --quick runs the smallest and a middle size only. Figures: bench/README.md, "PyTorch API:
batched matmul, cat, where".
"""
import numpy as np
import pytest

import tinygrad_nm as tnm
from tinygrad_nm import Tensor
from tinygrad_nm.settings import settings
from pairing import best as _best

QUICK = settings.bench_mode == "quick"
SIZES = [1 << 10, 1 << 16] if QUICK else [1 << 10, 1 << 14, 1 << 18, 1 << 22]  # output elements: 1K .. 4M
SIDE = 16  # the matrices of a batch: 16x16, so a batch of B has 256 B output elements
_reference = {}  # group -> the reference's best time


def _ratio(benchmark, label):
    ours, ref = _best(benchmark), _reference.get(benchmark.group)
    benchmark.extra_info.update(backend="numpy", seconds=ours)
    if ours and ref:
        benchmark.extra_info.update(reference_seconds=ref, slowdown_vs_reference=ours / ref)
        print(f"\n{benchmark.group}: {ours * 1e6:.1f} us vs {label} {ref * 1e6:.1f} us -> {ours / ref:.2f}x")


def _arrays(op, size):
    """The NumPy operands of one case: `size` output elements."""
    rng = np.random.default_rng(0)
    if op == "batched matmul":
        shape = (size // SIDE ** 2, SIDE, SIDE)
        return rng.standard_normal(shape, dtype=np.float32), rng.standard_normal(shape, dtype=np.float32)
    if op == "cat":
        half = (size // 2 // 64, 64)
        return rng.standard_normal(half, dtype=np.float32), rng.standard_normal(half, dtype=np.float32)
    return rng.standard_normal(size) > 0, rng.standard_normal(size, dtype=np.float32), \
        rng.standard_normal(size, dtype=np.float32)


NUMPY = {"batched matmul": np.matmul, "cat": lambda a, b: np.concatenate([a, b]), "where": np.where}
OURS = {"batched matmul": lambda a, b: a @ b, "cat": lambda a, b: tnm.cat([a, b]), "where": tnm.where}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("op", list(NUMPY))
def test_numpy_reference(benchmark, op, size):
    benchmark.group = f"{op}: {size} elements"
    arrays = _arrays(op, size)
    out = benchmark(NUMPY[op], *arrays)
    assert out.size == size
    _reference[benchmark.group] = _best(benchmark)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("op", list(OURS))
def test_numpy_backend(benchmark, op, size):
    benchmark.group = f"{op}: {size} elements"
    arrays = _arrays(op, size)
    tensors = [Tensor(a, backend="numpy") for a in arrays]
    out = benchmark(OURS[op], *tensors)
    np.testing.assert_allclose(out.numpy(), NUMPY[op](*arrays), rtol=1e-5, atol=1e-5)
    benchmark.extra_info["target"] = "within 2x of NumPy"
    _ratio(benchmark, "NumPy")


# --- per-op overhead on tiny tensors, beside add's ----------------------------------------------
def _tiny():
    a = Tensor([[1.0, 2.0], [3.0, 4.0]], backend="numpy")
    b = Tensor([[0.5, -1.0], [2.0, 0.25]], backend="numpy")
    a3, b3 = a.reshape(1, 2, 2).expand(2, 2, 2), b.reshape(1, 2, 2).expand(2, 2, 2)
    return a, b, a3, b3, a > b


TINY = {
    "matmul 2x2": lambda a, b, a3, b3, c: a @ b,
    "batched matmul 2x(2x2)": lambda a, b, a3, b3, c: a3 @ b3,
    "cat": lambda a, b, a3, b3, c: tnm.cat([a, b]),
    "where": lambda a, b, a3, b3, c: tnm.where(c, a, b),
    "einsum ij,jk->ik": lambda a, b, a3, b3, c: tnm.einsum("ij,jk->ik", a, b),
}
_OVERHEAD = "per-op overhead, 2x2 tensors, forward"


def test_overhead_add(benchmark):
    benchmark.group = _OVERHEAD
    a, b, *_ = _tiny()
    benchmark(lambda: a + b)
    _reference[_OVERHEAD] = _best(benchmark)


@pytest.mark.parametrize("op", list(TINY))
def test_overhead(benchmark, op):
    benchmark.group = _OVERHEAD
    args = _tiny()
    benchmark(TINY[op], *args)
    ours, add = _best(benchmark), _reference.get(_OVERHEAD)
    benchmark.extra_info.update(backend="numpy", seconds=ours)
    if ours and add:
        benchmark.extra_info.update(add_seconds=add, times_add=ours / add)
        print(f"\n{op}: {ours * 1e6:.2f} us, {ours / add:.1f}x add's {add * 1e6:.2f} us")
