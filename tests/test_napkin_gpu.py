"""napkin's GPU model (napkin/gpu.py) and the occupancy rules it shares with the CUDA backend's
resource table (backends/gpu_arch.py): datasheet pricing with no GPU.

The expected figures are worked out by hand from the datasheet numbers and the formulas in the
module docstring, not read back from the code."""
import dataclasses
import inspect

import pytest

from tinygrad_nm.backends import gpu_arch
from tinygrad_nm.napkin import gpu
from tinygrad_nm.backends.costs import Buf
from tinygrad_nm.backends.kernels import kernel_cost


# --- occupancy: NVIDIA's occupancy-calculator rules ------------------------------------------
@pytest.mark.parametrize("regs,shared,block,arch,expected,limiter", [
    (32, 0, 256, "sm_90", 1.0, "threads"),        # 8 blocks x 8 warps = 64 warps
    (64, 0, 256, "sm_90", 0.5, "registers"),      # 2048 registers per warp: 32 warps fit, 4 blocks
    (70, 0, 256, "sm_80", 0.375, "registers"),    # rounded up to 72 x 32 = 2304 per warp: 28 warps, 3 blocks
    (178, 8192, 256, "sm_90", 0.125, "registers"),  # the register-blocked matmul: one block
    (32, 8192, 1024, "sm_80", 1.0, "threads"),    # the 32x32 tiled matmul: two blocks
    (16, 0, 32, "sm_80", 0.5, "blocks"),          # 32 one-warp blocks: half the warp slots
    (16, 0, 32, "sm_89", 0.5, "blocks"),          # Ada: 24 blocks of 48 warps
    (16, 48 * 1024, 128, "sm_89", 1 / 6, "shared"),  # 100 KiB / (48 KiB + 1 KiB reserved) = 2 blocks x 4 warps of 48
])
def test_occupancy_matches_the_calculator(regs, shared, block, arch, expected, limiter):
    occ, why = gpu_arch.occupancy(regs, shared, block, arch)
    assert occ == pytest.approx(expected) and why == limiter


# --- the datasheets ----------------------------------------------------------------------------
NUMERIC = ("sm_count", "fp32_flops", "fp64_flops", "fp32_lanes_per_sm", "bandwidth", "host_link", "launch_s",
           "latency_s")


@pytest.mark.parametrize("name", ["A100", "H100", "H200", "L4", "RTX 4090"])
def test_every_datasheet_value_names_its_source(name):
    sheet = gpu.DEVICES[name]
    for f in NUMERIC + ("arch",):
        assert sheet.sources.get(f), f"{name}.{f} has no source"
        assert getattr(sheet, f)
    assert sheet.arch in gpu_arch.ARCHS and sheet.registers_per_sm == 65536
    # the FP32 rate is the FP32 cores' FMAs at a plausible boost clock (1.4 to 2.6 GHz)
    clock = sheet.fp32_flops / (2 * sheet.fp32_lanes_per_sm * sheet.sm_count)
    assert 1.3e9 < clock < 2.6e9


def test_unknown_device_is_a_clear_error():
    with pytest.raises(ValueError, match="no datasheet for GPU 'V100'.*H200"):
        gpu.price(kernel_cost("relu", (Buf((10,)),)), "V100")


def test_the_gpu_model_names_no_backend():
    assert "numba_cuda" not in inspect.getsource(gpu)


# --- pricing -----------------------------------------------------------------------------------
def test_relu_64m_on_h200_is_memory_bound_at_the_littles_law_fraction():
    n = 64 << 20
    cost = kernel_cost("relu", (Buf((n,), 4),))
    p = gpu.price(cost, "H200", gpu.KernelResources(registers=20, block=256), call_s=0.0)
    # 100% occupancy: 64 warps x 32 threads x 132 SMs = 270,336 threads, 4 bytes read each in
    # flight; B x L = 4.8e12 x 600e-9 = 2.88 MB; fraction 1,081,344 / 2,880,000
    fraction = 270336 * 4 / 2.88e6
    assert p.occupancy == 1.0 and p.memory_fraction == pytest.approx(fraction)
    assert p.seconds == pytest.approx(2 * 4 * n / (4.8e12 * fraction))
    assert p.bound == "memory" and p.limit_seconds == pytest.approx(2 * 4 * n / 4.8e12)


def test_fewer_resident_warps_never_price_faster():
    cost = kernel_cost("add", (Buf((1 << 24,), 4), Buf((1 << 24,), 4)))
    times = [gpu.price(cost, "H100", gpu.KernelResources(registers=r)).seconds for r in (16, 40, 64, 96, 128, 255)]
    assert times == sorted(times) and times[-1] > times[0]


