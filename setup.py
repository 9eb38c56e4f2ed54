"""Builds the native kernels in kernels/ into the extension modules tinygrad_nm._native_<isa>.

Metadata and dependencies live in pyproject.toml; this file exists only for the
extensions. What the build does:
- Cython translates kernels/_native_<isa>.pyx (each includes _native.pxi, which cimports the
  .pxd files and tnm_gemm.h) to C, once per instruction set: `baseline` everywhere, and on
  x86-64 also `avx2` (-mavx2 -mfma) and `avx512` (-mavx512f/dq/bw/vl). Only the module for an
  instruction set contains its instructions; backends/cython.py imports the best one the CPU
  supports at run time, so the build is portable (no -march=native) and a wheel runs anywhere.
- The C compiler builds each with -O3 -fno-trapping-math plus its instruction set's flags; a
  variant whose flags the compiler refuses is left out, and the build says so. The variants are
  translated and compiled side by side, one per core.
- -fopenmp goes into the compile and the link arguments when the compiler
  supports OpenMP; otherwise the kernels are built serial, and the build says so.
- Without Cython, without a working C compiler (checked first, and named in the build
  output: "no C compiler was found"), or if compiling fails, the package installs as pure
  Python and the `cython` backend reports itself unavailable, saying how to build it.
  TINYGRAD_NM_REQUIRE_NATIVE=1 turns a failed build into an error instead.
"""
import contextlib
import os
import platform
import shutil
import sys
import tempfile

from setuptools import setup
from setuptools.command.build_ext import build_ext

REQUIRE_NATIVE = os.environ.get("TINYGRAD_NM_REQUIRE_NATIVE", "") not in ("", "0")


def say(message):
    print(f"tinygrad_nm setup: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _silenced():
    """Hide a probe's compiler errors: they are expected when a flag is not supported."""
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


class BuildNative(build_ext):
    """build_ext that picks the compiler flags by trying them on a tiny program first."""

    def finalize_options(self):
        super().finalize_options()
        if not self.parallel:  # the variants compile independently: one at a time per core (-j)
            self.parallel = os.cpu_count() or 1

    def _compiles(self, code, compile_args, link_args=()):
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "probe.c")
            with open(src, "w") as f:
                f.write(code)
            try:
                with _silenced():
                    objects = self.compiler.compile([src], output_dir=tmp, extra_postargs=list(compile_args))
                    self.compiler.link_shared_object(objects, os.path.join(tmp, "probe.so"),
                                                     extra_postargs=list(link_args))
            except Exception:
                return False
        return True

    def _flags(self):
        if self.compiler.compiler_type == "msvc":
            return ["/O2", "/openmp"], []
        compile_args, link_args = ["-O3"], []
        # The kernels never read the floating-point exception flags; saying so lets the compiler
        # turn the selects in sigmoid/tanh (x < lo ? lo : x) into vector blends.
        if self._compiles("int main(void) { return 0; }\n", ["-fno-trapping-math"]):
            compile_args.append("-fno-trapping-math")
        # GCC keeps the matmul's register block in registers only with its first scheduling pass
        # on (x86 leaves it off by default); other compilers neither need nor know these flags.
        if self._compiles("#if !defined(__GNUC__) || defined(__clang__)\n#error not gcc\n#endif\n",
                          ["-fschedule-insns", "-fsched-pressure"]):
            compile_args += ["-fschedule-insns", "-fsched-pressure"]
        # the matmul's thread pool (kernels/tnm_pool.h) uses POSIX threads
        if self._compiles("#include <pthread.h>\nint f(void) { return (int)pthread_self(); }\n",
                          ["-pthread"], ["-pthread"]):
            compile_args.append("-pthread")
            link_args.append("-pthread")
        omp_probe = "#include <omp.h>\nint f(void) { return omp_get_max_threads(); }\n"
        if self._compiles(omp_probe, ["-fopenmp"], ["-fopenmp"]):
            compile_args.append("-fopenmp")
            link_args.append("-fopenmp")   # without it the module fails to import (omp symbols)
        else:
            say("WARNING: this compiler does not support OpenMP (-fopenmp); the native kernels are "
                "built serial and use one thread. Install an OpenMP-capable compiler (e.g. GCC) "
                "and reinstall to use every core.")
        return compile_args, link_args

    def _compiler_missing(self):
        """Why no C compiler can build here (None when one can): checked before the flag probes,
        which would otherwise blame -march=native and OpenMP for a compiler that is not there."""
        command = getattr(self.compiler, "compiler_so", None) or getattr(self.compiler, "compiler", None)
        if command and shutil.which(command[0]) is None:
            return f"no C compiler was found: `{command[0]}` is not on PATH (set CC to a compiler or install one)"
        if not self._compiles("int main(void) { return 0; }\n", []):
            name = command[0] if command else self.compiler.compiler_type
            return f"no working C compiler was found: `{name}` cannot build a test program"
        return None

    def build_extensions(self):
        missing = self._compiler_missing()
        if missing:
            if REQUIRE_NATIVE:
                raise SystemExit(f"tinygrad_nm setup: {missing}; TINYGRAD_NM_REQUIRE_NATIVE is set")
            say(f"{missing}. Installing without the native kernels: the `cython` backend will be "
                "unavailable (the others work). Install a C compiler and reinstall to build them.")
            self.extensions = []  # nothing to build, copy in place or list among the outputs
            return
        compile_args, link_args = self._flags()
        built = []
        for ext in self.extensions:
            isa = ext.name.rsplit("_", 1)[1]
            isa_args = [] if self.compiler.compiler_type == "msvc" else ISA_FLAGS[isa]
            if isa_args and not self._compiles(ISA_PROBE[isa], isa_args):
                say(f"the compiler does not accept {' '.join(isa_args)}: leaving out the {isa} variant")
                continue
            say(f"compiling the {isa} variant with {' '.join(compile_args + isa_args)}")
            ext.extra_compile_args = compile_args + isa_args
            ext.extra_link_args = link_args
            # cythonize() returns new Extension objects without the optional flag: set it here
            ext.optional = not REQUIRE_NATIVE
            built.append(ext)
        self.extensions = built
        super().build_extensions()


