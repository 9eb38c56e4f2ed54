"""Issue 18's accuracy goals for napkin's predictions, checked on benchmark results (never in a
unit test: timings are bench/'s business). measured/predicted must lie

- within [0.67, 1.5] for every cell whose measured time is 1 ms or more, with the median error
  (max(r, 1/r) of those cells) at most 1.2x;
- within [0.5, 2] for cells between 20 us and 1 ms;
- within [1/1.3, 1.3] for a whole training step, and within [0.5, 2] for each of its five
  largest kernels (bench/test_napkin_steps.py), and for a whole `train` run.
"""
import statistics

LONG_S, SHORT_S = 1e-3, 20e-6
LONG_BAND, SHORT_BAND = (0.67, 1.5), (0.5, 2.0)
LONG_MEDIAN_ERROR = 1.2
STEP_BAND, KERNEL_BAND = (1 / 1.3, 1.3), (0.5, 2.0)


def band_for(measured_s):
    """The band a cell of this measured time must lie in (None below 20 us: no goal)."""
    if measured_s >= LONG_S:
        return LONG_BAND
    if measured_s >= SHORT_S:
        return SHORT_BAND
    return None


def inside(ratio, band):
    return band[0] <= ratio <= band[1]


def error(ratio):
    """How far off a ratio is, as a factor >= 1 either way."""
    return max(ratio, 1 / ratio)


def grade(cells):
    """cells: [(name, predicted_s, measured_s)] -> dict: long/short cells counted inside their band,
    the ones outside, the median error of the long cells."""
    out = {"long": [0, 0], "short": [0, 0], "outside": [], "long_errors": []}
    for name, predicted, measured in cells:
        band = band_for(measured)
        if band is None or not predicted:
            continue
        ratio = measured / predicted
        key = "long" if band is LONG_BAND else "short"
        out[key][1] += 1
        if inside(ratio, band):
            out[key][0] += 1
        else:
            out["outside"].append((name, ratio, band))
        if key == "long":
            out["long_errors"].append(error(ratio))
    out["median_long_error"] = statistics.median(out["long_errors"]) if out["long_errors"] else None
    return out
