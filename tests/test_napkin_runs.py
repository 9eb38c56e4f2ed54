"""napkin's price of short contiguous runs (im2col / col2im on small images, broadcast binary ops)
and of NumPy divisions: counted from the kernel's shapes, priced at the documented default rates.
No timing assertions."""
import pytest

import tinygrad_nm as tnm
from tinygrad_nm import backends
from tinygrad_nm.napkin import Buf, kernel_cost, model, price_array_calls

WINDOW = ((3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)))  # 3x3, stride 1, 'same' padding


@pytest.mark.parametrize("a,b,runs", [((32, 32, 8, 8), (1, 32, 1, 1), 32 * 32), ((32, 64), (64,), 32),
                                      ((32, 64), (32, 1), 32), ((5, 6), (5, 6), 1), ((4, 1, 3), (1, 2, 1), 8)])
def test_broadcast_runs_end_where_the_broadcast_pattern_changes(a, b, runs):
    assert price_array_calls.broadcast_runs(kernel_cost("mul", (Buf(a), Buf(b)))) == runs


def _im2col_and_col2im(shape):
    up = kernel_cost("im2col", (Buf(shape), *WINDOW))
    rows = 9 * shape[1]
    down = kernel_cost("col2im", (Buf((rows, up.elements // rows)), shape, *WINDOW))
    return up, down


@pytest.mark.parametrize("backend", [b for b in ("numpy", "cython") if b in tnm.available_backends()])
def test_short_window_rows_cost_their_runs(default_rates, backend):
    """Two images with the same column-matrix size, rows 4 and 16 long: the same bytes, 4x the runs;
    the prices differ by exactly the extra runs at the family's run_s."""
    pricing, _ = backends.pricing(backend)
    family = model.FAMILIES[pricing["family"]]
    per_run = default_rates.section(family.FAMILY)["run_s"]
    short, long = _im2col_and_col2im((16, 16, 4, 4)), _im2col_and_col2im((16, 1, 16, 16))
    for s, l in zip(short, long):
        assert s.bytes == l.bytes and s.elements == l.elements
        extra = (s.elements / 4 - l.elements / 16) * per_run[s.kernel]
        gap = model.predict(s, backend, default_rates).seconds - model.predict(l, backend, default_rates).seconds
        assert extra > 0 and gap == pytest.approx(extra)


def test_numpy_division_is_priced_at_the_vectorised_divide_rate(default_rates):
    n = 1 << 16
    div = model.predict(kernel_cost("div", (Buf((n,)), Buf((n,)))), "numpy", default_rates)
    mul = model.predict(kernel_cost("mul", (Buf((n,)), Buf((n,)))), "numpy", default_rates)
    assert div.seconds >= n * default_rates["host"]["vdiv_s"]
    assert div.seconds >= mul.seconds and any("divide" in t for t in div.terms)
