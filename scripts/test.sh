#!/usr/bin/env bash
# `npm test`: dependencies, etcd, build, type-check, then every test suite (mocha).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/ensure-etcd.sh
npm run --silent build
npx tsc -p tsconfig.json --noEmit
npx mocha "$@"
