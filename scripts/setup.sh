#!/usr/bin/env bash
# Installs everything atsim and its tests need on a fresh Debian machine: the Debian packages the
# tests use as oracles (pciutils for lspci; spin and gcc for the explorer's Spin comparison), then
# the npm packages (npm ci).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v lspci >/dev/null 2>&1 || need_apt+=(pciutils)
command -v spin >/dev/null 2>&1 || need_apt+=(spin)
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

npm ci --no-audit --no-fund 2>&1 | grep -v 'Unknown user config' || true
test -x node_modules/.bin/vitest || { echo "setup: npm ci failed" >&2; exit 1; }
