"""Kernels against their napkin estimates: the cases ship in the package
(tinygrad_nm/benchmarks/test_napkin_kernels.py, run by `tinygrad-nm bench` from an install);
importing them here runs them with the rest of bench/ from a clone."""
from tinygrad_nm.benchmarks.test_napkin_kernels import test_elementwise, test_matmul, test_reduce  # noqa: F401
