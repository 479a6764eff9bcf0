"""Locust load test of the design service.

    locust -f load/locustfile.py --headless -u 50 -r 10 -t 30s --host http://127.0.0.1:8080
    LOAD_PROFILE=STEADY_STATE locust -f load/locustfile.py --headless --host ...   (scenarios.py)
    make load-test                                        (its own stack, reports in outputs/load/)

Users:
- DesignUser: the predecessor's mix: create a box (weight 3), /health (1), a stored job's status (1).
- DesignerJourneyUser: create -> follow the SSE stream until `completed` -> export -> download
  the STEP -> now and then refine, or cancel a fresh design. Records design latency (POST to
  `completed`) as its own Locust entries, of type DESIGN, beside the HTTP ones.
- WebSocketUser: `stream_design` on `/ws` until `stream_done` (a design latency entry too).
- RateLimitProbe: one user that drives its own key past the rate limit and checks the 429,
  `Retry-After` and the slot freeing after it; kept out of the error budget.

A share of the prompts is outside the offline planner's catalogue: those designs must end
`failed` with `unsupported_prompt`, a correct answer, and are counted as successes.

Environment: `LOAD_API_KEYS` (comma-separated API keys; each simulated user takes one, and
with two or more the last one is kept for the probe alone), `LOAD_PROFILE` and `LOAD_DURATION`
(scenarios.py). Without `LOAD_PROFILE`, `-u`, `-r` and `-t` work as usual. The success
criteria (scenarios.py) are checked when Locust quits and decide its exit code.
"""

import collections
import itertools
import json
import logging
import os
import random
import time
import uuid

from locust import HttpUser, User, between, events, task
from locust.stats import StatsEntry

import scenarios
import wsclient

API = "/api/v1/design"
DESIGN = "DESIGN"
WEBSOCKET = "WS"
PROBE = "[probe] "
PROBE_TYPE = "PROBE"
TERMINAL = {"completed", "failed", "cancelled"}
STATUSES = TERMINAL | {"pending", "planning", "generating", "executing", "validating", "refining"}
# How long one design may take before the journey gives up on it (counted as a failure).
DESIGN_TIMEOUT_S = 120.0
# The probe crosses limits up to this many requests per window, no higher.
PROBE_MAX_LIMIT = 2000
REFUSED_SHARE = 0.1
REFINE_SHARE = 0.1
CANCEL_SHARE = 0.1

SIMPLE_BOX = "Create a simple box 100x50x30mm"
CATALOGUE_PROMPTS = [
    SIMPLE_BOX,
    "a block 100 x 50 x 30 mm",
    "a 20 mm cube",
    "a plate 120 x 80 mm, 6 mm thick",
    "a 100 x 50 x 5 mm plate with 4 Ø6 holes",
    "a block 60x40x30 mm with a 10 mm hole through the middle",
    "a flange, outer diameter 100, inner diameter 40, thickness 10, with 4 bolt holes Ø8",
    "an L-bracket 60x40x5 mm with two 6 mm holes",
    "a tube 30 mm OD, 24 mm ID, 100 mm long",
    "a cylinder 40 mm in diameter and 25 mm tall",
]
# Several features each: holes on patterns, bolt circles, fillets and chamfers on every edge.
MULTI_FEATURE_PROMPTS = [
    "a plate 100x60x5 mm with four 6 mm holes at the corners 8 mm from the edges",
    "a flange 120 mm OD, 60 mm bore, 12 mm thick with 6 holes of 10 mm on a 90 mm pitch circle",
    "a flange 150 OD, 80 ID, 15 thick with 8 M12 holes on a PCD of 120",
    "an angle bracket 50 x 50 x 3, 40 wide, with two M4 holes per leg",
    "a bar 200 x 30 x 10 mm with 3 holes in a row 50 mm apart, 8 mm diameter",
    "a box 100x50x30 mm with 3 mm fillets",
    "a block 60 × 40 × 20 mm with 2 mm chamfers on all edges",
    "a disc 50 mm in diameter, 5 mm thick with a 20 mm hole through the middle",
]
# Outside the catalogue: the service must refuse these with `unsupported_prompt`.
REFUSED_PROMPTS = [
    "a car",
    "a worm gear with 20 teeth",
    "design me a nice teapot",
    "a box 100x50x30 with a 10 mm keyway",
]
# Feedback the offline planner can apply: the whole part described again.
REFINE_FEEDBACK = ["a box 120x50x30 mm", "a 25 mm cube", "a plate 120 x 80 mm, 8 mm thick"]

