"""Issue 18's accuracy figures from benchmark results (tinygrad_nm/napkin/accuracy.py has the goals).

    .venv/bin/python -m pytest bench/test_napkin_kernels.py bench/test_napkin_programs.py \
        bench/test_napkin_steps.py --quick --benchmark-json=quick.json --napkin-calibrate
    .venv/bin/python bench/napkin_accuracy.py quick.json [more.json ...]

Prints, per file: the load average, how fast the machine ran against its calibration (napkin.drift's
reference probes, at the start and the end: a probe at 1.5x ran 1.5 times slower than when the rates
were measured), the cells of 1 ms or more and of 20 us - 1 ms inside their
bands, the median error of the long ones, every cell outside (marked OUT), and each training step
(test_napkin_steps.py) against its prediction with its five largest kernels.
"""
import json
import sys

from tinygrad_nm.napkin import accuracy, drift, fmt


def report(path):
    with open(path) as f:
        data = json.load(f)
    machine = data.get("machine_info", {})
    load = machine.get("load_average", {})
    lines = [f"{path}: load average {load.get('start')} at start, {load.get('end')} at end; "
             f"{(machine.get('napkin') or {}).get('describe', '')}"]
    moved = drift.report_run(machine)
    if moved:  # each reference probe's time over the calibration's: above 1, the machine was slower
        lines += [f"  machine against its calibration, {m}" for m in moved]
    cells, steps = [], []
    for b in data.get("benchmarks", []):
        info, stats = b.get("extra_info", {}), b.get("stats") or {}
        if not info.get("napkin") or stats.get("min") is None:
            continue
        name = f"{info['backend']} {info['op']} {info['size']}"
        cells.append((name, info["predicted_seconds"], stats["min"]))
        if "largest_kernels" in info:
            steps.append((name, info["predicted_seconds"], stats["min"], info["largest_kernels"]))
    g = accuracy.grade(cells)
    med = g["median_long_error"]
    lines.append(f"  cells >= 1 ms: {g['long'][0]} of {g['long'][1]} within {accuracy.LONG_BAND}, median error "
                 + (f"{med:.2f}x" if med else "-") + f" (goal <= {accuracy.LONG_MEDIAN_ERROR}x)")
    lines.append(f"  cells 20 us - 1 ms: {g['short'][0]} of {g['short'][1]} within {accuracy.SHORT_BAND}")
    for name, ratio, band in g["outside"]:
        lines.append(f"    OUT {name}: measured/predicted {ratio:.2f} (band {band})")
    for name, predicted, measured, kernels in steps:
        ratio = measured / predicted
        mark = "ok" if accuracy.inside(ratio, accuracy.STEP_BAND) else "OUT"
        lines.append(f"  step {name}: predicted {fmt.seconds(predicted)}, measured {fmt.seconds(measured)}, "
                     f"{ratio:.2f} {mark}")
        for k in kernels:
            r = k["measured"] / k["predicted"] if k["predicted"] else float("inf")
            kmark = "ok" if accuracy.inside(r, accuracy.KERNEL_BAND) else "OUT"
            shapes = ", ".join("x".join(map(str, s)) for s in k["shapes"])
            lines.append(f"      {k['calls']} x {k['op']} {shapes}: predicted {fmt.seconds(k['predicted'])}, "
                         f"measured {fmt.seconds(k['measured'])}, {r:.2f} {kmark}")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    print("\n".join(report(p) for p in sys.argv[1:]))
