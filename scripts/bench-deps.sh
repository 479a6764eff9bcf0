#!/usr/bin/env bash
# What `make bench` needs beyond `make test`: the Python peer (Celery 5) in a project-local
# virtualenv, and `wrk`. Never run by `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
    sudo_if_needed apt-get update
    sudo_if_needed apt-get install -y python3-venv
fi
if [ ! -x load/.venv/bin/celery ]; then
    python3 -m venv load/.venv
    load/.venv/bin/pip install --quiet -r load/peers/requirements.txt
fi
