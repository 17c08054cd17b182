#!/usr/bin/env bash
# Installs everything the build needs from Debian packages. Idempotent: quiet
# when all is in place, one clear line on failure.
#
# Usage: tools/bootstrap.sh [--data]
#   --data  also fetch the Debian packages the text stand-in is built from
#           (datasets/fetch_sources.sh text, into data/cache) and prepare it
#           (bazel run -c opt //datasets:prepare -- --dataset=text, into
#           data/text/text.stp) if it is not there yet. The image and audio
#           stand-ins: datasets/fetch_sources.sh images|audio, then
#           --dataset=images|audio.
#
# Versions: each package's upstream version is checked against the pin below,
# so every machine builds against the same libraries (Debian 12 "bookworm";
# security updates of the Debian revision are accepted).
set -euo pipefail
cd "$(dirname "$0")/.."

# package  upstream-version-prefix
PINS="
bazel-bootstrap 4.2.3
bazel-platforms 0.0.2
libabsl-dev 20220623.1
libgflags-dev 2.2.2
libgoogle-glog-dev 0.6.0
libprotobuf-dev 3.21.12
protobuf-compiler 3.21.12
libgtest-dev 1.12.1
libgmock-dev 1.12.1
libopenblas-dev 0.3.21
libpng-dev 1.6.39
zlib1g-dev 1:1.2.13
libjpeg62-turbo-dev 1:2.1.5
libzip-dev 1.7.3
libsndfile1-dev 1.2.0
libsamplerate0-dev 0.2.2
libstb-dev 0.0~git20220908
libssl-dev 3.0.
clang-format 1:14.0
"

fail() {
  echo "bootstrap: $*" >&2
  exit 1
}

installed_version() {
  dpkg-query -W -f='${Status} ${Version}\n' "$1" 2>/dev/null |
    awk '$3 == "installed" {print $4}'
}

missing=()
while read -r pkg _; do
  [[ -z "$pkg" ]] && continue
  [[ -n "$(installed_version "$pkg")" ]] || missing+=("$pkg")
done <<<"$PINS"

if [[ ${#missing[@]} -gt 0 ]]; then
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  log=$(mktemp)
  if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
      >"$log" 2>&1; then
    fail "apt-get install ${missing[*]} failed (log: $log)"
  fi
  rm -f "$log"
fi

while read -r pkg want; do
  [[ -z "$pkg" ]] && continue
  have="$(installed_version "$pkg")"
  [[ -n "$have" ]] || fail "$pkg is not installed"
  [[ "$have" == "$want"* ]] ||
    fail "$pkg is $have, the build is pinned to $want (Debian 12)"
done <<<"$PINS"

[[ -d /usr/share/bazel/tools/platforms ]] ||
  fail "/usr/share/bazel/tools/platforms missing (package bazel-platforms)"

# CUDA: optional. The CUDA parts build with --config=cuda when nvcc is here.
if [[ -x /usr/local/cuda/bin/nvcc ]]; then
  cuda_version=$(/usr/local/cuda/bin/nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')
  if [[ -n "${ST_BOOTSTRAP_VERBOSE:-}" ]]; then
    echo "bootstrap: CUDA $cuda_version at /usr/local/cuda: --config=cuda builds the GPU parts"
  fi
  echo "$cuda_version" >/dev/null
else
  echo "bootstrap: no CUDA toolkit at /usr/local/cuda: --config=cuda will not build (CPU build and tests are unaffected)"
fi

if [[ "${1:-}" == "--data" ]]; then
  # The source packages are downloaded and unpacked (not installed) here.
  export ST_DATA_DIR="${ST_DATA_DIR:-$PWD/data/cache}"
  datasets/fetch_sources.sh text >/dev/null ||
    fail "datasets/fetch_sources.sh text failed"
  if [[ ! -f data/text/text.stp ]]; then
    bazel run -c opt //datasets:prepare -- --dataset=text >/dev/null 2>&1 ||
      fail "bazel run -c opt //datasets:prepare -- --dataset=text failed"
  fi
fi
