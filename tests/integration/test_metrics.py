"""GET /metrics, read by real local users: answered to root and to the users
and groups --metrics-allow-user / --metrics-allow-group name, refused with 403
metrics_not_allowed to anyone else; every metric moves with the requests of
two users; the text is checked against the exposition format (0.0.4) by a
small parser of our own (below), not by the proxy's word.

Clients run as real, different uids (local_users.py), so the proxy learns
who is asking from the kernel, as in use."""

import os
import re
import signal
import threading
import time

from harness import ProxyTestCase, Client, error_body_ok, main
from local_users import AsUser, ensure_test_users, header, request_as
from test_per_user import sse_with_usage, wait_for
from test_sandbox_status import children

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# ---------------------------------------------------------------------------
# A parser for the text exposition format 0.0.4, strict where the format is:
# https://prometheus.io/docs/instrumenting/exposition_formats/

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
VALUE = r"(?:[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]Inf|NaN)"
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class FormatError(AssertionError):
    pass


def parse_labels(text, lineno):
    """'a="x",b="y\\"z"' -> {'a': 'x', 'b': 'y"z'}; escapes \\\\, \\" and \\n only."""
    labels = {}
    i = 0
    while i < len(text):
        m = re.match(LABEL + "=\"", text[i:])
        if not m:
            raise FormatError("line %d: bad label at %r" % (lineno, text[i:]))
        name = m.group(0)[:-2]
        i += len(m.group(0))
        value = []
        while True:
            if i >= len(text):
                raise FormatError("line %d: unterminated label value" % lineno)
            c = text[i]
            if c == "\\":
                nxt = text[i + 1:i + 2]
                if nxt not in ("\\", '"', "n"):
                    raise FormatError("line %d: bad escape \\%s" % (lineno, nxt))
                value.append("\n" if nxt == "n" else nxt)
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise FormatError("line %d: raw line feed in a label value" % lineno)
            else:
                value.append(c)
                i += 1
        if name in labels:
            raise FormatError("line %d: label %s twice" % (lineno, name))
        labels[name] = "".join(value)
        if i < len(text):
            if text[i] != ",":
                raise FormatError("line %d: expected ',' at %r" % (lineno, text[i:]))
            i += 1
    return labels


def parse_exposition(text):
    """Checks the text and returns {family: {"type", "help", "samples":
    [(name, labels, value)]}}; raises FormatError on the first fault."""
    if not text.endswith("\n"):
        raise FormatError("text does not end with a line feed")
    families = {}
    current = None
    seen = set()
    for lineno, line in enumerate(text[:-1].split("\n"), 1):
        if line.startswith("#"):
            m = re.fullmatch(r"# (HELP|TYPE) (" + NAME + r") (.*)", line)
            if not m:
                if re.match(r"# (HELP|TYPE)", line):
                    raise FormatError("line %d: malformed %r" % (lineno, line))
                continue  # a plain comment
            kind, name, rest = m.groups()
            fam = families.setdefault(name, {"type": None, "help": None, "samples": []})
            if kind == "TYPE":
                if rest not in TYPES:
                    raise FormatError("line %d: unknown type %r" % (lineno, rest))
                if fam["type"] is not None or fam["samples"]:
                    raise FormatError("line %d: TYPE for %s again or after its samples"
                                      % (lineno, name))
                fam["type"] = rest
            else:
                if fam["help"] is not None:
                    raise FormatError("line %d: HELP for %s twice" % (lineno, name))
                fam["help"] = rest
            current = name
            continue
        if not line.strip():
            raise FormatError("line %d: empty line" % lineno)
        m = re.fullmatch("(" + NAME + r")(?:\{(.*)\})? (" + VALUE + r")(?: -?[0-9]+)?", line)
        if not m:
            raise FormatError("line %d: not a sample: %r" % (lineno, line))
        name, label_text, value = m.groups()
        labels = parse_labels(label_text or "", lineno)
        fam_name = name
        if current and families[current]["type"] == "histogram":
            for suffix in ("_bucket", "_sum", "_count"):
                if name == current + suffix:
                    fam_name = current
        if fam_name != current:
            raise FormatError("line %d: sample %s outside its family (%s)"
                              % (lineno, name, current))
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            raise FormatError("line %d: series %r twice" % (lineno, key))
        seen.add(key)
        families[fam_name]["samples"].append((name, labels, float(value)))
    for name, fam in families.items():
        if fam["type"] == "histogram":
            check_histogram(name, fam["samples"])
        if fam["type"] == "counter":
            for _, labels, v in fam["samples"]:
                if v < 0:
                    raise FormatError("counter %s%r below zero" % (name, labels))
    return families


