#!/usr/bin/env bash
# Fetches the Debian kernels the real-kernel oracle boots (docs/oracle.md) into .cache/oracle/debs
# and writes .cache/oracle/kernels.txt: one line per kernel, "<series> <deb file>". The newest
# image of each series is asked of apt at run time, through Debian's linux-image-amd64
# metapackage: 6.12 from bookworm-backports, 6.1 from bookworm (with its security updates).
# Idempotent: a package already in the cache is not fetched again.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=.cache/oracle
mkdir -p "$cache/debs"

# newest <series> <suite regex>: the newest linux-image-amd64 version of a series in those suites.
newest() {
  apt-cache madison linux-image-amd64 |
    awk -F'|' -v s="$1." -v r="$2" '{ v = $2; gsub(/ /, "", v); if (index(v, s) == 1 && $3 ~ r) print v }' |
    sort -V | tail -n 1
}

# image <metapackage version>: the linux-image-<release>-amd64 package it depends on.
image() {
  apt-cache depends "linux-image-amd64=$1" | awk '/Depends: linux-image-/ { print $2; exit }'
}

manifest=()
for spec in "6.12 bookworm-backports/" "6.1 bookworm(-security|-updates)?/main"; do
  series=${spec%% *}
  suites=${spec#* }
  version=$(newest "$series" "$suites")
  if [ -z "$version" ]; then
    echo "oracle-kernels: apt knows no linux-image-amd64 $series.* in $suites (is bookworm-backports in the apt sources?)" >&2
    exit 1
  fi
  pkg=$(image "$version")
  [ -n "$pkg" ] || { echo "oracle-kernels: linux-image-amd64=$version names no image" >&2; exit 1; }
  pkgver=$(apt-cache show "$pkg" | awk '/^Version:/ { print $2; exit }')
  file=$(ls "$cache/debs/${pkg}_"*.deb 2>/dev/null | head -n 1 || true)
  if [ -z "$file" ]; then
    echo "oracle-kernels: fetching $pkg $pkgver"
    (cd "$cache/debs" && apt-get download -q "$pkg" 2>&1 | grep -v 'unsandboxed as root' || true)
    file=$(ls "$cache/debs/${pkg}_"*.deb 2>/dev/null | head -n 1 || true)
    [ -n "$file" ] || { echo "oracle-kernels: apt-get download $pkg failed" >&2; exit 1; }
  fi
  manifest+=("$series $file")
done
printf '%s\n' "${manifest[@]}" > "$cache/kernels.txt"
cat "$cache/kernels.txt"
