#!/usr/bin/env python3
"""Fair scheduling (issue 20) in one run on one private Redis (release binaries).

Rows: the drain rate of a backlog of planning-only jobs through 2 workers (default settings)
queued by one principal and by ten, with fair dispatch (QUEUE_DISPATCH_DEPTH default) and
without it (a gateway whose depth is larger than the backlog queues every job straight to
apalis-redis's active list: first come, first served, as before issue 20); and how long a
second tenant's 3 box jobs (FreeCAD) take while a first tenant's 2,000 box jobs drain, fair
and first-come-first-served.
Usage: python3 load/bench_fairness.py [--jobs 20000] [--backlog 2000] [--skip-drains]
       [--fifo-first]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import ENQUEUE_LOAD, GATEWAY, Client, answers, free_port, queued_jobs, wait_until  # noqa: E402
from bench_throughput import BOX, PLANNING_ONLY, Stack, outcome  # noqa: E402

TENANTS = [f"tenant{i}" for i in range(10)]
FIFO_DEPTH = "100000000"


def key_of(tenant):
    return f"{tenant}-key-not-a-secret"


class TenantStack(Stack):
    """The throughput stack with API keys for the tenants, and a second gateway on the same
    Redis that queues first come, first served (depth larger than any backlog)."""

    def __init__(self, work):
        super().__init__(work, "http://127.0.0.1:9")
        self.env.update(AUTH_ENABLED="true", AUTH_API_KEYS=",".join(f"{t}:{key_of(t)}" for t in TENANTS))

    def start_services(self):
        super().start_services()
        self.fifo_port = free_port()
        self.start([GATEWAY], dict(self.env, GATEWAY_ADDR=f"127.0.0.1:{self.fifo_port}", QUEUE_DISPATCH_DEPTH=FIFO_DEPTH))
        wait_until(lambda: answers(self.fifo_port, "/ready"), 30, "the first-come-first-served gateway")

    def queued(self):
        return queued_jobs(self.redis_port)

    def enqueue_as(self, tenant, body, count, port):
        out = subprocess.run([ENQUEUE_LOAD, "--gateway", f"http://127.0.0.1:{port}", "--requests", str(count),
                              "--concurrency", "64", "--api-key", key_of(tenant), "--body", json.dumps(body)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"enqueue_load failed: {out.stderr[-1500:]}")


def drain(stack, jobs, tenants, port, **worker_settings):
    """Queues `jobs` planning-only jobs split over `tenants` (one after another) with no worker
    running, then times 2 workers draining them; (jobs/s, seconds, outcome note)."""
    statuses = stack.statuses()
    before = stack.finished()
    for tenant in tenants:
        stack.enqueue_as(tenant, PLANNING_ONLY, jobs // len(tenants), port)
    assert stack.queued() == jobs, f"{stack.queued()} queued of {jobs}"
    started = time.monotonic()
    workers = stack.workers(2, **worker_settings)
    stack.wait_finished(before + jobs, 1800, "the backlog")
    seconds = time.monotonic() - started
    stack.stop(workers)
    return jobs / seconds, seconds, outcome(stack, statuses, jobs)


def late_tenant(stack, backlog, port):
    """Tenant 0 queues `backlog` box jobs while 2 workers run; then tenant 1 submits 3. Returns
    (seconds from tenant 1's first POST until its 3 completed, tenant 0's jobs unfinished then,
    seconds for the whole backlog)."""
    workers = stack.workers(2)
    time.sleep(3)
    before = stack.finished()
    stack.enqueue_as(TENANTS[0], BOX, backlog, port)
    client = Client(port, {"x-api-key": key_of(TENANTS[1])})
    started = time.monotonic()
    ids = []
    for _ in range(3):
        status, body = client.request("POST", "/api/v1/design", BOX)
        assert status == 202, body
        ids.append(body["request_id"])
    for request_id in ids:
        while True:
            _, state = client.request("GET", f"/api/v1/design/{request_id}")
            if state["status"] in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.01)
        assert state["status"] == "completed", state
    waited = time.monotonic() - started
    unfinished = backlog + 3 - (stack.finished() - before)
    stack.wait_finished(before + backlog + 3, 1800, "the box backlog")
    whole = time.monotonic() - started
    stack.stop(workers)
    return waited, unfinished, whole


def main():
    # Every box job of the backlog asks for the same part: with the result cache on, all but
    # the first would be answered from it and FreeCAD would hardly run. This measures FreeCAD.
    os.environ["RESULT_CACHE_TTL_SECONDS"] = "0"
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--backlog", type=int, default=2_000)
    parser.add_argument("--skip-drains", action="store_true")
    # The machine is shared: run the late-tenant rows in the other order to see the noise.
    parser.add_argument("--fifo-first", action="store_true")
    args = parser.parse_args()
    stack = TenantStack(tempfile.mkdtemp(prefix="designer-fairness-"))
    rows = []
    try:
        stack.start_services()
        for label, tenants, port in () if args.skip_drains else (
            ("1 principal, fair dispatch (depth 16)", TENANTS[:1], stack.http_port),
            ("10 principals, fair dispatch (depth 16)", TENANTS, stack.http_port),
            ("1 principal, first come first served (depth > backlog)", TENANTS[:1], stack.fifo_port),
            ("10 principals, first come first served (depth > backlog)", TENANTS, stack.fifo_port),
        ):
            rate, seconds, note = drain(stack, args.jobs, tenants, port)
            rows.append((f"drain of {args.jobs:,} planning-only jobs, 2 workers, {label}",
                         f"{rate:,.0f} jobs/s ({seconds:.2f} s; {1000 / rate:.3f} ms per job){note}"))
        late = [("fair dispatch (depth 16)", stack.http_port), ("first come first served", stack.fifo_port)]
        for label, port in reversed(late) if args.fifo_first else late:
            waited, unfinished, whole = late_tenant(stack, args.backlog, port)
            rows.append((f"a second tenant's 3 box jobs behind a first tenant's {args.backlog:,} (FreeCAD), 2 workers, {label}",
                         f"{waited:.2f} s to complete all 3, {unfinished:,} of the backlog still unfinished then "
                         f"(the backlog took {whole:.1f} s)"))
        print(f"## Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} cores\n")
        print("| what | measured |")
        print("|---|---|")
        for what, value in rows:
            print(f"| {what} | {value} |")
    finally:
        stack.stop_all()


if __name__ == "__main__":
    main()
