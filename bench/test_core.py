"""Core overhead, each figure beside its reference measured in the same run (issue 2).

- per-op cost: an elementwise op on 4-element tensors plus its backward, vs PyTorch CPU;
- the walkthrough's scalar training program (1000 rectangles, one epoch of program 5)
  vs the same program on PyTorch CPU (set TINYGRAD_NM_BENCH_EPOCHS=300 for the full run);
- the pure-Python backend's matmul at 64x64x64 vs a hand-written triple loop over lists.

Each pair is a pytest-benchmark group; the reference runs first and the second test stores
the ratio in its extra_info (and prints it), so the figure is a ratio taken in one run.
"""
import os
import random

import numpy as np
import pytest

import tinygrad_nm as tnm
from tinygrad_nm import Tensor
from tinygrad_nm.examples.walkthrough import loop_loss, make_rectangles

try:
    import torch
except ImportError:
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed: no reference to compare with")

EPOCHS = int(os.environ.get("TINYGRAD_NM_BENCH_EPOCHS", "1"))
_reference = {}  # group -> the reference's best time, for the ratio in the second test


def _best(benchmark):
    stats = getattr(benchmark, "stats", None)
    return stats.stats.min if stats is not None else None


def _ratio(benchmark, group, label):
    ours, ref = _best(benchmark), _reference.get(group)
    benchmark.extra_info["seconds"] = ours
    if ours and ref:
        benchmark.extra_info["reference_seconds"] = ref
        benchmark.extra_info["speedup_vs_reference"] = ref / ours
        print(f"\n{group}: {ours * 1e6:.2f} us vs {label} {ref * 1e6:.2f} us -> {ref / ours:.2f}x")


# --- per-op overhead: c = a OP b; c.backward(g) on 4 elements --------------------------------
OPS = {"add": lambda a, b: a + b, "mul": lambda a, b: a * b}


@needs_torch
@pytest.mark.parametrize("op", OPS)
def test_op_overhead_torch(benchmark, op):
    benchmark.group = f"op+backward 4 elements: {op}"
    torch.set_num_threads(1)
    a = torch.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    b = torch.tensor([0.5, 0.25, 2.0, 1.0], requires_grad=True)
    g = torch.ones(4)
    benchmark(lambda: OPS[op](a, b).backward(g))
    _reference[benchmark.group] = _best(benchmark)


@pytest.mark.parametrize("op", OPS)
def test_op_overhead(benchmark, op):
    benchmark.group = f"op+backward 4 elements: {op}"
    a = Tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True, backend="numpy")
    b = Tensor([0.5, 0.25, 2.0, 1.0], requires_grad=True, backend="numpy")
    g = Tensor.ones(4, backend="numpy")
    benchmark(lambda: OPS[op](a, b).backward(g))
    benchmark.extra_info.update(backend="numpy", target_seconds=3e-6)
    _ratio(benchmark, benchmark.group, "PyTorch CPU")


# --- the walkthrough's scalar program -------------------------------------------------------
def _train(w, xs, ys, epochs, no_grad):
    for _ in range(epochs):
        loss = loop_loss(xs, ys, w)
        loss.backward()
        with no_grad():
            for i in range(4):
                w.data[i] -= 0.1 * w.grad.data[i]
        w.grad.zero_()
    return loss


@needs_torch
def test_walkthrough_scalar_torch(benchmark):
    benchmark.group = f"walkthrough scalar program: 1000 rectangles x {EPOCHS} epoch(s)"
    torch.set_num_threads(1)
    xs, ys = make_rectangles()
    w = torch.tensor([0.98, 0.4, 0.86, -0.08], requires_grad=True)
    benchmark.pedantic(_train, (w, xs, ys, EPOCHS, torch.no_grad), rounds=3, iterations=1)
    _reference[benchmark.group] = _best(benchmark)


def test_walkthrough_scalar(benchmark):
    benchmark.group = f"walkthrough scalar program: 1000 rectangles x {EPOCHS} epoch(s)"
    xs, ys = make_rectangles()
    w = Tensor([0.98, 0.4, 0.86, -0.08], requires_grad=True, backend="numpy")
    loss = benchmark.pedantic(_train, (w, xs, ys, EPOCHS, tnm.no_grad), rounds=3, iterations=1)
    benchmark.extra_info.update(backend="numpy", epochs=EPOCHS, final_loss=loss.item(), target_speedup=5.0)
    _ratio(benchmark, benchmark.group, "PyTorch CPU")


# --- pure-Python matmul vs a hand-written triple loop ------------------------------------------
def _lists(n, seed):
    rng = random.Random(seed)
    return [[rng.random() for _ in range(n)] for _ in range(n)]


def triple_loop(a, b):
    """The plain-Python reference: out[i][j] += a[i][k] * b[k][j]."""
    n, k, m = len(a), len(b), len(b[0])
    out = [[0.0] * m for _ in range(n)]
    for i in range(n):
        for j in range(m):
            s = 0.0
            for p in range(k):
                s += a[i][p] * b[p][j]
            out[i][j] = s
    return out


def test_python_matmul_reference(benchmark):
    benchmark.group = "pure Python matmul 64x64x64"
    a, b = _lists(64, 0), _lists(64, 1)
    benchmark(triple_loop, a, b)
    _reference[benchmark.group] = _best(benchmark)
    if _best(benchmark):
        benchmark.extra_info["ns_per_multiply_add"] = _best(benchmark) / 64 ** 3 * 1e9


def test_python_matmul(benchmark):
    benchmark.group = "pure Python matmul 64x64x64"
    a = Tensor(_lists(64, 0), dtype="float64", backend="python")
    b = Tensor(_lists(64, 1), dtype="float64", backend="python")
    out = benchmark(lambda: a @ b)
    expected = np.array(_lists(64, 0)) @ np.array(_lists(64, 1))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    if _best(benchmark):
        benchmark.extra_info["ns_per_multiply_add"] = _best(benchmark) / 64 ** 3 * 1e9
    benchmark.extra_info.update(backend="python", target="within 1.3x of the triple loop")
    _ratio(benchmark, benchmark.group, "triple loop")
