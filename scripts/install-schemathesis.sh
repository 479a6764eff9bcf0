#!/usr/bin/env bash
# Installs schemathesis into the project-local virtualenv .venv (git-ignored), once: the
# schemathesis integration test runs .venv/bin/schemathesis against a live gateway.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
requirements="$root/scripts/requirements-schemathesis.txt"
wanted="$(grep -E '^schemathesis==' "$requirements" | cut -d= -f3)"
if [ -x "$venv/bin/schemathesis" ] && [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null)" = "$wanted" ]; then
  exit 0
fi
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  echo "python3 cannot create virtualenvs: apt-get install -y python3-venv, then run this again." >&2
  exit 1
fi
echo "Installing schemathesis $wanted into $venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
