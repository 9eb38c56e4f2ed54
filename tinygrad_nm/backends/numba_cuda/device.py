"""The device and its buffers: whether kernels can run here, how they are launched, what a buffer is.

No kernel lives here; every other module of the package builds on this one.

A buffer is a `CudaBuffer`: a view (shape, strides, offset, in elements) over a flat 1-D device
array. Views make reshape of contiguous data, permute, expand and basic indexing free, the way
NumPy's arrays do; the kernels take strides, so they read any view directly.

Launch configuration is chosen per call from the shape (`LaunchPolicy`): a grid of 256-thread
blocks for elementwise work, a serial or a block-per-row kernel for reductions and softmax rows,
the direct, tiled or register-blocked kernel for matmul.
"""
import builtins
import importlib.util
import os
import sys
from dataclasses import dataclass

import numpy as np

from tinygrad_nm.backends import strided

NAME = "numba_cuda"
# napkin prices this backend as a GPU: a launch per kernel, the device's rates, host<->device transfers
PRICING = {"family": "gpu"}
_INSTALL = "pip install 'tinygrad_nm[cuda]' (or: pip install 'numba-cuda[cu12]')"

try:
    from numba import config as _numba_config
    from numba import cuda

    import numba_cuda  # noqa: F401  the maintained CUDA target; numba's built-in one is deprecated
    IMPORT_ERROR = None
except ImportError as e:  # the backend is then unavailable; unavailable_reason() says why
    cuda = _numba_config = None
    IMPORT_ERROR = e

NP_TYPES = {"bool": np.bool_, "int64": np.int64, "float32": np.float32, "float64": np.float64}
_reason = None
_checked = False
bmax, bmin = builtins.max, builtins.min  # the package defines kernels called max, sum, abs and pow


# --- availability -----------------------------------------------------------------------------
def simulated():
    return bool(_numba_config is not None and _numba_config.ENABLE_CUDASIM)


def unavailable_reason():
    """None when kernels can run (a CUDA GPU, or the simulator); otherwise why not and the fix."""
    global _reason, _checked
    if not _checked:
        _reason, _checked = _find_reason(), True
    return _reason


def _find_reason():
    if IMPORT_ERROR is not None:
        return f"numba-cuda is not installed ({IMPORT_ERROR}); install it with {_INSTALL}"
    if simulated():
        return None
    asked = os.environ.get("NUMBA_ENABLE_CUDASIM", "0").strip() not in ("", "0")
    if asked:
        return ("NUMBA_ENABLE_CUDASIM=1 was set after numba had been imported, so Numba runs its real "
                "CUDA target; set the variable before Python starts")
    allocator_problem = _install_caching_allocator()  # before the first context: Numba reads its memory manager then
    try:
        cuda.get_current_device()
    except Exception as e:  # CudaSupportError and friends: no driver, no device
        detail = " ".join(str(e).split())[:200]
        return (f"no usable CUDA GPU ({detail}); use a machine with an NVIDIA GPU and driver, or set "
                f"NUMBA_ENABLE_CUDASIM=1 before Python starts to run the kernels in Numba's CUDA "
                f"simulator (slow: for tests)")
    if allocator_problem:  # said only where there is a GPU to allocate on
        import warnings
        warnings.warn(f"numba_cuda: the caching allocator could not be installed ({allocator_problem}); Numba's "
                      f"own allocator is used (a cuMemAlloc and cuMemFree per buffer)", RuntimeWarning, stacklevel=3)
    try:  # the compiler's own NumPy typing, which it loads at the first compile (numba-cuda 0.30
        # uses np.row_stack, gone from NumPy 2.5: every kernel would fail to compile); a numba-cuda
        # without this module (before 0.21) is not judged here
        if importlib.util.find_spec("numba.cuda.np.arrayobj") is not None:
            import numba.cuda.np.arrayobj  # noqa: F401
    except (AttributeError, ImportError) as e:
        return (f"numba-cuda {getattr(numba_cuda, '__version__', '?')} cannot compile kernels with NumPy "
                f"{np.__version__} ({e}); install a NumPy it supports (pip install 'numpy<2.5') or a newer numba-cuda")
    try:
        from numba.cuda.cudadrv.nvvm import NVVM
    except ImportError:  # another numba-cuda layout: a missing compiler will say so at the first launch
        return None
    try:
        NVVM()
    except Exception as e:
        return (f"a CUDA GPU is present but Numba cannot compile for it: libNVVM was not found ({e}); "
                f"install the CUDA compiler libraries, e.g. pip install 'numba-cuda[cu12]' or 'numba-cuda[cu13]' "
                f"to match the driver")
    return None


