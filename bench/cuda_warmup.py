"""What a run pays on a real GPU for Numba compiling kernels at their first launch:
`tinygrad-nm train ARGS` run in this process with every kernel compile timed, then their count and
time beside napkin's warm-up prediction (which `--estimate` prints before training).

    python bench/cuda_warmup.py --task digits --backend numba_cuda --estimate --no-progress --no-plot

Run by bench/gpu_session.sh. Needs a GPU: the simulator compiles nothing.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv):
    from numba.cuda.dispatcher import CUDADispatcher

    from tinygrad_nm import cli
    compiled = []  # (kernel, seconds) for each new specialisation
    original = CUDADispatcher.compile

    def timed(self, sig):
        before, start = len(self.overloads), time.perf_counter()
        kernel = original(self, sig)
        if len(self.overloads) > before:
            compiled.append((self.py_func.__qualname__, time.perf_counter() - start))
        return kernel

    CUDADispatcher.compile = timed
    try:
        code = cli.main(["train", *argv])
    finally:
        CUDADispatcher.compile = original
    seconds = sum(s for _, s in compiled)
    print(f"numba compiled {len(compiled)} kernels in {seconds:.2f} s during the run "
          f"({seconds / max(len(compiled), 1) * 1e3:.0f} ms each): "
          + ", ".join(f"{name} {s * 1e3:.0f} ms" for name, s in compiled))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
