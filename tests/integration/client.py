"""A raw HTTP/1.1 client over a socket: exact bytes in, exact bytes out."""

import json
import socket
import time

from http_wire import BufferedSock, chunk, header_all, header_one, parse_head, read_chunked
from testenv import DEFAULT_TIMEOUT, LOOPBACK


class Response:
    def __init__(self):
        self.version = None
        self.status = None
        self.reason = None
        self.headers = []
        self.raw_head = b""
        self.body = b""
        self.framing = None      # "content-length", "chunked", "close", "none"
        self.chunk_sizes = []

    def header(self, name):
        return header_one(self.headers, name)

    def header_all(self, name):
        return header_all(self.headers, name)

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<Response %s headers=%r body=%r>" % (self.status, self.headers, self.body[:300])


def build_request(method, target, headers=(), body=None, host=None, port=None,
                  chunks=None, version="HTTP/1.1"):
    """Exact request bytes. Host is put first unless host is False or headers
    already contain one. With chunks (list of bytes), the body is sent chunked."""
    lines = ["%s %s %s\r\n" % (method, target, version)]
    names = {k.lower() for k, _ in headers}
    if host is not False and "host" not in names:
        lines.append("Host: %s\r\n" % (host or "127.0.0.1:%d" % port))
    for k, v in headers:
        lines.append("%s: %s\r\n" % (k, v))
    if isinstance(body, str):
        body = body.encode()
    if chunks is not None:
        if "transfer-encoding" not in names:
            lines.append("Transfer-Encoding: chunked\r\n")
        data = b"".join(chunk(c) for c in chunks) + b"0\r\n\r\n"
    else:
        data = body or b""
        if body is not None and "content-length" not in names and "transfer-encoding" not in names:
            lines.append("Content-Length: %d\r\n" % len(data))
    lines.append("\r\n")
    return "".join(lines).encode("latin-1") + data


class Client:
    def __init__(self, port, host=LOOPBACK, timeout=DEFAULT_TIMEOUT):
        self.port = port
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.bs = BufferedSock(self.sock)
        self.last_method = None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def settimeout(self, t):
        self.sock.settimeout(t)

    def send(self, data):
        self.sock.sendall(data)

    def request(self, method, target, headers=(), body=None, **kw):
        self.last_method = method
        self.send(build_request(method, target, headers, body, port=self.port, **kw))

    def post(self, headers=(), body=b"{}", target="/v1/responses", **kw):
        self.request("POST", target, headers, body, **kw)
        return self.read_response()

    def read_head(self):
        """Read a response head (skipping 1xx). Returns a Response without body."""
        while True:
            raw = self.bs.read_until(b"\r\n\r\n", limit=1 << 20)
            r = Response()
            r.raw_head = raw
            start, r.headers = parse_head(raw[:-4])
            parts = start.split(" ", 2)
            r.version = parts[0]
            r.status = int(parts[1])
            r.reason = parts[2] if len(parts) > 2 else ""
            if 100 <= r.status < 200 and r.status != 101:
                continue
            te = r.header_all("transfer-encoding")
            cl = r.header_all("content-length")
            if self.last_method == "HEAD" or r.status in (204, 304) or 100 <= r.status < 200:
                r.framing = "none"
            elif te and te[-1].lower() == "chunked":
                r.framing = "chunked"
            elif cl:
                r.framing = "content-length"
            else:
                r.framing = "close"
            return r

    def read_body(self, r):
        if r.framing == "chunked":
            r.body, _, r.chunk_sizes, _ = read_chunked(self.bs)
        elif r.framing == "content-length":
            r.body = self.bs.read_exact(int(r.header("content-length")))
        elif r.framing == "close":
            r.body = self.bs.read_to_eof()
        return r

    def read_response(self):
        return self.read_body(self.read_head())

    def iter_body(self, r):
        """Yield body bytes as they arrive (chunk payload pieces, never framing)."""
        if r.framing == "chunked":
            while True:
                line = self.bs.read_line()
                size = int(line[:-2].split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while self.bs.read_line() != b"\r\n":
                        pass
                    return
                left = size
                while left:
                    piece = self.bs.read_some(left)
                    left -= len(piece)
                    yield piece
                if self.bs.read_exact(2) != b"\r\n":
                    raise ValueError("chunk not followed by CRLF")
        elif r.framing == "content-length":
            left = int(r.header("content-length"))
            while left:
                piece = self.bs.read_some(left)
                left -= len(piece)
                yield piece
        elif r.framing == "close":
            while True:
                try:
                    piece = self.bs.read_some()
                except EOFError:
                    return
                yield piece

    def iter_sse(self, r):
        """Yield SSE events (bytes ending with the blank line) as soon as each
        one is complete on the socket."""
        buf = b""
        for piece in self.iter_body(r):
            buf += piece
            while True:
                i = buf.find(b"\n\n")
                if i < 0:
                    break
                ev, buf = buf[:i + 2], buf[i + 2:]
                yield ev
        if buf:
            yield buf

    def is_closed_by_peer(self, wait=1.0):
        """True if the server closed the connection (EOF/RST) within wait seconds."""
        old = self.sock.gettimeout()
        self.sock.settimeout(wait)
        try:
            if self.bs.buf:
                return False
            data = self.sock.recv(1)
            if data:
                self.bs.buf += data
                return False
            return True
        except socket.timeout:
            return False
        except (ConnectionResetError, OSError):
            return True
        finally:
            self.sock.settimeout(old)
