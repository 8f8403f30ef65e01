#!/usr/bin/env bash
# scripts/gpu_check.sh: on a machine with an NVIDIA GPU, build the CUDA target and its tests
# and run every [cuda] test, then print a compact summary. Meant to finish in a few minutes on
# an H200 (16 cores): only the CUDA targets are built, not the CPU suite or the examples.
#
# Environment:
#   NABLA_BUILD_DIR    build directory (default: build-gpu)
#   NABLA_JOBS         parallel build jobs (default: nproc)
#   NABLA_CUDA_ARCHS   CMAKE_CUDA_ARCHITECTURES (default: the GPU's own, e.g. 90 on an H200,
#                      so nvcc compiles for one architecture only)
# Exit status: 0 when every CUDA test passed, 1 otherwise (also when no GPU is visible: the
# tests then report SKIPPED, and a GPU check that ran nothing has not passed).
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
    -DNABLA_BUILD_EXAMPLES=OFF -DNABLA_BUILD_BENCH=OFF -DCMAKE_CUDA_ARCHITECTURES="$archs" \
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
  summary+="$test: $verdict; $(tail -1 "$log_dir/$test.log")"$'\n'
  if [ "$code" != 0 ] && [ "$code" != 77 ]; then
    grep -E "FAILED|failed|error" "$log_dir/$test.log" | head -40
  fi
done
finished=$(date +%s)

echo "SUMMARY (build $((built - start)) s, tests $((finished - built)) s, logs in $log_dir):"
printf "%s" "$summary"
exit $status
