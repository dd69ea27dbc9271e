#!/usr/bin/env bash
# The lab VM's own steps, on top of provision.sh (which runs `lab-vm.sh setup` when given --vm).
#   lab-vm.sh setup VENV        marker, JupyterLab service and token, login message
#   lab-vm.sh ready [HOST_PORT] start JupyterLab, wait for it, print its URL (every `vagrant up`)
#   lab-vm.sh render FILE VENV  print a vagrant/ template as setup installs it
# Idempotent, like provision.sh.
set -euo pipefail

KIT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HERE="$KIT_DIR/vagrant"
ETC=/etc/labkit
MARKER="$ETC/lab-vm"            # kernel_helpers/vm.py: LAB_VM_MARKER
JUPYTER_PORT=8888               # Vagrantfile: JUPYTER_GUEST_PORT
UNIT=/etc/systemd/system/labkit-jupyter.service

render() {  # render TEMPLATE VENV: fill in the placeholders of a vagrant/ template
  sed -e "s|@VENV@|$2|g" -e "s|@KIT_DIR@|$KIT_DIR|g" -e "s|@PORT@|$JUPYTER_PORT|g" "$1"
}

setup() {
  local venv="$1"
  mkdir -p "$ETC"
  echo "This machine is the labkit lab VM (written by vagrant/lab-vm.sh; see kernel_helpers/vm.py)." > "$MARKER"
  if [ ! -s "$ETC/jupyter.env" ]; then
    (umask 077 && echo "JUPYTER_TOKEN=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')" > "$ETC/jupyter.env")
  fi
  render "$HERE/labkit-jupyter.service" "$venv" > "$UNIT.new"
  if ! cmp -s "$UNIT.new" "$UNIT"; then
    mv "$UNIT.new" "$UNIT"
    systemctl daemon-reload
    systemctl enable labkit-jupyter.service
    systemctl restart labkit-jupyter.service
  else
    rm -f "$UNIT.new"
  fi
  render "$HERE/labkit-motd.sh" "$venv" > /etc/update-motd.d/60-labkit
  chmod 755 /etc/update-motd.d/60-labkit
}

ready() {
  local host_port="${1:-}" token url
  systemctl start labkit-jupyter.service
  for _ in $(seq 60); do
    curl -fsS -o /dev/null "http://127.0.0.1:$JUPYTER_PORT/api" && break
    sleep 1
  done
  curl -fsS -o /dev/null "http://127.0.0.1:$JUPYTER_PORT/api" || {
    echo "JupyterLab did not start; see: vagrant ssh -c 'sudo journalctl -u labkit-jupyter'" >&2
    exit 1
  }
  token="$(sed -n 's/^JUPYTER_TOKEN=//p' "$ETC/jupyter.env")"
  echo "==> the labkit lab VM is ready"
  if [ -n "$host_port" ]; then
    url="http://127.0.0.1:$host_port/lab?token=$token"
    echo "$url" > "$ETC/jupyter-url"
    echo "    JupyterLab, in your browser:  $url"
    echo "    The course in a terminal:     vagrant ssh -c labkit"
  else
    echo "    This is the peer VM (cross-host lab): vagrant ssh peer -c labkit"
  fi
}

case "${1:-}" in
  setup) setup "${2:?usage: lab-vm.sh setup VENV}" ;;
  ready) ready "${2:-}" ;;
  render) render "$HERE/${2:?usage: lab-vm.sh render FILE VENV}" "${3:?usage: lab-vm.sh render FILE VENV}" ;;
  *) echo "usage: lab-vm.sh setup VENV | ready [HOST_PORT] | render FILE VENV" >&2; exit 2 ;;
esac
