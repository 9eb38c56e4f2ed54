# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""tinygrad_nm._native_baseline: the native kernels compiled for baseline x86-64 (SSE2), or the plain C of another machine.

The code is _native.pxi (included below) and the files it cimports; setup.py compiles this module
with the flags of its instruction set, and backends/cython.py imports the best one the CPU runs.
"""
include "_native.pxi"
