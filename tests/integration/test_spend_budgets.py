"""Dollar budgets, periods and rates, and a user's own view, with real local
users (issue 24).

Answers are priced from the policy file's [prices] by the models the upstream
names in them (the most expensive; an unpriced one at the table's highest
prices); a spent budget answers 429 spend_budget_exceeded with Retry-After
until its period resets; tokens_per_minute answers 429
tokens_per_minute_exceeded; GET /usage tells each caller their own figures;
the state file keeps the day, week and month across restarts, and a
version 2 file still loads."""

import datetime
import json
import os
import subprocess
import time

from harness import main
from local_users import header, request_as, uid_of
from test_per_user import PerUserTestCase, sighup_and_wait, wait_for


def answer_naming(model):
    """An answer as the Responses API streams it, naming `model`, with 60 + 50
    tokens of usage (10 of the input cached)."""
    completed = {"type": "response.completed", "response": {
        "id": "resp_1", "model": model,
        "usage": {"input_tokens": 60, "input_tokens_details": {"cached_tokens": 10},
                  "output_tokens": 50, "total_tokens": 110}}}
    created = {"type": "response.created", "response": {"id": "resp_1", "model": model,
                                                         "usage": None}}
    events = [b"event: response.created\ndata: " + json.dumps(created).encode() + b"\n\n",
              b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
              b'"delta":"hi"}\n\n',
              b"event: response.completed\ndata: " + json.dumps(completed).encode() + b"\n\n"]

    def handler(req, conn):
        conn.sse(events, headers=(("Content-Type", "text/event-stream"),))
    return handler


# USD per million tokens. 50 uncached in x 1000 + 10 cached x 100 + 50 out x 1000
# = 0.05 + 0.001 + 0.05 = $0.101 for one answer from gpt-5.
PRICES = """
[prices."gpt-5*"]
input = 1000
cached_input = 100
output = 1000
[prices."gpt-5-nano"]
input = 1
output = 1
"""


def seconds_to_utc_midnight():
    now = time.time()
    return 86400 - int(now) % 86400


