# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""tinygrad_nm._native_avx2: the native kernels compiled for AVX2 + FMA (x86-64 CPUs since 2013/2015).

The code is _native.pxi (included below) and the files it cimports; setup.py compiles this module
with the flags of its instruction set, and backends/cython.py imports the best one the CPU runs.
"""
include "_native.pxi"
