#!/usr/bin/env bash
# `npm start`: dependencies, etcd, build, then the local multi-region stack (`waymark up`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/ensure-etcd.sh
npm run --silent build
exec node dist/cli/waymark.js up "$@"
