"""Conv2d forward + backward, tinygrad_nm against PyTorch CPU on one thread, in the same run.

The work: a batch of 64 28x28 one-channel images through Conv2d(1, 32, 3) -> ReLU ->
Conv2d(32, 64, 3), then backward of sum(output * weights) into the input and all four parameters
(float32, the weights copied from ours into PyTorch's, so both compute the same numbers). The
fixed random `weights` stand for a loss: a plain sum's gradient is one broadcast number, whose
zero strides push NumPy's matmul off BLAS (bench/README.md, "Convolutions").

- `test_conv2d_torch`: PyTorch's step, pytest-benchmark's row for the reference.
- `test_conv2d[backend]`: ours; then both are timed again in alternation (PyTorch, ours,
  PyTorch, ...) so that they face the same load on a shared machine, ours on its default threads,
  then again on one thread; the fastest of each and torch / ours (above 1: ours is faster) go into
  extra_info and are printed, with each one's GFLOP/s and fraction of the machine's FMA peak
  (one core's compiled FMA loop, measured in the run, x the cores), and napkin's prediction of our step (its kernels, traced in one step, priced for the
  backend, plus the framework's per-op overhead) beside the measured time. Ours is also timed
  with everything on one thread (BLAS and the backend's own pool), as PyTorch runs here.

The step is about 4.15 GFLOP (forward 1.38: 2 x 64 x (676 x 32 x 9 + 576 x 64 x 288) multiply-adds;
backward about twice that). The python backend is left out: its kernels run element by element
in Python (hours there).
"""
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import tinygrad_nm as tnm
from tinygrad_nm import Tensor, nn
from tinygrad_nm.settings import settings
from pairing import best as _best, fma_peak as _fma_peak, one_torch_thread as _one_torch_thread

try:
    import torch
except ImportError:
    torch = None

BATCH, SIDE = 64, 28
GROUP = f"conv2d fwd+bwd b{BATCH} {SIDE}x{SIDE} 1->32->64 3x3"
PAIRED_ROUNDS = 3 if settings.bench_mode == "quick" else 7
BACKENDS = [b for b in tnm.available_backends() if b not in ("python", "numba_cuda")]
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed: no reference to compare with")


def _images():
    return np.random.default_rng(0).standard_normal((BATCH, 1, SIDE, SIDE)).astype(np.float32)


def _model(backend):
    generator = np.random.default_rng(0)
    return nn.Sequential(nn.Conv2d(1, 32, 3, backend=backend, generator=generator), nn.ReLU(),
                         nn.Conv2d(32, 64, 3, backend=backend, generator=generator))


def _upstream():
    return np.random.default_rng(1).standard_normal((BATCH, 64, SIDE - 4, SIDE - 4)).astype(np.float32)


def _step_ours(backend):
    model, x = _model(backend), Tensor(_images(), backend=backend, requires_grad=True)
    weights = Tensor(_upstream(), backend=backend)

    def step():
        model.zero_grad()
        x.grad = None
        (model(x) * weights).sum().backward()
    return step


def _step_torch():
    ours = _model(tnm.get_backend())
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(), torch.nn.Conv2d(32, 64, 3))
    model.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    x, weights = torch.tensor(_images(), requires_grad=True), torch.tensor(_upstream())

    def step():
        model.zero_grad()
        x.grad = None
        (model(x) * weights).sum().backward()
    return step


@needs_torch
def test_conv2d_torch(benchmark):
    benchmark.group = GROUP
    with _one_torch_thread():
        benchmark(_step_torch())
    benchmark.extra_info.update(framework="torch", threads=1, seconds=_best(benchmark))


@pytest.mark.parametrize("backend", BACKENDS)
def test_conv2d(benchmark, backend):
    benchmark.group = GROUP
    step = _step_ours(backend)
    benchmark.pedantic(step, rounds=PAIRED_ROUNDS, warmup_rounds=1)
    benchmark.extra_info.update(seconds=_best(benchmark))
    if torch is None or _best(benchmark) is None:  # no reference, or timing disabled (CI)
        return
    with _one_torch_thread():
        reference = _step_torch()
        ours_s, torch_s, single_s, torch_single_s = [], [], [], []
        # two alternations: ours on its default threads, then ours on one thread, each beside PyTorch.
        # Not one (PyTorch, ours, ours on one thread, ...): BLAS threads spin for a while after a
        # multi-threaded call, and on a 2-core machine they ran beside the one-thread step after it
        # (numpy on one thread measured 0.34 of PyTorch so, 0.53 alone, 2026-12-02)
        for pair in (((reference, torch_s), (step, ours_s)),
                     ((reference, torch_single_s), (_on_one_thread(backend, step), single_s))):
            for _ in range(PAIRED_ROUNDS):
                for fn, times in pair:
                    start = time.perf_counter()
                    fn()
                    times.append(time.perf_counter() - start)
    ours, ref, single, ref_single = min(ours_s), min(torch_s), min(single_s), min(torch_single_s)
    flops, predicted = _napkin(step)
    predicted_single = _napkin_one_thread(backend, step)[1]
    peak = _machine_peak()
    benchmark.extra_info.update(paired_rounds=PAIRED_ROUNDS, paired_seconds=ours, paired_torch_seconds=ref,
                                torch_over_ours=ref / ours, one_thread_seconds=single,
                                one_thread_torch_seconds=ref_single,
                                torch_over_ours_one_thread=ref_single / single, flops=flops, predicted_seconds=predicted,
                                predicted_one_thread_seconds=predicted_single,
                                gflops=flops / ours / 1e9, torch_gflops=flops / ref / 1e9,
                                peak_fraction=flops / ours / peak, torch_peak_fraction=flops / ref / peak)
    print(f"\n{GROUP}, alternating {PAIRED_ROUNDS} rounds: {backend} {ours * 1e3:.1f} ms (napkin predicts "
          f"{predicted * 1e3:.1f} ms) vs PyTorch CPU 1 thread {ref * 1e3:.1f} ms -> torch/ours {ref / ours:.3f}; "
          f"{flops / 1e9:.2f} GFLOP: {flops / ours / 1e9:.1f} GFLOP/s ({flops / ours / peak:.1%} of the machine's "
          f"peak) vs PyTorch {flops / ref / 1e9:.1f} GFLOP/s ({flops / ref / peak:.1%}); ours on one thread "
          f"{single * 1e3:.1f} ms (napkin predicts {predicted_single * 1e3:.1f} ms) vs PyTorch {ref_single * 1e3:.1f} ms "
          f"beside it -> torch/ours {ref_single / single:.3f}")