def check_histogram(name, samples):
    groups = {}
    for sname, labels, v in samples:
        rest = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
        groups.setdefault(rest, {"buckets": [], "sum": None, "count": None})
        g = groups[rest]
        if sname.endswith("_bucket"):
            if "le" not in labels:
                raise FormatError("%s bucket without le" % name)
            g["buckets"].append((float(labels["le"]), v))
        elif sname.endswith("_sum"):
            g["sum"] = v
        else:
            g["count"] = v
    for rest, g in groups.items():
        les = [le for le, _ in g["buckets"]]
        if les != sorted(les) or not les or les[-1] != float("inf"):
            raise FormatError("%s: buckets not ascending to +Inf: %r" % (name, les))
        counts = [c for _, c in g["buckets"]]
        if counts != sorted(counts):
            raise FormatError("%s: buckets not cumulative: %r" % (name, counts))
        if g["count"] is None or g["sum"] is None or counts[-1] != g["count"]:
            raise FormatError("%s: +Inf bucket %r != _count %r (or no _sum)"
                              % (name, counts[-1], g["count"]))


def value(families, family, sample=None, **labels):
    """The value of one series (0 when absent)."""
    for name, got, v in families.get(family, {}).get("samples", []):
        if name == (sample or family) and all(got.get(k) == x for k, x in labels.items()):
            return v
    return 0.0


# ---------------------------------------------------------------------------

def handler(release):
    """SSE with usage; a request with x-test-slow waits for `release` after
    its first event (a stream that stays open)."""
    def serve(req, conn):
        if req.header("x-test-slow"):
            conn.start_chunked()
            conn.send_chunk(b'event: response.created\ndata: {"type":"response.created"}\n\n')
            release.wait(30)
            conn.end_chunked()
            return
        sse_with_usage(req, conn)
    return serve


