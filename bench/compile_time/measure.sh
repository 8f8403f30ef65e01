#!/usr/bin/env bash
# bench/compile_time/measure.sh - compile time of a user's TU (docs/performance.md, "Compile
# time"): bench/compile_time/train_small.cpp at -O2 with g++, whole and in parts, best of
# $ROUNDS (default 2) user-CPU times. Run from the repository root; about 2 minutes on a quiet
# machine. Extra arguments go to the compiler (e.g. -DNABLA_HAS_SAFETENSORS=0).
set -euo pipefail
rounds=${ROUNDS:-2}
compiler=${CXX:-g++}
flags=(-std=c++20 -O2 -fopenmp -DNABLA_USE_BLAS=1 -DNABLA_USE_DNNL=1 -Iinclude -I/usr/include/eigen3 "$@")
probe=bench/compile_time/train_small.cpp
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf 'int main() { return 0; }\n' > "$out/include_only.cpp"
sed -i '1i #include <nabla/nabla.hpp>' "$out/include_only.cpp"

best_user_seconds() {  # the compiler's user CPU time, best of $rounds
  local best=""
  for ((round = 0; round < rounds; ++round)); do
    local seconds
    seconds=$( { /usr/bin/time -f "%U" "$compiler" "${flags[@]}" "$@" -c -o "$out/probe.o"; } 2>&1 | tail -1)
    if [[ -z "$best" ]] || awk "BEGIN { exit !($seconds < $best) }"; then best=$seconds; fi
  done
  echo "$best"
}

echo "$compiler ${flags[*]} -c, user seconds, best of $rounds"
printf '%-42s %s\n' "#include <nabla/nabla.hpp> only" "$(best_user_seconds "$out/include_only.cpp")"
printf '%-42s %s\n' "train_small.cpp (fit + hand-written loop)" "$(best_user_seconds "$probe")"
printf '%-42s %s\n' "  the loop only (-DPROBE_FIT=0)" "$(best_user_seconds -DPROBE_FIT=0 "$probe")"
printf '%-42s %s\n' "  fit only (-DPROBE_LOOP=0)" "$(best_user_seconds -DPROBE_LOOP=0 "$probe")"
