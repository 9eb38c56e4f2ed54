/* tnm_gemm.h: the matmul of the cython backend, C = A @ B, in the Goto / BLIS structure.
 *
 * One C header, compiled once per instruction-set variant of the extension module (setup.py
 * builds kernels/_native_<isa>.pyx with -mavx2 -mfma, -mavx512f ..., or the plain baseline
 * flags); the compiler's own macros (__AVX512F__, __AVX2__ + __FMA__, __SSE2__) pick the vector
 * type of the micro-kernel below, so each variant's machine code only uses its own instructions.
 *
 * The structure (kernels/README.md has the why of each block size; narrow and deep products take
 * their own paths, tnm_narrow_body.h and tnm_deep_body.h):
 *
 *   for jc in N, step NC:                    B block: KC x NC, packed once, shared, in L2
 *     for pc in K, step KC:
 *       pack B[pc:pc+KC, jc:jc+NC] into NR-wide panels          (threads split the panels)
 *       for each tile (rows ic.., a run of panels), shared out dynamically among the threads:
 *         pack A[ic:ic+MC, pc:pc+KC] into MR-high panels         (the thread's own buffer, L2)
 *         for ir in the tile's rows, step MR:                    A micro-panel MR x KC, in L1
 *           for jr in the tile's panels, step NR:                B micro-panel KC x NR, from L2
 *             micro-kernel: C[ir:ir+MR, jr:jr+NR] (+)= A micro-panel @ B micro-panel
 *
 * Packing reads A and B through their strides (row stride and column stride, in elements, any
 * sign), so transposed and sliced operands cost one copy like contiguous ones; panels past the
 * edge of A or B are padded with zeros, so the micro-kernel always runs whole; only the store of
 * an edge tile goes through a small buffer.
 */
#ifndef TNM_GEMM_H
#define TNM_GEMM_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <stdatomic.h>
#include "tnm_pool.h"

/* --- the instruction set of this compilation -------------------------------------------------- */
#if defined(__AVX512F__)
#include <immintrin.h>
#define TNM_ISA_NAME "avx512"
#define TNM_VEC_BYTES 64
/* float: 16 lanes; the register block is MR = 12 rows x 2 vectors: 24 accumulators, 2 vectors of
 * B, the broadcasts of A come from memory (vfmadd231ps zmm, zmm, [a]{1to16}): 26 of 32 zmm. */
#define TNM_VEC_s __m512
#define TNM_VL_s 16
#define TNM_MR_s 12
#define TNM_LOAD_s(p) _mm512_load_ps(p)
#define TNM_LOADU_s(p) _mm512_loadu_ps(p)
#define TNM_STOREU_s(p, v) _mm512_storeu_ps(p, v)
#define TNM_BCAST_s(x) _mm512_set1_ps(x)
#define TNM_FMA_s(a, b, c) _mm512_fmadd_ps(a, b, c)
#define TNM_ADD_s(a, b) _mm512_add_ps(a, b)
#define TNM_MAX_s(a, b) _mm512_max_ps(a, b)
#define TNM_ZERO_s() _mm512_setzero_ps()
#define TNM_VEC_d __m512d
#define TNM_VL_d 8
#define TNM_MR_d 12
#define TNM_LOAD_d(p) _mm512_load_pd(p)
#define TNM_LOADU_d(p) _mm512_loadu_pd(p)
#define TNM_STOREU_d(p, v) _mm512_storeu_pd(p, v)
#define TNM_BCAST_d(x) _mm512_set1_pd(x)
#define TNM_FMA_d(a, b, c) _mm512_fmadd_pd(a, b, c)
#define TNM_ADD_d(a, b) _mm512_add_pd(a, b)
#define TNM_MAX_d(a, b) _mm512_max_pd(a, b)
#define TNM_ZERO_d() _mm512_setzero_pd()
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define TNM_ISA_NAME "avx2"
#define TNM_VEC_BYTES 32
/* 16 ymm registers: MR = 6 rows x 2 vectors = 12 accumulators, 2 of B, 1 broadcast of A.
 * Big products take a k slice twice as long as the others (tnm_blocking): measured on Zen 3. */
