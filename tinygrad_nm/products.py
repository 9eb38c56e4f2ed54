"""Products, spelled as in PyTorch: matmul (`@`) with its N-d rules, mm, bmm, mv, dot, outer.

Every product ends in the `matmul` kernel (backends/kernels.py), which multiplies one pair of
matrices, (M, K) @ (K, N), or a batch of pairs, (B, M, K) @ (B, K, N), in one call. matmul maps
its operands onto one call:
- a 1-D first operand gets a 1 prepended (a row), a 1-D second one a 1 appended (a column); the
  added dim is removed from the result (1-D @ 1-D is then a dot product, a 0-d tensor);
- a second operand without batch dims: the first's batch folds into its rows, one 2-D product
  (B*M, K) @ (K, N) (a Linear layer on a (batch, seq, features) input);
- otherwise the batch dims broadcast (PyTorch's rule: (2, 1, 3, 4) @ (5, 4, 6) -> (2, 5, 3, 6)),
  an operand that is broadcast is expanded into new storage (ops_shape.Expand, whose backward sums
  the gradient back to its shape), and both are flattened to one batch dim for one batched call.
A batch composed from 2-D products at this level costs one op per matrix (50x to 1800x np.matmul
for batches of small matrices) and a broadcast multiply-and-sum K times the output's memory:
bench/README.md, "Batched matmul".

`TensorProducts`, a mixin of Tensor (it never imports it), makes them the methods and `@`;
namespace.py has them as torch.matmul and friends. `y = x @ w` runs `__matmul__ -> matmul (here)
-> Tensor._apply -> ops.MatMul.forward -> backend.matmul`.
"""
import math

from tinygrad_nm import linalg
from tinygrad_nm.ops import MatMul, Reshape
from tinygrad_nm.shapes import broadcast_shape


class ProductShapeError(RuntimeError, ValueError):
    """Operands a product can't take: a RuntimeError as PyTorch raises, and a ValueError as the
    rest of this project's shape errors are (a program catching either sees it)."""


def _operands(a, b, what):
    b = a._as_tensor(b)
    a._same_backend(b, what)
    return a._promote_pair(b) if a.dtype is not b.dtype else (a, b)


def _shaped(t, shape):
    """t reshaped to `shape` (one the caller knows has t's size): Tensor.reshape without its
    argument parsing, and no op at all when t has that shape already."""
    return t if t._shape == shape else t._alias(t._apply(Reshape, t.dtype, (t,), shape))


def matmul(a, b, what="matmul"):
    """a @ b with PyTorch's rules for 1-D and N-d operands (the module docstring)."""
    if type(b) is not type(a) or b._be is not a._be or b.dtype is not a.dtype:
        a, b = _operands(a, b, what)
    sa, sb = a._shape, b._shape
    if len(sa) == 2 and len(sb) == 2 and sa[1] == sb[0]:  # the common case, one 2-D product: no reshapes
        return a._apply(MatMul, a.dtype, (a, b))
    if not sa or not sb:
        raise ProductShapeError(f"{what}: both arguments need at least 1 dimension, got shapes {sa} and {sb}")
    ma = (1,) + sa if len(sa) == 1 else sa  # the operands as matrices (or batches of them)
    mb = sb + (1,) if len(sb) == 1 else sb
    m, k, n = ma[-2], ma[-1], mb[-1]
    if k != mb[-2]:
        raise ProductShapeError(
            f"{what}: shapes {sa} and {sb} are not aligned: {k} (last dim of the first) != {mb[-2]} "
            f"({'the only' if len(sb) == 1 else 'second-to-last'} dim of the second)")
    try:
        batch = broadcast_shape(ma[:-2], mb[:-2], what)
    except ValueError:
        raise ProductShapeError(f"{what}: the batch dims of shapes {sa} and {sb} do not broadcast: "
                                f"{ma[:-2]} and {mb[:-2]}") from None
    out_shape = batch + ((m,) if len(sa) > 1 else ()) + ((n,) if len(sb) > 1 else ())
    if math.prod(mb[:-2]) == 1:  # b is one matrix: a's batch joins its rows
        out = a._apply(MatMul, a.dtype, (_shaped(a, (math.prod(batch) * m, k)), _shaped(b, (k, n))))
    else:
        size = math.prod(batch)
        a3, b3 = _shaped(a, ma), _shaped(b, mb)
        if ma[:-2] != batch:  # broadcast: a copy for each of the batch
            a3 = a3.expand(*batch, m, k)
        if mb[:-2] != batch:
            b3 = b3.expand(*batch, k, n)
        out = a._apply(MatMul, a.dtype, (_shaped(a3, (size, m, k)), _shaped(b3, (size, k, n))))
    return _shaped(out, out_shape)


