"""The named load profiles and the success criteria of the predecessor's fix plan.

Profiles (`LOAD_PROFILE=<name>`; `LOAD_DURATION` such as `60s`, `5m`, `1h30m` shortens any):
- STEADY_STATE: 100 users, spawned 10/s, held for 5 minutes.
- COMPLEX_WORKLOAD: 50 users, spawned 5/s, whole design journeys with multi-feature prompts.
- SPIKE: 0 -> 200 users within 60 s, then held for 2 minutes.
- SMOKE: 20 users for 30 s (the CI run of `make test`).

Success criteria, for HTTP/WebSocket requests and for design latency (POST to `completed`)
separately: P95 < 10 s and error rate < 1 %. `locustfile.py` enforces them through Locust's
exit code.
"""

import os
import re

from locust import LoadTestShape

P95_LIMIT_MS = 10_000
ERROR_RATE_LIMIT = 0.01


def parse_duration(text):
    """`90`, `90s`, `5m`, `1h30m` -> seconds; a clear error for anything else."""
    text = text.strip().lower()
    if text.isdigit():
        return int(text)
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
    if not text or not parts:
        raise ValueError(f"LOAD_DURATION={text!r}: expected seconds or a form like 60s, 5m, 1h30m")
    hours, minutes, seconds = (int(p or 0) for p in parts.groups())
    return hours * 3600 + minutes * 60 + seconds


class _Profile(LoadTestShape):
    """A fixed plan: ramp to `users` at `spawn_rate`, run for `duration` seconds in all."""

    abstract = True
    users = 0
    spawn_rate = 1.0
    duration = 0
    # None: every user class of the locustfile, by weight.
    user_classes = None

    def __init__(self):
        super().__init__()
        shortened = os.environ.get("LOAD_DURATION")
        if shortened:
            self.duration = min(self.duration, parse_duration(shortened))

    def tick(self):
        if self.get_run_time() >= self.duration:
            return None
        if self.user_classes is None:
            return self.users, self.spawn_rate
        return self.users, self.spawn_rate, self.user_classes


class SteadyState(_Profile):
    users, spawn_rate, duration = 100, 10, 5 * 60


class ComplexWorkload(_Profile):
    users, spawn_rate, duration = 50, 5, 5 * 60
    # Set by the locustfile: journeys (with multi-feature prompts) and the rate-limit probe.
    journey_classes = []

    def __init__(self):
        super().__init__()
        self.user_classes = list(self.journey_classes)


class Spike(_Profile):
    # 200 users in 60 s, then 2 minutes at 200.
    users, spawn_rate, duration = 200, 200 / 60, 60 + 2 * 60


class Smoke(_Profile):
    users, spawn_rate, duration = 20, 10, 30


PROFILES = {
    "STEADY_STATE": SteadyState,
    "COMPLEX_WORKLOAD": ComplexWorkload,
    "SPIKE": Spike,
    "SMOKE": Smoke,
}


def profile_named(name):
    """The shape class for `LOAD_PROFILE`, or a clear error naming the choices."""
    try:
        return PROFILES[name.strip().upper()]
    except KeyError:
        raise ValueError(f"LOAD_PROFILE={name!r} is not one of {', '.join(PROFILES)}") from None
