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


def compile_seconds(out, repeat=4):
    """(first, each): the first launch of kernels Numba has not compiled yet, less a second launch of
    each; `first` the first such launch in this process (it also loads the compiler), `each` the
    median of the others. The kernel is a strided elementwise map through a device function, like
    the backends' map kernels (their index arithmetic, tuples of shapes and strides as arguments)."""
    import time

    from tinygrad_nm.backends import strided
    times = []
    for _ in range(repeat):
        position = cuda.jit(device=True)(strided.ordinal_to_position)  # a new dispatcher: compiled anew

        @cuda.jit(device=True)
        def f(a, b):
            return a * b + a

        @cuda.jit
        def kernel(a, sa, out, so, shape, n):
            for i in range(cuda.grid(1), n, cuda.gridsize(1)):
                out[position(i, shape, so)] = f(a[position(i, shape, sa)], out[position(i, shape, so)])

        args = (out, (1,), out, (1,), (out.shape[0],), out.shape[0])
        seconds = []
        for _ in range(2):
            start = time.perf_counter()
            kernel[1, 32](*args)
            cuda.synchronize()
            seconds.append(time.perf_counter() - start)
        times.append(seconds[0] - seconds[1])
    rest = sorted(times[1:])
    return times[0], rest[len(rest) // 2]
