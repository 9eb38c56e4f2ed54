"""How fast this machine is right now, against its calibration: four reference probes.

A prediction is the calibration's rates applied to a kernel. On a shared machine the rates
themselves move between the calibration and the run (the same 16 MiB read took 0.8 and 1.8 ms
three minutes apart here, on an idle guest), and a cell that is off by that much says nothing
about the model. So calibration times four fixed probes, one per kind of cost a prediction is made
of, and the bench times them again at its start and end: the ratios say how much of a cell's
error is the machine's (`report`).
"""
import os
import time

import numpy as np

from tinygrad_nm.napkin import native, rates as rates_mod
from tinygrad_nm.napkin.timing import best_time

# one per kind of cost: the interpreter (python backend), a NumPy call's fixed cost (every small
# kernel), a read from memory (the large elementwise and reduction cells), a compiled FMA loop
# (matmul and the compiled kernels; left out where napkin's compiled helper cannot be built)
PROBES = ("interpreter", "numpy_call", "memory_read", "fma")


def _best(fn, repeat=7):
    return best_time(fn, 1, repeat)


def _interpreter():
    s = 0.0
    for i in range(20000):
        s += i
    return s


def reference():
    """{probe: seconds} of each probe now, the fastest of several (about half a second)."""
    # first let other threads' idle spins run out (OpenBLAS's ~0.1 s, the native pool's and OpenMP's
    # less), so that they do not share the machine with the probes
    time.sleep(0.2)
    one, res = np.ones(1, np.float32), np.empty(1, np.float32)
    big = np.ones(4 << 20, np.float32)  # 16 MiB: past L2, as the large cells' operands are

    def calls():  # into one output: the call's dispatch, not the allocator's state
        for _ in range(200):
            np.add(one, one, out=res)
    out = {"interpreter": _best(_interpreter),
           "numpy_call": _best(calls) / 200,
           "memory_read": _best(lambda: np.maximum.reduce(big))}
    try:
        lib = native.load(os.path.dirname(rates_mod.cache_path()))
        out["fma"] = _best(lambda: lib.fma_f32(100_000))
    except (OSError, native.NativeUnavailable):
        pass
    return out


def report(calibrated, *now):
    """One line per moment in `now` ((label, {probe: seconds}) pairs): each probe's time over its
    time at calibration (above 1: the machine is that much slower now); None without a calibration."""
    if not calibrated:
        return None
    lines = []
    for label, probes in now:
        if probes:
            ratios = [f"{p.replace('_', ' ')} {probes[p] / calibrated[p]:.2f}x" for p in PROBES
                      if p in probes and calibrated.get(p)]
            lines.append(f"{label}: " + ", ".join(ratios))
    return lines


def report_run(machine_info):
    """report() of a bench run's machine_info (the plugin's "reference": the calibration's probes and
    the run's at its start and end); None where the run has none."""
    ref = (machine_info or {}).get("reference") or {}
    return report(ref.get("calibration"), ("at start", ref.get("start")), ("at end", ref.get("end")))
