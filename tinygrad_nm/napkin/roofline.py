"""What every pricing family shares: a Prediction, the host's copy-bandwidth curve, the roofline.

    time  = overhead + max(compute, memory) (+ fresh pages, + host<->device transfer)
    limit = max(FLOPs / peak FLOP/s, bytes / peak bandwidth)   (same hardware, no overhead)
"""
import math
from dataclasses import dataclass, field

from tinygrad_nm.napkin import fmt


@dataclass
class Prediction:
    seconds: float
    limit_seconds: float
    overhead_s: float = 0.0
    compute_s: float = 0.0
    memory_s: float = 0.0
    extra_s: float = 0.0        # fresh pages, host<->device transfer
    bound: str = ""             # what the time is mostly spent on
    terms: list = field(default_factory=list)   # the arithmetic, as text pieces
    limit_terms: list = field(default_factory=list)
    priced: bool = True         # False: the backend declares no pricing, the times are 0 (not a guess)

    def arithmetic(self):
        return " + ".join(self.terms) if self.terms else "0"


def log_interpolate(x, points):
    """y at x on measured [x, y] points (x rising), interpolated on log-log between the two around
    it; the first y at or below the first x; None past the last x (each caller extends its own way)."""
    if x <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x <= x1:
            f = (math.log(x) - math.log(x0)) / (math.log(x1) - math.log(x0))
            if y0 <= 0 or y1 <= 0:  # a point measured as nothing (a difference of two timings): no log
                return y0 + f * (y1 - y0)
            return math.exp(math.log(y0) + f * (math.log(y1) - math.log(y0)))
    return None


def bandwidth(curve, ws_bytes):
    """Copy bandwidth for a working set of ws_bytes, interpolated between measured points (the last
    point's beyond them)."""
    bw = log_interpolate(ws_bytes, curve)
    return curve[-1][1] if bw is None else bw


def host_limit(cost, rates, dtype):
    """The roofline limit on the host CPU: every core at the FMA peak, memory at the streaming bandwidth."""
    host = rates["host"]
    peak = host["fma_flops_per_core"].get(dtype, host["fma_flops_per_core"]["float32"]) * host["cores"]
    bw = bandwidth(host["bandwidth"], cost.bytes) if cost.bytes else math.inf
    compute, memory = cost.limit_flops / peak, cost.bytes / bw
    terms = [f"{fmt.flops(cost.limit_flops)} / {fmt.flop_rate(peak)} peak" if compute >= memory
             else f"{fmt.nbytes(cost.bytes)} / {fmt.bandwidth(bw)}"]
    return max(compute, memory), terms




def not_priced(why):
    """The Prediction for a kernel on a backend that declares no pricing facts: no silent guess."""
    return Prediction(0.0, 0.0, bound="not priced", terms=[f"not priced: {why}"], priced=False)
