"""Primitives only compiled code can measure: the FMA peak, a vectorised exp and divide, the scalar add rate,
the cost of an OpenMP parallel region.

The C source below is compiled once per machine with the system's C compiler
(`$CC`, else `cc`) at -O3 -march=native, cached beside the rates, and loaded with ctypes.
Without a compiler, calibrate keeps the documented defaults for these rates and says so.
"""
import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile

C_SOURCE = r"""
/* GCC/Clang vector extensions: one vector register per variable, whatever the ISA. */
#if defined(__AVX512F__)
#define VB 64
#elif defined(__AVX__)
#define VB 32
#else
#define VB 16
#endif
typedef float vf __attribute__((vector_size(VB)));
typedef double vd __attribute__((vector_size(VB)));
/* independent FMA chains: FMA latency (4 cycles) x FMA ports (2) = 8 chains keep the units busy;
   12 leave slack and still fit the 16 registers of AVX2 beside the two constants. */
#define CHAINS 12

int fma_lanes_f32(void) { return CHAINS * VB / 4; }
int fma_lanes_f64(void) { return CHAINS * VB / 8; }

double fma_f32(long iters) {
    vf acc[CHAINS];
    vf m = (vf){} + 0.9999999f, c = (vf){} + 1e-7f;
    for (int k = 0; k < CHAINS; k++) acc[k] = (vf){} + (float)k;
    for (long i = 0; i < iters; i++) {
#pragma GCC unroll 16
        for (int k = 0; k < CHAINS; k++) acc[k] = acc[k] * m + c;   /* one FMA per lane */
    }
    double s = 0;
    for (int k = 0; k < CHAINS; k++) for (int j = 0; j < VB / 4; j++) s += acc[k][j];
    return s;
}

double fma_f64(long iters) {
    vd acc[CHAINS];
    vd m = (vd){} + 0.9999999, c = (vd){} + 1e-7;
    for (int k = 0; k < CHAINS; k++) acc[k] = (vd){} + (double)k;
    for (long i = 0; i < iters; i++) {
#pragma GCC unroll 16
        for (int k = 0; k < CHAINS; k++) acc[k] = acc[k] * m + c;
    }
    double s = 0;
    for (int k = 0; k < CHAINS; k++) for (int j = 0; j < VB / 8; j++) s += acc[k][j];
    return s;
}

/* exp by the Cephes formula (range reduction + degree-6 polynomial), branch-free so the loop
   vectorises: what compiled code pays per exp when it does not call libm. */
#include <math.h>
#include <stdint.h>
static inline float cephes_expf(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    float fx = floorf(x * 1.44269504088896341f + 0.5f);
    float r = x - fx * 0.693359375f + fx * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union { float f; uint32_t u; } s;
    s.u = (uint32_t)((int)fx + 127) << 23;
    return p * s.f;
}

void vexp_f32(const float *x, float *out, long n, long reps) {
    for (long r = 0; r < reps; r++)
        for (long i = 0; i < n; i++) out[i] = cephes_expf(x[i]);
}

/* A vectorised division per element (the add keeps the divisor away from zero). */
void vdiv_f32(const float *x, float *out, long n, long reps) {
    for (long r = 0; r < reps; r++)
        for (long i = 0; i < n; i++) out[i] = x[i] / (x[i] + 1.5f);
}

/* Scalar adds over an array, 8 independent accumulators, as NumPy's pairwise sum does;
   vectorisation is switched off so this is the rate of a loop the compiler cannot widen. */
#if defined(__clang__)
#define NOVEC
#else
#define NOVEC __attribute__((optimize("no-tree-vectorize", "no-tree-slp-vectorize")))
#endif
NOVEC double scalar_sum(const float *x, long n, long reps) {
    double total = 0;
    for (long r = 0; r < reps; r++) {
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
#if defined(__clang__)
#pragma clang loop vectorize(disable) interleave(disable)
#endif
        for (long i = 0; i + 8 <= n; i += 8) {
            s0 += x[i]; s1 += x[i + 1]; s2 += x[i + 2]; s3 += x[i + 3];
            s4 += x[i + 4]; s5 += x[i + 5]; s6 += x[i + 6]; s7 += x[i + 7];
        }
        total += ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
    }
    return total;
}
"""

# -fno-trapping-math: without it GCC keeps the exp's clamps as branches and the loop stays scalar (8x slower)
FLAGS = ["-O3", "-march=native", "-ffp-contract=fast", "-fno-math-errno", "-fno-trapping-math", "-shared", "-fPIC"]


# An empty OpenMP parallel region: what waking the other threads and joining them costs. Built
# apart from the rest because it needs -fopenmp, which not every compiler has.
OMP_SOURCE = r"""
#include <omp.h>
static volatile int sink;
void fork_join(int threads, long reps) {
    for (long r = 0; r < reps; r++) {
#pragma omp parallel num_threads(threads)
        { if (omp_get_thread_num() == 0) sink++; }
    }
}
"""


class NativeUnavailable(RuntimeError):
    pass


def _build(cache_dir, name, source, flags):
    """Compile `source` into cache_dir (once per source and flags); returns the library's path."""
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        raise NativeUnavailable(f"no C compiler ({cc!r} not found; set CC)")
    key = hashlib.sha1((source + cc + " ".join(flags)).encode()).hexdigest()[:12]
    so_path = os.path.join(cache_dir, f"napkin-{name}-{key}.so")
    if not os.path.exists(so_path):
        os.makedirs(cache_dir, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, f"{name}.c")
            with open(src, "w") as f:
                f.write(source)
            out = os.path.join(tmp, f"{name}.so")
            result = subprocess.run([cc, *flags, src, "-o", out], capture_output=True, text=True)
            if result.returncode != 0:
                raise NativeUnavailable(f"{cc} failed to compile {name}: {result.stderr.strip()[:300]}")
            shutil.move(out, so_path + f".{os.getpid()}")
            os.replace(so_path + f".{os.getpid()}", so_path)  # atomic: a concurrent build never sees half a file
    return so_path


def load_omp(cache_dir):
    """The empty parallel region (a ctypes library); NativeUnavailable without OpenMP."""
    lib = ctypes.CDLL(_build(cache_dir, "fork-join", OMP_SOURCE, ["-O2", "-fopenmp", "-shared", "-fPIC"]))
    lib.fork_join.argtypes = [ctypes.c_int, ctypes.c_long]
    lib.fork_join.restype = None
    return lib


def load(cache_dir):
    """The compiled primitives (a ctypes library), compiling them on first use; NativeUnavailable says why not."""
    lib = ctypes.CDLL(_build(cache_dir, "primitives", C_SOURCE, FLAGS))
    lib.fma_f32.argtypes = lib.fma_f64.argtypes = [ctypes.c_long]
    lib.fma_f32.restype = lib.fma_f64.restype = ctypes.c_double
    lib.fma_lanes_f32.restype = lib.fma_lanes_f64.restype = ctypes.c_int
    lib.vexp_f32.argtypes = lib.vdiv_f32.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long, ctypes.c_long]
    lib.vexp_f32.restype = lib.vdiv_f32.restype = None
    lib.scalar_sum.argtypes = [ctypes.c_void_p, ctypes.c_long, ctypes.c_long]
    lib.scalar_sum.restype = ctypes.c_double
    return lib
