"""Benchmarks of the numba_cuda backend on a real GPU (skipped elsewhere, with the reason).

- fp32 matmul at 1024, 2048, 4096 and 8192 (1024 and 2048 in --quick): the tiled and the
  register-blocked kernel in TFLOP/s (the goals are at 4096), next to cuBLAS (through CuPy, else PyTorch) measured in the same run;
- relu forward + backward on 64M elements (16M in --quick) against the device's copy
  bandwidth measured in the same run (a device-to-device copy of the same bytes);
- the size at which the GPU overtakes the NumPy backend: for a square matmul and for an MLP
  training step (forward, cross-entropy, backward, SGD), both through the Tensor API.

GPU work is asynchronous: every timed function ends with `synchronize()`, so a timing covers
the kernels and not just their launch. Each benchmark warms up once first (Numba compiles a
kernel on its first launch). Device name, versions and the figures go into extra_info;
`python bench/cuda_results.py` runs this file and writes them under bench/results/.
"""
import time

import numpy as np
import pytest

import tinygrad_nm as tnm
from tinygrad_nm.settings import settings
from tinygrad_nm import Tensor, backends, functional as F, nn, optim

QUICK = settings.bench_mode == "quick"


def _gpu_backend():
    """(module, None) when a real GPU runs numba_cuda, else (None, why not)."""
    try:
        nc = backends.load("numba_cuda")
    except (backends.BackendUnavailableError, ValueError) as e:
        return None, f"numba_cuda is unavailable here: {e}"
    if nc.describe()["simulator"]:
        return None, "numba_cuda runs in Numba's CUDA simulator here: its timings mean nothing"
    return nc, None


nc, _why = _gpu_backend()
pytestmark = pytest.mark.skipif(nc is None, reason=f"needs a CUDA GPU: {_why}")


def _sync():
    if nc is not None:  # (cuda_results.py --here times the numpy side alone, on a machine with no GPU)
        nc.synchronize()


def _best_seconds(fn, repeat=5, min_time=0.2):
    """Best time of one call of fn (already warmed up), each sample averaging enough calls to
    last min_time: used where one test compares several things in a loop."""
    fn()
    _sync()
    start = time.perf_counter()
    fn()
    _sync()
    once = time.perf_counter() - start
    number = max(1, int(min_time / max(once, 1e-7)))
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        _sync()
        best = min(best, (time.perf_counter() - start) / number)
    return best


@pytest.fixture(scope="module")
def device_info():
    info = nc.describe()
    info["cublas_via"] = _cublas()[0]
    return info


def _cublas():
    """(name, matmul(n) -> timed function) for cuBLAS SGEMM through CuPy, else PyTorch, else (None, None)."""
    try:
        import cupy
        rng = cupy.random.default_rng(0)

        def make(n):
            a = rng.standard_normal((n, n), dtype=cupy.float32)
            b = rng.standard_normal((n, n), dtype=cupy.float32)
            return lambda: cupy.matmul(a, b)
        return f"cupy {cupy.__version__}", make
    except Exception:
        pass
    try:
        import torch
        if not torch.cuda.is_available():
            raise RuntimeError("torch has no CUDA")
        torch.backends.cuda.matmul.allow_tf32 = False  # plain fp32, as our kernels compute

        def make(n):
            a = torch.randn(n, n, device="cuda", dtype=torch.float32)
            b = torch.randn(n, n, device="cuda", dtype=torch.float32)
            return lambda: torch.matmul(a, b)
        return f"torch {torch.__version__} (cuda {torch.version.cuda})", make
    except Exception:
        return None, None


# --- fp32 matmul, 1024 to 8192 ----------------------------------------------------------------------
MATMUL_SIZES = (1024, 2048) if QUICK else (1024, 2048, 4096, 8192)
TARGET_TFLOPS = {"tiled": 8.0, "register_blocked": 25.0}  # the goals on an H100/H200-class GPU


@pytest.mark.parametrize("n", MATMUL_SIZES)
@pytest.mark.parametrize("kernel", ["tiled", "register_blocked", "cublas"])
def test_matmul_fp32(benchmark, kernel, n, device_info):
    if kernel == "cublas":
        via, make = _cublas()
        if make is None:
            pytest.skip("neither CuPy nor PyTorch with CUDA is installed: no cuBLAS to compare with")
        run = make(n)
        fn = lambda: (run(), _sync())  # noqa: E731  (cuBLAS runs on the same device and stream order)
    else:
        rng = np.random.default_rng(0)
        a = nc.from_numpy(rng.standard_normal((n, n)).astype(np.float32), tnm.float32)
        b = nc.from_numpy(rng.standard_normal((n, n)).astype(np.float32), tnm.float32)
        matmul = getattr(nc, f"matmul_{kernel}")
        out = matmul(a, b)  # compile, and check it computes the right thing before timing it
        rows = np.random.default_rng(1).choice(n, 8, replace=False)
        ref = nc.to_numpy(nc.getitem(a, (nc.from_numpy(rows, tnm.int64),))) @ nc.to_numpy(b)
        np.testing.assert_allclose(nc.to_numpy(out)[rows], ref, rtol=1e-3, atol=1e-2)
        fn = lambda: (matmul(a, b), _sync())  # noqa: E731
        via = f"numba_cuda {kernel}, policy {nc.policy()}"
    fn()
    benchmark.group = f"fp32 matmul {n}"
    benchmark.pedantic(fn, rounds=10, iterations=1, warmup_rounds=1)
    seconds = benchmark.stats.stats.min
    tflops = 2 * n ** 3 / seconds / 1e12
    benchmark.extra_info.update(device_info, n=n, kernel=kernel, via=via, tflops=round(tflops, 2),
                                target_tflops=TARGET_TFLOPS.get(kernel) if n == 4096 else None)


