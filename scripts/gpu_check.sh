#!/usr/bin/env bash
# scripts/gpu_check.sh: on a machine with an NVIDIA GPU, build the CUDA target and its tests
# and run every [cuda] test, then the GPU benchmarks (bench/bench_cuda.cpp, about 1-3 minutes),
# and print a compact summary with the benchmark table. Meant to finish in under 8 minutes on an
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
# Outputs in $NABLA_BUILD_DIR/gpu_check: configure.log, build.log, build_bench.log, one log per test,
# bench_cuda.log (the console table) and bench_cuda.json (--benchmark_out, JSON).
# Exit status: 0 when every CUDA test passed, 1 otherwise (also when no GPU is visible: the
# tests then report SKIPPED, and a GPU check that ran nothing has not passed). The benchmarks
# do not change it: their outcome is a line of the summary (and needs Google Benchmark,
# libbenchmark-dev; without it bench_cuda is not built and the summary says so).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
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

echo "SUMMARY (build $((built - start)) s, tests $((finished - built)) s, bench $((benched - finished)) s, logs in $log_dir):"
printf "%s" "$summary"
if [ -n "$bench_table" ]; then
  echo "bench_cuda console output:"
  printf "%s\n" "$bench_table"
fi
exit $status
