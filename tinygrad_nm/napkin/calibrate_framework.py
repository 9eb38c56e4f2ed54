"""Calibrating the framework rates (framework.py): tinygrad_nm's own cost around each kernel call,
by phase, measured by primitives on one-element tensors, less the time of their kernel calls replayed."""
import statistics

import numpy as np

from tinygrad_nm.napkin import framework, rates as rates_mod
from tinygrad_nm.napkin.timing import best_times_alternated


def measure(be, log):
    """tinygrad_nm's own cost per kernel call in each phase (framework.py) on backend `be` (one whose
    kernels are NumPy calls, the cheapest): each primitive's time less its kernel calls', replayed."""
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

    def forward_backward():  # each leaf's gradient new, as after zero_grad() (set_to_none)
        for p in ws + bs:
            p.grad = None
        forward().backward()

    params = [tensor(1, grad=True) for _ in range(20)]
    for p in params:
        p.grad = tensor(1)
    opt = tnm.optim.SGD(params, lr=0.1, momentum=0.9)
    opt.step()  # the momentum buffers exist from here on, as in training

    def replay(fn):
        """(fn's kernel calls, a function making them again): each recorded once with its arguments
        and replayed straight into the backend, so that the kernels' own time is measured in the
        same stretch as fn's. (Taking their calibrated prices away instead tied these rates to
        whatever stretch the kernel calls were calibrated in: a slow one halved them.)"""
        with trace.recording() as calls:
            fn()
        made = [(getattr(be, call[0]), call[1]) for call in calls]

        def again():
            for kernel, args in made:
                kernel(*args)
        return list(calls), again

    def beyond_kernels(fns, repeat=31):
        """[(calls, seconds of fn beyond its kernels)] for each of fns, all timed in turn with their
        replays, so that a slow stretch of this shared machine (they last seconds) slows them alike."""
        replays = [replay(fn) for fn in fns]
        times = best_times_alternated([f for fn, (_, again) in zip(fns, replays) for f in (fn, again)], 1, repeat)
        return [(calls, times[2 * i] - times[2 * i + 1]) for i, (calls, _) in enumerate(replays)]

    out = {}
    by_kernel = {}
    # each Tensor op alone, 20 times: its own framework cost
    for calls, beyond in beyond_kernels(_one_op_each(tensor, F)):
        each = max(beyond, 0.0) / len(calls)
        for key in dict.fromkeys(framework.op_key(k[0], trace.shapes_of(k[1])) for k in calls):
            by_kernel.setdefault(key, each)
    out["op_by_kernel"] = by_kernel
    with_median(out)
    (f_calls, f_beyond), (fb_calls, fb_beyond), (o_calls, o_beyond) = beyond_kernels(
        (forward, forward_backward, opt.step))
    # ops in a sequence of different ops can run slower than each alone, over and over (their code
    # and data are no longer hot): the chain's forward against the table's sum for its calls
    alone = sum(framework.per_call(rates_mod.Rates({"framework": dict(out, op_program_factor=1.0)}, "calibrated"),
                                   "op", k[0], trace.shapes_of(k[1])) for k in f_calls)
    out["op_program_factor"] = max(1.0, f_beyond / alone) if alone else 1.0
    out["backward_s"] = max(fb_beyond - f_beyond, 0.0) / (len(fb_calls) - len(f_calls))  # the walk's calls
    out["direct_s"] = max(o_beyond, 0.0) / len(o_calls)
    log("  framework, per kernel call beyond the kernel: " + ", ".join(
        f"{p} {out[f'{p}_s'] * 1e6:.2f} us" for p in framework.PHASES)
        + " (op: the median of " + ", ".join(f"{k} {v * 1e6:.2f}" for k, v in by_kernel.items())
        + f", x {out['op_program_factor']:.2f} in a program (a 20-layer linear+tanh chain on 1x1 tensors); "
          f"backward: that chain's backward; direct: an SGD step)")
    return out


def with_median(out):
    """`out` with op_s, the cost of an op the table lacks, set to the median of its op_by_kernel (the
    table may be a merge of several looks: primitives.measure)."""
    out["op_s"] = statistics.median(out["op_by_kernel"].values())
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
