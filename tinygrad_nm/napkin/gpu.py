"""napkin's GPU model: one kernel call's time on a named GPU from its datasheet, with no GPU here.

    time = launch + max(FLOPs / (peak x compute fraction), bytes / (bandwidth x memory fraction))
           + host<->device transfers

The fractions are what the kernel can reach at the occupancy its registers and shared memory
allow (backends/gpu_arch.py; the registers come from ptxas, `tinygrad-nm cuda-report`):

- memory fraction, Little's law: to stream at the full bandwidth B with a load latency L, B x L
  bytes must be in flight. A thread of a grid-stride loop has one element's loads in flight, so
  the device keeps (resident threads x bytes read per element) in flight, resident threads =
  occupancy x warp slots x 32 x SMs (fewer if the data has fewer elements).
- compute fraction, instruction issue: a warp scheduler issues one instruction per cycle, and an
  FP32 FMA for a whole warp takes 32 / (FP32 lanes per scheduler) cycles of its pipe. With the
  kernel's inner loop holding `fmas` FMAs among `instructions` (from its PTX), the loop takes
  max(fmas x that, instructions) cycles, of which fmas x that would be the peak. Kernels with no
  such figures are priced at the peak (the roofline).

Every figure here is a prediction from datasheet numbers; nothing in this module was measured
on a GPU. On a machine with one, napkin's calibration measures the rates instead.
"""
from dataclasses import dataclass, field

from tinygrad_nm.backends import gpu_arch
from tinygrad_nm.napkin import fmt
from tinygrad_nm.napkin.roofline import Prediction

_A100 = "NVIDIA A100 Tensor Core GPU datasheet, SXM4 80GB column"
_A100_WP = "NVIDIA A100 Tensor Core GPU Architecture whitepaper (108 SMs, 64 FP32 cores per SM)"
_H100 = "NVIDIA H100 Tensor Core GPU datasheet, H100 SXM column"
_H100_WP = "NVIDIA H100 Tensor Core GPU Architecture whitepaper (132 SMs in SXM5, 128 FP32 cores per SM)"
_H200 = "NVIDIA H200 Tensor Core GPU datasheet, H200 SXM column"
_L4 = "NVIDIA L4 Tensor Core GPU datasheet"
_ADA_WP = "NVIDIA Ada Lovelace GPU Architecture whitepaper (appendix tables; 128 FP32 cores per SM, FP64 at 1/64)"
_GUIDE = "CUDA C++ Programming Guide, compute capability table (backends/gpu_arch.py)"
_LAUNCH = ("not a datasheet figure: the order of an empty CUDA launch through the driver (a few us); "
           "a launch from Python through Numba costs more, pass call_s (rates.py's default: 20 us)")
_LATENCY = ("not a datasheet figure: the order of a DRAM load's latency on these GPUs in published "
            "microbenchmarks (several hundred ns); an assumption of this model")


@dataclass(frozen=True)
class Datasheet:
    name: str
    arch: str                 # key of gpu_arch.ARCHS: per-SM warps, blocks, registers, shared memory
    sm_count: int
    fp32_flops: float         # FLOP/s, an FMA counted as 2 (non-tensor-core)
    fp64_flops: float
    fp32_lanes_per_sm: int    # FP32 cores per SM: 64 on A100, 128 on Hopper and Ada
    bandwidth: float          # device memory, bytes/s
    host_link: float          # host<->device, bytes/s each way (PCIe x16)
    launch_s: float           # per kernel launch
    latency_s: float          # device-memory load latency, for Little's law
    sources: dict = field(default_factory=dict, compare=False)

    @property
    def registers_per_sm(self):
        return gpu_arch.ARCHS[self.arch].registers

    @property
    def shared_per_sm(self):
        return gpu_arch.ARCHS[self.arch].shared