class MetricsTest(ProxyTestCase):

    def setUp(self):
        super().setUp()
        self.users = ensure_test_users()
        self.release = threading.Event()
        self.addCleanup(self.release.set)
        self.start(handler=handler(self.release),
                   extra_args=["--metrics-allow-user", "cpxtest1",
                               "--metrics-allow-group", "cpxtestgrp",
                               "--tokens-per-day-per-user", "100000", "--workers", "1"])

    def scrape_as(self, name):
        return request_as(name, self.proxy.port, method="GET", path="/metrics", body=None,
                          headers=())

    def scrape(self):
        """As root (this process): parsed families."""
        c = Client(self.proxy.port)
        try:
            c.request("GET", "/metrics")
            r = c.read_response()
        finally:
            c.close()
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertEqual(r.header("content-type"), CONTENT_TYPE)
        text = r.body.decode("utf-8")
        try:
            return parse_exposition(text)
        except FormatError as e:
            self.fail("%s\n--- text:\n%s" % (e, text))

    def post_as(self, name, slow=False):
        headers = [("Content-Type", "application/json")]
        if slow:
            headers.append(("x-test-slow", "1"))
        return AsUser(name, self.proxy.port, body=b'{"model":"gpt-5","input":"hi"}',
                      headers=headers)

    def test_read_by_allowed_users_refused_to_others(self):
        for name in ("cpxtest1", "cpxtest2"):  # by name, and by group (cpxtestgrp)
            r = self.scrape_as(name)
            self.assertEqual(r.get("status"), 200, (name, r))
            self.assertEqual(header(r, "content-type"), CONTENT_TYPE)
            self.assertIn("codex_proxy_build_info{version=", r["body"])
            parse_exposition(r["body"])
        r = self.scrape_as("cpxtest3")
        self.assertEqual(r.get("status"), 403, r)
        self.assertEqual(header(r, "content-type"), "application/json")
        self.assertIn('"code":"metrics_not_allowed"', r["body"].replace(" ", ""))
        self.assertNotIn("codex_proxy_", r["body"])
        # Root always may.
        self.scrape()
        # The refusal is audited and counted like any other.
        fams = self.scrape()
        self.assertEqual(value(fams, "codex_proxy_requests_total", user="cpxtest3",
                               outcome="refused", code="403"), 1.0)

    def test_each_metric_moves_with_two_users(self):
        before = self.scrape()
        self.assertEqual(value(before, "codex_proxy_build_info"), 1.0)
        for name in ("cpxtest1", "cpxtest1", "cpxtest2"):
            r = self.post_as(name).start().result()
            self.assertEqual(r.get("status"), 200, r)
        slow = self.post_as("cpxtest1", slow=True).start()
        self.upstream.wait_requests(4)
        during = self.scrape()
        self.release.set()
        self.assertEqual(slow.result().get("status"), 200)
        # A worker that dies is respawned, and counted by cause.
        workers = children(self.proxy.pid)
        os.kill(workers[0], signal.SIGKILL)
        self.assertTrue(wait_for(lambda: (lambda k: k and workers[0] not in k)(
            children(self.proxy.pid)), 10))
        self.serve_ok()
        after = self.scrape()

        def moved(fams, family, sample=None, **labels):
            return value(fams, family, sample, **labels) - value(before, family, sample, **labels)

        req = "codex_proxy_requests_total"
        ok = dict(outcome="completed", code="200")
        self.assertEqual(moved(after, req, user="cpxtest1", **ok), 3.0)  # 2 + the slow one
        self.assertEqual(moved(after, req, user="cpxtest2", **ok), 1.0)
        tok = "codex_proxy_tokens_total"
        for user, n in (("cpxtest1", 2), ("cpxtest2", 1)):
            self.assertEqual(moved(after, tok, user=user, kind="input", source="reported"), 60 * n)
            self.assertEqual(moved(after, tok, user=user, kind="output", source="reported"),
                             50 * n)
        self.assertEqual(value(during, "codex_proxy_open_streams", user="cpxtest1"), 1.0)
        self.assertEqual(value(after, "codex_proxy_open_streams", user="cpxtest1"), 0.0)
        self.assertEqual(value(after, "codex_proxy_open_streams", user="cpxtest2"), 0.0)
        budget = "codex_proxy_budget_remaining"
        self.assertEqual(value(after, budget, user="cpxtest2", kind="tokens", period="day"),
                         100000 - 110)
        # The slow stream had no usage: charged by estimate, at least its input.
        self.assertLess(value(after, budget, user="cpxtest1", kind="tokens", period="day"),
                        100000 - 220)
        for hist in ("codex_proxy_upstream_first_byte_seconds",
                     "codex_proxy_request_duration_seconds"):
            self.assertGreaterEqual(moved(after, hist, hist + "_count"), 5.0, hist)
            self.assertGreater(moved(after, hist, hist + "_sum"), 0.0, hist)
        conns = "codex_proxy_upstream_connections"
        self.assertGreaterEqual(value(during, conns, state="in_use"), 1.0)
        self.assertGreaterEqual(value(after, conns, state="idle"), 1.0)
        self.assertEqual(value(after, conns, state="in_use"), 0.0)
        self.assertEqual(moved(after, "codex_proxy_worker_restarts_total", cause="signal"), 1.0)
        self.assertEqual(value(after, "codex_proxy_key_rotations_total"), 0.0)

    def test_format_parser_catches_faults(self):
        """The parser above rejects what the format forbids (so a pass means something)."""
        good = ('# HELP x_total a\n# TYPE x_total counter\nx_total{user="a\\"b\\\\c\\nd"} 1\n')
        fams = parse_exposition(good)
        self.assertEqual(fams["x_total"]["samples"][0][1]["user"], 'a"b\\c\nd')
        for bad in ('x_total{user="a"b"} 1\n',                      # unescaped quote
                    '# TYPE x counter\nx{user="a\\q"} 1\n',         # unknown escape
                    '# TYPE x counter\nx 1\nx 2\n',                 # series twice
                    '# TYPE x counter\nx 1',                        # no final line feed
                    '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\n'
                    'h_sum 1\nh_count 1\n',                         # not cumulative
                    '# TYPE x counter\ny 1\n'):                     # outside its family
            with self.assertRaises(FormatError, msg=bad):
                parse_exposition(bad)


if __name__ == "__main__":
    main()