def _install_caching_allocator():
    """memory.install(); None, or why it failed (another Numba's plugin interface): Numba's own
    allocator then stays in place, and the backend still works."""
    try:
        from tinygrad_nm.backends.numba_cuda import memory
        memory.install()
    except Exception as e:
        return str(e) or type(e).__name__
    return None


# --- launch policy ----------------------------------------------------------------------------
@dataclass(frozen=True)
class LaunchPolicy:
    """How kernels are launched; chosen once for the device, replaceable (tests shrink it).

    On a GPU (gpu_policy), the numbers come from the resource table `tinygrad-nm cuda-report`
    prints (bench/README.md, "CUDA kernel resources"); `resources.ASSUMED_OCCUPANCY` holds the
    occupancy each kind of kernel needs, and the PTX test fails if a kernel's registers or
    shared memory would keep it below that on sm_80 or sm_90."""
    threads: int          # threads per block of elementwise / gather kernels (grid-stride loops)
    thread_items: int     # ... but no more threads than n / thread_items for n items
    max_blocks: int       # at most this many blocks: enough to fill the GPU, then threads loop
    reduce_threads: int   # block size of cooperative reductions and softmax rows (a power of 2)
    reduce_items: int     # elements each reducing thread folds before a row is split in chunks
    serial_row_max: int   # rows this short are reduced by one thread each
    tile: int             # tiled matmul: tile x tile threads per block
    tiled_min: int        # matmul() takes the tiled kernel when both output sides reach this
    blocking: tuple       # register-blocked matmul: (BM, BN, BK, TM, TN)


def gpu_policy(sm_count):
    """The policy on a GPU, justified by the resource table (`tinygrad-nm cuda-report`, copied in
    bench/README.md: ptxas's registers and shared memory on sm_80 and sm_90, and the occupancy).

    - 256-thread blocks (8 warps: two per warp scheduler) for elementwise, gather and row
      kernels. The map kernels take 18-42 registers, so 6-8 such blocks are resident per SM
      (62.5-100% occupancy, above the 50% ASSUMED_OCCUPANCY asks of memory-bound kernels); 32
      blocks per SM in the grid give every SM several waves, then the grid-stride loops go on.
    - Reductions: 256-thread blocks, 16 elements a thread before a row is split in chunks; their
      launch bounds hold them to 64 registers (50%), which the table shows they fit unspilled.
    - matmul, register-blocked: a 128x128 block tile of 8x8 register tiles (256 threads), K in
      steps of 8: 8 KiB of shared memory in float32, 16 KiB in float64. It takes 164-178
      registers (float32; 254 in float64), so one block per SM is resident (12.5%): enough,
      because each thread has 64 independent FMAs per k (the PTX of the inner loop is 64 FMAs
      among 92 instructions), not latency hiding by other warps. Bigger tiles would spill (the
      float64 one is at 254 of 255 registers); smaller ones (4x4 per thread) halve the FMAs per
      shared load. The 128x128 tile needs m, n >= 128 to be worth a block; a 4096 product gives
      1024 blocks, ~8 waves over 132 SMs.
    - matmul, tiled: 32x32 threads (1024), 8 KiB of shared memory, 32 registers: two blocks per
      SM (100%); matmul() takes it from 32 to 127 rows or columns, where a 128x128 tile would
      leave most of the GPU idle, and for integer products.
    - matmul, direct: a thread per output, for thinner products (36-40 registers, 75%)."""
    return LaunchPolicy(threads=256, thread_items=1, max_blocks=32 * sm_count, reduce_threads=256, reduce_items=16,
                        serial_row_max=32, tile=32, tiled_min=32, blocking=(128, 128, 8, 8, 8))


