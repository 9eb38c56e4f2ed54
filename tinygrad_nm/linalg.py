"""torch.linalg's norms of vectors and matrices (Frobenius), composed from Tensor.norm and amax:
differentiable as those are. Decompositions and solvers are out of scope."""


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
