#!/usr/bin/env bash
# `make run`: builds the release binaries, starts a private Redis (unless REDIS_URL is set),
# the gateway and WORKERS workers; Ctrl-C (or `make stop`) stops everything it started. Any
# process that cannot start or bind stops the whole stack with a non-zero exit.
#
# Settings (environment or .env): WORKERS (2), GATEWAY_ADDR (0.0.0.0:8080),
# RUN_WORKER_USER (designer: the user workers run as when started as root), RUN_WORKER_HOME
# (/var/lib/freecad-ai-designer: what that user runs from), RUN_AS_ROOT (1 keeps root),
# WORKER_METRICS_PORTS (9091,9092,...: one per worker), RUN_REDIS_PORT (6390, the private
# Redis), REDIS_URL (an external Redis instead of the private one).
# For tests: RUN_SKIP_BUILD=1 with RUN_BIN_DIR=<dir holding api-gateway and worker>.
set -euo pipefail
cd "$(dirname "$0")/.."

# Settings from .env, if there is one (see .env.example).
if [ -f .env ]; then
  set -a
  # shellcheck disable=SC1091
  . ./.env
  set +a
fi

workers=${WORKERS:-2}
gateway_addr=${GATEWAY_ADDR:-0.0.0.0:8080}
bin_dir=${RUN_BIN_DIR:-target/release}
run_dir=${RUN_DIR:-data/run}
mkdir -p "$run_dir"

if [ "${RUN_SKIP_BUILD:-}" != 1 ]; then
  scripts/install-deps.sh
  cargo build --release --bin api-gateway --bin worker --bin designer
fi

pids=()
stop_all() {
  trap - INT TERM EXIT
  echo
  echo "Stopping..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -f "$run_dir/run.pid"
}
trap stop_all INT TERM EXIT
echo $$ >"$run_dir/run.pid"

fail() {
  echo "make run: $*" >&2
  exit 1
}

# Whether process `pid` still runs (an exited child stays a zombie until reaped, and
# `kill -0` succeeds on a zombie).
alive() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $state != Z* ]]
}

# Waits until `url` answers, or fails when process `pid` has died or 30 s have passed.
wait_until_up() {
  local name=$1 pid=$2 url=$3
  for _ in $(seq 300); do
    alive "$pid" || fail "$name exited at start (see its output above); stopping everything."
    curl -fsS -m 2 -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "$name did not answer at $url within 30 s; stopping everything."
}

# redis-cli waits forever on a port whose holder never answers: bound every call.
rcli() { timeout 2 redis-cli "$@"; }

# Redis: the private one, unless REDIS_URL names another.
if [ -n "${REDIS_URL:-}" ]; then
  rcli -u "$REDIS_URL" ping >/dev/null 2>&1 || fail "no Redis answers at REDIS_URL=$REDIS_URL."
  aof=$(rcli -u "$REDIS_URL" config get appendonly 2>/dev/null | tail -1 || true)
  if [ "$aof" != yes ]; then
    echo "WARNING: the Redis at REDIS_URL has its append-only file off (appendonly=${aof:-unknown}):" >&2
    echo "WARNING: queued jobs can be lost when it restarts. Set 'appendonly yes' there." >&2
  fi
  echo "Using the Redis at REDIS_URL."
