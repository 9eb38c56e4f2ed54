"""The machine's base rates: how fast this machine does each primitive thing, and where they come from.

A rate is measured by a micro-benchmark of a primitive (see primitives.py), never fitted to a
benchmark it is used to predict. `tinygrad-nm calibrate` measures them all in a few seconds and
caches them per machine in `~/.cache/tinygrad_nm/rates-<host>.json` (or the file named by
TINYGRAD_NM_RATES). Without a calibration the DEFAULTS below are used and every estimate says so.

The DEFAULTS are the figures in the project's machine notes (a 2-core AMD EPYC Zen 5 with AVX-512,
Python 3.11): where the notes give none, the figure is the one calibrate measured on such a
machine, rounded. They are a starting point, not a promise: these machines are shared and
noisy, and the first thing to do on a new one is `tinygrad-nm calibrate`.

Layout (JSON): a section for the host, one for the framework, one per pricing family
(model.py): a backend's PRICING names the family whose rates price its kernels.
  host        the CPU every host backend runs on
    cores                 usable cores
    fma_flops_per_core    compiled FMA loop, one thread, per dtype (FLOP/s)
    scalar_flops          compiled scalar adds, 8 independent chains, no SIMD (FLOP/s)
    vexp_s                compiled, vectorised exp (Cephes polynomial), one thread, per element
    vdiv_s                compiled, vectorised division, one thread, per element
    fork_join_s           an empty OpenMP parallel region on every core, regions back to back
                          (as a loop of kernel calls makes them): the workers are still spinning
    fork_join_cold_s      the same after 20 ms idle, the workers asleep: waking them is up to the
                          OS (~10 ms on these VMs). Recorded, not used: a kernel call that comes
                          after a long pause (a one-off call, a profile of one step) pays it
    bandwidth             [[working-set bytes, B/s], ...]: a streaming pass (np.copyto or a ufunc into
                          `out`, the faster) whose source and destination together take that
                          many bytes (read + write counted); between points
                          the rate is interpolated on log(bytes)
    cold_read             [[reuse distance in bytes, s per byte], ...]: how much longer a copy takes per
                          byte when its data was last touched that many other bytes ago (a 256 KiB
                          copy right after a copy of that much other data, less the same copy back
                          to back); what a kernel pays for operands a trace says lie that far back
    fresh_page_s_per_byte the extra cost of writing memory the OS has just handed out
                          (page faults + zeroing), measured as a new 64 MiB array's copy minus a
                          reused one's
    mmap_threshold        glibc hands out blocks this large (32 MiB, its maximum threshold) as
                          fresh pages on every allocation, and gives the heap's top back to the
                          OS when more than twice this lies free there (model._fresh_bytes)
  framework   tinygrad_nm's own Python layers around each kernel call, by who made it (framework.py)
    op_s                  a Tensor op's call (forward), on top of the kernel itself: the median of
    op_by_kernel          {kernel: seconds} for the common Tensor ops, each measured alone
    op_program_factor     how much slower ops run one after another in a program (a chain of
                          linear+tanh layers) than each alone: op costs are multiplied by it
    backward_s            a call from the backward walk
    direct_s              a call made on buffers directly (the optimizers' updates)
  interpreter kernels run as CPython code (the pure-Python backend): the price per element
    call_s      an empty kernel call (a 1-element add)
    madd_s      one multiply-add in sum(map(operator.mul, row, col))   (matmul's inner loop)
    builtin_s   one element of map(operator.add, xs, ys)               (C calls C: a float allocated)
    frame_s     one element of map(f, xs), f a Python function that returns its argument
    op_s        one arithmetic operation inside interpreted code (from "x * 1.5 + 0.5")
    loop_s      one iteration of a list comprehension over zip(xs, ys)
    iter_s      one element of math.fsum(xs)                           (C iterates, no allocation)
    libm_tanh_s, libm_exp_s, libm_log_s, libm_sin_s
                one element of map(math.tanh, xs) (exp, log, sin) beyond map(operator.neg, xs)
  array_calls kernels that are NumPy calls (the NumPy backend)
    call_s      an empty kernel call (a 1-element add)
    scalar_call_s  the same on NumPy scalars (0-d results take that faster path)
    calls       {kind: seconds}: the fixed cost of each other kind of NumPy call, on 1-element
                arrays (price_array_calls.CALL_KINDS: reduce, matmul, index, where, view, ...)
    blas_curve  [[FLOPs, seconds], ...]: np.matmul of small square float32 matrices (4 ... 512)
                and the large-size rate at 1024; a small matmul's time is read off it
    blas_curve_nt  the same with the second operand a transposed view (a @ b.T): linear_act's
                product, which OpenBLAS's small kernels run slower
    blas_flops  np.matmul at one large size, per dtype (FLOP/s)
    blas_flops_1thread  the same, float32, BLAS on one thread: over host.fma_flops_per_core it says
                how close a tuned matmul gets to the FMA peak here (compiled matmuls are priced so)
    exp_s       np.exp per element on an array in cache (the slope from 8K to 64K elements), per dtype
    tanh_s      np.tanh likewise (NumPy's tanh is its own vectorised loop, here twice exp's speed)
    select_s    np.where(random mask, a, b) per element (256K elements): an unpredictable branch
    strided_loop  {run_s, element_s}: a binary op NumPy cannot run as one flat loop (a broadcast or
                a permuted operand): per row of its loop, per element (rows of 4 and of 256)
  gpu         a GPU backend (when a GPU is there)
    call_s          an empty kernel call: launch + synchronisation
    h2d_bytes_per_s host -> device copy;  d2h_bytes_per_s device -> host copy
    bandwidth       a device-to-device copy (read + write)
    fma_flops       an FMA loop on every SM, float32
  compiled_host  a backend that compiles kernels itself (Cython): call_s (an empty call of a
              kernel it delegates), native_call_s (of one it compiles), call_by_kernel (each
              compiled kernel's call at a tiny size, between Python work), matmul_curve (its
              square float32 products, 4 to 512, on matmul_curve_threads threads),
              matmul_flops_1thread (its matmul at 512^3 on one thread: how close it comes to the
              FMA peak), row_s (each row kernel's time per row of a classifier head's 10 columns),
              matmul_narrow_curve and matmul_short_k_curve (its float32 products with 10
              columns, and 10 deep, at training sizes);
              its kernels run at the host's rates on the threads its PRICING reports
  reference      napkin.drift's probes (a Python loop, a NumPy call, a 16 MiB read, an FMA loop)
              as calibration ended: the bench compares its own against them
"""
import copy
import json
import os
import platform
import socket
import sys
import time

