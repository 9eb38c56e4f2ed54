"""From a kernel's Cost and the machine's base rates to a predicted time on one backend.

How a backend runs its kernels decides how they are priced, so each backend declares, next to its
code, a `PRICING` dict whose "family" names one of the pricing modules below and whose other
entries are the facts that module needs (which kernels it compiles, its thresholds, the NumPy
passes a kernel makes, what a Python kernel does per element). napkin reads those facts and
never names a backend; a backend that declares no pricing gets a Prediction marked "not priced".

  price_interpreter.py  kernels that run as CPython code
  price_array_calls.py  kernels that are NumPy calls
  price_compiled.py     kernels a backend compiles itself (others priced as its delegate's)
  price_gpu.py          kernels launched on a GPU, with host<->device transfers
"""
from dataclasses import replace

from tinygrad_nm import backends
from tinygrad_nm.napkin import fmt, locality, price_array_calls, price_compiled, price_gpu, price_interpreter
from tinygrad_nm.napkin.roofline import Prediction, bandwidth, host_limit, not_priced  # noqa: F401 (re-exported)

FAMILIES = {m.FAMILY: m for m in (price_interpreter, price_array_calls, price_compiled, price_gpu)}


def all_scalars(args):
    """Do a kernel's buffer arguments all hold one number each (0-d: NumPy scalars, where a NumPy
    call takes a faster path)? False for a kernel given no buffer at all (full, a creation)."""
    shapes = [a.shape for a in args if hasattr(a, "shape")]
    return bool(shapes) and all(s == () for s in shapes)


def compiled_keys(costs, backend, dtype="float32"):
    """The distinct kernels these calls (Costs) compile at their first launch, as the backend names
    them (its PRICING["compiled"]); an empty set for a backend that compiles nothing at run time."""
    pricing, _ = backends.pricing(backend)
    find = (pricing or {}).get("compiled")
    # the item size too: integer buffers (labels, indices) in a float32 program compile their own kernels
    return {(key, c.itemsize) for c in costs for key in find(c, dtype)} if find else set()


def warmup_seconds(keys, backend, rates):
    """The one-time cost of compiling those kernels (compiled_keys) on `backend`, priced by its family."""
    pricing, _ = backends.pricing(backend)
    family = FAMILIES.get((pricing or {}).get("family"))
    price = getattr(family, "warmup", None)
    return price(keys, rates) if price and keys else 0.0


def predict(cost, backend, rates, dtype="float32", scalar_args=False, device=None, placement=None):
    """The Prediction for one call of a kernel with this Cost on `backend` (a name or a module).
    `device`: a GPU by name (napkin/gpu.py's datasheets: A100, H100, H200, L4, RTX 4090) for a GPU
    backend, priced from its datasheet and the kernel's occupancy instead of the calibrated rates.
    `placement`: where the call's operands lie in a traced program (locality.Placement): a host
    family that moves data (HOST_MEMORY) pays for reading them from that far, and for looping over
    the rows of operands whose layouts differ."""
    if dtype not in ("float32", "float64"):
        dtype = "float64" if dtype == "int64" else "float32"
    pricing, why = backends.pricing(backend)
    if pricing is None:
        return not_priced(why)
    family = FAMILIES.get(pricing.get("family"))
    if family is None:
        return not_priced(f"its pricing family {pricing.get('family')!r} is not one of {', '.join(FAMILIES)}")
    if device is not None:
        if family is not price_gpu:
            raise ValueError(f"device={device!r}: only a GPU backend is priced for a named device; this backend's "
                             f"pricing family is {family.FAMILY!r}")
        return price_gpu.price_on(cost, pricing, rates, dtype, device)
    if placement is None or not getattr(family, "HOST_MEMORY", False):
        return family.price(cost, pricing, rates, dtype, scalar_args)
    prediction = family.price(cost, pricing, rates, dtype, scalar_args, run=placement.run)
    cold = locality.cold_seconds(placement.operands, rates["host"], cost.bytes)
    if not cold:
        return prediction
    far = sum(b for b, d in placement.operands if d >= rates["host"]["cold_read"][0][0])
    return replace(prediction, seconds=prediction.seconds + cold, memory_s=prediction.memory_s + cold,
                   terms=prediction.terms[:-1] + [f"{fmt.nbytes(far)} from further out {fmt.seconds(cold)}"]
                   + prediction.terms[-1:])
