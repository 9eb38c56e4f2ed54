"""Watching kernels run: TINYGRAD_NM_DEBUG=1 and `napkin.profile(fn, *args)`.

Both hook in at the one place every kernel call passes through: `backends.kernels(be)`, which
returns a wrapper while tracing is on (and the backend module itself, at no cost, while it is
off). The wrapper times each kernel call, prices it with the cost model and hands a KernelCall
to whoever listens: the DEBUG printer, a profile, or a counter.

    TINYGRAD_NM_DEBUG=1   one line per kernel: backend, op, shapes, FLOPs, bytes, predicted and
                          measured time, GFLOP/s, GB/s (on stderr)
    TINYGRAD_NM_DEBUG=2   the same plus the arithmetic behind each prediction

On a GPU backend that has `synchronize()`, each kernel is synchronised so that its measured time
is its run time, not its launch time.
"""
import contextlib
import sys
import time
import warnings

from tinygrad_nm import backends
from tinygrad_nm.backends.kernels import KERNELS
from tinygrad_nm.napkin import fmt, rates as rates_mod
from tinygrad_nm.backends.kernels import kernel_cost
from tinygrad_nm.napkin import model

_KERNEL_SET = frozenset(KERNELS)
_sinks = []          # active listeners: objects with .wants_cost and .add(call)
_wrapped = {}        # id(backend module) -> its _Traced stand-in
_previous = [None]   # the wrapper that was installed before tracing started
_tracer_seconds = [0.0]  # time the tracer itself spent (pricing, printing): subtracted from profiles
_perf = time.perf_counter


class KernelCall:
    """One executed kernel call with its estimate and its measured time."""
    __slots__ = ("backend", "op", "shapes", "dtype", "cost", "prediction", "measured_seconds")

    def __init__(self, backend, op, shapes, dtype, cost, prediction, measured_seconds):
        self.backend, self.op, self.shapes, self.dtype = backend, op, shapes, dtype
        self.cost, self.prediction, self.measured_seconds = cost, prediction, measured_seconds

    @property
    def flops(self):
        return self.cost.limit_flops if self.cost else 0.0

    @property
    def bytes(self):
        return self.cost.bytes if self.cost else 0.0

    @property
    def predicted_seconds(self):
        return self.prediction.seconds if self.prediction else 0.0

    @property
    def limit_seconds(self):
        return self.prediction.limit_seconds if self.prediction else 0.0

    def line(self, detail=False):
        t = self.measured_seconds
        ratio = f"x{t / self.predicted_seconds:.2f}" if self.predicted_seconds else "-"
        gflops = f"{self.flops / t / 1e9:.3g} GFLOP/s" if t > 0 else "-"
        gbs = f"{self.bytes / t / 1e9:.3g} GB/s" if t > 0 else "-"
        text = (f"[napkin] {self.backend:<10} {self.op:<22} {fmt.shapes(self.shapes):<22} {fmt.flops(self.flops):>12} "
                f"{fmt.nbytes(self.bytes):>10}  pred {fmt.seconds(self.predicted_seconds):>9}  "
                f"meas {fmt.seconds(t):>9} {ratio:>7}  {gflops:>15} {gbs:>12}")
        if detail and self.prediction:
            text += f"\n[napkin]   = {self.prediction.arithmetic()}"
        return text


def _dtype_name(args):
    for a in args:
        dtype = getattr(a, "dtype", None)
        if dtype is not None and hasattr(a, "shape"):
            return getattr(dtype, "name", str(dtype))
    return "float32"


def _record(backend, name, args, out, seconds):
    for sink in _sinks:
        if sink.wants_args:
            sink.add_args(name, args, out)
    cost = prediction = None
    if any(s.wants_cost for s in _sinks):
        try:
            cost = kernel_cost(name, args, out if hasattr(out, "shape") else None)
            scalar = all(getattr(a, "shape", None) == () for a in args if hasattr(a, "shape"))
            prediction = model.predict(cost, backend, rates_mod.current(), _dtype_name(args), scalar)
        except Exception as e:  # a pricing bug must not break the user's computation: say so once
            warnings.warn(f"napkin: could not price kernel {name!r} on {backend}: {type(e).__name__}: {e}",
                          RuntimeWarning, stacklevel=3)
    shapes = tuple(tuple(a.shape) for a in args if hasattr(a, "shape"))
    call = KernelCall(backend, name, shapes, _dtype_name(args), cost, prediction, seconds)
    for sink in list(_sinks):
        sink.add(call)


def _timed(be, name, fn):
    backend, sync = be.NAME, getattr(be, "synchronize", None)

    def timed(*args, **kwargs):
        start = _perf()
        out = fn(*args, **kwargs)
        if sync is not None:
            sync()
        end = _perf()
        _record(backend, name, args + tuple(kwargs.values()), out, end - start)
        _tracer_seconds[0] += _perf() - end  # the tracer's own time, kept out of profiles' totals
        return out
    timed.__name__ = name
    return timed


class _Traced:
    """Stands in for a backend module: same attributes, every kernel timed and priced."""

    def __init__(self, be):
        self._be = be

    def __getattr__(self, name):  # first access only: the wrapped kernel is then cached on the instance
        attr = getattr(self._be, name)
        if name in _KERNEL_SET and callable(attr):
            attr = _timed(self._be, name, attr)
            setattr(self, name, attr)
        return attr


def _wrapper(be):
    traced = _wrapped.get(id(be))
    if traced is None or traced._be is not be:
        traced = _wrapped[id(be)] = _Traced(be)
    return traced


def _add_sink(sink):
    if not _sinks:
        _previous[0] = backends.set_kernel_wrapper(_wrapper)
    _sinks.append(sink)


