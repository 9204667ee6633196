"""How many TLS records a request costs on the way upstream.

The parent writes a request head in three pieces (what comes before the key,
the key by reference to its locked page, what comes after it) and the body
behind them. Each piece used to be its own TLS record: a small request cost
three or four records, each sealed by the parent and opened by the upstream.
UpstreamTransport joins the pieces that fit in one record, for the length of
one SSL_write, in a locked staging page wiped at once (test_key_scan.py checks
that the key still has one copy at rest).

A relay between the proxy and the TLS stand-in reads the record headers the
proxy sends (5 bytes each: type, version, length) without decrypting
anything, and counts the application-data records (type 23; under TLS 1.3
also the client's Finished, which is the first of them on a connection).
"""

import socket
import threading

from harness import ProxyTestCase, Upstream, codex_headers, main

APPLICATION_DATA = 23


class RecordCountingRelay:
    """127.0.0.1:port -> the upstream; counts what the proxy sends."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.records = []  # (type, length) of each record the proxy sent
        self.cond = threading.Condition()
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self._socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.lsock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self._socks += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src, dst, count):
        pending = b""
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            if count:
                pending += data
                while len(pending) >= 5:
                    length = int.from_bytes(pending[3:5], "big")
                    if len(pending) < 5 + length:
                        break
                    with self.cond:
                        self.records.append((pending[0], length))
                        self.cond.notify_all()
                    pending = pending[5 + length:]
            try:
                dst.sendall(data)
            except OSError:
                return

    def application_records(self):
        with self.cond:
            return [r for r in self.records if r[0] == APPLICATION_DATA]

    def close(self):
        self.lsock.close()
        for s in self._socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class TlsRecords(ProxyTestCase):
    def setUp(self):
        super().setUp()
        self.upstream = Upstream()
        self.relay = RecordCountingRelay(self.upstream.port)
        self.addCleanup(self.relay.close)
        self.start(upstream_url="https://127.0.0.1:%d/v1/responses" % self.relay.port)

    def test_a_small_request_is_one_record(self):
        c = self.client()
        body = b'{"model":"gpt-5","input":"hi"}'
        for n in range(1, 4):
            r = c.post(codex_headers(), body)
            self.assertEqual(r.status, 200, r.body)
            self.upstream.wait_requests(n)
            records = self.relay.application_records()
            # The client's Finished, then one record per request on the
            # kept-alive connection (before: head, key, tail + body: three).
            self.assertEqual(len(records), 1 + n,
                             "application-data records after %d requests: %r" % (n, records))
        self.assertEqual(self.upstream.connections, 1)
        self.assertEqual(self.upstream.requests[-1].body, body)

    def test_a_large_body_still_arrives_whole(self):
        # Pieces bigger than a record are written as they are.
        c = self.client()
        body = b'{"model":"gpt-5","input":"' + b"x" * 100_000 + b'"}'
        r = c.post(codex_headers(), body)
        self.assertEqual(r.status, 200, r.body)
        self.upstream.wait_requests(1)
        self.assertEqual(self.upstream.requests[0].body, body)
        self.assertLessEqual(max(length for _, length in self.relay.application_records()),
                             16 * 1024 + 256)


if __name__ == "__main__":
    main()
