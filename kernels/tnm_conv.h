/* tnm_conv.h: im2col and col2im for the cython backend (kernels.py's `conv` family), in C.
 *
 * The column matrix of an (N, C, H, W) image, zero-padded by (top, left) before and enough after:
 *   cols[(c * kh + i) * kw + j][(n * oh + y) * ow + x] = image[n, c, y*sh + i*dh - top, x*sw + j*dw - left]
 * (tinygrad_nm/backends/windows.py). Along a column-matrix row, x runs fastest: for stride 1 each
 * output row of the window is one memcpy of an image row, with zeros only at its padded ends.
 *
 * col2im is the adjoint and goes plane by plane: each (n, c) image plane (a few KiB, in L1) is
 * zeroed and receives every tap's entries in turn, so no two iterations write the same element
 * and there is no scatter: the inner loop is a contiguous += (vectorised for stride 1).
 *
 * Both are memory-bound and run on one thread. The image must be C-contiguous (the caller copies).
 */
#ifndef TNM_CONV_H
#define TNM_CONV_H

#include <string.h>

typedef struct {
    long n, c, h, w;          /* the image */
    long kh, kw, sh, sw, dh, dw, top, left;
    long oh, ow;              /* window positions */
} tnm_window;

/* The x range [x0, x1) of window positions whose tap at column offset `off` (= j*dw - left)
 * falls inside an image row of width w: 0 <= x*sw + off < w. */
static inline void tnm_valid_range(long off, long sw, long w, long ow, long* x0, long* x1) {
    long lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
    long hi = (w - 1 - off) < 0 ? 0 : (w - 1 - off) / sw + 1;
    if (hi > ow) hi = ow;
    if (lo > hi) lo = hi;
    *x0 = lo;
    *x1 = hi;
}

#define TNM_CONV_DEFINE(T, S)                                                                        \
static void tnm_im2col_##S(const T* image, const tnm_window* g, T* cols) {                         \
    long L = g->n * g->oh * g->ow;                                                                 \
    for (long c = 0; c < g->c; c++)                                                                \
    for (long i = 0; i < g->kh; i++)                                                               \
    for (long j = 0; j < g->kw; j++) {                                                             \
        T* row = cols + ((c * g->kh + i) * g->kw + j) * L;                                         \
        long off = j * g->dw - g->left, x0, x1;                                                    \
        tnm_valid_range(off, g->sw, g->w, g->ow, &x0, &x1);                                        \
        for (long n = 0; n < g->n; n++) {                                                          \
            const T* plane = image + (n * g->c + c) * g->h * g->w;                                 \
            for (long y = 0; y < g->oh; y++, row += g->ow) {                                       \
                long r = y * g->sh + i * g->dh - g->top;                                           \
                if (r < 0 || r >= g->h) {                                                          \
                    memset(row, 0, g->ow * sizeof(T));                                             \
                    continue;                                                                      \
                }                                                                                  \
                const T* src = plane + r * g->w;  /* tap x reads src[x * sw + off] */              \
                for (long x = 0; x < x0; x++) row[x] = 0;                                          \
                if (g->sw == 1) memcpy(row + x0, src + x0 + off, (x1 - x0) * sizeof(T));           \
                else for (long x = x0; x < x1; x++) row[x] = src[x * g->sw + off];                 \
                for (long x = x1; x < g->ow; x++) row[x] = 0;                                      \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
}                                                                                                  \
                                                                                                   \
static void tnm_col2im_##S(const T* cols, const tnm_window* g, T* image) {                         \
    long L = g->n * g->oh * g->ow;                                                                 \
    for (long n = 0; n < g->n; n++)                                                                \
    for (long c = 0; c < g->c; c++) {                                                              \
        T* plane = image + (n * g->c + c) * g->h * g->w;                                           \
        memset(plane, 0, g->h * g->w * sizeof(T));                                                 \
        for (long i = 0; i < g->kh; i++)                                                           \
        for (long j = 0; j < g->kw; j++) {                                                         \
            const T* row = cols + ((c * g->kh + i) * g->kw + j) * L + n * g->oh * g->ow;           \
            long off = j * g->dw - g->left, x0, x1;                                                \
            tnm_valid_range(off, g->sw, g->w, g->ow, &x0, &x1);                                    \
            for (long y = 0; y < g->oh; y++, row += g->ow) {                                       \
                long r = y * g->sh + i * g->dh - g->top;                                           \
                if (r < 0 || r >= g->h) continue;                                                  \
                T* dst = plane + r * g->w;                                                         \
                if (g->sw == 1) for (long x = x0; x < x1; x++) dst[x + off] += row[x];             \
                else for (long x = x0; x < x1; x++) dst[x * g->sw + off] += row[x];                \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
}

TNM_CONV_DEFINE(float, s)
TNM_CONV_DEFINE(double, d)

#endif
