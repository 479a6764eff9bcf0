"""Unit tests of the load-test machinery: profiles, durations, key handout, outcome judgement,
and the success-criteria verdict that sets Locust's exit code. Run by `make test`:
    .venv-load/bin/python -m unittest discover -s load -p 'test_*.py'
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from locust.env import Environment  # noqa: E402

import locustfile  # noqa: E402
import scenarios  # noqa: E402


class Durations(unittest.TestCase):
    def test_forms_locust_users_write(self):
        self.assertEqual(scenarios.parse_duration("90"), 90)
        self.assertEqual(scenarios.parse_duration("60s"), 60)
        self.assertEqual(scenarios.parse_duration("5m"), 300)
        self.assertEqual(scenarios.parse_duration("1h30m"), 5400)

    def test_nonsense_is_refused_with_the_variable_named(self):
        for text in ["", "soon", "5x", "-3s", "m"]:
            with self.assertRaisesRegex(ValueError, "LOAD_DURATION"):
                scenarios.parse_duration(text)


class Profiles(unittest.TestCase):
    def test_names_are_case_insensitive_and_unknown_ones_list_the_choices(self):
        self.assertIs(scenarios.profile_named("steady_state"), scenarios.SteadyState)
        with self.assertRaisesRegex(ValueError, "STEADY_STATE, COMPLEX_WORKLOAD, SPIKE, SMOKE"):
            scenarios.profile_named("HEAVY")

    def test_load_duration_shortens_but_never_lengthens(self):
        os.environ["LOAD_DURATION"] = "60s"
        try:
            self.assertEqual(scenarios.SteadyState().duration, 60)
            self.assertEqual(scenarios.Smoke().duration, 30)
        finally:
            del os.environ["LOAD_DURATION"]
        self.assertEqual(scenarios.Spike().duration, 180)

    def test_spike_reaches_200_users_within_a_minute_and_stops_after_three(self):
        spike = scenarios.Spike()
        users, rate = spike.tick()
        self.assertEqual(users, 200)
        self.assertLessEqual(users / rate, 60)
        spike.start_time -= 181
        self.assertIsNone(spike.tick())


class Keys(unittest.TestCase):
    def test_the_last_key_is_the_probes_alone(self):
        ring = locustfile.KeyRing(" a, b ,c ")
        self.assertEqual(ring.probe_key, "c")
        self.assertEqual([ring.take() for _ in range(4)], ["a", "b", "a", "b"])

    def test_one_key_is_shared_and_the_probe_gets_none(self):
        ring = locustfile.KeyRing("only")
        self.assertIsNone(ring.probe_key)
        self.assertEqual(ring.take(), "only")

    def test_no_keys_means_no_header(self):
        ring = locustfile.KeyRing("")
        self.assertIsNone(ring.take())
        self.assertEqual(locustfile.auth_headers(None), {})


class Outcomes(unittest.TestCase):
    def test_a_catalogue_part_must_complete(self):
        self.assertIsNone(locustfile.judge_outcome({"status": "completed"}, refused=False))
        self.assertIn("failed", locustfile.judge_outcome({"status": "failed", "error_code": "x"}, refused=False))
        self.assertIn("no final status", locustfile.judge_outcome(None, refused=False))

    def test_a_refused_prompt_must_fail_with_unsupported_prompt(self):
        refused = {"status": "failed", "error_code": "unsupported_prompt"}
        self.assertIsNone(locustfile.judge_outcome(refused, refused=True))
        self.assertIsNotNone(locustfile.judge_outcome({"status": "completed"}, refused=True))
        other = {"status": "failed", "error_code": "freecad_failed"}
        self.assertIsNotNone(locustfile.judge_outcome(other, refused=True))


class EventStream(unittest.TestCase):
    def test_the_completed_event_and_its_seq_are_found_among_the_others(self):
        lines = [
            "id: 1", "event: status", 'data: {"data": {"status": "planning"}}', "",
            ": keep-alive", "",
            "id: 9", "event: completed", 'data: {"data": {"status": "completed"}}', "",
            "id: 10", "event: status", 'data: {"data": {"status": "refining"}}', "",
        ]
        self.assertEqual(locustfile.read_until_completed(lines), ({"status": "completed"}, 9))

    def test_a_stream_that_ends_before_completed_gives_nothing(self):
        lines = ["id: 1", "event: status", 'data: {"data": {"status": "planning"}}', ""]
        self.assertEqual(locustfile.read_until_completed(lines), (None, None))


class Criteria(unittest.TestCase):
    def setUp(self):
        self.env = Environment(user_classes=[locustfile.DesignUser])
        self.env.create_local_runner()
        locustfile.DESIGN_MEASURERS.clear()

    def log(self, method, name, ms, failed=False, times=1):
        for _ in range(times):
            self.env.stats.log_request(method, name, ms, 0)
            if failed:
                self.env.stats.log_error(method, name, "boom")

    def verdict(self):
        lines, ok = locustfile.criteria_report(self.env)
        return "\n".join(lines), ok

    def test_fast_and_clean_passes(self):
        locustfile.DESIGN_MEASURERS.add("DesignerJourneyUser")
        self.log("GET", "/health", 20, times=200)
        self.log(locustfile.DESIGN, "POST to completed", 400, times=50)
        text, ok = self.verdict()
        self.assertTrue(ok, text)

    def test_one_error_in_a_hundred_fails(self):
        self.log("GET", "/health", 20, times=99)
        self.log("POST", "/api/v1/design", 20, failed=True)
        text, ok = self.verdict()
        self.assertFalse(ok, text)
        self.assertIn("errors 1.00%", text)

    def test_a_slow_p95_of_design_latency_fails_even_with_fast_requests(self):
        locustfile.DESIGN_MEASURERS.add("WebSocketUser")
        self.log("GET", "/health", 20, times=200)
        self.log(locustfile.DESIGN, "POST to completed", 400, times=90)
        self.log(locustfile.DESIGN, "POST to completed", 12_000, times=10)
        text, ok = self.verdict()
        self.assertFalse(ok, text)
        self.assertRegex(text, r"FAIL design latency: .*P95 1[12]000 ms")

    def test_the_probe_is_outside_the_error_budget(self):
        self.log("GET", "/health", 20, times=100)
        self.log("GET", locustfile.PROBE + "/api/v1/design/[unknown]", 5, failed=True, times=50)
        text, ok = self.verdict()
        self.assertTrue(ok, text)

    def test_nothing_measured_fails(self):
        _, ok = self.verdict()
        self.assertFalse(ok)

    def test_design_users_that_measured_nothing_fail(self):
        locustfile.DESIGN_MEASURERS.add("DesignerJourneyUser")
        self.log("GET", "/health", 20, times=100)
        text, ok = self.verdict()
        self.assertFalse(ok, text)
        self.assertIn("FAIL design latency: nothing was measured", text)


if __name__ == "__main__":
    unittest.main()
