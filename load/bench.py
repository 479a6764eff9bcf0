#!/usr/bin/env python3
"""Measures the figures of BENCHMARKS.md on this machine, with the release binaries.

Starts its own redis-server on a free port (never the one on 6379), the gateway and workers,
then measures: RSS at rest, the time from POST to `completed` for a box (10 runs, FreeCAD
included), and the drain rate of a 20,000-job backlog (enable_execution false) through two
workers. Standard library only. Usage: python3 load/bench.py [--jobs N]
"""

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GATEWAY = os.path.join(ROOT, "target", "release", "api-gateway")
WORKER = os.path.join(ROOT, "target", "release", "worker")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Client:
    """One keep-alive HTTP connection."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(self, method, path, body=None):
        headers = {"content-type": "application/json"} if body is not None else {}
        self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None


def wait_until(predicate, limit, what):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    sys.exit(f"timed out waiting for {what}")


def redis_cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True).stdout.strip()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="designer-bench-")
    redis_port, http_port = free_port(), free_port()
    processes = []

    def start(command, env=None):
        log = open(os.path.join(work, os.path.basename(command[0]) + f"-{len(processes)}.log"), "w")
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        processes.append(process)
        return process

    try:
        start(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", work])
        wait_until(lambda: redis_cli(redis_port, "ping") == "PONG", 10, "redis-server")
        env = dict(
            os.environ,
            REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
            GATEWAY_ADDR=f"127.0.0.1:{http_port}",
            ARTIFACT_DIR=os.path.join(work, "artifacts"),
            RUST_LOG="warn",
            # Several workers run side by side: each takes a free port for its metrics.
            WORKER_METRICS_ADDR="127.0.0.1:0",
        )
        gateway = start([GATEWAY], env)
        worker = start([WORKER], env)

        def ready():
            try:
                return Client(http_port).request("GET", "/ready")[0] == 200
            except OSError:
                return False

        wait_until(ready, 20, "the gateway")
        time.sleep(2)
        rss_gateway, rss_worker = rss_mib(gateway.pid), rss_mib(worker.pid)

        client = Client(http_port)
        latencies = []
        for _ in range(args.runs):
            started = time.monotonic()
            status, body = client.request("POST", "/api/v1/design", {"prompt": "Create a simple box 100x50x30mm"})
            assert status == 202, body
            path = f"/api/v1/design/{body['request_id']}"
            while True:
                _, state = client.request("GET", path)
                if state["status"] in ("completed", "failed", "cancelled"):
                    break
                time.sleep(0.002)
            assert state["status"] == "completed", state
            latencies.append(time.monotonic() - started)

        # The backlog: enqueue with the workers stopped, then time two workers draining it.
        worker.terminate()
        worker.wait(timeout=60)
        done_before = int(redis_cli(redis_port, "scard", "designs:done") or 0)
        counter = iter(range(args.jobs))
        lock = threading.Lock()

        def submit_many():
            c = Client(http_port)
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                side = 1 + i % 50
                status, body = c.request("POST", "/api/v1/design", {"prompt": f"a box {side}x{side}x{side} mm", "enable_execution": False})
                assert status == 202, body

        started = time.monotonic()
        threads = [threading.Thread(target=submit_many) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        enqueue_seconds = time.monotonic() - started
        queued = int(redis_cli(redis_port, "llen", "designs:active"))

        started = time.monotonic()
        drainers = [start([WORKER], env) for _ in range(2)]
        target = done_before + args.jobs
        wait_until(lambda: int(redis_cli(redis_port, "scard", "designs:done") or 0) >= target, 900, "the backlog to drain")
        drain_seconds = time.monotonic() - started
        rss_drainers = [rss_mib(p.pid) for p in drainers]
        rss_gateway_after = rss_mib(gateway.pid)

        cores = os.cpu_count()
        print(f"## Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {cores} cores\n")
        print("| figure | value |")
        print("|---|---|")
        print(f"| gateway RSS at rest | {rss_gateway:.1f} MiB |")
        print(f"| worker RSS at rest | {rss_worker:.1f} MiB |")
        ms = sorted(x * 1000 for x in latencies)
        print(f"| box, POST to completed, median of {len(ms)} | {statistics.median(ms):.0f} ms (min {ms[0]:.0f}, max {ms[-1]:.0f}) |")
        print(f"| enqueue of {args.jobs} jobs over HTTP (16 Python clients) | {args.jobs / enqueue_seconds:.0f} jobs/s ({enqueue_seconds:.1f} s; {queued} queued) |")
        print(f"| drain of {args.jobs} queued jobs, 2 workers, enable_execution false | {args.jobs / drain_seconds:.0f} jobs/s ({drain_seconds:.1f} s) |")
        print(f"| worker RSS right after the drain | {', '.join(f'{r:.1f}' for r in rss_drainers)} MiB |")
        print(f"| gateway RSS after 20k requests | {rss_gateway_after:.1f} MiB |")
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
