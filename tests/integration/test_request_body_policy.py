"""What a request body may ask for (issue 24), decided by the parent on the
bytes it sends upstream, as real local users: models, the output cap (added
where a request has none), service tiers, background under a budget, and
whose stored responses a previous_response_id may continue.

Each client is a real, different uid (local_users.py), so the proxy learns who
asks from the kernel. The upstream stand-in records only requests it read
whole (upstream.py): a refused body must never be one of them."""

import itertools
import json
import os
import tempfile
import time
import unittest

from harness import ProxyTestCase, main
from local_users import ensure_test_users, request_as

_ids = itertools.count(1)


def created_handler(req, conn):
    """An event stream that creates a stored response with a fresh id."""
    rid = "resp_body%06d" % next(_ids)
    created = json.dumps({"type": "response.created",
                          "response": {"id": rid, "object": "response", "status": "in_progress"}})
    done = json.dumps({"type": "response.completed", "response": {"id": rid}})
    conn.sse([("event: response.created\ndata: %s\n\n" % created).encode(),
              ("event: response.completed\ndata: %s\n\n" % done).encode()],
             headers=(("Content-Type", "text/event-stream"),))


def body(**fields):
    return json.dumps(dict({"model": "gpt-5", "input": "hi"}, **fields)).encode()


class BodyPolicyCase(ProxyTestCase):
    def setUp(self):
        super().setUp()
        ensure_test_users()
        self.tmp = tempfile.mkdtemp(prefix="body-policy-it-")
        os.chmod(self.tmp, 0o755)

    def policy(self, text):
        path = os.path.join(self.tmp, "policy.toml")
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
        return path

    def post(self, user, data):
        r = request_as(user, self.proxy.port, body=data)
        self.assertNotIn("error", r, r)
        return r

    def refused(self, r, status, code):
        self.assertEqual(r["status"], status, r)
        err = json.loads(r["body"])["error"]
        self.assertEqual(err["code"], code, r)
        return err["message"]

    def settled(self):
        time.sleep(0.3)  # let anything in flight reach the stand-in
        return self.upstream.requests


class Models(BodyPolicyCase):
    def test_model_refused_for_one_user_allowed_for_another(self):
        path = self.policy('[defaults]\nmodels = ["gpt-5-mini"]\n'
                           '[users.cpxtest2]\nmodels = ["gpt-5*"]\n')
        self.start(extra_args=["--policy", path])
        message = self.refused(self.post("cpxtest1", body()), 403, "model_not_allowed")
        self.assertIn('"gpt-5"', message)
        self.assertEqual(self.settled(), [], "a refused model went upstream whole")
        self.assertEqual(self.post("cpxtest2", body())["status"], 200)
        self.assertEqual(self.post("cpxtest1", body(model="gpt-5-mini"))["status"], 200)
        self.assertEqual(len(self.settled()), 2)
        # The refused body is a refusal in the caller's figures, not a request.
        got = request_as("cpxtest1", self.proxy.port, method="GET", path="/usage", body=b"",
                         headers=())
        self.assertEqual(got.get("status"), 200, got)
        day = json.loads(got["body"])["periods"]["day"]
        self.assertEqual((day["requests"], day["refused"]), (1, 1), day)

    def test_model_after_100_kb_never_reaches_the_upstream_whole(self):
        self.start(extra_args=["--allow-model", "gpt-5-mini", "--allow-user", "cpxtest1"])
        data = json.dumps({"input": "x" * 100000, "model": "gpt-5"}).encode()
        self.refused(self.post("cpxtest1", data), 403, "model_not_allowed")
        self.assertEqual(self.settled(), [], "the upstream got the whole refused request")
        # It was on its way: the parent had connected and was streaming it.
        self.assertEqual(self.upstream.connections, 1)
        self.assertEqual(self.post("cpxtest1", body(model="gpt-5-mini"))["status"], 200)

    def test_duplicate_field_and_not_json(self):
        self.start(extra_args=["--allow-model", "gpt-5", "--allow-user", "cpxtest1"])
        dup = b'{"model":"gpt-5","input":"hi","model":"gpt-5"}'
        self.refused(self.post("cpxtest1", dup), 400, "duplicate_field")
        self.refused(self.post("cpxtest1", b'{"model":"gpt-5",}'), 400, "invalid_json")
        # Refused at the byte that breaks it, while the client is still sending.
        big = b'{"model":"gpt-5",,"input":"' + b"x" * 300000 + b'"}'
        self.refused(self.post("cpxtest1", big), 400, "invalid_json")
        self.assertEqual(self.settled(), [])
        self.assertEqual(self.post("cpxtest1", body())["status"], 200)


