/* One precision of the fused convolution in tnm_conv_fused.h; included there twice, with T = float
 * and S = s, then T = double and S = d. Every name it defines ends in _s or _d. */
#define CFN(name) TNM_CAT(name, TNM_CAT(_, S))

/* per-thread buffers, kept between calls as the matmul keeps its packing buffers: the column
 * tile, and the product dW of one tile before it is added to the task's sum */
static _Thread_local T* CFN(tnm_conv_cols);
static _Thread_local size_t CFN(tnm_conv_cols_cap);
static _Thread_local T* CFN(tnm_conv_dw);
static _Thread_local size_t CFN(tnm_conv_dw_cap);
static _Thread_local T* CFN(tnm_conv_out);      /* several samples' y or g rows side by side */
static _Thread_local size_t CFN(tnm_conv_out_cap);
static _Thread_local T* CFN(tnm_conv_gz);       /* one sample's g through the activation's derivative */
static _Thread_local size_t CFN(tnm_conv_gz_cap);

/* out[i] = g[i] * act'(.) from the activation's output y (conv2d_act_backward), the loops of the
 * backward activation kernels (_activations.pxd): relu's g where y > 0 (y > 0 exactly where the
 * convolution's output is), sigmoid's g y (1 - y), tanh's g (1 - y^2). */
static void CFN(tnm_conv_act_grad)(int act, const T* y, const T* g, T* out, long n) {
    if (act == TNM_CONV_RELU)
        for (long i = 0; i < n; i++) out[i] = y[i] > (T)0 ? g[i] : (T)0;
    else if (act == TNM_CONV_SIGMOID)
        for (long i = 0; i < n; i++) out[i] = g[i] * y[i] * ((T)1 - y[i]);
    else
        for (long i = 0; i < n; i++) out[i] = g[i] * ((T)1 - y[i] * y[i]);
}

/* image += col2im of one tile's columns (t: the tile's window, image one sample's (C, H, W)).
 * tnm_col2im zeroes each plane first; the tiles of a sample add into the same planes. */
static void CFN(tnm_col2im_add)(const T* cols, const tnm_window* t, T* image) {
    long L = t->oh * t->ow;
    for (long c = 0; c < t->c; c++) {
        T* plane = image + c * t->h * t->w;
        for (long i = 0; i < t->kh; i++)
        for (long j = 0; j < t->kw; j++) {
            const T* row = cols + ((c * t->kh + i) * t->kw + j) * L;
            long off = j * t->dw - t->left, x0, x1;
            tnm_valid_range(off, t->sw, t->w, t->ow, &x0, &x1);
            for (long y = 0; y < t->oh; y++, row += t->ow) {
                long r = y * t->sh + i * t->dh - t->top;
                if (r < 0 || r >= t->h) continue;
                T* dst = plane + r * t->w;
                if (t->sw == 1) for (long x = x0; x < x1; x++) dst[x + off] += row[x];
                else for (long x = x0; x < x1; x++) dst[x * t->sw + off] += row[x];
            }
        }
    }
}

/* x[0] + ... + x[n-1] in 16 running sums (one vector's worth, or two): a single sum would wait on
 * each add's latency, and the compiler may not reorder float additions to vectorise it itself */
static inline T CFN(tnm_conv_sum)(const T* x, long n) {
    T part[16] = {0}, sum = 0;
    long l = 0;
    for (; l + 16 <= n; l += 16)
        for (int v = 0; v < 16; v++) part[v] += x[l + v];
    for (; l < n; l++) sum += x[l];
    for (int v = 0; v < 16; v++) sum += part[v];
    return sum;
}

