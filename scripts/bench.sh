#!/usr/bin/env bash
# `npm run bench`: dependencies, etcd, the build, then the benchmarks (bench/run.ts, from source).
# Arguments pass through: `npm run bench -- discovery --rounds 5`, `npm run bench -- --smoke`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/ensure-etcd.sh
# The gateway is measured as users run it: the built CLI (dist/).
npm run --silent build
exec node --import tsx bench/run.ts "$@"
