"""The elementwise ops issue 13 added (log2 log1p expm1 floor ceil trunc round), each figure beside
its reference measured in the same run, on the numpy backend:

- per-op cost: the op plus its backward on 4 elements, beside `add` plus backward (the per-op
  overhead the framework adds to a kernel call);
- 1M float32 elements, no graph: the Tensor op beside the NumPy call its kernel makes.

Each pair is a pytest-benchmark group; the reference runs first and the second test stores the
ratio in its extra_info (and prints it).
"""
import numpy as np
import pytest

from tinygrad_nm import Tensor, no_grad
from pairing import best as _best

OPS = ["log2", "log1p", "expm1", "floor", "ceil", "trunc", "round"]
NUMPY = {"log2": np.log2, "log1p": np.log1p, "expm1": np.expm1, "floor": np.floor, "ceil": np.ceil,
         "trunc": np.trunc, "round": np.rint}
_reference = {}  # group -> the reference's best time


def _ratio(benchmark, label):
    ours, ref = _best(benchmark), _reference.get(benchmark.group)
    if ours and ref:
        benchmark.extra_info.update(seconds=ours, reference_seconds=ref, ratio_to_reference=ours / ref)
        print(f"\n{benchmark.group}: {ours * 1e6:.2f} us vs {label} {ref * 1e6:.2f} us -> {ours / ref:.2f}x")


def _small():
    return (Tensor([0.5, 1.25, 2.5, 3.0], requires_grad=True, backend="numpy"),
            Tensor([0.5, 0.25, 2.0, 1.0], requires_grad=True, backend="numpy"), Tensor.ones(4, backend="numpy"))


@pytest.mark.parametrize("op", OPS)
def test_add_backward_4(benchmark, op):
    benchmark.group = f"op+backward, 4 elements: {op} vs add"
    a, b, g = _small()
    benchmark(lambda: (a + b).backward(g))
    _reference[benchmark.group] = _best(benchmark)


@pytest.mark.parametrize("op", OPS)
def test_op_backward_4(benchmark, op):
    benchmark.group = f"op+backward, 4 elements: {op} vs add"
    a, _, g = _small()
    benchmark(lambda: getattr(a, op)().backward(g))
    _ratio(benchmark, "add")


_X = np.random.default_rng(0).uniform(0.1, 8.0, 1 << 20).astype(np.float32)


@pytest.mark.parametrize("op", OPS)
def test_numpy_1m(benchmark, op):
    benchmark.group = f"1M float32, no graph: {op} vs NumPy"
    benchmark(NUMPY[op], _X)
    _reference[benchmark.group] = _best(benchmark)


@pytest.mark.parametrize("op", OPS)
def test_tensor_1m(benchmark, op):
    benchmark.group = f"1M float32, no graph: {op} vs NumPy"
    x = Tensor(_X, backend="numpy")
    with no_grad():
        benchmark(getattr(x, op))
    _ratio(benchmark, "NumPy")
