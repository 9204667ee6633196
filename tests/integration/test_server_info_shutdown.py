"""--server-info content, --port, and --http-shutdown."""

import json
import os
import socket
import time

import harness
from harness import Proxy, ProxyTestCase, Upstream, codex_headers, error_body_ok


class ServerInfoShutdown(ProxyTestCase):

    def test_server_info_exact_content(self):
        self.start()
        raw = self.proxy.info_raw
        self.assertRegex(raw.decode(), r'\A\{"port":[1-9][0-9]*,"pid":[1-9][0-9]*\}\n\Z')
        info = json.loads(raw)
        self.assertEqual(list(info.keys()), ["port", "pid"])
        self.assertEqual(info["pid"], self.proxy.proc.pid)
        self.assertEqual(raw, ('{"port":%d,"pid":%d}\n' % (info["port"], self.proxy.proc.pid)).encode())
        # the port accepts connections right away, on 127.0.0.1 only
        s = socket.create_connection(("127.0.0.1", info["port"]), timeout=5)
        s.close()
        c = self.client()
        r = c.post(codex_headers(), b"{}")
        self.assertEqual(r.status, 200, r)

    def test_server_info_file_mode_and_no_temp_leftovers(self):
        self.start()
        d = os.path.dirname(self.proxy.info_path)
        names = sorted(os.listdir(d))
        leftovers = [n for n in names if n.startswith("info.json") and n != "info.json"]
        self.assertEqual(leftovers, [], "temporary files left next to server info: %r" % names)

    def test_fixed_port(self):
        port = harness.free_port()
        self.start(extra_args=["--port", str(port)])
        self.assertEqual(self.proxy.port, port)
        c = self.client()
        r = c.post(codex_headers(), b"{}")
        self.assertEqual(r.status, 200, r)

    def test_fixed_port_in_use_fails(self):
        blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        try:
            p = Proxy(upstream_url="https://127.0.0.1:1/v1/responses",
                      extra_args=["--port", str(port)], wait_info=False)
            rc = p.wait_exit(10)
            p.stop()
            self.assertIsNotNone(rc, "proxy kept running with its port taken")
            self.assertNotEqual(rc, 0)
            self.assertGreater(rc, 0, "died of a signal")
            self.assertFalse(os.path.exists(p.info_path),
                             "server info written although listening failed")
            p.check_secret_not_logged(self)
            p.cleanup()
        finally:
            blocker.close()

    def test_http_shutdown(self):
        self.start(extra_args=["--http-shutdown"])
        c = self.client()
        c.request("GET", "/shutdown", [], host="127.0.0.1:%d" % self.proxy.port)
        r = c.read_response()
        self.assertEqual(r.status, 200, r)
        rc = self.proxy.wait_exit(5)
        self.assertIsNotNone(rc, "proxy still running 5 s after GET /shutdown")
        self.assertEqual(rc, 0, self.proxy.stderr_tail())
        self.assertEqual(self.upstream.requests, [])

    def test_shutdown_refused_without_flag(self):
        self.start()
        c = self.client()
        c.request("GET", "/shutdown", [], host="127.0.0.1:%d" % self.proxy.port)
        r = c.read_response()
        self.assertEqual(r.status, 403, r)
        error_body_ok(self, r, code="forbidden")
        time.sleep(1.0)
        self.assertTrue(self.proxy.alive(), "proxy exited on GET /shutdown without --http-shutdown")
        c2 = self.client()
        r = c2.post(codex_headers(), b"{}")
        self.assertEqual(r.status, 200, r)

    def test_post_shutdown_not_a_shutdown(self):
        self.start(extra_args=["--http-shutdown"])
        c = self.client()
        c.request("POST", "/shutdown", [], b"")
        r = c.read_response()
        self.assertEqual(r.status, 403, r)
        time.sleep(0.5)
        self.assertTrue(self.proxy.alive())

    def test_sigterm_exits_zero(self):
        self.start()
        c = self.client()
        self.assertEqual(c.post(codex_headers(), b"{}").status, 200)
        c.close()
        t0 = time.monotonic()
        rc = self.proxy.stop()
        self.assertFalse(self.proxy.killed)
        self.assertEqual(rc, 0, self.proxy.stderr_tail())
        self.assertLess(time.monotonic() - t0, 5)


if __name__ == "__main__":
    harness.main()
