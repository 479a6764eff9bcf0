#!/usr/bin/env python3
"""The throughput table of issue 13, in one run on one Redis (release binaries).

Rows: a backlog of 10,000 planning-only jobs through 2 workers (default settings); Celery 5
(no-op task, acks_late, 2 processes x 8 threads, load/peers/celery_noop.py from load/.venv)
draining the same number of tasks on the same Redis; 120 jobs whose model calls (planner,
generator, validator) each take 1 s at a local fake OpenAI-compatible vendor, 2 workers;
600 box jobs with FreeCAD (warm pool, STEP/STL/FCStd), 2 workers; box POST -> completed one
at a time (median of 20). Also: Redis commands per planning-only job (INFO commandstats over
the backlog) and worker RSS with 1,000 model-bound jobs in flight.
Usage: python3 load/bench_throughput.py
"""

import http.server
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import ENQUEUE_LOAD, GATEWAY, WORKER, Client, answers, free_port, redis_cli, rss_mib, wait_until  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, "load", ".venv", "bin")
PEERS = os.path.join(ROOT, "load", "peers")

BOX_SCRIPT = "import FreeCAD as App\nimport Part\n\ndoc = App.ActiveDocument\ndoc.addObject('Part::Feature', 'Part').Shape = Part.makeBox(10, 10, 10)\ndoc.recompute()\n"
# One answer every agent can read: the planner and the validator take the ```json block,
# the generator the ```python block.
ANSWER = "```json\n" + json.dumps({
    "summary": "a 10 mm cube", "steps": ["make the cube"],
    "expected": {"bbox": [10, 10, 10], "volume": 1000, "solids": 1},
    "score": 1.0, "approved": True, "feedback": [],
}) + "\n```\n```python\n" + BOX_SCRIPT + "```\n"