#define TNM_KC_BIG_L1_PART 2
#define TNM_VEC_s __m256
#define TNM_VL_s 8
#define TNM_MR_s 6
#define TNM_LOAD_s(p) _mm256_load_ps(p)
#define TNM_LOADU_s(p) _mm256_loadu_ps(p)
#define TNM_STOREU_s(p, v) _mm256_storeu_ps(p, v)
#define TNM_BCAST_s(x) _mm256_set1_ps(x)
#define TNM_FMA_s(a, b, c) _mm256_fmadd_ps(a, b, c)
#define TNM_ADD_s(a, b) _mm256_add_ps(a, b)
#define TNM_MAX_s(a, b) _mm256_max_ps(a, b)
#define TNM_ZERO_s() _mm256_setzero_ps()
#define TNM_VEC_d __m256d
#define TNM_VL_d 4
#define TNM_MR_d 6
#define TNM_LOAD_d(p) _mm256_load_pd(p)
#define TNM_LOADU_d(p) _mm256_loadu_pd(p)
#define TNM_STOREU_d(p, v) _mm256_storeu_pd(p, v)
#define TNM_BCAST_d(x) _mm256_set1_pd(x)
#define TNM_FMA_d(a, b, c) _mm256_fmadd_pd(a, b, c)
#define TNM_ADD_d(a, b) _mm256_add_pd(a, b)
#define TNM_MAX_d(a, b) _mm256_max_pd(a, b)
#define TNM_ZERO_d() _mm256_setzero_pd()
#elif defined(__SSE2__)
#include <emmintrin.h>
#define TNM_ISA_NAME "baseline"
#define TNM_VEC_BYTES 16
/* SSE2 has no FMA: a multiply and an add, so one register more per row for the product.
 * MR = 4 rows x 2 vectors = 8 accumulators, 2 of B, 1 broadcast, 1 product: 12 of 16 xmm. */
#define TNM_VEC_s __m128
#define TNM_VL_s 4
#define TNM_MR_s 4
#define TNM_LOAD_s(p) _mm_load_ps(p)
#define TNM_LOADU_s(p) _mm_loadu_ps(p)
#define TNM_STOREU_s(p, v) _mm_storeu_ps(p, v)
#define TNM_BCAST_s(x) _mm_set1_ps(x)
#define TNM_FMA_s(a, b, c) _mm_add_ps(_mm_mul_ps(a, b), c)
#define TNM_ADD_s(a, b) _mm_add_ps(a, b)
#define TNM_MAX_s(a, b) _mm_max_ps(a, b)
#define TNM_ZERO_s() _mm_setzero_ps()
#define TNM_VEC_d __m128d
#define TNM_VL_d 2
#define TNM_MR_d 4
#define TNM_LOAD_d(p) _mm_load_pd(p)
#define TNM_LOADU_d(p) _mm_loadu_pd(p)
#define TNM_STOREU_d(p, v) _mm_storeu_pd(p, v)
#define TNM_BCAST_d(x) _mm_set1_pd(x)
#define TNM_FMA_d(a, b, c) _mm_add_pd(_mm_mul_pd(a, b), c)
#define TNM_ADD_d(a, b) _mm_add_pd(a, b)
#define TNM_MAX_d(a, b) _mm_max_pd(a, b)
#define TNM_ZERO_d() _mm_setzero_pd()
#else
/* Plain C for any other machine: a "vector" of one element, 4 x 8 accumulators (the compiler
 * may vectorise them itself, e.g. into NEON registers on arm64). */
#define TNM_ISA_NAME "baseline"
#define TNM_VEC_BYTES 16            /* what an auto-vectoriser uses on such machines (NEON) */
#define TNM_SCALAR_KERNEL 1
#endif

#ifdef TNM_SCALAR_KERNEL
#define TNM_NV 8                    /* "vectors" of B per row of the register block */
#define TNM_VEC_s float
#define TNM_VL_s 1
#define TNM_MR_s 4
#define TNM_VEC_d double
#define TNM_VL_d 1
#define TNM_MR_d 4
#define TNM_LOAD_s(p) (*(p))
#define TNM_LOADU_s(p) (*(p))
#define TNM_STOREU_s(p, v) (*(p) = (v))
#define TNM_BCAST_s(x) (x)
#define TNM_FMA_s(a, b, c) ((a) * (b) + (c))
#define TNM_ADD_s(a, b) ((a) + (b))
#define TNM_MAX_s(a, b) ((a) > (b) ? (a) : (b))
#define TNM_ZERO_s() 0.0f
#define TNM_LOAD_d(p) (*(p))
#define TNM_LOADU_d(p) (*(p))
#define TNM_STOREU_d(p, v) (*(p) = (v))
#define TNM_BCAST_d(x) (x)
#define TNM_FMA_d(a, b, c) ((a) * (b) + (c))
#define TNM_ADD_d(a, b) ((a) + (b))
#define TNM_MAX_d(a, b) ((a) > (b) ? (a) : (b))
#define TNM_ZERO_d() 0.0
#else
#define TNM_NV 2                    /* a row of the register block is two vectors */
#endif

#ifndef TNM_KC_BIG_L1_PART
#define TNM_KC_BIG_L1_PART 4        /* big products' KC as the others' (a quarter of L1): tnm_blocking */
#endif

#if defined(__GNUC__) || defined(__clang__)
#define TNM_ALWAYS_INLINE inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define TNM_ALWAYS_INLINE __forceinline
#else
#define TNM_ALWAYS_INLINE inline
#endif

