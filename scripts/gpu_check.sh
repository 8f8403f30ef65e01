#!/usr/bin/env bash
# scripts/gpu_check.sh: on a machine with an NVIDIA GPU, build the CUDA target and its tests
# and run every [cuda] test (and test_distributed's GPU case where Open MPI is installed), then the
# GPU benchmarks (bench/bench_cuda.cpp, about 2-4 minutes) and PyTorch's side of them
# (bench/compare_pytorch_gpu.py, where torch with CUDA is installed), and print a compact summary
# with both tables. Meant to finish in under 8 minutes on an
# H200 (16 cores): only the CUDA targets are built, not the CPU suite, the CPU benchmarks or the
# examples.
#
# Environment:
#   NABLA_BUILD_DIR    build directory (default: build-gpu)
#   NABLA_JOBS         parallel build jobs (default: nproc)
#   NABLA_CUDA_ARCHS   CMAKE_CUDA_ARCHITECTURES (default: the GPU's own, e.g. 90 on an H200,
#                      so nvcc compiles for one architecture only)
#   NABLA_BENCH_ARGS   arguments for bench_cuda (default: --benchmark_min_time=0.2); e.g.
#                      --benchmark_filter=lstm for the LSTM comparison only
#   NABLA_BENCH_TIMEOUT  seconds bench_cuda may run (default: 300)
#   NABLA_TORCH_TIMEOUT  seconds bench/compare_pytorch_gpu.py may run (default: 240)
# Outputs in $NABLA_BUILD_DIR/gpu_check: configure.log, build.log, build_bench.log, one log per test,
# bench_cuda.log (the console table) and bench_cuda.json (--benchmark_out, JSON).
# Exit status: 0 when every CUDA test passed, 1 otherwise (also when no GPU is visible: the
# tests then report SKIPPED, and a GPU check that ran nothing has not passed). The benchmarks
# do not change it: their outcome is a line of the summary (and needs Google Benchmark,
# libbenchmark-dev; without it bench_cuda is not built and the summary says so).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1
build_dir=${NABLA_BUILD_DIR:-build-gpu}
jobs=${NABLA_JOBS:-$(nproc)}
log_dir="$build_dir/gpu_check"
mkdir -p "$log_dir"

if command -v nvidia-smi > /dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | sed 's/^/gpu: /'
  arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '.')
else
  echo "gpu: nvidia-smi not found"
  arch=""
fi
archs=${NABLA_CUDA_ARCHS:-${arch:-90}}

start=$(date +%s)
if ! cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DNABLA_CUDA=ON -DNABLA_BUILD_TESTS=ON \
    -DNABLA_BUILD_EXAMPLES=OFF -DNABLA_BUILD_BENCH=ON -DCMAKE_CUDA_ARCHITECTURES="$archs" \
    > "$log_dir/configure.log" 2>&1; then
  tail -30 "$log_dir/configure.log"
  echo "SUMMARY: configure FAILED (see $log_dir/configure.log)"
  exit 1
fi
if ! cmake --build "$build_dir" -j"$jobs" --target nabla_cuda test_cuda_runtime test_cuda_parity \
    > "$log_dir/build.log" 2>&1; then
  grep -E "error" "$log_dir/build.log" | head -30
  echo "SUMMARY: build FAILED (see $log_dir/build.log)"
  exit 1
fi
# The GPU benchmarks, built on their own so that a failure there never stops the tests.
# bench_cuda exists only when Google Benchmark was found (bench/CMakeLists.txt).
bench_build="not built (Google Benchmark not found; Debian: libbenchmark-dev)"
if cmake --build "$build_dir" --target help 2> /dev/null | grep -qw bench_cuda; then
  if cmake --build "$build_dir" -j"$jobs" --target bench_cuda > "$log_dir/build_bench.log" 2>&1; then
    bench_build="built"
  else
    grep -E "error" "$log_dir/build_bench.log" | head -30
    bench_build="build FAILED (see $log_dir/build_bench.log)"
  fi
fi
built=$(date +%s)

status=0
summary=""
for test in test_cuda_runtime test_cuda_parity; do
  "$build_dir/tests/$test" --reporter compact > "$log_dir/$test.log" 2>&1
  code=$?
  case $code in
    0) verdict="passed" ;;
    77) verdict="SKIPPED (no CUDA device)"; status=1 ;;
    *) verdict="FAILED (exit $code)"; status=1 ;;
  esac
  # Catch2's last line counts the assertions and test cases.
  summary+="$test: $verdict; $(grep -v "^[[:space:]]*$" "$log_dir/$test.log" | tail -1)"$'\n'
  if [ "$code" != 0 ] && [ "$code" != 77 ]; then
    grep -E "FAILED|failed|error" "$log_dir/$test.log" | head -40
  fi