typedef struct {
    const tnm_conv_shape* s;
    const T* x;             /* (N, C, H, W), C-contiguous */
    const T* w;             /* (O, C / groups, kh, kw), C-contiguous */
    const T* bias;          /* forward: (O,) or NULL */
    T* wb;                  /* forward with a bias: (O, C/groups * kh * kw + 1), w's rows then the bias */
    T* y;                   /* forward: (N, O, oh, ow) */
    int act;                /* TNM_CONV_NONE, or the activation applied to y (conv2d_act) */
    CFN(tnm_rows_fn) rows;  /* forward: sigmoid's or tanh's loop, for the matmul's epilogue */
    const T* ya;            /* backward with act: the activation's output y, (N, O, oh, ow) */
    const T* gy;            /* backward: y's gradient, (N, O, oh, ow) */
    T* dx;                  /* backward: (N, C, H, W), or NULL when not wanted */
    T* partial;             /* backward: per task, its dW sum (per group k, dW_k^T: (C/G*kh*kw, O/G)) then db (O) */
    long per_task;          /* backward: tile units (s->samples samples each) per task */
    int gemm_threads;       /* the threads each product may use (1 when the samples are the tasks) */
    _Atomic int failed;
} CFN(tnm_conv_job);

/* The matmul's epilogue for the job's activation: relu in its registers, sigmoid / tanh by `rows`. */
static inline int CFN(tnm_conv_gemm_act)(const CFN(tnm_conv_job)* j) {
    return j->act == TNM_CONV_NONE ? TNM_ACT_NONE : j->act == TNM_CONV_RELU ? TNM_ACT_RELU : TNM_ACT_ROWS;
}

/* y[n] = act(W @ cols + bias), tile by tile. With a bias, each group's block of the tile gets one more
 * row, of ones, and its weight rows one more column, the bias (j->wb): the matmul adds it, instead
 * of a second pass over y (K grows by one: 0.3% more multiply-adds at K = 288). */
static void CFN(tnm_conv_forward_sample)(CFN(tnm_conv_job)* j, long n) {
    const tnm_conv_shape* s = j->s;
    const tnm_window* g = &s->g;
    long G = s->groups, cg = g->c / G, og = s->o / G, ckg = cg * g->kh * g->kw, L = g->oh * g->ow;
    long kb = ckg + (j->bias != NULL);     /* a group's rows in the tile */
    const T* w = j->bias ? j->wb : j->w;   /* (O, kb): the weight, and the bias as a last column */
    T* cols = CFN(tnm_buffer)(&CFN(tnm_conv_cols), &CFN(tnm_conv_cols_cap), (size_t)(G * kb * s->rows * g->ow));
    if (!cols) {
        atomic_store(&j->failed, 1);
        return;
    }
    const T* x = j->x + n * g->c * g->h * g->w;
    T* y = j->y + n * s->o * L;
    for (long y0 = 0; y0 < g->oh; y0 += s->rows) {
        long y1 = y0 + s->rows < g->oh ? y0 + s->rows : g->oh, tl = (y1 - y0) * g->ow;
        tnm_window t = tnm_conv_tile(g, y0, y1);
        t.c = cg;
        for (long k = 0; k < G; k++) {   /* group k: its channels' columns, its weight rows */
            T* block = cols + k * kb * tl;
            CFN(tnm_im2col)(x + k * cg * g->h * g->w, &t, block);
            for (long l = 0; l < tl * (kb - ckg); l++) block[ckg * tl + l] = 1;
            if (CFN(tnm_gemm_epi)(og, tl, kb, w + k * og * kb, kb, 1, block, tl, 1, y + k * og * L + y0 * g->ow, L,
                                  NULL, CFN(tnm_conv_gemm_act)(j), j->rows, j->gemm_threads))
                atomic_store(&j->failed, 1);
        }
    }
}

/* Samples [n0, n0 + m) as one tile (small images, groups = 1): their columns side by side,
 * (C*kh*kw, m * oh*ow), one product into m samples' rows of y at once, then each sample's rows
 * copied to its place (a product over m * oh*ow columns, not m thin ones). */
