#!/usr/bin/env bash
# The Python tools of the deployment tests, in a project-local virtualenv (.venv-tools,
# git-ignored), pinned so every machine checks against the same versions:
#   moto[server]         a real S3-compatible server for the artifact-store tests
#   kubernetes-validate  validates deploy/k8s against the Kubernetes API schemas
#   check-jsonschema     validates the KEDA ScaledObject and docker-compose.yml against schemas
# Re-running it is quick: it only installs when the pinned set changed.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv-tools"
requirements=(
  "moto[server]==5.1.4"
  "kubernetes-validate==1.33.1"
  "check-jsonschema==0.33.0"
)
stamp="$venv/.installed"
wanted="$(printf '%s\n' "${requirements[@]}")"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  exit 0
fi
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" || {
    echo "Cannot create $venv: install Debian's python3-venv (scripts/install-deps.sh does)." >&2
    exit 1
  }
fi
echo "Installing the deployment test tools into .venv-tools: ${requirements[*]}"
"$venv/bin/pip" install --quiet --disable-pip-version-check "${requirements[@]}"
printf '%s' "$wanted" >"$stamp"
