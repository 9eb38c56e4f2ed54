"""The backend's pricing facts for napkin's GPU model, as data beside the code: what each kernel
costs a GPU (registers, shared memory, block size, inner-loop FMAs; from ptxas, stored in
resources.json by `tinygrad-nm cuda-report --write-facts`) and which CUDA kernel the launch policy
runs for a call. Needs neither a GPU nor the CUDA toolchain: napkin reads these on any machine.
"""
import functools
import json
import os

from tinygrad_nm.backends.numba_cuda.device import gpu_policy, reduce_chunks

FACTS = os.path.join(os.path.dirname(__file__), "resources.json")
_FIELDS = ("kernel", "kind", "served", "dtype", "arch", "registers", "shared_bytes", "spill_bytes", "block",
           "occupancy", "limiter", "fmas", "instructions")


def fold(rows):
    """One row per (kernel, dtype, arch, block): specialisations that differ only in how many
    strided dimensions they take folded into the most registers, shared memory and spills and the
    least occupancy (rows: dicts or resources.Resources)."""
    out = {}
    for r in rows:
        r = {f: (r[f] if isinstance(r, dict) else getattr(r, f)) for f in _FIELDS}
        key = (r["kernel"], r["dtype"], r["arch"], r["block"])
        if key not in out:
            out[key] = r
            continue
        o = out[key]
        o["served"] = ",".join(sorted(set(o["served"].split(",")) | set(r["served"].split(",")) - {""}))
        for f in ("registers", "shared_bytes", "spill_bytes", "fmas", "instructions"):
            o[f] = max(o[f], r[f])
        if r["occupancy"] < o["occupancy"]:
            o["occupancy"], o["limiter"] = r["occupancy"], r["limiter"]
    return sorted(out.values(), key=lambda r: (r["kernel"], r["dtype"], r["arch"]))


def write(rows, toolchain, path=FACTS):
    with open(path, "w") as f:
        f.write('{"toolchain": ' + json.dumps(toolchain) + ', "rows": [\n')
        f.write(",\n".join(json.dumps(r) for r in fold(rows)))
        f.write("\n]}\n")


@functools.cache
def stored(path=FACTS):
    """(toolchain, folded rows) as last written; ({}, []) if there is no file."""
    if not os.path.exists(path):
        return {}, []
    with open(path) as f:
        data = json.load(f)
    return data["toolchain"], data["rows"]


def kernel_resources(kernel, shapes, dtype, arch, sm_count=132):
    """The resource row (a dict) of the CUDA kernel the GPU launch policy runs for a call of
    `kernel` on buffers of these shapes, on architecture `arch` (sm_80 or sm_90); None for views
    and transfers, which launch none. Matmul: the register-blocked, tiled or direct kernel by the
    output's shape (gemm.matmul's rule; a batch of direct ones: its batched form); elementwise: the
    contiguous map when there is one; else the kernel with the least occupancy among those serving
    the call."""
    rows = [r for r in stored()[1] if r["arch"] == arch and r["dtype"] == dtype and kernel in r["served"].split(",")]
    if kernel == "matmul" and len(shapes) >= 2:
        kind = _matmul_kind(shapes, dtype, sm_count)
        rows = [r for r in rows if r["kind"] == kind]
    else:
        rows = [r for r in rows if "contiguous" in r["kernel"]] or rows
    return min(rows, key=lambda r: r["occupancy"]) if rows else None


def _matmul_kind(shapes, dtype, sm_count):
    """The kind of kernel gemm.matmul launches for operands of these shapes (its rule)."""
    p = gpu_policy(sm_count)
    m, n = shapes[0][-2], shapes[1][-1]  # of each product of a batch
    kind = "matmul_register_blocked" if m >= p.blocking[0] and n >= p.blocking[1] and dtype.startswith("float") \
        else "matmul_tiled" if m >= p.tiled_min and n >= p.tiled_min else "matmul_direct"
    return "matmul_batched_direct" if kind == "matmul_direct" and len(shapes[0]) == 3 else kind


