#!/usr/bin/env bash
# What `make bench` needs beyond `make test`: the Python peer (Celery 5) in a project-local
# virtualenv (load/.venv). Never run by `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
missing=()
if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    missing+=(python3-venv)
fi
if [ ${#missing[@]} -gt 0 ]; then
    sudo_if_needed apt-get update
    sudo_if_needed apt-get install -y "${missing[@]}"
fi
# Installed again whenever the pinned requirements change (the stamp is older than them).
stamp=load/.venv/.requirements-installed
if [ ! -f "$stamp" ] || [ load/peers/requirements.txt -nt "$stamp" ]; then
    [ -x load/.venv/bin/python ] || python3 -m venv load/.venv
    load/.venv/bin/pip install --quiet -r load/peers/requirements.txt
    touch "$stamp"
fi
