"""Matmul: three kernels for (M, K) @ (K, N), chosen by the output's shape. A batch
(B, M, K) @ (B, K, N) of thin products (those the direct kernel takes) is one launch of its
batched form over every output element of the batch; a batch of larger ones launches the tiled
or register-blocked kernel once per pair of matrices, each writing its slice of one output
(napkin prices those B launches: pricing.launches).

- direct: one thread per output element, A's row and B's column read from global memory; for
  thin products (a matrix times a vector, a batch of 4 times 10 classes) where a tile would idle.
- tiled: tile x tile threads per block, a tile of A and of B staged in shared memory per step.
- register_blocked: each thread computes a TM x TN sub-tile of a BM x BN block tile in registers.

The sizes are device.LaunchPolicy's (its gpu_policy docstring says why those, from the resource
table in bench/README.md: registers, shared memory and occupancy of each kernel on sm_80/sm_90).
"""
import functools

import numpy as np
from numba import cuda

from tinygrad_nm import dtypes
from tinygrad_nm.backends.numba_cuda import device as D
from tinygrad_nm.backends.numba_cuda.elementwise import DEVICE_FUNCTIONS, ne
from tinygrad_nm.backends.numba_cuda.indexing import permute
from tinygrad_nm.backends.numba_cuda.jit import constants, device_function, kernel, map_, scalar
from tinygrad_nm.backends.numba_cuda.storage import astype, contiguous, fill

__all__ = ["matmul", "linear_act", "axpy"]


# --- device side ------------------------------------------------------------------------------
@functools.cache
def direct_matmul(dtype):
    """C = A @ B (2-D, contiguous) with one thread per output element reading A's row and B's
    column straight from global memory: for products with a thin side (a matrix times a
    vector, a batch of 4 times 10 classes) where a shared-memory tile would mostly idle.
    Neighbouring threads take neighbouring columns: B and C accesses are coalesced."""
    zero = dtype(0)

    @kernel
    def matmul(A, B, C, M, N, K):
        for e in range(cuda.grid(1), M * N, cuda.gridsize(1)):
            i = e // N
            j = e - i * N
            acc = zero
            for k in range(K):
                acc += A[i, k] * B[k, j]
            C[i, j] = acc

    return matmul


@functools.cache
def batched_direct_matmul(dtype):
    """direct_matmul over a batch (3-D, contiguous): C[p] = A[p] @ B[p], one thread per output
    element of the whole batch, so a batch of small products is one launch, not B."""
    zero = dtype(0)

    @kernel
    def matmul(A, B, C, P, M, N, K):
        for e in range(cuda.grid(1), P * M * N, cuda.gridsize(1)):
            p = e // (M * N)
            r = e - p * (M * N)
            i = r // N
            j = r - i * N
            acc = zero
            for k in range(K):
                acc += A[p, i, k] * B[p, k, j]
            C[p, i, j] = acc

    return matmul


@functools.cache
def tiled_matmul(tile, dtype, checked):
    """C = A @ B (2-D, contiguous), one thread per output element, blocks of tile x tile threads.

    Each block walks K in steps of `tile`, staging a tile of A and one of B in shared memory so
    that every element loaded from global memory is used `tile` times. threadIdx.x runs along
    the columns: the loads of B and stores of C are coalesced, and sA[ty, k] is one address per
    warp (a broadcast). checked=False drops the bounds tests when the shape is a tile multiple."""
    zero = dtype(0)

    @kernel
    def matmul(A, B, C, M, N, K):
        sA = cuda.shared.array((tile, tile), dtype)
        sB = cuda.shared.array((tile, tile), dtype)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        row = cuda.blockIdx.y * tile + ty
        col = cuda.blockIdx.x * tile + tx
        acc = zero
        for k0 in range(0, K, tile):
            if checked:
                sA[ty, tx] = A[row, k0 + tx] if row < M and k0 + tx < K else zero
                sB[ty, tx] = B[k0 + ty, col] if k0 + ty < K and col < N else zero
            else:
                sA[ty, tx] = A[row, k0 + tx]
                sB[ty, tx] = B[k0 + ty, col]
            cuda.syncthreads()
            for k in range(tile):
                acc += sA[ty, k] * sB[k, tx]
            cuda.syncthreads()
        if not checked or (row < M and col < N):
            C[row, col] = acc

    return matmul


