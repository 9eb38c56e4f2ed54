"""napkin.drift: the machine's speed now against its calibration, from four reference probes."""
from tinygrad_nm.napkin import drift, primitives


def test_reference_times_each_probe():
    probes = drift.reference()
    assert {"interpreter", "numpy_call", "memory_read"} <= set(probes) <= set(drift.PROBES)
    assert all(0 < t < 1 for t in probes.values())
    # the interpreter probe is a loop of 20000 Python adds, the NumPy call one add on 1-element arrays
    assert probes["interpreter"] > 100 * probes["numpy_call"]


def test_report_is_each_probe_over_its_calibration():
    calibrated = {"interpreter": 2e-3, "numpy_call": 1e-6, "memory_read": 1e-3, "fma": 1e-4}
    start = {"interpreter": 3e-3, "numpy_call": 1e-6, "memory_read": 2e-3}  # no FMA probe: left out
    end = {"interpreter": 2e-3, "numpy_call": 0.5e-6, "memory_read": 1e-3, "fma": 1e-4}
    lines = drift.report(calibrated, ("at start", start), ("at end", end), ("never", None))
    assert lines == ["at start: interpreter 1.50x, numpy call 1.00x, memory read 2.00x",
                     "at end: interpreter 1.00x, numpy call 0.50x, memory read 1.00x, fma 1.00x"]
    assert drift.report(None, ("at start", start)) is None  # default rates: nothing to compare with
    # a calibration made before the probes existed (no FMA probe there): that probe is left out
    assert drift.report({"interpreter": 2e-3}, ("now", end)) == ["now: interpreter 1.00x"]


def test_calibration_records_the_probes(monkeypatch):
    """measure() ends with drift.reference(), saved with the rates (the bench compares against it)."""
    monkeypatch.setattr(primitives, "measure_host", lambda quick, log: {"cores": 1})
    monkeypatch.setattr(primitives.backends, "available_backends", lambda: [])
    monkeypatch.setattr(drift, "reference", lambda: {"interpreter": 1.0})
    data = primitives.measure(quick=True, log=lambda *a: None)
    assert data["reference"] == {"interpreter": 1.0}


def test_report_run_reads_a_bench_runs_machine_info():
    """What `tinygrad-nm bench` and bench/napkin_accuracy.py print: the plugin's "reference" entry."""
    info = {"reference": {"calibration": {"interpreter": 2e-3}, "start": {"interpreter": 3e-3},
                          "end": {"interpreter": 1e-3}}}
    assert drift.report_run(info) == ["at start: interpreter 1.50x", "at end: interpreter 0.50x"]
    assert drift.report_run({}) is None and drift.report_run(None) is None
