#!/usr/bin/env bash
# The guest runner: a pure cgroup v2 Debian 12 VM under QEMU, for Linux hosts without VirtualBox
# and for CI. It runs one command against this checkout inside a systemd guest, like the lab VM.
#   guest.sh build                          build and cache the image (skipped when cached)
#   guest.sh run [OPTIONS] -- CMD...        boot a throwaway copy, run CMD, power off;
#                                           exits with CMD's exit code (124 timeout, 125 no result)
#       --timeout SECONDS   the whole run, boot included (default 3600)
#       --env NAME=VALUE    set for CMD (repeatable)      --log DIR   keep console.log and out there
#   guest.sh accel                          print which acceleration a run would use, and why
#   guest.sh clean                          delete the cached images
# CMD is a shell command line, as with `ssh HOST CMD...`: its words are joined and run by
# `bash -c` as root in /vagrant, a copy of this checkout (shared read-only over virtio-9p).
# Settings: LABKIT_GUEST_CACHE (default /var/cache/labkit-guest), LABKIT_GUEST_MEMORY (MiB,
# default 4096), LABKIT_GUEST_CPUS (2), LABKIT_GUEST_ACCEL (kvm or tcg: skips the probe),
# LABKIT_GUEST_MIRROR (default: the bookworm mirror in this machine's apt sources).
set -euo pipefail

KIT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${LABKIT_GUEST_CACHE:-/var/cache/labkit-guest}"
MEMORY="${LABKIT_GUEST_MEMORY:-4096}"
CPUS="${LABKIT_GUEST_CPUS:-2}"
HOST_PACKAGES=(qemu-system-x86 qemu-utils debootstrap debian-archive-keyring e2fsprogs)
SUITE=bookworm
DISK_SIZE=12G        # sparse: the image holds ~1.2 GB; the rest is room for provisioning and tests
# In the image besides minbase: what systemd and provisioning need. The kernel is installed
# after these (see configure_root); provision.sh's own apt packages are added to them.
BASE_PACKAGES=(systemd systemd-sysv udev dbus kmod ca-certificates iproute2 procps)

say() { echo "guest: $*" >&2; }
die() { say "$*"; exit 2; }

ensure_host_packages() {  # the runner's first step: QEMU, qemu-img, debootstrap, mkfs.ext4 -d
  local missing=() pkg
  for pkg in "${HOST_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq
  timeout 900 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

apt_sources() {  # print "URI SUITE" for every deb source of this machine (one-line and deb822)
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] && awk '$1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } print $i, $(i + 1) }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && awk 'BEGIN { RS = ""; FS = "\n" }
      { t = u = s = ""; on = 1
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^Types:/) t = $i; else if ($i ~ /^URIs:/) u = $i
          else if ($i ~ /^Suites:/) s = $i; else if ($i ~ /^Enabled:[ \t]*no/) on = 0 }
        if (!on || t !~ /[ \t]deb([ \t]|$)/) next
        sub(/^URIs:[ \t]*/, "", u); sub(/^Suites:[ \t]*/, "", s)
        nu = split(u, U, /[ \t]+/); ns = split(s, S, /[ \t]+/)
        for (a = 1; a <= nu; a++) for (b = 1; b <= ns; b++) print U[a], S[b] }' "$f"
  done
}

mirror_for() {  # mirror_for SUITE: the first URI this machine uses for that suite
  apt_sources | awk -v suite="$1" '$2 == suite { print $1; exit }'
}

MIRROR="${LABKIT_GUEST_MIRROR:-$(mirror_for "$SUITE")}"
SECURITY_MIRROR="$(mirror_for "$SUITE-security")"

guest_sources() {  # the image's apt sources: this machine's bookworm mirrors, nothing else
  printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$MIRROR" "$SUITE" "$SUITE"
  [ -z "$SECURITY_MIRROR" ] || printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$SECURITY_MIRROR" "$SUITE"
}

