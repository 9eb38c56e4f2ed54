"""tinygrad_nm's own cost around each kernel call (the "framework" rates), by who made the call.

A kernel call costs more than the kernel: the Python code that decided to make it. How much
depends on which layer of tinygrad_nm made it, so each call is put in one of three phases by
looking at the code that called the kernel (and its callers, a few frames up):

  op        a Tensor op (forward): argument checks, broadcasting, the output Tensor, the graph node
  backward  the backward walk: the node's backward rule, summing gradients, the heap
  direct    code that calls kernels on buffers itself, as the optimizers' updates do

Each phase's cost per kernel call is measured by a primitive on 1x1 tensors, where the kernels
cost next to nothing (primitives.measure_framework): a chain of linear layers with tanh, forward
and then backward, and an SGD-with-momentum step over one-element parameters; from each the
model's price of the kernels it called is taken away, and what is left is divided by the number
of calls.
"""
import sys

PHASES = ("op", "backward", "direct")
DEFAULT_RATES = {"op_s": 1.5e-6, "backward_s": 1.0e-6, "direct_s": 0.3e-6}  # measured so on the notes' VM
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


def per_call(rates, phase):
    """Seconds of framework cost for one kernel call in this phase."""
    section = rates.section("framework")
    return section.get(f"{phase}_s", DEFAULT_RATES[f"{phase}_s"])


def seconds(phases, rates):
    """The framework's predicted seconds for kernel calls in these phases (an iterable of names)."""
    table = {p: per_call(rates, p) for p in PHASES}
    return sum(table[p] for p in phases)
