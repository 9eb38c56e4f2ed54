"""strided.py's fused element addressing (what the CUDA kernels compile as device functions)
against NumPy's own: every element of transposed, sliced and broadcast views, and gathers along
one axis."""
import numpy as np
import pytest

from tinygrad_nm.backends import strided


def _views(rng):
    base = rng.standard_normal((4, 5, 6))
    yield base
    yield base.transpose(2, 0, 1)
    yield base[1:, ::2, 3]
    yield base[1, :, ::3]
    yield np.broadcast_to(base[:1, :, :1], (4, 5, 6))
    yield base[2, 3, 4:5]


def test_ordinal_to_position_reads_every_element_of_a_view_where_numpy_does():
    rng = np.random.default_rng(0)
    for view in _views(rng):
        item = view.itemsize
        start = view.__array_interface__["data"][0]
        base = view
        while base.base is not None:  # the array that owns the memory
            base = base.base
        origin = base.__array_interface__["data"][0]
        strides = tuple(s // item for s in view.strides)
        offset = (start - origin) // item
        for ordinal, value in enumerate(view.reshape(-1)):
            pos = offset + strided.ordinal_to_position(ordinal, view.shape, strides)
            assert base.reshape(-1)[pos] == value


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_indexed_position_gathers_like_numpy_take(axis):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 4, 5))
    idx = np.array([2, 0, 2, 1])
    out = np.take(a, idx, axis=axis)
    shape = out.shape
    strides = tuple(s // a.itemsize for s in a.strides)
    got = [a.reshape(-1)[strided.indexed_position(i, shape, strides, axis, idx)] for i in range(out.size)]
    np.testing.assert_array_equal(np.array(got).reshape(shape), out)
