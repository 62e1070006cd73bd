#!/usr/bin/env bash
# One prepared run on a CUDA machine: install, the test suite, the CUDA tests, `make bench` on cuda.
#
#   OUT=/some/dir bash bench/gpu_check.sh
#
# Written for a machine with no network (the device tool's H200): the Python there already has
# torch, numpy, scipy, sympy, pytest & co.; pyoperon and the Dask packages come as wheels in .whl/
# (bench/README.md says how to download them). `make test` itself is not used there because its
# first step installs the pinned CPU torch from PyPI; the commands below are what it runs.
# Each stage has its own time limit so that a slow stage cannot take the others' results with it.
set -u
OUT=${OUT:-bench/results/gpu}
PY=${PY:-python3}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
start=$(date +%s)
stamp() { echo "[gpu_check +$(( $(date +%s) - start ))s] $*"; }

{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  $PY -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no cuda')"
  nproc
} >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

stamp "install"
if [ -z "${SKIP_WHEELS:-}" ] && ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
$PY -m pip install -q --no-index --no-deps --no-build-isolation -e . >/tmp/symfx-install.log 2>&1 || { cat /tmp/symfx-install.log; exit 4; }
$PY -c "import symfx, pyoperon, torch; print('symfx', symfx.__version__, 'pyoperon ok', 'torch', torch.__version__)" || exit 5

# first make bench on cuda, alone on the machine (timings); bench/kernels.py is CPU-only (Inductor CPU choices).
# BENCH_ARGS narrows it (e.g. "bench/test_distill.py -k record" for the recording overhead alone).
stamp "bench on cuda"
SYMFX_BENCH_DEVICE=${BENCH_DEVICE:-cuda} timeout ${BENCH_TIMEOUT:-280} $PY -m pytest ${BENCH_ARGS:-bench} -q --benchmark-only \
  --benchmark-json="$OUT/bench_cuda.json" -p no:cacheprovider -o addopts='' >"$OUT/bench.log" 2>&1
echo "bench rc=$?" | tee -a "$OUT/bench.log"
cp bench/results/perf_${BENCH_DEVICE:-cuda}.json bench/results/perf_${BENCH_DEVICE:-cuda}.png "$OUT/" 2>/dev/null
tail -n 60 "$OUT/bench.log"

# then the CUDA tests (one process, -v) beside the rest of the suite (CPU work; make test's command, in 12 processes)
stamp "tests: CUDA tests beside the rest of the suite"
timeout ${TESTS_TIMEOUT:-200} $PY -m pytest tests/test_cuda.py -v -rs -p no:cacheprovider \
  >"$OUT/cuda-tests.log" 2>&1 &
cuda_pid=$!
# one torch thread per worker: 12 workers x 16 threads each ran a third of the suite in 170 s (session 17)
OMP_NUM_THREADS=${SUITE_THREADS:-1} timeout ${TESTS_TIMEOUT:-200} $PY -m pytest -v -n ${SUITE_PROCS:-12} -rf \
  -p no:cacheprovider --ignore=tests/test_cuda.py --durations=15 \
  >"$OUT/tests.log" 2>&1
echo "suite rc=$?" | tee -a "$OUT/tests.log"
wait $cuda_pid
echo "cuda tests rc=$?" | tee -a "$OUT/cuda-tests.log"
tail -n 25 "$OUT/cuda-tests.log"
tail -n 25 "$OUT/tests.log"

stamp "done"
