"""Pricing family `gpu`: a backend whose buffers live on a GPU.

A launch per kernel, then the device's FLOP/s and bandwidth; data entering or leaving the device
crosses the host link. `price` uses the rates calibrated on this machine's GPU (or the defaults);
`price_on` a named GPU's datasheet (gpu.py), at the occupancy the backend's kernel reaches there
(its PRICING["kernel_resources"]: the ptxas figures of the kernel that would run).
"""
import numpy as np

from tinygrad_nm.napkin import fmt, gpu
from tinygrad_nm.napkin.roofline import Prediction

FAMILY = "gpu"
DEFAULT_RATES = {  # an H100 SXM's data sheet and typical Numba launch costs: calibrate on the machine itself
    "call_s": 20e-6, "h2d_bytes_per_s": 25e9, "d2h_bytes_per_s": 25e9, "bandwidth": 3.0e12, "fma_flops": 60e12,
    # Numba's compile of a kernel at its first launch in a process; the first compile of a process
    # also loads the compiler (guesses until calibrated on a GPU)
    "compile_s": 0.2, "compile_init_s": 0.5,
    "view_s": 1e-6}  # a call that launches nothing (a view: a new strided header on the host)


def warmup(keys, rates):
    """The one-time cost of a program's first run in a process: Numba compiles each distinct kernel
    at its first launch (`keys`: the distinct kernels, as the backend's PRICING["compiled"] names
    them), and the first compile loads the compiler."""
    if not keys:
        return 0.0
    r = _section(rates)
    return r["compile_init_s"] + len(keys) * r["compile_s"]


def _section(rates):
    """This family's rates; a figure the rates were calibrated without (an older file) at its default."""
    return {**DEFAULT_RATES, **rates.section(FAMILY)}


def price(cost, pricing, rates, dtype, scalar_args=False):
    r = _section(rates)
    launches = _launches(cost, pricing, dtype)
    call = _call_seconds(r, launches)
    compute = cost.limit_flops / r["fma_flops"]
    memory = cost.bytes / r["bandwidth"] if cost.bytes else 0.0
    transfer = 0.0
    if cost.kernel == "from_numpy":
        transfer = cost.out_bytes / r["h2d_bytes_per_s"]
    elif cost.kernel in ("to_numpy", "item"):
        transfer = cost.bytes / 2 / r["d2h_bytes_per_s"]
    limit_compute = cost.limit_flops / r["fma_flops"]
    limit = max(limit_compute, memory) + transfer
    terms = [f"{fmt.flops(cost.limit_flops)} / {fmt.flop_rate(r['fma_flops'])}" if compute >= memory
             else f"{fmt.nbytes(cost.bytes)} / {fmt.bandwidth(r['bandwidth'])}"]
    if transfer:
        terms.append(f"transfer {fmt.seconds(transfer)}")
    terms.append(f"{fmt.seconds(call)} launch" if launches else f"{fmt.seconds(call)} view, no launch")
    seconds = call + max(compute, memory) + transfer
    bound = "transfer" if transfer > max(compute, memory, call) else (
        "overhead" if call >= max(compute, memory) else ("compute" if compute >= memory else "memory"))
    limit_terms = [f"{fmt.flops(cost.limit_flops)} / {fmt.flop_rate(r['fma_flops'])} peak" if limit_compute >= memory
                   else f"{fmt.nbytes(cost.bytes)} / {fmt.bandwidth(r['bandwidth'])}"]
    return Prediction(seconds, limit, call, compute, memory, transfer, bound, terms, limit_terms)


