"""The benchmark suite's pytest plugin (pytest-benchmark): options, machine info, `napkin_bench`.

`tinygrad-nm bench` loads it with `-p tinygrad_nm.benchmarks.plugin`; a clone's bench/conftest.py
imports it, so `pytest bench` gets the same options and fixtures.

- Mode: `--quick` (or TINYGRAD_NM_BENCH=quick) picks small size lists so the suite runs in about
  a minute; `--full` (TINYGRAD_NM_BENCH=full) the whole range. Default: full. The chosen mode is
  held in a settings Context entered before collection, so any benchmark file can read it at
  import: `QUICK = settings.bench_mode == "quick"` (or use the `bench_mode` fixture).
- Napkin estimates: the `napkin_bench` fixture runs a function once under the tracer (which
  kernels it calls, what each should cost), stores the estimate in `benchmark.extra_info`, then
  benchmarks the untraced function. Benchmarks that do not ask for it are left alone.
- Machine info: the base rates the estimates used, OPENBLAS_CORETYPE and the thread counts go into
  pytest-benchmark's machine_info, so a saved run says what machine state it was measured in; and
  napkin.drift's reference probes at the session's start and end beside the calibration's, so it
  says how far the machine's speed had moved from the rates the estimates used.
- Rates: at session start the cached calibration is used if there is one; `--napkin-calibrate`
  measures them afresh first (what `tinygrad-nm bench` does). With --benchmark-disable nothing
  is calibrated: timings are not taken, so estimates are only recorded.
"""
import os

import pytest

import tinygrad_nm as tnm
from tinygrad_nm.settings import Context, settings
from tinygrad_nm.napkin import drift, framework as napkin_framework, rates as napkin_rates

MODE_ENV = "TINYGRAD_NM_BENCH"


def pytest_addoption(parser):
    group = parser.getgroup("tinygrad_nm", "tinygrad_nm benchmark suite")
    group.addoption("--quick", action="store_true", default=False,
                    help=f"small sizes only: the suite in about a minute (or {MODE_ENV}=quick)")
    group.addoption("--full", action="store_true", default=False,
                    help=f"the full size range (the default; or {MODE_ENV}=full)")
    group.addoption("--napkin-calibrate", action="store_true", default=False,
                    help="measure this machine's base rates at session start (and cache them)")


def _mode(config):
    if config.getoption("--quick") and config.getoption("--full"):
        raise pytest.UsageError("--quick and --full exclude each other")
    if config.getoption("--quick"):
        return "quick"
    if config.getoption("--full"):
        return "full"
    try:
        return settings.bench_mode or "full"
    except ValueError as e:
        raise pytest.UsageError(str(e)) from None


_load_at_start = None
_reference_at_start = None  # drift.reference() as the session starts


def pytest_configure(config):
    global _load_at_start
    try:
        _load_at_start = list(os.getloadavg())
    except (AttributeError, OSError):
        pass
    mode = _mode(config)
    # benchmark modules read settings.bench_mode when they are collected, after this: a Context
    # entered here (and never left) holds the mode for the whole session
    config._tnm_mode = Context(bench_mode=mode)
    config._tnm_mode.__enter__()
    config.addinivalue_line("markers", "napkin: a benchmark that records a napkin-math estimate")
    disabled = getattr(config.option, "benchmark_disable", False) or getattr(config.option, "benchmark_skip", False)
    if config.getoption("--napkin-calibrate") and not disabled:
        tnm.napkin.calibrate(quick=mode == "quick", log=lambda line: print(line, flush=True))
    else:
        napkin_rates.current()
    global _reference_at_start
    _reference_at_start = None if disabled else drift.reference()


@pytest.fixture(scope="session")
def bench_mode(pytestconfig):
    """'quick' or 'full'."""
    return _mode(pytestconfig)


