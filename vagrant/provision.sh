#!/usr/bin/env bash
# The one install path: the Vagrant VM, a bare Debian/Ubuntu machine and CI all run this.
# Idempotent: run it again at any time. Usage: sudo bash vagrant/provision.sh [--start] [--vm]
#   --start   after setting up, open the labkit TUI (the course's main screen)
#   --vm      this machine is the lab VM (the Vagrantfile passes it): see vagrant/lab-vm.sh
set -euo pipefail
START=0 VM=0
for arg in "$@"; do
  case "$arg" in
    --start) START=1 ;;
    --vm) VM=1 ;;
    *) echo "provision.sh: unknown option '$arg'; use --start and/or --vm." >&2; exit 2 ;;
  esac
done

KIT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LABKIT_VENV:-/opt/labkit/venv}"
APT_PACKAGES=(
  python3 python3-venv python3-dev gcc            # the kit's Python environment
  busybox-static                                   # the offline base image
  iproute2 nftables iputils-ping util-linux procps psmisc kmod   # cross-checks and labs
  runc crun umoci skopeo                           # peers: benchmarks and OCI cross-checks
  libseccomp2 tmux git curl ca-certificates
  libcap2-bin                                      # capsh --decode: the capability cross-check
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

echo "==> cgroup v2 subtree for the kit"
# On pure cgroup v2 under systemd (the lab VM's boxes), systemd owns the root cgroup: a unit
# gives the kit /sys/fs/cgroup/labkit with its controllers on, at every boot. Elsewhere the
# kit needs nothing set up (cgroup v1 and hybrid machines, or no systemd).
if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] && [ -d /run/systemd/system ]; then
  if ! cmp -s "$KIT_DIR/vagrant/labkit-cgroup.service" /etc/systemd/system/labkit-cgroup.service; then
    install -m 644 "$KIT_DIR/vagrant/labkit-cgroup.service" /etc/systemd/system/labkit-cgroup.service
    systemctl daemon-reload
    systemctl enable labkit-cgroup.service
    systemctl restart labkit-cgroup.service
  fi
  echo "/sys/fs/cgroup/labkit: $(cat /sys/fs/cgroup/labkit/cgroup.subtree_control)"
else
  echo "not pure cgroup v2 under systemd: nothing to set up"
fi

echo "==> kernel modules: overlay, vxlan"
# Debian's and Ubuntu's kernels build them as modules that load on first use: load them now
# and, under systemd, at every boot. A kernel with them built in needs nothing.
for module in overlay vxlan; do
  if [ ! -e "/sys/module/$module" ] && ! modprobe "$module"; then
    echo "provision.sh: could not load $module; 'labkit doctor' says what is missing." >&2
  fi
done
if [ -d /run/systemd/system ]; then
  printf '%s\n' "# labkit: the union filesystem and overlay network labs" overlay vxlan \
    > /etc/modules-load.d/labkit.conf
fi

if [ "$VM" = 1 ]; then
  echo "==> lab VM: marker, JupyterLab service, login message"
  bash "$KIT_DIR/vagrant/lab-vm.sh" setup "$VENV"
fi

echo "==> ready: run 'sudo labkit doctor', then 'sudo labkit' for the course"
if [ "$START" = 1 ]; then
  "$VENV/bin/labkit" doctor || true
  if [ -t 0 ] && [ -t 1 ]; then
    exec "$VENV/bin/labkit" tui
  fi
fi
