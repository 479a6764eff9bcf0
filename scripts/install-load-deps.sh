#!/usr/bin/env bash
# Installs Locust (load/requirements.txt) into the project-local virtualenv .venv-load/, never
# into the system; Debian's python3-venv first if `python3 -m venv` cannot work without it.
# Skips everything when the virtualenv already holds exactly what the requirements file asks.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-load
requirements=load/requirements.txt
stamp=$venv/installed-requirements.txt

if [ -x "$venv/bin/locust" ] && cmp -s "$requirements" "$stamp"; then
  exit 0
fi

install_python3_venv() {
  if [ "$(id -u)" -eq 0 ]; then
    as_root=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo)
  else
    echo "python3 cannot create a virtualenv: run as root  apt-get install -y python3-venv" >&2
    exit 1
  fi
  echo "Installing python3-venv (for the load tests' virtualenv)"
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
}

echo "Installing Locust into $venv/ ($(cat "$requirements"))"
# Debian's python3 creates a virtualenv only with python3-venv (its ensurepip lives there).
if ! python3 -m venv "$venv" >/dev/null 2>&1; then
  rm -rf "$venv"
  install_python3_venv
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
cp "$requirements" "$stamp"
