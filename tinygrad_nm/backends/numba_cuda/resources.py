"""Every kernel the backend launches, compiled for a real GPU without one: PTX from Numba
(cuda.compile_ptx, libNVVM) for sm_80 and sm_90, assembled by ptxas -v, which reports registers
per thread, shared memory per block and local-memory spills; from those and the block size, the
occupancy on each architecture.

How the launches are found: `capture()` runs every kernel of the kernel set (kernels.py, family by
family, in each dtype the Tensor layer sends it) with launches replaced by recording the kernel,
the Numba types of its arguments and the block size, and device arrays by NumPy arrays (Numba
types both alike). Nothing runs on a device; a process with NUMBA_ENABLE_CUDASIM=1 cannot do this.

    tinygrad-nm cuda-report            # the table (markdown) for bench/README.md
    tinygrad-nm cuda-report --json F   # and the rows as JSON (napkin's GPU model reads these)
"""
import functools
import glob
import math
import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np

from tinygrad_nm import dtypes
from tinygrad_nm.backends.gpu_arch import occupancy
from tinygrad_nm.backends.numba_cuda.device import ASSUMED_OCCUPANCY, NP_TYPES
from tinygrad_nm.backends.kernels import ACTIVATIONS, KERNELS, TABLE
from tinygrad_nm.backends.windows import output_size

ARCHS = {"sm_80": (8, 0), "sm_90": (9, 0)}  # A100; H100/H200 (their per-SM limits: backends/gpu_arch.py)
SPILL_FREE = ("rows", "softmax", "matmul_direct", "matmul_batched_direct", "matmul_tiled", "matmul_register_blocked")  # any spill fails the test

INTEGER_UNARY = ("neg", "abs", "sign", "relu")  # tensor.py lifts ints to floats for the other unary ops


@dataclass
class Launch:
    """One compiled specialisation: a kernel, the types of its arguments, how it is launched."""
    kernel: str          # readable name: module.factory/role [applied function]
    kind: str            # a key of ASSUMED_OCCUPANCY
    served: tuple        # the kernel-set names whose calls launched it
    dtype: str           # the dtype of its first array argument that is not a bool mask
    block: int           # threads per block
    signature: str
    launch_bounds: tuple = None


@dataclass
class Resources:
    kernel: str
    kind: str
    served: str
    dtype: str
    arch: str
    registers: int
    shared_bytes: int
    spill_bytes: int     # spill stores + spill loads
    stack_bytes: int
    block: int
    occupancy: float     # resident warps / the SM's maximum
    limiter: str         # what bounds it: registers, shared, threads, blocks
    fmas: int = 0        # matmul kernels: multiply-adds in the PTX of the inner loop ...
    instructions: int = 0  # ... and all its instructions

    def as_row(self):
        return asdict(self)


# --- finding the launches ------------------------------------------------------------------------
def _kind(qualname, module):
    if module.endswith("gemm"):
        return "matmul_" + qualname.split("_matmul")[0].split(".")[0]
    if module.endswith("softmax_rows") and qualname != "cross_entropy_backward_kernel":
        return "softmax"
    return "rows" if module.endswith("reductions") else "elementwise"


def _label(py_func):
    """module.factory/role, plus the device function a map kernel applies."""
    module = py_func.__module__.rsplit(".", 1)[-1]
    name = py_func.__qualname__.replace(".<locals>.", "/")
    applied = ""
    cells = dict(zip(py_func.__code__.co_freevars, py_func.__closure__ or ()))
    if "f" in cells:  # a map kernel: name what it maps
        f = getattr(cells["f"].cell_contents, "py_func", cells["f"].cell_contents)
        inner = dict(zip(f.__code__.co_freevars, f.__closure__ or ())).get("op")
        f = getattr(inner.cell_contents, "py_func", inner.cell_contents) if inner else f
        applied = f" [{f.__name__.lstrip('_')}]"
    return f"{module}.{name}{applied}", _kind(py_func.__qualname__, module)


