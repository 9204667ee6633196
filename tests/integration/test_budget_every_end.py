"""Token budgets charged on every end of a stream, with real local users.

A stream that ends before response.completed (the client closes after the
last text delta, the worker dies, the upstream breaks, the proxy shuts down)
is charged an estimate (policy/token_budget.hpp: the request body's bytes / 4
and the "delta" strings' bytes / 4, rounded up), marked as estimated in the
audit line, the JSON audit log, the state file and --usage. Requests in
flight reserve against the budget, so parallel streams cannot all start
under it."""

import json
import os
import select
import signal
import socket
import ssl
import subprocess
import threading

from harness import main
from http_wire import BufferedSock, header_one, parse_head, read_chunked
from client import build_request
from local_users import AsUser, header, request_as, uid_of
from test_per_user import SSE_USAGE, PerUserTestCase, audit_lines, sandboxed_workers, wait_for
from testenv import LOOPBACK, closed_port

BODY = b'{"model":"gpt-5","input":"say hello there"}'  # 43 bytes: 11 tokens
assert len(BODY) == 43
DELTA = "Hello there, friend! "  # 21 bytes: 4 of them are 84 bytes, 21 tokens
OUT_TEXT = DELTA * 4


def event(kind, **fields):
    data = dict(type=kind, **fields)
    return ("event: %s\ndata: %s\n\n" % (kind, json.dumps(data, separators=(",", ":")))).encode()


# A text answer as the Responses API streams it, up to its last events. Only
# the deltas count for the estimate; the response object (with its
# instructions), the padding and the whole text again in .done do not.
def answer_events(deltas=4):
    out = [event("response.created", sequence_number=0,
                 response={"id": "resp_1", "instructions": "x" * 400, "usage": None}),
           event("response.output_item.added", item={"id": "msg_1", "type": "message"})]
    out += [event("response.output_text.delta", item_id="msg_1", delta=DELTA,
                  obfuscation="padpadpad") for _ in range(deltas)]
    return out


DONE = [event("response.output_text.done", item_id="msg_1", text=OUT_TEXT),
        event("response.output_item.done", item={"id": "msg_1", "content": [
            {"type": "output_text", "text": OUT_TEXT}]})]
COMPLETED = event("response.completed", response={
    "id": "resp_1", "usage": {"input_tokens": 60, "output_tokens": 50, "total_tokens": 110}})


def wait_closed(conn, timeout=10.0):
    """True once the proxy closed this upstream connection (before timeout)."""
    try:
        conn.sock.settimeout(timeout)
        return conn.sock.recv(1) == b""
    except socket.timeout:
        return False
    except (OSError, ssl.SSLError):
        return True


def hold_completion(req, conn):
    """Everything but response.completed, which comes only if the proxy keeps
    the connection for 10 s (it closes it when its client leaves)."""
    try:
        conn.start_chunked()
        for ev in answer_events() + DONE:
            conn.send_chunk(ev)
        if not wait_closed(conn):
            conn.send_chunk(COMPLETED)
            conn.end_chunked()
    except (OSError, ssl.SSLError):
        pass
    conn.close()


def read_until_as(name, port, marker, signal_fd=None):
    """A client running as `name` that reads the stream until `marker`, then
    (signal_fd None) closes, or writes a byte to signal_fd and reads on until
    the stream ends or breaks. Returns {"status", "body", "ended"}."""

    class Seen(Exception):
        pass

    def action():
        s = socket.create_connection((LOOPBACK, port), timeout=20)
        s.sendall(build_request("POST", "/v1/responses", body=BODY,
                                headers=[("Content-Type", "application/json")],
                                host="127.0.0.1:%d" % port))
        bs = BufferedSock(s)
        start, hdrs = parse_head(bs.read_until(b"\r\n\r\n"))
        got = bytearray()

        def on_data(data):
            got.extend(data)
            if marker in got and signal_fd is None:
                raise Seen()
            if marker in got and signal_fd is not None:
                os.write(signal_fd, b"!")

        ended = "complete"
        try:
            if (header_one(hdrs, "transfer-encoding") or "").lower() == "chunked":
                read_chunked(bs, on_data)
            else:
                on_data(bs.read_exact(int(header_one(hdrs, "content-length") or 0)))
        except Seen:
            ended = "closed by client"
        except (OSError, EOFError, ValueError) as e:
            ended = "broken: %r" % e
        s.close()
        return {"status": int(start.split(" ")[1]), "body": got.decode("utf-8", "replace"),
                "ended": ended}

    return AsUser(name, port, action=action).start()


