"""Every `TINYGRAD_NM_*` setting in one place: read once from the environment, typed, with a
default, and overridable for a block of code (tinygrad's `Context` is the model):

    from tinygrad_nm.settings import settings, Context
    settings.debug                 # 0, 1 or 2, from TINYGRAD_NM_DEBUG
    with Context(debug=2):         # inside the block only (per thread, per async task)
        ...

A value is parsed the first time it is read; a malformed one raises a ValueError that names the
variable and says what it accepts. `describe()` lists every setting (the README's table).
"""
import contextlib
import contextvars
import os
from dataclasses import dataclass
from typing import Callable


def _names(raw):
    """A comma-separated list of names; None when empty."""
    names = [n.strip() for n in raw.split(",") if n.strip()]
    return names or None


def _level(raw):
    level = int(raw) if raw.strip().lstrip("-").isdigit() else None
    if level not in (0, 1, 2):
        raise ValueError("expected 0, 1 or 2")
    return level


def _positive(raw):
    n = int(raw) if raw.strip().isdigit() else 0
    if n < 1:
        raise ValueError("expected a positive integer")
    return n


def _flag(raw):
    if raw.strip() not in ("0", "1"):
        raise ValueError("expected 0 or 1")
    return raw.strip() == "1"


def _mode(raw):
    if raw not in ("quick", "full"):
        raise ValueError("expected quick or full")
    return raw


@dataclass(frozen=True)
class Setting:
    name: str          # the attribute: settings.<name>, Context(<name>=...)
    env: str           # the environment variable it is read from
    parse: Callable    # str -> value; raises ValueError saying what it accepts
    default: object    # when the variable is unset or empty
    doc: str


SETTINGS = (
    Setting("backend", "TINYGRAD_NM_BACKEND", str.strip, None,
            "the backend new tensors are made on (python, numpy, cython, numba_cuda); default: numpy"),
    Setting("debug", "TINYGRAD_NM_DEBUG", _level, 0,
            "1: one line per kernel call (FLOPs, bytes, predicted and measured time); 2: with the arithmetic"),
    Setting("num_threads", "TINYGRAD_NM_NUM_THREADS", _positive, None,
            "threads of the native (Cython) kernels; default: every core this process may use"),
    Setting("share_blas", "TINYGRAD_NM_SHARE_BLAS", _flag, True,
            "1: NumPy's OpenBLAS runs its threaded calls on the native (Cython) kernels' thread pool once that "
            "pool is first used, so no OpenBLAS worker spins beside them; 0: OpenBLAS keeps its own threads"),
    Setting("isa", "TINYGRAD_NM_ISA", lambda raw: raw.strip().lower(), None,
            "caps the instruction set of the native (Cython) kernels: baseline, avx2 or avx512; default: the best "
            "this CPU runs"),
    Setting("cuda_pool", "TINYGRAD_NM_CUDA_POOL", _flag, True,
            "1: the numba_cuda backend keeps freed device buffers for reuse (a caching allocator, read when the "
            "backend first starts the GPU); 0: Numba's own allocator, a cuMemAlloc and a cuMemFree per buffer"),
    Setting("rates", "TINYGRAD_NM_RATES", os.path.expanduser, None,
            "napkin's calibrated-rates file; default ~/.cache/tinygrad_nm/rates-<host>.json"),
    Setting("test_backends", "TINYGRAD_NM_TEST_BACKENDS", _names, None,
            "comma-separated backends the test suite runs on; default: every available one"),
    Setting("fuzz_scale", "TINYGRAD_NM_FUZZ_SCALE", _positive, 1,
            "multiplies the examples of the property-based tests against PyTorch (tests/test_fuzz_torch.py)"),
    Setting("fuzz_random", "TINYGRAD_NM_FUZZ_RANDOM", _flag, False,
            "1: those tests draw fresh examples each run; default: the same derandomized ones (CI)"),
    Setting("bench_backends", "TINYGRAD_NM_BENCH_BACKENDS", _names, None,
            "comma-separated backends the benchmarks run on; default: every available one"),
    Setting("bench_mode", "TINYGRAD_NM_BENCH", _mode, None,
            "quick or full: the benchmark sizes (set by `pytest bench --quick/--full`)"),
    Setting("bench_epochs", "TINYGRAD_NM_BENCH_EPOCHS", _positive, 1,
            "epochs of the in-process walkthrough benchmark"),
    Setting("bench_program_epochs", "TINYGRAD_NM_BENCH_PROGRAM_EPOCHS", _positive, None,
            "epochs of the standalone walkthrough program benchmark; default 3 quick, 300 full"),
    Setting("bench_dir", "TINYGRAD_NM_BENCH_DIR", os.path.expanduser, None,
            "where `tinygrad-nm bench` finds the bench/ folder of a clone"),
)
_BY_NAME = {s.name: s for s in SETTINGS}
_overrides = contextvars.ContextVar("tinygrad_nm_settings", default={})
_from_env = {}  # name -> parsed value, filled on first read
_watchers = {}  # name -> [fn(value)] called when a Context changes the value


class _Settings:
    """`settings.<name>`: the override of the innermost Context, else the environment's value."""

    def __getattr__(self, name):
        setting = _BY_NAME.get(name)
        if setting is None:
            raise AttributeError(f"no setting {name!r}; settings: {', '.join(_BY_NAME)}")
        overrides = _overrides.get()
        if name in overrides:
            return overrides[name]
        if name not in _from_env:
            raw = os.environ.get(setting.env, "")
            try:
                _from_env[name] = setting.parse(raw) if raw.strip() else setting.default
            except ValueError as e:
                raise ValueError(f"{setting.env}={raw!r}: {e} ({setting.doc})") from None
        return _from_env[name]


settings = _Settings()


@contextlib.contextmanager
def Context(**values):
    """Override settings inside the block: `with Context(debug=1, num_threads=1): ...`."""
    unknown = [k for k in values if k not in _BY_NAME]
    if unknown:
        raise TypeError(f"Context: unknown setting(s) {', '.join(unknown)}; settings: {', '.join(_BY_NAME)}")
    before = {k: getattr(settings, k) for k in values if k in _watchers}
    token = _overrides.set({**_overrides.get(), **values})
    try:
        _notify(before)
        yield settings
    finally:
        after = {k: getattr(settings, k) for k in before}
        _overrides.reset(token)
        _notify(after)


def watch(name, fn):
    """Call fn(new value) whenever a Context changes setting `name` (debug printing uses this)."""
    _watchers.setdefault(name, []).append(fn)


def _notify(previous):
    for name, old in previous.items():
        new = getattr(settings, name)
        if new != old:
            for fn in _watchers[name]:
                fn(new)


def reload():
    """Forget the values read from the environment (tests that change os.environ call this)."""
    _from_env.clear()


def describe():
    """A markdown table of every setting: variable, default, meaning."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [f"| `{s.env}` | {s.default!r} | {s.doc} |" for s in SETTINGS]
    return "\n".join(rows)