@contextmanager
def _recording(nc):
    """Launches record instead of running; device memory is NumPy memory; the policy is an H100's."""
    import numba
    from numba.cuda import dispatcher

    class HostArray(np.ndarray):  # a NumPy array with the one device-array method the backend uses
        def copy_to_host(self):
            return np.array(self)

    class FakeCuda:
        device_array = staticmethod(lambda n, dtype: np.zeros(n, dtype).view(HostArray))
        to_device = staticmethod(lambda a: np.array(a).view(HostArray))

    launches, serving = {}, []

    def launcher(kernel, config):
        def record(*args):
            types = tuple(numba.typeof(np.asarray(a) if isinstance(a, HostArray) else a) for a in args)
            key = (kernel.py_func, types)
            if key not in launches:
                label, kind = _label(kernel.py_func)
                block = math.prod(config[1]) if isinstance(config[1], tuple) else int(config[1])
                if kind not in ("matmul_tiled", "matmul_register_blocked"):  # grid(n) launches fewer for small n
                    block = max(block, nc.device.POLICY.threads)
                arrays = [t for t in types if isinstance(t, numba.types.Array)]  # the data's, not a mask's
                array = next((t for t in arrays if str(t.dtype) != "bool"), arrays[0] if arrays else None)
                launches[key] = Launch(label, kind, (), str(array.dtype) if array else "-", block, str(types),
                                       kernel.targetoptions.get("launch_bounds"))
            if serving and serving[-1] not in launches[key].served:
                launches[key].served += (serving[-1],)
        return record

    saved = (dispatcher.CUDADispatcher.__getitem__, nc.device.cuda, nc.device.POLICY)
    dispatcher.CUDADispatcher.__getitem__ = launcher
    nc.device.cuda, nc.device.POLICY = FakeCuda, nc.device.gpu_policy(_FakeDevice.MULTIPROCESSOR_COUNT)
    try:
        with _fake_device(ARCHS["sm_90"]):
            yield launches, serving
    finally:
        dispatcher.CUDADispatcher.__getitem__, nc.device.cuda, nc.device.POLICY = saved


def _params(name):
    """The parameter names of a kernel, read off its signature in the kernel table (defaults dropped)."""
    sig = TABLE[name].signature
    return [p.split("=")[0].strip() for p in sig[sig.index("(") + 1:sig.rindex(")")].split(",") if p.strip()]


def _served(name, dtype):
    """Whether the Tensor layer sends kernel `name` buffers of `dtype` (it lifts integers to floats
    for the transcendental ops, divides in floats, and accumulates gradients in floats only)."""
    family = TABLE[name].family
    if dtype.startswith("float") or family in ("creation", "transfer", "reduce", "movement", "matmul"):
        return True
    if family == "unary":
        return name in ("astype", "copy") or (dtype == "int64" and name in INTEGER_UNARY)
    if family == "binary":
        return name != "div" and (dtype == "int64" or name in ("eq", "ne", "where"))
    return family == "indexing" and not (dtype == "bool" and name == "index_add")  # conv: floats only