# --- relu forward + backward against the copy bandwidth --------------------------------------------
RELU_N = (16 if QUICK else 64) * 2 ** 20


def test_relu_forward_backward_vs_copy_bandwidth(benchmark, device_info):
    from numba import cuda
    n = RELU_N
    rng = np.random.default_rng(0)
    x = nc.from_numpy(rng.standard_normal(n).astype(np.float32), tnm.float32)
    g = nc.from_numpy(rng.standard_normal(n).astype(np.float32), tnm.float32)

    def copy_driver():  # the driver's device-to-device copy (cudaMemcpy) of x's bytes
        dst.copy_to_device(x.data)
    dst = cuda.device_array(n, np.float32)
    copy_seconds = min(_best_seconds(copy_driver), _best_seconds(lambda: nc.copy(x)))
    copy_bandwidth = 2 * 4 * n / copy_seconds  # bytes read + written per second

    def relu_fwd_bwd():
        y = nc.relu(x)
        nc.relu_backward(x, g)
        _sync()
        return y
    y = relu_fwd_bwd()
    np.testing.assert_array_equal(nc.to_numpy(y)[:1000], np.maximum(nc.to_numpy(x)[:1000], 0))
    benchmark.group = f"relu fwd+bwd {n}"
    benchmark.pedantic(relu_fwd_bwd, rounds=20, iterations=1, warmup_rounds=2)
    seconds = benchmark.stats.stats.min
    moved = 4 * n * (2 + 3)  # forward reads x, writes y; backward reads x and g, writes dx
    bandwidth = moved / seconds
    benchmark.extra_info.update(device_info, n=n, bytes_moved=moved, gb_per_s=round(bandwidth / 1e9, 1),
                                copy_gb_per_s=round(copy_bandwidth / 1e9, 1),
                                fraction_of_copy=round(bandwidth / copy_bandwidth, 3), target_fraction=0.7)


# --- where the GPU overtakes NumPy ---------------------------------------------------------------------
def _crossover(sizes, time_numpy, time_gpu):
    """Time both at each size (stopping once the GPU has been 4x faster twice); the crossover is
    the first size from which the GPU stays faster."""
    rows, ahead = [], 0
    for n in sizes:
        t_np, t_gpu = time_numpy(n), time_gpu(n)
        rows.append({"n": n, "numpy_s": t_np, "gpu_s": t_gpu, "speedup": t_np / t_gpu})
        ahead = ahead + 1 if t_np > 4 * t_gpu else 0
        if ahead == 2:
            break
    return first_staying_faster(rows), rows


def first_staying_faster(rows):
    """The first n from which the GPU is faster in every row after it (None if it never is)."""
    return next((row["n"] for i, row in enumerate(rows) if all(r["gpu_s"] < r["numpy_s"] for r in rows[i:])), None)


def _matmul_timer(backend):
    def time_it(n):
        rng = np.random.default_rng(0)
        a = Tensor(rng.standard_normal((n, n)).astype(np.float32), backend=backend)
        b = Tensor(rng.standard_normal((n, n)).astype(np.float32), backend=backend)
        return _best_seconds(lambda: a @ b)  # which synchronizes the GPU after each batch of calls
    return time_it


def _mlp_timer(backend):
    """One training step of an MLP 784 -> n -> 10 on a batch of n (the walkthrough's digits net, widened)."""
    def time_it(n):
        rng = np.random.default_rng(0)
        model = nn.MLP([784, n, 10], backend=backend, generator=rng)
        opt = optim.SGD(model.parameters(), lr=0.01)
        x = Tensor(rng.standard_normal((n, 784)).astype(np.float32), backend=backend)
        labels = Tensor(rng.integers(0, 10, n), backend=backend)

        def step():
            opt.zero_grad()
            loss = F.cross_entropy(model(x), labels)
            loss.backward()
            opt.step()
        return _best_seconds(step, repeat=3)
    return time_it


CROSSOVER_SIZES = [16, 32, 64, 128, 256, 512, 1024] + ([] if QUICK else [2048, 4096])


@pytest.mark.parametrize("program", ["matmul", "mlp_step"])
def test_gpu_overtakes_numpy(benchmark, program, device_info):
    timer = _matmul_timer if program == "matmul" else _mlp_timer
    result = {}

    def sweep():
        result["crossover"], result["rows"] = _crossover(CROSSOVER_SIZES, timer("numpy"), timer("numba_cuda"))
    benchmark.group = "GPU vs NumPy crossover"
    benchmark.pedantic(sweep, rounds=1, iterations=1)
    benchmark.extra_info.update(device_info, program=program, crossover_n=result["crossover"],
                                sweep=[{k: (round(v, 7) if isinstance(v, float) else v) for k, v in r.items()}
                                       for r in result["rows"]])
    print(f"\n{program}: GPU faster than NumPy from n = {result['crossover']}")
    for r in result["rows"]:
        print(f"  n={r['n']:5d}  numpy {r['numpy_s'] * 1e3:9.3f} ms  gpu {r['gpu_s'] * 1e3:9.3f} ms  "
              f"speedup {r['speedup']:7.2f}")
