"""The smoke test after each install path (.ci/install_paths.sh): run with the fresh environment's
Python from outside the source tree, so that the installed package is the one imported.

    python smoke_install.py --native ISA,ISA,...|no [--source DIR] [--bench]

Checks: the package imports from the environment (or, --source, from DIR: an editable install);
a forward and a backward pass on every available backend agree with NumPy; the package carries
the native module of each instruction set named (tinygrad_nm/_native_<isa>.*) and the `cython`
backend is available, or, with --native no, carries none and `cython` says why it is unavailable; `tinygrad-nm --version` and
`python -m tinygrad_nm --help` work; with --bench, `tinygrad-nm bench` runs a slice of the benchmark
cases shipped in the package (from a folder with no bench/ in sight). Prints one summary line;
exits non-zero on any failure.
"""
import argparse
import os
import subprocess
import sys

import numpy as np


def fail(message):
    sys.exit(f"smoke test FAILED: {message}")


def forward_backward(tnm, backend):
    """y = sum(relu(x @ w) * 2); the gradients against NumPy's hand-written ones."""
    x_np = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], dtype=np.float32)
    w_np = np.array([[1.0, -2.0], [0.5, 0.25], [-1.0, 1.5]], dtype=np.float32)
    x = tnm.Tensor(x_np, requires_grad=True, backend=backend)
    w = tnm.Tensor(w_np, requires_grad=True, backend=backend)
    y = ((x @ w).relu() * 2).sum()
    y.backward()
    h = x_np @ w_np
    g = 2.0 * (h > 0)
    checks = {"forward": (y.item(), (np.maximum(h, 0) * 2).sum()),
              "x.grad": (x.grad.numpy(), g @ w_np.T), "w.grad": (w.grad.numpy(), x_np.T @ g)}
    for name, (got, want) in checks.items():
        if not np.allclose(got, want, rtol=1e-5, atol=1e-6):
            fail(f"{backend}: {name} is {got}, expected {want}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--native", required=True,
                        help="the instruction sets whose native modules the install must carry, or no")
    parser.add_argument("--source", help="an editable install: the package must come from this folder")
    parser.add_argument("--bench", action="store_true", help="also run `tinygrad-nm bench` on a slice")
    args = parser.parse_args()

    import tinygrad_nm as tnm
    where = os.path.realpath(tnm.__file__)
    home = os.path.realpath(args.source) if args.source else os.path.realpath(sys.prefix)
    if not where.startswith(home + os.sep):
        fail(f"tinygrad_nm was imported from {where}, not from {home}")

    available = tnm.available_backends()
    for backend in available:
        forward_backward(tnm, backend)
    package = os.path.dirname(where)
    carried = sorted(f.split(".")[0][len("_native_"):] for f in os.listdir(package)
                     if f.startswith("_native_") and f.endswith((".so", ".pyd")))
    wanted = [] if args.native == "no" else sorted(args.native.split(","))
    if carried != wanted:
        fail(f"the package carries native modules for {carried or 'no instruction set'}, expected {wanted or 'none'}")
    native = "cython" in available
    if native != bool(wanted):
        reason = ""
        if not native:
            try:
                tnm.backends.load("cython")
            except tnm.BackendUnavailableError as e:
                reason = f": {e}"
        fail(f"the cython backend is {'available' if native else 'unavailable'}, expected otherwise{reason}")
    note = ""
    if not native:
        try:
            tnm.backends.load("cython")
            fail("cython is not listed as available, yet loads")
        except tnm.BackendUnavailableError as e:
            if "not built" not in str(e):
                fail(f"cython's unavailable reason does not say it was not built: {e}")
            note = f"; cython unavailable, as expected: {e}"

    script = os.path.join(os.path.dirname(sys.executable), "tinygrad-nm")
    version = subprocess.run([script, "--version"], capture_output=True, text=True)
    if version.returncode != 0 or version.stdout.strip() != f"tinygrad-nm {tnm.__version__}":
        fail(f"tinygrad-nm --version: exit {version.returncode}, {version.stdout!r} {version.stderr!r}")
    help_ = subprocess.run([sys.executable, "-m", "tinygrad_nm", "--help"], capture_output=True, text=True)
    if help_.returncode != 0 or "train" not in help_.stdout or "bench" not in help_.stdout:
        fail(f"python -m tinygrad_nm --help: exit {help_.returncode}, {help_.stderr!r}")
    if args.bench:
        env = dict(os.environ, TINYGRAD_NM_RATES=os.path.abspath("rates.json"))
        bench = subprocess.run([script, "bench", "--quick", "--no-calibrate", "--backend", "numpy", "-k",
                                "test_matmul and 64", "--out", "bench-out"], capture_output=True, text=True, env=env)
        if bench.returncode != 0 or "numpy      matmul       64x64x64" not in bench.stdout:
            fail(f"tinygrad-nm bench: exit {bench.returncode}\n{bench.stdout[-2000:]}\n{bench.stderr[-2000:]}")
        note += "; tinygrad-nm bench ran the shipped cases"
    if wanted:
        note += f"; native modules for {', '.join(carried)}"
    print(f"tinygrad_nm {tnm.__version__} from {os.path.dirname(where)}; forward+backward ok on "
          f"{', '.join(available)}; tinygrad-nm --version and python -m tinygrad_nm --help ok{note}")


if __name__ == "__main__":
    main()