def _exercise(nc, serving):
    """Call every kernel of the kernel table, in each dtype the Tensor layer sends it, with the arguments
    its signature names: contiguous and strided buffers, scalars on either side, short and long rows, every matmul path."""
    rng = np.random.default_rng(0)
    dts = {d.name: d for d in dtypes.ALL if d.name in NP_TYPES}  # not float16, which the backend refuses
    done = set()

    def call(name, *args):
        serving.append(name)
        done.add(name)
        try:
            return getattr(nc, name)(*args)
        finally:
            serving.pop()

    def d(shape, dtype):  # integers >= 0: pow refuses a negative integer exponent before it launches
        v = rng.standard_normal(shape)
        return nc.from_numpy(v > 0 if dtype == "bool" else np.abs(v) if dtype == "int64" else v, dts[dtype])

    for dtype in ("float32", "float64", "int64", "bool"):
        x, x3 = d((4, 6), dtype), d((5, 4, 3), dtype)
        xt = nc.permute(d((6, 4), dtype), (1, 0))  # the same shape, strided
        rows = [(x, 1), (xt, 0), (d((2, 5000), dtype), 1), (d((3000, 4), dtype), 1)]  # short and long rows
        idx = nc.from_numpy(np.array([0, 3, 3]), dts["int64"])
        labels = nc.from_numpy(np.array([0, 5, 1, 2]), dts["int64"])
        cond = nc.from_numpy(rng.standard_normal((4, 6)) > 0, dts["bool"])
        keys = [(idx,), (1, idx), (slice(None), idx), (1,)]
        # im2col / col2im (float only): a padded 3x3 window, and an uneven one (strides, dilation, padding)
        windows = [((3, 3), (1, 1), (1, 1), ((1, 1), (1, 1))), ((2, 3), (2, 1), (1, 2), ((0, 1), (2, 0)))] \
            if _served("im2col", dtype) else []  # the array first, after an int, after a slice; none
        G = ("stride", "dilation", "padding", "groups")  # conv2d's; its calls: x, w, b, g, the backward's x
        wc = [(win, (d((2, 4, 7, 6), dtype), d((6, 2, *win[0]), dtype), d((6,), dtype),
                     d((2, 6, *output_size((2, 4, 7, 6), *win)), dtype), d((2, 4, 7, 6), dtype))) for win in windows]
        arguments = {  # parameter name -> the argument lists a kernel with that signature gets
            ("a",): [(x,), (xt,)], ("a", "row_major"): [(x, False), (xt, True)],
            ("a", "b"): [(x, x), (x, xt), (x, 2), (3, xt), (x, 2.5)],
            ("x", "g"): [(x, x), (xt, x)], ("y", "g"): [(x, x), (xt, x)], ("a", "dtype"): [(v, t) for v in (x, xt) for t in dts.values()],
            ("cond", "a", "b"): [(cond, x, xt), (cond, x, 1), (cond, 0, xt)],
            ("a", "axes", "keepdims"): [(x3, ax, k) for ax in ((0,), (1,), (2,), (0, 2), (0, 1, 2)) for k in (0, 1)]
            + [(r, (axis,), False) for r, axis in rows],
            ("a", "axis"): rows, ("y", "g", "axis"): [(r, r, axis) for r, axis in rows],
            ("logits", "labels"): [(x, labels), (d((4, 5000), dtype), labels)],
            ("a", "axes"): [(x3, (2, 0, 1))],
            ("a", "index"): [(x, k) for k in keys], ("a", "index", "value"): [(x, k, v) for k in keys for v in (1, xt)],
            ("acc", "index", "g"): [(x, k, call("getitem", x, k)) for k in keys],
            ("a", "value"): [(x, xt), (xt, 1)], ("shape", "value", "dtype"): [((3, 2), 1, dts[dtype])],
            ("array", "dtype"): [(np.ones(3), dts[dtype])],
            ("a", "kernel", "stride", "dilation", "padding"): [(d((2, 3, 7, 6), dtype), *window) for window in windows],
            ("cols", "shape", "kernel", "stride", "dilation", "padding"):
                [(call("im2col", d((2, 3, 7, 6), dtype), *window), (2, 3, 7, 6), *window) for window in windows],
            ("g", "indices", "shape", "kernel", "stride", "dilation", "padding"):  # max_pool2d's backward
                [(*call("max_pool2d", d((2, 3, 7, 6), dtype), *window), (2, 3, 7, 6), *window) for window in windows],
            ("a", "alpha", "x", "beta"): [(d((4, 6), dtype), -0.5, x, 1.0), (d((4, 6), dtype), 2.0, xt, 0.9)],
            ("x", "w", "b", "act"): [(x, d((5, 6), dtype), b, a) for a in ACTIVATIONS for b in (d((5,), dtype), None)],
            ("x", "w", "b", *G): [(*c[:3], *win[1:], 2) for win, c in wc],  # conv2d, then its backward
            ("x", "w", "g", *G, "input_grad", "bias_grad"): [(c[4], c[1], c[3], *w[1:], 2, True, True) for w, c in wc],
            ("x", "w", "b", *G, "act"): [(*c[:3], *win[1:], 2, act) for act in ACTIVATIONS for win, c in wc[:1]],
            ("x", "w", "y", "g", *G, "act", "input_grad", "bias_grad"):
                [(c[4], c[1], c[3], c[3], *win[1:], 2, act, True, True) for act in ACTIVATIONS for win, c in wc[:1]],
        }
        for name in KERNELS:
            params = tuple(_params(name))
            if not _served(name, dtype) or TABLE[name].family == "matmul":  # matmul: below, shape by shape
                continue
            if params == ("a", "shape"):  # a new shape must suit the buffer: same size, or a broadcast
                call(name, *((d((1, 6), dtype), (4, 6)) if "broadcast" in TABLE[name].doc else (xt, (24,))))
            elif name == "cross_entropy_backward":  # its probs come from the forward kernel
                for logits, lab in arguments[("logits", "labels")]:
                    loss, probs = call("cross_entropy", logits, lab)
                    call(name, probs, lab, loss)
            else:
                for args in arguments[params]:
                    call(name, *args)
        for m, k, n in ((256, 64, 256), (130, 9, 131), (40, 33, 31), (64, 64, 64), (4, 5, 3)):  # every matmul path
            a, b = d((m, k), dtype), d((k, n), dtype)
            call("matmul", a, b), call("matmul", a, nc.permute(d((n, k), dtype), (1, 0)))
            if dtype.startswith("float"):  # what matmul() takes at other sizes (the simulator's policy, tests, bench)
                serving.append("matmul")
                nc.matmul_direct(a, b), nc.matmul_tiled(a, b), nc.matmul_register_blocked(a, b)
                serving.pop()
        for m, k, n in ((4, 5, 3), (130, 9, 131)):  # a batch: of thin products (one launch), of tiled ones
            call("matmul", d((3, m, k), dtype), nc.permute(d((3, n, k), dtype), (0, 2, 1)))
        call("writable", nc.expand(d((1, 6), dtype), (4, 6)))
    missing = set(KERNELS) - done
    assert not missing, f"the launch list leaves out {sorted(missing)}"


