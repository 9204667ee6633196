"""The upstream stand-in: a TLS (or plain) server on 127.0.0.1:0 that records
every request it reads whole and answers through a handler(req, conn)."""

import json
import socket
import ssl
import struct
import threading
import time

from http_wire import (BufferedSock, REASONS, build_response, chunk, header_all, header_one,
                       parse_head, read_chunked)
from pki import shared_pki
from testenv import DEFAULT_TIMEOUT, LOOPBACK


class UpstreamRequest:
    def __init__(self):
        self.conn_id = None
        self.raw_head = b""
        self.method = None
        self.target = None
        self.version = None
        self.headers = []
        self.body = b""
        self.raw_body = b""
        self.framing = None      # "content-length", "chunked" or None
        self.chunk_sizes = []
        self.time = None

    def header(self, name):
        return header_one(self.headers, name)

    def header_all(self, name):
        return header_all(self.headers, name)

    def __repr__(self):
        return "<UpstreamRequest conn=%s %s %s headers=%r body=%d bytes>" % (
            self.conn_id, self.method, self.target, self.headers, len(self.body))


class UpstreamConn:
    """What a handler gets: the connection to the proxy, plus answer helpers."""

    def __init__(self, upstream, sock, conn_id):
        self.upstream = upstream
        self.sock = sock
        self.id = conn_id
        self.closed = False
        self.keep_alive = True

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def close(self):
        if not self.closed:
            self.closed = True
            with self.upstream.cond:  # see Upstream.stop
                try:
                    self.sock.close()
                except OSError:
                    pass

    def close_graceful(self):
        """Close with a TLS close_notify first (what a close-delimited body
        needs to count as complete rather than truncated)."""
        if not self.closed:
            try:
                if isinstance(self.sock, ssl.SSLSocket):
                    self.sock.settimeout(2)
                    self.sock = self.sock.unwrap()
            except (ssl.SSLError, OSError, ValueError):
                pass
            self.close()

    def reset(self):
        """Abort the TCP connection with a RST (no TLS close_notify)."""
        if not self.closed:
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            self.close()

    # helpers ---------------------------------------------------------------
    def respond(self, status, headers=(), body=b"", **kw):
        self.send(build_response(status, headers, body, **kw))

    def json(self, status, obj, headers=(), **kw):
        body = json.dumps(obj).encode() if not isinstance(obj, (bytes, str)) else obj
        self.respond(status, [("Content-Type", "application/json")] + list(headers), body, **kw)

    def start_chunked(self, status=200, headers=(("Content-Type", "text/event-stream"),)):
        head = "HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, "Status"))
        for k, v in headers:
            head += "%s: %s\r\n" % (k, v)
        head += "Transfer-Encoding: chunked\r\n\r\n"
        self.send(head.encode("latin-1"))

    def send_chunk(self, data):
        self.send(chunk(data))

    def end_chunked(self, trailers=b""):
        self.send(b"0\r\n" + trailers + b"\r\n")

    def sse(self, events, status=200, headers=(("Content-Type", "text/event-stream"),),
            delay=0.0):
        """Send SSE events (bytes or str, each sent as one chunk) then end."""
        self.start_chunked(status, headers)
        for ev in events:
            self.send_chunk(ev)
            if delay:
                time.sleep(delay)
        self.end_chunked()


def default_handler(req, conn):
    conn.json(200, {"id": "resp_test", "object": "response", "status": "completed",
                    "received_bytes": len(req.body)})


def stop_accept_thread(lsock, thread, timeout=5.0):
    """Wakes a thread blocked in lsock.accept() and waits for it, then closes
    lsock. shutdown() on a listening socket makes a blocked accept() fail
    (Linux); closing it first would not wake it, and its fd number could be
    reused under it."""
    try:
        lsock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    if thread is not None and thread is not threading.current_thread():
        thread.join(timeout)
    try:
        lsock.close()
    except OSError:
        pass