class OutputCap(BodyPolicyCase):
    def test_cap_added_where_missing_and_over_limit_refused(self):
        self.start(extra_args=["--max-output-tokens", "1000", "--allow-user", "cpxtest1"])
        self.assertEqual(self.post("cpxtest1", body())["status"], 200)
        self.upstream.wait_requests(1)
        sent = json.loads(self.upstream.requests[0].body)
        self.assertEqual(sent.get("max_output_tokens"), 1000, sent)
        self.assertEqual(sent["model"], "gpt-5")
        self.refused(self.post("cpxtest1", body(max_output_tokens=5000)), 403,
                     "max_output_tokens_over_limit")
        self.assertEqual(self.post("cpxtest1", body(max_output_tokens=500))["status"], 200)
        requests = self.settled()
        self.assertEqual(len(requests), 2)
        self.assertEqual(json.loads(requests[1].body)["max_output_tokens"], 500)


class Tiers(BodyPolicyCase):
    def test_service_tier(self):
        path = self.policy('[defaults]\nservice_tiers = ["default", "flex"]\n'
                           '[users.cpxtest1]\nmax_streams = 4\n')
        self.start(extra_args=["--policy", path])
        message = self.refused(self.post("cpxtest1", body(service_tier="priority")), 403,
                               "service_tier_not_allowed")
        self.assertIn('"priority"', message)
        self.assertEqual(self.post("cpxtest1", body(service_tier="flex"))["status"], 200)
        self.assertEqual(len(self.settled()), 1)


class Background(BodyPolicyCase):
    def test_background_refused_while_a_budget_applies(self):
        self.start(extra_args=["--tokens-per-day-per-user", "100000"])
        self.refused(self.post("cpxtest1", body(background=True)), 403, "background_not_allowed")
        self.assertEqual(self.post("cpxtest1", body(background=False))["status"], 200)
        self.assertEqual(len(self.settled()), 1)


class Ownership(BodyPolicyCase):
    def first_response(self, user):
        r = self.post(user, body())
        self.assertEqual(r["status"], 200, r)
        return json.loads(r["body"].split("data: ", 1)[1].split("\n", 1)[0])["response"]["id"]

    def test_previous_response_of_another_user_refused_own_served(self):
        state = os.path.join(self.tmp, "proxy.state")
        args = ["--allow-user", "cpxtest1", "--allow-user", "cpxtest2", "--state-file", state]
        self.start(handler=created_handler, extra_args=args)
        rid = self.first_response("cpxtest1")
        self.refused(self.post("cpxtest2", body(previous_response_id=rid)), 403,
                     "previous_response_not_yours")
        self.refused(self.post("cpxtest1", body(previous_response_id="resp_unknown1")), 403,
                     "previous_response_not_yours")
        self.assertEqual(self.post("cpxtest1", body(previous_response_id=rid))["status"], 200)
        self.assertEqual(len(self.settled()), 2)
        # Kept across a restart, in the state file.
        self.proxy.stop()
        self.proxy.cleanup()
        with open(state) as f:
            self.assertIn("response %s " % rid, f.read())
        self.start(extra_args=args)
        self.assertEqual(self.post("cpxtest1", body(previous_response_id=rid))["status"], 200)
        self.refused(self.post("cpxtest2", body(previous_response_id=rid)), 403,
                     "previous_response_not_yours")

    def test_turned_off(self):
        users = ["--allow-user", "cpxtest1", "--allow-user", "cpxtest2"]
        self.start(handler=created_handler, extra_args=users)
        rid = self.first_response("cpxtest1")
        self.refused(self.post("cpxtest2", body(previous_response_id=rid)), 403,
                     "previous_response_not_yours")
        self.proxy.stop()
        self.proxy.cleanup()
        self.start(extra_args=users + ["--response-ownership", "off"])
        self.assertEqual(self.post("cpxtest2", body(previous_response_id=rid))["status"], 200)

if __name__ == "__main__":
    main()