def calibrate(be, quick, log, best_time, empty_call):
    """A GPU backend on a real GPU: launch, host<->device copies, device copy bandwidth, an FMA kernel."""
    from numba import config as numba_config
    if getattr(numba_config, "ENABLE_CUDASIM", 0):
        log(f"  {be.NAME}: the CUDA simulator is on; its timings say nothing about a GPU, keeping the defaults")
        return None
    from numba import cuda
    from tinygrad_nm import dtypes
    from tinygrad_nm.napkin.gpu_primitives import compile_seconds, fma_kernel
    sync = getattr(be, "synchronize", None) or cuda.synchronize
    # first, while nothing is compiled yet in this process (as when `tinygrad-nm calibrate` runs)
    first, each = compile_seconds(cuda.to_device(np.zeros(1024, np.float32)))
    r = {"compile_s": each, "compile_init_s": max(first - each, 0.0), "call_s": empty_call(be, repeat=5)}
    square = be.from_numpy(np.ones((64, 64), np.float32), dtypes.float32)
    r["view_s"] = best_time(lambda: be.permute(square, (1, 0)), 1000, 5)  # no launch: the host's work only
    host = np.ones(16 << 20, np.float32)  # 64 MiB
    r["h2d_bytes_per_s"] = host.nbytes / best_time(lambda: (be.from_numpy(host, dtypes.float32), sync()), 1, 5)
    dev = be.from_numpy(host, dtypes.float32)
    r["d2h_bytes_per_s"] = host.nbytes / best_time(lambda: be.to_numpy(dev), 1, 5)
    big = be.from_numpy(np.ones(64 << 20, np.float32), dtypes.float32)  # 256 MiB: far beyond L2
    # The copy is one backend call with its synchronisation: the call cost measured above is taken
    # out, so that the rate is the kernel's (the first H200 run, without this, stored 1.2 TB/s for a
    # copy that ran at about 2).
    r["bandwidth"] = 2 * (256 << 20) / _minus_call(best_time(lambda: (be.copy(big), sync()), 1, 5), r["call_s"])

    device = cuda.get_current_device()
    threads, blocks = 256, device.MULTIPROCESSOR_COUNT * 32
    out = cuda.device_array(threads * blocks, np.float32)
    iters = 4096
    fma_kernel[blocks, threads](out, 8)
    cuda.synchronize()
    # a bare launch costs less than the backend's call above: the FMA rate is read off the difference
    # between two loop lengths, in which the launch and the synchronisation cancel
    short, long = (best_time(lambda n=n: (fma_kernel[blocks, threads](out, n), cuda.synchronize()), 1, 5)
                   for n in (iters, 2 * iters))
    r["fma_flops"] = 2 * 4 * iters * threads * blocks / max(long - short, long / 4)
    log(f"  {be.NAME}: launch {r['call_s'] * 1e6:.1f} us, host->device {r['h2d_bytes_per_s'] / 1e9:.1f} GB/s, "
        f"device->host {r['d2h_bytes_per_s'] / 1e9:.1f} GB/s, device copy {r['bandwidth'] / 1e9:.0f} GB/s, "
        f"FMA {r['fma_flops'] / 1e12:.1f} TFLOP/s, a kernel's first launch (compile) {r['compile_s'] * 1e3:.0f} ms, "
        f"the process's first {r['compile_init_s'] * 1e3:.0f} ms more")
    return r


def _minus_call(seconds, call_s):
    """A timed call's kernel time: its call cost taken out, never below half the time measured
    (should the call cost have been caught on a slow moment)."""
    return max(seconds - call_s, seconds / 2)


def price_on(cost, pricing, rates, dtype, device):
    """The prediction on the GPU called `device`, from its datasheet: no GPU needed here."""
    sheet = gpu.device(device)
    find = pricing.get("kernel_resources")
    row = find(cost.kernel, cost.shapes, dtype, sheet.arch, sheet.sm_count) if find else None
    resources = gpu.KernelResources.from_row(row) if row else None
    return gpu.price(cost, sheet, resources, dtype,
                     call_s=_call_seconds(_section(rates), _launches(cost, pricing, dtype, sheet.sm_count)))


def _call_seconds(r, launches):
    """The calls' cost on the host: a launch each, or a view's when the call launches nothing."""
    return r["call_s"] * launches if launches else r["view_s"]


def _launches(cost, pricing, dtype, sm_count=132):
    """Launches per call, as the backend's PRICING["launches"] counts them (one if it does not)."""
    count = pricing.get("launches")
    return count(cost, dtype, sm_count) if count else 1
