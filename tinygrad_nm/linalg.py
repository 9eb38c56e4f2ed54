"""torch.linalg: norms of vectors and matrices (Frobenius), composed from Tensor.norm and amax;
inv, det, slogdet and solve of square matrices (batched), computed on the host by NumPy's LAPACK
in float64 and differentiable through custom autograd Functions whose backward is matrix
products. Other decompositions (cholesky, qr, eigh, svd) are out of scope."""
from collections import namedtuple

import numpy as np

from tinygrad_nm.autograd_function import Function
from tinygrad_nm.tensor_math import where

_SlogdetResult = namedtuple("slogdet", ["sign", "logabsdet"])


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    """The ord-norm of x's elements over dim (every dim by default), treated as one vector."""
    x = x if dtype is None else x.cast(dtype)
    return x.norm(p=ord, dim=dim, keepdim=keepdim)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    """The Frobenius norm of the matrices over the two dims (only "fro" here)."""
    if ord != "fro":
        raise NotImplementedError(f"linalg.matrix_norm: ord={ord!r} is not supported (only 'fro')")
    return vector_norm(A, 2, dim, keepdim, dtype=dtype)


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    """PyTorch's linalg.norm: ord=None is the 2-norm of the flattened input (Frobenius for a
    matrix); a number, inf or -inf with a 1-D input or one dim, the vector norm; "fro" for matrices."""
    if ord is None:
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    if ord == "fro":
        return matrix_norm(A, "fro", (-2, -1) if dim is None else dim, keepdim, dtype=dtype)
    if isinstance(ord, str) or (A.ndim != 1 and (dim is None or not isinstance(dim, int))):
        raise NotImplementedError(f"linalg.norm: ord={ord!r} of a matrix is not supported (only None and 'fro')")
    return vector_norm(A, ord, dim, keepdim, dtype=dtype)


class LinAlgError(RuntimeError):
    """A matrix the operation cannot use (singular), as torch.linalg.LinAlgError."""


def _host(A, name):
    """A's values as a float64 array, after checking it is a batch of square float matrices."""
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"linalg.{name}: A must be batches of square matrices, but they are "
                           f"{' by '.join(map(str, A.shape[-2:]))} matrices (shape {tuple(A.shape)})")
    if not A.dtype.is_float:
        raise RuntimeError(f"linalg.{name}: expected a floating point tensor, got {A.dtype}")
    return A.detach().numpy().astype(np.float64)


def _singular(name, A):
    return LinAlgError(f"linalg.{name}: the input matrix is singular (shape {tuple(A.shape)}), so it has no inverse")


class _Inv(Function):
    @staticmethod
    def forward(ctx, A):
        try:
            inv = A.new_tensor(np.linalg.inv(_host(A, "inv")))
        except np.linalg.LinAlgError:
            raise _singular("inv", A) from None
        ctx.save_for_backward(inv)
        return inv

    @staticmethod
    def backward(ctx, g):  # d(A^-1) = -A^-1 dA A^-1
        inv, = ctx.saved_tensors
        return -(inv.mT @ g @ inv.mT)


def _cofactor(a):
    """The cofactor matrices (d det / dA) of a float64 batch, singular ones included: with
    A = U S V^T, cof(A) = det(U) det(V) U diag(prod of the other singular values) V^T."""
    if a.shape[-1] == 0:
        return np.zeros_like(a)
    u, s, vt = np.linalg.svd(a)
    n = s.shape[-1]
    others = np.stack([np.prod(np.delete(s, i, axis=-1), axis=-1) for i in range(n)], axis=-1)
    sign = np.linalg.det(u) * np.linalg.det(vt)
    return (u * others[..., None, :]) @ vt * sign[..., None, None]


class _Det(Function):
    @staticmethod
    def forward(ctx, A):
        a = _host(A, "det")
        ctx.save_for_backward(A)
        return A.new_tensor(np.linalg.det(a))

    @staticmethod
    def backward(ctx, g):
        A, = ctx.saved_tensors
        return g[..., None, None] * A.new_tensor(_cofactor(_host(A, "det")))


class _Slogdet(Function):
    @staticmethod
    def forward(ctx, A):
        sign, logabs = np.linalg.slogdet(_host(A, "slogdet"))
        ctx.save_for_backward(A)
        return A.new_tensor(sign), A.new_tensor(logabs)

    @staticmethod
    def backward(ctx, g_sign, g_logabs):  # d log|det A| = A^-T = cof(A) / det(A): +-inf where A is singular
        A, = ctx.saved_tensors
        a = _host(A, "slogdet")
        with np.errstate(divide="ignore", invalid="ignore"):
            inv_t = _cofactor(a) / np.linalg.det(a)[..., None, None]
        return g_logabs[..., None, None] * A.new_tensor(inv_t)


class _Solve(Function):
    @staticmethod
    def forward(ctx, A, B):
        if A.dtype != B.dtype:
            raise RuntimeError(f"linalg.solve: Expected A and B to have the same dtype, but found A of type "
                               f"{A.dtype} and B of type {B.dtype} instead.")
        a, b = _host(A, "solve"), B.detach().numpy().astype(np.float64)
        vector = B.ndim == A.ndim - 1
        if (b[..., None] if vector else b).shape[:-1] != a.shape[:-1]:
            raise RuntimeError(f"linalg.solve: A of shape {tuple(A.shape)} and B of shape {tuple(B.shape)} do not "
                               f"fit (B must be A's batch of n-vectors or of n-row matrices; broadcasting their "
                               f"batch dims is not supported here)")
        try:
            x = np.linalg.solve(a, b[..., None])[..., 0] if vector else np.linalg.solve(a, b)
        except np.linalg.LinAlgError:
            raise _singular("solve", A) from None
        X = B.new_tensor(x, dtype=A.dtype)
        ctx.save_for_backward(A, X)
        ctx.vector = vector
        return X

    @staticmethod
    def backward(ctx, g):  # A X = B: gB = A^-T g, gA = -gB X^T
        A, X = ctx.saved_tensors
        gB = _Solve.apply(A.mT, g)
        if ctx.vector:
            return -(gB[..., :, None] * X[..., None, :]), gB
        return -(gB @ X.mT), gB


def inv(A):
    """The inverse of each square matrix; LinAlgError when one is singular."""
    return _Inv.apply(A)


def det(A):
    """The determinant of each square matrix (its gradient is the cofactor matrix, also where A is singular)."""
    return _Det.apply(A)


def slogdet(A):
    """(sign, log |det|) of each square matrix, a named pair as PyTorch's."""
    sign, logabsdet = _Slogdet.apply(A)
    return _SlogdetResult(sign, logabsdet)


def solve(A, B, *, left=True):
    """X with A X = B (B a batch of vectors or of matrices with A's batch shape)."""
    if not left:
        raise NotImplementedError("linalg.solve(left=False) is not supported; solve A^T X^T = B^T instead")
    return _Solve.apply(A, B)


def logdet(A):
    """log det A: NaN (gradient 0) where the determinant is negative, -inf where it is 0 (as torch.logdet)."""
    sign, logabsdet = slogdet(A)
    return where(sign.detach() < 0, float("nan"), logabsdet)
