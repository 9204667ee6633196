"""A local user, even one the policy refuses, must not be able to get a
worker killed: every limit the parent enforces on what a worker forwards is
applied by the worker first, with the same definition (policy/), so an
honest worker never forwards what the parent would take for hostility.

Each attack runs as a real unprivileged local user while another user's
stream is open on the same (only) worker. That stream must complete, the
worker must keep its pid, and the parent must log no security event. The
attacker gets a clear refusal (431, or 403 for a user the policy refuses).

Before the fix (2026-12-04, main at 7702cfd) each of these killed the worker:
the parent counted forwarded fields as "name: value\\r\\n" while the worker
measured the raw head, where "name:value" is one byte shorter per field, and
the parent counted --openai-organization/--openai-project against
--max-headers although the client never sent them."""

import threading
import time

from harness import ProxyTestCase, main
from local_users import AsUser, ensure_test_users, raw_as
from test_sandbox_status import children

HOLD = threading.Event()


def held_then_ok(req, conn):
    HOLD.wait(20)
    conn.json(200, {"ok": True})


def head_at_limit(port, limit, fields=100, sep=":"):
    """A POST head of `fields` field lines whose padding fields are written
    `Name:value` (no space): exactly `limit` bytes in all, or as short as it
    gets with limit 0. The more fields, the more the bytes saved per field."""
    start = "POST /v1/responses HTTP/1.1\r\n"
    fixed = ["Host%s127.0.0.1:%d" % (sep, port), "Content-Type%sapplication/json" % sep,
             "Content-Length%s2" % sep]
    lines = [start] + [f + "\r\n" for f in fixed]
    pads = fields - len(fixed)
    names = ["X-P%03d" % i for i in range(pads)]
    used = sum(len(l) for l in lines) + 2 + sum(len(n) + len(sep) + 2 for n in names)
    room = max(limit - used, pads) if limit else pads
    for i, name in enumerate(names):
        value_len = room // pads + (1 if i < room % pads else 0)
        lines.append("%s%s%s\r\n" % (name, sep, "v" * value_len))
    head = ("".join(lines) + "\r\n").encode()
    assert not limit or len(head) == limit, (len(head), limit)
    return head + b"{}"


class NoClientGetsAWorkerKilled(ProxyTestCase):
    def setUp(self):
        super().setUp()
        ensure_test_users()
        HOLD.clear()

    def tearDown(self):
        HOLD.set()
        super().tearDown()

    def attack(self, extra_args, payload_of_port, allowed_codes):
        self.start(handler=held_then_ok, extra_args=["--allow-user", "cpxtest1"] + extra_args)
        workers = children(self.proxy.pid)
        self.assertEqual(len(workers), 1, workers)
        victim = AsUser("cpxtest1", self.proxy.port).start()
        self.upstream.wait_requests(1)
        for _ in range(3):  # repeated: the crash-loop backoff was the lever
            r = raw_as("cpxtest3", self.proxy.port, payload_of_port(self.proxy.port))
            self.assertIn(r.get("status"), allowed_codes, r)
        time.sleep(0.3)
        HOLD.set()
        done = victim.result()
        self.assertEqual(done.get("status"), 200, "the other user's stream: %r\n%s"
                         % (done, self.proxy.stderr_tail()))
        self.assertEqual(children(self.proxy.pid), workers, "the worker was replaced:\n"
                         + self.proxy.stderr_tail())
        self.assertNotIn("SECURITY", self.proxy.stderr())
        self.assertNotIn("worker_lost", self.proxy.stderr())

    def test_head_at_the_size_limit_without_spaces(self):
        # Forwarded: the parent must accept all of it, the policy then refuses
        # the user (403); refused by the worker: 431. Never a kill.
        self.attack(["--max-header-size", "4K"], lambda port: head_at_limit(port, 4096),
                    (403, 431))

    def test_head_at_the_default_size_limit_without_spaces(self):
        self.attack([], lambda port: head_at_limit(port, 32 * 1024), (403, 431))

    def test_fixed_billing_fields_on_a_head_at_the_field_limit(self):
        # No body, so no Content-Length: every field but Host is forwarded.
        def head(port):
            lines = ["POST /v1/responses HTTP/1.1\r\n", "Host: 127.0.0.1:%d\r\n" % port]
            lines += ["X-P%02d: v\r\n" % i for i in range(19)]
            return ("".join(lines) + "\r\n").encode()
        self.attack(["--max-headers", "20", "--openai-organization", "org-test",
                     "--openai-project", "proj-test"], head, (403, 431))

    def test_fixed_billing_fields_on_an_http10_head_without_host(self):
        def head(port):
            lines = ["POST /v1/responses HTTP/1.0\r\n"]
            lines += ["X-P%02d: v\r\n" % i for i in range(20)]
            return ("".join(lines) + "\r\n").encode()
        self.attack(["--max-headers", "20", "--openai-organization", "org-test"], head,
                    (403, 421, 431))


if __name__ == "__main__":
    main()