static void CFN(tnm_conv_forward_samples)(CFN(tnm_conv_job)* j, long n0, long m) {
    const tnm_conv_shape* s = j->s;
    const tnm_window* g = &s->g;
    long ck = g->c * g->kh * g->kw, kb = ck + (j->bias != NULL), L = g->oh * g->ow, cl = m * L;
    T* cols = CFN(tnm_buffer)(&CFN(tnm_conv_cols), &CFN(tnm_conv_cols_cap), (size_t)(kb * s->samples * L));
    T* out = CFN(tnm_buffer)(&CFN(tnm_conv_out), &CFN(tnm_conv_out_cap), (size_t)(s->o * s->samples * L));
    if (!cols || !out) {
        atomic_store(&j->failed, 1);
        return;
    }
    tnm_window t = *g;
    t.n = m;
    CFN(tnm_im2col)(j->x + n0 * g->c * g->h * g->w, &t, cols);
    for (long l = 0; l < cl * (kb - ck); l++) cols[ck * cl + l] = 1;
    if (CFN(tnm_gemm_epi)(s->o, cl, kb, j->bias ? j->wb : j->w, kb, 1, cols, cl, 1, out, cl, NULL,
                          CFN(tnm_conv_gemm_act)(j), j->rows, j->gemm_threads))
        atomic_store(&j->failed, 1);
    for (long i = 0; i < m; i++)
        for (long o = 0; o < s->o; o++)
            memcpy(j->y + ((n0 + i) * s->o + o) * L, out + o * cl + i * L, (size_t)L * sizeof(T));
}

/* Task u: tile unit u, s->samples whole samples, or one sample in tiles of s->rows output rows. */
static void CFN(tnm_conv_forward_unit)(void* arg, long u) {
    CFN(tnm_conv_job)* j = (CFN(tnm_conv_job)*)arg;
    long n0 = u * j->s->samples, m = j->s->n - n0 < j->s->samples ? j->s->n - n0 : j->s->samples;
    if (j->s->samples > 1) CFN(tnm_conv_forward_samples)(j, n0, m);
    else CFN(tnm_conv_forward_sample)(j, u);
}

/* The backward of samples [n0, n0 + m) as one tile (forward_samples): their rows of g gathered
 * side by side, one product for dW, one for the columns' gradient, col2im of all m images. */
static void CFN(tnm_conv_backward_samples)(CFN(tnm_conv_job)* j, long n0, long m, T* dwt, T* db, T* cols, T* tmp) {
    const tnm_conv_shape* s = j->s;
    const tnm_window* g = &s->g;
    long ck = g->c * g->kh * g->kw, L = g->oh * g->ow, cl = m * L;
    T* gt = CFN(tnm_buffer)(&CFN(tnm_conv_out), &CFN(tnm_conv_out_cap), (size_t)(s->o * s->samples * L));
    if (!gt) {
        atomic_store(&j->failed, 1);
        return;
    }
    tnm_window t = *g;
    t.n = m;
    CFN(tnm_im2col)(j->x + n0 * g->c * g->h * g->w, &t, cols);
    for (long i = 0; i < m; i++)
        for (long o = 0; o < s->o; o++) {
            long at = ((n0 + i) * s->o + o) * L;
            if (j->act) CFN(tnm_conv_act_grad)(j->act, j->ya + at, j->gy + at, gt + o * cl + i * L, L);
            else memcpy(gt + o * cl + i * L, j->gy + at, (size_t)L * sizeof(T));
        }
    if (CFN(tnm_gemm)(ck, s->o, cl, cols, cl, 1, gt, 1, cl, tmp, s->o, j->gemm_threads))
        atomic_store(&j->failed, 1);
    for (long e = 0; e < s->o * ck; e++) dwt[e] += tmp[e];
    for (long o = 0; o < s->o; o++) db[o] += CFN(tnm_conv_sum)(gt + o * cl, cl);
    if (!j->dx) return;
    if (CFN(tnm_gemm)(ck, cl, s->o, j->w, 1, ck, gt, cl, 1, cols, cl, j->gemm_threads))
        atomic_store(&j->failed, 1);
    CFN(tnm_col2im)(cols, &t, j->dx + n0 * g->c * g->h * g->w);   /* zeroes each image plane first */
}

