"""Why small kernels take longer inside a training step than in a loop: each kernel timed in a
loop, between three tiny Tensor ops, and between those plus a pass over 2 MiB (what napkin's
`in_program` calibration now does), on the numpy backend. bench/history.md, "Session 3", has a run.

    python bench/in_program_probe.py
"""
import numpy as np

import tinygrad_nm as tnm
from tinygrad_nm.backends import load
from tinygrad_nm.napkin.primitives import best_time


def main():
    be = load("numpy")
    x = tnm.Tensor(np.ones(1, np.float32))
    big = np.ones(1 << 18, np.float32)  # 1 MiB read, 1 MiB written
    out = np.empty_like(big)

    def light():
        (x * 1.0001 + 1.0) * 2.0

    def heavy():
        np.multiply(big, 1.0001, out=out)
        light()

    def between(fn, work, calls=50, repeat=31):
        def both():
            work()
            fn()
        return max(best_time(both, calls, repeat) - best_time(work, calls, repeat), 0.0)

    rng = np.random.default_rng(0)
    one = np.ones(1, np.float32)
    logits = be.from_numpy(rng.standard_normal((32, 10)).astype(np.float32), tnm.float32)
    labels = be.from_numpy(rng.integers(0, 10, 32), tnm.int64)
    h, w = (rng.standard_normal(s).astype(np.float32) for s in ((32, 64), (128, 64)))
    bias = rng.standard_normal(128).astype(np.float32)
    act = rng.standard_normal((32, 32, 8, 8)).astype(np.float32)
    for name, fn in [("empty np.add", lambda: np.add(one, one)),
                     ("cross_entropy 32x10", lambda: be.cross_entropy(logits, labels)),
                     ("linear_act 32x64 -> 128", lambda: be.linear_act(h, w, bias, "relu")),
                     ("mul 32x32x8x8", lambda: be.mul(act, act))]:
        print(f"{name}: in a loop {best_time(fn, 200, 9) * 1e6:.2f} us, between tiny ops "
              f"{between(fn, light) * 1e6:.2f} us, and a 2 MiB pass {between(fn, heavy) * 1e6:.2f} us")


if __name__ == "__main__":
    main()