def pytest_benchmark_update_machine_info(config, machine_info):
    rates = napkin_rates.current()
    info = {"source": rates.source, "describe": rates.describe(), "rates": rates.to_json()}
    machine_info["napkin"] = info
    machine_info["OPENBLAS_CORETYPE"] = os.environ.get("OPENBLAS_CORETYPE")
    threads = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    try:
        from threadpoolctl import threadpool_info
        threads["pools"] = [{k: v for k, v in p.items() if k in ("user_api", "internal_api", "num_threads",
                                                                  "architecture", "version")}
                            for p in threadpool_info()]
    except ImportError as e:
        threads["pools"] = f"threadpoolctl unavailable: {e}"
    threads["usable_cores"] = tnm.backends.available_cores()
    machine_info["threads"] = threads
    machine_info["tinygrad_nm_backends"] = tnm.available_backends()
    try:  # other work on the machine while the suite ran: a load above the core count disturbs timings
        machine_info["load_average"] = {"start": _load_at_start, "end": list(os.getloadavg())}
    except (AttributeError, OSError):
        pass
    if _reference_at_start is not None:  # the machine's speed at start and end against its calibration's
        machine_info["reference"] = {"calibration": rates.data.get("reference"), "start": _reference_at_start,
                                     "end": drift.reference()}
    machine_info["bench_mode"] = _mode(config)


@pytest.fixture
def napkin_bench(benchmark):
    """run(fn, *args, backend=, op=, size=, dtype="float32", **extra): estimate fn from a traced run,
    record the estimate in benchmark.extra_info, then benchmark fn untraced; returns fn's result."""

    def run(fn, *args, backend, op, size, dtype="float32", **extra):
        with _own_threads(backend):
            return _run(fn, *args, backend=backend, op=op, size=size, dtype=dtype, **extra)

    def _run(fn, *args, backend, op, size, dtype, **extra):
        with tnm.napkin.collecting() as traced:
            fn(*args)
        calls = traced.calls
        rates = napkin_rates.current()
        framework = napkin_framework.seconds(((c.phase, c.op, c.shapes) for c in calls), rates)
        kernels_s = sum(c.predicted_seconds for c in calls)
        per_call = sum(c.prediction.overhead_s for c in calls if c.prediction)  # calls, launches, fork-joins
        benchmark.extra_info.update(
            napkin=True, backend=backend, op=op, size=size, dtype=dtype,
            flops=sum(c.flops for c in calls), bytes=sum(c.bytes for c in calls),
            predicted_seconds=kernels_s + framework, kernel_predicted_seconds=kernels_s,
            framework_seconds=framework, overhead_seconds=per_call + framework,
            limit_seconds=sum(c.limit_seconds for c in calls),
            kernel_calls=len(calls), kernels=sorted({c.op for c in calls}),
            bound=_dominant_bound(calls), rates_source=rates.source, **extra)
        benchmark.group = f"{op} {size}"
        sync = getattr(tnm.backends.load(backend), "synchronize", None)
        if sync is not None:  # a GPU's launches return before the kernels finish: time them finished
            return benchmark(lambda *a: (fn(*a), sync())[0], *args)
        return benchmark(fn, *args)

    return run


def _own_threads(backend):
    """A backend with its own thread pool (cython's OpenMP kernels) runs with BLAS held at one
    thread, so the two pools never fight over the cores (the machine notes' oversubscription
    pitfall); the backend provides the context manager as `blas_limited`."""
    import contextlib
    module = tnm.backends.load(backend)
    limited = getattr(module, "blas_limited", None)
    return limited() if limited is not None else contextlib.nullcontext()


def _dominant_bound(calls):
    """What most of the predicted time goes to: compute, memory, interpreter, overhead, ..."""
    totals = {}
    for c in calls:
        if c.prediction:
            totals[c.prediction.bound] = totals.get(c.prediction.bound, 0.0) + c.prediction.seconds
    return max(totals, key=totals.get) if totals else ""
