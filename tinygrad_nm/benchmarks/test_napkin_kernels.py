"""Kernels against their napkin estimates, on every backend this machine can run.

matmul across sizes (pure Python up to 128, compiled backends up to 2048, GPU up to 8192),
elementwise ops and activations across sizes, reductions. Each case runs the Tensor op (what a
user writes, framework overhead included) and records the napkin estimate beside the timing
(see plugin.napkin_bench); `tinygrad-nm bench` prints them side by side.
"""
import numpy as np
import pytest

from tinygrad_nm import Tensor

from tinygrad_nm.benchmarks.cases import QUICK, cases

# sizes per backend kind: the interpreter is ~10^4 times slower than BLAS, the GPU wants big work
MATMUL = {
    "interpreter": (16, 64, 128) if QUICK else (16, 32, 64, 128),
    "host": (64, 256, 1024) if QUICK else (32, 64, 128, 256, 512, 1024, 2048),
    "gpu": (256, 1024, 4096) if QUICK else (256, 512, 1024, 2048, 4096, 8192),
}
ELEMENTWISE_OPS = ("add", "mul", "relu", "sigmoid", "tanh", "exp")
ELEMENTWISE = {
    "interpreter": (1 << 10, 1 << 15) if QUICK else (1 << 10, 1 << 12, 1 << 14, 1 << 16),
    "host": (1 << 12, 1 << 18, 1 << 22) if QUICK else (1 << 10, 1 << 14, 1 << 18, 1 << 20, 1 << 22, 1 << 24),
    "gpu": (1 << 16, 1 << 22, 1 << 24) if QUICK else (1 << 16, 1 << 20, 1 << 22, 1 << 24, 1 << 26),
}
REDUCE_OPS = ("sum", "sum_rows", "max")
REDUCE = {  # square matrices, n x n
    "interpreter": (64, 256) if QUICK else (64, 128, 256),
    "host": (256, 2048) if QUICK else (256, 1024, 2048, 4096),
    "gpu": (1024, 4096) if QUICK else (1024, 4096, 8192),
}


def _data(shape, seed, backend, positive=False):
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return Tensor(np.abs(x) + 0.1 if positive else x, backend=backend)


@pytest.mark.napkin
@pytest.mark.parametrize("backend,n", cases(MATMUL), ids=lambda v: str(v))
def test_matmul(napkin_bench, backend, n):
    a, b = _data((n, n), 0, backend), _data((n, n), 1, backend)
    out = napkin_bench(lambda: a @ b, backend=backend, op="matmul", size=f"{n}x{n}x{n}")
    assert out.shape == (n, n)


_ELEMENTWISE_FN = {
    "add": lambda a, b: a + b,
    "mul": lambda a, b: a * b,
    "relu": lambda a, b: a.relu(),
    "sigmoid": lambda a, b: a.sigmoid(),
    "tanh": lambda a, b: a.tanh(),
    "exp": lambda a, b: a.exp(),
}


@pytest.mark.napkin
@pytest.mark.parametrize("op", ELEMENTWISE_OPS)
@pytest.mark.parametrize("backend,n", cases(ELEMENTWISE), ids=lambda v: str(v))
def test_elementwise(napkin_bench, backend, n, op):
    a, b = _data((n,), 2, backend), _data((n,), 3, backend)
    fn = _ELEMENTWISE_FN[op]
    out = napkin_bench(lambda: fn(a, b), backend=backend, op=op, size=str(n))
    assert out.shape == (n,)


_REDUCE_FN = {
    "sum": lambda a: a.sum(),
    "sum_rows": lambda a: a.sum(axis=1),
    "max": lambda a: a.max(),
}


@pytest.mark.napkin
@pytest.mark.parametrize("op", REDUCE_OPS)
@pytest.mark.parametrize("backend,n", cases(REDUCE), ids=lambda v: str(v))
def test_reduce(napkin_bench, backend, n, op):
    a = _data((n, n), 4, backend)
    fn = _REDUCE_FN[op]
    out = napkin_bench(lambda: fn(a), backend=backend, op=op, size=f"{n}x{n}")
    assert out.shape == ((n,) if op == "sum_rows" else ())
