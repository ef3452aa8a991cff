#!/usr/bin/env bash
# `npm run bench`: dependencies, etcd, then the benchmarks from source (bench/run.ts).
# Arguments pass through: `npm run bench -- discovery --rounds 5`, `npm run bench -- --smoke`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/ensure-etcd.sh
exec node --import tsx bench/run.ts "$@"
