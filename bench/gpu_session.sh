#!/usr/bin/env bash
# Everything the CPU machines cannot check, in one run on a machine with an NVIDIA GPU:
#
#   bash bench/gpu_session.sh OUTDIR
#
# 1. the device, driver and library versions, and a first product on the GPU;
# 2. the CUDA benchmarks (bench/cuda_results.py: fp32 matmul 1024-8192 beside cuBLAS, relu on 64M
#    elements against the copy bandwidth, where the GPU overtakes NumPy);
# 3. napkin's calibration of the GPU's rates and its predictions held against the clock
#    (`tinygrad-nm bench --backend numba_cuda`), a digits run with `--estimate`, and the walkthrough's
#    averaging network trained 300 epochs (`train --task average`);
# 4. the backend-parametrized test suite on numba_cuda on the real GPU (slow tests included), and
#    beside it the walkthrough's programs with the 300-epoch scalar loop.
# The timed stages run alone on the GPU; the suite and the walkthrough run last, together. Each
# stage has its own time limit (535 s in all), so one that hangs leaves the others their time. Nothing is
# fetched: the machine's python3 (numba-cuda, CuPy or PyTorch, pytest, pytest-benchmark,
# pytest-xdist) runs this checkout from PYTHONPATH; the cython backend is not built there.
# Wheels in .whl/ are installed first. The H200 image's NumPy 2.5.2 breaks numba-cuda 0.30.4, so
# carry NumPy 2.4.6 (from the repository root, once; then name ".whl" in the device run's carry):
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl numpy==2.4.6
set -u
dest=${1:?usage: bash bench/gpu_session.sh OUTDIR}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
cd "$(dirname "$0")/.."
out=$(mktemp -d)  # every file goes here; OUTDIR gets one archive of them and the main logs
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
export TINYGRAD_NM_RATES="$out/rates.json"  # the calibration lands with the results
py=${PYTHON:-python3}
if ls .whl/*.whl > /dev/null 2>&1; then  # wheels carried for packages the machine lacks or has too new:
    site=$(mktemp -d)                    # the H200 image's NumPy 2.5 breaks numba-cuda 0.30 (np.row_stack)
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" .whl/*.whl \
        && export PYTHONPATH="$site:$PYTHONPATH"
fi
stage() { echo "== $(date -u +%T) $*"; }

{
    stage "1/4 the machine"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
    "$py" --version
    "$py" -m pip list 2>/dev/null | grep -i -E "^(numba|numba-cuda|llvmlite|cupy|torch|numpy|pytest|hypothesis|cuda)" || true
    nproc
    timeout 60 "$py" - <<'EOF'
import time, numpy as np, tinygrad_nm as tnm
print("backends:", tnm.available_backends())
nc = tnm.backends.load("numba_cuda")
print(nc.describe(), nc.policy())
a = np.random.default_rng(0).standard_normal((300, 200)).astype(np.float32)
start = time.perf_counter()
y = (tnm.Tensor(a, backend="numba_cuda") @ tnm.Tensor(a.T.copy(), backend="numba_cuda")).numpy()
print(f"first product on the GPU (compile included): {time.perf_counter() - start:.2f} s, "
      f"max error {np.abs(y - a @ a.T).max():.2e}")
EOF
    # where one small kernel call's time goes (186 us on the first H200 run): each part alone, a
    # profile, with the caching allocator and with Numba's own
    timeout 60 "$py" bench/cuda_call_cost.py
    TINYGRAD_NM_CUDA_POOL=0 timeout 60 "$py" bench/cuda_call_cost.py
} > "$out/1-machine.log" 2>&1
cat "$out/1-machine.log"

stage "2/4 the CUDA benchmarks"
touch "$out/.stage2"
timeout 110 "$py" bench/cuda_results.py > "$out/2-cuda-bench.log" 2>&1
echo "exit $?" >> "$out/2-cuda-bench.log"
find bench/results -name 'cuda-*' -newer "$out/.stage2" -exec cp {} "$out/" \;  # this run's, not the committed ones
tail -40 "$out/2-cuda-bench.log"

stage "3/4 napkin on the GPU: calibration, predictions against the clock, a digits run"
{
    timeout 80 "$py" -m tinygrad_nm bench --quick --backend numba_cuda --out "$out"
    echo "exit $?"
    timeout 40 "$py" bench/cuda_warmup.py --task digits --backend numba_cuda --estimate --no-progress --no-plot  # + its compiles
    echo "exit $?"
    timeout 25 "$py" -m tinygrad_nm train --task average --epochs 300 --backend numba_cuda --no-progress --no-plot
    echo "exit $?"
} > "$out/3-napkin.log" 2>&1
tail -60 "$out/3-napkin.log"

stage "4/4 the test suite on numba_cuda (real GPU), and the walkthrough beside it"
(TINYGRAD_NM_BACKEND=numba_cuda timeout 200 "$py" -m tinygrad_nm.examples.walkthrough > "$out/4-walkthrough.log" 2>&1;
 echo "exit $?" >> "$out/4-walkthrough.log") &
# Tracebacks are streamed to 4-failures.log as they happen (a time limit cuts pytest's own summary).
suite() {  # suite LIMIT NAME MARK
    STREAM_FAILURES="$out/4-failures.log" PYTHONPATH="$PWD/bench:$PYTHONPATH" TINYGRAD_NM_TEST_BACKENDS=numba_cuda \
        timeout "$1" "$py" -m pytest tests -k numba_cuda -m "$3" -p stream_failures -p no:cacheprovider -n 12 -v \
        --tb=short --timeout 120 --junitxml="$out/4-$2.xml" > "$out/4-$2.log" 2>&1
    echo "exit $?" >> "$out/4-$2.log"
    tail -3 "$out/4-$2.log"
}
suite 160 suite "not slow"
suite 60 suite-slow slow
wait
grep -c "^===" "$out/4-failures.log" 2>/dev/null
cat "$out/4-walkthrough.log"
stage "done"
ls -la "$out"
tar czf "$dest/gpu-session.tgz" -C "$out" .
cp "$out"/cuda-*.md "$out/4-failures.log" "$dest/" 2>/dev/null
