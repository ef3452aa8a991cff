#!/usr/bin/env bash
# Makes sure `promtool` (Prometheus's rule checker) is on PATH, for the alert rules' tests. When
# it is missing and this runs as root on a Debian-like system, installs Debian's prometheus
# package (which ships promtool; its service is not started); otherwise says what to do.
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
  exit 0
fi

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "waymark: promtool not found; installing Debian's prometheus package (apt-get)..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  # The package may start a Prometheus server on 9090; the tests need only promtool.
  if command -v systemctl >/dev/null 2>&1; then systemctl stop prometheus >/dev/null 2>&1 || true; fi
  command -v promtool >/dev/null 2>&1 && {
    echo "waymark: installed $(promtool --version 2>&1 | head -1)" >&2
    exit 0
  }
  echo "waymark: apt-get finished but promtool is still not on PATH" >&2
  exit 1
fi

cat >&2 <<'MSG'
waymark: promtool (Prometheus 2.x) is required to check deploy/prometheus/waymark-rules.yaml but was not found on PATH.
  Debian/Ubuntu:  sudo apt-get install --no-install-recommends prometheus
  macOS:          brew install prometheus
  elsewhere:      https://prometheus.io/download/ (promtool is in the prometheus archive; put it on PATH)
MSG
exit 1
