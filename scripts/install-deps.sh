#!/usr/bin/env bash
# Installs what building, running and testing need, from Debian's packages, when missing:
# redis-server, freecadcmd (freecad-python3), bwrap (bubblewrap), a C compiler for -sys crates,
# openssl (the auth tests make their RSA keys with it), prometheus and promtool (the metrics
# tests check the shipped config and alert rules and scrape a live gateway and worker),
# python3-venv (the deployment tests' tools live in .venv-tools: scripts/install-python-tools.sh).
# chromium, node and npm (the page's end-to-end test; scripts/install-browser-tests.sh then
# puts Playwright under browser-tests/node_modules).
# Runs apt-get as root, or through sudo; says clearly what to do when neither works.
set -euo pipefail

declare -A package_for=(
  [redis-server]=redis-server
  [redis-cli]=redis-tools
  [freecadcmd]=freecad-python3
  [bwrap]=bubblewrap
  [cc]=gcc
  [python3]=python3
  [curl]=curl
  [ps]=procps
  [openssl]=openssl
  [prometheus]=prometheus
  [promtool]=prometheus
  # The browser tests (browser-tests/, Debian's chromium driven by playwright-core).
  [chromium]=chromium
  [node]=nodejs
  [npm]=npm
)

missing=()
for command in "${!package_for[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${package_for[$command]}")
done
# The project-local virtualenv of the Python test tools (scripts/install-schemathesis.sh).
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is missing: install the Rust toolchain (https://rustup.rs) and run this again." >&2
  exit 1
fi

if [ ${#missing[@]} -eq 0 ]; then
  exec "$(dirname "$0")/install-python-tools.sh"
fi

# Unique package names, in a stable order.
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "Installing missing packages: ${missing[*]}"

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo)
else
  echo "Cannot install ${missing[*]}: not root and no password-less sudo." >&2
  echo "Run as root:  apt-get update && apt-get install -y ${missing[*]}" >&2
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "No apt-get here: install ${missing[*]} with your system's package manager." >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "Installed: ${missing[*]}"
"$(dirname "$0")/install-python-tools.sh"
