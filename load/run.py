#!/usr/bin/env python3
"""Runs the Locust load test (`make load-test`, `make load-test-ui`, and the smoke run of
`make test`), against its own stack unless `LOAD_HOST` names one.

The private stack: a real `redis-server` on a free port with its own data folder, the gateway
and two workers from `--bin-dir` (default `target/release`), authentication on with one API key
per simulated user plus one for the rate-limit probe (`LOAD_API_KEYS` is set for Locust), and
the rate limit raised to `STACK_RATE_LIMIT` requests a minute per key, far above what one
simulated user sends, so the load measures the system and not one principal's limit.

Environment: `LOAD_PROFILE` (STEADY_STATE by default; scenarios.py), `LOAD_DURATION`,
`LOAD_HOST` (and `LOAD_API_KEYS` for it), `LOAD_OUTPUT_DIR` (default `outputs/load`).
Reports: `<output dir>/<profile>/report.html`, `stats_*.csv`, `criteria.txt`, and the stack's
logs. The exit code is Locust's: 0 when the success criteria were met.
Usage: load/run.py [--ui] [--bin-dir DIR]
"""

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCUST = os.path.join(ROOT, ".venv-load", "bin", "locust")
LOCUSTFILE = os.path.join(ROOT, "load", "locustfile.py")
WORKERS = 2
# Keys for the largest profile (SPIKE, 200 users) and the probe, with room to spare.
STACK_KEYS = 256
STACK_RATE_LIMIT = 300
UI_PORT = 8089


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def wait_until(predicate, seconds, what, processes):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        for process in processes:
            if process.poll() is not None:
                sys.exit(f"{os.path.basename(process.args[0])} exited with {process.returncode} while starting")
        time.sleep(0.1)
    sys.exit(f"timed out after {seconds} s waiting for {what}")


class Stack:
    """Redis, the gateway and the workers, in a temporary folder; logs in `log_dir`."""

    def __init__(self, bin_dir, log_dir):
        self.bin_dir = bin_dir
        self.log_dir = log_dir
        self.data_dir = tempfile.mkdtemp(prefix="designer-load-")
        self.processes = []
        self.api_keys = [secrets.token_urlsafe(24) for _ in range(STACK_KEYS)]

    def spawn(self, name, command, env=None):
        log = open(os.path.join(self.log_dir, f"{name}.log"), "w")
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def start(self):
        for binary in ("api-gateway", "worker"):
            if not os.access(os.path.join(self.bin_dir, binary), os.X_OK):
                sys.exit(f"{self.bin_dir}/{binary} is missing: build it first (make build)")
        redis_port, http_port = free_port(), free_port()
        redis_dir = os.path.join(self.data_dir, "redis")
        os.makedirs(redis_dir)
        self.spawn("redis", ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                             "--dir", redis_dir, "--save", "", "--appendonly", "no"])
        ping = ["redis-cli", "-p", str(redis_port), "ping"]
        wait_until(lambda: subprocess.run(ping, capture_output=True, text=True).stdout.strip() == "PONG",
                   10, "redis-server", self.processes)
        env = {
            **os.environ,
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "GATEWAY_ADDR": f"127.0.0.1:{http_port}",
            "ARTIFACT_DIR": os.path.join(self.data_dir, "artifacts"),
            "AUTH_ENABLED": "true",
            "AUTH_API_KEYS": ",".join(f"load-{i:03}:{key}" for i, key in enumerate(self.api_keys)),
            "RATE_LIMIT_ENABLED": "true",
            "RATE_LIMIT_REQUESTS": str(STACK_RATE_LIMIT),
            "RATE_LIMIT_WINDOW_SECONDS": "60",
            "RUST_LOG": "warn",
        }
        self.spawn("api-gateway", [os.path.join(self.bin_dir, "api-gateway")], env)
        worker_ports = [free_port() for _ in range(WORKERS)]
        for number, port in enumerate(worker_ports, 1):
            worker_env = {**env, "WORKER_METRICS_ADDR": f"127.0.0.1:{port}"}
            self.spawn(f"worker-{number}", [os.path.join(self.bin_dir, "worker")], worker_env)
        host = f"http://127.0.0.1:{http_port}"
        wait_until(lambda: answers(f"{host}/ready"), 60, "the gateway", self.processes)
        for port in worker_ports:
            wait_until(lambda: answers(f"http://127.0.0.1:{port}/ready"), 120, "a worker", self.processes)
        return host

    def stop(self):
        """Gateway and workers first (they drain against a live Redis), Redis last."""
        services, redis = self.processes[1:], self.processes[:1]
        for group in (services, redis):
            for process in group:
                if process.poll() is None:
                    process.terminate()
            for process in group:
                try:
                    process.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def locust_command(host, out_dir, ui, profile):
    command = [LOCUST, "-f", LOCUSTFILE, "--host", host, "--html", os.path.join(out_dir, "report.html"),
               "--csv", os.path.join(out_dir, "stats")]
    if ui:
        command += ["--web-host", "127.0.0.1", "--web-port", str(UI_PORT)]
    else:
        command += ["--headless"]
        if profile == "SMOKE":
            command += ["--only-summary", "--loglevel", "WARNING"]
    return command


