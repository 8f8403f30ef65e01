#!/usr/bin/env bash
# bench/compile_time/measure.sh - compile time of a user's TU (docs/performance.md, "Compile
# time"): bench/compile_time/train_small.cpp at -O2 with g++, best of $ROUNDS (default 3) user-CPU
# times, in two modes side by side:
#   header-only   what a program linking nabla::nabla compiles (the default)
#   precompiled   what a program linking nabla::precompiled compiles: -DNABLA_PRECOMPILED, so
#                 nabla.hpp declares the float and double paths `extern template` and the TU
#                 compiles calls into the library (include/nabla/precompiled.hpp)
# Run from the repository root; about 2 minutes on a quiet machine (PARTS=1 adds the probe's two
# halves, about 4 minutes more; WIDE=1 the wider probe train_wide.cpp, about 3 minutes more). Extra arguments go to the compiler (e.g. -DNABLA_HAS_SAFETENSORS=0).
# With PRECOMPILED_LIB=<build>/libnabla_precompiled.a the precompiled probe is also linked against
# that library and run (it prints its epochs and a loss), to show the TU measured is a program.
# TESTS=1 adds two test TUs at CI's Release flags (-O3 -march=native), header-only only: about 3
# minutes more. INCLUDE=<dir> measures the headers of another checkout (default: include), e.g.
# `git worktree add /tmp/before <commit>` then INCLUDE=/tmp/before/include for a before/after.
set -euo pipefail
rounds=${ROUNDS:-3}
compiler=${CXX:-g++}
flags=(-std=c++20 -O2 -fopenmp -DNABLA_USE_BLAS=1 -DNABLA_USE_DNNL=1 -I"${INCLUDE:-include}" -isystem /usr/include/eigen3 "$@")
probe=bench/compile_time/train_small.cpp
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf '#include <nabla/nabla.hpp>\nint main() { return 0; }\n' > "$out/include_only.cpp"

best_user_seconds() {  # the compiler's user CPU time, best of $rounds
  local best=""
  for ((round = 0; round < rounds; ++round)); do
    local seconds
    seconds=$( { /usr/bin/time -f "%U" "$compiler" "${flags[@]}" "$@" -c -o "$out/probe.o"; } 2>&1 | tail -1)
    if [[ -z "$best" ]] || awk "BEGIN { exit !($seconds < $best) }"; then best=$seconds; fi
  done
  echo "$best"
}

row() {  # label, then the compiler arguments; one column per mode
  local label=$1
  shift
  printf '%-44s %12s %12s\n' "$label" "$(best_user_seconds "$@")" "$(best_user_seconds -DNABLA_PRECOMPILED "$@")"
}

echo "$compiler ${flags[*]} -c, user seconds, best of $rounds"
printf '%-44s %12s %12s\n' "TU" "header-only" "precompiled"
row "#include <nabla/nabla.hpp> only" "$out/include_only.cpp"
row "train_small.cpp (fit + hand-written loop)" "$probe"
if [[ "${PARTS:-0}" == 1 ]]; then
  row "  the loop only (-DPROBE_FIT=0)" -DPROBE_FIT=0 "$probe"
  row "  fit only (-DPROBE_LOOP=0)" -DPROBE_LOOP=0 "$probe"
fi
if [[ "${WIDE:-0}" == 1 ]]; then
  row "train_wide.cpp (more layers, float + double)" bench/compile_time/train_wide.cpp
fi

if [[ "${TESTS:-0}" == 1 ]]; then
  for test in tests/test_loss.cpp tests/test_nn.cpp; do
    printf '%-44s %12s\n' "$test -O3 -march=native" "$(best_user_seconds -O3 -march=native "$test")"
  done
fi

if [[ -n "${PRECOMPILED_LIB:-}" ]]; then
  echo "linked against $PRECOMPILED_LIB and run:"
  "$compiler" "${flags[@]}" -DNABLA_PRECOMPILED "$probe" "$PRECOMPILED_LIB" -lopenblas -ldnnl -o "$out/probe"
  "$out/probe"
fi