@functools.cache
def register_blocked_matmul(bm, bn, bk, tm, tn, dtype, checked):
    """C = A @ B with 2-D register blocking: a block of (bm/tm) * (bn/tn) threads computes a
    bm x bn tile of C, each thread a tm x tn sub-tile held in registers.

    Per step of bk along K the block stages A[bm, bk] (transposed, so a thread's tm values for
    one k are contiguous) and B[bk, bn] in shared memory; then for each k a thread loads tm
    values of A and tn of B into registers and does tm * tn multiply-adds with them: tm * tn
    FMAs per tm + tn shared-memory loads, against 1 per 2 in the tiled kernel. A thread's tn
    columns are strided by the number of column groups (bn / tn), so a warp reads consecutive
    words of sB (no bank conflicts) and writes consecutive columns of C. The loops over the
    sub-tile have constant trip counts: LLVM unrolls them and the local arrays live in registers.

    The inner loop reads the (flat) shared tiles through unsigned running indices. Numba gives
    every signed index a negative-index fix-up (i + n if i < 0), which here cost more integer
    instructions than there are FMAs; an unsigned index cannot be negative, and one advanced by
    a constant per k leaves each load at a register plus a constant offset (the PTX of this loop
    is its 64 FMAs, 16 shared loads and the two increments)."""
    threads = (bm // tm) * (bn // tn)
    col_groups = bn // tn
    a_size, b_size = bk * bm, bk * bn
    zero = dtype(0)
    U = np.uint64

    @kernel
    def matmul(A, B, C, M, N, K):
        sA = cuda.shared.array(a_size, dtype)  # sA[k * bm + m] = A[brow + m, k0 + k]
        sB = cuda.shared.array(b_size, dtype)  # sB[k * bn + n] = B[k0 + k, bcol + n]
        acc = cuda.local.array((tm, tn), dtype)
        ra = cuda.local.array(tm, dtype)
        rb = cuda.local.array(tn, dtype)
        tid = cuda.threadIdx.x
        trow = (tid // col_groups) * tm  # this thread's rows trow .. trow + tm - 1 of the tile,
        tcol = tid % col_groups  # and its columns tcol, tcol + col_groups, tcol + 2 * col_groups, ...
        brow = cuda.blockIdx.y * bm
        bcol = cuda.blockIdx.x * bn
        for i in range(tm):
            for j in range(tn):
                acc[i, j] = zero
        for k0 in range(0, K, bk):
            for e in range(tid, a_size, threads):  # consecutive threads read along a row of A
                r = e // bk
                c = e - r * bk
                if checked:
                    sA[c * bm + r] = A[brow + r, k0 + c] if brow + r < M and k0 + c < K else zero
                else:
                    sA[c * bm + r] = A[brow + r, k0 + c]
            for e in range(tid, b_size, threads):  # ... and along a row of B
                r = e // bn
                c = e - r * bn
                if checked:
                    sB[e] = B[k0 + r, bcol + c] if k0 + r < K and bcol + c < N else zero
                else:
                    sB[e] = B[k0 + r, bcol + c]
            cuda.syncthreads()
            ia = U(trow)
            ib = U(tcol)
            for kk in range(bk):
                for i in range(tm):
                    ra[i] = sA[ia + U(i)]
                for j in range(tn):
                    rb[j] = sB[ib + U(j * col_groups)]
                for i in range(tm):
                    for j in range(tn):
                        acc[i, j] += ra[i] * rb[j]
                ia += U(bm)
                ib += U(bn)
            cuda.syncthreads()
        for i in range(tm):
            for j in range(tn):
                r = brow + trow + i
                c = bcol + tcol + j * col_groups
                if not checked or (r < M and c < N):
                    C[r, c] = acc[i, j]

    return matmul, threads


# --- host side --------------------------------------------------------------------------------
def _as_2d(a):
    """A 2-D row-major device array with a's values (a copy only if a is not contiguous:
    e.g. the transposed operand of a backward pass; one O(MK) pass before O(MNK) work)."""
    a = contiguous(a)
    return a.data[a.offset:a.offset + a.size].reshape(a.shape)


def matmul(a, b):
    """The register-blocked kernel once both output dimensions fill its block tile, else the tiled
    kernel once they fill a tile, else the direct one (a thin product: a tile would mostly idle).
    Integer (and logical) products never take the register-blocked kernel: an int64 multiply-add
    is several 32-bit instructions, and its 8x8 tile of int64 accumulators spills to local
    memory on sm_80 (the resource table); counting is not what the register tile is for."""
    if len(a.shape) == 3:
        return _batched(a, b)
    return matmul_with(a, b, _kind(a.shape[0], b.shape[1], a.dtype))


def _kind(m, n, dtype):
    p = D.POLICY or D.policy()
    if m >= p.blocking[0] and n >= p.blocking[1] and dtype.is_float:
        return "register_blocked"
    return "tiled" if m >= p.tiled_min and n >= p.tiled_min else "direct"


def _batched(a, b):
    """(B, M, K) @ (B, K, N): one launch of the batched direct kernel where matmul() would take
    the direct one, else the kernel it picks for (M, K) @ (K, N), once per pair."""
    (count, m, k), n = a.shape, b.shape[2]
    if a.dtype is dtypes.bool_:  # logical matmul: count in int64, then any
        return ne(_batched(astype(a, dtypes.int64), astype(b, dtypes.int64)), 0)
    out = D.empty((count, m, n), a.dtype)
    if out.size == 0:
        return out
    if k == 0:
        return fill(out, 0)
    a, b, kind = contiguous(a), contiguous(b), _kind(m, n, a.dtype)
    if kind == "direct":
        blocks, threads = D.grid(count * m * n)
        A, B, C = (x.data[x.offset:x.offset + x.size].reshape(x.shape) for x in (a, b, out))
        batched_direct_matmul(D.np_type(a.dtype))[blocks, threads](A, B, C, count, m, n, k)
        return out
    for p in range(count):
        matmul_with(D.CudaBuffer(a.data, (m, k), (k, 1), a.offset + p * m * k, a.dtype),
                    D.CudaBuffer(b.data, (k, n), (n, 1), b.offset + p * k * n, b.dtype), kind,
                    D.CudaBuffer(out.data, (m, n), (n, 1), p * m * n, out.dtype))
    return out


def matmul_direct(a, b):
    return matmul_with(a, b, "direct")


def matmul_tiled(a, b):
    return matmul_with(a, b, "tiled")


def matmul_register_blocked(a, b):
    return matmul_with(a, b, "register_blocked")


def matmul_with(a, b, kind, out=None):
    """a @ b by the `kind` kernel, into `out` (a contiguous (M, N) view) or a new buffer."""
    (m, k), (_, n) = a.shape, b.shape
    if a.dtype is dtypes.bool_:  # logical matmul: count in int64, then any
        return ne(matmul_with(astype(a, dtypes.int64), astype(b, dtypes.int64), kind), 0)
    out = D.empty((m, n), a.dtype) if out is None else out
    if m == 0 or n == 0:
        return out
    if k == 0:
        return fill(out, 0)
    A, B, C = _as_2d(a), _as_2d(b), _as_2d(out)
    p = D.POLICY or D.policy()
    dtype = D.np_type(a.dtype)
    if kind == "direct":
        blocks, threads = D.grid(m * n)
        direct_matmul(dtype)[blocks, threads](A, B, C, m, n, k)
        return out
    if kind == "tiled":
        t = p.tile
        kern = tiled_matmul(t, dtype, not (m % t == 0 and n % t == 0 and k % t == 0))
        rows_per_launch, block = t * 65535, (t, t)
    else:
        bm, bn, bk, tm, tn = p.blocking
        kern, threads = register_blocked_matmul(bm, bn, bk, tm, tn, dtype,
                                                not (m % bm == 0 and n % bn == 0 and k % bk == 0))
        t, rows_per_launch, block = bm, bm * 65535, threads
    gx = -(-n // (t if kind == "tiled" else p.blocking[1]))
    for r0 in range(0, m, rows_per_launch):  # grid.y is limited to 65535 blocks: run in row slabs
        r1 = min(m, r0 + rows_per_launch)
        kern[(gx, -(-(r1 - r0) // t)), block](A[r0:r1], B, C[r0:r1], r1 - r0, n, k)
    return out


# --- linear layer + activation: the matmul, then one elementwise pass for bias and activation ---
@functools.cache
def _epilogue(act, bias):
    """The device function of linear_act's second pass: act(z + b), or act(z) without a bias; no
    act (None): z + b."""
    f = DEVICE_FUNCTIONS[act] if act is not None else (lambda z, zero, one: z)
    if not bias:
        return f
    f = device_function(f)
    return lambda z, b, zero, one: f(z + b, zero, one)


def linear_act(x, w, b, act):
    """act(x @ w.T + b): the matmul kernel, then the bias and the activation in one pass over the
    output, in place (one launch and one read and write of the output instead of two)."""
    out = matmul(x, permute(w, (1, 0)))
    if act is None and b is None:  # F.linear without a bias: the product is all
        return out
    inputs = [out] if b is None else [out, b]  # b (N,) broadcasts along the rows
    return map_(_epilogue(act, b is not None), inputs, out.dtype, *constants(out.dtype), out=out)


def _axpy(y, v, alpha, beta):
    return beta * y + alpha * v


def axpy(a, alpha, x, beta=1.0):
    """a = beta * a + alpha * x in a's storage (an optimizer's step, SGD's momentum): one elementwise pass."""
    return map_(_axpy, [a, x], a.dtype, scalar(alpha, a.dtype), scalar(beta, a.dtype), out=a)
