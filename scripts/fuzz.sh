#!/usr/bin/env bash
# scripts/fuzz.sh [seconds-per-target] [target...] - builds nabla's libFuzzer targets (fuzz/,
# clang++-14 with -fsanitize=fuzzer,address,undefined, in build-fuzz/) and runs each for the
# given seconds (default 60), one after the other, printing per target the executions, the
# coverage reached (cov: edges) and the crashes found. Exit status 1 if any target found one;
# its input is then in build-fuzz/artifacts/<target>/ (add it to fuzz/regressions/<target>/
# once fixed: ctest fuzz_replay replays it in every build).
#
# Every run starts from the committed seeds fuzz/corpus/<target>/ and regressions, plus what
# earlier runs on this machine found (build-fuzz/corpus/<target>/, never committed), with the
# dictionary fuzz/dict/<target>.dict and the limits -rss_limit_mb=2048 -malloc_limit_mb=1024:
# a parser that allocates more than 1 GiB at once, or grows past 2 GiB, is a finding.
#
# An input that runs longer than NABLA_FUZZ_TIMEOUT seconds (default 10) is a finding too,
# libFuzzer's "timeout", which also ends that target's run. On a loaded machine a process can
# also be starved of the CPU for that long: so a timeout's input is replayed at once, and if it
# then finishes within half the limit it is reported as a stall of the machine, not a finding
# (the file stays in the artifacts directory as stall-<hash>; the target's run ended early).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(checkpoint model_file layer_config safetensors npy csv tokenizer lm_batcher brown spam)
fi
cxx=${NABLA_FUZZ_CXX:-clang++-14}
if ! command -v "$cxx" > /dev/null; then
  echo "fuzz.sh: $cxx not found (Debian: clang-14 libclang-rt-14-dev libomp-14-dev)" >&2
  exit 2
fi

launcher=()
if command -v ccache > /dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
mkdir -p build-fuzz
log=build-fuzz/build.log
cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG= \
  -DNABLA_FUZZ=ON -DNABLA_BUILD_TESTS=OFF -DNABLA_BUILD_EXAMPLES=OFF -DNABLA_BUILD_BENCH=OFF \
  -DNABLA_CUDA=OFF -DNABLA_INSTALL=OFF "${launcher[@]}" > "$log" 2>&1 || {
  cat "$log" >&2
  exit 2
}
build_targets=()
for target in "${targets[@]}"; do build_targets+=("fuzz_$target"); done
cmake --build build-fuzz -j"${NABLA_JOBS:-$(nproc)}" --target "${build_targets[@]}" >> "$log" 2>&1 || {
  tail -50 "$log" >&2
  exit 2
}

export OMP_NUM_THREADS=1
# Leaks are findings too; UBSan stops at the first report (it is built with -fno-sanitize-recover).
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
timeout_seconds=${NABLA_FUZZ_TIMEOUT:-10}
status=0
total_runs=0
printf '%-13s %12s %8s %8s %8s %s\n' target executions exec/s cov ft crashes
summary=""
for target in "${targets[@]}"; do
  work=build-fuzz/corpus/$target
  artifacts=build-fuzz/artifacts/$target
  mkdir -p "$work" "$artifacts"
  seeds=(fuzz/corpus/"$target")
  if [ -d fuzz/regressions/"$target" ]; then seeds+=(fuzz/regressions/"$target"); fi
  log=build-fuzz/$target.log
  # libFuzzer also writes slow-unit-* files (an input over 10 s, -report_slow_units): on a loaded
  # machine a stall of the whole system makes one. They are not findings (the run goes on and exits
  # 0); fuzz.sh counts them apart and they are replayed like any other input to check.
  before=$(find "$artifacts" -type f ! -name 'slow-unit-*' | wc -l)
  slow_before=$(find "$artifacts" -type f -name 'slow-unit-*' | wc -l)
  touch "$log.start"  # artifacts newer than this are this run's
  set +e
  ./build-fuzz/fuzz/fuzz_"$target" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 \
    -timeout="$timeout_seconds" -max_len=65536 -dict=fuzz/dict/"$target".dict -artifact_prefix="$artifacts/" \
    -print_final_stats=1 "$work" "${seeds[@]}" > "$log" 2>&1
  result=$?
  set -e
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)
  crashes=$(($(find "$artifacts" -type f ! -name 'slow-unit-*' | wc -l) - before))
  slow=$(($(find "$artifacts" -type f -name 'slow-unit-*' | wc -l) - slow_before))
  # A timeout whose input replays quickly was the machine, not the parser (see the top).
  stalls=0
  if [ "$result" -ne 0 ]; then
    for unit in $(find "$artifacts" -type f -name 'timeout-*' -newer "$log.start"); do
      replay_start=$(date +%s%N)
      if timeout "$timeout_seconds" ./build-fuzz/fuzz/fuzz_"$target" -runs=1 "$unit" > "$log.replay" 2>&1; then
        replay_ms=$((($(date +%s%N) - replay_start) / 1000000))
        if [ "$replay_ms" -lt $((timeout_seconds * 500)) ]; then
          mv "$unit" "$artifacts/stall-${unit##*/timeout-}"
          stalls=$((stalls + 1))
          crashes=$((crashes - 1))
          echo "fuzz.sh: $target: a 'timeout' replayed in $replay_ms ms: a stall of the machine, not a finding" >&2
        fi
      fi
    done
    if [ "$stalls" -gt 0 ] && [ "$crashes" -eq 0 ]; then result=0; fi
  fi
  if [ "$result" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes=1; fi
  total_runs=$((total_runs + ${runs:-0}))
  line=$(printf '%-13s %12s %8s %8s %8s %s' "$target" "${runs:-0}" "${rate:-0}" "${cov:-0}" "${ft:-0}" "$crashes")
  if [ "$slow" -gt 0 ]; then line+=" ($slow slow unit(s) in $artifacts/, not findings: replay them)"; fi
  if [ "$stalls" -gt 0 ]; then line+=" (ended early by $stalls stall(s) of the machine: stall-* in $artifacts/)"; fi
  echo "$line"
  summary+="$line"$'\n'
  if [ "$result" -ne 0 ]; then
    status=1
    echo "fuzz.sh: $target failed (exit $result); its log is $log, the input in $artifacts/:" >&2
    grep -E 'ERROR|SUMMARY|runtime error|==ERROR|deadly|Test unit written' "$log" | head -20 >&2 || true
  fi
done
echo "fuzz.sh: $total_runs executions in total, ${seconds} s per target"
exit $status
