#!/usr/bin/env python3
"""Measures the figures of BENCHMARKS.md on this machine, with the release binaries.

Starts its own redis-server on a free port (never the one on 6379), the gateway and workers,
then measures: RSS at rest, the time from POST to `completed` for a box (10 runs of distinct
sizes, FreeCAD included) and for the same 10 boxes again (answered by the result cache, no
FreeCAD), event delivery to 1k and 10k concurrent SSE clients (latency from PUBLISH to
client, gateway RSS; the `sse_fanout` example), enqueue throughput with authentication and rate
limiting off and on (the `enqueue_load` example), and the drain rate of the backlog that leaves
(enable_execution false) through two workers. Standard library only.
Usage: python3 load/bench.py [--jobs N] [--sse-clients 1000,10000] [--box-only]
"""

import argparse
import http.client
import json
import os
import re
import resource
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
SSE_FANOUT = os.path.join(ROOT, "target", "release", "examples", "sse_fanout")
ENQUEUE_LOAD = os.path.join(ROOT, "target", "release", "examples", "enqueue_load")


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

    def __init__(self, port, headers=None):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = headers or {}

    def request(self, method, path, body=None):
        headers = dict(self.headers, **({"content-type": "application/json"} if body is not None else {}))
        self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None


def answers(port, path):
    """Whether the service on `port` answers `path` with 200 yet."""
    try:
        return Client(port).request("GET", path)[0] == 200
    except OSError:
        return False


def wait_until(predicate, limit, what):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    sys.exit(f"timed out waiting for {what}")


def redis_cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True).stdout.strip()


# Tasks finished so far: those still in apalis-redis's done set plus those the workers have
# since forgotten (moved out of the set and counted). Read in one script: two separate reads
# can see a chunk in both places and count it twice.
FINISHED_TASKS = "return redis.call('SCARD', KEYS[1]) + tonumber(redis.call('GET', KEYS[2]) or '0')"


# Jobs queued and not yet fetched: apalis-redis's active list and the fair pending lists.
QUEUED = """
local n = redis.call('LLEN', KEYS[1])
for _, key in ipairs(redis.call('KEYS', ARGV[1])) do n = n + redis.call('LLEN', key) end
return n
"""


def queued_jobs(port):
    return int(redis_cli(port, "eval", QUEUED, "1", "designs:active", "designer:queue:fair:pending:*"))