DEVICES = {d.name: d for d in (
    Datasheet("A100", "sm_80", 108, 19.5e12, 9.7e12, 64, 2.039e12, 32e9, 5e-6, 600e-9, sources=dict(
        fp32_flops=_A100, fp64_flops=_A100, bandwidth=_A100 + " (2,039 GB/s)", sm_count=_A100_WP,
        fp32_lanes_per_sm=_A100_WP, host_link=_A100 + " (PCIe Gen4 64 GB/s, both ways)", arch=_GUIDE,
        launch_s=_LAUNCH, latency_s=_LATENCY)),
    Datasheet("H100", "sm_90", 132, 67e12, 34e12, 128, 3.35e12, 64e9, 5e-6, 600e-9, sources=dict(
        fp32_flops=_H100, fp64_flops=_H100, bandwidth=_H100 + " (3.35 TB/s)", sm_count=_H100_WP,
        fp32_lanes_per_sm=_H100_WP, host_link=_H100 + " (PCIe Gen5 128 GB/s, both ways)", arch=_GUIDE,
        launch_s=_LAUNCH, latency_s=_LATENCY)),
    Datasheet("H200", "sm_90", 132, 67e12, 34e12, 128, 4.8e12, 64e9, 5e-6, 600e-9, sources=dict(
        fp32_flops=_H200, fp64_flops=_H200, bandwidth=_H200 + " (4.8 TB/s)",
        sm_count="the same GH100 configuration as H100 SXM5: " + _H100_WP, fp32_lanes_per_sm=_H100_WP,
        host_link=_H200 + " (PCIe Gen5 128 GB/s, both ways)", arch=_GUIDE, launch_s=_LAUNCH, latency_s=_LATENCY)),
    Datasheet("L4", "sm_89", 58, 30.3e12, 30.3e12 / 64, 128, 300e9, 32e9, 5e-6, 600e-9, sources=dict(
        fp32_flops=_L4 + " (30.3 TFLOPS)", fp64_flops=_ADA_WP, bandwidth=_L4 + " (300 GB/s)",
        sm_count="7,424 CUDA cores / 128 per Ada SM (" + _ADA_WP + ")", fp32_lanes_per_sm=_ADA_WP,
        host_link=_L4 + " (PCIe Gen4 x16 64 GB/s, both ways)", arch=_GUIDE, launch_s=_LAUNCH, latency_s=_LATENCY)),
    Datasheet("RTX 4090", "sm_89", 128, 82.6e12, 1.29e12, 128, 1008e9, 32e9, 5e-6, 600e-9, sources=dict(
        fp32_flops=_ADA_WP + " (82.6 TFLOPS)", fp64_flops=_ADA_WP + " (1.3 TFLOPS)",
        bandwidth=_ADA_WP + " (1,008 GB/s)", sm_count=_ADA_WP + " (128 SMs)", fp32_lanes_per_sm=_ADA_WP,
        host_link="PCIe Gen4 x16: 32 GB/s each way", arch=_GUIDE, launch_s=_LAUNCH, latency_s=_LATENCY)),
)}


@dataclass(frozen=True)
class KernelResources:
    """What ptxas says about the kernel that runs (a row of `tinygrad-nm cuda-report`)."""
    registers: int = 32
    shared_bytes: int = 0
    block: int = 256
    fmas: int = 0             # FMAs in the PTX of the inner loop (matmul kernels) ...
    instructions: int = 0     # ... among this many instructions

    @classmethod
    def from_row(cls, row):
        """From a resource-table row (a dict, or an object with these attributes)."""
        get = row.get if isinstance(row, dict) else lambda k, d=None: getattr(row, k, d)
        return cls(int(get("registers")), int(get("shared_bytes", 0)), int(get("block", 256)),
                   int(get("fmas", 0) or 0), int(get("instructions", 0) or 0))


@dataclass
class GpuPrediction(Prediction):
    """napkin's Prediction (seconds, limit, overhead/compute/memory/transfer, bound, terms) plus
    the occupancy and the fractions of the datasheet rates it was priced at."""
    occupancy: float = 1.0
    limiter: str = ""
    compute_fraction: float = 1.0
    memory_fraction: float = 1.0
    device: str = ""


def device(name):
    """The Datasheet called `name` (A100, H100, H200, L4, RTX 4090); a clear error otherwise."""
    if isinstance(name, Datasheet):
        return name
    if name not in DEVICES:
        raise ValueError(f"napkin has no datasheet for GPU {name!r}; known: {', '.join(DEVICES)}")
    return DEVICES[name]


