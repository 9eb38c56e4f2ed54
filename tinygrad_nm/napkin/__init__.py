"""Napkin math: how long every kernel should take on this machine, and why; then how long it did.

    import tinygrad_nm as tnm
    print(tnm.napkin.estimate("matmul", (1024, 1024), (1024, 1024)))   # before running anything
    print(tnm.napkin.profile(train_step, batch))                         # where a step's time went
    TINYGRAD_NM_DEBUG=1 python script.py                                 # one line per kernel call

One idea per module:
  (the FLOPs and bytes of every kernel are the kernel table's: tinygrad_nm/backends/kernels.py)
  rates.py      the machine's base rates: defaults, the per-machine cache
  primitives.py micro-benchmarks of primitives that measure those rates (`tinygrad-nm calibrate`)
  native.py     the compiled FMA loop and scalar-add loop they time
  model.py      Cost + rates -> predicted time on one backend, by the pricing family it declares
  roofline.py   the Prediction, the bandwidth curve and the roofline limit the families share
  price_*.py    one pricing module per family: interpreter, array_calls, compiled_host, gpu
  estimate.py   estimate(op or fn, *args): the real code traced on the shape-only backend, priced
  summary.py    summary(model, input_shape): per layer, shapes, parameters, FLOPs, bytes, time
  trace.py      TINYGRAD_NM_DEBUG and the wrapper that times and records kernels as they run
  profiling.py  profile(fn, *args): a function's kernels, predicted against measured
  framework.py  tinygrad_nm's own cost around each kernel call, by who made it
  report.py     the benchmark table and the predicted-vs-measured plot
  cli.py        `tinygrad-nm bench` and `tinygrad-nm calibrate`
"""
from tinygrad_nm.backends.costs import Buf, Cost
from tinygrad_nm.backends.kernels import kernel_cost
from tinygrad_nm.napkin.estimate import Estimate, estimate, estimate_kernel, trace_kernels
from tinygrad_nm.napkin import rates as rates_mod
from tinygrad_nm.napkin.rates import Rates, cache_path
from tinygrad_nm.napkin.summary import Summary, summary
from tinygrad_nm.napkin.profiling import Profile, profile
from tinygrad_nm.napkin.trace import collecting, counting, debug, disable_debug, enable_debug, recording


def current_rates():
    """The base rates estimates use now (calibrated or defaults: `.describe()` says which)."""
    return rates_mod.current()


def calibrate(quick=False, save=True, log=print):
    """Measure this machine's base rates (a few seconds), cache them, and use them from now on."""
    from tinygrad_nm.napkin import primitives
    data = primitives.measure(quick=quick, log=log)
    path = rates_mod.save(data) if save else None
    current = rates_mod.set_current(rates_mod.Rates(rates_mod.merged_with_defaults(data), "calibrated",
                                                    path or "in memory"))
    return current


__all__ = ["estimate", "estimate_kernel", "trace_kernels", "Estimate", "profile", "Profile", "debug", "enable_debug",
           "disable_debug", "collecting", "counting", "kernel_cost", "Cost", "Buf", "current_rates", "Rates", "calibrate",
           "cache_path", "recording", "summary", "Summary"]
