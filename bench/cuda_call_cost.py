"""Where one small numba_cuda kernel call's time goes, on a real GPU: each part timed alone, then
a profile of the backend's add on one element (the call napkin's calibration times).

    python bench/cuda_call_cost.py                            # with the caching allocator
    TINYGRAD_NM_CUDA_POOL=0 python bench/cuda_call_cost.py    # with Numba's own allocator

Run by bench/gpu_session.sh, once each way. Needs a GPU: the simulator's timings mean nothing.
"""
import cProfile
import io
import os
import pstats
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def per_call_us(fn, sync, n=2000):
    fn()
    sync()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    sync()
    return round((time.perf_counter() - start) / n * 1e6, 1)


def main():
    import tinygrad_nm as tnm
    from numba import cuda
    nc = tnm.backends.load("numba_cuda")
    from tinygrad_nm.backends.numba_cuda import jit, memory

    @cuda.jit
    def bump(a):
        a[0] += 1

    one = cuda.device_array(1, np.float32)
    x = nc.from_numpy(np.ones(1, np.float32), tnm.float32)
    contiguous, _ = jit.map_kernels(lambda a, b, p, q: a + b, 2)
    out = cuda.device_array(1, np.float32)
    sync = cuda.synchronize
    parts = {
        "cuda.device_array(1)": lambda: cuda.device_array(1, np.float32),
        "synchronize": sync,
        "bare launch, 1 array": lambda: bump[1, 1](one),
        "add's launch, 3 arrays + 3 scalars": lambda: contiguous[1, 1](one, one, out, 1, np.float32(0), np.float32(0)),
        "backend add (allocates its output)": lambda: nc.add(x, x),
        "backend add + synchronize": lambda: (nc.add(x, x), sync()),
    }
    mm = memory.manager()
    print(f"memory manager: {type(mm).__name__} (TINYGRAD_NM_CUDA_POOL={os.environ.get('TINYGRAD_NM_CUDA_POOL', '')!r})")
    for name, fn in parts.items():
        print(f"  {name:40s} {per_call_us(fn, sync):8.1f} us per call")
    if hasattr(mm, "hits"):
        print(f"  caching allocator: {mm.hits} hits, {mm.misses} misses, {mm.cached_bytes()} bytes cached")

    profile = cProfile.Profile()
    profile.enable()
    for _ in range(500):
        nc.add(x, x)
    sync()
    profile.disable()
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(18)
    print("profile of 500 backend adds (sorted by own time):")
    print("\n".join(line for line in text.getvalue().splitlines() if line.strip())[:6000])


if __name__ == "__main__":
    main()
