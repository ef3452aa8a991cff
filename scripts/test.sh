#!/usr/bin/env bash
# `npm test`: dependencies, etcd, promtool, build, contract lint, type-check, then every test suite (mocha).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/ensure-etcd.sh
# promtool checks and unit-tests the shipped alert rules (test/unit/alert-rules.test.ts), which
# are skipped, saying why, where it cannot be installed.
bash scripts/ensure-promtool.sh || echo "waymark: the alert-rule tests will be skipped (no promtool)" >&2
npm run --silent build
# The contract passes Redocly's recommended rules (redocly.yaml): an error fails the run.
npm run --silent lint:contract
npx tsc -p tsconfig.json --noEmit
if [ "$#" -eq 0 ]; then
  set -- 'test/unit/**/*.test.ts' 'test/integration/**/*.test.ts' 'test/e2e/**/*.test.ts' 'test/reliability/**/*.test.ts'
fi
npx mocha "$@"
