#!/usr/bin/env python3
"""The throughput table of issue 13, in one run on one private Redis (release binaries).

Rows: a backlog of 10,000 planning-only jobs through 2 workers (default settings); Celery 5
(no-op task, acks_late, 2 processes x 8 threads, load/peers/celery_noop.py from load/.venv)
draining the same number of tasks on the same Redis; 120 jobs whose model calls (planner,
generator, validator) each take 1 s at a local fake OpenAI-compatible vendor, 2 workers;
600 box jobs with FreeCAD (warm pool, default exports), 2 workers; box POST -> completed one
at a time (median of 20). Also: Redis commands per planning-only job (INFO commandstats over
the backlog, and a MONITOR sample that splits ours from apalis-redis's), CPU per job of each
process, and worker RSS with 1,000 model-bound jobs in flight. (The deadpool-redis comparison
of BENCHMARKS.md ran with `--pool-sizes 0,4` on commit dfc563d, whose REDIS_POOL_SIZE was
dropped after it lost.)
Usage: python3 load/bench_throughput.py [--jobs 10000] [--model-jobs 120] [--box-jobs 600]
       [--in-flight 1000] [--skip-celery]
"""

import argparse
import http.server
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import ENQUEUE_LOAD, FINISHED_TASKS, GATEWAY, WORKER, Client, answers, free_port, redis_cli, rss_mib, wait_until  # noqa: E402

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
# Jobs without a model are built by the offline planner and catalogue (the agents default to
# vendors whose keys this run may have set for the model-bound rows).
PLANNING_ONLY = {"prompt": "a box 10x20x30 mm", "enable_execution": False, "model": "builtin/offline"}
MODEL_BOUND = {"prompt": "a 10 mm cube", "model": "openai/gpt-4o", "output_formats": ["step"]}
BOX = {"prompt": "Create a simple box 100x50x30mm", "model": "builtin/offline"}

# Every job record's status, tallied inside Redis (one call, whatever the number of jobs).
STATUS_TALLY = """
local counts, cursor = {}, '0'
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)
  cursor = page[1]
  for _, key in ipairs(page[2]) do
    if redis.call('TYPE', key).ok == 'hash' then
      local status = redis.call('HGET', key, 'status') or 'none'
      counts[status] = (counts[status] or 0) + 1
    end
  end
until cursor == '0'
local out = {}
for status, n in pairs(counts) do table.insert(out, status); table.insert(out, n) end
return out
"""


class FakeVendor:
    """An OpenAI-compatible server that answers every chat completion after `delay` s: whole
    (JSON) or, when the request asks for a stream (the worker's default), as SSE chunks. It
    counts the requests it holds open."""

    def __init__(self, delay):
        self.open = 0
        self.lock = threading.Lock()
        vendor = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                request = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                with vendor.lock:
                    vendor.open += 1
                try:
                    time.sleep(delay)
                finally:
                    with vendor.lock:
                        vendor.open -= 1
                body, content_type = completion(request.get("stream", False))
                self.send_response(200)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            # listen()'s backlog: 1,000 jobs in flight may connect at once.
            request_queue_size = 4096

        server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}/v1"


STARTED = time.monotonic()


def say(message):
    """Progress on stderr; the table goes to stdout."""
    print(f"[{time.monotonic() - STARTED:7.1f} s] {message}", file=sys.stderr, flush=True)


def completion(stream):
    usage = {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}
    if stream:
        chunk = {"id": "x", "object": "chat.completion.chunk",
                 "choices": [{"index": 0, "delta": {"role": "assistant", "content": ANSWER}, "finish_reason": None}]}
        last = {"id": "x", "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": usage}
        body = f"data: {json.dumps(chunk)}\n\ndata: {json.dumps(last)}\n\ndata: [DONE]\n\n"
        return body.encode(), "text/event-stream"
    body = {"id": "x", "object": "chat.completion", "usage": usage,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}]}
    return json.dumps(body).encode(), "application/json"


def commandstats(port):
    """INFO commandstats as command -> calls (commands run inside scripts included)."""
    stats = {}
    for line in redis_cli(port, "info", "commandstats").splitlines():
        if line.startswith("cmdstat_"):
            name, rest = line[len("cmdstat_"):].split(":", 1)
            stats[name] = int(rest.split("calls=")[1].split(",")[0])
    return stats