class EveryEnd(PerUserTestCase):
    def state_path(self):
        return os.path.join(self.tmp, "usage.state")

    def wait_audit(self, name, n, **fields):
        self.assertTrue(wait_for(lambda: len(self.audit_for(name, timeout=0, **fields)) >= n, 10),
                        "want %d audit lines with %r:\n%s" % (n, fields,
                                                              "\n".join(audit_lines(self.proxy))))
        return self.audit_for(name, timeout=0, **fields)

    def state_line(self, name):
        with open(self.state_path()) as f:
            text = f.read()
        self.assertTrue(text.startswith("codex-responses-api-proxy usage 3\n"), text)
        rows = [l for l in text.splitlines() if l.startswith("uid %d day " % uid_of(name))]
        self.assertEqual(len(rows), 1, text)
        return rows[0]

    def usage_row(self, name, *flags):
        out = subprocess.run([self.proxy.bin, "--usage", "--state-file", self.state_path()] +
                             list(flags), capture_output=True, text=True, timeout=10,
                             stdin=subprocess.DEVNULL)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("ESTIMATED", out.stdout.splitlines()[1])
        rows = [l.split() for l in out.stdout.splitlines()
                if l.split()[:3] == [str(uid_of(name)), name, "day"]]
        self.assertEqual(len(rows), 1, out.stdout)
        return rows[0]

    def test_streams_closed_after_the_last_delta_are_charged(self):
        """The attack: read until response.output_text.done, close. Each of the
        five is charged 11 + 21 tokens, estimated, and the 150-token budget
        then refuses."""
        log = os.path.join(self.tmp, "audit.jsonl")
        budget = ["--tokens-per-day-per-user", "150"]
        self.start(handler=hold_completion,
                   extra_args=budget + ["--state-file", self.state_path(), "--audit-log", log])
        for i in range(5):
            r = read_until_as("cpxtest1", self.proxy.port, b"response.output_text.done").result()
            self.assertEqual(r.get("status"), 200, r)
            self.assertEqual(r["ended"], "closed by client", r)
            self.assertIn(OUT_TEXT, r["body"])  # the whole answer, for free until now
            lines = self.wait_audit("cpxtest1", i + 1, outcome="client_aborted")
        for l in lines:
            self.assertRegex(l, r" tokens_in=11 tokens_out=21 tokens=estimated$")
        over = request_as("cpxtest1", self.proxy.port, body=BODY)
        self.assertEqual(over.get("status"), 429, over)
        self.assertEqual(json.loads(over["body"])["error"]["code"], "token_budget_exceeded")
        self.assertEqual(len(self.upstream.requests), 5)
        with open(log) as f:
            recs = [json.loads(l) for l in f if '"client_aborted"' in l]
        self.assertEqual([(r["tokens_in"], r["tokens_out"], r["tokens_estimated"]) for r in recs],
                         [(11, 21, True)] * 5)
        self.proxy.stop()
        self.assertTrue(self.state_line("cpxtest1").endswith(
            " requests 5 refused 1 tokens_in 55 tokens_out 105 tokens_estimated 160"
            " microdollars 0"),
            self.state_line("cpxtest1"))
        # UID USER PERIOD KEY REQUESTS REFUSED TOKENS_IN TOKENS_OUT TOKENS TOKEN_LIMIT
        # ESTIMATED DOLLARS DOLLAR_LIMIT
        self.assertEqual(self.usage_row("cpxtest1", *budget)[4:],
                         ["5", "1", "55", "105", "160", "150", "160", "0", "-"])

    def test_worker_killed_mid_stream_is_charged(self):
        self.start(handler=hold_completion,
                   extra_args=["--workers", "1", "--tokens-per-day-per-user", "1000000"])
        r, w = os.pipe()
        client = read_until_as("cpxtest2", self.proxy.port, b"response.output_text.done",
                               signal_fd=w)
        os.close(w)
        self.assertTrue(select.select([r], [], [], 10)[0], "the client saw no answer")
        os.close(r)
        workers = sandboxed_workers(self.proxy.pid)
        self.assertEqual(len(workers), 1, workers)
        os.kill(workers[0], signal.SIGKILL)
        got = client.result()
        self.assertTrue(got["ended"].startswith("broken"), got)
        line = self.wait_audit("cpxtest2", 1, outcome="worker_lost")
        self.assertRegex(line[0], r" tokens_in=11 tokens_out=21 tokens=estimated$")

    def test_upstream_breaking_mid_stream_is_charged(self):
        def breaks(req, conn):
            conn.start_chunked()
            for ev in answer_events(deltas=3):
                conn.send_chunk(ev)
            conn.close()  # no last chunk, no close_notify: a truncated stream

        self.start(handler=breaks, extra_args=["--tokens-per-day-per-user", "1000000"])
        got = request_as("cpxtest3", self.proxy.port, body=BODY)
        self.assertIn("error", got)  # the client sees the stream break
        line = self.wait_audit("cpxtest3", 1, outcome="aborted")
        # 3 deltas, 63 bytes: 16 tokens
        self.assertRegex(line[0], r" tokens_in=11 tokens_out=16 tokens=estimated$")

    def test_an_error_answer_costs_nothing(self):
        def refuses(req, conn):
            conn.json(429, {"error": {"message": "slow down", "type": "requests",
                                      "code": "rate_limit_exceeded"}})

        self.start(handler=refuses, extra_args=["--tokens-per-day-per-user", "1000000"])
        self.assertEqual(request_as("cpxtest1", self.proxy.port, body=BODY).get("status"), 429)
        line = self.wait_audit("cpxtest1", 1, status=429, outcome="completed")
        self.assertRegex(line[0], r" tokens_in=0 tokens_out=0 tokens=estimated$")

    def test_an_unreachable_upstream_costs_nothing(self):
        self.start(upstream_url="https://127.0.0.1:%d/v1/responses" % closed_port(),
                   extra_args=["--tokens-per-day-per-user", "1000000"])
        self.assertEqual(request_as("cpxtest1", self.proxy.port, body=BODY).get("status"), 502)
        line = self.wait_audit("cpxtest1", 1, outcome="upstream_error")
        self.assertRegex(line[0], r" tokens_in=0 tokens_out=0 tokens=estimated$")

    def test_parallel_streams_reserve(self):
        """8 streams at once: each reserves 11 + 4096 tokens, so a budget of
        10000 admits 2 of them (the old rule admitted all 8: nothing was used
        yet). When they end, their reservations go and their usage stays."""
        release = threading.Event()

        def held(req, conn):
            release.wait(20)
            try:
                conn.sse(SSE_USAGE)
            except (OSError, ssl.SSLError):
                conn.close()

        self.start(handler=held, extra_args=["--tokens-per-day-per-user", "10000"])
        clients = [AsUser("cpxtest1", self.proxy.port, body=BODY).start() for _ in range(8)]

        def answered():
            return [c for c in clients if select.select([c.call.rfd], [], [], 0)[0]]

        # The refused answer at once; the admitted wait for the release.
        try:
            wait_for(lambda: len(answered()) >= 6, 5)
            early = len(answered())
        finally:
            release.set()
        results = [c.result() for c in clients]
        statuses = sorted(r.get("status", 0) for r in results)
        self.assertEqual(statuses, [200, 200] + [429] * 6, results)
        self.assertEqual(early, 6)
        for r in results:
            if r.get("status") == 429:
                self.assertEqual(json.loads(r["body"])["error"]["code"], "token_budget_exceeded")
                self.assertEqual(header(r, "retry-after"), "1")
        self.assertEqual(len(self.upstream.requests), 2)
        self.wait_audit("cpxtest1", 2, status=200, tokens="reported")
        # Released: 220 of 10000 used, nothing in flight, the next one starts.
        self.assertEqual(request_as("cpxtest1", self.proxy.port, body=BODY).get("status"), 200)

    def test_streams_cut_by_shutdown_are_charged(self):
        """SIGTERM with a stream open: at --shutdown-timeout the workers are
        killed, the stream is charged, and the state file saved at exit has it."""
        self.start(handler=hold_completion,
                   extra_args=["--tokens-per-day-per-user", "1000000", "--state-file",
                               self.state_path(), "--shutdown-timeout", "1"])
        r, w = os.pipe()
        client = read_until_as("cpxtest2", self.proxy.port, b"response.output_text.done",
                               signal_fd=w)
        os.close(w)
        self.assertTrue(select.select([r], [], [], 10)[0], "the client saw no answer")
        os.close(r)
        os.kill(self.proxy.pid, signal.SIGTERM)
        self.assertEqual(self.proxy.wait_exit(15), 0, self.proxy.stderr_tail())
        client.result()
        self.assertRegex(self.state_line("cpxtest2"),
                         r" requests 1 refused 0 tokens_in 11 tokens_out 21 tokens_estimated 32 microdollars 0$")
        self.assertTrue(self.wait_audit("cpxtest2", 1, outcome="worker_lost"))


if __name__ == "__main__":
    main()
