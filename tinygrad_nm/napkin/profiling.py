"""`napkin.profile(fn, *args)`: where a function's time went, kernel by kernel, beside the napkin
estimate of each (the kernels are timed by trace.py's wrapper; the framework's cost around them
is priced by framework.py).
"""
from tinygrad_nm.napkin import fmt, framework, rates as rates_mod
from tinygrad_nm.napkin.trace import _perf, _tracer_seconds, collecting


class Profile:
    """Where a function's time went, kernel by kernel, beside the napkin estimate of each.

    rows                      a KernelCall per kernel call (backend, op, shapes, flops, bytes,
                              predicted_seconds, measured_seconds, limit_seconds)
    predicted_seconds         the kernels' estimates + tinygrad_nm's own per-call overhead (by phase:
                              framework.py)
    measured_seconds          the function's wall time, less the time the tracer itself took
    kernel_predicted_seconds, kernel_measured_seconds, framework_seconds, limit_seconds
    result                    what the function returned
    """

    def __init__(self, rows, wall_seconds, tracer_seconds, rates, result=None, name=""):
        self.rows, self.wall_seconds, self.tracer_seconds = rows, wall_seconds, tracer_seconds
        self.rates, self.result, self.name = rates, result, name

    @property
    def kernel_predicted_seconds(self):
        return sum(r.predicted_seconds for r in self.rows)

    @property
    def kernel_measured_seconds(self):
        return sum(r.measured_seconds for r in self.rows)

    @property
    def framework_seconds(self):
        return framework.seconds(((r.phase, r.op, r.shapes) for r in self.rows), self.rates)

    @property
    def predicted_seconds(self):
        return self.kernel_predicted_seconds + self.framework_seconds

    @property
    def measured_seconds(self):
        return max(self.wall_seconds - self.tracer_seconds, self.kernel_measured_seconds)

    @property
    def limit_seconds(self):
        return sum(r.limit_seconds for r in self.rows)

    @property
    def flops(self):
        return sum(r.flops for r in self.rows)

    @property
    def bytes(self):
        return sum(r.bytes for r in self.rows)

    def grouped(self):
        """Rows merged by (backend, op, shapes): [(count, backend, op, shapes, flops, bytes, pred, meas)]."""
        groups = {}
        for r in self.rows:
            key = (r.backend, r.op, r.shapes)
            g = groups.setdefault(key, [0, 0.0, 0.0, 0.0, 0.0])
            g[0] += 1
            g[1] += r.flops
            g[2] += r.bytes
            g[3] += r.predicted_seconds
            g[4] += r.measured_seconds
        out = [(g[0], *key, g[1], g[2], g[3], g[4]) for key, g in groups.items()]
        return sorted(out, key=lambda row: -row[-1])

    def table(self, top=15):
        lines = [f"{'calls':>6}  {'backend':<10} {'op':<22} {'shapes':<24} {'FLOPs':>11} {'bytes':>10} "
                 f"{'predicted':>10} {'measured':>10} {'meas/pred':>9} {'GFLOP/s':>8} {'GB/s':>7}"]
        groups = self.grouped()
        for count, backend, op, shapes, flops, nbytes, pred, meas in groups[:top]:
            ratio = f"{meas / pred:.2f}" if pred else "-"
            gflops = f"{flops / meas / 1e9:.3g}" if meas else "-"
            gbs = f"{nbytes / meas / 1e9:.3g}" if meas else "-"
            lines.append(f"{count:>6}  {backend:<10} {op:<22} {fmt.shapes(shapes)[:24]:<24} {fmt.flops(flops):>11} "
                         f"{fmt.nbytes(nbytes):>10} {fmt.seconds(pred):>10} {fmt.seconds(meas):>10} {ratio:>9} "
                         f"{gflops:>8} {gbs:>7}")
        if len(groups) > top:
            rest = groups[top:]
            lines.append(f"{sum(g[0] for g in rest):>6}  ... {len(rest)} more kind(s) of call: predicted "
                         f"{fmt.seconds(sum(g[-2] for g in rest))}, measured {fmt.seconds(sum(g[-1] for g in rest))}")
        return "\n".join(lines)

    def _framework_terms(self):
        counts, totals = {p: 0 for p in framework.PHASES}, {p: 0.0 for p in framework.PHASES}
        for r in self.rows:
            counts[r.phase] += 1
            totals[r.phase] += framework.per_call(self.rates, r.phase, r.op, r.shapes)
        return " + ".join(f"{n} {p} calls {fmt.seconds(totals[p])}" for p, n in counts.items() if n)

    def __str__(self):
        ratio = self.measured_seconds / self.predicted_seconds if self.predicted_seconds else float("nan")
        title = f"napkin profile{' of ' + self.name if self.name else ''}: {len(self.rows)} kernel calls; {self.rates.describe()}"
        return "\n".join([
            title,
            self.table(),
            f"kernels:   predicted {fmt.seconds(self.kernel_predicted_seconds)}, measured "
            f"{fmt.seconds(self.kernel_measured_seconds)}; framework: {self._framework_terms()} = "
            f"{fmt.seconds(self.framework_seconds)}",
            f"total:     predicted {fmt.seconds(self.predicted_seconds)}, measured {fmt.seconds(self.measured_seconds)} "
            f"(measured/predicted {ratio:.2f}); roofline limit {fmt.seconds(self.limit_seconds)} "
            f"({fmt.flops(self.flops)}, {fmt.nbytes(self.bytes)})",
        ])

    __repr__ = __str__


def profile(fn, *args, warmup=0, **kwargs):
    """Run fn(*args, **kwargs) once with every kernel call timed and priced; returns a Profile.

    `warmup`: run fn that many times untraced first, right before the traced call, which then finds
    the caches as a loop of fn leaves them. A profile's own bookkeeping when its block ends (and
    pricing, printing) is Python work that leaves them cold: in a quick loop of profiles of the
    digits step, its first kernels measured 2-4x their time in a loop without it (bench/README.md).
    fn's side effects happen warmup + 1 times (a training step trains that many steps)."""
    for _ in range(warmup):
        fn(*args, **kwargs)
    rates = rates_mod.current()
    tracer_before = _tracer_seconds[0]
    with collecting() as collector:
        start = _perf()
        result = fn(*args, **kwargs)
        wall = _perf() - start
    return Profile(collector.calls, wall, _tracer_seconds[0] - tracer_before, rates, result,
                   getattr(fn, "__name__", ""))
