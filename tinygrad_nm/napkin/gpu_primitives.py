"""The GPU's FMA loop, in its own module: Numba's CUDA simulator swaps a kernel's module-level
`cuda` for its own, so the kernel must see `cuda` as a global (imported only when a GPU is measured)."""
from numba import cuda, float32


@cuda.jit
def fma_kernel(out, iters):
    """`iters` x 4 independent float32 FMAs per thread; out[i] keeps the results live."""
    i = cuda.grid(1)
    a0, a1, a2, a3 = float32(i), float32(i + 1), float32(i + 2), float32(i + 3)
    m, c = float32(0.9999999), float32(1e-7)
    for _ in range(iters):
        a0 = a0 * m + c
        a1 = a1 * m + c
        a2 = a2 * m + c
        a3 = a3 * m + c
    if i < out.shape[0]:
        out[i] = a0 + a1 + a2 + a3
