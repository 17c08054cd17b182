#!/usr/bin/env bash
# Fetches the Debian packages the offline stand-in corpora are built from.
#
# Usage: datasets/fetch_sources.sh [--dev-only|--sources-only] [text|images|audio ...]
#
# 1. Installs the -dev libraries the dataset readers link against (needs root;
#    skipped with a note otherwise).
# 2. Downloads the source packages with `apt-get download` and unpacks them
#    with `dpkg -x` under $ST_DATA_DIR (default /work/main/data/cache), so
#    nothing is installed system-wide. Each package's version and the sha256 of
#    its .deb are written to <cache>/versions.txt, which the prepare tool copies
#    into every prepared file's provenance.
# Safe to run again: packages already unpacked are kept.
set -euo pipefail

CACHE="${ST_DATA_DIR:-/work/main/data/cache}"
DEV_PACKAGES=(libjpeg-dev libpng-dev zlib1g-dev libzip-dev libsndfile1-dev
  libsamplerate0-dev libstb-dev)
TEXT_PACKAGES=(gnome-user-docs gnome-devel-docs dict-gcide python3.11-doc)
IMAGE_PACKAGES=(lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 mate-backgrounds
  tuxpaint-data palapeli-data opencv-doc python3-skimage python3-sklearn)
AUDIO_PACKAGES=(wesnoth-1.16-music)

do_dev=1
do_sources=1
sets=()
for arg in "$@"; do
  case "$arg" in
    --dev-only) do_sources=0 ;;
    --sources-only) do_dev=0 ;;
    text | images | audio) sets+=("$arg") ;;
    *) echo "error: unknown argument '$arg' (want --dev-only, --sources-only, text, images or audio)" >&2
       exit 2 ;;
  esac
done
[[ ${#sets[@]} -eq 0 ]] && sets=(text images audio)

if [[ $do_dev -eq 1 ]]; then
  missing=()
  for p in "${DEV_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    if [[ $(id -u) -eq 0 ]]; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
    else
      echo "note: not root; install these first: apt-get install ${missing[*]}" >&2
    fi
  fi
fi

[[ $do_sources -eq 1 ]] || exit 0

packages=()
for s in "${sets[@]}"; do
  case "$s" in
    text) packages+=("${TEXT_PACKAGES[@]}") ;;
    images) packages+=("${IMAGE_PACKAGES[@]}") ;;
    audio) packages+=("${AUDIO_PACKAGES[@]}") ;;
  esac
done

mkdir -p "$CACHE/debs" "$CACHE/root"
touch "$CACHE/versions.txt"
for p in "${packages[@]}"; do
  if grep -q "^$p " "$CACHE/versions.txt"; then
    echo "have $p"
    continue
  fi
  version=$(apt-cache policy "$p" | awk '/Candidate:/ {print $2}')
  if [[ (-z "$version" || "$version" == "(none)") && $(id -u) -eq 0 &&
        -z "${updated:-}" ]]; then
    apt-get update -qq  # a fresh machine may have no package lists yet
    updated=1
    version=$(apt-cache policy "$p" | awk '/Candidate:/ {print $2}')
  fi
  if [[ -z "$version" || "$version" == "(none)" ]]; then
    echo "error: package $p is not in the apt archive (run apt-get update?)" >&2
    exit 1
  fi
  (cd "$CACHE/debs" && apt-get download "$p=$version")
  deb=$(ls "$CACHE/debs/${p}_"*.deb | head -n 1)
  dpkg -x "$deb" "$CACHE/root"
  sha=$(sha256sum "$deb" | cut -d' ' -f1)
  echo "$p $version $sha" >> "$CACHE/versions.txt"
  echo "unpacked $p $version"
done
sort -o "$CACHE/versions.txt" "$CACHE/versions.txt"
echo "sources in $CACHE/root; versions in $CACHE/versions.txt"
