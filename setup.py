"""Builds the native kernels in kernels/ into the extension module tinygrad_nm._native.

Metadata and dependencies live in pyproject.toml; this file exists only for the
extension. What the build does:
- Cython translates kernels/_native.pyx (and the .pxd files it cimports) to C.
- The C compiler builds it with -O3 -fno-trapping-math and, unless
  TINYGRAD_NM_PORTABLE=1, with -march=native (the wheel then only runs on CPUs
  like this one).
- -fopenmp goes into the compile and the link arguments when the compiler
  supports OpenMP; otherwise the kernels are built serial, and the build says so.
- Without Cython, without a working C compiler (checked first, and named in the build
  output: "no C compiler was found"), or if compiling fails, the package installs as pure
  Python and the `cython` backend reports itself unavailable, saying how to build it.
  TINYGRAD_NM_REQUIRE_NATIVE=1 turns a failed build into an error instead.
"""
import contextlib
import os
import shutil
import sys
import tempfile

from setuptools import setup
from setuptools.command.build_ext import build_ext

PORTABLE = os.environ.get("TINYGRAD_NM_PORTABLE", "") not in ("", "0")
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
        if PORTABLE:
            say("TINYGRAD_NM_PORTABLE is set: building for the generic CPU of this architecture")
        elif self._compiles("int main(void) { return 0; }\n", ["-march=native"]):
            compile_args.append("-march=native")
        else:
            say("the compiler does not accept -march=native; building for the generic CPU")
        # GCC keeps the matmul's register block in registers only with its first scheduling pass
        # on (x86 leaves it off by default); other compilers neither need nor know these flags.
        if self._compiles("#if !defined(__GNUC__) || defined(__clang__)\n#error not gcc\n#endif\n",
                          ["-fschedule-insns", "-fsched-pressure"]):
            compile_args += ["-fschedule-insns", "-fsched-pressure"]
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
        say(f"compiling the native kernels with {' '.join(compile_args)}")
        for ext in self.extensions:
            ext.extra_compile_args = compile_args
            ext.extra_link_args = link_args
            # cythonize() returns new Extension objects without the optional flag: set it here
            ext.optional = not REQUIRE_NATIVE
        super().build_extensions()


def extensions():
    try:
        from Cython.Build import cythonize
    except ImportError:
        say("Cython is not installed: installing without the native kernels (the `cython` backend "
            "will be unavailable). Install Cython and reinstall to build them.")
        if REQUIRE_NATIVE:
            raise
        return []
    from setuptools import Extension
    # optional: a machine without a working compiler still gets the pure-Python package
    ext = Extension("tinygrad_nm._native", ["kernels/_native.pyx"], optional=not REQUIRE_NATIVE)
    return cythonize([ext], include_path=["kernels"], quiet=True,
                     compiler_directives={"language_level": 3})


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildNative})
