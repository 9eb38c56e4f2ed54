"""Where a kernel's operands come from: the reuse distance of each buffer it reads, through a trace.

A kernel priced alone moves its bytes at the bandwidth of its own working set: in cache when
small. Inside a program its inputs were written or read some calls earlier, and everything the
calls in between touched has pushed them out towards L3 or DRAM. The reuse distance of an operand
is the number of distinct bytes touched since it was last touched (an LRU stack distance over
buffers): a producer read by the very next call is at distance ~0, an activation saved by the
forward pass and read by the backward one is the whole step's traffic away. `host["cold_read"]`
(primitives.py: a copy timed right after a pass over that many other bytes) prices the extra
time per byte read from that far.

A training step is a loop: a buffer the trace reads before it writes it (a parameter, a momentum
buffer, the batch) was last touched in the previous step, so the trace is walked twice and the
second walk's distances are kept. Buffers are told apart by identity (`id`); a view (a kernel
that moves no bytes: reshape, permute, expand) is the buffer it views. A kernel's new result is
written into memory the allocator took back about a step ago: it counts as one more operand at
the step's whole traffic (writing a line not in cache reads it first; a (32, 32, 8, 8) mul took
14-21 us with its output buffer reused at once, 30-47 us with it cycled through 4-16 MiB).

The same walk follows each buffer's layout where the backend declares it (PRICING["layout"]): a
kernel whose result is a permuted view (NumPy's composed conv2d: its rows of oh * ow elements
lie apart), and the elementwise kernels whose result takes their operands' layout when they share
one (NumPy's order 'K'). An elementwise call whose full-size operands lie in different layouts
cannot run as one flat loop: NumPy loops over runs of the permuted one's contiguous rows
(`Placement.run`), priced like a broadcast operand's loop (price_array_calls.strided_loop).
"""
from dataclasses import dataclass

import numpy as np

from tinygrad_nm import backends
from tinygrad_nm.backends.kernels import TABLE
from tinygrad_nm.napkin.roofline import log_interpolate


@dataclass(frozen=True)
class Placement:
    """Where one call's operands lie: [(bytes, reuse distance)] of the buffers it reads, and `run`,
    the length of the contiguous rows NumPy must loop over when their layouts differ (0: they agree)."""
    operands: tuple = ()
    run: int = 0


class _LRU:
    """Buffers by when they were last touched, most recent last, with their sizes."""

    def __init__(self):
        self.order = {}  # key -> bytes, insertion order = touch order (dicts keep it)
        self.total = 0   # every buffer's bytes: read for each call's new result, so kept, not summed

    def distance(self, key):
        """Distinct bytes touched since `key` was (None: never seen)."""
        if key not in self.order:
            return None
        total = 0
        for k in reversed(self.order):
            if k == key:
                return total
            total += self.order[k]
        return total

    def touch(self, key, nbytes):
        self.total += nbytes - self.order.pop(key, 0)
        self.order[key] = nbytes


@dataclass(frozen=True)
class Step:
    """One call as the walk sees it (buffer_keys gives the buffers; moves: False for a view)."""
    kernel: str
    family: str
    keys: tuple
    sizes: tuple
    shapes: tuple
    out_key: object
    out_size: int
    out_shape: tuple
    moves: bool = True


