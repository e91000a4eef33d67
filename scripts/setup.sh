#!/usr/bin/env bash
# Installs everything atsim and its tests need on a fresh Debian machine: the Debian packages the
# tests use as oracles (pciutils for lspci; spin and gcc for the explorer's Spin comparison; for
# the real-kernel oracle QEMU 10 from bookworm-backports, busybox-static and kmod's depmod, and the
# Debian kernels it boots), then the npm packages (npm ci).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v lspci >/dev/null 2>&1 || need_apt+=(pciutils)
command -v spin >/dev/null 2>&1 || need_apt+=(spin)
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc)
[ -x /bin/busybox ] && dpkg -s busybox-static >/dev/null 2>&1 || need_apt+=(busybox-static)
command -v depmod >/dev/null 2>&1 || need_apt+=(kmod)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# The oracle's QEMU (10.0; bookworm's own is 7.2) and its 6.12 kernel come from bookworm-backports.
backports="deb http://deb.debian.org/debian bookworm-backports main"
need_qemu=false
qemu_major=$(qemu-system-x86_64 --version 2>/dev/null | sed -n 's/^QEMU emulator version \([0-9]*\)\..*/\1/p')
[ "${qemu_major:-0}" -ge 10 ] || need_qemu=true
if ! grep -rqsF "$backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "setup: adding bookworm-backports to the apt sources"
  echo "$backports" | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
fi
if [ ${#need_apt[@]} -gt 0 ] || $need_qemu || ! apt-cache policy | grep -q 'bookworm-backports/main'; then
  $SUDO apt-get update -qq
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
if $need_qemu; then
  echo "setup: installing qemu-system-x86 from bookworm-backports"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports qemu-system-x86 >/dev/null
fi
# The kernels the oracle boots, into .cache/oracle (not in git).
bash scripts/oracle-kernels.sh

# npm may skip an optional platform package (vitest's native rolldown binding) when its download
# fails, without failing itself (npm/cli#4828): check that it loads, and install once more if not.
binding_loads() { node -e "import('rolldown').then(() => process.exit(0), () => process.exit(1))" 2>/dev/null; }
for attempt in 1 2; do
  npm ci --no-audit --no-fund 2>&1 | grep -v 'Unknown user config' || true
  if test -x node_modules/.bin/vitest && binding_loads; then break; fi
  echo "setup: npm ci left node_modules incomplete (attempt $attempt)" >&2
  if [ "$attempt" = 2 ]; then exit 1; fi
done
