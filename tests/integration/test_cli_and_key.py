"""Key intake from stdin and the command line: exit statuses and messages."""

import os
import subprocess
import tempfile

import harness
from harness import Proxy, ProxyTestCase, Upstream, codex_headers


def run(args, stdin=b"", timeout=10):
    """Run the binary to completion. Returns (status, stdout, stderr)."""
    r = subprocess.run([harness.proxy_bin()] + list(args), input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


class KeyIntake(ProxyTestCase):

    def base_args(self, tmp):
        # valid, harmless arguments so that only the key decides the outcome
        return ["--upstream-url", "https://127.0.0.1:%d/v1/responses" % harness.closed_port(),
                "--upstream-ca-file", harness.shared_pki()["ca"],
                "--server-info", os.path.join(tmp, "info.json")]

    def bad_key(self, stdin, status, message):
        with tempfile.TemporaryDirectory() as tmp:
            rc, out, err = run(self.base_args(tmp), stdin)
            self.assertEqual(rc, status, "stdout=%r stderr=%r" % (out, err))
            self.assertIn(message, err)
            self.assertFalse(os.path.exists(os.path.join(tmp, "info.json")),
                             "server info written although the key was refused")
        return err

    def test_empty_stdin(self):
        self.bad_key(b"", 3, "API key must be provided via stdin")

    def test_only_newline(self):
        self.bad_key(b"\r\n", 3, "API key must be provided via stdin")

    def test_too_large(self):
        self.bad_key(b"a" * 2000, 4, "too large to fit in the 1024-byte buffer")

    def test_too_large_with_newline_after_limit(self):
        self.bad_key(b"b" * 1500 + b"\n", 4, "too large to fit in the 1024-byte buffer")

    def test_invalid_characters(self):
        err = self.bad_key(b"sk-abc!23", 5, "may only contain ASCII letters, numbers, '-' or '_'")
        self.assertNotIn("abc!23", err, "invalid key echoed on stderr")

    def test_invalid_bytes(self):
        for data in (b"sk-abc\xff\n", b"sk-a\x00bc\n", b"sk abc\n", b"sk-abc\tx\n"):
            with self.subTest(data=data):
                self.bad_key(data, 5, "may only contain ASCII letters, numbers, '-' or '_'")

    def check_key_works(self, key, key_input):
        self.upstream = Upstream()
        self.proxy = Proxy(upstream=self.upstream, key=key, key_input=key_input)
        c = self.client()
        r = c.post(codex_headers(), b"{}")
        self.assertEqual(r.status, 200, r)
        (req,) = self.upstream.wait_requests(1)
        self.assertEqual(req.header_all("authorization"), ["Bearer " + key])

    def test_key_with_crlf(self):
        key = harness.fake_key()
        self.check_key_works(key, (key + "\r\n").encode())

    def test_key_without_newline(self):
        key = harness.fake_key()
        self.check_key_works(key, key.encode())

    def test_key_1000_bytes(self):
        key = "sk-test-" + "Z" * 992
        self.check_key_works(key, (key + "\n").encode())


class CommandLine(ProxyTestCase):

    def run_args(self, args, stdin=None):
        stdin = stdin if stdin is not None else (harness.fake_key() + "\n").encode()
        return run(args, stdin)

    def test_unknown_flag(self):
        rc, out, err = self.run_args(["--no-such-flag"])
        self.assertEqual(rc, 2, err)
        lines = [l for l in err.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, "want one line on stderr, got %r" % err)
        self.assertIn("--no-such-flag", err)

    def test_missing_flag_value(self):
        rc, out, err = self.run_args(["--port"])
        self.assertEqual(rc, 2, err)

    def test_bad_port_values(self):
        for v in ("abc", "65536", "-1", "1x"):
            with self.subTest(port=v):
                rc, out, err = self.run_args(["--port", v])
                self.assertEqual(rc, 2, err)

    def test_help(self):
        rc, out, err = self.run_args(["--help"], stdin=b"")
        self.assertEqual(rc, 0, err)
        text = out + err
        for flag in ("--port", "--server-info", "--http-shutdown", "--upstream-url", "--dump-dir"):
            self.assertIn(flag, text)

    def test_version(self):
        rc, out, err = self.run_args(["--version"], stdin=b"")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out + err, r"\d+\.\d+")

    def test_upstream_url_bad_scheme(self):
        rc, out, err = self.run_args(["--upstream-url", "ftp://x"])
        self.assertEqual(rc, 2, err)
        self.assertTrue(err.strip(), "no message")

    def test_upstream_url_garbage(self):
        for url in ("", "not a url", "https://", "https://:443/v1/responses", "https://h:99999/x"):
            with self.subTest(url=url):
                rc, out, err = self.run_args(["--upstream-url", url])
                self.assertEqual(rc, 2, err)

    def test_plain_http_upstream_needs_flag(self):
        rc, out, err = self.run_args(["--upstream-url", "http://127.0.0.1:1/v1/responses"])
        self.assertEqual(rc, 2, err)
        self.assertTrue(err.strip(), "no message")

    def test_plain_http_upstream_with_flag_works(self):
        self.upstream = Upstream(tls=False)
        self.proxy = Proxy(upstream=self.upstream, extra_args=["--allow-insecure-upstream"])
        c = self.client()
        r = c.post(codex_headers(), b'{"plain":1}')
        self.assertEqual(r.status, 200, r)
        (req,) = self.upstream.wait_requests(1)
        self.assertEqual(req.header_all("authorization"), ["Bearer " + self.proxy.key])
        self.assertEqual(req.body, b'{"plain":1}')


if __name__ == "__main__":
    harness.main()