done
# The GPU paths of nabla::distributed (issue 15), where Open MPI was found at configure time:
# world size 1 in one process (NCCL when found), then 2 ranks sharing the one GPU through MPI with
# host staging (NCCL refuses two ranks on one device).
if cmake --build "$build_dir" --target help 2> /dev/null | grep -qw test_distributed; then
  if cmake --build "$build_dir" -j"$jobs" --target test_distributed > "$log_dir/build_distributed.log" 2>&1; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
    runs=("one process:$build_dir/tests/distributed/test_distributed [cuda]")
    if command -v mpirun > /dev/null; then
      runs+=("2 ranks, MPI staged:mpirun -np 2 --oversubscribe -x NABLA_NCCL=0 $build_dir/tests/distributed/test_distributed [cuda]")
    fi
    for run in "${runs[@]}"; do
      label=${run%%:*}
      read -r -a command <<< "${run#*:}"
      timeout 120 "${command[@]}" --reporter compact > "$log_dir/test_distributed_${label// /_}.log" 2>&1
      code=$?
      case $code in
        0) verdict="passed" ;;
        *) verdict="FAILED (exit $code)"; status=1 ;;
      esac
      summary+="test_distributed [cuda], $label: $verdict; $(grep -v "^[[:space:]]*$" \
        "$log_dir/test_distributed_${label// /_}.log" | tail -1)"$'\n'
    done
  else
    grep -E "error" "$log_dir/build_distributed.log" | head -20
    summary+="test_distributed: build FAILED (see $log_dir/build_distributed.log)"$'\n'
    status=1
  fi
else
  summary+="test_distributed: not configured (Open MPI not found on this machine)"$'\n'
fi
finished=$(date +%s)

# The GPU benchmarks, after the tests; they never change the exit status.
bench_table=""
bench_binary="$build_dir/bench/bench_cuda"
if [ "$bench_build" != built ]; then
  summary+="bench_cuda: $bench_build"$'\n'
else
  read -r -a bench_args <<< "${NABLA_BENCH_ARGS:---benchmark_min_time=0.2}"
  rm -f "$log_dir/bench_cuda.json"
  timeout "${NABLA_BENCH_TIMEOUT:-300}" "$bench_binary" "${bench_args[@]}" \
    --benchmark_out="$log_dir/bench_cuda.json" --benchmark_out_format=json \
    > "$log_dir/bench_cuda.log" 2>&1
  code=$?
  errors=$(grep -c "ERROR OCCURRED" "$log_dir/bench_cuda.log")
  if grep -q "skipped: no CUDA device" "$log_dir/bench_cuda.log"; then
    verdict="SKIPPED (no CUDA device)"
  elif [ "$code" = 124 ]; then
    verdict="TIMED OUT after ${NABLA_BENCH_TIMEOUT:-300} s (partial output in $log_dir/bench_cuda.log)"
  elif [ "$code" != 0 ]; then
    verdict="FAILED (exit $code)"
  elif [ "$errors" != 0 ]; then
    verdict="ran, $errors benchmark(s) reported ERROR OCCURRED"
  else
    verdict="ran"
  fi
  summary+="bench_cuda: $verdict; $(($(date +%s) - finished)) s"
  [ -s "$log_dir/bench_cuda.json" ] && summary+=", JSON in $log_dir/bench_cuda.json"
  summary+=$'\n'
  # The console table without Google Benchmark's preamble (host CPU, caches, load average).
  bench_table=$(grep -vE "^(Run on|CPU Caches|  L[0-9] |Load Average|\*\*\*WARNING)" "$log_dir/bench_cuda.log")
fi
benched=$(date +%s)

# PyTorch on the same GPU for the same rows (bench/compare_pytorch_gpu.py), where this machine's
# python3 has torch with CUDA; it never changes the exit status.
torch_table=""
if python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" > /dev/null 2>&1; then
  timeout "${NABLA_TORCH_TIMEOUT:-240}" python3 bench/compare_pytorch_gpu.py > "$log_dir/compare_pytorch_gpu.log" 2>&1
  summary+="compare_pytorch_gpu.py: exit $?; $(($(date +%s) - benched)) s"$'\n'
  torch_table=$(cat "$log_dir/compare_pytorch_gpu.log")
else
  summary+="compare_pytorch_gpu.py: not run (no python3 with torch and CUDA)"$'\n'
fi
benched=$(date +%s)

echo "SUMMARY (build $((built - start)) s, tests $((finished - built)) s, bench $((benched - finished)) s, logs in $log_dir):"
printf "%s" "$summary"
if [ -n "$bench_table" ]; then
  echo "bench_cuda console output:"
  printf "%s\n" "$bench_table"
fi
if [ -n "$torch_table" ]; then
  echo "PyTorch on the same device:"
  printf "%s\n" "$torch_table"
fi
exit $status