log = logging.getLogger("load")
PROFILE = os.environ.get("LOAD_PROFILE", "").strip()
COMPLEX = PROFILE.upper() == "COMPLEX_WORKLOAD"


class KeyRing:
    """Hands each simulated user one of `LOAD_API_KEYS`, round robin; with two or more keys the
    last is the probe's alone, so its trips past the limit never throttle the measured load."""

    def __init__(self, text):
        keys = [k.strip() for k in text.split(",") if k.strip()]
        self.probe_key = keys.pop() if len(keys) >= 2 else None
        self._cycle = itertools.cycle(keys) if keys else None

    def take(self):
        return next(self._cycle) if self._cycle else None


KEYS = KeyRing(os.environ.get("LOAD_API_KEYS", ""))
# The user classes that ran and measure design latency: without them there is none to judge.
DESIGN_MEASURERS = set()


def auth_headers(key):
    return {"X-API-Key": key} if key else {}


def describe(response):
    """A failure message with the status and the error body's code and message, if any."""
    try:
        error = response.json()["error"]
        return f"HTTP {response.status_code} {error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}: {response.text[:200]!r}"


def record(request_type, name, started, failure=None, length=0):
    """Reports a measurement that is not one HTTP request (design latency, WebSocket steps)."""
    events.request.fire(
        request_type=request_type,
        name=name,
        response_time=(time.perf_counter() - started) * 1000,
        response_length=length,
        exception=None if failure is None else AssertionError(failure),
        context={},
    )


def judge_outcome(final, refused):
    """None when the job ended as it should, else what went wrong. `final` is the data of the
    `completed` event (or the status record): a catalogue part must complete, a refused prompt
    must fail with `unsupported_prompt`."""
    if final is None:
        return f"no final status within {DESIGN_TIMEOUT_S:.0f} s"
    status = final.get("status")
    if refused:
        if status == "failed" and final.get("error_code") == "unsupported_prompt":
            return None
        return f"a prompt outside the catalogue ended {status} ({final.get('error_code')}), not refused"
    if status == "completed":
        return None
    return f"ended {status}: {final.get('error_code')} {final.get('error_message')}"


