/* tnm_maxpool.h: max pooling that keeps each window's argmax, and its backward (kernels.py's
 * `pool` family; backends/cython_pool.py calls them through _native.pxi).
 *
 * The windows are im2col's: window (y, x) of a plane reads rows y * sh - top + i * dh and columns
 * x * sw - left + j * dw, skipping those outside the image. The forward is PyTorch's CPU loop
 * (backends/pool_windows.py), so the answers agree exactly: start from -inf at the window's first
 * tap at non-negative coordinates; a larger value, or a NaN, takes over. Windows wholly inside
 * the image read their taps at fixed offsets without a branch (2x2 unrolled: ~2 ns a window on
 * random data standalone, against ~6 ns for the loop over row and column spans every window ran
 * first); the rest (the edges) run the loop itself.
 * The backward zeroes the image and adds each gradient at its window's argmax, plane by plane
 * (a plane stays in L1); a window with no tap inside the image adds nothing, and an index outside
 * its plane is counted, not written (the caller raises).
 * Both run on one thread: they move each byte once, at memory speed.
 */
#ifndef TNM_MAXPOOL_H
#define TNM_MAXPOOL_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    long planes, h, w;            /* the image: N * C planes of H x W */
    long kh, kw, sh, sw, dh, dw;  /* window, stride, dilation */
    long top, left;               /* padding before (after only sets oh, ow) */
    long oh, ow;                  /* windows along each axis */
} tnm_maxpool_geom;

/* Along one axis: window y's first tap coordinate >= 0, and the end (exclusive) of its taps inside. */
static inline void tnm_maxpool_span(long y, long s, long d, long k, long before, long size, long* first,
                                    long* end) {
    long start = y * s - before;
    long stop = start + (k - 1) * d + 1;
    *first = start < 0 ? start + ((-start + d - 1) / d) * d : start;
    *end = stop < size ? stop : size;
}

/* Along one axis: the window positions [*a, *b) whose taps all lie inside [0, size). */
static inline void tnm_maxpool_inside(long out, long s, long d, long k, long before, long size, long* a, long* b) {
    long last = size - 1 + before - (k - 1) * d;  /* y * s may reach this */
    *a = (before + s - 1) / s;
    if (*a > out) *a = out;
    *b = last < 0 ? 0 : last / s + 1;
    if (*b > out) *b = out;
    if (*b < *a) *b = *a;
}

/* One step of PyTorch's loop: a larger value, or a NaN, takes over. */
#define TNM_MAXPOOL_STEP(v, pos, best, at)                                                         \
    do {                                                                                           \
        int take_ = ((v) > (best)) | ((v) != (v));                                                 \
        (best) = take_ ? (v) : (best);                                                             \
        (at) = take_ ? (pos) : (at);                                                               \
    } while (0)

/* The windows [a, b) of an output row wholly inside the image: each reads its TAPS taps at
 * offsets `off` from its first, x[corner + xo * sw]. Written so that the compiler keeps it free of
 * branches (GCC turns PyTorch's `take ? v : best` into a jump, which random data mispredicts half
 * the time: 3x slower measured): the maximum is a max instruction, the argmax a mask blend, and
 * NaNs, which neither handles, are only noted; a window with one runs PyTorch's loop again. */
#define TNM_MAXPOOL_INTERIOR(T, TAPS, x, off, corner, sw, a, b, vrow, irow)                         \
    do {                                                                                           \
        for (long xo = (a); xo < (b); xo++) {                                                      \
            const long first = (corner) + xo * (sw);                                               \
            T best = -(T)INFINITY;                                                                 \
            long at = first, nan = 0;                                                              \
            for (long t = 0; t < (TAPS); t++) {                                                    \
                T v = (x)[first + (off)[t]];                                                       \
                long take = -(long)(v > best);        /* a mask: all ones or 0 */                  \
                best = v > best ? v : best;           /* one max instruction */                    \
                at = ((first + (off)[t]) & take) | (at & ~take);                                   \
                nan |= v != v;                                                                     \
            }                                                                                      \
            if (nan) {                                /* rare: PyTorch's loop with its NaN rule */ \
                best = -(T)INFINITY;                                                               \
                at = first;                                                                        \
                for (long t = 0; t < (TAPS); t++) {                                                \
                    T v = (x)[first + (off)[t]];                                                   \
                    TNM_MAXPOOL_STEP(v, first + (off)[t], best, at);                               \
                }                                                                                  \
            }                                                                                      \
            (vrow)[xo] = best;                                                                     \
            (irow)[xo] = at;                                                                       \
        }                                                                                          \
    } while (0)

/* Windows wholly inside the image (the interior: no tap to skip) read their taps at fixed offsets
 * from the first, one short loop each; the others (the edges, padding) run PyTorch's loop over
 * their row and column spans, each column span worked out once per call. */
