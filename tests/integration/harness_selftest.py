"""Self-test of harness.py without the proxy: the Client talks to the Upstream
stand-in directly (plain and TLS). Run: python3 harness_selftest.py"""

import os
import socket
import ssl
import sys
import threading
import unittest

import harness
from harness import Client, Upstream, BufferedSock, build_request


class TLSClient(Client):
    def __init__(self, port, cafile, server_hostname="127.0.0.1"):
        ctx = ssl.create_default_context(cafile=cafile)
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock = ctx.wrap_socket(raw, server_hostname=server_hostname)
        self.port = port
        self.bs = BufferedSock(self.sock)
        self.last_method = None


class SelfTest(unittest.TestCase):
    def test_plain_keepalive_and_bodies(self):
        with Upstream(tls=False) as up:
            c = Client(up.port)
            body = os.urandom(300000)
            r = c.post(body=body)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.json()["received_bytes"], len(body))
            c.request("POST", "/v1/responses", [("x-a", "1")], chunks=[b"ab", b"c" * 5000, b"d"])
            r = c.read_response()
            self.assertEqual(r.json()["received_bytes"], 5003)
            reqs = up.wait_requests(2)
            self.assertEqual(reqs[0].body, body)
            self.assertEqual(reqs[0].framing, "content-length")
            self.assertEqual(reqs[1].body, b"abc" + b"c" * 4999 + b"d")
            self.assertEqual(reqs[1].framing, "chunked")
            self.assertEqual(reqs[1].chunk_sizes, [2, 5000, 1, 0])
            self.assertEqual(reqs[0].conn_id, reqs[1].conn_id)
            self.assertEqual(reqs[1].header("x-a"), "1")
            self.assertTrue(reqs[1].raw_head.startswith(b"POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1:"))
            c.close()

    def test_tls_sse_incremental(self):
        gates = [threading.Event() for _ in range(5)]

        def handler(req, conn):
            conn.start_chunked()
            for k in range(5):
                if k and not gates[k - 1].wait(5):
                    raise AssertionError("client did not get event %d" % (k - 1))
                conn.send_chunk("data: %d\n\n" % k)
            conn.end_chunked()

        pki = harness.shared_pki()
        with Upstream(handler=handler) as up:
            c = TLSClient(up.port, pki["ca"])
            c.request("POST", "/v1/responses", [], b"{}")
            r = c.read_head()
            self.assertEqual(r.framing, "chunked")
            got = []
            for ev in c.iter_sse(r):
                got.append(ev)
                gates[len(got) - 1].set()
            self.assertEqual(got, [b"data: %d\n\n" % k for k in range(5)])
            c.close()
            self.assertEqual(up.errors, [])

    def test_tls_wrong_ca_and_name(self):
        pki = harness.shared_pki()
        with Upstream(cert="untrusted") as up:
            with self.assertRaises(ssl.SSLCertVerificationError):
                TLSClient(up.port, pki["ca"])
        with Upstream(cert="ip_only") as up:
            with self.assertRaises(ssl.SSLCertVerificationError):
                TLSClient(up.port, pki["ca"], server_hostname="localhost")
            TLSClient(up.port, pki["ca"]).close()
        with Upstream(cert="wrong_name") as up:
            with self.assertRaises(ssl.SSLCertVerificationError):
                TLSClient(up.port, pki["ca"])

    def test_reset_and_close_framing(self):
        def handler(req, conn):
            if req.body == b"reset":
                conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
                conn.reset()
            else:
                conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close")
                conn.close()

        with Upstream(tls=False, handler=handler) as up:
            c = Client(up.port)
            r = c.post(body=b"close")
            self.assertEqual((r.framing, r.body), ("close", b"until close"))
            c = Client(up.port)
            c.request("POST", "/v1/responses", [], b"reset")
            r = c.read_head()
            with self.assertRaises((EOFError, ConnectionResetError)):
                c.read_body(r)


if __name__ == "__main__":
    os.environ.setdefault("PROXY_BIN", sys.executable)  # harness.main wants an executable
    harness.main()