def _need(t, ndim, what, name):
    if t.ndim != ndim:
        raise ProductShapeError(f"{what}: {name} must be a {ndim}-D tensor, got shape {t.shape}")


def mm(a, b):
    """(M, K) @ (K, N); no broadcasting."""
    a, b = _operands(a, b, "mm")
    _need(a, 2, "mm", "the first argument (mat1)")
    _need(b, 2, "mm", "the second argument (mat2)")
    if a.shape[1] != b.shape[0]:
        raise ProductShapeError(f"mm: mat1 and mat2 shapes cannot be multiplied "
                                f"({a.shape[0]}x{a.shape[1]} and {b.shape[0]}x{b.shape[1]})")
    return matmul(a, b, "mm")


def bmm(a, b):
    """(B, M, K) @ (B, K, N); the batch sizes must be equal (bmm does not broadcast)."""
    a, b = _operands(a, b, "bmm")
    _need(a, 3, "bmm", "the first argument (batch1)")
    _need(b, 3, "bmm", "the second argument (batch2)")
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise ProductShapeError(f"bmm: shapes {a.shape} and {b.shape} don't match: expected batch2 of shape "
                                f"({a.shape[0]}, {a.shape[2]}, N)")
    return matmul(a, b, "bmm")


def mv(a, v):
    """(M, K) @ (K,) -> (M,)."""
    a, v = _operands(a, v, "mv")
    _need(a, 2, "mv", "the matrix")
    _need(v, 1, "mv", "the vector")
    if a.shape[1] != v.shape[0]:
        raise ProductShapeError(f"mv: shapes {a.shape} and {v.shape} are not aligned: "
                                f"{a.shape[1]} columns, {v.shape[0]} vector elements")
    return matmul(a, v, "mv")


def dot(a, b):
    """The inner product of two 1-D tensors of the same size: a 0-d tensor."""
    a, b = _operands(a, b, "dot")
    if a.ndim != 1 or b.ndim != 1:
        raise ProductShapeError(f"dot: 1-D tensors expected, got shapes {a.shape} and {b.shape}")
    if a.shape != b.shape:
        raise ProductShapeError(f"dot: the tensors have different sizes, shapes {a.shape} and {b.shape}")
    return matmul(a, b, "dot")


def outer(a, b):
    """out[i, j] = a[i] * b[j] for 1-D a and b: one broadcast multiply."""
    a, b = _operands(a, b, "outer")
    if a.ndim != 1 or b.ndim != 1:
        raise ProductShapeError(f"outer: 1-D tensors expected, got shapes {a.shape} and {b.shape}")
    return a.reshape(a.shape[0], 1) * b.reshape(1, b.shape[0])


class TensorProducts:
    __slots__ = ()

    def __matmul__(self, other): return matmul(self, other)
    def __rmatmul__(self, other): return matmul(self._as_tensor(other), self)
    def matmul(self, other): return matmul(self, other)
    def mm(self, other): return mm(self, other)

    def addmm(self, mat1, mat2, *, beta=1, alpha=1):
        """beta * self + alpha * (mat1 @ mat2), self broadcast to the product's shape (beta 0: self is
        not read, so its nan and inf do not reach the result, as in PyTorch)."""
        product = mm(mat1, mat2)
        product = product if alpha == 1 else product * alpha
        if not beta:
            broadcast_shape(self.shape, product.shape, "addmm", into=True)  # (still checked)
            return product
        return product + (self if beta == 1 else self * beta)

    def bmm(self, other): return bmm(self, other)
    def mv(self, vec): return mv(self, vec)
    def dot(self, other): return dot(self, other)
    def outer(self, other): return outer(self, other)

    # square matrices, computed on the host (linalg.py)
    def inverse(self): return linalg.inv(self)
    def det(self): return linalg.det(self)
    def logdet(self): return linalg.logdet(self)
    def slogdet(self): return linalg.slogdet(self)
