"""F.interpolate in every mode (nearest, nearest-exact, linear, bilinear, bicubic, trilinear, area;
align_corners; size or scale_factor, recompute_scale_factor), pixel_shuffle/unshuffle and the
adaptive pools, with their nn layers, against torch on every backend: values and gradients
(run_both), and hypothesis over input sizes, output sizes and factors."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import tinygrad_nm as tnm  # noqa: E402
from fuzz_torch_helpers import fuzz  # noqa: E402
from torch_api_helpers import case, matches_torch, rnd, run_both  # noqa: E402


def _interp(**kw):
    return lambda M, x: M.nn.functional.interpolate(x, **kw)


CASES = [
    case("nearest_size", _interp(size=(7, 3)), rnd((2, 3, 5, 4))),
    case("nearest_exact_factor", _interp(scale_factor=1.5, mode="nearest-exact"), rnd((1, 2, 5, 4))),
    case("linear", _interp(scale_factor=2.5, mode="linear"), rnd((2, 3, 5))),
    case("linear_align", _interp(size=9, mode="linear", align_corners=True), rnd((2, 3, 5))),
    case("bilinear_down", _interp(size=(3, 2), mode="bilinear"), rnd((1, 2, 7, 5))),
    case("bilinear_factor_recompute", _interp(scale_factor=(1.7, 0.6), mode="bilinear", recompute_scale_factor=True),
         rnd((1, 2, 5, 6))),
    case("bilinear_align", _interp(scale_factor=2, mode="bilinear", align_corners=True), rnd((2, 1, 4, 3))),
    case("bicubic", _interp(size=(6, 7), mode="bicubic"), rnd((1, 2, 4, 5))),
    case("bicubic_align", _interp(scale_factor=0.7, mode="bicubic", align_corners=True), rnd((1, 1, 6, 5))),
    case("trilinear", _interp(size=(3, 4, 5), mode="trilinear"), rnd((1, 2, 2, 3, 4))),
    case("area", _interp(size=(2, 3), mode="area"), rnd((2, 2, 5, 7))),
    case("area_1d", _interp(scale_factor=0.5, mode="area"), rnd((2, 2, 7))),
    case("upsample_layers", lambda M, x: (M.nn.Upsample(scale_factor=2, mode="bilinear")(x),
                                          M.nn.UpsamplingBilinear2d(size=(5, 3))(x),
                                          M.nn.UpsamplingNearest2d(scale_factor=3)(x)), rnd((1, 2, 3, 2))),
    case("pixel_shuffle", lambda M, x: (M.nn.PixelShuffle(2)(x), M.nn.functional.pixel_unshuffle(
        M.nn.functional.pixel_shuffle(x, 2), 2), M.nn.PixelUnshuffle(1)(x)), rnd((2, 8, 3, 2))),
    case("adaptive_1d", lambda M, x: (M.nn.AdaptiveAvgPool1d(3)(x), M.nn.AdaptiveMaxPool1d(4)(x),
                                      M.nn.functional.adaptive_avg_pool1d(x[0], 2)), rnd((2, 3, 7))),
    case("adaptive_max_2d", lambda M, x: (M.nn.AdaptiveMaxPool2d((2, 3))(x), M.nn.AdaptiveMaxPool2d((None, 1))(x),
                                          *M.nn.functional.adaptive_max_pool2d(x[0], 2, return_indices=True)),
         rnd((2, 3, 5, 4))),
]


test_matches_torch = matches_torch(CASES)


@fuzz(40)
@given(data=st.data())
def test_interpolate_sizes_and_factors_match_torch(backend, data):
    mode = data.draw(st.sampled_from(["nearest", "nearest-exact", "bilinear", "bicubic", "area"]))
    h, w = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 6))
    kw = {"mode": mode}
    if data.draw(st.booleans()):
        kw["size"] = (data.draw(st.integers(1, 8)), data.draw(st.integers(1, 8)))
    else:
        kw["scale_factor"] = data.draw(st.sampled_from([0.5, 0.75, 1.0, 1.5, 2.0, 3.0]))
        if mode not in ("area",) and max(h, w) * kw["scale_factor"] < 1:
            kw["scale_factor"] = 1.0
    if mode in ("bilinear", "bicubic"):
        kw["align_corners"] = data.draw(st.booleans())
    x = np.random.default_rng(h * 7 + w).standard_normal((1, 2, h, w))
    if "scale_factor" in kw and (int(h * kw["scale_factor"]) < 1 or int(w * kw["scale_factor"]) < 1):
        kw["scale_factor"] = 1.0
    run_both(lambda M, t: M.nn.functional.interpolate(t, **kw), [x], "float64", True, backend)


def test_bad_arguments_are_named(backend):
    x = tnm.ones(1, 1, 4, 4)
    with pytest.raises(ValueError, match="align_corners option can only be set with the interpolating modes"):
        tnm.nn.functional.interpolate(x, scale_factor=2, align_corners=True)
    with pytest.raises(ValueError, match="mode 'bilinear' expects a 4-D input"):
        tnm.nn.functional.interpolate(tnm.ones(1, 1, 4), scale_factor=2, mode="bilinear")
    with pytest.raises(NotImplementedError, match="antialias=True is not supported"):
        tnm.nn.functional.interpolate(x, size=2, mode="bilinear", antialias=True)
    with pytest.raises(RuntimeError, match="divisible by the square of upscale_factor"):
        tnm.nn.PixelShuffle(2)(tnm.ones(1, 3, 2, 2))
