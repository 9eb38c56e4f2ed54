"""Helpers the bench files share: pytest-benchmark's fastest round, PyTorch held at one thread for a
paired timing (the bench compares one thread with one thread), and this machine's FMA peak."""
import os
import time


def best(benchmark):
    """pytest-benchmark's fastest round, or None with --benchmark-disable (nothing timed)."""
    stats = getattr(benchmark, "stats", None)
    return stats.stats.min if stats is not None else None


class one_torch_thread:
    """`with one_torch_thread():` PyTorch on one intra-op thread inside the block."""

    def __enter__(self):
        import torch
        self.threads = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        import torch
        torch.set_num_threads(self.threads)


def fma_peak():
    """{dtype: one core's FLOP/s in a compiled FMA loop, measured now}, or {} without a C compiler.
    The loop is napkin's primitive (compiled with -march=native: the CPU's widest vectors); measured
    in the run, not read from napkin's rates, which are the machine notes' defaults until calibrated."""
    from tinygrad_nm.napkin import native, rates
    try:
        lib = native.load(os.path.dirname(rates.cache_path()))
    except (native.NativeUnavailable, OSError):
        return {}
    iters, peak = 200_000, {}
    for dtype, fn, lanes in (("float32", lib.fma_f32, lib.fma_lanes_f32()),
                             ("float64", lib.fma_f64, lib.fma_lanes_f64())):
        fastest = float("inf")
        for _ in range(20):
            start = time.perf_counter()
            fn(iters)
            fastest = min(fastest, time.perf_counter() - start)
        peak[dtype] = 2 * lanes * iters / fastest
    return peak
