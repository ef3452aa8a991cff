#!/usr/bin/env bash
# Makes sure `etcd` and `etcdctl` are on PATH. When they are missing and this runs as root on a
# Debian-like system, installs Debian's etcd-server and etcd-client; otherwise says what to do.
set -euo pipefail

if command -v etcd >/dev/null 2>&1 && command -v etcdctl >/dev/null 2>&1; then
  exit 0
fi

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "waymark: etcd not found; installing Debian's etcd-server and etcd-client (apt-get)..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq etcd-server etcd-client >/dev/null
  # The package may start a system etcd on 2379; Waymark runs its own, so stop that one.
  if command -v systemctl >/dev/null 2>&1; then systemctl stop etcd >/dev/null 2>&1 || true; fi
  command -v etcd >/dev/null 2>&1 && command -v etcdctl >/dev/null 2>&1 && {
    echo "waymark: installed $(etcd --version | head -1)" >&2
    exit 0
  }
  echo "waymark: apt-get finished but etcd/etcdctl are still not on PATH" >&2
  exit 1
fi

cat >&2 <<'MSG'
waymark: etcd and etcdctl (3.4 or newer) are required but were not found on PATH.
  Debian/Ubuntu:  sudo apt-get install etcd-server etcd-client
  macOS:          brew install etcd
  elsewhere:      https://etcd.io/docs/latest/install/ (put etcd and etcdctl on PATH)
Or point Waymark at an existing cluster with --etcd URL / WAYMARK_ETCD.
MSG
exit 1
