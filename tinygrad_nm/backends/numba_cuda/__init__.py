"""The Numba CUDA backend: tensors live in GPU memory and every kernel runs on the device.

One module per kernel family, each with its device kernels next to the host code that launches
them:

    device.py        availability, launch policy, CudaBuffer (a strided view), allocation, transfers' ends
    memory.py        the caching allocator under Numba (freed device blocks reused; empty_cache)
    jit.py           compiling (device functions, kernels), element addressing, the elementwise launcher
    storage.py       from_numpy, to_numpy, item, full, astype, copy, assign, where, writable
    elementwise.py   unary, binary, compare, activation backward
    reductions.py    sum, max (and the block-wide reductions softmax rows use)
    softmax_rows.py  softmax, log_softmax, their backward, fused cross-entropy
    indexing.py      reshape, permute, expand (views), getitem, setitem, index_add (gather/scatter)
    gemm.py          matmul: direct, tiled and register-blocked kernels
    conv.py          im2col, col2im (a convolution is im2col then gemm.py's matmul)
    pool.py          max_pool2d (a thread per window) and its backward (a thread per image element)
    resources.py     every kernel compiled for sm_80/sm_90 and assembled by ptxas: registers,
                     shared memory, spills, occupancy (`tinygrad-nm cuda-report`, report.py)
    pricing.py       those figures stored in resources.json, and which kernel a call runs: the
                     pricing facts napkin's GPU model reads

The backend contract (backends/kernels.py: NAME, unavailable_reason(), PRICING, `writable` and
every kernel of the table) is importable from here; each module lists the kernels it serves in
`__all__`, derived from the table's families where a family maps onto one module, and a kernel
of the table that no module serves fails at import.

Without a GPU, `NUMBA_ENABLE_CUDASIM=1` set before numba is imported runs the same kernels in
Numba's CUDA simulator, one OS thread per CUDA thread: correct but slow, so the policy then
launches a few threads per kernel (the grid-stride loops make any count correct).
"""
from tinygrad_nm.backends.kernels import KERNELS, STORAGE_HELPERS
from tinygrad_nm.backends.numba_cuda.device import (IMPORT_ERROR, NAME, POLICY, PRICING, SIMULATOR_POLICY,  # noqa: F401
                                                    CudaBuffer, LaunchPolicy, describe, gpu_policy, policy,
                                                    synchronize, unavailable_reason)
from tinygrad_nm.backends.numba_cuda import pricing as _pricing

# what napkin's GPU model prices this backend with: readable without a GPU or numba (pricing.py)
PRICING = {**PRICING, "kernel_resources": _pricing.kernel_resources, "launches": _pricing.launches,
           "compiled": _pricing.compiled}

if IMPORT_ERROR is None:  # otherwise only NAME and unavailable_reason(), which says why
    from tinygrad_nm.backends.numba_cuda import (conv, elementwise, gemm, indexing, pool, reductions, softmax_rows,
                                                  storage)
    from tinygrad_nm.backends.numba_cuda.gemm import matmul_direct, matmul_register_blocked, matmul_tiled  # noqa: F401
    from tinygrad_nm.backends.numba_cuda.memory import empty_cache  # noqa: F401  (torch.cuda.empty_cache)

    _SERVED_BY = {}
    for _module in (storage, elementwise, reductions, softmax_rows, indexing, gemm, conv, pool):
        for _name in _module.__all__:
            _SERVED_BY[_name] = _module
            globals()[_name] = getattr(_module, _name)
    _missing = [n for n in KERNELS + STORAGE_HELPERS if n not in _SERVED_BY]
    if _missing:
        raise ImportError(f"numba_cuda: no module serves kernel(s) {', '.join(_missing)}")
    del _module, _name, _missing
