# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""tinygrad_nm._native_avx512: the native kernels compiled for AVX-512 F/DQ/BW/VL (Skylake-X and later, Zen 4 and later).

The code is _native.pxi (included below) and the files it cimports; setup.py compiles this module
with the flags of its instruction set, and backends/cython.py imports the best one the CPU runs.
"""
include "_native.pxi"
