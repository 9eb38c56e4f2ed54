"""Whole programs against the sum of their kernels' napkin estimates: the cases ship in the package
(tinygrad_nm/benchmarks/test_napkin_programs.py, run by `tinygrad-nm bench` from an install);
importing them here runs them with the rest of bench/ from a clone."""
from tinygrad_nm.benchmarks.test_napkin_programs import test_mlp_training_step, test_walkthrough_scalar_epoch  # noqa: F401
