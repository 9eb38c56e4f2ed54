"""Run the numba_cuda benchmarks on this machine's GPU and write what they measured under bench/results/.

    python bench/cuda_results.py            # full sizes: matmul 4096, relu on 64M elements
    python bench/cuda_results.py --quick    # smaller sizes, about a minute
    python bench/cuda_results.py --here bench/results/cuda-....json
        # no GPU needed: the crossover of a committed GPU run against the numpy backend on THIS machine

Writes bench/results/cuda-<device>-<time>.json (pytest-benchmark's JSON: every timing, with
the device, versions and figures in each benchmark's extra_info) and a .md beside it with
the table a reader wants. Refuses to run without a real GPU: simulator timings mean nothing.
"""
import datetime
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")


def main(argv):
    if "--here" in argv:
        return crossover_here(argv[argv.index("--here") + 1])
    quick = "--quick" in argv
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        sys.exit("NUMBA_ENABLE_CUDASIM is set: these benchmarks need a real GPU, not the simulator")
    sys.path.insert(0, os.path.dirname(HERE))
    from tinygrad_nm import backends
    nc = backends.load("numba_cuda")  # raises, saying why, when no GPU can run it
    device = nc.describe()["device"]
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = os.path.join(RESULTS, f"cuda-{re.sub(r'[^A-Za-z0-9]+', '_', device).strip('_')}-{stamp}")
    os.makedirs(RESULTS, exist_ok=True)
    cmd = [sys.executable, "-m", "pytest", os.path.join(HERE, "test_cuda.py"), "-q", "-s", "-p", "no:cacheprovider",
           f"--benchmark-json={base}.json"] + (["--quick"] if quick else [])
    print("$", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, cwd=os.path.dirname(HERE))
    if not os.path.exists(f"{base}.json"):
        sys.exit(f"pytest exited {proc.returncode} without writing {base}.json")
    with open(f"{base}.json") as f:
        report = summarize(json.load(f))
    with open(f"{base}.md", "w") as f:
        f.write(report)
    print(report)
    print(f"wrote {base}.json and {base}.md")
    return proc.returncode


def crossover_here(path):
    """The GPU sweeps of a committed run (`path`) against the numpy backend timed here, size by size:
    where a GPU would overtake this machine's CPU."""
    sys.path.insert(0, os.path.dirname(HERE))
    sys.path.insert(0, HERE)
    import test_cuda
    with open(path) as f:
        data = json.load(f)
    for b in data["benchmarks"]:
        e = b["extra_info"]
        if "crossover_n" not in e:
            continue
        timer = test_cuda._matmul_timer("numpy") if e["program"] == "matmul" else test_cuda._mlp_timer("numpy")
        rows = [dict(r, numpy_s=timer(r["n"])) for r in e["sweep"]]
        print(f"{e['program']}: {e['device']} faster than the numpy backend here from n = "
              f"{test_cuda.first_staying_faster(rows) or 'never (in this sweep)'}")
        print("\n".join(sweep_table(rows, "numpy here", e["device"])))
    return 0


def sweep_table(rows, cpu, gpu):
    """A crossover sweep as a markdown table: n, the two times, the GPU's speedup."""
    return [f"| n | {cpu} | {gpu} | speedup |", "|---|---|---|---|"] + [
        f"| {r['n']} | {r['numpy_s'] * 1e3:.3f} ms | {r['gpu_s'] * 1e3:.3f} ms | {r['numpy_s'] / r['gpu_s']:.2f} |"
        for r in rows]


def summarize(data):
    benches = {b["name"]: b for b in data["benchmarks"]}
    info = next(iter(benches.values()))["extra_info"] if benches else {}
    lines = [f"# numba_cuda on {info.get('device', '?')}", "",
             f"- measured {data.get('datetime', '?')}; compute capability {info.get('compute_capability')}, "
             f"{info.get('multiprocessors')} SMs",
             f"- numba {info.get('numba')}, numba-cuda {info.get('numba_cuda')}, driver {info.get('driver')}, "
             f"runtime {info.get('runtime')}; cuBLAS via {info.get('cublas_via')}", ""]
    mm = [b for b in benches.values() if b["extra_info"].get("kernel")]
    if mm:
        lines += ["| fp32 matmul | n | TFLOP/s | goal | best time |", "|---|---|---|---|---|"]
        for b in mm:
            e = b["extra_info"]
            lines.append(f"| {e['kernel']} | {e['n']} | {e['tflops']} | {e.get('target_tflops') or '-'} | "
                         f"{b['stats']['min'] * 1e3:.2f} ms |")
        lines.append("")
    for b in benches.values():
        e = b["extra_info"]
        if "fraction_of_copy" in e:
            lines += [f"relu forward + backward on {e['n']} float32: {e['gb_per_s']} GB/s, "
                      f"{e['fraction_of_copy']:.0%} of the measured copy bandwidth {e['copy_gb_per_s']} GB/s "
                      f"(goal 70%); {b['stats']['min'] * 1e3:.2f} ms", ""]
    for b in benches.values():
        e = b["extra_info"]
        if "crossover_n" in e:
            lines += [f"{e['program']}: the GPU is faster than the NumPy backend from n = {e['crossover_n']}", ""]
            lines += sweep_table(e["sweep"], "numpy", "numba_cuda") + [""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