# The simulator pays ~0.1-0.5 ms per simulated thread and a few microseconds per element a
# thread handles: few threads, each doing more (>= 128 elements), is what keeps it fast. So
# matmul() prefers the direct kernel (grid-stride, <= 8 threads) and the register-blocked one
# (64 outputs per thread) to the tiled one (a thread per output), which tests call by name.
# Tests shrink these further to cross block and chunk boundaries with small data.
SIMULATOR_POLICY = LaunchPolicy(threads=8, thread_items=128, max_blocks=1, reduce_threads=4, reduce_items=64,
                                serial_row_max=64, tile=4, tiled_min=64, blocking=(16, 16, 8, 8, 8))
# The occupancy (resident warps / the SM's 64) each kind of kernel is launched assuming; the
# row kernels are compiled with launch bounds that hold them to it, and the PTX test
# (resources.problems) fails when registers or shared memory keep a kernel below it on sm_80 or
# sm_90. Memory-bound kernels want many loads in flight (napkin's GPU model: the fraction of the
# bandwidth reachable grows with resident warps); register blocking gets its parallelism from
# 64 independent FMAs per thread instead, so one 256-thread block per SM is what it needs.
ASSUMED_OCCUPANCY = {
    "elementwise": 0.5,       # grid-stride 256-thread blocks: <= 64 registers per thread
    "rows": 0.5,              # reductions, serial and block-per-row (launch bounds hold them to 64 registers)
    "softmax": 0.375,         # softmax rows: an exp and a float64 division per element; bounded at 64
                              # registers ptxas spills 24-64 bytes on sm_90, at 80 none (3 blocks of 256)
    "matmul_direct": 0.5,     # a thread per output reading global memory: latency-bound, needs warps
    "matmul_batched_direct": 0.5,  # the same over a batch
    "matmul_tiled": 0.5,      # one 1024-thread block per SM
    "matmul_register_blocked": 0.125,  # one 256-thread block per SM (the table: 164-254 registers)
}
SM_THREADS = 2048  # thread slots per SM on sm_80 and sm_90 (CUDA C Programming Guide, compute capabilities)
POLICY = None  # set on first use; tests replace it (monkeypatch device.POLICY)


def policy():
    global POLICY
    if POLICY is None:
        if simulated():
            # The simulator's main thread polls its threads (started, waiting in syncthreads,
            # done) under the GIL; a short switch interval hands the GIL over sooner. Measured
            # here: the digits example 2-7x faster than with Python's default 5 ms.
            sys.setswitchinterval(bmin(sys.getswitchinterval(), 1e-4))
            POLICY = SIMULATOR_POLICY
        else:
            _quiet_small_grid_warnings()
            POLICY = gpu_policy(cuda.get_current_device().MULTIPROCESSOR_COUNT)
    return POLICY


def _quiet_small_grid_warnings():
    """Numba warns on every launch of fewer than 128 blocks; a framework whose tensors are often
    small launches such grids on purpose (the grid is sized to the data)."""
    try:
        from numba.cuda.core import config as cuda_config
        cuda_config.CUDA_LOW_OCCUPANCY_WARNINGS = 0
    except (ImportError, AttributeError):  # another numba-cuda layout: the warnings stay
        pass


