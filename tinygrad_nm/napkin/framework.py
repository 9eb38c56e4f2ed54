"""tinygrad_nm's own cost around each kernel call (the "framework" rates), by who made the call.

A kernel call costs more than the kernel: the Python code that decided to make it. How much
depends on which layer of tinygrad_nm made it, so each call is put in one of three phases by
looking at the code that called the kernel (and its callers, a few frames up):

  op        a Tensor op (forward): argument checks, broadcasting, the output Tensor, the graph node
  backward  the backward walk: the node's backward rule, summing gradients, the heap
  direct    code that calls kernels on buffers itself, as the optimizers' updates do

Each phase's cost per kernel call is measured by primitives on tensors of one element, where the
kernels cost next to nothing (calibrate_framework.measure): each common Tensor op alone (a
multiply by a number, a broadcast add, a matmul, a transpose, activations, a sum, a
cross-entropy: `op_by_kernel`), a chain of linear layers with tanh forward and then backward,
and an SGD-with-momentum step over one-element parameters; from each the time of the kernel
calls it made, recorded and replayed in turn with it, is taken away, and what is left is divided
by the number of calls.
"""
import sys

PHASES = ("op", "backward", "direct")
DEFAULT_RATES = {"op_s": 1.5e-6, "backward_s": 1.0e-6, "direct_s": 0.3e-6,  # measured so on the notes' VM
                 "op_by_kernel": {}, "op_program_factor": 1.0}  # 1.00-1.10 on the AMD EPYC VMs
_BACKWARD_MODULE = "tinygrad_nm.autograd"
_DIRECT_MODULE = "tinygrad_nm.optim"
_FRAMES = 4  # how far up to look: a backward rule may call a helper (unbroadcast) that calls the kernel


def phase_of(frame):
    """The phase of a kernel call, from the frame that called the kernel."""
    for _ in range(_FRAMES):
        if frame is None:
            break
        module = frame.f_globals.get("__name__", "")
        if module == _BACKWARD_MODULE or frame.f_code.co_name == "backward":
            return "backward"
        if module.startswith(_DIRECT_MODULE):
            return "direct"
        frame = frame.f_back
    return "op"


def caller_phase(depth):
    """The phase of the kernel call `depth` frames above the caller of this function."""
    return phase_of(sys._getframe(depth + 1))


def op_key(kernel, shapes=()):
    """How a Tensor op's own cost is looked up: the kernel, and for two operands whether they differ
    in shape (a broadcast: the backward must sum over the broadcast axes) or one is a Python number."""
    if kernel not in _BINARY:
        return kernel
    if len(shapes) == 2 and tuple(shapes[0]) != tuple(shapes[1]):
        return f"{kernel} broadcast"
    return f"{kernel} number" if len(shapes) == 1 else kernel


_BINARY = ("add", "sub", "mul", "div", "pow")


def per_call(rates, phase, kernel=None, shapes=()):
    """Seconds of framework cost for one call of `kernel` (on operands of these shapes) in this phase.
    A Tensor op's cost depends on the op (a matmul checks and broadcasts more than a multiply by a
    number): `op_by_kernel` holds it by op_key where a primitive measured it alone, `op_s` (their
    median) for the rest; `op_program_factor` is how much slower ops run in a program, one after
    another, than each alone over and over (measured on a chain of layers)."""
    section = rates.section("framework")
    if phase == "op":
        alone = section.get("op_s", DEFAULT_RATES["op_s"])
        by_kernel = section.get("op_by_kernel") or {}
        for key in (op_key(kernel, shapes), kernel):
            if kernel is not None and key in by_kernel:
                alone = by_kernel[key]
                break
        return alone * section.get("op_program_factor", 1.0)
    return section.get(f"{phase}_s", DEFAULT_RATES[f"{phase}_s"])


def seconds(calls, rates):
    """The framework's predicted seconds for kernel calls given as (phase, kernel, shapes) triples."""
    return sum(per_call(rates, phase, kernel, shapes) for phase, kernel, shapes in calls)
