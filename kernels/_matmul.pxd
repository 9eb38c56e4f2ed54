# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Blocked matrix multiply, out = a @ b, in the style of GotoBLAS / BLIS.

The loops, outermost first:
  1. pack all of b once into column panels NR wide (zero-padded), so the
     inner kernel reads b contiguously whatever b's strides were;
  2. cut out into tiles of at most MC rows x a run of panels, and share the
     tiles among the OpenMP threads (each tile is written by one thread);
  3. inside a tile, walk k in slices of at most KC (all of equal length); pack
     the tile's rows of a for that slice into row panels MR high (zero-padded);
  4. for every MR x NR block of the tile, the micro-kernel keeps the MR x NR
     sums in vector registers while it runs along the k slice.

Sizes: a row of the register block is two vector registers (NR = 16 floats
with AVX2, 32 with AVX-512), so the MR x NR sums take 2 * MR registers. MR = 4
gives 8 independent FMA chains, enough to hide the FMA latency on two FMA
units, and leaves registers for b and the broadcasts of a (GCC spills with
MR = 6 on AVX2's 16 registers). One packed b panel (KC x NR) stays in L1,
one packed a block (MC x KC) in L2. Packing reads a and b through their strides,
with fast paths for contiguous rows (and for a transposed a), so any layout works
and the common ones cost one streaming copy.
"""
from libc.stdlib cimport malloc, free
from cython.parallel cimport prange, parallel

ctypedef fused floating:
    float
    double

cdef extern from *:
    """
    /* The vector width the compiler targets; a register-block row is two vectors. */
    #if defined(__AVX512F__)
    #define TNM_VEC_BYTES 64
    #elif defined(__AVX__)
    #define TNM_VEC_BYTES 32
    #else
    #define TNM_VEC_BYTES 16
    #endif
    """
    const int TNM_VEC_BYTES

cdef enum:
    MR = 4            # rows of the register block (the micro-kernel below spells out 4 rows)
    NR_MAX = 32       # the widest NR: 2 AVX-512 vectors of floats
    KC = 256          # length of the k slice a packed panel covers
    MC = 96           # most rows of a tile (a multiple of MR)
    MIN_PANELS = 4    # a tile spans at least this many b panels, so packing a is amortised


cdef inline void _micro_kernel(Py_ssize_t kc, const floating* ap, const floating* bp,
                               floating* c, Py_ssize_t ldc, Py_ssize_t mr, Py_ssize_t nr,
                               bint accumulate) noexcept nogil:
    """c[:mr, :nr] (+)= the MR x kc panel at ap times the kc x NR panel at bp.

    ap holds kc groups of MR values of a, bp kc groups of NR values of b. Each row of sums is
    its own small array and the j loop has a compile-time length, so the compiler turns the
    j loop into vector FMAs and keeps r0..r3 in registers."""
    cdef Py_ssize_t NR = 2 * TNM_VEC_BYTES // sizeof(floating)
    cdef floating r0[NR_MAX]
    cdef floating r1[NR_MAX]
    cdef floating r2[NR_MAX]
    cdef floating r3[NR_MAX]
    cdef floating a0, a1, a2, a3, bj
    cdef const floating* bq
    cdef floating acc[MR * NR_MAX]
    cdef Py_ssize_t p, i, j
    for j in range(NR):
        r0[j] = 0
        r1[j] = 0
        r2[j] = 0
        r3[j] = 0
    for p in range(kc):
        a0 = ap[p * MR]
        a1 = ap[p * MR + 1]
        a2 = ap[p * MR + 2]
        a3 = ap[p * MR + 3]
        bq = bp + p * NR
        for j in range(NR):
            bj = bq[j]
            r0[j] += a0 * bj
            r1[j] += a1 * bj
            r2[j] += a2 * bj
            r3[j] += a3 * bj
    if mr == MR and nr == NR:   # a whole block: four rows, constant-length loops the compiler vectorises
        if accumulate:
            for j in range(NR):
                c[j] += r0[j]
                c[ldc + j] += r1[j]
                c[2 * ldc + j] += r2[j]
                c[3 * ldc + j] += r3[j]
        else:
            for j in range(NR):
                c[j] = r0[j]
                c[ldc + j] = r1[j]
                c[2 * ldc + j] = r2[j]
                c[3 * ldc + j] = r3[j]
        return
    # A block on the edge of c: gather the rows into one array, write back only the mr x nr
    # corner inside c (the rest is padding). Copying, not pointing at r0..r3, keeps them
    # private so they stay in registers.
    for j in range(NR):
        acc[j] = r0[j]
        acc[NR + j] = r1[j]
        acc[2 * NR + j] = r2[j]
        acc[3 * NR + j] = r3[j]
    for i in range(mr):
        if accumulate:
            for j in range(nr):
                c[i * ldc + j] += acc[i * NR + j]
        else:
            for j in range(nr):
                c[i * ldc + j] = acc[i * NR + j]


cdef inline void _pack_b_panel(const floating[:, :] b, floating* dst, Py_ssize_t k0, Py_ssize_t kc,
                               Py_ssize_t j0) noexcept nogil:
    """dst[p * NR + j] = b[k0 + p, j0 + j], zero past b's last column."""
    cdef Py_ssize_t NR = 2 * TNM_VEC_BYTES // sizeof(floating)
    cdef Py_ssize_t N = b.shape[1]
    cdef Py_ssize_t nr = NR if j0 + NR <= N else N - j0
    cdef Py_ssize_t p, j, ldb
    cdef const floating* src
    if b.strides[1] == sizeof(floating) and b.strides[0] % sizeof(floating) == 0:
        # rows of b are contiguous: copy runs of NR (a constant-length loop: vector moves)
        ldb = b.strides[0] // <Py_ssize_t>sizeof(floating)
        src = &b[k0, j0]
        if nr == NR:
            for p in range(kc):
                for j in range(NR):
                    dst[p * NR + j] = src[p * ldb + j]
        else:
            for p in range(kc):
                for j in range(nr):
                    dst[p * NR + j] = src[p * ldb + j]
                for j in range(nr, NR):
                    dst[p * NR + j] = 0
        return
    if b.strides[0] == sizeof(floating) and b.strides[1] % sizeof(floating) == 0:
        # a transposed view (g @ W.T in a backward pass): each column's k values are contiguous
        ldb = b.strides[1] // <Py_ssize_t>sizeof(floating)
        src = &b[k0, j0]
        for j in range(nr):
            for p in range(kc):
                dst[p * NR + j] = src[j * ldb + p]
        for p in range(kc):
            for j in range(nr, NR):
                dst[p * NR + j] = 0
        return
    for p in range(kc):
        for j in range(nr):
            dst[p * NR + j] = b[k0 + p, j0 + j]
        for j in range(nr, NR):
            dst[p * NR + j] = 0


cdef inline void _pack_a_block(const floating[:, :] a, floating* dst, Py_ssize_t i0, Py_ssize_t mc,
                               Py_ssize_t k0, Py_ssize_t kc) noexcept nogil:
    """Rows i0..i0+mc of a, columns k0..k0+kc, as panels of MR rows: for panel q,
    dst[q * kc * MR + p * MR + i] = a[i0 + q * MR + i, k0 + p] (zero past the last row)."""
    cdef Py_ssize_t q, p, i, rows, lda
    cdef floating* panel
    cdef const floating* src
    cdef const floating* s0
    cdef const floating* s1
    cdef const floating* s2
    cdef const floating* s3
    cdef bint row_major = a.strides[1] == sizeof(floating) and a.strides[0] % sizeof(floating) == 0
    cdef bint col_major = a.strides[0] == sizeof(floating) and a.strides[1] % sizeof(floating) == 0
    for q in range((mc + MR - 1) // MR):
        panel = dst + q * kc * MR
        rows = MR if (q + 1) * MR <= mc else mc - q * MR
        if rows == MR and row_major:
            # four contiguous rows, interleaved: panel = [s0[0], s1[0], s2[0], s3[0], s0[1], ...]
            lda = a.strides[0] // <Py_ssize_t>sizeof(floating)
            s0 = &a[i0 + q * MR, k0]
            s1 = s0 + lda
            s2 = s1 + lda
            s3 = s2 + lda
            for p in range(kc):
                panel[p * MR] = s0[p]
                panel[p * MR + 1] = s1[p]
                panel[p * MR + 2] = s2[p]
                panel[p * MR + 3] = s3[p]
        elif rows == MR and col_major:
            # a transposed view: each column's MR values are contiguous
            lda = a.strides[1] // <Py_ssize_t>sizeof(floating)
            src = &a[i0 + q * MR, k0]
            for p in range(kc):
                for i in range(MR):
                    panel[p * MR + i] = src[p * lda + i]
        else:
            for p in range(kc):
                for i in range(rows):
                    panel[p * MR + i] = a[i0 + q * MR + i, k0 + p]
            for p in range(kc):
                for i in range(rows, MR):
                    panel[p * MR + i] = 0


cdef struct _Plan:
    # how one product is cut up (see matmul_kernel)
    Py_ssize_t M, N, K
    Py_ssize_t n_panels, n_pad   # b's column panels, and N padded to whole panels
    Py_ssize_t kcb, n_kslices    # k slice length and count
    Py_ssize_t mcb               # rows of a tile
    Py_ssize_t n_tiles           # tiles across the columns (each a run of panels_per_tile panels)
    Py_ssize_t panels_per_tile
    Py_ssize_t tiles             # in all


cdef inline void _pack_b_part(const floating[:, :] b, floating* bpack, _Plan* plan,
                              Py_ssize_t t) noexcept nogil:
    """Pack part t of b: k slice t // n_panels, panel t % n_panels. b packed is laid out as
    [k slice][panel][p][NR]: the slice starting at k0 begins at k0 * n_pad."""
    cdef Py_ssize_t NR = 2 * TNM_VEC_BYTES // sizeof(floating)
    cdef Py_ssize_t q = t % plan.n_panels, k0 = (t // plan.n_panels) * plan.kcb
    cdef Py_ssize_t kc = plan.kcb if k0 + plan.kcb <= plan.K else plan.K - k0
    _pack_b_panel(b, bpack + k0 * plan.n_pad + q * kc * NR, k0, kc, q * NR)


cdef inline void _tile(floating* apack, const floating* bpack, const floating[:, :] a, floating* c,
                       _Plan* plan, Py_ssize_t t) noexcept nogil:
    """Tile t of out = a @ packed b: its rows of a packed one k slice at a time into apack, then
    every MR x NR block of the tile by the micro-kernel."""
    cdef Py_ssize_t NR = 2 * TNM_VEC_BYTES // sizeof(floating)
    cdef Py_ssize_t N = plan.N, K = plan.K, kcb = plan.kcb
    cdef Py_ssize_t i0 = (t // plan.n_tiles) * plan.mcb
    cdef Py_ssize_t mc = plan.mcb if i0 + plan.mcb <= plan.M else plan.M - i0
    cdef Py_ssize_t jp0 = (t % plan.n_tiles) * plan.panels_per_tile
    cdef Py_ssize_t jp1 = jp0 + plan.panels_per_tile if jp0 + plan.panels_per_tile <= plan.n_panels \
        else plan.n_panels
    cdef Py_ssize_t s, q, k0, kc, jp, ir, mr, nr
    for s in range(plan.n_kslices):
        k0 = s * kcb
        kc = kcb if k0 + kcb <= K else K - k0
        _pack_a_block(a, apack, i0, mc, k0, kc)
        for jp in range(jp0, jp1):
            nr = NR if (jp + 1) * NR <= N else N - jp * NR
            for q in range((mc + MR - 1) // MR):
                ir = q * MR
                mr = MR if ir + MR <= mc else mc - ir
                # the k slice at k0 of packed b starts at k0 * n_pad; its panel jp is kc * NR long
                _micro_kernel(kc, apack + ir * kc, bpack + k0 * plan.n_pad + jp * kc * NR,
                              c + (i0 + ir) * N + jp * NR, N, mr, nr, k0 > 0)


cdef inline _Plan _plan(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, Py_ssize_t NR,
                        int num_threads) noexcept nogil:
    cdef _Plan plan
    plan.M, plan.N, plan.K = M, N, K
    plan.n_panels = (N + NR - 1) // NR
    plan.n_pad = plan.n_panels * NR
    # k slices of even length (784 = 4 x 196, not 3 x 256 + 16): no sliver at the end
    plan.n_kslices = (K + KC - 1) // KC
    plan.kcb = (K + plan.n_kslices - 1) // plan.n_kslices
    # row tiles of even height, as many as a multiple of the thread count when there are more
    # than threads, so each thread gets the same number of (nearly) equal tiles
    cdef Py_ssize_t m_tiles = (M + MC - 1) // MC
    if m_tiles > num_threads and m_tiles % num_threads:
        m_tiles += num_threads - m_tiles % num_threads
    plan.mcb = ((M + m_tiles - 1) // m_tiles + MR - 1) // MR * MR
    m_tiles = (M + plan.mcb - 1) // plan.mcb
    # too few row tiles for the threads (a short a): split the columns too, into runs of at
    # least MIN_PANELS panels, for a tile per thread (more would pack the same rows of a again)
    cdef Py_ssize_t n_tiles = (num_threads + m_tiles - 1) // m_tiles
    if n_tiles > plan.n_panels // MIN_PANELS:
        n_tiles = plan.n_panels // MIN_PANELS
    if n_tiles < 1:
        n_tiles = 1
    plan.panels_per_tile = (plan.n_panels + n_tiles - 1) // n_tiles
    plan.n_tiles = (plan.n_panels + plan.panels_per_tile - 1) // plan.panels_per_tile
    plan.tiles = m_tiles * plan.n_tiles
    return plan


cdef inline int matmul_kernel(const floating[:, :] a, const floating[:, :] b, floating[:, ::1] out,
                              int num_threads) noexcept nogil:
    """out = a @ b for a (M, K), b (K, N) with any strides, out (M, N) C-contiguous, K > 0.
    Returns 0, or -1 if the packed copies could not be allocated."""
    cdef Py_ssize_t NR = 2 * TNM_VEC_BYTES // sizeof(floating)
    cdef _Plan plan = _plan(a.shape[0], b.shape[1], a.shape[1], NR, num_threads)
    cdef floating* bpack = <floating*> malloc(plan.K * plan.n_pad * sizeof(floating))
    cdef floating* apack = NULL  # in the threads: each allocates its own, starting from NULL
    cdef floating* c = &out[0, 0]
    cdef Py_ssize_t t
    cdef int failed[1]  # an array element, not a variable: shared by the threads, not private
    if bpack == NULL:
        return -1
    failed[0] = 0
    if num_threads == 1:  # no thread team to start: the same two phases, in this thread
        apack = <floating*> malloc(MC * KC * sizeof(floating))
        if apack == NULL:
            failed[0] = 1
        else:
            for t in range(plan.n_kslices * plan.n_panels):
                _pack_b_part(b, bpack, &plan, t)
            for t in range(plan.tiles):
                _tile(apack, bpack, a, c, &plan, t)
            free(apack)
        free(bpack)
        return -1 if failed[0] else 0
    with parallel(num_threads=num_threads):  # one team of threads for both phases
        # phase 1: pack b (the end of a prange waits for every thread: b is complete after it)
        for t in prange(plan.n_kslices * plan.n_panels, schedule='static'):
            _pack_b_part(b, bpack, &plan, t)
        # phase 2: the tiles, each thread packing its rows of a into its own buffer
        apack = <floating*> malloc(MC * KC * sizeof(floating))
        if apack == NULL:
            failed[0] = 1
        for t in prange(plan.tiles, schedule='dynamic'):
            if apack != NULL:
                _tile(apack, bpack, a, c, &plan, t)
        free(apack)
    free(bpack)
    return -1 if failed[0] else 0


# --- thin products: out = a @ b with only a few columns (a Linear layer with one output) --------
cdef enum:
    THIN_N = 4        # at most this many columns take the dot-product path below


cdef inline floating _dot(const floating* x, const floating* y, Py_ssize_t n) noexcept nogil:
    """sum_k x[k] * y[k], both contiguous. Partial sums in the lanes of vector registers, as in
    the micro-kernel: 4 NR of them (8 independent FMA chains; 2 would wait on the FMA latency)
    while n allows, then NR, then the last few one by one. Each inner loop has a constant
    length, so it vectorises, and the order of the additions is fixed, so the result does not
    depend on the thread count."""
    cdef Py_ssize_t NR = 2 * TNM_VEC_BYTES // sizeof(floating), W = 4 * NR
    cdef floating acc[4 * NR_MAX]
    cdef floating total = 0
    cdef Py_ssize_t k, j, done = 0
    if n < NR:  # too short for the lanes to pay
        for k in range(n):
            total += x[k] * y[k]
        return total
    for j in range(W):
        acc[j] = 0
    if n >= W:
        for k in range(n // W):
            for j in range(W):
                acc[j] += x[k * W + j] * y[k * W + j]
        done = n // W * W
        for j in range(NR):  # fold the four groups of NR lanes into the first
            acc[j] = (acc[j] + acc[NR + j]) + (acc[2 * NR + j] + acc[3 * NR + j])
    for k in range((n - done) // NR):
        for j in range(NR):
            acc[j] += x[done + k * NR + j] * y[done + k * NR + j]
    done += (n - done) // NR * NR
    for j in range(NR):
        total += acc[j]
    for k in range(done, n):
        total += x[k] * y[k]
    return total


cdef inline int thin_matmul_kernel(const floating[:, :] a, const floating[:, :] b,
                                   floating[:, ::1] out, int num_threads) noexcept nogil:
    """out = a @ b for N = b.shape[1] <= THIN_N and rows of a contiguous (a.strides[1] is one
    element): each output is a dot product of a row of a with a column of b. The general kernel
    would pad b to NR columns (16x the work for one column) and pack all of a; this reads a
    once, in place, and b's columns in place too when they are contiguous (else it copies them
    out, N * K elements). Returns 0, or -1 if that copy could not be allocated."""
    cdef Py_ssize_t M = a.shape[0], K = a.shape[1], N = b.shape[1]
    cdef Py_ssize_t i, j, k, ldb = K
    cdef Py_ssize_t lda = a.strides[0] // <Py_ssize_t>sizeof(floating)
    cdef const floating* a0 = &a[0, 0]
    cdef floating* copy = NULL
    cdef const floating* bt
    if b.strides[0] == sizeof(floating) and b.strides[1] % sizeof(floating) == 0:
        bt = &b[0, 0]  # the columns are contiguous already (b is one column, or transposed)
        ldb = b.strides[1] // <Py_ssize_t>sizeof(floating)
    else:
        copy = <floating*> malloc(N * K * sizeof(floating))
        if copy == NULL:
            return -1
        for j in range(N):
            for k in range(K):
                copy[j * K + k] = b[k, j]
        bt = copy
    if num_threads <= 1:
        for i in range(M):
            for j in range(N):
                out[i, j] = _dot(a0 + i * lda, bt + j * ldb, K)
    else:
        for i in prange(M, num_threads=num_threads, schedule='static'):
            for j in range(N):
                out[i, j] = _dot(a0 + i * lda, bt + j * ldb, K)
    free(copy)
    return 0
