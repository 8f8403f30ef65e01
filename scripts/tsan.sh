#!/usr/bin/env bash
# scripts/tsan.sh - builds the tests that run threads (build-tsan/tsan_tests) with
# ThreadSanitizer and runs them; exit status 1 on any data race or failed test.
#
# What runs (Catch2 test names and tags, from the test files compiled below):
#   [data_pipeline]            DataLoader workers (0, 1, 4; errors in workers; early stop and
#                              destruction mid-epoch), sharded and streaming loaders, token files,
#                              augmentation across workers, docs/data.md's pipelines
#   [reliability][threads]     predict / forward from 4 threads on one shared model in eval mode
#   [threads]                  seeded random draws, seeded Dropouts and per-thread models from 4
#                              threads (tests/test_threads.cpp); OpenMP loops at several thread counts
#   fit with background workers trains exactly as without them   (fit's loader threads)
#
# OpenMP: GCC's libgomp is not built with TSan, so TSan cannot see its barriers and reports
# races between a parallel region's threads that are not there. This script therefore compiles
# with clang++-14 and LLVM's libomp (Debian: clang-14 libomp-14-dev), and loads the OpenMP tool
# Archer (libarcher.so, shipped with libomp), which tells TSan about OpenMP's synchronization:
# nabla's OpenMP loops run with 2 threads under TSan, no suppression file is needed.
# NABLA_TSAN_CXX=g++ builds with GCC instead (libgomp); then OMP_NUM_THREADS=1 keeps OpenMP on
# one thread so that only the std::threads are checked.
#
# Usage: bash scripts/tsan.sh [extra Catch2 arguments]   (NABLA_JOBS: parallel compiles;
#        NABLA_TSAN_TIMEOUT: seconds before the test run counts as hung, 600 by default)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
cxx=${NABLA_TSAN_CXX:-clang++-14}
if ! command -v "$cxx" > /dev/null; then
  echo "tsan.sh: $cxx not found (Debian: clang-14 libomp-14-dev)" >&2
  exit 2
fi
launcher=()
if command -v ccache > /dev/null; then launcher=(ccache); fi
out=build-tsan
mkdir -p "$out"

sources=(tests/main.cpp tests/test_threads.cpp tests/test_data_pipeline.cpp tests/test_reliability.cpp
  tests/test_train.cpp tests/test_data.cpp tests/test_tensor.cpp tests/test_reduce.cpp)
# -O1: TSan's own recommendation (fast enough, exact stacks). No BLAS / oneDNN: they are not
# instrumented, and nabla's own GEMM path is what the threads share.
flags=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=thread -fopenmp -Iinclude -isystem /usr/include/eigen3
  "-DNABLA_FIXTURE_DIR=\"$root/tests/fixtures\"")
compile() {
  local source=$1
  "${launcher[@]}" "$cxx" "${flags[@]}" -c "$source" -o "$out/$(basename "$source" .cpp).o" \
    > "$out/$(basename "$source" .cpp).log" 2>&1 || {
    echo "tsan.sh: compiling $source failed:" >&2
    tail -30 "$out/$(basename "$source" .cpp).log" >&2
    return 1
  }
}
start=$(date +%s)
failed=0
for source in "${sources[@]}"; do
  compile "$source" &
  while [ "$(jobs -rp | wc -l)" -ge "${NABLA_JOBS:-$(nproc)}" ]; do wait -n || failed=1; done
done
while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n || failed=1; done
wait || failed=1
[ "$failed" -eq 0 ] || exit 2
objects=()
for source in "${sources[@]}"; do objects+=("$out/$(basename "$source" .cpp).o"); done
"$cxx" -fsanitize=thread -fopenmp "${objects[@]}" -o "$out/tsan_tests"
echo "tsan.sh: built $out/tsan_tests in $(($(date +%s) - start)) s"

tests=('[data_pipeline],[threads],fit with background workers trains exactly as without them')
# ignore_noninstrumented_modules: libomp (not built with TSan) frees its own memory in memset
# calls that TSan would otherwise report as races between OpenMP threads (Archer asks for it).
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:exitcode=66:ignore_noninstrumented_modules=1}
if [[ "$cxx" == clang* ]]; then
  archer=$(dirname "$(readlink -f "$("$cxx" -print-file-name=libomp.so)")")/libarcher.so
  [ -f "$archer" ] || archer=/usr/lib/llvm-14/lib/libarcher.so
  export OMP_TOOL_LIBRARIES=$archer OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
  export ARCHER_OPTIONS=${ARCHER_OPTIONS:-verbose=1}
else
  export OMP_NUM_THREADS=1
fi
start=$(date +%s)
status=0
# A deadlock must fail the run, not hang it (the whole selection takes seconds).
timeout "${NABLA_TSAN_TIMEOUT:-600}" "$out/tsan_tests" "${tests[@]}" "$@" || status=$?
if [ "$status" -eq 124 ]; then echo "tsan.sh: stopped after ${NABLA_TSAN_TIMEOUT:-600} s (a hang?)" >&2; fi
echo "tsan.sh: ran in $(($(date +%s) - start)) s, exit status $status (OMP_NUM_THREADS=$OMP_NUM_THREADS)"
exit $((status == 0 ? 0 : 1))