@functools.cache
def launches():
    """Every specialisation the backend launches: {(py_func, argument types): Launch}."""
    from tinygrad_nm.backends import numba_cuda as nc
    if nc.device.simulated():
        raise RuntimeError("cuda-report compiles for a real GPU: run it without NUMBA_ENABLE_CUDASIM=1")
    if nc.device.IMPORT_ERROR is not None:
        raise RuntimeError(nc.unavailable_reason())
    with _recording(nc) as (found, serving):
        _exercise(nc, serving)
    return dict(found)


# --- compiling and assembling ----------------------------------------------------------------------
def ptxas_path():
    """ptxas from the pip wheel numba-cuda[cu12] brings (nvidia/cuda_nvcc/bin), else CUDA_HOME's or PATH's."""
    candidates = [os.path.join(p, "nvidia", "cuda_nvcc", "bin", "ptxas") for p in sys.path if p]
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    if home:
        candidates.append(os.path.join(home, "bin", "ptxas"))
    for c in candidates + glob.glob("/usr/local/cuda*/bin/ptxas"):
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return shutil.which("ptxas")


def toolchain_missing():
    """None when PTX can be made and assembled here; else why not and how to fix it."""
    try:
        from numba import config
        if config.ENABLE_CUDASIM:
            return "this process runs Numba's CUDA simulator, which compiles nothing (run without NUMBA_ENABLE_CUDASIM)"
        from numba import cuda
        cuda.compile_ptx(lambda a: None, "void(float32[::1])", cc=(8, 0))
    except ImportError as e:
        return f"numba-cuda is not installed ({e}); pip install 'numba-cuda[cu12]'"
    except Exception as e:
        return (f"libNVVM not found, so Numba cannot emit PTX here ({type(e).__name__}: {str(e)[:200]}); "
                f"pip install 'numba-cuda[cu12]'")
    if ptxas_path() is None:
        return "ptxas not found (pip install 'numba-cuda[cu12]' brings nvidia/cuda_nvcc/bin/ptxas)"
    return None


@functools.cache
def ptx(py_func, types, launch_bounds=None):
    """{arch: PTX} of one specialisation for every arch in ARCHS (cached for the process): typed
    and lowered to LLVM IR once, then NVVM run for each architecture (what cuda.compile_ptx does
    per cc, without typing the kernel again)."""
    from numba import cuda
    from numba.cuda import compiler
    first = next(iter(ARCHS.values()))
    with _fake_device(first):
        try:
            lib, _ = compiler._compile_pyfunc_with_fixup(
                py_func, types, debug=False, lineinfo=False, device=False, fastmath=False, cc=first, opt=True,
                abi="numba", abi_info=None, forceinline=False, launch_bounds=launch_bounds, lto=False)
        except (AttributeError, TypeError):  # another numba-cuda: the public API, one compile per arch
            return {arch: cuda.compile_ptx(py_func, types, cc=cc, launch_bounds=launch_bounds)[0]
                    for arch, cc in ARCHS.items()}
        return {arch: lib.get_asm_strs(cc=cc)[0] for arch, cc in ARCHS.items()}