provision_packages() {  # provision.sh's APT_PACKAGES, so the guest's provisioning skips apt
  bash -c "$(sed -n '/^APT_PACKAGES=(/,/^)/p' "$KIT_DIR/vagrant/provision.sh"); echo \"\${APT_PACKAGES[@]}\""
}

configure_root() {  # runs inside the root (chroot) with ROOT_PACKAGES set: kernel, packages, boot
  set -euo pipefail
  export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
  apt-get update -qq
  # No initramfs rebuilds: every package with an initramfs hook (busybox, kmod, udev...) would
  # otherwise rebuild it, 17 min under TCG, for an initramfs the guest never boots. The
  # kernel's own postinst still creates the one it boots (update_initramfs=no stops only -u).
  # That one holds just what mounts the root (MODULES=list): a 36 MB "most" takes 20 s to unpack.
  apt-get install -y -qq --no-install-recommends initramfs-tools >/dev/null
  sed -i 's/^update_initramfs=.*/update_initramfs=no/' /etc/initramfs-tools/update-initramfs.conf
  sed -i 's/^MODULES=.*/MODULES=list/' /etc/initramfs-tools/initramfs.conf
  printf '%s\n' virtio_pci virtio_blk ext4 crc32c_generic >> /etc/initramfs-tools/modules
  apt-get install -y -qq --no-install-recommends linux-image-amd64 >/dev/null
  # shellcheck disable=SC2086  # ROOT_PACKAGES is a word list
  apt-get install -y -qq --no-install-recommends $ROOT_PACKAGES >/dev/null
  update-ca-certificates >/dev/null   # adds this machine's own CAs (a proxy's), copied in
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > /etc/pip.conf
  echo labkit-guest > /etc/hostname
  printf '127.0.0.1 localhost\n127.0.1.1 labkit-guest\n::1 localhost\n' > /etc/hosts
  echo '/dev/vda / ext4 rw,errors=remount-ro 0 0' > /etc/fstab
  # QEMU's user-mode network is fixed: 10.0.2.15, gateway 10.0.2.2, DNS 10.0.2.3.
  printf '[Match]\nName=en* eth*\n[Network]\nAddress=10.0.2.15/24\nGateway=10.0.2.2\nDNS=10.0.2.3\n' \
    > /etc/systemd/network/10-qemu-user.network
  echo 'nameserver 10.0.2.3' > /etc/resolv.conf
  systemctl enable -q systemd-networkd.service systemd-networkd-wait-online.service labkit-guest.service
  # Nothing may race provisioning for the dpkg lock or ask for input on the console.
  systemctl mask -q apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer \
    fstrim.timer systemd-firstboot.service serial-getty@ttyS0.service getty@tty1.service
  passwd -l root >/dev/null
  systemd-machine-id-setup >/dev/null
  rm -f /usr/sbin/policy-rc.d
}

GUEST_UNIT='[Unit]
Description=labkit guest runner: the host'"'"'s command, then power off
Wants=network-online.target
After=network-online.target
SuccessAction=poweroff-force
FailureAction=poweroff-force
[Service]
Type=oneshot
TimeoutStartSec=infinity
ExecStart=/usr/local/sbin/labkit-guest-boot
StandardOutput=journal+console
StandardError=journal+console
[Install]
WantedBy=multi-user.target'

# The image's half of a run: mount the host's run folder, where run() left boot.sh.
GUEST_BOOT='#!/bin/sh
mkdir -p /mnt/labkit-run
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 labkit-run /mnt/labkit-run || exit 1
exec bash /mnt/labkit-run/boot.sh'

