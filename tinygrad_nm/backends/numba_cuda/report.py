"""`tinygrad-nm cuda-report`: the resource table of every CUDA kernel (resources.py) as markdown,
for bench/README.md; --json writes every row, --write-facts stores them folded as the backend's
pricing facts (pricing.py; napkin/gpu.py's KernelResources.from_row reads a row).
"""
import json
import sys
import time
from collections import defaultdict

from tinygrad_nm.backends.numba_cuda import pricing, resources as R


def add_arguments(parser):
    parser.add_argument("--json", metavar="PATH", help="also write every row (one per specialisation and arch) as JSON")
    parser.add_argument("--write-facts", action="store_true",
                        help="store the folded rows in the package (numba_cuda/resources.json, napkin's GPU facts)")
    parser.add_argument("--workers", type=int, default=None, help="compiling processes (default: the CPU count, <= 8)")


def run(args):
    why = R.toolchain_missing()
    if why:
        print(f"tinygrad-nm cuda-report: cannot compile for a GPU here: {why}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    rows = R.table(args.workers)
    print(markdown(rows, time.perf_counter() - start))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"toolchain": toolchain(), "rows": [r.as_row() for r in rows]}, f, indent=1)
        print(f"\nwrote {len(rows)} rows to {args.json}")
    if args.write_facts:
        pricing.write(rows, toolchain())
        print(f"\nstored the folded rows in {pricing.FACTS}")
    bad = R.problems(rows)
    return 1 if bad else 0


def toolchain():
    import subprocess

    import numba
    version = subprocess.run([R.ptxas_path(), "--version"], capture_output=True, text=True).stdout.strip()
    return {"numba": numba.__version__, "numba_cuda": getattr(sys.modules.get("numba_cuda"), "__version__", "?"),
            "ptxas": version.splitlines()[-1] if version else "?"}


def _cell(group):
    regs = max(r.registers for r in group)
    occ = min(r.occupancy for r in group)
    spills = max(r.spill_bytes for r in group)
    limiter = min(group, key=lambda r: r.occupancy).limiter
    return f"{regs} | {max(r.shared_bytes for r in group)} | {spills} | {occ:.0%} ({limiter})"


def markdown(rows, seconds=None):
    """A summary per kind of kernel, then one row per kernel and dtype (specialisations that differ
    only in how many dimensions their strided operands have are folded: most registers, least
    occupancy)."""
    archs = list(R.ARCHS)
    tc = toolchain()
    lines = [f"{len(rows) // len(archs)} specialisations x {len(archs)} architectures, compiled by numba-cuda "
             f"{tc['numba_cuda']} (libNVVM) and assembled by {tc['ptxas']}"
             + (f" in {seconds:.0f} s" if seconds else "") + ". Occupancy: resident warps / 64 on that SM;",
             "in brackets what limits it. Assumed by the launch policy: "
             + ", ".join(f"{k} {v:.1%}" for k, v in R.ASSUMED_OCCUPANCY.items()) + ".", ""]
    by_kind = defaultdict(list)
    for r in rows:
        by_kind[(r.kind, r.arch)].append(r)
    lines += ["| kind | arch | kernels | registers/thread | shared B/block | spilled B | block | occupancy |",
              "|---|---|---|---|---|---|---|---|"]
    for (kind, arch), group in sorted(by_kind.items()):
        regs = sorted(r.registers for r in group)
        occ = sorted(r.occupancy for r in group)
        lines.append(f"| {kind} | {arch} | {len(group)} | {regs[0]}-{regs[-1]} | "
                     f"{max(r.shared_bytes for r in group)} | {max(r.spill_bytes for r in group)} | "
                     f"{'/'.join(sorted({str(r.block) for r in group}))} | {occ[0]:.1%}-{occ[-1]:.1%} |")
    folded = defaultdict(lambda: defaultdict(list))
    for r in rows:
        folded[(r.kernel, r.dtype, r.block)][r.arch].append(r)
    head = " | ".join(f"{a} regs | {a} smem | {a} spill | {a} occupancy" for a in archs)
    lines += ["", f"| kernel | serves | dtype | block | {head} |", "|---|---|---|---|" + "---|" * 4 * len(archs)]
    for (kernel, dtype, block), per_arch in sorted(folded.items()):
        served = sorted({n for rs in per_arch.values() for r in rs for n in r.served.split(",") if n})
        lines.append(f"| {kernel} | {', '.join(served)} | {dtype} | {block} | "
                     + " | ".join(_cell(per_arch[a]) for a in archs) + " |")
    bad = R.problems(rows)
    lines += ["", f"problems: {len(bad)}"] + [f"- {b}" for b in bad]
    return "\n".join(lines)
