/* tnm_conv_fused.h: the cython backend's fused convolution (kernels.py's `conv2d` and
 * `conv2d_backward`), in C, on top of tnm_conv.h's im2col and tnm_gemm.h's matmul.
 *
 * The composed convolution (conv.py on the other backends) builds the whole column matrix,
 * (C * kh * kw, N * oh * ow): for the classic MNIST CNN's second layer 42 MB, written, read back
 * by the matmul and permuted to NCHW afterwards; and its products are very wide (N * oh * ow =
 * 36864 columns), which the matmul runs far below its speed on square ones. Here the column
 * matrix only ever exists one tile at a time:
 *
 *   forward, per sample n, per tile of output rows [y0, y1) (tl = (y1 - y0) * ow positions):
 *     cols  (C*kh*kw, tl) = im2col of the tile                 (a per-thread buffer, in L2)
 *     y[n, :, tile] = W (O, C*kh*kw) @ cols  (+ bias: a row of ones in cols, b a column of W; y[n] is NCHW)
 *   backward, the same tiles, g[n, :, tile] the output's gradient:
 *     cols  = im2col of the tile again (cheaper than keeping it: L2 traffic, no DRAM)
 *     dW   += g[n, :, tile] @ cols^T                            (per task; summed at the end)
 *     cols  = W^T @ g[n, :, tile]                               (the columns' gradient, same buffer)
 *     dx[n] += col2im of cols                                   (the tile's rows only)
 *     db   += g[n, :, tile] summed along the positions
 *
 * conv2d_act: y = act(...) through the matmul's epilogue as each block of y is stored (relu in
 * the registers); its backward first takes each sample's g through act' (from y) into a buffer
 * that stays in L2 for the products, instead of a pass over the whole g and a second array.
 *
 * Groups: the rows of a tile's column matrix are channel-major, so group k's rows are one
 * contiguous block and each group is one product on its block (no block-diagonal zeros).
 *
 * Threads: the tnm_pool.h pool (no OpenMP: kernels/README.md, "Threads") runs samples (forward)
 * or runs of samples (backward, each with its own dW / db partial sum) as tasks, each calling the
 * matmul on one thread; with fewer samples than threads the samples run in turn and each product
 * uses the threads. A tile holds as many output rows as fit TNM_CONV_TILE_BYTES of columns (at
 * least one row), so the extra memory is (threads x a tile) + (tasks x |W|), whatever N is.
 */
#ifndef TNM_CONV_FUSED_H
#define TNM_CONV_FUSED_H

#include <stdlib.h>
#include <string.h>
#include "tnm_gemm.h"
#include "tnm_conv.h"

/* The activation conv2d_act applies to y (kernels.py's ACTIVATIONS), or none. */
#define TNM_CONV_NONE 0
#define TNM_CONV_RELU 1
#define TNM_CONV_SIGMOID 2
#define TNM_CONV_TANH 3

/* The column tile: a third of L2 (1 MiB L2: ~340 KiB), so the tile, the packed W and the
 * output rows it writes stay in L2 while the matmul runs; at least 64 KiB. */
static long tnm_conv_tile_bytes(void) {
    long bytes = tnm_l2_bytes / 3;
    return bytes < (64L << 10) ? (64L << 10) : bytes;
}

/* One convolution's shape: the per-sample window geometry (g.n = 1) and the rest. */
typedef struct {
    tnm_window g;       /* one sample: (1, C, H, W) image, kernel, stride, dilation, padding, oh, ow */
    long n;             /* samples */
    long o, groups;     /* output channels, groups (C and O both divisible by groups) */
    long rows;          /* output rows per tile */
    long samples;       /* whole samples per tile (> 1 only when rows = oh and groups = 1) */
} tnm_conv_shape;

/* The output rows per tile for this shape: as many as fit the tile budget, at least one. */
static long tnm_conv_rows(const tnm_window* g, long itemsize) {
    long per_row = g->c * g->kh * g->kw * g->ow * itemsize;
    long rows = per_row > 0 ? tnm_conv_tile_bytes() / per_row : g->oh;
    return rows < 1 ? 1 : rows > g->oh ? g->oh : rows;
}

/* Products narrower than this many columns leave the matmul's 32-wide panels and its fixed cost per
 * call a large share: small images are tiled several samples at a time up to it. */
#define TNM_CONV_COLUMNS 512

/* Whole samples per tile: as many as bring a tile to TNM_CONV_COLUMNS positions within the tile
 * budget, leaving each of `nthreads` threads a tile; 1 where a sample is cut into rows or has
 * groups (each group's product reads its own block of every sample's columns). */
static long tnm_conv_samples(const tnm_conv_shape* s, long itemsize, int nthreads) {
    long L = s->g.oh * s->g.ow, per_sample = (s->g.c * s->g.kh * s->g.kw + 1) * L * itemsize;
    if (s->rows < s->g.oh || s->groups > 1 || L >= TNM_CONV_COLUMNS) return 1;
    long m = (TNM_CONV_COLUMNS + L - 1) / L, fit = tnm_conv_tile_bytes() / per_sample;
    long share = (s->n + nthreads - 1) / (nthreads > 0 ? nthreads : 1);
    if (m > fit) m = fit;
    if (m > share) m = share;
    return m < 1 ? 1 : m;
}

/* The window of output rows [y0, y1) of one sample: the same geometry with fewer rows and the
 * top padding moved so that tile row 0 is output row y0 (negative once y0 * sh > top: rows
 * below the padding, which tnm_im2col handles as any offset). */
static inline tnm_window tnm_conv_tile(const tnm_window* g, long y0, long y1) {
    tnm_window t = *g;
    t.n = 1;
    t.oh = y1 - y0;
    t.top = g->top - y0 * g->sh;
    return t;
}

#define T float
#define S s
#include "tnm_conv_fused_body.h"
#undef T
#undef S
#define T double
#define S d
#include "tnm_conv_fused_body.h"
#undef T
#undef S

#endif /* TNM_CONV_FUSED_H */
