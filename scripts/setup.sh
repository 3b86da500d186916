#!/usr/bin/env bash
# Installs what blockgraph needs to build, run and test (Debian packages).
set -euo pipefail

packages=(
  build-essential meson ninja-build pkg-config clang
  libsystemd-dev libxml2-dev libaio-dev liburing-dev libglib2.0-dev libcmocka-dev
  zlib1g-dev libzstd-dev libgnutls28-dev valgrind
  dbus python3 python3-dbus python3-gi polkitd systemd util-linux passwd
  libnbd-dev qemu-utils qemu-system-common libnbd-bin nbdkit fio openssl
  libjson-glib-dev graphviz tmux strace
  ceph-mon ceph-osd ceph-common librbd-dev python3-rados python3-rbd qemu-block-extra
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