def finished_tasks(port):
    return int(redis_cli(port, "eval", FINISHED_TASKS, "2", "designs:done", "designer:queue-done-forgotten") or 0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--sse-clients", default="1000,10000")
    parser.add_argument("--box-only", action="store_true", help="only the RSS and box rows")
    args = parser.parse_args()
    # 10k SSE clients need 10k sockets in the gateway and in the client.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else max(soft, min(hard, 65536))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))

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
            AUTH_ENABLED="false",
            RATE_LIMIT_ENABLED="false",
            # The fan-out rows open 10,000 streams from one client address.
            MAX_STREAMS_PER_PRINCIPAL="100000",
            # Several workers run side by side: each takes a free port for its metrics.
            WORKER_METRICS_ADDR="127.0.0.1:0",
        )
        gateway = start([GATEWAY], env)
        worker = start([WORKER], env)

        wait_until(lambda: answers(http_port, "/ready"), 20, "the gateway")
        time.sleep(2)
        rss_gateway, rss_worker = rss_mib(gateway.pid), rss_mib(worker.pid)

        client = Client(http_port)

        def post_to_completed(prompt, cached):
            started = time.monotonic()
            status, body = client.request("POST", "/api/v1/design", {"prompt": prompt})
            assert status == 202, body
            path = f"/api/v1/design/{body['request_id']}"
            while True:
                _, state = client.request("GET", path)
                if state["status"] in ("completed", "failed", "cancelled"):
                    break
                time.sleep(0.002)
            assert state["status"] == "completed", state
            assert state["cached"] == cached, state
            return time.monotonic() - started

        # Each size once (FreeCAD runs), then each again: the result cache answers.
        boxes = [f"Create a simple box 100x50x{30 + run}mm" for run in range(args.runs)]
        latencies = [post_to_completed(prompt, cached=False) for prompt in boxes]
        cache_hits = [post_to_completed(prompt, cached=True) for prompt in boxes]

        def box_rows():
            ms = sorted(x * 1000 for x in latencies)
            print(f"| box, POST to completed, median of {len(ms)} | {statistics.median(ms):.0f} ms (min {ms[0]:.0f}, max {ms[-1]:.0f}) |")
            ms = sorted(x * 1000 for x in cache_hits)
            print(f"| the same boxes again, answered by the result cache (no FreeCAD), POST to completed, median of {len(ms)} | {statistics.median(ms):.1f} ms (min {ms[0]:.1f}, max {ms[-1]:.1f}) |")

        if args.box_only:
            print(f"## Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} cores (--box-only)\n")
            print("| figure | value |")
            print("|---|---|")
            print(f"| gateway RSS at rest | {rss_gateway:.1f} MiB |")
            print(f"| worker RSS at rest | {rss_worker:.1f} MiB |")
            box_rows()
            return

        # Everything below needs the queue to itself: no worker may pick up its jobs.
        worker.terminate()
        worker.wait(timeout=60)

        sse_rows = []
        for clients in [int(c) for c in args.sse_clients.split(",") if c]:
            out = subprocess.run(
                [SSE_FANOUT, "--gateway", f"http://127.0.0.1:{http_port}", "--redis", env["REDIS_URL"],
                 "--clients", str(clients), "--gateway-pid", str(gateway.pid)],
                capture_output=True, text=True, timeout=600,
            )
            if out.returncode != 0:
                sys.exit(f"sse_fanout failed: {out.stderr[-2000:]}")
            latency = re.search(r"p50=([\d.]+) p99=([\d.]+)", out.stdout)
            rss = re.search(r"connected=([\d.]+)", out.stdout)
            sse_rows.append((clients, float(latency[1]), float(latency[2]), float(rss[1])))

        # Enqueue throughput, workers stopped: a second gateway on the same Redis has
        # authentication and rate limiting on (a limit that is never reached, so every request
        # pays for the check); the two are loaded in turn, twice, in one run.
        guarded_port = free_port()
        guarded_env = dict(
            env,
            GATEWAY_ADDR=f"127.0.0.1:{guarded_port}",
            AUTH_ENABLED="true",
            AUTH_API_KEYS="bench:bench-key-not-a-secret",
            RATE_LIMIT_ENABLED="true",
            RATE_LIMIT_REQUESTS="1000000000",
        )
        start([GATEWAY], guarded_env)
        wait_until(lambda: answers(guarded_port, "/ready"), 20, "the second gateway")
        enqueue_rates = {"off": [], "on": []}
        for _ in range(2):
            for mode, port, key in (("off", http_port, None), ("on", guarded_port, "bench-key-not-a-secret")):
                command = [ENQUEUE_LOAD, "--gateway", f"http://127.0.0.1:{port}", "--requests", str(args.jobs), "--concurrency", "64"]
                if key:
                    command += ["--api-key", key]
                out = subprocess.run(command, capture_output=True, text=True, timeout=600)
                if out.returncode != 0:
                    sys.exit(f"enqueue_load failed: {out.stderr[-2000:]}")
                enqueue_rates[mode].append(float(re.search(r"jobs_per_second=([\d.]+)", out.stdout)[1]))
        queued = queued_jobs(redis_port)

        # The backlog those runs left: time two workers draining it.
        done_before = finished_tasks(redis_port)
        started = time.monotonic()
        drainers = [start([WORKER], env) for _ in range(2)]
        target = done_before + queued
        wait_until(lambda: finished_tasks(redis_port) >= target, 1800, "the backlog to drain")
        drain_seconds = time.monotonic() - started
        rss_drainers = [rss_mib(p.pid) for p in drainers]
        rss_gateway_after = rss_mib(gateway.pid)

        cores = os.cpu_count()
        print(f"## Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {cores} cores\n")
        print("| figure | value |")
        print("|---|---|")
        print(f"| gateway RSS at rest | {rss_gateway:.1f} MiB |")
        print(f"| worker RSS at rest | {rss_worker:.1f} MiB |")
        box_rows()
        for mode in ("off", "on"):
            rates = ", ".join(f"{r:.0f}" for r in enqueue_rates[mode])
            print(f"| enqueue of {args.jobs} jobs, 64 in flight, auth + rate limiting {mode} (two rounds) | {rates} jobs/s |")
        print(f"| drain of the {queued} queued jobs, 2 workers, enable_execution false | {queued / drain_seconds:.0f} jobs/s ({drain_seconds:.1f} s) |")
        for clients, p50, p99, rss in sse_rows:
            print(f"| {clients} SSE clients on one job: delivery latency PUBLISH to client | p50 {p50:.1f} ms, p99 {p99:.1f} ms; gateway RSS {rss:.1f} MiB |")
        print(f"| worker RSS right after the drain | {', '.join(f'{r:.1f}' for r in rss_drainers)} MiB |")
        print(f"| gateway RSS at the end (after the SSE runs and the enqueue rounds; freed memory stays with the allocator) | {rss_gateway_after:.1f} MiB |")
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
