"""The PyTorch-spelled ops of issue 13 on the numpy backend, each beside the same op in NumPy in the
same run, at sizes from 1K to 4M elements (--quick: 1K and 64K).

Indexing (tinygrad_nm/indexing.py): `x.gather(1, index)` against np.take_along_axis, and
`x[arange(n), y]` (several integer arrays: lowered to one flat index) against NumPy's own
x[arange(n), y]; `size` is x's element count, x of shape (size // 16, 16); gather's index has
x's shape, so it reads `size` elements, x[arange, y] reads one per row. A per-op overhead group
puts both beside `x + x` at 1K elements.

Each pair is a pytest-benchmark group; the NumPy reference runs first and the second test stores
the ratio (ours / NumPy's best time) in its extra_info and prints it.
"""
import numpy as np
import pytest

import tinygrad_nm as tnm
from tinygrad_nm.settings import settings
from pairing import best as _best

_IDX_QUICK = settings.bench_mode == "quick"  # conftest sets it from --quick/--full
_IDX_SIZES = [1 << 10, 1 << 16] if _IDX_QUICK else [1 << 10, 1 << 14, 1 << 18, 1 << 20, 1 << 22]
_IDX_COLS = 16
_idx_reference = {}  # group -> NumPy's best time


def _idx_ratio(benchmark, what):
    ours, ref = _best(benchmark), _idx_reference.get(benchmark.group)
    benchmark.extra_info.update(backend="numpy", seconds=ours)
    if ours and ref:
        benchmark.extra_info.update(reference_seconds=ref, ratio_vs_reference=ours / ref)
        print(f"\n{benchmark.group}: {ours * 1e6:.1f} us vs {what} {ref * 1e6:.1f} us -> {ours / ref:.2f}x its time")


def _idx_arrays(size):
    rng = np.random.default_rng(0)
    rows = size // _IDX_COLS
    x = rng.random((rows, _IDX_COLS), dtype=np.float32)
    return x, rng.integers(0, _IDX_COLS, size=(rows, _IDX_COLS)), rng.integers(0, _IDX_COLS, size=rows)


# --- gather -----------------------------------------------------------------------------------
@pytest.mark.parametrize("size", _IDX_SIZES)
def test_gather_numpy_reference(benchmark, size):
    benchmark.group = f"gather(1, index): {size} elements"
    x, index, _ = _idx_arrays(size)
    benchmark(np.take_along_axis, x, index, 1)
    _idx_reference[benchmark.group] = _best(benchmark)


@pytest.mark.parametrize("size", _IDX_SIZES)
def test_gather(benchmark, size):
    benchmark.group = f"gather(1, index): {size} elements"
    x, index, _ = _idx_arrays(size)
    xt, it = tnm.tensor(x, backend="numpy"), tnm.tensor(index, backend="numpy")
    out = benchmark(xt.gather, 1, it)
    np.testing.assert_array_equal(out.numpy(), np.take_along_axis(x, index, 1))
    _idx_ratio(benchmark, "np.take_along_axis")


# --- x[arange(n), y]: several integer arrays in one subscript ---------------------------------
@pytest.mark.parametrize("size", _IDX_SIZES)
def test_advanced_index_arange_pair_numpy_reference(benchmark, size):
    benchmark.group = f"x[arange(n), y]: x of {size} elements"
    x, _, y = _idx_arrays(size)
    rows = np.arange(len(y))
    benchmark(lambda: x[rows, y])
    _idx_reference[benchmark.group] = _best(benchmark)


@pytest.mark.parametrize("size", _IDX_SIZES)
def test_advanced_index_arange_pair(benchmark, size):
    benchmark.group = f"x[arange(n), y]: x of {size} elements"
    x, _, y = _idx_arrays(size)
    xt, yt = tnm.tensor(x, backend="numpy"), tnm.tensor(y, backend="numpy")
    rows = tnm.arange(len(y), backend="numpy")
    out = benchmark(lambda: xt[rows, yt])
    np.testing.assert_array_equal(out.numpy(), x[np.arange(len(y)), y])
    _idx_ratio(benchmark, "NumPy's x[arange(n), y]")


# --- per-op overhead at 1K elements: beside x + x ----------------------------------------------
@pytest.mark.parametrize("op", ["add", "gather", "arange_pair"])
def test_advanced_index_overhead(benchmark, op):
    benchmark.group = "indexing per-op overhead, 1K elements: beside x + x"
    x, index, y = _idx_arrays(1 << 10)
    xt, it, yt = (tnm.tensor(a, backend="numpy") for a in (x, index, y))
    rows = tnm.arange(len(y), backend="numpy")
    run = {"add": lambda: xt + xt, "gather": lambda: xt.gather(1, it), "arange_pair": lambda: xt[rows, yt]}[op]
    benchmark(run)
    if op == "add":
        _idx_reference[benchmark.group] = _best(benchmark)
    else:
        _idx_ratio(benchmark, "x + x")
