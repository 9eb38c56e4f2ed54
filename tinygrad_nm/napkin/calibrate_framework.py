"""Calibrating the framework rates (framework.py): tinygrad_nm's own cost around each kernel call,
by phase, measured by primitives on one-element tensors, the kernels' own prices taken away."""
import statistics

import numpy as np

from tinygrad_nm.napkin import framework, rates as rates_mod
from tinygrad_nm.napkin.timing import best_time, best_times_alternated


def measure(be, rates, log):
    """tinygrad_nm's own cost per kernel call in each phase (framework.py) on backend `be` (one whose
    kernels are NumPy calls, the cheapest), the kernels' own prices (from `rates`, just measured)
    taken away."""
    import tinygrad_nm as tnm
    from tinygrad_nm import functional as F
    from tinygrad_nm.napkin import trace

    def tensor(*shape, grad=False):
        return tnm.Tensor(np.ones(shape, np.float32), requires_grad=grad, backend=be.NAME)

    ws, bs = [tensor(1, 1, grad=True) for _ in range(20)], [tensor(1, grad=True) for _ in range(20)]
    x = tensor(1, 1)

    def forward():
        y = x
        for w, b in zip(ws, bs):
            y = F.linear(y, w, b).tanh()
        return y.sum()

    def forward_backward():
        forward().backward()

    params = [tensor(1, grad=True) for _ in range(20)]
    for p in params:
        p.grad = tensor(1)
    opt = tnm.optim.SGD(params, lr=0.1, momentum=0.9)
    opt.step()  # the momentum buffers exist from here on, as in training

    def kernels(fn):
        with trace.collecting() as c:
            fn()
        with rates_in_use(rates):
            return c.calls, sum(k.predicted_seconds for k in c.calls)

    out = {}
    by_kernel = {}
    ops = _one_op_each(tensor, F)  # each Tensor op alone, 20 times: its own framework cost
    # timed in turn, so that a slow stretch of this shared machine (they last seconds) slows them alike
    for fn, t in zip(ops, best_times_alternated(ops, 1, 31)):
        calls, priced = kernels(fn)
        each = max(t - priced, 0.0) / len(calls)
        for key in dict.fromkeys(framework.op_key(k.op, k.shapes) for k in calls):
            by_kernel.setdefault(key, each)
    out["op_by_kernel"] = by_kernel
    out["op_s"] = statistics.median(by_kernel.values())
    f_calls, f_kernels = kernels(forward)
    fb_calls, fb_kernels = kernels(forward_backward)
    t_f, t_fb = best_times_alternated((forward, forward_backward), 1, 31)  # backward_s is their difference
    # ops in a sequence of different ops run slower than each alone, over and over (their code
    # and data are no longer hot): the chain's forward against the table's sum for its calls
    alone = sum(framework.per_call(rates_mod.Rates({"framework": dict(out, op_program_factor=1.0)}, "calibrated"),
                                   "op", k.op, k.shapes) for k in f_calls)
    out["op_program_factor"] = max(1.0, (t_f - f_kernels) / alone) if alone else 1.0
    out["backward_s"] = max((t_fb - t_f) - (fb_kernels - f_kernels), 0.0) / (len(fb_calls) - len(f_calls))
    o_calls, o_kernels = kernels(opt.step)
    out["direct_s"] = max(best_time(opt.step, 1, 15) - o_kernels, 0.0) / len(o_calls)
    log("  framework, per kernel call beyond the kernel: " + ", ".join(
        f"{p} {out[f'{p}_s'] * 1e6:.2f} us" for p in framework.PHASES)
        + " (op: the median of " + ", ".join(f"{k} {v * 1e6:.2f}" for k, v in by_kernel.items())
        + f", x {out['op_program_factor']:.2f} in a program (a 20-layer linear+tanh chain on 1x1 tensors); "
          f"backward: that chain's backward; direct: an SGD step)")
    return out


def _one_op_each(tensor, F):
    """Functions that each run one common Tensor op 20 times on one-element tensors that need grad."""
    x, y = tensor(1, grad=True), tensor(1, grad=True)
    m, w, b = tensor(1, 1, grad=True), tensor(1, 1, grad=True), tensor(1, grad=True)
    import tinygrad_nm as tnm
    labels = tnm.Tensor(np.zeros(1, np.int64), backend=x.backend)
    s, t = tensor(grad=True), tensor(grad=True)  # 0-d: the walkthrough's scalar programs
    image, kernel = tensor(1, 1, 2, 2, grad=True), tensor(1, 1, 1, 1, grad=True)  # a convolution's and a pool's checks
    stats, update = tensor(1), tensor(1)  # batch norm's running statistics: written in place, no graph
    ops = [lambda: x * 1.0001, lambda: x * y, lambda: x + y, lambda: x - y, lambda: m + b, lambda: s * t,
           lambda: m @ w, lambda: F.linear(m, w, b),  # linear_act: a Linear layer's own checks, its own price
           lambda: w.T, lambda: x[0], lambda: x.tanh(), lambda: x.relu(), lambda: x.sigmoid(),
           lambda: x.exp(), lambda: m.sum(axis=0), lambda: F.cross_entropy(m, labels),
           lambda: F.conv2d(image, kernel, b), lambda: F.max_pool2d(image, 2),
           # what batch norm does besides: broadcast sub, mul, div; a division by a number; sqrt; reshape
           lambda: m - b, lambda: m * b, lambda: m / b, lambda: x / 3.0, lambda: x.sqrt(), lambda: x.reshape(1, 1),
           lambda: stats.__setitem__(Ellipsis, update)]

    def twenty(op):
        def run():
            for _ in range(20):
                op()
        return run
    return [twenty(op) for op in ops]


class rates_in_use:
    """`with rates_in_use(r):` prices with r (the rates being calibrated, not yet saved)."""

    def __init__(self, rates):
        self.rates = rates

    def __enter__(self):
        self.previous = rates_mod._current
        rates_mod.set_current(self.rates)

    def __exit__(self, *exc):
        rates_mod._current = self.previous
        return False
