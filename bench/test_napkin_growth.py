"""How a training step's cost grows with the work: batch size and width swept for the MLP and the
CNN on every backend (the interpreter at small sizes only), each cell predicted and measured.

A small step is all per-call cost (the framework around each kernel, NumPy's call overheads, a
launch); as the batch or the width grows the arithmetic takes over. `napkin_bench` records each
cell's prediction, and `overhead_seconds` (its per-call part) beside it; `python
bench/plot_growth.py` draws predicted against measured (log-log, one line per backend), marks
where each backend leaves the overhead regime and where two backends' lines cross, predicted and
measured (tinygrad_nm/napkin/growth.py computes them).

    MLP batch sweep:  64-128-64-10 (the digits MLP), batch 1 ... 4096
    MLP width sweep:  64-w-w-10, batch 32, w = 16 ... 2048
    CNN batch sweep:  examples/cnn_digits.py's LeNet (channels 32), batch 1 ... 256
    CNN width sweep:  channels c (conv 1->c->2c), batch 32, c = 4 ... 64
"""
import pytest

from tinygrad_nm.benchmarks.cases import BACKENDS, QUICK, kind

from napkin_models import cnn, mlp, training_step

# sweep -> (model, {backend kind: values})
SWEEPS = {
    "mlp batch": ("mlp", {"interpreter": (1, 4, 16, 64), "host": (1, 4, 16, 64, 256, 1024, 4096)}),
    "mlp width": ("mlp", {"interpreter": (16, 32, 64), "host": (16, 64, 256, 1024, 2048)}),
    "cnn batch": ("cnn", {"interpreter": (1, 2), "host": (1, 4, 16, 64, 256)}),
    "cnn width": ("cnn", {"interpreter": (4, 8), "host": (4, 8, 16, 32, 64)}),
}
if QUICK:  # every other point: the shape of the curve, in a fraction of the time
    SWEEPS = {k: (m, {kd: v[::2] if len(v) > 3 else v for kd, v in by.items()}) for k, (m, by) in SWEEPS.items()}
WIDTH_BATCH = 32


def _build(sweep, value):
    """(build, its argument, batch) for one point of a sweep."""
    model, what = sweep.split()
    if model == "mlp":
        return (mlp, (64, 128, 64, 10), value) if what == "batch" else (mlp, (64, value, value, 10), WIDTH_BATCH)
    return (cnn, 32, value) if what == "batch" else (cnn, value, WIDTH_BATCH)


def _cases():
    return [(b, sweep, v) for b in BACKENDS if kind(b) != "gpu"
            for sweep, (_, values) in SWEEPS.items() for v in values.get(kind(b), ())]


@pytest.mark.napkin
@pytest.mark.parametrize("backend,sweep,value", _cases(), ids=str)
def test_growth(napkin_bench, backend, sweep, value):
    build, arg, batch = _build(sweep, value)
    step = training_step(build, arg, batch, backend)
    loss = napkin_bench(step, backend=backend, op=sweep.replace(" ", "_"), size=f"{sweep.split()[1]} {value}",
                        sweep=sweep, x=value)
    assert loss.shape == ()