class SpendBudgets(PerUserTestCase):
    def policy(self, text):
        path = os.path.join(self.tmp, "policy.toml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def usage_of(self, name):
        got = request_as(name, self.proxy.port, method="GET", path="/usage", body=b"",
                         headers=())
        self.assertEqual(got.get("status"), 200, got)
        return json.loads(got["body"])

    def test_dollar_budget_reached_is_429_with_retry_after_and_others_are_served(self):
        pol = self.policy('timezone = "UTC"\n' + PRICES)
        self.start(handler=answer_naming("gpt-5-2025-08-07"),
                   extra_args=["--policy", pol, "--dollars-per-day-per-user", "0.1"])
        first = request_as("cpxtest1", self.proxy.port)
        self.assertEqual(first.get("status"), 200, first)
        # What was left when the answer began.
        self.assertEqual(header(first, "x-codex-proxy-budget-remaining-dollars-day"), "0.1")
        self.assertTrue(self.audit_for("cpxtest1", status=200, tokens_in=60))
        over = request_as("cpxtest1", self.proxy.port)
        self.assertEqual(over.get("status"), 429, over)
        err = json.loads(over["body"])["error"]
        self.assertEqual(err["code"], "spend_budget_exceeded")
        self.assertEqual(err["type"], "insufficient_quota")
        retry = int(header(over, "retry-after"))
        self.assertLessEqual(abs(retry - seconds_to_utc_midnight()), 5, retry)
        self.assertEqual(len(self.upstream.requests), 1)
        self.assertEqual(request_as("cpxtest2", self.proxy.port).get("status"), 200)
        mine = self.usage_of("cpxtest1")
        self.assertEqual(mine["periods"]["day"]["dollars"], 0.101)
        self.assertEqual(mine["periods"]["day"]["dollars_remaining"], 0)
        self.assertEqual(mine["periods"]["month"]["dollars"], 0.101)

    def test_an_unpriced_model_is_charged_at_the_highest_prices(self):
        """The parent prices by the model the upstream names: a model the table
        does not price costs what the dearest entry would, so a dollar budget
        cannot be escaped through it; a priced cheap one costs little."""
        pol = self.policy(PRICES)
        args = ["--policy", pol, "--dollars-per-day-per-user", "0.1"]
        self.start(handler=answer_naming("gpt-5-nano"), extra_args=args)
        for _ in range(3):
            self.assertEqual(request_as("cpxtest1", self.proxy.port).get("status"), 200)
        self.assertAlmostEqual(self.usage_of("cpxtest1")["periods"]["day"]["dollars"],
                               3 * 0.00011, places=9)
        self.proxy.stop()
        self.proxy.cleanup()
        self.proxy = None
        self.upstream.handler = answer_naming("mystery-model")
        self.start(extra_args=args)
        self.assertEqual(request_as("cpxtest2", self.proxy.port).get("status"), 200)
        over = request_as("cpxtest2", self.proxy.port)
        self.assertEqual(over.get("status"), 429, over)
        self.assertEqual(json.loads(over["body"])["error"]["code"], "spend_budget_exceeded")

    def test_a_requested_model_without_a_price_is_refused_under_a_dollar_budget(self):
        """The parent reads the requested model: under a dollar budget one that no
        [prices] entry matches is refused before the upstream gets the whole
        request (nothing billed); a priced one goes; without a dollar budget
        any model goes."""
        pol = self.policy(PRICES)
        self.start(handler=answer_naming("gpt-5"),
                   extra_args=["--policy", pol, "--dollars-per-day-per-user", "5"])
        refused = request_as("cpxtest1", self.proxy.port, body=b'{"model":"o3","input":"hi"}')
        self.assertEqual(refused.get("status"), 403, refused)
        err = json.loads(refused["body"])["error"]
        self.assertEqual(err["code"], "model_not_priced")
        self.assertIn('"o3"', err["message"])
        self.assertEqual(len(self.upstream.requests), 0)
        ok = request_as("cpxtest1", self.proxy.port, body=b'{"model":"gpt-5-mini","input":"hi"}')
        self.assertEqual(ok.get("status"), 200, ok)
        self.proxy.stop()
        self.proxy.cleanup()
        self.proxy = None
        self.start(extra_args=["--policy", pol, "--tokens-per-day-per-user", "100000"])
        free = request_as("cpxtest1", self.proxy.port, body=b'{"model":"o3","input":"hi"}')
        self.assertEqual(free.get("status"), 200, free)

    def test_tokens_per_minute(self):
        self.start(handler=answer_naming("gpt-5"),
                   extra_args=["--tokens-per-minute-per-user", "100"])
        first = request_as("cpxtest1", self.proxy.port)
        self.assertEqual(first.get("status"), 200, first)
        self.assertEqual(header(first, "x-codex-proxy-budget-remaining-tokens-minute"), "100")
        self.assertTrue(self.audit_for("cpxtest1", status=200, tokens_in=60))
        over = request_as("cpxtest1", self.proxy.port)
        self.assertEqual(over.get("status"), 429, over)
        self.assertEqual(json.loads(over["body"])["error"]["code"], "tokens_per_minute_exceeded")
        # 110 charged against 100: 11 owed at 100 a minute, about 7 s.
        self.assertIn(int(header(over, "retry-after")), range(1, 9))
        self.assertEqual(request_as("cpxtest2", self.proxy.port).get("status"), 200)

    def test_get_usage_shows_each_user_only_their_own(self):
        self.start(handler=answer_naming("gpt-5"),
                   extra_args=["--tokens-per-day-per-user", "1000", "--budget-timezone", "UTC"])
        self.assertEqual(request_as("cpxtest1", self.proxy.port).get("status"), 200)
        self.assertTrue(self.audit_for("cpxtest1", status=200, tokens_in=60))
        one = self.usage_of("cpxtest1")
        two = self.usage_of("cpxtest2")
        self.assertEqual((one["uid"], one["user"]), (uid_of("cpxtest1"), "cpxtest1"))
        self.assertEqual((two["uid"], two["user"]), (uid_of("cpxtest2"), "cpxtest2"))
        self.assertEqual(one["timezone"], "UTC")
        day = one["periods"]["day"]
        self.assertEqual(day["period"], datetime.datetime.utcnow().strftime("%Y-%m-%d"))
        self.assertEqual((day["requests"], day["tokens"], day["token_limit"],
                          day["tokens_remaining"]), (1, 110, 1000, 890))
        self.assertEqual(one["periods"]["week"]["tokens"], 110)
        self.assertEqual(two["periods"]["day"]["tokens"], 0)
        self.assertEqual(two["periods"]["day"]["tokens_remaining"], 1000)
        self.assertNotIn("cpxtest1", json.dumps(two))
        # Browser rules as for every request.
        browser = request_as("cpxtest1", self.proxy.port, method="GET", path="/usage", body=b"",
                             headers=(("Origin", "http://evil.example"),))
        self.assertEqual(browser.get("status"), 403, browser)
        self.assertTrue(self.audit_for("cpxtest2", path="/usage", status=200))

    def test_every_period_survives_a_restart_and_a_v2_file_loads(self):
        state = os.path.join(self.tmp, "usage.state")
        today = datetime.datetime.utcnow().strftime("%Y-%m-%d")
        # Today's version 2 file: cpxtest2 has spent 100 tokens today.
        with open(state, "w") as f:
            f.write("codex-responses-api-proxy usage 2\nday %s\n"
                    "uid %d requests 1 refused 0 tokens_in 60 tokens_out 40 tokens_estimated 0\n"
                    % (today, uid_of("cpxtest2")))
        os.chmod(state, 0o600)
        pol = self.policy('timezone = "UTC"\n' + PRICES +
                          "[defaults]\ntokens_per_week = 250\ndollars_per_month = 10\n")
        args = ["--policy", pol, "--state-file", state]
        self.start(handler=answer_naming("gpt-5"), extra_args=args)
        two = self.usage_of("cpxtest2")
        self.assertEqual([two["periods"][p]["tokens"] for p in ("day", "week", "month")],
                         [100, 100, 100])
        self.assertEqual(request_as("cpxtest1", self.proxy.port).get("status"), 200)
        self.assertEqual(request_as("cpxtest1", self.proxy.port).get("status"), 200)
        self.assertTrue(wait_for(lambda: self.usage_of("cpxtest1")["periods"]["week"]["tokens"]
                                 == 220, 10))
        self.proxy.stop()
        with open(state) as f:
            text = f.read()
        self.assertTrue(text.startswith("codex-responses-api-proxy usage 3\n"), text)
        rows = [l.split()[2] for l in text.splitlines()
                if l.startswith("uid %d " % uid_of("cpxtest1"))]
        self.assertEqual(rows, ["day", "week", "month"], text)
        self.proxy.cleanup()
        self.proxy = None
        self.start(extra_args=args)
        one = self.usage_of("cpxtest1")
        self.assertEqual([one["periods"][p]["tokens"] for p in ("day", "week", "month")],
                         [220, 220, 220])
        self.assertAlmostEqual(one["periods"]["month"]["dollars"], 0.202, places=9)
        # The week's budget: 220 used of 250, the next answer crosses it.
        self.assertEqual(request_as("cpxtest1", self.proxy.port).get("status"), 200)
        self.assertTrue(wait_for(lambda: self.usage_of("cpxtest1")["periods"]["week"]["tokens"]
                                 == 330, 10))
        over = request_as("cpxtest1", self.proxy.port)
        self.assertEqual(over.get("status"), 429, over)
        self.assertEqual(json.loads(over["body"])["error"]["code"], "token_budget_exceeded")
        self.assertIn("week", json.loads(over["body"])["error"]["message"])
        # --usage shows the dollar and period columns.
        self.proxy.stop()
        out = subprocess.run([self.proxy.bin, "--usage", "--state-file", state, "--policy", pol],
                             capture_output=True, text=True, timeout=10)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("DOLLARS", out.stdout.splitlines()[1])
        month = [l.split() for l in out.stdout.splitlines()
                 if l.split()[:3] == [str(uid_of("cpxtest1")), "cpxtest1", "month"]]
        self.assertEqual(len(month), 1, out.stdout)
        # ... TOKENS TOKEN_LIMIT ESTIMATED DOLLARS DOLLAR_LIMIT
        self.assertEqual(month[0][8:], ["330", "-", "0", "0.303", "10"], out.stdout)

    def test_sighup_with_budgets_in_the_local_zone(self):
        """SIGHUP rebuilds the policy, zone included, inside the parent's
        sandbox: the local zone is read once at start (finding it needs
        readlink(2), which the sandbox kills)."""
        pol = self.policy(PRICES)
        self.start(handler=answer_naming("gpt-5"),
                   extra_args=["--policy", pol, "--dollars-per-day-per-user", "1"])
        self.assertEqual(request_as("cpxtest1", self.proxy.port).get("status"), 200)
        sighup_and_wait(self.proxy)
        self.assertEqual(self.usage_of("cpxtest1")["periods"]["day"]["dollars"], 0.101)
        self.assertEqual(request_as("cpxtest1", self.proxy.port).get("status"), 200)


if __name__ == "__main__":
    main()
