"""max_pool2d forward + backward: the backends' pooling kernels against PyTorch CPU (one thread)
and against the host path pooling.py used before them, in the same run.

The work: F.max_pool2d(x, 2) on float32 x, then backward of a fixed upstream gradient into x, at
the digits CNN's two pooling sizes (batch 32: 32x8x8 -> 4x4 and 64x4x4 -> 2x2, tasks.cnn) and at
bench/test_conv.py's conv output (batch 64, 32x26x26 -> 13x13).

- `test_max_pool_torch[size]`: PyTorch's step, pytest-benchmark's row for the reference.
- `test_max_pool[backend-size]`: ours; then PyTorch, ours and the old host path (`_host_max_pool2d`
  below: NumPy pad, window gather and argmax on the host, then an integer-array index whose
  gradient is an index_add) are timed in alternation so they face the same load; the fastest of
  each, the ratios and napkin's prediction for our step (its traced kernels priced for the
  backend, plus the framework's per-op overhead) go into extra_info and are printed.
"""
import time

import numpy as np
import pytest

import tinygrad_nm as tnm
import tinygrad_nm.nn.functional as F
from tinygrad_nm import Tensor
from tinygrad_nm.settings import settings
from pairing import best as _best, one_torch_thread as _one_torch_thread

try:
    import torch
except ImportError:
    torch = None

SIZES = {"digits 32x32x8x8": (32, 32, 8, 8), "digits 32x64x4x4": (32, 64, 4, 4), "conv 64x32x26x26": (64, 32, 26, 26)}
PAIRED_ROUNDS = 5 if settings.bench_mode == "quick" else 15
BACKENDS = [b for b in tnm.available_backends() if b not in ("python", "numba_cuda")]
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed: no reference to compare with")


def _data(shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    g = rng.standard_normal((*shape[:2], shape[2] // 2, shape[3] // 2)).astype(np.float32)
    return x, g


def _step_ours(shape, backend, pool=None):
    x, g = _data(shape)
    x, g = Tensor(x, backend=backend, requires_grad=True), Tensor(g, backend=backend)
    pool = pool or (lambda t: F.max_pool2d(t, 2))

    def step():
        x.grad = None
        pool(x).backward(g)
    return step


def _step_torch(shape):
    x, g = _data(shape)
    x, g = torch.tensor(x, requires_grad=True), torch.tensor(g)

    def step():
        x.grad = None
        torch.nn.functional.max_pool2d(x, 2).backward(g)
    return step


def _host_max_pool2d(x, k=2):
    """The host path pooling.max_pool2d took before the kernels (kernel = stride = k, no padding,
    dilation or ceil_mode, the case timed here): NumPy on the host finds each window's first
    maximum, then one integer-array index reads those elements (its gradient: an index_add)."""
    n, c, h, w = x.shape
    oh, ow = h // k, w // k
    host = x.detach().numpy().reshape(n * c, h, w)
    padded = np.full((n * c, h, w), -np.inf, dtype=host.dtype)  # the padded copy it always made
    padded[:, :, :] = host
    taps = (np.arange(k)[:, None] * w + np.arange(k)).reshape(-1)
    corners = (np.arange(oh)[:, None] * (k * w) + np.arange(ow) * k).reshape(-1)
    offsets = corners[:, None] + taps[None, :]
    inside = np.ones((h * w,), dtype=bool)[offsets]
    windows = padded.reshape(n * c, h * w)[:, offsets]
    best = windows.argmax(-1)
    at_low = np.take_along_axis(windows, best[..., None], -1)[..., 0] == -np.inf
    best = np.where(at_low, inside.argmax(-1), best)
    where = offsets[np.arange(offsets.shape[0]), best]
    indices = (where // w) * w + where % w
    empty = ~inside.any(-1)
    flat = (np.arange(n * c)[:, None] * (h * w) + np.where(empty, 0, indices)).reshape(-1)
    return x.reshape(-1)[Tensor(flat, backend=x.backend)].reshape(n, c, oh, ow)


@needs_torch
@pytest.mark.parametrize("size", SIZES)
def test_max_pool_torch(benchmark, size):
    benchmark.group = f"max_pool2d 2x2 fwd+bwd {size}"
    with _one_torch_thread():
        benchmark(_step_torch(SIZES[size]))
    benchmark.extra_info.update(framework="torch", threads=1, seconds=_best(benchmark))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_max_pool(benchmark, backend, size):
    benchmark.group = f"max_pool2d 2x2 fwd+bwd {size}"
    shape = SIZES[size]
    step = _step_ours(shape, backend)
    benchmark.pedantic(step, rounds=PAIRED_ROUNDS, warmup_rounds=2)
    benchmark.extra_info.update(seconds=_best(benchmark))
    if torch is None or _best(benchmark) is None:  # no reference, or timing disabled (CI)
        return
    host = _step_ours(shape, backend, _host_max_pool2d)
    with _one_torch_thread():
        reference = _step_torch(shape)
        times = {"torch": [], "ours": [], "host": []}
        for _ in range(PAIRED_ROUNDS):
            for name, fn in (("torch", reference), ("ours", step), ("host", host)):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    ours, ref, old = (min(times[k]) for k in ("ours", "torch", "host"))
    predicted = _napkin(step)
    benchmark.extra_info.update(paired_rounds=PAIRED_ROUNDS, paired_seconds=ours, paired_torch_seconds=ref,
                                paired_host_path_seconds=old, torch_over_ours=ref / ours, host_over_ours=old / ours,
                                predicted_seconds=predicted)
    print(f"\nmax_pool2d 2x2 fwd+bwd {size}, alternating {PAIRED_ROUNDS} rounds: {backend} {ours * 1e6:.0f} us "
          f"(napkin predicts {predicted * 1e6:.0f} us), PyTorch 1 thread {ref * 1e6:.0f} us, old host path "
          f"{old * 1e6:.0f} us -> torch/ours {ref / ours:.2f}, host/ours {old / ours:.2f}")


def _napkin(step):
    """napkin's predicted seconds for one step: its kernels traced in one run and priced for their
    backend, plus the framework's per-op overhead (as the napkin_bench fixture counts it)."""
    from tinygrad_nm.napkin import rates
    with tnm.napkin.collecting() as traced:
        step()
    overhead = len(traced.calls) * rates.current().section("framework")["op_s"]
    return sum(c.predicted_seconds for c in traced.calls) + overhead
