#!/usr/bin/env bash
# The whole test suite: type check, start the integration services (private Docker engine with
# Swarm, a distribution registry; installed with apt when missing), run every test, stop the
# services again unless BERTH_KEEP_SERVICES=1.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -d node_modules ] || npm ci

bash scripts/services.sh start >/dev/null
stop_services() { [ "${BERTH_KEEP_SERVICES:-}" = 1 ] || bash scripts/services.sh stop; }
trap stop_services EXIT
# shellcheck disable=SC1091
. .tmp/services/env

npx tsc -p tsconfig.json --noEmit
mkdir -p .tmp
npx vitest run --reporter=default --reporter=json --outputFile.json=.tmp/vitest-results.json "$@"
