#!/usr/bin/env bash
# The one install path: the Vagrant VM, a bare Debian/Ubuntu machine and CI all run this.
# Idempotent: run it again at any time. Usage: sudo bash vagrant/provision.sh [--start]
#   --start   after setting up, open the labkit TUI (the course's main screen)
set -euo pipefail

KIT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LABKIT_VENV:-/opt/labkit/venv}"
APT_PACKAGES=(
  python3 python3-venv python3-dev gcc            # the kit's Python environment
  busybox-static                                   # the offline base image
  iproute2 nftables iputils-ping util-linux procps psmisc kmod   # cross-checks and labs
  runc crun umoci skopeo                           # peers: benchmarks and OCI cross-checks
  libseccomp2 tmux git curl ca-certificates
)

if [ "$(id -u)" -ne 0 ]; then
  echo "provision.sh: needs root to install packages; run it with sudo." >&2
  exit 2
fi

echo "==> apt packages"
export DEBIAN_FRONTEND=noninteractive
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

echo "==> Python environment in $VENV"
PYTHON="${LABKIT_PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  mkdir -p "$(dirname "$VENV")"
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e "$KIT_DIR[labs,test]"
# The `labkit` launcher: -I -S skips site.py and the editable-install finder (about 20 ms
# of a ~60 ms container start); the kit and the venv's packages are put on sys.path directly.
SITE_PACKAGES="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
rm -f /usr/local/bin/labkit
cat > /usr/local/bin/labkit <<LAUNCHER
#!$VENV/bin/python -IS
import sys
sys.path[0:0] = ["$KIT_DIR"]
sys.path.append("$SITE_PACKAGES")
from kernel_helpers.cli import main
sys.exit(main())
LAUNCHER
chmod 755 /usr/local/bin/labkit

echo "==> base image"
"$VENV/bin/python" -c "from kernel_helpers.rootfs.busybox import busybox_rootfs; print(busybox_rootfs())"

echo "==> ready: run 'sudo labkit doctor', then 'sudo labkit' for the course"
if [ "${1:-}" = "--start" ]; then
  "$VENV/bin/labkit" doctor || true
  if [ -t 0 ] && [ -t 1 ]; then
    exec "$VENV/bin/labkit" tui
  fi
fi