def memory_fraction(cost, sheet, occupancy):
    """Little's law: the fraction of the bandwidth the resident threads keep in flight."""
    elements = max(cost.elements, 1.0)
    read_per_element = max((cost.bytes - cost.out_bytes) / elements, float(cost.itemsize))
    slots = occupancy * gpu_arch.ARCHS[sheet.arch].warps * 32 * sheet.sm_count
    in_flight = min(slots, elements) * read_per_element
    return min(1.0, in_flight / (sheet.bandwidth * sheet.latency_s))


def compute_fraction(sheet, resources, peak=None):
    """Issue-limited share of the FMA peak: the inner loop's FMAs against all its instructions.
    `peak`: the FLOP rate priced (FP64 units are fewer than FP32 ones in proportion)."""
    if not resources.fmas or not resources.instructions:
        return 1.0
    lanes = sheet.fp32_lanes_per_sm * (peak or sheet.fp32_flops) / sheet.fp32_flops
    fma_cycles = resources.fmas * 32 / (lanes / 4)  # cycles a scheduler's FMA pipe is busy (4 per SM)
    return fma_cycles / max(fma_cycles, resources.instructions)


def price(cost, device_name, resources=None, dtype="float32", call_s=None, h2d_bytes=0.0, d2h_bytes=0.0):
    """The GpuPrediction of one call of a kernel with this Cost (napkin.costs) on the GPU called
    `device_name`, run by code with these KernelResources (None: 32 registers, 256 threads, no
    shared memory and no inner-loop figures: the roofline at full occupancy). `call_s`: the cost
    of a launch from the caller's side (None: the datasheet's launch_s). Transfers: the kernels
    that cross the host link (from_numpy, to_numpy, item) are charged theirs, plus any extra
    `h2d_bytes` / `d2h_bytes`."""
    sheet = device(device_name)
    res = resources or KernelResources()
    occ, limiter = gpu_arch.occupancy(res.registers, res.shared_bytes, res.block, sheet.arch)
    peak = sheet.fp64_flops if dtype in ("float64", "int64") else sheet.fp32_flops
    cf, mf = compute_fraction(sheet, res, peak), memory_fraction(cost, sheet, occ)
    compute = cost.limit_flops / (peak * cf) if cost.limit_flops else 0.0
    memory = cost.bytes / (sheet.bandwidth * mf) if cost.bytes else 0.0
    if cost.kernel == "from_numpy":
        h2d_bytes += cost.out_bytes
    elif cost.kernel in ("to_numpy", "item"):
        d2h_bytes += cost.bytes / 2  # read on the device, written on the host: half crosses
    transfer = (h2d_bytes + d2h_bytes) / sheet.host_link
    call = sheet.launch_s if call_s is None else call_s
    limit = max(cost.limit_flops / peak, cost.bytes / sheet.bandwidth) + transfer
    terms = [f"{fmt.flops(cost.limit_flops)} / ({fmt.flop_rate(peak)} x {cf:.2f})" if compute >= memory
             else f"{fmt.nbytes(cost.bytes)} / ({fmt.bandwidth(sheet.bandwidth)} x {mf:.2f})"]
    if transfer:
        terms.append(f"transfer {fmt.seconds(transfer)}")
    terms.append(f"{fmt.seconds(call)} launch")
    busy = max(compute, memory)
    bound = "transfer" if transfer > max(busy, call) else (
        "overhead" if call >= busy else ("compute" if compute >= memory else "memory"))
    limit_terms = [f"{sheet.name} datasheet: {fmt.flop_rate(peak)}, {fmt.bandwidth(sheet.bandwidth)} "
                   f"(occupancy {occ:.0%}, {limiter}-bound)"]
    return GpuPrediction(call + busy + transfer, limit, call, compute, memory, transfer, bound, terms, limit_terms,
                         occupancy=occ, limiter=limiter, compute_fraction=cf, memory_fraction=mf, device=sheet.name)


def crossover(host_seconds, gpu_seconds, sizes):
    """The first size from which the GPU prediction stays below the host's (None if it never
    does): host_seconds and gpu_seconds map a size to seconds."""
    below = [gpu_seconds(n) < host_seconds(n) for n in sizes]
    for i, n in enumerate(sizes):
        if all(below[i:]):
            return n
    return None


__all__ = ["DEVICES", "Datasheet", "KernelResources", "GpuPrediction", "device", "price", "crossover",
           "memory_fraction", "compute_fraction"]
