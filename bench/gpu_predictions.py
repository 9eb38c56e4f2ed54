"""napkin's datasheet predictions for the walkthrough's GPU questions, on every GPU in napkin/gpu.py:
matmul 4096, relu on 64M elements (forward and backward), an MLP training step (784-256-10, batch
128), and the size from which the GPU beats the numpy backend. PREDICTIONS, not measurements: no
GPU ran anything here (bench/test_cuda.py measures these on a machine with one).

    tinygrad-nm cuda-report --write-facts   # registers etc. into numba_cuda/resources.json (no GPU needed)
    python bench/gpu_predictions.py         # markdown for bench/README.md

Each kernel call is priced with the resources (registers, shared memory, block, inner-loop FMAs)
of the CUDA kernel the backend's launch policy picks for it, from the table of the device's
architecture (sm_90 for H100/H200, sm_80 for A100; for L4 and RTX 4090, sm_89, the sm_80
registers: the table has no sm_89 rows). A launch from Python through Numba is charged
CALL_S, as napkin's default GPU rates do.
"""
import sys

import numpy as np

import tinygrad_nm as tnm
from tinygrad_nm import functional as F, nn, optim
from tinygrad_nm.backends.costs import Buf
from tinygrad_nm.backends.kernels import kernel_cost
from tinygrad_nm.backends.numba_cuda import pricing
from tinygrad_nm.napkin import fmt, gpu, rates as rates_mod

CALL_S = 20e-6  # a Numba launch from Python (napkin's default GPU call_s; not a datasheet figure)
TABLE_ARCH = {"sm_90": "sm_90", "sm_80": "sm_80", "sm_89": "sm_80"}


def resources_for(cost, dtype, sheet):
    """KernelResources of the CUDA kernel the launch policy runs for this call (the backend's rule)."""
    row = pricing.kernel_resources(cost.kernel, cost.shapes, dtype, TABLE_ARCH[sheet.arch], sheet.sm_count)
    return gpu.KernelResources.from_row(row) if row else None


def price_costs(costs, device, dtype="float32"):
    sheet = gpu.device(device)
    return [gpu.price(c, device, resources_for(c, dtype, sheet), dtype, call_s=CALL_S) for c in costs]


def mlp_step_costs(width, batch, backend="numpy"):
    """The kernel calls of one training step (forward, cross-entropy, backward, SGD), traced on the
    shape-only backend, with their numpy-backend estimate."""
    rng = np.random.default_rng(0)
    with tnm.use_backend(tnm.backends.shape_only().NAME):  # parameters that only have shapes, as the inputs
        model = nn.MLP([784, width, 10], generator=rng)
    opt = optim.SGD(model.parameters(), lr=0.01)

    def step(x, labels):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), labels)
        loss.backward()
        opt.step()
    x = tnm.Tensor(np.zeros((batch, 784), np.float32))
    labels = tnm.Tensor(np.zeros(batch, np.int64))
    est = tnm.napkin.estimate(step, x, labels, backend=backend)
    return [p.cost for p in est.parts], est.seconds


def matmul_costs(n):
    return [kernel_cost("matmul", (Buf((n, n), 4), Buf((n, n), 4)))]


def main():
    toolchain, rows = pricing.stored()
    if not rows:
        sys.exit(f"no resource facts in {pricing.FACTS}: run tinygrad-nm cuda-report --write-facts")
    devices = list(gpu.DEVICES)
    out = ["Predictions (napkin/gpu.py, datasheet rates; nothing measured on a GPU), float32, "
           f"{fmt.seconds(CALL_S)} per launch:", "",
           "| question | " + " | ".join(devices) + " |", "|---|" + "---|" * len(devices)]

    def line(label, costs, detail=None):
        cells = []
        for d in devices:
            ps = price_costs(costs, d)
            total = sum(p.seconds for p in ps)
            cells.append(fmt.seconds(total) + (f" ({detail(ps, total)})" if detail else ""))
        out.append(f"| {label} | " + " | ".join(cells) + " |")

    mm = matmul_costs(4096)
    line("matmul 4096 (register-blocked)", mm,
         lambda ps, t: f"{2 * 4096 ** 3 / t / 1e12:.1f} TFLOP/s, {ps[0].compute_fraction:.0%} of peak, "
                       f"occupancy {ps[0].occupancy:.1%}")
    n = 64 << 20
    relu = [kernel_cost("relu", (Buf((n,), 4),)), kernel_cost("relu_backward", (Buf((n,), 4), Buf((n,), 4)))]
    line("relu 64M forward", relu[:1], lambda ps, t: f"{relu[0].bytes / t / 1e9:.0f} GB/s, "
                                                       f"{ps[0].memory_fraction:.0%} of bandwidth")
    line("relu 64M backward", relu[1:], lambda ps, t: f"{relu[1].bytes / t / 1e9:.0f} GB/s")
    step, numpy_s = mlp_step_costs(256, 128)
    line(f"MLP step 784-256-10, batch 128 ({len(step)} kernels)", step,
         lambda ps, t: f"launches {sum(p.overhead_s for p in ps) / t:.0%}")
    rates = rates_mod.current()
    out += ["", f"The numpy backend on this machine, same napkin ({rates.describe()}): MLP step "
                f"{fmt.seconds(numpy_s)}.", ""]
    sizes = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
    out += ["Crossover against the numpy backend (napkin's numpy prediction on this machine's rates): the size",
            "from which the GPU prediction stays below it.", "",
            "| program | " + " | ".join(devices) + " |", "|---|" + "---|" * len(devices)]
    detail = {}
    for program, costs_of in (("square matmul n", lambda k: (matmul_costs(k), None)),
                              ("MLP step 784-n-10, batch n", lambda k: mlp_step_costs(k, k))):
        host = {}
        for k in sizes:
            costs, host_s = costs_of(k)
            host[k] = (costs, host_s if host_s is not None else tnm.napkin.estimate(
                "matmul", (k, k), (k, k), backend="numpy").seconds)
        cells = []
        for d in devices:
            gpu_s = {k: sum(p.seconds for p in price_costs(host[k][0], d)) for k in sizes}
            at = gpu.crossover(lambda k: host[k][1], gpu_s.get, sizes)
            cells.append(f"n = {at}" if at else f"none up to {sizes[-1]}")
            if d == "H200":
                detail[program] = [(k, host[k][1], gpu_s[k]) for k in sizes]
        out.append(f"| {program} | " + " | ".join(cells) + " |")
    out += ["", "The sweep on H200 (numpy predicted / H200 predicted):", "",
            "| n | " + " | ".join(detail) + " |", "|---|" + "---|" * len(detail)]
    for i, k in enumerate(sizes):
        out.append(f"| {k} | " + " | ".join(f"{fmt.seconds(v[i][1])} / {fmt.seconds(v[i][2])}"
                                              for v in detail.values()) + " |")
    print("\n".join(out))


if __name__ == "__main__":
    main()