class Upstream:
    """TLS stand-in server. handler(req, conn) is called for every request once
    its whole body is read; it must write an answer (or close/reset)."""

    def __init__(self, pki=None, cert="good", tls=True, handler=None):
        self.pki = pki or (shared_pki() if tls else None)
        self.tls = tls
        self.handler = handler or default_handler
        self.requests = []
        self.errors = []           # exceptions from handlers / parsing
        self.tls_errors = []       # handshake failures
        self.read_errors = []      # (conn id, error, unread bytes) of requests not read whole
        self.connections = 0       # TCP connections accepted
        self.cond = threading.Condition()
        self._next_id = 0
        self._socks = set()
        self._stopped = False
        self.ctx = None
        if tls:
            certfile, keyfile = self.pki[cert]
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(certfile, keyfile)
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((LOOPBACK, 0))
        self.lsock.listen(128)
        self.port = self.lsock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    @property
    def url(self):
        return "%s://127.0.0.1:%d/v1/responses" % ("https" if self.tls else "http", self.port)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()

    def stop(self):
        """Ends the accept thread, then the connections (their threads close
        them). Never close() a socket another thread may be blocked on:
        CPython reads the fd number outside the GIL, so a blocked accept() or
        recv() can go on with the *next* socket given that number, a
        stand-in of a later test. That stole connections from later tests
        (accepted and reset by a stopped stand-in)."""
        self._stopped = True
        stop_accept_thread(self.lsock, self._thread)
        with self.cond:
            # Under the lock the threads close their sockets with, so no fd
            # here is closed (and reused) between reading it and the call.
            for s in list(self._socks):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except (OSError, ValueError):
                    pass

    def _accept_loop(self):
        while not self._stopped:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            if self._stopped:
                s.close()
                return
            with self.cond:
                self.connections += 1
                self._next_id += 1
                cid = self._next_id
                self._socks.add(s)
            threading.Thread(target=self._serve, args=(s, cid), daemon=True).start()

    def _serve(self, raw_sock, cid):
        sock = raw_sock
        try:
            raw_sock.settimeout(60)
            if self.tls:
                try:
                    sock = self.ctx.wrap_socket(raw_sock, server_side=True)
                except (ssl.SSLError, OSError) as e:
                    with self.cond:
                        self.tls_errors.append(e)
                        self.cond.notify_all()
                    return
                with self.cond:
                    self._socks.add(sock)
            conn = UpstreamConn(self, sock, cid)
            bs = BufferedSock(sock)
            while not conn.closed and not self._stopped:
                try:
                    req = self._read_request(bs, cid)
                except EOFError:
                    return
                except Exception as e:  # noqa: BLE001 (recorded for the test)
                    # Anything but a clean close between requests: kept, so
                    # a test that gets a reset can say what the stand-in saw.
                    with self.cond:
                        self.read_errors.append((cid, repr(e), bs.buf[:200]))
                        self.cond.notify_all()
                    return
                with self.cond:
                    self.requests.append(req)
                    self.cond.notify_all()
                try:
                    self.handler(req, conn)
                except Exception as e:  # noqa: BLE001 (recorded for the test)
                    if not self._stopped:
                        with self.cond:
                            self.errors.append(e)
                            self.cond.notify_all()
                    conn.close()
                    return
                if (req.header("connection") or "").lower() == "close" or not conn.keep_alive:
                    conn.close()
        finally:
            with self.cond:
                try:
                    sock.close()
                except OSError:
                    pass
                self._socks.discard(raw_sock)
                self._socks.discard(sock)

    def _read_request(self, bs, cid):
        raw = bs.read_until(b"\r\n\r\n", limit=1 << 20)
        req = UpstreamRequest()
        req.conn_id = cid
        req.time = time.monotonic()
        req.raw_head = raw
        start, req.headers = parse_head(raw[:-4])
        parts = start.split(" ")
        if len(parts) != 3:
            raise ValueError("bad request line %r" % start)
        req.method, req.target, req.version = parts
        te = req.header_all("transfer-encoding")
        cl = req.header_all("content-length")
        if te:
            if te[-1].lower() != "chunked":
                raise ValueError("unsupported transfer-encoding %r" % te)
            req.framing = "chunked"
            req.body, req.raw_body, req.chunk_sizes, _ = read_chunked(bs)
        elif cl:
            req.framing = "content-length"
            req.body = bs.read_exact(int(cl[0]))
            req.raw_body = req.body
        return req

    # test helpers -----------------------------------------------------------
    def wait_requests(self, n, timeout=DEFAULT_TIMEOUT):
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("upstream got %d requests, wanted %d" % (len(self.requests), n))
                self.cond.wait(left)
            return list(self.requests)

    def wait_tls_errors(self, n=1, timeout=DEFAULT_TIMEOUT):
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.tls_errors) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return list(self.tls_errors)
                self.cond.wait(left)
            return list(self.tls_errors)
