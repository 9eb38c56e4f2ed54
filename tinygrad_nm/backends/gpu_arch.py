"""What an NVIDIA GPU architecture allows per SM, and the occupancy a kernel reaches under it.

Shared by the CUDA backend's resource table (registers and shared memory from ptxas) and napkin's
GPU model (which prices a kernel by the fraction of the device it can keep busy). Pure
arithmetic: no GPU, no compiler.

Limits per SM from the CUDA C++ Programming Guide, "Technical Specifications per Compute
Capability": 64K 32-bit registers, allocated per warp in units of 256; resident warps, blocks and
shared memory per SM as below; each block reserves 1 KiB of shared memory for the system (since
compute capability 8.0); shared memory is allocated in 128-byte units.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class ArchLimits:
    registers: int         # 32-bit registers per SM
    warps: int             # resident warps per SM
    blocks: int            # resident blocks per SM
    shared: int            # shared memory per SM usable by blocks (the largest carve-out), bytes
    register_unit: int = 256      # registers are allocated per warp in units of this many
    shared_reserved: int = 1024   # bytes each block reserves (compute capability >= 8.0)
    shared_unit: int = 128


ARCHS = {
    "sm_80": ArchLimits(registers=65536, warps=64, blocks=32, shared=164 * 1024),  # A100
    "sm_89": ArchLimits(registers=65536, warps=48, blocks=24, shared=100 * 1024),  # L4, RTX 4090 (Ada)
    "sm_90": ArchLimits(registers=65536, warps=64, blocks=32, shared=228 * 1024),  # H100, H200
}


def occupancy(registers, shared_bytes, block, arch):
    """(resident warps / the SM's maximum, what limits it: threads, blocks, registers or shared),
    by the rules of NVIDIA's occupancy calculator."""
    lim = ARCHS[arch]
    warps = -(-block // 32)
    by = {"threads": lim.warps // warps, "blocks": lim.blocks}
    if registers:
        per_warp = -(-registers * 32 // lim.register_unit) * lim.register_unit
        by["registers"] = (lim.registers // per_warp) // warps
    if shared_bytes:
        per_block = -(-shared_bytes // lim.shared_unit) * lim.shared_unit + lim.shared_reserved
        by["shared"] = lim.shared // per_block
    limiter = min(by, key=by.get)
    return by[limiter] * warps / lim.warps, limiter