def walk(steps, layout=None):
    """A Placement per Step of `steps`, taken as one step of a loop (walked twice: a buffer first
    read before any call wrote it was last touched in the previous step). `layout`: the backend's
    PRICING["layout"] ({"permuted": {kernel: rows(shape)}, "follows": (kernel or family, ...), "first":
    (kernel, ...)}) or None."""
    permuted = (layout or {}).get("permuted", {})
    follows = set((layout or {}).get("follows", ()))
    first = set((layout or {}).get("first", ()))  # results written into an array laid out as the first operand
    lru, alias, runs, broadcast = _LRU(), {}, {}, set()
    placed = []
    for _ in range(2):
        placed = []
        for st in steps:
            keys = [alias.get(k, k) for k in st.keys]
            operands = tuple((b, lru.total if d is None else d)
                             for k, b in zip(keys, st.sizes) if b for d in [lru.distance(k)])
            for k, b in zip(keys, st.sizes):
                if b:
                    lru.touch(k, b)
            elementwise = st.kernel in follows or st.family in follows
            # the full-size operands set the loop's order; a broadcast view (zero strides) has no say
            full = {runs.get(k, 0) for k, own, shape in zip(keys, st.keys, st.shapes)
                    if shape == st.out_shape and own not in broadcast} if elementwise else set()
            run = min(r for r in full if r) if len(full) > 1 else 0
            # a new result's memory was freed about a step of the loop ago (the allocator hands back
            # what the last step let go): writing it first reads its lines from that far, as an operand
            fresh = st.moves and st.out_size and st.out_key is not None and st.out_key not in keys
            placed.append(Placement(operands + (((st.out_size, lru.total),) if fresh else ()), run))
            if st.out_key is None:
                continue
            if not st.moves and keys:  # a view: the same memory as its first buffer argument
                alias[st.out_key] = keys[0]
                if st.out_size > st.sizes[0]:
                    broadcast.add(st.out_key)
                continue
            broadcast.discard(st.out_key)
            alias.pop(st.out_key, None)
            if st.out_size:
                lru.touch(st.out_key, st.out_size)
            if st.kernel in permuted:
                runs[st.out_key] = int(permuted[st.kernel](st.out_shape))
            elif st.kernel in first and keys:
                runs[st.out_key] = runs.get(keys[0], 0)
            else:  # a result takes its operands' layout when they share one, else it is contiguous
                runs[st.out_key] = next(iter(full)) if len(full) == 1 else 0
    return placed


def place(calls, backend):
    """A Placement per call of `calls`, each (kernel, buffer_keys(args, out), moves bytes?), taken
    as one step of a loop on `backend` (the layouts its PRICING["layout"] declares, if any)."""
    facts, _ = backends.pricing(backend)
    return walk([Step(name, TABLE[name].family, *keys, moves) for name, keys, moves in calls],
                (facts or {}).get("layout"))


def _nbytes(a):
    """A buffer argument's size in bytes (None for a Python number or parameter)."""
    if type(a) is np.ndarray:  # the common case first: the tracer asks for every kernel's buffers
        return a.nbytes
    shape, dtype = getattr(a, "shape", None), getattr(a, "dtype", None)
    if shape is None or dtype is None:
        return None
    n = 1
    for d in shape:
        n *= d
    return n * getattr(dtype, "itemsize", 4)


def buffer_keys(args, out):
    """(keys, bytes and shapes of the buffer arguments, the result's key, bytes and shape): a Step's
    buffers. (Called for every kernel a profile times, between them: kept to one pass, cheap.)"""
    keys, sizes, shapes = [], [], []
    for a in args:
        n = _nbytes(a)
        if n is not None:
            keys.append(id(a))
            sizes.append(n)
            shapes.append(tuple(a.shape))
    n = _nbytes(out)
    return keys, sizes, shapes, (None if n is None else id(out)), n or 0, (() if n is None else tuple(out.shape))


def cold_seconds(operands, host, own_bytes=0.0):
    """The extra time of reading these (bytes, distance) operands from where they lie, beyond what
    the kernel is priced at: bytes x host["cold_read"] at their distance, less its value at the
    kernel's own traffic `own_bytes` (the streaming bandwidth of that working set, which prices its
    bytes, was measured on a pass repeated in a loop: its data already came from that far). 0
    nearer than the curve's first point; its last point's value beyond the last."""
    curve = host.get("cold_read")
    if not curve or not operands:
        return 0.0

    def per_byte(distance):
        if distance < curve[0][0]:
            return 0.0
        v = log_interpolate(distance, curve)
        return curve[-1][1] if v is None else v
    own = per_byte(own_bytes)
    return sum(nbytes * max(per_byte(distance) - own, 0.0) for nbytes, distance in operands)