class _FakeDevice:  # compiling a device function asks the current device for its compute capability
    MULTIPROCESSOR_COUNT = 132  # an H100 SXM's, for the launch policy

    def __init__(self, cc):
        self.compute_capability = cc


@contextmanager
def _fake_device(cc):
    from numba.cuda import dispatcher
    saved = dispatcher.get_current_device
    dispatcher.get_current_device = lambda: _FakeDevice(cc)
    try:
        yield
    finally:
        dispatcher.get_current_device = saved


_PROPS = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_USED = re.compile(r"Used (\d+) registers")
_SMEM = re.compile(r"Used \d+ registers[^\n]*?(\d+) bytes smem")


@functools.cache
def assemble(ptx_text, arch):
    """ptxas -v on one kernel's PTX: (registers, shared bytes, spill bytes, stack bytes)."""
    proc = subprocess.run([ptxas_path(), f"-arch={arch}", "-v", "-o", os.devnull, "-"], input=ptx_text,
                          capture_output=True, text=True, timeout=120)
    if proc.returncode:
        raise RuntimeError(f"ptxas -arch={arch} failed: {proc.stderr[-2000:]}")
    out = proc.stdout + proc.stderr
    used, props = _USED.search(out), _PROPS.search(out)
    if used is None or props is None:
        raise RuntimeError(f"could not read ptxas -v output: {out[-2000:]}")
    stack, stores, loads = map(int, props.groups())
    smem = _SMEM.search(out)
    return int(used.group(1)), int(smem.group(1)) if smem else 0, stores + loads, stack


@functools.cache
def table(workers=None):
    """A Resources row for every specialisation the backend launches, on every arch in ARCHS
    (cached for the process). ~360 specialisations take about a minute of CPU to compile and
    assemble, so forked worker processes share them out (the parent holds no CUDA context)."""
    global _FOUND
    _FOUND = list(launches().items())
    workers = workers or min(8, os.cpu_count() or 1)
    if workers > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            results = list(pool.map(_measure, range(len(_FOUND)), chunksize=4))
    else:
        results = [_measure(i) for i in range(len(_FOUND))]
    rows = []
    for (_, launch), per_arch in zip(_FOUND, results):
        for arch, (regs, shared, spills, stack, hot) in per_arch.items():
            occ, limiter = occupancy(regs, shared, launch.block, arch)
            rows.append(Resources(launch.kernel, launch.kind, ",".join(launch.served), launch.dtype, arch, regs,
                                  shared, spills, stack, launch.block, occ, limiter, *hot))
    return tuple(rows)


_FOUND = []


def _measure(i):
    """{arch: (registers, shared bytes, spill bytes, stack bytes, (FMAs, instructions) of the inner loop)}."""
    (py_func, types), launch = _FOUND[i]
    return {arch: (*assemble(text, arch), hottest_block(text) if launch.kind.startswith("matmul") else (0, 0))
            for arch, text in ptx(py_func, types, launch.launch_bounds).items()}


def hottest_block(ptx_text):
    """(FMAs, instructions) of the PTX basic block with the most multiply-adds: the inner loop."""
    best = (0, 0)
    for body in re.split(r"\n\$L__BB\d+_\d+:", ptx_text):
        lines = [ln for ln in body.split("\n") if ln.strip().endswith(";") and not ln.strip().startswith("//")]
        fmas = sum(re.search(r"\b(fma|mad)\.", ln) is not None for ln in lines)
        best = max(best, (fmas, len(lines)))
    return best


def problems(rows):
    """What the PTX test fails on: spills where SPILL_FREE, occupancy below ASSUMED_OCCUPANCY."""
    out = []
    for r in rows:
        if r.kind in SPILL_FREE and (r.spill_bytes or r.stack_bytes):
            out.append(f"{r.kernel} {r.dtype} {r.arch}: {r.spill_bytes} bytes spilled, {r.stack_bytes} of stack")
        if r.occupancy < ASSUMED_OCCUPANCY[r.kind]:
            out.append(f"{r.kernel} {r.dtype} {r.arch}: occupancy {r.occupancy:.0%} ({r.registers} registers, "
                       f"{r.shared_bytes} B shared, {r.block} threads; {r.limiter}-bound) below the "
                       f"{ASSUMED_OCCUPANCY[r.kind]:.0%} its launch policy assumes")
    return out
