#!/usr/bin/env bash
# Installs the browser tests' one npm package (playwright-core, no browser download: the tests
# drive Debian's chromium) into browser-tests/node_modules, when missing.
set -euo pipefail
cd "$(dirname "$0")/../browser-tests"
if [ -d node_modules/playwright-core ]; then
  exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "npm is missing: run scripts/install-deps.sh" >&2; exit 1; }
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --silent
echo "Installed playwright-core into browser-tests/node_modules"