def reduce_chunks(rows, length, p):
    """How many chunks one block pass of the reductions splits each of `rows` rows of `length`
    elements into (1: the pass finishes every row): a block folds reduce_threads x reduce_items
    elements, and all rows together take at most max_blocks blocks."""
    return bmin(-(-length // (p.reduce_threads * p.reduce_items)), bmax(1, p.max_blocks // rows))


def grid(n):
    """(blocks, threads) for a grid-stride kernel over n items."""
    p = POLICY or policy()
    threads = bmax(1, bmin(p.threads, -(-n // p.thread_items)))
    return bmin(-(-n // threads), p.max_blocks), threads


# --- buffers ----------------------------------------------------------------------------------
class CudaBuffer:
    """A view over device storage: `data` (a flat 1-D device array), `shape`, `strides` and
    `offset` in elements, `dtype` (a DType)."""
    __slots__ = ("data", "shape", "strides", "offset", "dtype", "__weakref__")  # conv_compose keeps columns per x

    def __init__(self, data, shape, strides, offset, dtype):
        self.data, self.shape, self.strides, self.offset, self.dtype = data, shape, strides, offset, dtype

    @property
    def size(self):
        return size(self.shape)

    def __repr__(self):
        return f"CudaBuffer(shape={self.shape}, strides={self.strides}, offset={self.offset}, dtype={self.dtype})"


def size(shape):
    n = 1
    for d in shape:
        n *= d
    return n


row_major = strided.strides  # row-major strides in elements, as everywhere else


def np_type(dtype):
    """The NumPy type of a DType's device arrays; every buffer is made through here, so a dtype the
    kernels are not compiled for (float16) is refused before anything is allocated."""
    try:
        return NP_TYPES[dtype.name]
    except KeyError:
        raise TypeError(f"the {NAME} backend does not hold {dtype.name} tensors: its kernels are compiled for "
                        f"{', '.join(NP_TYPES)}; cast with .float() first, or keep {dtype.name} on a host "
                        f"backend") from None


def alloc(n, np_dtype):
    """A new flat device array of n elements: the one place device memory is allocated."""
    return cuda.device_array(n, np_dtype)


def upload(host):
    """The one place host data is copied to the device."""
    return cuda.to_device(host) if host.size else cuda.device_array(0, host.dtype)


def download(device_array):
    """The one place device data is copied to the host."""
    return device_array.copy_to_host()


def empty(shape, dtype):
    shape = tuple(shape)
    return CudaBuffer(alloc(size(shape), np_type(dtype)), shape, row_major(shape), 0, dtype)


def is_contiguous(a):
    return strided.is_row_major(a.shape, a.strides)


def dev(a):
    """The device array the kernels index: storage starting at the view's first element."""
    return a.data if a.offset == 0 else a.data[a.offset:]


def is_writable(a):
    """False for broadcast views (a stride 0 over a dimension longer than 1): one element
    stands for many, so writing through it is not what the caller means."""
    return all(s != 0 or n <= 1 for n, s in zip(a.shape, a.strides))


def broadcast_shape(*shapes):
    return strided.broadcast_shapes(*shapes)


def strides_for(a, shape):
    """a's strides when broadcast to `shape`: 0 along new and stretched dimensions."""
    lead = len(shape) - len(a.shape)
    return (0,) * lead + tuple(0 if n == 1 and m != 1 else s
                               for n, m, s in zip(a.shape, shape[lead:], a.strides))


def collapse(shape, strides_list):
    """Merge neighbouring dimensions that are contiguous with each other in every operand and
    drop dimensions of size 1: (shape, [strides...]) with as few dimensions as possible (>= 1)."""
    merged_shape, merged = [], [[] for _ in strides_list]
    for d, n in enumerate(shape):
        if n == 1:
            continue
        if merged_shape and all(st[-1] == s[d] * n for st, s in zip(merged, strides_list)):
            merged_shape[-1] *= n
            for st, s in zip(merged, strides_list):
                st[-1] = s[d]
        else:
            merged_shape.append(n)
            for st, s in zip(merged, strides_list):
                st.append(s[d])
    if not merged_shape:  # a single element: any stride reaches it
        return (1,), [(1,)] * len(strides_list)
    return tuple(merged_shape), [tuple(st) for st in merged]


def synchronize():
    """Wait for every launched kernel (launches are asynchronous on a GPU): for timing."""
    cuda.synchronize()


def describe():
    """The device and versions, for benchmark records."""
    import numba
    info = {"numba": numba.__version__, "numba_cuda": getattr(sys.modules.get("numba_cuda"), "__version__", "?"),
            "simulator": simulated()}
    if not simulated():
        d = cuda.get_current_device()
        info.update(device=d.name.decode() if isinstance(d.name, bytes) else str(d.name),
                    compute_capability=".".join(map(str, d.compute_capability)),
                    multiprocessors=d.MULTIPROCESSOR_COUNT)
        try:
            info["driver"] = ".".join(map(str, cuda.cudadrv.driver.driver.get_version()))
            info["runtime"] = ".".join(map(str, cuda.runtime.get_version()))
        except Exception as e:  # versions are informative only
            info["versions_error"] = str(e)
    return info