class Resp:
    """One plain RESP connection to Redis: polling through it costs no process per read (a
    redis-cli per poll would load the 2 shared cores that are being measured)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.file = self.sock.makefile("rb")

    def call(self, *args):
        parts = [f"*{len(args)}\r\n".encode()]
        for arg in args:
            data = str(arg).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self.sock.sendall(b"".join(parts))
        return self.read()

    def read(self):
        line = self.file.readline().rstrip(b"\r\n")
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b"-"):
            return rest.decode()
        if kind == b":":
            return int(rest)
        if kind == b"$":
            return None if rest == b"-1" else self.file.read(int(rest) + 2)[:-2].decode()
        return [self.read() for _ in range(int(rest))]


def descendants(pid):
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pids):
    """CPU time of these processes and all their descendants, reaped children included."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in {d for p in pids for d in descendants(p)}:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / ticks


class Stack:
    """A private redis-server, one gateway and the workers started on them."""

    def __init__(self, work, vendor_url):
        self.work = work
        self.redis_port, self.http_port = free_port(), free_port()
        self.processes = []
        self.env = dict(
            os.environ, REDIS_URL=f"redis://127.0.0.1:{self.redis_port}/0",
            GATEWAY_ADDR=f"127.0.0.1:{self.http_port}", ARTIFACT_DIR=os.path.join(work, "artifacts"),
            RUST_LOG="warn", AUTH_ENABLED="false", RATE_LIMIT_ENABLED="false",
            WORKER_METRICS_ADDR="127.0.0.1:0", OPENAI_API_KEY="sk-bench-not-a-secret", OPENAI_BASE_URL=vendor_url)
        # Default settings: nothing inherited from the caller's shell tunes the workers.
        for name in ("WORKER_CONCURRENCY", "LLM_MAX_IN_FLIGHT", "FREECAD_POOL_SIZE"):
            self.env.pop(name, None)

    def start(self, command, env=None):
        log = open(os.path.join(self.work, f"{os.path.basename(command[0])}-{len(self.processes)}.log"), "w")
        process = subprocess.Popen(command, env=env or self.env, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def start_services(self):
        self.redis_server = self.start(["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                                        "--save", "", "--appendonly", "no", "--dir", self.work])
        wait_until(lambda: self.redis("ping") == "PONG", 10, "redis-server")
        self.resp = Resp(self.redis_port)
        self.gateway = self.start([GATEWAY])
        wait_until(lambda: answers(self.http_port, "/ready"), 30, "the gateway")

    def workers(self, count, **settings):
        return [self.start([WORKER], dict(self.env, **settings)) for _ in range(count)]

    @staticmethod
    def stop(group):
        for p in group:
            p.terminate()
        for p in group:
            p.wait(timeout=120)

    def stop_all(self):
        for p in self.processes:
            if p.poll() is None:
                p.terminate()
        for p in self.processes:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()

    def redis(self, *args):
        return redis_cli(self.redis_port, *args)

    def finished(self):
        """Finished tasks: still in apalis-redis's done set, or forgotten and counted."""
        return self.resp.call("eval", FINISHED_TASKS, 2, "designs:done", "designer:queue-done-forgotten")

    def statuses(self):
        flat = self.redis("eval", STATUS_TALLY, "0", "designer:job:*").split("\n")
        return {flat[i]: int(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}

    def enqueue(self, body, count, concurrency=64):
        """POSTs `count` jobs; returns the finished count from before, to wait for."""
        before = self.finished()
        out = subprocess.run([ENQUEUE_LOAD, "--gateway", f"http://127.0.0.1:{self.http_port}", "--requests", str(count),
                              "--concurrency", str(concurrency), "--body", json.dumps(body)], capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"enqueue_load failed: {out.stderr[-1500:]}")
        return before

    def wait_finished(self, target, limit, what, first_fetch=None):
        """Polls every 10 ms until `target` tasks have finished; with `first_fetch` (the queue's
        length when the workers start), returns when the first task left the queue."""
        say(f"waiting for {what}: {self.finished()} of {target} tasks finished")
        deadline, fetched = time.monotonic() + limit, None
        while self.finished() < target:
            if first_fetch is not None and fetched is None and self.resp.call("llen", "designs:active") < first_fetch:
                fetched = time.monotonic()
            if time.monotonic() > deadline:
                sys.exit(f"timed out waiting for {what} ({self.finished()} of {target} finished)")
            time.sleep(0.01)
        return fetched


def outcome(stack, statuses_before, jobs):
    """'' when all `jobs` completed since `statuses_before`, else what happened to them."""
    after = stack.statuses()
    delta = {s: n - statuses_before.get(s, 0) for s, n in after.items() if n != statuses_before.get(s, 0)}
    completed = delta.get('"completed"', 0)
    return "" if completed == jobs else f" [NOT all completed: {delta}]"


def drain_backlog(stack, jobs, **settings):
    """Enqueues `jobs` planning-only jobs with no worker running, then times 2 workers
    draining them. Returns a dict: seconds from the workers' start and from their first
    fetch, INFO commandstats delta, CPU seconds of the workers, Redis and the gateway, and
    an outcome note."""
    statuses = stack.statuses()
    before = stack.enqueue(PLANNING_ONLY, jobs)
    queued = stack.resp.call("llen", "designs:active")
    stats_before = commandstats(stack.redis_port)
    cpu_before = {"redis": cpu_seconds([stack.redis_server.pid]), "gateway": cpu_seconds([stack.gateway.pid])}
    started = time.monotonic()
    workers = stack.workers(2, **settings)
    first_fetch = stack.wait_finished(before + jobs, 1800, "the backlog", first_fetch=queued)
    ended = time.monotonic()
    cpu = {"workers": cpu_seconds([w.pid for w in workers]),
           "redis": cpu_seconds([stack.redis_server.pid]) - cpu_before["redis"],
           "gateway": cpu_seconds([stack.gateway.pid]) - cpu_before["gateway"]}
    stats_after = commandstats(stack.redis_port)
    stack.stop(workers)
    delta = {k: v - stats_before.get(k, 0) for k, v in stats_after.items() if v != stats_before.get(k, 0)}
    return {"seconds": ended - started, "from_first_fetch": ended - (first_fetch or started), "commands": delta,
            "cpu": cpu, "note": outcome(stack, statuses, jobs)}


def cpu_note(cpu, jobs, seconds):
    per_job = ", ".join(f"{name} {value * 1000 / jobs:.2f} ms" for name, value in cpu.items())
    busy = sum(cpu.values()) / seconds
    return f"CPU per job: {per_job}; together {busy:.2f} of the {os.cpu_count()} cores busy"


def celery_drain(stack, jobs):
    """Celery 5 draining `jobs` no-op tasks on the same Redis (database 1): seconds from the
    workers' start and from their first fetch, CPU seconds of Celery and Redis."""
    broker = f"redis://127.0.0.1:{stack.redis_port}/1"
    env = dict(os.environ, CELERY_BROKER_URL=broker, PYTHONPATH=PEERS)
    subprocess.run([os.path.join(VENV, "python"), os.path.join(PEERS, "celery_noop.py"), "enqueue", broker, str(jobs)],
                   env=env, check=True)
    db1 = Resp(stack.redis_port)
    db1.call("select", 1)
    queued = db1.call("llen", "celery")
    redis_before = cpu_seconds([stack.redis_server.pid])
    started = time.monotonic()
    celery = [stack.start([os.path.join(VENV, "celery"), "-A", "celery_noop", "worker", "--pool", "threads",
                           "--concurrency", "8", "--loglevel", "warning", "-n", f"bench{i}@%h", "--without-gossip",
                           "--without-mingle", "--without-heartbeat"], env) for i in range(2)]
    say(f"waiting for Celery: {queued} tasks queued")
    first_fetch, deadline = None, time.monotonic() + 1800
    while db1.call("llen", "celery") > 0 or db1.call("hlen", "unacked") > 0:
        if first_fetch is None and db1.call("llen", "celery") < queued:
            first_fetch = time.monotonic()
        if time.monotonic() > deadline:
            sys.exit("timed out waiting for Celery")
        time.sleep(0.01)
    ended = time.monotonic()
    cpu = {"celery": cpu_seconds([c.pid for c in celery]), "redis": cpu_seconds([stack.redis_server.pid]) - redis_before}
    stack.stop(celery)
    return {"seconds": ended - started, "from_first_fetch": ended - (first_fetch or started), "cpu": cpu}


def monitored_sample(stack, jobs):
    """Every command the 2 workers send for `jobs` planning-only jobs (redis-cli MONITOR, not
    timed): per job, scripts of ours (keys under `designer:`), of apalis-redis (`designs:`),
    and other commands."""
    before = stack.enqueue(PLANNING_ONLY, jobs)
    log = os.path.join(stack.work, "monitor.txt")
    monitor = subprocess.Popen(["redis-cli", "-p", str(stack.redis_port), "monitor"], stdout=open(log, "w"))
    wait_until(lambda: os.path.getsize(log) > 0, 10, "MONITOR")
    workers = stack.workers(2)
    stack.wait_finished(before + jobs, 900, "the monitored sample")
    stack.stop(workers)
    monitor.terminate()
    monitor.wait()
    ours, theirs, other = {}, {}, {}
    for line in open(log, errors="replace"):
        if " [0 lua]" in line or "] " not in line:
            continue
        words = line.split("] ", 1)[1].split()
        command = words[0].strip('"').lower()
        if command in ("evalsha", "eval") and len(words) > 3:
            tally = ours if words[3].strip('"').startswith("designer:") else theirs
            tally[command] = tally.get(command, 0) + 1
        else:
            other[command] = other.get(command, 0) + 1
    per_job = lambda tally: sum(tally.values()) / jobs  # noqa: E731
    return per_job(ours), per_job(theirs), per_job(other), other


def timed_jobs(stack, workers, body, jobs, limit, what):
    """Enqueues `jobs` while the workers run; (seconds from the first POST to the last job
    finished, CPU seconds of the workers with FreeCAD, Redis and the gateway, outcome note)."""
    statuses = stack.statuses()
    groups = {"workers and FreeCAD": [w.pid for w in workers], "redis": [stack.redis_server.pid],
              "gateway": [stack.gateway.pid]}
    cpu_before = {name: cpu_seconds(pids) for name, pids in groups.items()}
    started = time.monotonic()
    before = stack.enqueue(body, jobs)
    stack.wait_finished(before + jobs, limit, what)
    seconds = time.monotonic() - started
    cpu = {name: cpu_seconds(pids) - cpu_before[name] for name, pids in groups.items()}
    return seconds, cpu, outcome(stack, statuses, jobs)


def one_at_a_time(stack, runs):
    client = Client(stack.http_port)
    latencies = []
    for _ in range(runs):
        started = time.monotonic()
        status, body = client.request("POST", "/api/v1/design", BOX)
        assert status == 202, body
        while True:
            _, state = client.request("GET", f"/api/v1/design/{body['request_id']}")
            if state["status"] in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.001)
        assert state["status"] == "completed", state
        latencies.append((time.monotonic() - started) * 1000)
    return sorted(latencies)


def rss_in_flight(stack, jobs):
    """One worker holding `jobs` model-bound jobs, each with a request open at a vendor that
    answers after 10 minutes; (RSS at rest, RSS with them all in flight) in MiB."""
    slow = FakeVendor(600.0)
    holder = stack.workers(1, WORKER_CONCURRENCY=str(jobs), LLM_MAX_IN_FLIGHT=str(jobs), OPENAI_BASE_URL=slow.url)[0]
    time.sleep(3)
    at_rest = rss_mib(holder.pid)
    stack.enqueue(MODEL_BOUND, jobs)
    wait_until(lambda: slow.open >= jobs, 120, f"{jobs} open model requests")
    time.sleep(2)
    loaded = rss_mib(holder.pid)
    holder.kill()
    holder.wait()
    return at_rest, loaded


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--model-jobs", type=int, default=120)
    parser.add_argument("--box-jobs", type=int, default=600)
    parser.add_argument("--latency-runs", type=int, default=20)
    parser.add_argument("--monitor-jobs", type=int, default=1000)
    parser.add_argument("--in-flight", type=int, default=1000)
    parser.add_argument("--skip-celery", action="store_true")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="designer-throughput-")
    vendor = FakeVendor(1.0)
    stack = Stack(work, vendor.url)
    rows, notes = [], []
    try:
        stack.start_services()
        backlog = drain_backlog(stack, args.jobs)
        backlog_rate = args.jobs / backlog["seconds"]
        rows.append((f"backlog of {args.jobs:,} planning-only jobs, 2 workers, default settings",
                     f"{backlog_rate:,.0f} jobs/s ({backlog['seconds']:.2f} s from the workers' start; "
                     f"{args.jobs / backlog['from_first_fetch']:,.0f} jobs/s from their first fetch){backlog['note']}",
                     ">= 5,000 jobs/s"))
        delta = backlog["commands"]
        scripts = delta.get("evalsha", 0) + delta.get("eval", 0)
        inside = {k: round(v / args.jobs, 2) for k, v in sorted(delta.items(), key=lambda kv: -kv[1]) if v >= args.jobs / 10}
        notes.append(f"backlog, INFO commandstats per job: {scripts / args.jobs:.2f} scripts, "
                     f"{sum(delta.values()) / args.jobs:.1f} commands in all (those run inside scripts included): {inside}")
        notes.append(f"backlog, {cpu_note(backlog['cpu'], args.jobs, backlog['seconds'])}")

        if not args.skip_celery:
            celery = celery_drain(stack, args.jobs)
            celery_rate = args.jobs / celery["seconds"]
            rows.append(("Celery 5, no-op task, acks_late, 2 processes x 8 threads, same Redis, same run",
                         f"{celery_rate:,.0f} tasks/s ({celery['seconds']:.2f} s from the workers' start; "
                         f"{args.jobs / celery['from_first_fetch']:,.0f} tasks/s from their first fetch); we are "
                         f"{backlog_rate / celery_rate:.2f}x ({celery['from_first_fetch'] / backlog['from_first_fetch']:.2f}x from the first fetch)",
                         "we are >= 3x"))
            notes.append(f"Celery, {cpu_note(celery['cpu'], args.jobs, celery['seconds'])}")

        ours, theirs, other, other_kinds = monitored_sample(stack, args.monitor_jobs)
        rows.append(("Redis commands per planning-only job (MONITOR, 2 workers)",
                     f"{ours:.2f} scripts of ours; apalis-redis {theirs:.2f} scripts; {other:.2f} other commands",
                     "<= 4 scripts of ours + apalis-redis fetch/ack"))
        notes.append(f"other commands per job in that sample: { {k: round(v / args.monitor_jobs, 3) for k, v in other_kinds.items()} }")

        workers = stack.workers(2)
        time.sleep(3)
        seconds, _, note = timed_jobs(stack, workers, MODEL_BOUND, args.model_jobs, 900, "the model-bound jobs")
        rows.append((f"{args.model_jobs} jobs whose model calls each take 1 s (planner, generator, validator), 2 workers",
                     f"{seconds:.1f} s{note}", "<= 15 s (ideal ~4 s)"))
        seconds, cpu, note = timed_jobs(stack, workers, BOX, args.box_jobs, 900, "the FreeCAD jobs")
        rows.append((f"{args.box_jobs} box jobs with FreeCAD (warm pool, exports), 2 workers",
                     f"{args.box_jobs / seconds:,.0f} jobs/s ({seconds:.1f} s){note}", ">= 250 jobs/s"))
        notes.append(f"box jobs, {cpu_note(cpu, args.box_jobs, seconds)}")
        ms = one_at_a_time(stack, args.latency_runs)
        rows.append((f"box job POST -> completed, one at a time, median of {len(ms)}",
                     f"{statistics.median(ms):.1f} ms (min {ms[0]:.1f}, max {ms[-1]:.1f})", "<= 10 ms"))
        stack.stop(workers)

        at_rest, loaded = rss_in_flight(stack, args.in_flight)
        rows.append((f"worker RSS with {args.in_flight:,} model-bound jobs in flight (one worker, each with a model request open)",
                     f"{loaded:.1f} MiB (at rest {at_rest:.1f} MiB: {(loaded - at_rest) * 1024 / args.in_flight:.0f} KiB per job)", "small"))

        print(f"## Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} cores\n")
        print("| what | measured | goal |")
        print("|---|---|---|")
        for what, value, goal in rows:
            print(f"| {what} | {value} | {goal} |")
        print()
        for note in notes:
            print(f"- {note}")
    finally:
        stack.stop_all()


if __name__ == "__main__":
    main()
