#!/usr/bin/env bash
# Prepares this machine for Atoll: Debian packages, libvirt configuration, .venv.
# Idempotent and quiet when there is nothing to do; `make setup` runs it (every other make
# target runs setup first). Needs root on Debian 12. There is no systemd here: services are
# started by whoever needs them (the test harness, the testbed, `atoll site-agent run`).
set -euo pipefail
cd "$(dirname "$0")"

# Debian packages the project needs (ARCHITECTURE.md, machine notes).
APT_PACKAGES=(
  libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients libvirt-dev pkg-config
  qemu-system-x86 qemu-utils openvswitch-switch etcd-server genisoimage cpio ethtool
  busybox-static iproute2 iputils-ping python3-venv python3-dev gcc
  chromium  # the dashboard's browser tests (Playwright drives this one; nothing downloads one)
  openssl  # the hub verifies VNF packages' CMS signatures with `openssl cms -verify`
  prometheus  # for promtool: tests check /metrics with `promtool check metrics` (never started)
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# libvirtd's QEMU driver looks its default user up before it reads qemu.conf, so the user
# must exist even though guests run as root here: the package's qemu.conf (and its
# libvirt-qemu user) are not always laid down on these machines.
getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
id libvirt-qemu >/dev/null 2>&1 || useradd --system --no-create-home -g libvirt-qemu \
  -s /usr/sbin/nologin libvirt-qemu
# Guests run as root (no per-guest file ownership to manage on these machines).
mkdir -p /etc/libvirt
mkdir -p /var/log/libvirt/qemu /var/lib/libvirt/qemu /run/libvirt
touch /etc/libvirt/qemu.conf
if ! grep -q '^user *=' /etc/libvirt/qemu.conf; then
  printf 'user = "root"\ngroup = "root"\n' >>/etc/libvirt/qemu.conf
fi

# Python: a venv with the project installed editable, redone only when pyproject changes.
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.atoll-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing atoll and its dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  touch "$stamp"
fi