else
  redis_port=${RUN_REDIS_PORT:-6390}
  redis_dir=${RUN_REDIS_DIR:-$PWD/data/redis}
  mkdir -p "$redis_dir"
  echo "Starting a private Redis on 127.0.0.1:$redis_port (data in $redis_dir, append-only file on)"
  redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$redis_dir" \
    --appendonly yes --appendfsync everysec --save "" --daemonize no \
    >"$redis_dir/redis.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    alive "${pids[-1]}" || fail "Redis could not start on port $redis_port: $(tail -3 "$redis_dir/redis.log")"
    rcli -p "$redis_port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  # The Redis that answers must be ours, not another one already on that port.
  answering=$(rcli -p "$redis_port" info server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p')
  [ "$answering" = "${pids[-1]}" ] || fail "port $redis_port is taken (by pid ${answering:-unknown}); set RUN_REDIS_PORT to a free port."
  export REDIS_URL="redis://127.0.0.1:$redis_port/0"
fi

# A worker runs model-written code next to the model keys: started as root, it is dropped to
# the unprivileged system user RUN_WORKER_USER (designer, created if missing). That user may
# not reach this checkout (under /root, say), so the worker runs from a copy of its binary and
# of config/ in RUN_WORKER_HOME, and the artifacts it writes go to a folder it owns there
# (unless ARTIFACT_DIR or ARTIFACT_STORE_URL says otherwise). RUN_AS_ROOT=1 keeps root.
worker_command=("$bin_dir/worker")
worker_cwd=$PWD
if [ "$(id -u)" = 0 ] && [ "${RUN_AS_ROOT:-}" != 1 ]; then
  worker_user=${RUN_WORKER_USER:-designer}
  worker_home=${RUN_WORKER_HOME:-/var/lib/freecad-ai-designer}
  if ! id -u "$worker_user" >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir "$worker_home" --shell /usr/sbin/nologin \
      "$worker_user" || fail "could not create the user $worker_user for the workers."
  fi
  mkdir -p "$worker_home/bin" "$worker_home/home"
  chmod 755 "$worker_home" "$worker_home/bin"
  install -m 755 "$bin_dir/worker" "$worker_home/bin/worker"
  rm -rf "$worker_home/config" && cp -r config "$worker_home/config" && chmod -R a+rX "$worker_home/config"
  chown "$worker_user:" "$worker_home/home"
  if [ -z "${ARTIFACT_STORE_URL:-}" ]; then
    export ARTIFACT_DIR=${ARTIFACT_DIR:-$worker_home/artifacts}
    mkdir -p "$ARTIFACT_DIR"
    ARTIFACT_DIR=$(cd "$ARTIFACT_DIR" && pwd)
    chown -R "$worker_user:" "$ARTIFACT_DIR"
    setpriv --reuid="$worker_user" --regid="$worker_user" --init-groups test -w "$ARTIFACT_DIR" ||
      fail "ARTIFACT_DIR=$ARTIFACT_DIR is not writable by $worker_user (is a parent folder closed to it?)."
  fi
  worker_command=(env HOME="$worker_home/home" CONFIG_DIR="${CONFIG_DIR:-$worker_home/config}"
    setpriv --reuid="$worker_user" --regid="$worker_user" --init-groups --inh-caps=-all
    "$worker_home/bin/worker")
  worker_cwd=$worker_home
  echo "The workers run as the unprivileged user $worker_user (from $worker_home; RUN_AS_ROOT=1 keeps root)."
fi

# The gateway.
export GATEWAY_ADDR="$gateway_addr"
"$bin_dir/api-gateway" &
pids+=($!)
gateway_port=${gateway_addr##*:}
wait_until_up "the gateway (GATEWAY_ADDR=$gateway_addr)" "${pids[-1]}" "http://127.0.0.1:$gateway_port/health"

# The workers, each with its own metrics listener (/health, /ready, /metrics).
IFS=, read -r -a metrics_ports <<<"${WORKER_METRICS_PORTS:-}"
for i in $(seq 0 $((workers - 1))); do
  port=${metrics_ports[$i]:-$((9091 + i))}
  (cd "$worker_cwd" && WORKER_METRICS_ADDR="127.0.0.1:$port" exec "${worker_command[@]}") &
  pids+=($!)
  wait_until_up "worker $((i + 1)) (metrics port $port)" "${pids[-1]}" "http://127.0.0.1:$port/health"
done

cat <<EOT
Running: the gateway on $gateway_addr, $workers worker(s). Stop with Ctrl-C or \`make stop\`.
  API docs:  http://127.0.0.1:$gateway_port/docs
  CLI:       export DESIGNER_URL=http://127.0.0.1:$gateway_port
             $bin_dir/designer submit "a box 100 x 50 x 30 mm" --wait --out designs/
             $bin_dir/designer list
EOT
wait -n "${pids[@]}" || true
fail "a process ended; stopping the others."