class DesignUser(HttpUser):
    """The predecessor's plan: create, health, status of a stored job."""

    weight = 3
    wait_time = between(1, 5)

    def on_start(self):
        self.client.headers.update(auth_headers(KEYS.take()))
        self.request_ids = collections.deque(maxlen=100)

    @task(3)
    def create_simple_design(self):
        body = {"prompt": SIMPLE_BOX, "max_iterations": 2}
        with self.client.post(API, json=body, catch_response=True) as response:
            if response.status_code != 202:
                response.failure(describe(response))
                return
            self.request_ids.append(response.json()["request_id"])

    @task(1)
    def check_health(self):
        with self.client.get("/health", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(describe(response))

    @task(1)
    def get_design_status(self):
        if not self.request_ids:
            return
        request_id = random.choice(self.request_ids)
        with self.client.get(f"{API}/{request_id}", name=f"{API}/[id]", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(describe(response))
            elif response.json().get("status") not in STATUSES:
                response.failure(f"unknown status {response.json().get('status')!r}")


class DesignerJourneyUser(HttpUser):
    """One API consumer's whole design: create, follow, export, download, refine or cancel."""

    weight = 2
    wait_time = between(1, 5)

    def on_start(self):
        self.client.headers.update(auth_headers(KEYS.take()))
        DESIGN_MEASURERS.add(type(self).__name__)

    @task
    def design_journey(self):
        if random.random() < CANCEL_SHARE:
            self.cancel_fresh_design()
            return
        refused = random.random() < REFUSED_SHARE
        if refused:
            prompt = random.choice(REFUSED_PROMPTS)
        else:
            prompt = random.choice(MULTI_FEATURE_PROMPTS if COMPLEX else CATALOGUE_PROMPTS)
        started = time.perf_counter()
        request_id = self.create(prompt)
        if request_id is None:
            return
        final, seq = self.follow(request_id)
        problem = judge_outcome(final, refused)
        record(DESIGN, "refused prompt: POST to failed" if refused else "POST to completed", started, problem)
        if refused or problem:
            return
        self.export_and_download(request_id)
        if random.random() < REFINE_SHARE and seq is not None:
            self.refine(request_id, seq)

    def create(self, prompt):
        body = {"prompt": prompt, "max_iterations": 2}
        with self.client.post(API, json=body, catch_response=True) as response:
            if response.status_code != 202:
                response.failure(describe(response))
                return None
            return response.json()["request_id"]

    def follow(self, request_id, after_seq=0):
        """The `completed` event's data after event `after_seq`, read from the SSE stream (and
        the seq it came with, or None when polled); polls if the stream breaks."""
        deadline = time.monotonic() + DESIGN_TIMEOUT_S
        headers = {"Accept": "text/event-stream"}
        if after_seq:
            # The stream replays the job from its first event: a refined job's earlier run
            # ended with a `completed` event of its own.
            headers["Last-Event-ID"] = str(after_seq)
        with self.client.get(
            f"{API}/{request_id}/events",
            name=f"{API}/[id]/events",
            headers=headers,
            stream=True,
            timeout=DESIGN_TIMEOUT_S,
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(describe(response))
                return None, None
            final = None
            try:
                final, seq = read_until_completed(response.iter_lines(decode_unicode=True))
            except Exception as error:  # a broken stream: say so, then fall back to polling
                response.failure(f"the event stream broke: {error!r}")
            else:
                if final is None:
                    response.failure("the event stream ended before the completed event")
            finally:
                response.close()
            if final is not None:
                return final, seq
        return self.poll(request_id, deadline), None

    def poll(self, request_id, deadline):
        while time.monotonic() < deadline:
            with self.client.get(f"{API}/{request_id}", name=f"{API}/[id]", catch_response=True) as response:
                if response.status_code != 200:
                    response.failure(describe(response))
                    return None
                state = response.json()
            if state["status"] in TERMINAL:
                return state
            time.sleep(0.5)
        return None

    def export_and_download(self, request_id):
        with self.client.get(
            f"{API}/{request_id}/export?formats=step,stl", name=f"{API}/[id]/export", catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(describe(response))
                return
            failed = [e for e in response.json() if not e.get("success")]
            if failed:
                response.failure(f"export failed: {failed}")
                return
        with self.client.get(
            f"{API}/{request_id}/download/step", name=f"{API}/[id]/download/step", catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(describe(response))
            elif not response.content.startswith(b"ISO-10303-21;"):
                response.failure(f"not a STEP file: {response.content[:40]!r}")

    def refine(self, request_id, completed_seq):
        body = {"feedback": random.choice(REFINE_FEEDBACK)}
        started = time.perf_counter()
        with self.client.post(
            f"{API}/{request_id}/refine", json=body, name=f"{API}/[id]/refine", catch_response=True
        ) as response:
            if response.status_code != 202:
                response.failure(describe(response))
                return
        final, _ = self.follow(request_id, after_seq=completed_seq)
        record(DESIGN, "refine: POST to completed", started, judge_outcome(final, refused=False))

    def cancel_fresh_design(self):
        """Cancels a design at once: 204, then the job must end `cancelled`; or 409 when the
        worker was quicker and the job had ended already, which is also a correct answer."""
        request_id = self.create(random.choice(CATALOGUE_PROMPTS))
        if request_id is None:
            return
        started = time.perf_counter()
        with self.client.delete(f"{API}/{request_id}", name=f"{API}/[id] (cancel)", catch_response=True) as response:
            if response.status_code == 409:
                response.success()
                return
            if response.status_code != 204:
                response.failure(describe(response))
                return
        final = self.poll(request_id, time.monotonic() + DESIGN_TIMEOUT_S)
        ended = final is not None and final["status"] == "cancelled"
        record(DESIGN, "cancel: DELETE to cancelled", started, None if ended else f"after a 204 the job is {final}")


def read_until_completed(lines):
    """Reads `text/event-stream` lines until the `completed` event: its `data` and its seq
    (the `id:` field), or (None, None) when the stream ends first."""
    event_type, seq = None, None
    for line in lines:
        if line.startswith("id:"):
            seq = int(line[len("id:") :])
        elif line.startswith("event:"):
            event_type = line[len("event:") :].strip()
        elif line.startswith("data:") and event_type == "completed":
            return json.loads(line[len("data:") :])["data"], seq
        elif not line:
            event_type, seq = None, None
    return None, None


class WebSocketUser(User):
    """`stream_design` on `/ws`: ack, stream_chunk..., stream_done. Each step is reported to
    Locust (type WS); the whole design is a DESIGN entry."""

    weight = 1
    wait_time = between(1, 5)

    def on_start(self):
        self.headers = auth_headers(KEYS.take())
        DESIGN_MEASURERS.add(type(self).__name__)

    @task
    def stream_design(self):
        refused = random.random() < REFUSED_SHARE
        prompt = random.choice(REFUSED_PROMPTS if refused else CATALOGUE_PROMPTS)
        started = time.perf_counter()
        try:
            socket = wsclient.WebSocket(wsclient.websocket_url(self.host, "/ws"), self.headers, DESIGN_TIMEOUT_S)
        except (OSError, wsclient.WebSocketError) as error:
            record(WEBSOCKET, "/ws connect", started, repr(error))
            return
        record(WEBSOCKET, "/ws connect", started)
        try:
            self.run_stream(socket, prompt, refused, started)
        finally:
            socket.close()

    def run_stream(self, socket, prompt, refused, started):
        sent = time.perf_counter()
        try:
            socket.send_json({"type": "stream_design", "prompt": prompt, "max_iterations": 2})
            ack = socket.recv_json()
            if ack.get("type") != "ack":
                record(WEBSOCKET, "/ws stream_design ack", sent, f"expected an ack, got {ack}")
                return
            record(WEBSOCKET, "/ws stream_design ack", sent)
            chunks = 0
            while True:
                message = socket.recv_json()
                if message.get("type") == "stream_chunk":
                    chunks += 1
                elif message.get("type") == "stream_done":
                    break
                else:
                    record(WEBSOCKET, "/ws stream_done", sent, f"unexpected message {message}")
                    return
        except (OSError, ValueError, wsclient.WebSocketError) as error:
            record(WEBSOCKET, "/ws stream_done", sent, repr(error))
            return
        record(WEBSOCKET, "/ws stream_done", sent, None if chunks else "stream_done without any stream_chunk")
        status = message.get("status")
        if refused:
            problem = None if status == "failed" else f"a prompt outside the catalogue ended {status}"
        else:
            problem = None if status == "completed" else f"ended {status}"
        name = "ws refused prompt: send to failed" if refused else "ws stream_design: send to completed"
        record(DESIGN, name, started, problem)


class RateLimitProbe(HttpUser):
    """Drives its own key past the rate limit: the answer past the limit must be 429 with
    `Retry-After` and the error body, and after `Retry-After` seconds a slot must be free again.
    Its entries are named `[probe] ...` and kept out of the error budget. It idles when it has
    no key of its own (it would throttle the other users) or the gateway's limiter is off."""

    fixed_count = 1
    wait_time = between(5, 10)

    def on_start(self):
        self.client.headers.update(auth_headers(KEYS.probe_key))
        self.idle = False
        if not KEYS.probe_key:
            self.go_idle("no API key of its own (LOAD_API_KEYS needs two or more)")

    def go_idle(self, reason):
        log.info("RateLimitProbe idles: %s", reason)
        self.idle = True

    def ask(self, path):
        """One limited request; 404 (unknown job) and 429 are both answers the probe expects."""
        with self.client.get(path, name=PROBE + f"{API}/[unknown]", catch_response=True) as response:
            if response.status_code in (404, 429):
                response.success()
            else:
                response.failure(describe(response))
            return response

    @task
    def cross_the_limit(self):
        if self.idle:
            return
        path = f"{API}/{uuid.uuid4()}"  # an unknown job: cheap, limited, answers 404
        policy = self.ask(path).headers.get("RateLimit-Policy")
        if policy is None:
            self.go_idle("the gateway sends no RateLimit-Policy: its limiter is off")
            return
        limit = int(policy.split(";")[0])
        if limit > PROBE_MAX_LIMIT:
            self.go_idle(f"a limit of {limit} is too high to cross without loading the gateway")
            return
        started = time.perf_counter()
        for _ in range(limit + 1):
            response = self.ask(path)
            if response.status_code == 429:
                break
        else:
            record(PROBE_TYPE, PROBE + "429 past the limit", started, f"{limit + 2} requests and no 429 (limit {limit})")
            return
        retry_after = response.headers.get("Retry-After", "")
        problem = None
        if not retry_after.isdigit():
            problem = f"429 without a whole-seconds Retry-After ({retry_after!r})"
        elif response.json().get("error", {}).get("code") != "rate_limited":
            problem = f"429 without the rate_limited error body: {response.text[:200]!r}"
        record(PROBE_TYPE, PROBE + "429 past the limit", started, problem)
        if problem:
            return
        time.sleep(int(retry_after))
        started = time.perf_counter()
        response = self.ask(path)
        freed = None if response.status_code == 404 else f"after Retry-After: {describe(response)}"
        record(PROBE_TYPE, PROBE + "admitted after Retry-After", started, freed)


if PROFILE:
    scenarios.ComplexWorkload.journey_classes = [DesignerJourneyUser, RateLimitProbe]
    # The one shape class Locust finds in this module: it overrides -u, -r and -t.
    SelectedProfile = scenarios.profile_named(PROFILE)


def merged(environment, name, entries):
    total = StatsEntry(environment.stats, name, "", use_response_times_cache=False)
    for entry in entries:
        total.extend(entry)
    return total


def criteria_report(environment):
    """The success criteria, checked over what this run measured: lines of text, and whether
    all were met."""
    entries = [e for e in environment.stats.entries.values() if not e.name.startswith(PROBE)]
    groups = {
        "requests (HTTP and WebSocket)": [e for e in entries if e.method != DESIGN],
        "design latency": [e for e in entries if e.method == DESIGN],
    }
    lines, ok = [], True
    for label, group in groups.items():
        total = merged(environment, label, group)
        if total.num_requests == 0 and label == "design latency" and not DESIGN_MEASURERS:
            lines.append(f"SKIP {label}: no DesignerJourneyUser or WebSocketUser ran")
            continue
        if total.num_requests == 0:
            lines.append(f"FAIL {label}: nothing was measured")
            ok = False
            continue
        p95 = total.get_response_time_percentile(0.95)
        rate = total.fail_ratio
        met = p95 < scenarios.P95_LIMIT_MS and rate < scenarios.ERROR_RATE_LIMIT
        ok &= met
        lines.append(
            f"{'PASS' if met else 'FAIL'} {label}: {total.num_requests} measured, "
            f"{total.total_rps:.1f}/s, P50 {total.get_response_time_percentile(0.5)} ms, "
            f"P95 {p95} ms (limit {scenarios.P95_LIMIT_MS}), P99 {total.get_response_time_percentile(0.99)} ms, "
            f"errors {rate:.2%} (limit {scenarios.ERROR_RATE_LIMIT:.0%})"
        )
    crashes = sum(environment.runner.exceptions[k]["count"] for k in environment.runner.exceptions)
    if crashes:
        lines.append(f"FAIL {crashes} unhandled exceptions in simulated users (see the log)")
        ok = False
    return lines, ok


@events.quitting.add_listener
def enforce_success_criteria(environment, **_kwargs):
    lines, ok = criteria_report(environment)
    for line in lines:
        log.info("success criteria: %s", line)
    out = os.environ.get("LOAD_CRITERIA_FILE")
    if out:
        with open(out, "w") as f:
            f.write("\n".join(lines) + "\n")
    environment.process_exit_code = 0 if ok else 1
