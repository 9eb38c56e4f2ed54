/* tnm_maxpool.h: max pooling that keeps each window's argmax, and its backward (kernels.py's
 * `pool` family; backends/cython_pool.py calls them through _native.pxi).
 *
 * The windows are im2col's: window (y, x) of a plane reads rows y * sh - top + i * dh and columns
 * x * sw - left + j * dw, skipping those outside the image. The forward is PyTorch's CPU loop
 * (backends/pool_windows.py), so the answers agree exactly: start from -inf at the window's first
 * tap at non-negative coordinates; a larger value, or a NaN, takes over. The compare-and-select
 * is written without a branch (random data would mispredict it half the time).
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

/* One window, PyTorch's loop as it is: the windows at the image's left and right edges. */
#define TNM_MAXPOOL_WINDOW(T, x, g, r0, r1, q0, q1, value, index)                                  \
    do {                                                                                           \
        T best = -(T)INFINITY;                                                                     \
        long at = (r0) * (g)->w + (q0);                                                            \
        for (long r = (r0); r < (r1); r += (g)->dh)                                                \
            for (long q = (q0); q < (q1); q += (g)->dw) {                                          \
                T v = (x)[r * (g)->w + q];                                                         \
                int take = (v > best) | (v != v);                                                  \
                best = take ? v : best;                                                            \
                at = take ? r * (g)->w + q : at;                                                   \
            }                                                                                      \
        *(value) = best;                                                                           \
        *(index) = at;                                                                             \
    } while (0)

/* The windows of an output row whose columns all lie inside, [xa, xb), go tap by tap across the
 * row when there are at least TNM_MAXPOOL_WIDE of them: each window still sees its taps in order,
 * but consecutive windows' compare-and-select steps are independent and the loop over x
 * vectorises (`best` and `at` hold the row's running maxima). Narrower rows (the digits CNN's
 * second pooling: 2 windows) go window by window: there the loops' setup costs more than it saves
 * (measured: 4 windows a row ~2x faster tap by tap, 2 windows ~2x slower).
 * Each window's column span is worked out once per call (q0s, q1s). */
#define TNM_MAXPOOL_WIDE 4
#define TNM_MAXPOOL_FORWARD(NAME, T)                                                               \
    static int NAME(const T* image, const tnm_maxpool_geom* g, T* values, int64_t* indices) {     \
        const long plane = g->h * g->w, out = g->oh * g->ow;                                       \
        /* [xa, xb): the windows whose columns all lie inside (none left of 0, none at w or past) */ \
        long xa = (g->left + g->sw - 1) / g->sw, xb = g->ow;                                       \
        if (xa > g->ow) xa = g->ow;                                                                \
        while (xb > xa && (xb - 1) * g->sw - g->left + (g->kw - 1) * g->dw >= g->w) xb--;         \
        if (xb - xa < TNM_MAXPOOL_WIDE) xa = xb = g->ow;  /* narrow: every window on its own */    \
        T* best = (T*)malloc(sizeof(T) * (size_t)(g->ow + 1));                                     \
        long* at = (long*)malloc(sizeof(long) * (size_t)(3 * g->ow + 3));                          \
        if (!best || !at) { free(best); free(at); return -1; }                                     \
        long *q0s = at + g->ow + 1, *q1s = q0s + g->ow + 1;                                        \
        for (long xo = 0; xo < g->ow; xo++)                                                        \
            tnm_maxpool_span(xo, g->sw, g->dw, g->kw, g->left, g->w, &q0s[xo], &q1s[xo]);          \
        for (long p = 0; p < g->planes; p++) {                                                     \
            const T* x = image + p * plane;                                                        \
            T* vrow = values + p * out;                                                            \
            int64_t* irow = indices + p * out;                                                     \
            for (long y = 0; y < g->oh; y++, vrow += g->ow, irow += g->ow) {                       \
                long r0, r1;                                                                       \
                tnm_maxpool_span(y, g->sh, g->dh, g->kh, g->top, g->h, &r0, &r1);                  \
                for (long xo = xa > 0 ? 0 : xb; xo < g->ow; xo = xo + 1 == xa ? xb : xo + 1)       \
                    TNM_MAXPOOL_WINDOW(T, x, g, r0, r1, q0s[xo], q1s[xo], &vrow[xo], &irow[xo]);   \
                if (xa == xb) continue;                                                            \
                for (long xo = xa; xo < xb; xo++) {                                                \
                    best[xo] = -(T)INFINITY;                                                       \
                    at[xo] = r0 * g->w + xo * g->sw - g->left;                                     \
                }                                                                                  \
                for (long r = r0; r < r1; r += g->dh)                                              \
                    for (long j = 0; j < g->kw; j++) {                                             \
                        const long base = r * g->w + j * g->dw - g->left;  /* + xo * sw: inside */ \
                        for (long xo = xa; xo < xb; xo++) {                                        \
                            T v = x[base + xo * g->sw];                                            \
                            int take = (v > best[xo]) | (v != v);                                  \
                            best[xo] = take ? v : best[xo];                                        \
                            at[xo] = take ? base + xo * g->sw : at[xo];                            \
                        }                                                                          \
                    }                                                                              \
                for (long xo = xa; xo < xb; xo++) {                                                \
                    vrow[xo] = best[xo];                                                           \
                    irow[xo] = at[xo];                                                             \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        free(best);                                                                                \
        free(at);                                                                                  \
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
