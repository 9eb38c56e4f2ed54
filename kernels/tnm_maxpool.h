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

#define TNM_MAXPOOL_FORWARD(NAME, T)                                                               \
    static void NAME(const T* image, const tnm_maxpool_geom* g, T* values, int64_t* indices) {    \
        const long plane = g->h * g->w, out = g->oh * g->ow;                                       \
        for (long p = 0; p < g->planes; p++) {                                                     \
            const T* x = image + p * plane;                                                        \
            for (long y = 0; y < g->oh; y++) {                                                     \
                long r0, r1;                                                                       \
                tnm_maxpool_span(y, g->sh, g->dh, g->kh, g->top, g->h, &r0, &r1);                  \
                for (long xo = 0; xo < g->ow; xo++) {                                              \
                    long q0, q1;                                                                   \
                    tnm_maxpool_span(xo, g->sw, g->dw, g->kw, g->left, g->w, &q0, &q1);            \
                    T best = -(T)INFINITY;                                                         \
                    long at = r0 * g->w + q0;                                                      \
                    for (long r = r0; r < r1; r += g->dh)                                          \
                        for (long q = q0; q < q1; q += g->dw) {                                    \
                            T v = x[r * g->w + q];                                                 \
                            int take = (v > best) | (v != v);                                      \
                            best = take ? v : best;                                                \
                            at = take ? r * g->w + q : at;                                         \
                        }                                                                          \
                    values[p * out + y * g->ow + xo] = best;                                       \
                    indices[p * out + y * g->ow + xo] = at;                                        \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
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