def test_small_kernels_are_launch_bound_and_pay_a_memory_latency():
    """128 elements: 128 threads with 8 bytes each in flight cover 1 KiB per 600 ns; the kernel
    moves 1.5 KiB, so it waits 1.5 latencies after its 20 us launch."""
    p = gpu.price(kernel_cost("add", (Buf((128,), 4), Buf((128,), 4))), "A100", call_s=20e-6)
    assert p.bound == "overhead" and p.seconds == pytest.approx(20e-6 + 1.5 * 600e-9)


@pytest.mark.parametrize("device,fraction", [("H100", 64 / 92), ("A100", 1.0)])
def test_matmul_compute_fraction_is_the_issue_share_of_its_inner_loop(device, fraction):
    """The register-blocked loop: 64 FMAs among 92 instructions. Hopper's scheduler issues a warp
    FMA every cycle, so the 28 other instructions take FMA slots; A100's 16 FP32 lanes per
    scheduler take 2 cycles per warp FMA, leaving room for them."""
    cost = kernel_cost("matmul", (Buf((4096, 4096), 4), Buf((4096, 4096), 4)))
    res = gpu.KernelResources(registers=166, shared_bytes=8192, block=256, fmas=64, instructions=92)
    p = gpu.price(cost, device, res, call_s=0.0)
    peak = gpu.DEVICES[device].fp32_flops
    assert p.compute_fraction == pytest.approx(fraction) and p.bound == "compute"
    assert p.seconds == pytest.approx(2 * 4096 ** 3 / (peak * fraction))


def test_float64_priced_at_the_fp64_rate():
    cost = kernel_cost("matmul", (Buf((1024, 1024), 8), Buf((1024, 1024), 8)))
    p32 = gpu.price(dataclasses.replace(cost, itemsize=4), "RTX 4090", call_s=0.0)
    p64 = gpu.price(cost, "RTX 4090", dtype="float64", call_s=0.0)
    assert p64.compute_s / p32.compute_s == pytest.approx(82.6 / 1.29)


def test_transfers_cross_the_host_link():
    n = 1 << 28  # 1 GiB of float32
    up = gpu.price(kernel_cost("from_numpy", (Buf((n,), 4),)), "H100", call_s=0.0)
    assert up.extra_s == pytest.approx(4 * n / 64e9) and up.bound == "transfer"
    p = gpu.price(kernel_cost("relu", (Buf((n,), 4),)), "H100", call_s=0.0, h2d_bytes=4 * n, d2h_bytes=4 * n)
    assert p.extra_s == pytest.approx(8 * n / 64e9)


def test_crossover_is_the_first_size_from_which_the_gpu_stays_faster():
    host = {16: 1.0, 32: 2.0, 64: 4.0, 128: 8.0}.get
    assert gpu.crossover(host, {16: 0.5, 32: 3.0, 64: 3.0, 128: 3.0}.get, [16, 32, 64, 128]) == 64
    assert gpu.crossover(host, lambda n: 10.0, [16, 32, 64, 128]) is None


def test_resources_from_a_report_row():
    row = {"kernel": "gemm.register_blocked_matmul/matmul", "registers": 166, "shared_bytes": 8192, "block": 256,
           "fmas": 64, "instructions": 92, "arch": "sm_90"}
    assert gpu.KernelResources.from_row(row) == gpu.KernelResources(166, 8192, 256, 64, 92)


def test_estimate_on_a_named_gpu_needs_no_gpu(monkeypatch):
    """tnm.napkin.estimate(..., device=) routes a GPU backend's kernels to the datasheet model,
    at the occupancy of the kernel that would run (the stored ptxas facts)."""
    import tinygrad_nm as tnm
    from tinygrad_nm import backends
    from tinygrad_nm.napkin import rates as rates_mod
    monkeypatch.setattr(rates_mod, "_current", rates_mod.defaults())
    gpu_backend = next(n for n in backends.known_backends()
                       if (backends.pricing(n)[0] or {}).get("family") == "gpu")
    mm = tnm.napkin.estimate("matmul", (4096, 4096), (4096, 4096), backend=gpu_backend, device="H200")
    part = mm.parts[0].prediction
    assert part.device == "H200" and 0 < part.occupancy <= 1 and "H200 datasheet" in " ".join(part.limit_terms)
    a100 = tnm.napkin.estimate("matmul", (4096, 4096), (4096, 4096), backend=gpu_backend, device="A100")
    assert a100.seconds > mm.seconds  # the older GPU is slower on the same kernel
    with pytest.raises(ValueError, match="only a GPU backend"):
        tnm.napkin.estimate("relu", (4,), backend="numpy", device="H200")
    with pytest.raises(ValueError, match="no datasheet for GPU 'Z80'"):
        tnm.napkin.estimate("relu", (4,), backend=gpu_backend, device="Z80")