#if defined(__GNUC__) && !defined(__clang__)
#define TNM_UNROLL _Pragma("GCC unroll 16")
#elif defined(__clang__)
#define TNM_UNROLL _Pragma("unroll")
#else
#define TNM_UNROLL
#endif

/* The epilogue applied to C as a tile's last k slice is stored (linear_act: a Linear layer and its
 * activation in one kernel). max(0, x) in the vector registers; sigmoid and tanh through a
 * function of the module (_native.pxi: the same vectorised formulas as the activation kernels)
 * called on the tile while it sits in a small buffer in L1. */
#define TNM_ACT_NONE 0
#define TNM_ACT_RELU 1
#define TNM_ACT_ROWS 2              /* the `rows` function: x[i] = act(x[i]) for i < n, in place */

#define TNM_ALIGN 64                /* packed panels start on a cache line (aligned vector loads) */
#define TNM_CAT2(a, b) a##b
#define TNM_CAT(a, b) TNM_CAT2(a, b)

/* Products with fewer multiply-adds than this run in the calling thread: waking the team
 * costs more than the second core saves (measured: bench/README.md, cython section). */
#define TNM_SERIAL_GEMM (1L << 21)
/* Below this many multiply-adds (~0.3 ms on one core) a product is cut into 2 tiles per thread
 * rather than 4 (tnm_tiles). */
#define TNM_SMALL_GEMM (1L << 26)

/* Packing buffers are kept per thread between calls (a fresh one of a few hundred KiB would be
 * an mmap and page faults every call); the packed copy of a B bigger than this is freed after
 * its call instead, so one huge product does not pin its memory for the life of the process. */
#define TNM_KEEP_BYTES (16L << 20)

/* --- the caches, read from the machine once --------------------------------------------------- */
static long tnm_l1_bytes, tnm_l2_bytes, tnm_l3_bytes;

/* Size in bytes of the level-`level` data (or unified) cache of cpu0, from Linux's sysfs;
 * 0 if it cannot be read (not Linux, or a container hiding /sys). */
static long tnm_sysfs_cache(int level) {
    char path[96], buf[32];
    for (int index = 0; index < 8; index++) {
        FILE* f;
        int lvl = 0;
        long size = 0;
        char unit = 0;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", index);
        if (!(f = fopen(path, "r"))) break;
        if (fscanf(f, "%d", &lvl) != 1) lvl = 0;
        fclose(f);
        if (lvl != level) continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", index);
        if (!(f = fopen(path, "r"))) continue;
        if (!fgets(buf, sizeof buf, f)) buf[0] = 0;
        fclose(f);
        if (strncmp(buf, "Instruction", 11) == 0) continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", index);
        if (!(f = fopen(path, "r"))) continue;
        if (fscanf(f, "%ld%c", &size, &unit) < 1) size = 0;
        fclose(f);
        if (unit == 'K') size <<= 10;
        if (unit == 'M') size <<= 20;
        return size;
    }
    return 0;
}

static void tnm_read_caches(void) {
    long l1 = tnm_sysfs_cache(1), l2 = tnm_sysfs_cache(2), l3 = tnm_sysfs_cache(3);
#ifdef _SC_LEVEL1_DCACHE_SIZE
    if (l1 <= 0) l1 = sysconf(_SC_LEVEL1_DCACHE_SIZE);
    if (l2 <= 0) l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (l3 <= 0) l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
#endif
    /* unknown: the smallest current x86/arm64 server cores (32 KiB L1, 512 KiB L2) */
    tnm_l1_bytes = l1 > 0 ? l1 : 32L << 10;
    tnm_l2_bytes = l2 > 0 ? l2 : 512L << 10;
    tnm_l3_bytes = l3 > 0 ? l3 : 0;
}

/* --- the CPU's instruction sets (asked by the baseline module, which runs anywhere) ------------- */
/* 1 if this CPU and its OS (saved vector registers) support `isa`, else 0. */
static int tnm_cpu_supports(const char* isa) {
    if (strcmp(isa, "baseline") == 0) return 1;
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
    __builtin_cpu_init();
    if (strcmp(isa, "avx2") == 0)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (strcmp(isa, "avx512") == 0)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
            && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")
            && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
#endif
    return 0;
}

/* --- the two precisions: the body below, once for float (s) and once for double (d) ----------- */
#define T float
#define S s
#include "tnm_gemm_body.h"
#undef T
#undef S
#define T double
#define S d
#include "tnm_gemm_body.h"
#undef T
#undef S

static void tnm_gemm_init(void) {
    tnm_read_caches();
    tnm_blocking_s();
    tnm_blocking_d();
}

#endif /* TNM_GEMM_H */
