"""Core overhead, each figure beside its reference measured in the same run (issue 2).

- per-op cost: an elementwise op on 4-element tensors plus its backward, vs PyTorch CPU; and the
  same product written as a custom autograd Function in each framework;
- the walkthrough's scalar training program (program 5: 1000 rectangles) vs the same program
  on PyTorch CPU, two ways: one epoch in this process, several rounds (TINYGRAD_NM_BENCH_EPOCHS
  sets the epochs); and the whole program, 300 epochs (3 with --quick;
  TINYGRAD_NM_BENCH_PROGRAM_EPOCHS), each framework in a fresh process of its own
  (bench/scalar_program.py), timing the training loop;
- the pure-Python backend's matmul at 64x64x64 vs a hand-written triple loop over lists.

Each pair is a pytest-benchmark group; the reference runs first and the second test stores
the ratio in its extra_info (and prints it), so the figure is a ratio taken in one run.
"""
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygrad_nm as tnm
from tinygrad_nm.settings import settings
from tinygrad_nm import Tensor
from tinygrad_nm.examples.walkthrough import make_rectangles

from scalar_program import START_WEIGHTS, train
from pairing import best as _best

try:
    import torch
except ImportError:
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed: no reference to compare with")

EPOCHS = settings.bench_epochs
QUICK = settings.bench_mode == "quick"  # conftest sets it from --quick/--full
PROGRAM_EPOCHS = settings.bench_program_epochs or (3 if QUICK else 300)
_reference = {}  # group -> the reference's best time, for the ratio in the second test


def _ratio(benchmark, group, label):
    ours, ref = _best(benchmark), _reference.get(group)
    benchmark.extra_info["seconds"] = ours
    if ours and ref:
        benchmark.extra_info["reference_seconds"] = ref
        benchmark.extra_info["speedup_vs_reference"] = ref / ours
        print(f"\n{group}: {ours * 1e6:.2f} us vs {label} {ref * 1e6:.2f} us -> {ref / ours:.2f}x")


# --- per-op overhead: c = a OP b; c.backward(g) on 4 elements --------------------------------
def add_backward(a, b, g):
    (a + b).backward(g)


def mul_backward(a, b, g):
    (a * b).backward(g)


def _custom_mul(M):
    """A product written as a custom autograd Function of module M (tinygrad_nm or torch)."""
    class Mul(M.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return a * b

        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            return g * b, g * a
    return Mul


_CUSTOM = {}


def custom_mul_backward(a, b, g):  # a custom Function's own cost: its apply, its nodes, its backward's call
    M = tnm if isinstance(a, Tensor) else torch
    cls = _CUSTOM.get(M) or _CUSTOM.setdefault(M, _custom_mul(M))
    cls.apply(a, b).backward(g)


OPS = {"add": add_backward, "mul": mul_backward, "custom_mul": custom_mul_backward}  # each times both frameworks


@needs_torch
@pytest.mark.parametrize("op", OPS)
def test_op_overhead_torch(benchmark, op):
    benchmark.group = f"op+backward 4 elements: {op}"
    torch.set_num_threads(1)
    a = torch.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    b = torch.tensor([0.5, 0.25, 2.0, 1.0], requires_grad=True)
    g = torch.ones(4)
    benchmark(OPS[op], a, b, g)
    _reference[benchmark.group] = _best(benchmark)


@pytest.mark.parametrize("op", OPS)
def test_op_overhead(benchmark, op):
    benchmark.group = f"op+backward 4 elements: {op}"
    a = Tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True, backend="numpy")
    b = Tensor([0.5, 0.25, 2.0, 1.0], requires_grad=True, backend="numpy")
    g = Tensor.ones(4, backend="numpy")
    benchmark(OPS[op], a, b, g)
    benchmark.extra_info.update(backend="numpy", **({} if op == "custom_mul" else {"target_seconds": 3e-6}))
    _ratio(benchmark, benchmark.group, "PyTorch CPU")


# --- the walkthrough's scalar program, one epoch in this process ---------------------------------
@needs_torch
def test_walkthrough_scalar_torch(benchmark):
    benchmark.group = f"walkthrough scalar program: 1000 rectangles x {EPOCHS} epoch(s)"
    torch.set_num_threads(1)
    xs, ys = make_rectangles()
    w = torch.tensor(START_WEIGHTS, requires_grad=True)
    benchmark.pedantic(train, (w, xs, ys, EPOCHS, torch.no_grad), rounds=7, iterations=1)
    _reference[benchmark.group] = _best(benchmark)


def test_walkthrough_scalar(benchmark):
    benchmark.group = f"walkthrough scalar program: 1000 rectangles x {EPOCHS} epoch(s)"
    xs, ys = make_rectangles()
    w = Tensor(START_WEIGHTS, requires_grad=True, backend="numpy")
    loss = benchmark.pedantic(train, (w, xs, ys, EPOCHS, tnm.no_grad), rounds=7, iterations=1)
    benchmark.extra_info.update(backend="numpy", epochs=EPOCHS, final_loss=loss.item(), target_speedup=5.0)
    _ratio(benchmark, benchmark.group, "PyTorch CPU")


# --- the whole program, each framework in a fresh process ---------------------------------------
_programs = {}  # framework -> the program's JSON result


def _run_program(framework):
    script = Path(__file__).with_name("scalar_program.py")
    done = subprocess.run([sys.executable, str(script), framework, str(PROGRAM_EPOCHS)],
                          capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, f"{script.name} {framework} failed:\n{done.stderr}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    _programs[framework] = result
    return result


def _record_program(benchmark, result):
    benchmark.extra_info.update(program_seconds=result["seconds"], epochs=result["epochs"],
                                final_loss=result["final_loss"], weights=result["weights"])


@needs_torch
def test_walkthrough_program_torch(benchmark):
    benchmark.group = f"walkthrough program 5, own process: 1000 rectangles x {PROGRAM_EPOCHS} epochs"
    _record_program(benchmark, benchmark.pedantic(_run_program, ("torch",), rounds=1, iterations=1))


def test_walkthrough_program(benchmark):
    """The stored time includes starting Python and importing; the ratio uses the training loop's
    own time, which each program measures."""
    benchmark.group = f"walkthrough program 5, own process: 1000 rectangles x {PROGRAM_EPOCHS} epochs"
    ours = benchmark.pedantic(_run_program, ("tinygrad_nm",), rounds=1, iterations=1)
    _record_program(benchmark, ours)
    benchmark.extra_info.update(backend="numpy", target_speedup=5.0)
    ref = _programs.get("torch")
    if ref is not None:  # the same program: the same weights, up to float32 rounding
        np.testing.assert_allclose(ours["weights"], ref["weights"], rtol=1e-4, atol=1e-5)
        speedup = ref["seconds"] / ours["seconds"]
        benchmark.extra_info.update(reference_seconds=ref["seconds"], speedup_vs_reference=speedup)
        print(f"\n{benchmark.group}: {ours['seconds']:.2f} s vs PyTorch CPU {ref['seconds']:.2f} s -> {speedup:.2f}x")


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