# views of the storage: no launch (a reshape of a non-contiguous view copies, which shapes cannot show)
_VIEWS = ("reshape", "permute", "expand")


def launches(cost, dtype, sm_count=132):
    """Kernel launches per call (napkin charges a launch each): none for a view; a reduction's
    passes (reductions._reduce folds long rows in chunks, then the chunks' partials); a batched
    matmul of products too large for the direct kernel, one per product; else one."""
    kernel, shapes = cost.kernel, cost.shapes
    if kernel in _VIEWS:
        return 0
    if kernel in ("sum", "max") and cost.elements and cost.itemsize:
        return _reduction_passes(cost, sm_count)
    if kernel != "matmul" or len(shapes) < 2 or len(shapes[0]) != 3:
        return 1
    return 1 if _matmul_kind(shapes, dtype, sm_count) == "matmul_batched_direct" else shapes[0][0]


def _reduction_passes(cost, sm_count):
    """The launches of reductions._reduce: one for short rows (one thread each), else block passes
    until every row is one partial (rows: the output's elements; length: the input's per row)."""
    p = gpu_policy(sm_count)
    rows = max(1, round(cost.out_bytes / cost.itemsize))
    length = cost.elements / rows
    if length <= p.serial_row_max:
        return 1
    passes = 1
    while True:
        chunks = reduce_chunks(rows, length, p)
        if chunks == 1:
            return passes
        passes, length = passes + 1, chunks


# transfers out of the device: a contiguous buffer is copied straight to the host (storage.to_numpy)
_NO_KERNEL_WHEN_CONTIGUOUS = ("to_numpy", "item")
# ops that run a matmul kernel and then an elementwise epilogue over its output (gemm.linear_act):
# the product's operand shapes from the call's (x, w: the product is x @ w.T)
_MATMUL_THEN_MAP = {"linear_act": lambda shapes: [shapes[0], tuple(reversed(shapes[1][-2:]))]}


def compiled(cost, dtype):
    """The CUDA kernels a call (its Cost: kernel, operand shapes, note) launches, as keys: Numba
    compiles each distinct specialisation at its first launch in a process, which napkin charges
    once per run. A product: its kind and whether its sizes need the bounds-checked variant;
    linear_act: that, then its epilogue (one per activation and bias); other kernels: the one
    kernel_resources names (none for views and transfers). Shapes alone cannot show a transposed
    operand, which takes the strided map too: such calls are counted as contiguous."""
    kernel, shapes = cost.kernel, cost.shapes
    if kernel in _NO_KERNEL_WHEN_CONTIGUOUS or kernel in _VIEWS:
        return []
    if kernel == "matmul" and len(shapes) >= 2:
        return [_product_key(shapes, dtype)]
    if kernel in _MATMUL_THEN_MAP and len(shapes) >= 2:
        act, bias = cost.note.rpartition("+ ")[2], len(shapes) == 3
        keys = [_product_key(_MATMUL_THEN_MAP[kernel](shapes), dtype)]
        return keys + ([("linear_act epilogue", act, bias, dtype)] if act != "None" or bias else [])
    row = kernel_resources(kernel, shapes, dtype, "sm_90")
    if row is None:
        return []
    name = row["kernel"]
    if "map_kernels/" in name:  # one specialisation per number of input arrays (a scalar operand is none) ...
        if len({tuple(s) for s in shapes}) > 1:  # ... and broadcast operands take the strided map, one per rank
            name = name.replace("/contiguous", "/strided") + f" rank {max(len(s) for s in shapes)}"
        name += f" of {len(shapes)}"
    return [(name, dtype)]


def _product_key(shapes, dtype):
    """(kind, bounds-checked, dtype) of the kernel gemm.matmul_with compiles for these operands."""
    p, kind = gpu_policy(132), _matmul_kind(shapes, dtype, 132)
    (m, k), n = shapes[0][-2:], shapes[1][-1]
    edge = {"matmul_tiled": (p.tile,) * 3, "matmul_register_blocked": p.blocking[:3]}.get(kind)
    return kind, bool(edge) and not (m % edge[0] == 0 and n % edge[1] == 0 and k % edge[2] == 0), dtype
