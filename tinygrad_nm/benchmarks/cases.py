"""Which backends and sizes the napkin benchmarks run, in quick and full mode (shared by test_napkin_*.py)."""
import tinygrad_nm as tnm
from tinygrad_nm.settings import settings

QUICK = settings.bench_mode == "quick"  # the plugin sets it from --quick/--full before collection


def kind(backend):
    """interpreter (kernels run as CPython code), gpu, or host (compiled code on the CPU), read from
    the pricing family the backend declares (its PRICING): each kind gets its own sizes."""
    family = (tnm.backends.load(backend).PRICING or {}).get("family")
    return family if family in ("interpreter", "gpu") else "host"


def _cuda_simulated():
    try:
        from numba import config
        return bool(getattr(config, "ENABLE_CUDASIM", 0))
    except ImportError:
        return False


def benchmarkable_backends():
    """Available backends whose timings mean something (not a GPU in the CUDA simulator), or those
    named in TINYGRAD_NM_BENCH_BACKENDS (comma-separated; `tinygrad-nm bench --backend` sets it)."""
    return (tnm.backends.checked(settings.bench_backends)
            or [b for b in tnm.available_backends() if not (kind(b) == "gpu" and _cuda_simulated())])


BACKENDS = benchmarkable_backends()


def cases(table):
    """[(backend, size)] for a {kind: sizes} table, over every benchmarkable backend."""
    return [(b, n) for b in BACKENDS for n in table[kind(b)]]


def classifier_step(model, opt, x, labels):
    """step(): one training step of a classifier on a fixed batch (zero the gradients, cross-entropy
    of model(x), backward, the optimizer's step); returns the loss. The benchmarks' training steps."""
    def step():
        opt.zero_grad()
        loss = tnm.nn.functional.cross_entropy(model(x), labels)
        loss.backward()
        opt.step()
        return loss
    return step
