#!/usr/bin/env bash
# Installs the browser tests' one npm package (playwright-core, pinned in
# browser-tests/package-lock.json) under browser-tests/node_modules, when missing. Playwright
# drives Debian's own chromium (installed by install-deps.sh): no browser is downloaded.
set -euo pipefail
cd "$(dirname "$0")/../browser-tests"
if [ -d node_modules/playwright-core ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "npm is missing: run scripts/install-deps.sh (it installs Debian's npm)." >&2
  exit 1
fi
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --ignore-scripts
echo "Installed playwright-core under browser-tests/node_modules"