# The instruction-set variants (GCC / Clang flags) and a program each must compile. `baseline` is
# the compiler's default for the architecture (SSE2 on x86-64). MSVC builds the baseline only.
ISA_FLAGS = {
    "baseline": [],
    "avx2": ["-mavx2", "-mfma"],
    # 512-bit vectors for the auto-vectorised loops too (GCC prefers 256-bit ones otherwise)
    "avx512": ["-mavx512f", "-mavx512dq", "-mavx512bw", "-mavx512vl", "-mavx2", "-mfma",
               "-mprefer-vector-width=512"],
}
ISA_PROBE = {
    "avx2": "#include <immintrin.h>\n__m256 f(__m256 a) { return _mm256_fmadd_ps(a, a, a); }\n",
    "avx512": "#include <immintrin.h>\n__m512 f(__m512 a) { return _mm512_fmadd_ps(a, a, a); }\n",
}


def isa_variants():
    """The variants this machine's architecture has: all three on x86-64, the baseline elsewhere."""
    if platform.machine().lower() in ("x86_64", "amd64") and sys.platform != "win32":
        return list(ISA_FLAGS)
    return ["baseline"]


def extensions():
    try:
        from Cython.Build import cythonize
    except ImportError:
        say("Cython is not installed: installing without the native kernels (the `cython` backend "
            "will be unavailable). Install Cython and reinstall to build them.")
        if REQUIRE_NATIVE:
            raise
        return []
    try:
        import numpy  # its C API's headers: the hot entry points read arrays through it (kernels/_native.pxi)
    except ImportError:
        say("NumPy is not installed at build time: installing without the native kernels (the `cython` "
            "backend will be unavailable). Install NumPy and reinstall to build them.")
        if REQUIRE_NATIVE:
            raise
        return []
    from setuptools import Extension
    # optional: a machine without a working compiler still gets the pure-Python package
    depends = [os.path.join("kernels", f) for f in sorted(os.listdir("kernels"))
               if f.endswith((".pxi", ".pxd", ".h"))]
    exts = [Extension(f"tinygrad_nm._native_{isa}", [f"kernels/_native_{isa}.pyx"],
                      include_dirs=["kernels", numpy.get_include()], depends=depends, optional=not REQUIRE_NATIVE,
                      define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]) for isa in isa_variants()]
    return cythonize(exts, include_path=["kernels"], quiet=True, compiler_directives={"language_level": 3},
                     nthreads=min(len(exts), os.cpu_count() or 1))


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildNative})
