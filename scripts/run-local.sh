#!/usr/bin/env bash
# `make run`: builds the release binaries, starts Redis if none answers at REDIS_URL, then the
# gateway and two workers; Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."

# Settings from .env, if there is one (see .env.example).
if [ -f .env ]; then
  set -a
  # shellcheck disable=SC1091
  . ./.env
  set +a
fi

scripts/install-deps.sh
cargo build --release --bin api-gateway --bin worker

redis_url=${REDIS_URL:-redis://${REDIS_HOST:-127.0.0.1}:${REDIS_PORT:-6379}/${REDIS_DB:-0}}
pids=()
stop_all() {
  trap - INT TERM EXIT
  echo
  echo "Stopping..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop_all INT TERM EXIT

if redis-cli -u "$redis_url" ping >/dev/null 2>&1; then
  echo "Using the Redis that answers at $redis_url"
else
  port=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.urlparse(sys.argv[1]).port or 6379)' "$redis_url")
  mkdir -p data/redis
  echo "No Redis at $redis_url: starting one on port $port (data in data/redis, append-only file on)"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$PWD/data/redis" \
    --appendonly yes --appendfsync everysec --save "" >data/redis/redis.log 2>&1 &
  pids+=($!)
  for _ in $(seq 50); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  export REDIS_URL="redis://127.0.0.1:$port/0"
fi

target/release/api-gateway &
pids+=($!)
# Each worker needs its own metrics listener (/health, /ready, /metrics).
for port in 9091 9092; do
  WORKER_METRICS_ADDR="127.0.0.1:$port" target/release/worker &
  pids+=($!)
done

echo "Gateway on ${GATEWAY_ADDR:-0.0.0.0:8080}, two workers (metrics on :9091, :9092); Ctrl-C stops them."
wait -n "${pids[@]}" || true
echo "A process ended; stopping the others."
