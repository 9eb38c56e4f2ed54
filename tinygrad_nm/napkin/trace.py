"""Watching kernels run: TINYGRAD_NM_DEBUG=1, and the recording under `napkin.profile` (profiling.py)
and `napkin.estimate`.

All hook in at the one place every kernel call passes through: `backends.kernels(be)`, which
returns a wrapper while tracing is on (and the backend module itself, at no cost, while it is
off). The wrapper times each kernel call and hands a KernelCall (priced by the cost model when
read) to whoever listens: the DEBUG printer, a profile, or a counter; or the raw call to a recorder.

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
from tinygrad_nm.napkin import fmt, framework, locality, rates as rates_mod
from tinygrad_nm.backends.kernels import kernel_cost
from tinygrad_nm.napkin import model

_KERNEL_SET = frozenset(KERNELS)
_sinks = []          # active listeners: objects with .wants_calls and .add(call)
_wrapped = {}        # id(backend module) -> its _Traced stand-in
_previous = [None]   # the wrapper that was installed before tracing started
_tracer_seconds = [0.0]  # time the tracer itself spent (pricing, printing): subtracted from profiles
_perf = time.perf_counter


class KernelCall:
    """One executed kernel call with its estimate and its measured time.

    The call is priced when its cost or prediction is first read, not while the traced code runs:
    pricing is Python work that would evict the caches the next kernel runs from and so slow down
    what is being measured. Until then it holds its arguments' shapes and dtypes (`_Shaped`)."""
    __slots__ = ("backend", "op", "shapes", "dtype", "measured_seconds", "phase", "_cost", "_prediction", "_args",
                 "_out", "keys", "placement")

    def __init__(self, backend, op, shapes, dtype, cost, prediction, measured_seconds, args=None, out=None,
                 phase="op", keys=None):
        self.backend, self.op, self.shapes, self.dtype = backend, op, shapes, dtype
        self._cost, self._prediction, self.measured_seconds = cost, prediction, measured_seconds
        self._args, self._out, self.phase = args, out, phase  # phase: framework.PHASES, who made the call
        # keys: locality.buffer_keys of the call's buffers; placement: where its operands lie
        # (locality.Placement), set by the collector that saw the calls around it (None: as if alone)
        self.keys, self.placement = keys, None

    def _price(self):
        args, self._args = self._args, None
        try:
            cost = self._cost_of(args)
            self._prediction = model.predict(cost, self.backend, rates_mod.current(), self.dtype,
                                             model.all_scalars(args), placement=self.placement)
        except Exception as e:  # a pricing bug must not break the user's computation: say so
            warnings.warn(f"napkin: could not price kernel {self.op!r} on {self.backend}: {type(e).__name__}: {e}",
                          RuntimeWarning, stacklevel=3)

    def _cost_of(self, args):
        if self._cost is None:
            self._cost = kernel_cost(self.op, args, self._out if hasattr(self._out, "shape") else None)
        return self._cost

    @property
    def moves_bytes(self):
        """Does the call move data (not a view)? Read without pricing it."""
        cost = self._cost_of(self._args) if self._args is not None else self._cost
        return cost is not None and cost.bytes > 0

    @property
    def cost(self):
        if self._args is not None:
            self._price()
        return self._cost

    @property
    def prediction(self):
        if self._args is not None:
            self._price()
        return self._prediction

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


_DTYPE_NAMES = {}  # dtype -> its name, looked up once: NumPy's dtype.name is Python code (~5 us a call)


def _dtype_name(args):
    for a in args:
        dtype = getattr(a, "dtype", None)
        if dtype is not None and hasattr(a, "shape"):
            try:
                return _DTYPE_NAMES[dtype]
            except KeyError:
                name = _DTYPE_NAMES[dtype] = getattr(dtype, "name", str(dtype))
                return name
            except TypeError:  # an unhashable dtype object
                return getattr(dtype, "name", str(dtype))
    return "float32"


class _Shaped:
    """A buffer argument reduced to what pricing reads: its shape and dtype."""
    __slots__ = ("shape", "dtype")

    def __init__(self, a):
        self.shape, self.dtype = a.shape, a.dtype


def _shaped(x):
    return _Shaped(x) if hasattr(x, "shape") and hasattr(x, "dtype") else x


def shapes_of(args):
    """The shapes of a kernel call's array arguments (a KernelCall's `.shapes`; a KernelRecord's from its args)."""
    return tuple(tuple(a.shape) for a in args if hasattr(a, "shape"))


class KernelRecord(tuple):
    """A recorded call: the triple (kernel, args, result), with `.phase` (framework.PHASES)."""

    def __new__(cls, name, args, out, phase):
        record = super().__new__(cls, (name, args, out))
        record.phase = phase
        return record


def _record(backend, name, args, out, seconds):
    phase = framework.caller_phase(2)  # _record <- the wrapper <- the code that called the kernel
    for sink in _sinks:
        if sink.wants_args:
            sink.add_args(KernelRecord(name, args, out, phase))
    if not any(s.wants_calls for s in _sinks):
        return
    call = KernelCall(backend, name, shapes_of(args), _dtype_name(args), None, None, seconds,
                      tuple(map(_shaped, args)), _shaped(out), phase, locality.buffer_keys(args, out))
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
    wants_calls = True  # receive a KernelCall per call in add (priced when its prediction is read)
    wants_args = False  # receive each call's raw (kernel, args, result) in add_args, a KernelRecord

    def add(self, call):
        pass


class _DebugPrinter(_Listener):

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

    def __init__(self):
        self.calls = []

    def add(self, call):
        self.calls.append(call)

    def place(self):
        """Tell each call where its operands lie, the block taken as one step of a loop (locality.py)."""
        by_backend = {}
        for c in self.calls:
            if c.keys is not None:
                by_backend.setdefault(c.backend, []).append(c)
        for backend, calls in by_backend.items():
            placed = locality.place([(c.op, c.keys, c.moves_bytes) for c in calls], backend)
            for call, placement in zip(calls, placed):
                if call._prediction is None:
                    call.placement = placement


@contextlib.contextmanager
def collecting():
    """Collect the KernelCalls of a block: `with collecting() as c: ...; c.calls`. When the block
    ends, each call learns how far back its operands were last touched (locality.py), before it is
    priced."""
    collector = _Collector()
    _add_sink(collector)
    try:
        yield collector
    finally:
        _remove_sink(collector)
        collector.place()


class _Recorder(_Listener):
    wants_calls = False
    wants_args = True

    def __init__(self):
        self.calls = []

    def add_args(self, record):
        self.calls.append(record)


@contextlib.contextmanager
def recording():
    """Inside the block, every kernel call's (kernel, args, result) is appended to the list this
    yields, in call order, unpriced (napkin.estimate prices them for the backend asked about); each
    is a KernelRecord, whose `.phase` says which layer of tinygrad_nm made the call."""
    recorder = _Recorder()
    _add_sink(recorder)
    try:
        yield recorder.calls
    finally:
        _remove_sink(recorder)


def _follow_debug_setting(level):
    """settings.debug changed (a Context): start or stop printing one line per kernel call."""
    if level:
        enable_debug(level)
    else:
        disable_debug()

