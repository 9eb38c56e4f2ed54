"""`tinygrad-nm bench`: run the benchmark suite, print predicted against measured, plot it.

Runs pytest on the repository's bench/ folder (found beside the package, else in the current
directory, else at $TINYGRAD_NM_BENCH_DIR), saving pytest-benchmark's JSON twice: once where the
table and plot are made from (--out, default .benchmarks/napkin/), once in pytest-benchmark's own
storage (.benchmarks/), so that earlier runs can be compared with
`pytest-benchmark compare` (or `pytest bench --benchmark-compare`).
"""
import os
import subprocess
import sys
import time
from pathlib import Path

from tinygrad_nm.settings import _BY_NAME, settings

BENCH_DIR_ENV = _BY_NAME["bench_dir"].env
# quick mode: few, short rounds (the fastest of them is what the table shows)
QUICK_TIMING = ["--benchmark-min-rounds=5", "--benchmark-max-time=0.1", "--benchmark-warmup=on",
                "--benchmark-warmup-iterations=1"]


def add_arguments(parser):
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="small sizes, short timings: about a minute")
    mode.add_argument("--full", action="store_true", help="every size, pytest-benchmark's default timing (default)")
    parser.add_argument("--backend", action="append", metavar="NAME",
                        help="only this backend (repeatable; default: every available one)")
    parser.add_argument("-k", dest="keyword", metavar="EXPR", help="only benchmarks matching this pytest -k expression")
    parser.add_argument("--out", metavar="DIR", help="where the JSON and the PNG go (default: .benchmarks/napkin)")
    parser.add_argument("--no-calibrate", action="store_true",
                        help="use the cached base rates instead of measuring them first")
    parser.add_argument("pytest_args", nargs="*", metavar="-- PYTEST_ARGS", help="passed on to pytest after --")


def find_bench_dir():
    """The suite's folder: $TINYGRAD_NM_BENCH_DIR, bench/ beside the package (a clone), or ./bench."""
    import tinygrad_nm
    candidates = []
    if settings.bench_dir:
        candidates.append(Path(settings.bench_dir))
    candidates += [Path(tinygrad_nm.__file__).resolve().parent.parent / "bench", Path.cwd() / "bench"]
    for c in candidates:
        if (c / "conftest.py").is_file():
            return c.resolve()
    raise SystemExit("tinygrad-nm bench: the benchmark suite (bench/ with its conftest.py) was not found; "
                     f"it lives in the repository, not in the installed package. Looked in: "
                     f"{', '.join(str(c) for c in candidates)}. Run from a clone after `pip install -e .`, "
                     f"or set {BENCH_DIR_ENV}=/path/to/bench")


def _check_tools():
    import importlib.util
    missing = [m for m in ("pytest", "pytest_benchmark") if importlib.util.find_spec(m) is None]
    if missing:
        raise SystemExit(f"tinygrad-nm bench runs the suite with pytest and pytest-benchmark; missing: "
                         f"{', '.join(missing)}. Install them with `pip install pytest pytest-benchmark` "
                         f"(or `pip install -e '.[test]'`)")


def run(args):
    from tinygrad_nm.napkin import report
    _check_tools()
    bench_dir = find_bench_dir()
    repo = bench_dir.parent
    out = Path(args.out).resolve() if args.out else repo / ".benchmarks" / "napkin"
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    json_path, png_path = out / f"napkin-bench-{stamp}.json", out / f"napkin-bench-{stamp}.png"
    mode = "quick" if args.quick else "full"
    cmd = [sys.executable, "-m", "pytest", str(bench_dir), "-q", "-p", "no:cacheprovider", f"--{mode}",
           f"--benchmark-json={json_path}", "--benchmark-autosave", f"--benchmark-storage={repo / '.benchmarks'}",
           "--benchmark-quiet"]
    if mode == "quick":
        cmd += QUICK_TIMING
    if not args.no_calibrate:
        cmd.append("--napkin-calibrate")
    if args.keyword:
        cmd += ["-k", args.keyword]
    cmd += args.pytest_args
    env = dict(os.environ)
    if args.backend:  # the child process reads it as settings.bench_backends
        env[_BY_NAME["bench_backends"].env] = ",".join(args.backend)
    print("$ " + " ".join(cmd), flush=True)
    start = time.perf_counter()
    rc = subprocess.call(cmd, cwd=repo, env=env)
    took = time.perf_counter() - start
    if not json_path.exists():
        print(f"tinygrad-nm bench: pytest exited with {rc} and wrote no results", file=sys.stderr)
        return rc or 1
    rows, others, machine = report.load(json_path)
    print()
    print(report.table(rows, others, machine))
    if rows:
        report.plot(rows, png_path, title=f"napkin estimate vs measurement ({mode}, {machine.get('node', '')})")
    print()
    print(f"{len(rows) + len(others)} benchmarks in {took:.0f} s; JSON {json_path}" +
          (f"; plot {png_path}" if rows else ""))
    print(f"compare with earlier runs: pytest-benchmark --storage {repo / '.benchmarks'} compare")
    return rc
