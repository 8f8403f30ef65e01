#!/usr/bin/env bash
# scripts/test.sh: set up, configure, build and run nabla's full test suite.
#
# Environment:
#   NABLA_BUILD_DIR    build directory (default: build)
#   NABLA_CMAKE_ARGS   extra arguments for the configure step, e.g.
#                      NABLA_CMAKE_ARGS="-DNABLA_CUDA=OFF -DNABLA_USE_BLAS=ON"
#   NABLA_JOBS         parallel build jobs (default: nproc)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash scripts/setup.sh

build_dir=${NABLA_BUILD_DIR:-build}
jobs=${NABLA_JOBS:-$(nproc)}
read -r -a extra_args <<< "${NABLA_CMAKE_ARGS:-}"

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DNABLA_BUILD_TESTS=ON \
  ${extra_args[@]+"${extra_args[@]}"}
cmake --build "$build_dir" -j"$jobs"
ctest --test-dir "$build_dir" --output-on-failure -j2