/* Task t: tile units [t * per_task, ...): their dW and db into the task's partial sums, dx whole. */
static void CFN(tnm_conv_backward_task)(void* arg, long task) {
    CFN(tnm_conv_job)* j = (CFN(tnm_conv_job)*)arg;
    const tnm_conv_shape* s = j->s;
    const tnm_window* g = &s->g;
    long ck = g->c * g->kh * g->kw, G = s->groups, og = s->o / G, ckg = ck / G, L = g->oh * g->ow;
    long image = g->c * g->h * g->w, n0 = task * j->per_task * s->samples;
    long n1 = n0 + j->per_task * s->samples < s->n ? n0 + j->per_task * s->samples : s->n;
    T* dwt = j->partial + task * (s->o * ckg + s->o);     /* per group, dW_k transposed: (ckg, og) */
    T* db = dwt + s->o * ckg;
    T* cols = CFN(tnm_buffer)(&CFN(tnm_conv_cols), &CFN(tnm_conv_cols_cap),
                              (size_t)(ck * s->rows * g->ow * s->samples));
    T* tmp = CFN(tnm_buffer)(&CFN(tnm_conv_dw), &CFN(tnm_conv_dw_cap), (size_t)(og * ckg));
    if (!cols || !tmp) {
        atomic_store(&j->failed, 1);
        return;
    }
    if (s->samples > 1) {   /* whole samples, s->samples per tile (groups = 1) */
        for (long n = n0; n < n1; n += s->samples)
            CFN(tnm_conv_backward_samples)(j, n, n1 - n < s->samples ? n1 - n : s->samples, dwt, db, cols, tmp);
        return;
    }
    T* gz = j->act ? CFN(tnm_buffer)(&CFN(tnm_conv_gz), &CFN(tnm_conv_gz_cap), (size_t)(s->o * L)) : NULL;
    if (j->act && !gz) {
        atomic_store(&j->failed, 1);
        return;
    }
    for (long n = n0; n < n1; n++) {
        const T* x = j->x + n * image;
        const T* gy = j->gy + n * s->o * L;
        if (gz) {   /* this sample's g through act', in L2 for the products that read it next */
            CFN(tnm_conv_act_grad)(j->act, j->ya + n * s->o * L, gy, gz, s->o * L);
            gy = gz;
        }
        T* dx = j->dx ? j->dx + n * image : NULL;
        if (dx && s->rows < g->oh) memset(dx, 0, (size_t)image * sizeof(T));  /* tiles add into it */
        for (long y0 = 0; y0 < g->oh; y0 += s->rows) {
            long y1 = y0 + s->rows < g->oh ? y0 + s->rows : g->oh, tl = (y1 - y0) * g->ow;
            tnm_window t = tnm_conv_tile(g, y0, y1);
            CFN(tnm_im2col)(x, &t, cols);
            /* dW_k^T += cols_k (ckg, tl) @ g_k^T (tl, og): the transposed product, so that C is
             * contiguous (the matmul would pick C^T itself for a (og, tl) @ (tl, ckg) product, og
             * being short, and then store every block through its column stride) */
            for (long k = 0; k < G; k++) {
                const T* gk = gy + k * og * L + y0 * g->ow;
                if (CFN(tnm_gemm)(ckg, og, tl, cols + k * ckg * tl, tl, 1, gk, 1, L, tmp, og, j->gemm_threads))
                    atomic_store(&j->failed, 1);
                T* acc = dwt + k * og * ckg;
                for (long e = 0; e < og * ckg; e++) acc[e] += tmp[e];
            }
            for (long o = 0; o < s->o; o++) db[o] += CFN(tnm_conv_sum)(gy + o * L + y0 * g->ow, tl);
            if (!dx) continue;
            for (long k = 0; k < G; k++)    /* cols_k = W_k^T (ckg, og) @ g_k (og, tl), over the used columns */
                if (CFN(tnm_gemm)(ckg, tl, og, j->w + k * og * ckg, 1, ckg, gy + k * og * L + y0 * g->ow, L, 1,
                                  cols + k * ckg * tl, tl, j->gemm_threads))
                    atomic_store(&j->failed, 1);
            if (s->rows < g->oh) CFN(tnm_col2im_add)(cols, &t, dx);
            else CFN(tnm_col2im)(cols, &t, dx);   /* the one tile: each plane zeroed as it is filled, in L1 */
        }
    }
}

/* y (N, O, oh, ow) = act(conv2d(x, w) + bias) (bias may be NULL; act TNM_CONV_*, `rows` sigmoid's or
 * tanh's loop for those). Returns 0, or -1 if a buffer could not be allocated (y is then incomplete). */
