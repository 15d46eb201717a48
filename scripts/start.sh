#!/usr/bin/env bash
# Run berth: install dependencies on first use, compile, start the Probot server.
# Settings come from the environment or a .env file (see .env.example); without APP_ID, Probot's
# setup page walks you through registering the GitHub App from app.yml.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
npx tsc -p tsconfig.build.json
exec node dist/main.js