from tinygrad_nm.backends import available_cores
from tinygrad_nm.napkin import framework
from tinygrad_nm.napkin.model import FAMILIES
from tinygrad_nm.settings import settings

ENV_VAR = "TINYGRAD_NM_RATES"  # settings.rates
VERSION = 7  # 2: sections by pricing family, not by backend; 3: NumPy call kinds, small BLAS, framework phases;
#             4: a reduction's inner loops (run_s "reduce")
#             5: host cold_read (operands read from further out: locality.py), strided_loop
#             6: NumPy's tanh at its own rate (tanh_s)
#             7: the interpreter's libm_* rates; framework rates less their kernel calls replayed
MMAP_THRESHOLD = 32 << 20  # glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit Linux

DEFAULTS = {
    "host": {
        "cores": 2,
        "fma_flops_per_core": {"float32": 235e9, "float64": 118e9},  # machine notes: 2 FMA x 16 lanes x 3.7 GHz
        "scalar_flops": 5e9,
        "vexp_s": 0.3e-9,
        "vdiv_s": 0.1e-9,
        "fork_join_s": 2e-6,
        "fork_join_cold_s": 10e-3,
        "bandwidth": [[64 << 10, 100e9], [1 << 20, 70e9], [16 << 20, 40e9], [128 << 20, 35e9]],  # notes: 35-40 GB/s copy
        "fresh_page_s_per_byte": 0.1e-9,
        "mmap_threshold": MMAP_THRESHOLD,
        # measured so on the Zen 5 VM (2026-12-02): ~0 in L2, ~10 ps past it, 40-70 ps from DRAM
        "cold_read": [[256 << 10, 1e-12], [1 << 20, 6e-12], [4 << 20, 9e-12], [16 << 20, 12e-12],
                      [64 << 20, 50e-12]],
    },
    "framework": framework.DEFAULT_RATES,
    **{name: family.DEFAULT_RATES for name, family in FAMILIES.items()},  # each pricing family's own
}