def _on_one_thread(backend, step):
    """step with everything on one thread, as PyTorch here: BLAS held at one thread, and the
    backend's own pool too where it has one (set_num_threads)."""
    from threadpoolctl import threadpool_limits
    module = tnm.backends.load(backend)

    def run():
        with threadpool_limits(limits=1, user_api="blas"), tnm.backends.own_threads(module, 1):
            step()
    return run


def _napkin(step):
    """(FLOPs of one step, napkin's predicted seconds): its kernels traced in one run and priced for
    their backend, plus the framework's per-op overhead (as the napkin_bench fixture counts it)."""
    from tinygrad_nm.napkin import rates
    with tnm.napkin.collecting() as traced:
        step()
    overhead = len(traced.calls) * rates.current().section("framework")["op_s"]
    return sum(c.flops for c in traced.calls), sum(c.predicted_seconds for c in traced.calls) + overhead


def _napkin_one_thread(backend, step):
    """_napkin of the step on one thread: the backend's own threads held at one while its kernels
    are priced too (napkin prices a call when it is read, after the step)."""
    with tnm.backends.own_threads(tnm.backends.load(backend), 1):
        return _napkin(step)


def _machine_peak():
    """The machine's float32 FMA peak, FLOP/s: one core's, measured now (pairing.fma_peak), x the
    cores; napkin's rates where no C compiler is found."""
    per_core = _fma_peak().get("float32")
    if per_core is None:
        from tinygrad_nm.napkin import rates
        per_core = rates.current()["host"]["fma_flops_per_core"]["float32"]
    return per_core * (os.cpu_count() or 1)


# --- peak memory: each framework's step in a fresh process, its peak RSS above the RSS before it
# (the peak reset first where Linux allows; tracemalloc, whose bookkeeping takes memory itself, in a
# second step after the RSS is read) --
_MEMORY_SCRIPT = """
import resource, sys
sys.path.insert(0, {bench!r})
import test_conv as b

def status_mib(key):  # VmRSS: the resident set now; VmHWM: its peak
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key)) / 1024

framework = sys.argv[1]
if framework == "torch":
    b.torch.set_num_threads(1)
    step = b._step_torch()
else:
    step = b._step_ours(framework)
before = status_mib("VmRSS")
try:  # reset the peak to the resident set now (Linux 4.0+), so that importing PyTorch's peak is not counted
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    peak = lambda: status_mib("VmHWM")
except OSError:
    peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
step()
rss = peak() - before
traced = float("nan")
if framework != "torch":  # NumPy reports its buffers to tracemalloc (PyTorch's allocator does not): a second step
    import tracemalloc
    tracemalloc.start()
    step()
    traced = tracemalloc.get_traced_memory()[1] / 2 ** 20
print(rss, traced)
"""


@needs_torch
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads the resident set from /proc")
def test_conv2d_peak_memory(benchmark):
    """Peak resident memory of one step above the resident memory before it, per framework: what
    the step allocates (activations, im2col's columns and their gradients), in MiB; for ours also
    tracemalloc's peak (the arrays allocated during the step; PyTorch's allocator is invisible to it)."""
    benchmark.group = GROUP + " (peak memory)"
    script = _MEMORY_SCRIPT.format(bench=os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))}
    peaks, traced = {}, {}
    for framework in ["torch", *BACKENDS]:
        done = subprocess.run([sys.executable, "-c", script, framework], capture_output=True, text=True, env=env,
                              check=True)
        peaks[framework], traced[framework] = map(float, done.stdout.split()[-2:])
    benchmark.extra_info.update({f"peak_mib_{k}": v for k, v in peaks.items()})
    benchmark.extra_info.update({f"tracemalloc_peak_mib_{k}": v for k, v in traced.items() if k != "torch"})
    benchmark.pedantic(lambda: None, rounds=1)  # a row to hold extra_info; the figures are above
    print(f"\n{GROUP}: peak memory of one step, MiB above the resident set before it: "
          + ", ".join(f"{k} {v:.0f}" for k, v in peaks.items()) + "; tracemalloc's peak: "
          + ", ".join(f"{k} {v:.0f}" for k, v in traced.items() if k != "torch"))
