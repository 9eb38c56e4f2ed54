"""torch.linalg's inv, det, slogdet, solve (and torch.inverse/det/logdet) and erf, erfc, atan2,
the exact GELU: computed on the host and differentiable through custom autograd Functions. Each
is the same code on tinygrad_nm and on torch (values, dtypes and gradients) on every backend,
and held to float64 finite differences (gradcheck) where torch's gradient is not the reference."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tinygrad_nm as tnm  # noqa: E402
from torch_api_helpers import case, matches_torch, rnd  # noqa: E402


def _well_conditioned(shape, seed=0):
    """Random square matrices plus 3 I: far from singular."""
    a = rnd(shape, seed=seed)
    return a + 3 * np.eye(shape[-1])


A3, A23 = _well_conditioned((3, 3)), _well_conditioned((2, 3, 3), seed=1)
NEG = np.array([[0.0, 1.0, 0.5], [1.0, 0.0, 0.2], [0.3, 0.1, 2.0]])  # a negative determinant

CASES = [
    case("inv", lambda M, a, b: (M.linalg.inv(a), M.inverse(b), b.inverse()), A3, A23),
    case("det", lambda M, a, b, n: (M.linalg.det(a), b.det(), M.det(n)), A3, A23, NEG),
    case("slogdet_logdet", lambda M, a, n: (*M.linalg.slogdet(a), *n.slogdet(), M.logdet(a), a.logdet()), A23, NEG),
    case("solve_matrix", lambda M, a, b: M.linalg.solve(a, b), A23, rnd((2, 3, 4), seed=2)),
    case("solve_vector", lambda M, a, b: M.linalg.solve(a, b), A3, rnd((3,), seed=3)),
    case("erf_erfc", lambda M, a: (M.erf(a), a.erfc(), M.erf(a * 3)), rnd((2, 5))),
    case("atan2", lambda M, y, x: (M.atan2(y, x), y.atan2(x[0]), M.arctan2(y, x.abs() + 0.1)), rnd((3, 4)),
         rnd((3, 4), seed=5)),
    case("gelu_exact", lambda M, a: M.nn.functional.gelu(a), rnd((4, 5), low=-4, high=4)),
]


test_matches_torch = matches_torch(CASES)


def test_integer_inputs_give_float_results_as_torch(backend):
    ints = [[1, -2], [3, 0]]
    for name in ("erf", "erfc"):
        ours, theirs = getattr(tnm, name)(tnm.tensor(ints)), getattr(torch, name)(torch.tensor(ints))
        assert str(ours.dtype) == "float32" == str(theirs.dtype).removeprefix("torch.")
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


def test_atan2_gradient_at_the_origin_is_zero_as_torch(backend):
    y, x = tnm.zeros(2, requires_grad=True), tnm.zeros(2, requires_grad=True)
    tnm.atan2(y, x).sum().backward()
    assert y.grad.tolist() == [0, 0] and x.grad.tolist() == [0, 0]


def test_det_gradient_of_a_singular_matrix_is_its_cofactor_matrix(backend):
    # torch's LU-based backward gives zeros for this rank-1 matrix; the derivative of det is the
    # cofactor matrix, which finite differences confirm
    singular = tnm.tensor([[1.0, 2.0], [2.0, 4.0]], dtype=tnm.float64, requires_grad=True)
    singular.det().backward()
    np.testing.assert_allclose(singular.grad.numpy(), [[4.0, -2.0], [-2.0, 1.0]], atol=1e-12)
    rank2_of_3 = tnm.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 6.5], [0.0, 1.0, 1.0]], dtype=tnm.float64,
                            requires_grad=True)
    assert tnm.autograd.gradcheck(tnm.linalg.det, (rank2_of_3,))


def test_gradcheck_in_float64(backend):
    a = tnm.tensor(A23, dtype=tnm.float64, requires_grad=True)
    b = tnm.tensor(rnd((2, 3, 2), seed=4), dtype=tnm.float64, requires_grad=True)
    for fn, args in [(tnm.linalg.inv, (a,)), (tnm.linalg.solve, (a, b)),
                     (lambda a: tnm.linalg.slogdet(a).logabsdet, (a,)), (tnm.erf, (b,)),
                     (tnm.atan2, (b, b.detach().flip(0).requires_grad_()))]:
        assert tnm.autograd.gradcheck(fn, args)


def test_bad_input_names_the_problem(backend):
    with pytest.raises(tnm.linalg.LinAlgError, match=r"linalg.inv: the input matrix is singular \(shape \(2, 2\)\)"):
        tnm.linalg.inv(tnm.zeros(2, 2))
    assert issubclass(tnm.linalg.LinAlgError, RuntimeError)  # as torch's
    with pytest.raises(RuntimeError, match=r"linalg.det: A must be batches of square matrices, but they are 2 by 3"):
        tnm.linalg.det(tnm.zeros(2, 3))
    with pytest.raises(RuntimeError, match=r"linalg.solve: A of shape \(3, 3\) and B of shape \(2,\) do not fit"):
        tnm.linalg.solve(tnm.eye(3), tnm.ones(2))
    with pytest.raises(tnm.linalg.LinAlgError, match="linalg.solve: the input matrix is singular"):
        tnm.linalg.solve(tnm.zeros(3, 3), tnm.ones(3))
    with pytest.raises(TypeError, match="atan2: both arguments must be tensors"):
        tnm.atan2(tnm.ones(2), 1.0)
