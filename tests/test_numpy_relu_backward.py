"""The numpy backend's branch-free relu_backward (g's bits AND a mask) against np.where(x > 0, g, 0),
the formula it replaces, bit for bit: NaN, infinities and -0 in x and g, every float dtype,
broadcasting shapes, non-contiguous views and 0-d arrays."""
import numpy as np
import pytest

from tinygrad_nm.backends import numpy as nb

SPECIAL = [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 3.5, -2.25]


def reference(x, g):
    return np.where(x > 0, g, 0).astype(g.dtype, copy=False)


def bits(a):
    a = np.asarray(a)
    return a.view(f"u{a.dtype.itemsize}")


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_special_values_bit_for_bit(dtype):
    x, g = np.meshgrid(np.array(SPECIAL, dtype), np.array(SPECIAL, dtype))  # every (x, g) pair
    out = nb.relu_backward(x, g)
    assert out.dtype == g.dtype and out.shape == g.shape
    np.testing.assert_array_equal(bits(out), bits(reference(x, g)))


@pytest.mark.parametrize("xs, gs", [((4, 1), (4, 5)), ((5,), (3, 5)), ((3, 5), (5,)), ((), (2, 3)), ((2, 3), ())])
def test_broadcasting_shapes(xs, gs):
    rng = np.random.default_rng(0)
    x, g = rng.standard_normal(xs), rng.standard_normal(gs).astype(np.float32)
    out = nb.relu_backward(x, g)
    np.testing.assert_array_equal(bits(out), bits(reference(x, g)))


def test_non_contiguous_views_and_mixed_dtypes():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 8)).astype(np.float64)[::2, 1::3]
    g = rng.standard_normal((8, 6)).astype(np.float32).T[::2, 1::3]
    out = nb.relu_backward(x, g)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(bits(out), bits(reference(x, g)))


def test_non_float_gradient_and_scalars_take_where():
    np.testing.assert_array_equal(nb.relu_backward(np.array([1.0, -1.0]), np.array([3, 4])), [3, 0])
    np.testing.assert_array_equal(nb.relu_backward(np.array([1.0, -1.0]), np.float64(2.0)), [2.0, 0.0])
