#!/usr/bin/env bash
# Makes sure Debian's Chromium is at /usr/bin/chromium (the dashboard's browser test drives it with
# playwright-core). When it is missing and this runs as root on a Debian-like system, installs the
# `chromium` package; otherwise prints why it cannot and exits 1 (the test then skips, saying so).
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
  exit 0
fi

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "waymark: $CHROMIUM not found; installing Debian's chromium (apt-get)..." >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get update -qq >/dev/null 2>&1; then
    echo "waymark: apt-get update failed (offline?): cannot install chromium" >&2
    exit 1
  fi
  if ! apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; then
    echo "waymark: apt-get install chromium failed: no package 'chromium' for this system?" >&2
    exit 1
  fi
  if [ -x "$CHROMIUM" ]; then
    echo "waymark: installed $("$CHROMIUM" --version 2>/dev/null | head -1)" >&2
    exit 0
  fi
  echo "waymark: apt-get finished but $CHROMIUM is still missing" >&2
  exit 1
fi

if [ "$(id -u)" != "0" ]; then
  echo "waymark: $CHROMIUM not found and not running as root: install it with 'sudo apt-get install chromium'" >&2
else
  echo "waymark: $CHROMIUM not found and apt-get is not available: install Chromium at $CHROMIUM" >&2
fi
exit 1