#define TNM_MAXPOOL_FORWARD(NAME, T)                                                               \
    static int NAME(const T* image, const tnm_maxpool_geom* g, T* values, int64_t* indices) {     \
        const long plane = g->h * g->w, out = g->oh * g->ow, taps = g->kh * g->kw;                 \
        long ya, yb, xa, xb;                                                                       \
        tnm_maxpool_inside(g->oh, g->sh, g->dh, g->kh, g->top, g->h, &ya, &yb);                    \
        tnm_maxpool_inside(g->ow, g->sw, g->dw, g->kw, g->left, g->w, &xa, &xb);                   \
        long* off = (long*)malloc(sizeof(long) * (size_t)(taps + 2 * g->ow + 2));                  \
        if (!off) return -1;                                                                       \
        long *q0s = off + taps, *q1s = q0s + g->ow + 1;                                            \
        for (long i = 0; i < g->kh; i++)                                                           \
            for (long j = 0; j < g->kw; j++) off[i * g->kw + j] = i * g->dh * g->w + j * g->dw;   \
        for (long xo = 0; xo < g->ow; xo++)                                                        \
            tnm_maxpool_span(xo, g->sw, g->dw, g->kw, g->left, g->w, &q0s[xo], &q1s[xo]);          \
        for (long p = 0; p < g->planes; p++) {                                                     \
            const T* x = image + p * plane;                                                        \
            T* vrow = values + p * out;                                                            \
            int64_t* irow = indices + p * out;                                                     \
            for (long y = 0; y < g->oh; y++, vrow += g->ow, irow += g->ow) {                       \
                long r0, r1;                                                                       \
                tnm_maxpool_span(y, g->sh, g->dh, g->kh, g->top, g->h, &r0, &r1);                  \
                long a = y >= ya && y < yb ? xa : g->ow, b = y >= ya && y < yb ? xb : g->ow;       \
                const long corner = (y * g->sh - g->top) * g->w - g->left;  /* + xo * sw */       \
                if (taps == 4)                         /* 2x2, the usual pooling: unrolled */      \
                    TNM_MAXPOOL_INTERIOR(T, 4, x, off, corner, g->sw, a, b, vrow, irow);           \
                else                                                                               \
                    TNM_MAXPOOL_INTERIOR(T, taps, x, off, corner, g->sw, a, b, vrow, irow);        \
                for (long xo = a > 0 ? 0 : b; xo < g->ow; xo = xo + 1 == a ? b : xo + 1) {         \
                    T best = -(T)INFINITY;                 /* the edges: PyTorch's loop */         \
                    long at = r0 * g->w + q0s[xo];                                                 \
                    for (long r = r0; r < r1; r += g->dh)                                          \
                        for (long q = q0s[xo]; q < q1s[xo]; q += g->dw) {                          \
                            T v = x[r * g->w + q];                                                 \
                            TNM_MAXPOOL_STEP(v, r * g->w + q, best, at);                           \
                        }                                                                          \
                    vrow[xo] = best;                                                               \
                    irow[xo] = at;                                                                 \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        free(off);                                                                                 \
        return 0;                                                                                  \
    }

/* Returns how many indices of windows with a tap inside the image lie outside their plane. */
#define TNM_MAXPOOL_BACKWARD(NAME, T)                                                              \
    static long NAME(const T* grad, const int64_t* indices, const tnm_maxpool_geom* g, T* image) { \
        const long plane = g->h * g->w, out = g->oh * g->ow;                                       \
        long bad = 0;                                                                              \
        memset(image, 0, sizeof(T) * (size_t)(g->planes * plane));                                 \
        for (long p = 0; p < g->planes; p++) {                                                     \
            T* x = image + p * plane;                                                              \
            for (long y = 0; y < g->oh; y++) {                                                     \
                long r0, r1;                                                                       \
                tnm_maxpool_span(y, g->sh, g->dh, g->kh, g->top, g->h, &r0, &r1);                  \
                if (r0 >= r1) continue;                 /* no tap inside: adds nothing */          \
                for (long xo = 0; xo < g->ow; xo++) {                                              \
                    long q0, q1, k = p * out + y * g->ow + xo;                                     \
                    tnm_maxpool_span(xo, g->sw, g->dw, g->kw, g->left, g->w, &q0, &q1);            \
                    if (q0 >= q1) continue;                                                        \
                    int64_t at = indices[k];                                                       \
                    if (at < 0 || at >= plane) { bad++; continue; }                                \
                    x[at] += grad[k];                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        return bad;                                                                                \
    }

TNM_MAXPOOL_FORWARD(tnm_maxpool_s, float)
TNM_MAXPOOL_FORWARD(tnm_maxpool_d, double)
TNM_MAXPOOL_BACKWARD(tnm_maxpool_backward_s, float)
TNM_MAXPOOL_BACKWARD(tnm_maxpool_backward_d, double)

#endif /* TNM_MAXPOOL_H */