def run_locust(command, env):
    """Locust's exit code. Ctrl-C reaches Locust too (same process group): it is left to quit
    and write its report; a SIGTERM sent to this script reaches Locust as Ctrl-C."""
    # SIGINT restored for Locust even when this script was started with it ignored (in the
    # background of a non-interactive shell), so that forwarding it works.
    locust = subprocess.Popen(command, env=env, cwd=ROOT, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    signal.signal(signal.SIGTERM, lambda *_: locust.send_signal(signal.SIGINT))
    while True:
        try:
            return locust.wait()
        except KeyboardInterrupt:
            try:
                return locust.wait(timeout=30)
            except (subprocess.TimeoutExpired, KeyboardInterrupt):
                locust.kill()
                return locust.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ui", action="store_true", help="open Locust's web UI instead of running headless")
    parser.add_argument("--bin-dir", default=os.path.join(ROOT, "target", "release"))
    args = parser.parse_args()
    # Stopped while the stack starts: still stop what was started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not os.access(LOCUST, os.X_OK):
        sys.exit(f"Locust is not installed in {os.path.dirname(os.path.dirname(LOCUST))}: run `make deps` "
                 "(or `make test`), which creates it.")
    profile = os.environ.get("LOAD_PROFILE", "").strip().upper() or "STEADY_STATE"
    out_dir = os.path.join(os.environ.get("LOAD_OUTPUT_DIR") or os.path.join(ROOT, "outputs", "load"),
                           profile.lower())
    os.makedirs(out_dir, exist_ok=True)
    # A stale verdict must not stand in for this run's.
    if os.path.exists(os.path.join(out_dir, "criteria.txt")):
        os.remove(os.path.join(out_dir, "criteria.txt"))
    env = {**os.environ, "LOAD_PROFILE": profile, "LOAD_CRITERIA_FILE": os.path.join(out_dir, "criteria.txt")}
    stack = None
    try:
        if os.environ.get("LOAD_HOST"):
            host = os.environ["LOAD_HOST"]
        else:
            stack = Stack(os.path.abspath(args.bin_dir), out_dir)
            print(f"load: starting redis-server, the gateway and {WORKERS} workers from {args.bin_dir}", flush=True)
            host = stack.start()
            env["LOAD_API_KEYS"] = ",".join(stack.api_keys)
        duration = os.environ.get("LOAD_DURATION")
        print(f"load: {profile}{f' for {duration}' if duration else ''} against {host}; reports in {out_dir}",
              flush=True)
        if args.ui:
            print(f"load: Locust's web UI on http://127.0.0.1:{UI_PORT} (Ctrl-C ends)", flush=True)
        code = run_locust(locust_command(host, out_dir, args.ui, profile), env)
    finally:
        if stack:
            stack.stop()
    criteria = os.path.join(out_dir, "criteria.txt")
    if os.path.exists(criteria):
        with open(criteria) as f:
            print("load: success criteria\n" + f.read(), end="", flush=True)
    print(f"load: {'criteria met' if code == 0 else f'FAILED (locust exit code {code})'}; report {out_dir}/report.html",
          flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