def cache_path():
    """Where calibrated rates live: $TINYGRAD_NM_RATES, else ~/.cache/tinygrad_nm/rates-<host>.json."""
    if settings.rates:
        return os.path.abspath(settings.rates)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tinygrad_nm", f"rates-{socket.gethostname()}.json")


def fingerprint():
    """What a calibration depends on besides the hardware: a cache made under another setting is stale."""
    try:
        import numpy
        numpy_version = numpy.__version__
    except ImportError:
        numpy_version = None
    return {
        "host": socket.gethostname(),
        "machine": platform.machine(),
        "python_version": platform.python_version(),
        "numpy_version": numpy_version,
        "cpus": available_cores(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        # BLAS's and the native kernels' thread counts set the matmul rates (a cache calibrated on
        # one thread priced a two-thread 1024^3 product at 2x its time)
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
        "TINYGRAD_NM_NUM_THREADS": os.environ.get("TINYGRAD_NM_NUM_THREADS"),
    }


class Rates:
    """Base rates by section (`rates["array_calls"]["call_s"]`), plus where they came from."""

    def __init__(self, data, source, path=None, note=""):
        self.data, self.source, self.path, self.note = data, source, path, note

    @property
    def calibrated(self):
        return self.source == "calibrated"

    def __getitem__(self, section):
        return self.data[section]

    def section(self, name):
        """The rates of one section: "host", "framework" or a pricing family's."""
        if name in self.data:
            return self.data[name]
        if name in DEFAULTS:
            return DEFAULTS[name]
        raise KeyError(f"no rates section {name!r}; sections: {', '.join(self.data)}")

    def describe(self):
        """One line saying where the rates come from."""
        if self.calibrated:
            when = self.data.get("measured_at", "?")
            return f"rates calibrated {when} ({self.path})"
        why = f"; {self.note}" if self.note else ""
        return f"default rates from the machine notes (`tinygrad-nm calibrate` measures this machine's){why}"

    def to_json(self):
        return copy.deepcopy(self.data)


def defaults(note=""):
    data = copy.deepcopy(DEFAULTS)
    data["host"]["cores"] = available_cores()
    return Rates(data, "defaults", note=note)


def save(data, path=None):
    """Write calibrated rates (a dict as calibrate.measure returns) to the cache; returns the path."""
    path = path or cache_path()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    payload = dict(data, version=VERSION, fingerprint=fingerprint())
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=1, sort_keys=True)
    os.replace(tmp, path)  # atomic: a reader never sees half a file
    return path


def load_file(path):
    """Rates from a cache file, or defaults with the reason when it is missing, stale or unreadable."""
    if not os.path.exists(path):
        return defaults()
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        return defaults(note=f"the cache {path} is unreadable ({e})")
    if data.get("version") != VERSION:
        return defaults(note=f"the cache {path} has format version {data.get('version')}, this code reads {VERSION}")
    stale = {k: (v, data.get("fingerprint", {}).get(k)) for k, v in fingerprint().items()
             if data.get("fingerprint", {}).get(k) != v}
    if stale:
        what = ", ".join(f"{k} now {now!r} was {then!r}" for k, (now, then) in stale.items())
        return defaults(note=f"the cache {path} was measured under another setting ({what})")
    return Rates(merged_with_defaults(data), "calibrated", path)


def merged_with_defaults(data):
    """Calibrated values over the defaults: a section or value calibration skipped keeps its default."""
    merged = copy.deepcopy(DEFAULTS)
    for section, values in data.items():
        if isinstance(values, dict) and isinstance(merged.get(section), dict):
            merged[section].update(values)
        else:
            merged[section] = values
    return merged


_current = None


def current():
    """The rates estimates use: set_current's, else the cache's, else the defaults."""
    global _current
    if _current is None:
        _current = load_file(cache_path())
    return _current


def set_current(rates):
    """Use these rates (a Rates, a dict of calibrated rates, or None to re-read the cache)."""
    global _current
    if isinstance(rates, dict):
        rates = Rates(merged_with_defaults(rates), "calibrated", path="in memory")
    _current = rates
    return _current


def stamp():
    return time.strftime("%Y-%m-%d %H:%M:%S")


def python_id():
    return f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})"