def _remove_sink(sink):
    _sinks.remove(sink)
    if not _sinks:
        backends.set_kernel_wrapper(_previous[0])


# --- listeners --------------------------------------------------------------------------------
class _Listener:
    wants_cost = False  # price each call (the prediction in KernelCall)
    wants_args = False  # receive each call's raw (kernel, args, result) in add_args

    def add(self, call):
        pass


class _DebugPrinter(_Listener):
    wants_cost = True

    def __init__(self, level, stream=None):
        self.level, self.stream = level, stream

    def add(self, call):
        print(call.line(detail=self.level >= 2), file=self.stream or sys.stderr)


_debug = [None]


def enable_debug(level=1, stream=None):
    """Print one line per kernel call from now on (what TINYGRAD_NM_DEBUG=level does at import)."""
    disable_debug()
    _debug[0] = _DebugPrinter(level, stream)
    print(f"[napkin] one line per kernel call; estimates from {rates_mod.current().describe()}",
          file=stream or sys.stderr)
    _add_sink(_debug[0])


def disable_debug():
    if _debug[0] is not None:
        _remove_sink(_debug[0])
        _debug[0] = None


@contextlib.contextmanager
def debug(level=1, stream=None):
    """`with napkin.debug(): ...` prints the kernel lines of the block only."""
    printer = _DebugPrinter(level, stream)
    _add_sink(printer)
    try:
        yield
    finally:
        _remove_sink(printer)


class _Counter(_Listener):
    wants_cost = False

    def __init__(self):
        self.calls = 0

    def add(self, call):
        self.calls += 1


@contextlib.contextmanager
def counting():
    """Count kernel calls in a block without pricing them: `with counting() as c: ...; c.calls`."""
    counter = _Counter()
    _add_sink(counter)
    try:
        yield counter
    finally:
        _remove_sink(counter)


class _Collector(_Listener):
    wants_cost = True

    def __init__(self):
        self.calls = []

    def add(self, call):
        self.calls.append(call)


@contextlib.contextmanager
def collecting():
    """Collect the KernelCalls of a block: `with collecting() as c: ...; c.calls`."""
    collector = _Collector()
    _add_sink(collector)
    try:
        yield collector
    finally:
        _remove_sink(collector)


class _Recorder(_Listener):
    wants_args = True

    def __init__(self):
        self.calls = []

    def add_args(self, name, args, out):
        self.calls.append((name, args, out))


@contextlib.contextmanager
def recording():
    """Inside the block, every kernel call's (kernel, args, result) is appended to the list this
    yields, in call order, unpriced (napkin.estimate prices them for the backend asked about)."""
    recorder = _Recorder()
    _add_sink(recorder)
    try:
        yield recorder.calls
    finally:
        _remove_sink(recorder)


# --- profile -------------------------------------------------------------------------------------
class Profile:
    """Where a function's time went, kernel by kernel, beside the napkin estimate of each.

    rows                      a KernelCall per kernel call (backend, op, shapes, flops, bytes,
                              predicted_seconds, measured_seconds, limit_seconds)
    predicted_seconds         the kernels' estimates + tinygrad_nm's own per-call overhead
    measured_seconds          the function's wall time, less the time the tracer itself took
    kernel_predicted_seconds, kernel_measured_seconds, framework_seconds, limit_seconds
    result                    what the function returned
    """

    def __init__(self, rows, wall_seconds, tracer_seconds, rates, result=None, name=""):
        self.rows, self.wall_seconds, self.tracer_seconds = rows, wall_seconds, tracer_seconds
        self.rates, self.result, self.name = rates, result, name
        self.framework_op_s = rates.section("framework")["op_s"]

    @property
    def kernel_predicted_seconds(self):
        return sum(r.predicted_seconds for r in self.rows)

    @property
    def kernel_measured_seconds(self):
        return sum(r.measured_seconds for r in self.rows)

    @property
    def framework_seconds(self):
        return len(self.rows) * self.framework_op_s

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

    def __str__(self):
        ratio = self.measured_seconds / self.predicted_seconds if self.predicted_seconds else float("nan")
        title = f"napkin profile{' of ' + self.name if self.name else ''}: {len(self.rows)} kernel calls; {self.rates.describe()}"
        return "\n".join([
            title,
            self.table(),
            f"kernels:   predicted {fmt.seconds(self.kernel_predicted_seconds)}, measured "
            f"{fmt.seconds(self.kernel_measured_seconds)}; framework: {len(self.rows)} calls x "
            f"{fmt.seconds(self.framework_op_s)} = {fmt.seconds(self.framework_seconds)}",
            f"total:     predicted {fmt.seconds(self.predicted_seconds)}, measured {fmt.seconds(self.measured_seconds)} "
            f"(measured/predicted {ratio:.2f}); roofline limit {fmt.seconds(self.limit_seconds)} "
            f"({fmt.flops(self.flops)}, {fmt.nbytes(self.bytes)})",
        ])

    __repr__ = __str__


def profile(fn, *args, **kwargs):
    """Run fn(*args, **kwargs) once with every kernel call timed and priced; returns a Profile."""
    rates = rates_mod.current()
    tracer_before = _tracer_seconds[0]
    with collecting() as collector:
        start = _perf()
        result = fn(*args, **kwargs)
        wall = _perf() - start
    return Profile(collector.calls, wall, _tracer_seconds[0] - tracer_before, rates, result,
                   getattr(fn, "__name__", ""))


def _follow_debug_setting(level):
    """settings.debug changed (a Context): start or stop printing one line per kernel call."""
    if level:
        enable_debug(level)
    else:
        disable_debug()