static int CFN(tnm_conv2d)(const tnm_conv_shape* s, const T* x, const T* w, const T* bias, T* y, int act,
                           CFN(tnm_rows_fn) rows, int nthreads) {
    CFN(tnm_conv_job) j;
    memset(&j, 0, sizeof j);
    j.s = s, j.x = x, j.w = w, j.bias = bias, j.y = y, j.act = act, j.rows = rows;
    atomic_init(&j.failed, 0);
    if (bias) {
        long ckg = s->g.c / s->groups * s->g.kh * s->g.kw;
        j.wb = (T*)malloc((size_t)(s->o * (ckg + 1)) * sizeof(T));
        if (!j.wb) return -1;
        for (long o = 0; o < s->o; o++) {
            memcpy(j.wb + o * (ckg + 1), w + o * ckg, (size_t)ckg * sizeof(T));
            j.wb[o * (ckg + 1) + ckg] = bias[o];
        }
    }
    long units = (s->n + s->samples - 1) / s->samples;
    if (nthreads > 1 && units >= nthreads) {   /* the tile units are the tasks, each product on one thread */
        j.gemm_threads = 1;
        tnm_parallel(CFN(tnm_conv_forward_unit), &j, units, nthreads);
    } else {                                   /* fewer units than threads: each product uses them all */
        j.gemm_threads = nthreads;
        for (long u = 0; u < units; u++) CFN(tnm_conv_forward_unit)(&j, u);
    }
    free(j.wb);
    return atomic_load(&j.failed) ? -1 : 0;
}

/* dW (O, C/groups, kh, kw), db (O,) and dx (N, C, H, W) of y = act(conv2d(x, w) + b), from gy, y's
 * gradient, and (act not TNM_CONV_NONE) ya, y itself; dx and db may be NULL (not wanted). Returns 0,
 * or -1 if a buffer could not be allocated (the outputs are then incomplete). */
static int CFN(tnm_conv2d_backward)(const tnm_conv_shape* s, const T* x, const T* w, const T* gy, T* dx, T* dw,
                                    T* db, int act, const T* ya, int nthreads) {
    CFN(tnm_conv_job) j;
    long ckg = s->g.c * s->g.kh * s->g.kw / s->groups, each = s->o * ckg + s->o;
    long ntasks = 1;
    memset(&j, 0, sizeof j);
    j.s = s, j.x = x, j.w = w, j.gy = gy, j.dx = dx, j.act = act, j.ya = ya;
    atomic_init(&j.failed, 0);
    j.gemm_threads = nthreads;
    long units = (s->n + s->samples - 1) / s->samples;
    if (nthreads > 1 && units >= nthreads) {
        /* 2 runs of tile units per thread: a thread slowed by another process ends up with fewer */
        ntasks = units < 2 * nthreads ? units : 2 * nthreads;
        j.gemm_threads = 1;
    }
    j.per_task = (units + ntasks - 1) / ntasks;
    ntasks = (units + j.per_task - 1) / j.per_task;
    j.partial = (T*)calloc((size_t)(ntasks * each), sizeof(T));
    if (!j.partial) return -1;
    if (ntasks > 1) tnm_parallel(CFN(tnm_conv_backward_task), &j, ntasks, nthreads);
    else if (s->n > 0) CFN(tnm_conv_backward_task)(&j, 0);
    long og = s->o / s->groups;
    for (long e = 0; e < each; e++) {        /* the tasks' partial sums, in task order (deterministic) */
        T sum = 0;
        for (long t = 0; t < ntasks; t++) sum += j.partial[t * each + e];
        if (e >= s->o * ckg) {
            if (db) db[e - s->o * ckg] = sum;
            continue;
        }
        long k = e / (og * ckg), i = e % (og * ckg) / og, o = e % og;   /* dW_k^T[i][o] = dW[k * og + o][i] */
        dw[(k * og + o) * ckg + i] = sum;
    }
    free(j.partial);
    return atomic_load(&j.failed) ? -1 : 0;
}

#undef CFN