recipe() {  # everything the image is made from; its hash names the cache entry
  declare -f configure_root build_image guest_sources
  echo "$GUEST_UNIT$GUEST_BOOT ${BASE_PACKAGES[*]} $(provision_packages) $SUITE $DISK_SIZE"
  guest_sources
  cat /usr/local/share/ca-certificates/*.crt 2>/dev/null || true
}

image_dir() { echo "$CACHE/$(recipe | sha256sum | cut -c1-16)"; }

build_image() {  # build_image DIR: debootstrap, configure in a chroot, mkfs.ext4 -d, no mount
  local dir="$1" work root
  [ -n "$MIRROR" ] || die "no $SUITE mirror in /etc/apt/sources.list(.d). Set LABKIT_GUEST_MIRROR to a Debian mirror's URL."
  WORK="$(mktemp -d "$CACHE/build.XXXXXX")"
  trap finish EXIT   # again: build runs in a subshell under `run`
  work="$WORK" root="$WORK/root"
  say "debootstrap $SUITE from $MIRROR"
  mkdir -p "$CACHE/debs"   # downloaded packages, kept for the next recipe's build
  timeout 1800 debootstrap --variant=minbase --include="$(IFS=,; echo "${BASE_PACKAGES[*]}")" \
    --cache-dir="$CACHE/debs" "$SUITE" "$root" "$MIRROR" > "$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed (log above)."; }
  guest_sources > "$root/etc/apt/sources.list.d/debian.sources"
  rm -f "$root/etc/apt/sources.list"
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
  echo "$GUEST_UNIT" > "$root/etc/systemd/system/labkit-guest.service"
  echo "$GUEST_BOOT" > "$root/usr/local/sbin/labkit-guest-boot"
  chmod 755 "$root/usr/local/sbin/labkit-guest-boot"
  say "kernel, systemd and the provisioning packages (chroot)"
  # A private mount namespace: /proc, /sys and /dev/pts in the root vanish when it exits.
  ROOT_PACKAGES="$(provision_packages)" timeout 1800 unshare --mount --propagation private bash -c '
    mount -t proc proc "$1/proc" && mount -t sysfs sysfs "$1/sys"
    mount -t devpts devpts "$1/dev/pts" -o newinstance,ptmxmode=0666
    mount --bind "$3" "$1/var/cache/apt/archives"
    chroot "$1" /bin/bash -c "$2; configure_root"' _ "$root" "$(declare -f configure_root)" "$CACHE/debs" >&2 \
    || die "configuring the root failed (output above)."
  mkdir -p "$work/out"
  cp "$(ls "$root"/boot/vmlinuz-* | tail -1)" "$work/out/vmlinuz"
  cp "$(ls "$root"/boot/initrd.img-* | tail -1)" "$work/out/initrd.img"
  say "mkfs.ext4 -d (the image is made from the folder, never mounted)"
  timeout 900 mkfs.ext4 -q -F -L labkit-guest -d "$root" "$work/out/disk.ext4" "$DISK_SIZE"
  chmod 444 "$work/out/disk.ext4"
  recipe > "$work/out/recipe"
  mv "$work/out" "$dir"
}

build() {  # build: make the image unless the cache has this recipe's; prints its folder
  ensure_host_packages
  mkdir -p "$CACHE"
  local dir start
  dir="$(image_dir)"
  exec 9> "$CACHE/lock"
  timeout 3600 flock 9 || die "another build held $CACHE/lock for an hour."
  if [ -f "$dir/disk.ext4" ]; then
    say "image cached: $dir"
  else
    start=$SECONDS
    say "building the image into $dir"
    build_image "$dir" >&2   # only the folder's name goes to stdout (mkfs prints there)
    say "image built in $((SECONDS - start)) s"
    # Older recipes' images go (the package cache stays).
    find "$CACHE" -mindepth 1 -maxdepth 1 -type d ! -name debs ! -path "$dir" -exec rm -rf {} +
  fi
  exec 9>&-
  echo "$dir"
}

accel() {  # print "kvm|tcg: reason"; the decision is by kernel module, no boot needed
  case "${LABKIT_GUEST_ACCEL:-}" in
    kvm|tcg) echo "$LABKIT_GUEST_ACCEL: set by LABKIT_GUEST_ACCEL"; return ;;
    "") ;;
    *) die "LABKIT_GUEST_ACCEL '$LABKIT_GUEST_ACCEL' is not an accelerator; use kvm or tcg." ;;
  esac
  if [ ! -c /dev/kvm ] || ! { : < /dev/kvm; } 2>/dev/null; then
    echo "tcg: no usable /dev/kvm (software emulation, several times slower)"
  elif [ -d /sys/module/kvm_pvm ]; then
    # PVM (kvm_pvm) runs only guest kernels built for it, not Debian's.
    echo "tcg: /dev/kvm is PVM (kvm_pvm), which cannot run the Debian kernel"
  elif [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; then
    echo "kvm: /dev/kvm with $(ls -d /sys/module/kvm_intel /sys/module/kvm_amd 2>/dev/null | xargs -n1 basename)"
  else
    echo "tcg: /dev/kvm has no kvm_intel or kvm_amd module behind it"
  fi
}


# The host's half of a run, written into the run folder the guest mounts (labkit-run).
BOOT_SCRIPT='#!/bin/bash
# Written by vagrant/guest.sh for one run; started by the image'"'"'s labkit-guest.service.
RUN=/mnt/labkit-run
mkdir -p /mnt/labkit-kit /vagrant
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000 labkit-kit /mnt/labkit-kit \
  && tar -C /mnt/labkit-kit --exclude=./.git -cf - . | tar -C /vagrant -xf - \
  && umount /mnt/labkit-kit || { echo "guest: cannot copy the checkout" > "$RUN/info"; exit 1; }
echo "guest: Linux $(uname -r), /sys/fs/cgroup is $(stat -fc %T /sys/fs/cgroup)," \
  "$(systemctl --version | head -1), $(nproc) CPUs, $(free -m | awk "/Mem:/ { print \$2 }") MiB" > "$RUN/info"
touch "$RUN/started"
cd /vagrant
set -a && . "$RUN/env" && set +a
bash "$RUN/cmd.sh" < /dev/null >> "$RUN/out" 2>&1
echo "$?" > "$RUN/rc.new" && mv "$RUN/rc.new" "$RUN/rc"'

WORK="" RUN_DIR="" QEMU_PID="" LOG_DIR=""
finish() {  # every exit path: QEMU killed, the run folder kept in --log DIR if asked, then removed
  if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null; then
    kill "$QEMU_PID" 2>/dev/null; sleep 2; kill -9 "$QEMU_PID" 2>/dev/null || true
  fi
  if [ -n "$RUN_DIR" ]; then
    [ -z "$LOG_DIR" ] || { mkdir -p "$LOG_DIR" && cp "$RUN_DIR/console.log" "$RUN_DIR/share/out" "$LOG_DIR/" 2>/dev/null; } || true
    rm -rf "$RUN_DIR"
  fi
  [ -z "$WORK" ] || rm -rf "$WORK"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

qemu_accel_args() {  # qemu_accel_args "kvm|tcg: reason"
  case "$1" in
    kvm*) echo "-accel kvm -cpu host" ;;
    *) echo "-accel tcg,thread=multi -cpu max" ;;
  esac
}

stream() {  # print what the guest's command wrote since the last call
  local size
  size="$(stat -c %s "$RUN_DIR/share/out")"
  [ "$size" -gt "$PRINTED" ] || return 0
  tail -c +"$((PRINTED + 1))" "$RUN_DIR/share/out" | head -c "$((size - PRINTED))"
  PRINTED="$size"
}

run() {  # run [--timeout S] [--env N=V] [--log DIR] -- CMD...: exits with CMD's exit code
  local timeout=3600 boot_timeout="${LABKIT_GUEST_BOOT_TIMEOUT:-600}" envs=() image how rc="" booted=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --timeout) [[ "${2:-}" =~ ^[0-9]+$ ]] || die "--timeout '${2:-}' is not a number of seconds; use e.g. --timeout 3600."
                 timeout="$2"; shift 2 ;;
      --env) [[ "${2:-}" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die "--env '${2:-}' is not NAME=VALUE; use e.g. --env LABKIT_REQUIRE_ROOT=1."
             envs+=("$2"); shift 2 ;;
      --log) LOG_DIR="${2:?--log needs a folder}"; shift 2 ;;
      --) shift; break ;;
      *) die "unknown option '$1'; use: guest.sh run [--timeout S] [--env NAME=VALUE] [--log DIR] -- CMD..." ;;
    esac
  done
  [ $# -gt 0 ] || die "no command to run; use: guest.sh run -- CMD..."
  image="$(build)"
  how="$(accel)"
  say "acceleration: $how"
  RUN_DIR="$(mktemp -d /var/tmp/labkit-guest.XXXXXX)"
  mkdir "$RUN_DIR/share"
  qemu-img create -q -f qcow2 -b "$image/disk.ext4" -F raw "$RUN_DIR/overlay.qcow2"
  echo "$BOOT_SCRIPT" > "$RUN_DIR/share/boot.sh"
  echo "$*" > "$RUN_DIR/share/cmd.sh"
  { echo "HOME=/root LANG=C.UTF-8 PYTHONUNBUFFERED=1"; [ "${#envs[@]}" -eq 0 ] || printf '%q\n' "${envs[@]}"; } > "$RUN_DIR/share/env"
  : > "$RUN_DIR/share/out"
  local start=$SECONDS
  # shellcheck disable=SC2046  # the accelerator's words
  setpriv --pdeathsig KILL qemu-system-x86_64 -name labkit-guest -machine q35 $(qemu_accel_args "$how") \
    -nodefaults -no-user-config -display none -no-reboot -m "$MEMORY" -smp "$CPUS" \
    -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
    -append "console=ttyS0 root=/dev/vda rw panic=1 net.ifnames=0 systemd.unified_cgroup_hierarchy=1" \
    -drive "file=$RUN_DIR/overlay.qcow2,format=qcow2,if=none,id=root,cache=unsafe" \
    -device virtio-blk-pci,drive=root \
    -netdev user,id=net -device virtio-net-pci,netdev=net,romfile= \
    -fsdev "local,id=kit,path=$KIT_DIR,security_model=none,readonly=on" \
    -device virtio-9p-pci,fsdev=kit,mount_tag=labkit-kit \
    -fsdev "local,id=run,path=$RUN_DIR/share,security_model=none" \
    -device virtio-9p-pci,fsdev=run,mount_tag=labkit-run \
    -device virtio-rng-pci -serial "file:$RUN_DIR/console.log" > "$RUN_DIR/qemu.log" 2>&1 &
  QEMU_PID=$!
  PRINTED=0
  while kill -0 "$QEMU_PID" 2>/dev/null; do
    stream
    if [ -z "$booted" ] && [ -f "$RUN_DIR/share/started" ]; then
      booted=$((SECONDS - start))
      say "booted in $booted s; $(sed 's/^guest: //' "$RUN_DIR/share/info")"
      say "running: $*"
    elif [ -z "$booted" ] && [ $((SECONDS - start)) -ge "$boot_timeout" ]; then
      say "the guest did not start the command within $boot_timeout s"; rc=125; break
    fi
    if [ $((SECONDS - start)) -ge "$timeout" ]; then
      say "timed out after $timeout s (--timeout)"; rc=124; break
    fi
    sleep 1
  done
  stream
  finish_qemu
  [ -z "$rc" ] && [ -f "$RUN_DIR/share/rc" ] && rc="$(cat "$RUN_DIR/share/rc")"
  if [ -z "$rc" ]; then
    rc=125
    say "the guest gave no result. QEMU: $(tail -3 "$RUN_DIR/qemu.log")"
    say "the console's last lines:"; tail -30 "$RUN_DIR/console.log" >&2
  fi
  say "exit code $rc after $((SECONDS - start)) s (boot ${booted:-?} s)"
  return "$rc"
}

finish_qemu() {  # stop QEMU if it still runs (timeouts), and reap it
  kill "$QEMU_PID" 2>/dev/null || true
  wait "$QEMU_PID" 2>/dev/null || true
  QEMU_PID=""
}

case "${1:-}" in
  build) build >/dev/null ;;
  run) shift; run "$@" ;;
  accel) accel ;;
  clean) rm -rf "$CACHE"; say "removed $CACHE" ;;
  *) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
