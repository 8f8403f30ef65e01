#!/usr/bin/env bash
# scripts/check_layers.sh: the architecture rules of docs/architecture.md, checked on the tree.
#
#   1. Layers: a header in include/nabla/<dir>/ includes only headers of a lower rank or of its
#      own directory (peers of one rank do not include each other); kernels/ includes only
#      core/ and backend/. The ranks below are the table in docs/architecture.md.
#   2. One device seam: outside include/nabla/backend/ and include/nabla/core/ no line (comments
#      stripped) branches on a device: is_cuda(), is_cpu(), device() == / !=, NABLA_WITH_CUDA,
#      backend::cuda::, cuda_detail.
#   3. Format: clang-format (the repo's .clang-format) would change no line of a tracked C++ file.
#
# Prints every violation and the three counts; exits 1 if any count is not 0.
#   bash scripts/check_layers.sh            # all three checks
#   NABLA_SKIP_FORMAT=1 bash scripts/check_layers.sh   # without clang-format (not in CI)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# Rank of each directory of include/nabla (low to high).
declare -A rank=(
  [core]=0
  [backend]=1
  [autograd]=2
  [ops]=3
  [io]=4
  [nn]=5
  [loss]=6 [optim]=6
  [metrics]=7 [data]=7
  [distributed]=8
  [train]=9
)

layer_violations=0
report_layer() {
  echo "layers: $1"
  layer_violations=$((layer_violations + 1))
}

# The directory of a path below include/nabla/ (backend/cpu/x.hpp -> backend).
top_dir() {
  local path=${1#include/nabla/}
  path=${path#nabla/}
  echo "${path%%/*}"
}

# One grep over the tree; each hit is "file:line:#include "nabla/..."".
include_re='#[[:space:]]*include[[:space:]]*"(nabla/[^"]+)"'
mapfile -t headers < <(git ls-files 'include/nabla/*.hpp')
mapfile -t kernel_files < <(git ls-files 'kernels/*')
while IFS= read -r hit; do
  file=${hit%%:*}
  rest=${hit#*:}
  number=${rest%%:*}
  [[ "$rest" =~ $include_re ]] || continue
  included=${BASH_REMATCH[1]}
  other=$(top_dir "$included")
  if [[ "$file" == kernels/* ]]; then
    if [[ "$other" != core && "$other" != backend ]]; then
      report_layer "$file:$number: kernels/ includes $included (only core/ and backend/ are allowed)"
    fi
    continue
  fi
  [[ "$file" == include/nabla/nabla.hpp ]] && continue
  dir=$(top_dir "$file")
  if [[ -z "${rank[$dir]+x}" ]]; then
    report_layer "$file: directory '$dir' has no rank (add it to scripts/check_layers.sh and docs/architecture.md)"
  elif [[ "$other" == "$dir" ]]; then
    continue
  elif [[ "$included" == nabla/nabla.hpp ]]; then
    report_layer "$file:$number includes the umbrella header nabla/nabla.hpp"
  elif [[ -z "${rank[$other]+x}" ]]; then
    report_layer "$file:$number includes $included, of unknown directory '$other'"
  elif ((rank[$other] >= rank[$dir])); then
    report_layer "$file:$number: $dir/ (rank ${rank[$dir]}) includes $included ($other/, rank ${rank[$other]})"
  fi
done < <(grep -nHE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"nabla/' "${headers[@]}" "${kernel_files[@]}" || true)

# Device branches: code lines only (// comments removed first).
device_branches=0
pattern='is_cuda\(\)|is_cpu\(\)|device\(\)\s*[!=]=|NABLA_WITH_CUDA|backend::cuda::|cuda_detail'
while IFS= read -r file; do
  case "$file" in
    include/nabla/backend/* | include/nabla/core/*) continue ;;
  esac
  while IFS= read -r hit; do
    echo "device branch: $file:$hit"
    device_branches=$((device_branches + 1))
  done < <(sed -E 's://.*$::' "$file" | grep -nE "$pattern" || true)
done < <(printf '%s\n' "${headers[@]}")

format_changes=0
if [[ "${NABLA_SKIP_FORMAT:-0}" != 1 ]]; then
  if ! command -v clang-format >/dev/null 2>&1; then
    echo "format: clang-format not found (Debian: clang-format; or NABLA_SKIP_FORMAT=1)" >&2
    exit 1
  fi
  mapfile -t sources < <(git ls-files '*.hpp' '*.cpp' '*.cu' '*.cuh' '*.h')
  while IFS= read -r file; do
    echo "format: clang-format would change $file (run: clang-format -i $file)"
    format_changes=$((format_changes + 1))
  done < <(clang-format --dry-run "${sources[@]}" 2>&1 | grep -oE '^[^:]+:[0-9]+:[0-9]+: (warning|error)' | cut -d: -f1 |
    sort -u)
fi

echo "check_layers: upward includes: $layer_violations; device branches outside backend/ and core/: $device_branches;" \
  "files clang-format would change: $format_changes"
if ((layer_violations + device_branches + format_changes > 0)); then
  exit 1
fi
echo "check_layers: OK"
