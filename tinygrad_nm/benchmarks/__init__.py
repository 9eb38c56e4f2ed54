"""The napkin-math benchmark cases, shipped in the package so that `tinygrad-nm bench` runs from
any install, not only from a clone.

- `plugin.py`: the pytest plugin (`--quick`/`--full`, `--napkin-calibrate`, the `napkin_bench`
  fixture, machine info in pytest-benchmark's JSON);
- `cases.py`: which backends and sizes run, quick and full;
- `test_napkin_kernels.py`, `test_napkin_programs.py`: kernels (matmul, elementwise, reductions)
  and whole programs (an MLP step, the walkthrough's scalar epoch) against their estimates.

These are pytest-benchmark files: `tinygrad-nm bench` runs pytest on this folder (the `bench`
extra installs pytest and pytest-benchmark). A clone's bench/ runs the same cases beside the
benchmarks that need the repository (PyTorch comparisons, the native kernels, CUDA).
"""
from pathlib import Path

SUITE_DIR = Path(__file__).resolve().parent   # the folder `tinygrad-nm bench` hands to pytest
PLUGIN = "tinygrad_nm.benchmarks.plugin"      # loaded with `pytest -p`
