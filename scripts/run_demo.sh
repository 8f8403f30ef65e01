#!/usr/bin/env bash
# scripts/run_demo.sh: set up, build and run the demo (examples/demo). Arguments are passed
# on to the demo. Same environment variables as scripts/test.sh (NABLA_BUILD_DIR,
# NABLA_CMAKE_ARGS, NABLA_JOBS).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash scripts/setup.sh

build_dir=${NABLA_BUILD_DIR:-build}
jobs=${NABLA_JOBS:-$(nproc)}
read -r -a extra_args <<< "${NABLA_CMAKE_ARGS:-}"

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DNABLA_BUILD_EXAMPLES=ON \
  ${extra_args[@]+"${extra_args[@]}"}
cmake --build "$build_dir" --target demo -j"$jobs"
exec "$build_dir/examples/demo" "$@"
