"""The benchmark suite's options, machine info and `napkin_bench` fixture: the plugin that ships in
the package (tinygrad_nm/benchmarks/plugin.py, where they are described), so that `pytest bench`
from a clone and `tinygrad-nm bench` from an install run with the same setup."""
from tinygrad_nm.benchmarks.plugin import (bench_mode, napkin_bench, pytest_addoption,  # noqa: F401
                                           pytest_benchmark_update_machine_info, pytest_configure)