def fake_vendor(delay):
    """An OpenAI-compatible server that answers every chat completion after `delay` s."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length", 0)))
            time.sleep(delay)
            body = json.dumps({
                "id": "x", "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
            }).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.request_queue_size = 2048
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/v1"


def commandstats(port):
    stats = {}
    for line in redis_cli(port, "info", "commandstats").splitlines():
        if line.startswith("cmdstat_"):
            name, rest = line[len("cmdstat_"):].split(":", 1)
            stats[name] = int(rest.split("calls=")[1].split(",")[0])
    return stats


def main():
    work = tempfile.mkdtemp(prefix="designer-throughput-")
    redis_port, http_port = free_port(), free_port()
    processes = []

    def start(command, env=None):
        log = open(os.path.join(work, f"{os.path.basename(command[0])}-{len(processes)}.log"), "w")
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        processes.append(process)
        return process

    def stop(group):
        for p in group:
            p.terminate()
        for p in group:
            p.wait(timeout=60)

    def finished():
        # Finished tasks: still in the done set, or forgotten and counted.
        total = int(redis_cli(redis_port, "scard", "designs:done") or 0)
        return total + int(redis_cli(redis_port, "get", "designer:queue-done-forgotten") or 0)

    def run_jobs(env, body, count, concurrency=64):
        before = finished()
        out = subprocess.run([ENQUEUE_LOAD, "--gateway", f"http://127.0.0.1:{http_port}", "--requests", str(count),
                              "--concurrency", str(concurrency), "--body", json.dumps(body)], capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"enqueue_load failed: {out.stderr[-1500:]}")
        return before

    rows = []
    try:
        start(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", work])
        wait_until(lambda: redis_cli(redis_port, "ping") == "PONG", 10, "redis-server")
        vendor = fake_vendor(1.0)
        env = dict(os.environ, REDIS_URL=f"redis://127.0.0.1:{redis_port}/0", GATEWAY_ADDR=f"127.0.0.1:{http_port}",
                   ARTIFACT_DIR=os.path.join(work, "artifacts"), RUST_LOG="warn", AUTH_ENABLED="false",
                   RATE_LIMIT_ENABLED="false", WORKER_METRICS_ADDR="127.0.0.1:0",
                   OPENAI_API_KEY="sk-bench-not-a-secret", OPENAI_BASE_URL=vendor)
        env.pop("WORKER_CONCURRENCY", None)
        start([GATEWAY], env)
        wait_until(lambda: answers(http_port, "/ready"), 20, "the gateway")

        # 1. Backlog of 10,000 planning-only jobs, enqueued with no worker, drained by 2.
        jobs = 10_000
        before = run_jobs(env, {"prompt": "a box 10x20x30 mm", "enable_execution": False}, jobs)
        stats_before = commandstats(redis_port)
        started = time.monotonic()
        workers = [start([WORKER], env) for _ in range(2)]
        wait_until(lambda: finished() >= before + jobs, 1800, "the backlog")
        seconds = time.monotonic() - started
        stats_after = commandstats(redis_port)
        backlog_rate = jobs / seconds
        rows.append(("backlog of 10,000 planning-only jobs, 2 workers, default settings", f"{backlog_rate:.0f} jobs/s ({seconds:.1f} s)", ">= 5,000 jobs/s"))
        delta = {k: v - stats_before.get(k, 0) for k, v in stats_after.items()}
        scripts = delta.get("evalsha", 0) + delta.get("eval", 0)
        total = sum(delta.values())
        stop(workers)
        # 3. Celery 5 on the same Redis, same backlog size.
        celery_env = dict(os.environ, CELERY_BROKER_URL=f"redis://127.0.0.1:{redis_port}/1", PYTHONPATH=PEERS)
        subprocess.run([os.path.join(VENV, "python"), os.path.join(PEERS, "celery_noop.py"), "enqueue", celery_env["CELERY_BROKER_URL"], str(jobs)], env=celery_env, check=True)
        started = time.monotonic()
        celery = [start([os.path.join(VENV, "celery"), "-A", "celery_noop", "worker", "--pool", "threads", "--concurrency", "8",
                         "--loglevel", "warning", "-n", f"bench{i}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"], celery_env) for i in range(2)]
        wait_until(lambda: redis_cli(redis_port, "-n", "1", "llen", "celery") == "0" and redis_cli(redis_port, "-n", "1", "hlen", "unacked") == "0", 1800, "celery")
        celery_seconds = time.monotonic() - started
        stop(celery)
        celery_rate = jobs / celery_seconds
        rows.append(("Celery 5, no-op task, acks_late, 2 processes x 8 threads, same Redis, same run", f"{celery_rate:.0f} tasks/s ({celery_seconds:.1f} s, worker start included); we are {backlog_rate / celery_rate:.2f}x", "we are >= 3x"))

        # 4. 120 jobs whose model calls each take 1 s, 2 workers (defaults).
        workers = [start([WORKER], env) for _ in range(2)]
        time.sleep(2)
        started = time.monotonic()
        before = run_jobs(env, {"prompt": "a 10 mm cube", "model": "openai/gpt-4o", "output_formats": ["step"]}, 120)
        wait_until(lambda: finished() >= before + 120, 900, "the model-bound jobs")
        rows.append(("120 jobs whose model calls each take 1 s (planner, generator, validator), 2 workers", f"{time.monotonic() - started:.1f} s", "<= 15 s (ideal ~4 s)"))

        # 5. 600 box jobs with FreeCAD, 2 workers.
        started = time.monotonic()
        before = run_jobs(env, {"prompt": "Create a simple box 100x50x30mm"}, 600)
        wait_until(lambda: finished() >= before + 600, 900, "the FreeCAD jobs")
        seconds = time.monotonic() - started
        rows.append(("600 box jobs with FreeCAD (warm pool, exports), 2 workers", f"{600 / seconds:.0f} jobs/s ({seconds:.1f} s)", ">= 250 jobs/s"))

        # 6. Box POST -> completed, one at a time.
        client = Client(http_port)
        latencies = []
        for _ in range(20):
            t0 = time.monotonic()
            status, body = client.request("POST", "/api/v1/design", {"prompt": "Create a simple box 100x50x30mm"})
            assert status == 202, body
            while True:
                _, state = client.request("GET", f"/api/v1/design/{body['request_id']}")
                if state["status"] in ("completed", "failed", "cancelled"):
                    break
                time.sleep(0.001)
            assert state["status"] == "completed", state
            latencies.append((time.monotonic() - t0) * 1000)
        rows.append(("box job POST -> completed, one at a time, median of 20", f"{statistics.median(latencies):.1f} ms", "<= 10 ms"))
        rows.append(("Redis commands per planning-only job over the backlog (INFO commandstats)", f"{scripts / jobs:.2f} scripts (EVALSHA) and {total / jobs:.1f} commands in all, those run inside scripts included", "<= 4 scripts of ours + apalis-redis fetch/ack"))

        # 7. Worker RSS with 1,000 model-bound jobs in flight (one worker, the other stopped).
        stop(workers)
        idle_env = dict(env, WORKER_CONCURRENCY="1000", LLM_MAX_IN_FLIGHT="1000")
        slow_vendor = fake_vendor(60.0)
        holder = start([WORKER], dict(idle_env, OPENAI_BASE_URL=slow_vendor))
        time.sleep(1)
        rss_idle = rss_mib(holder.pid)
        run_jobs(env, {"prompt": "a box 10x20x30 mm", "model": "openai/gpt-4o"}, 1000)
        time.sleep(8)
        rss_1000 = rss_mib(holder.pid)
        holder.kill()
        holder.wait()
        rows.append(("worker RSS with 1,000 model-bound jobs in flight", f"{rss_1000:.1f} MiB (at rest {rss_idle:.1f} MiB: {(rss_1000 - rss_idle) * 1024 / 1000:.1f} KiB per job)", "small"))

        print(f"## Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} cores\n")
        print("| what | measured | goal |")
        print("|---|---|---|")
        for what, value, goal in rows:
            print(f"| {what} | {value} | {goal} |")
    finally:
        for p in processes:
            if p.poll() is None:
                p.terminate()
        for p in processes:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
