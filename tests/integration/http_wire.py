"""HTTP/1.1 bytes on a socket, shared by the upstream stand-in, the raw client
and fake_proxy.py: buffered reads, heads, chunked bodies, whole responses."""

import ssl


class BufferedSock:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed by peer")
        self.buf += data

    def read_until(self, marker, limit=1 << 20):
        while True:
            i = self.buf.find(marker)
            if i >= 0:
                out, self.buf = self.buf[:i + len(marker)], self.buf[i + len(marker):]
                return out
            if len(self.buf) > limit:
                raise ValueError("no %r within %d bytes" % (marker, limit))
            self._fill()

    def read_line(self):
        return self.read_until(b"\r\n")

    def read_exact(self, n):
        # Pieces joined once: appending to bytes would copy a 24 MiB body
        # hundreds of times (test_dump_dir's concurrent large dump).
        parts, have = [self.buf], len(self.buf)
        while have < n:
            data = self.sock.recv(min(max(n - have, 65536), 1 << 20))
            if not data:
                self.buf = b"".join(parts)
                raise EOFError("connection closed by peer")
            parts.append(data)
            have += len(data)
        joined = b"".join(parts) if len(parts) > 1 else parts[0]
        out, self.buf = joined[:n], joined[n:]
        return out

    def read_some(self, max_n=65536):
        """Whatever is buffered, else one recv. Raises EOFError on close."""
        if not self.buf:
            self._fill()
        out, self.buf = self.buf[:max_n], self.buf[max_n:]
        return out

    def read_to_eof(self):
        out = self.buf
        self.buf = b""
        while True:
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                break
            if not data:
                break
            out += data
        return out


def parse_head(raw):
    """Split a raw head into (start line parts, [(name, value)]). Values have
    surrounding whitespace stripped; names are kept as sent."""
    lines = raw.split(b"\r\n")
    start = lines[0].decode("latin-1")
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            raise ValueError("bad header line %r" % line)
        headers.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))
    return start, headers


def header_all(headers, name):
    n = name.lower()
    return [v for (k, v) in headers if k.lower() == n]


def header_one(headers, name):
    vals = header_all(headers, name)
    return vals[0] if vals else None


def read_chunked(bs, on_data=None):
    """Read a chunked body from BufferedSock. Returns (body, raw, chunk_sizes, trailers)."""
    body = b""
    raw = b""
    sizes = []
    while True:
        line = bs.read_line()
        raw += line
        size_txt = line[:-2].split(b";", 1)[0].strip()
        size = int(size_txt, 16)
        sizes.append(size)
        if size == 0:
            break
        data = bs.read_exact(size)
        raw += data
        crlf = bs.read_exact(2)
        raw += crlf
        if crlf != b"\r\n":
            raise ValueError("chunk not followed by CRLF")
        body += data
        if on_data:
            on_data(data)
    trailers = []
    while True:
        line = bs.read_line()
        raw += line
        if line == b"\r\n":
            break
        trailers.append(line[:-2])
    return body, raw, sizes, trailers


def build_response(status, headers=(), body=b"", reason=None, chunked=False,
                   content_length=True, chunk_size=None):
    """Bytes of a whole HTTP/1.1 response. headers: list of (name, value)."""
    if isinstance(body, str):
        body = body.encode()
    reason = reason if reason is not None else REASONS.get(status, "Status")
    out = ["HTTP/1.1 %d %s\r\n" % (status, reason)]
    for k, v in headers:
        out.append("%s: %s\r\n" % (k, v))
    if chunked:
        out.append("Transfer-Encoding: chunked\r\n")
    elif content_length:
        out.append("Content-Length: %d\r\n" % len(body))
    out.append("\r\n")
    head = "".join(out).encode("latin-1")
    if not chunked:
        return head + body
    parts = []
    step = chunk_size or max(1, len(body))
    for i in range(0, len(body), step):
        piece = body[i:i + step]
        parts.append(b"%x\r\n%s\r\n" % (len(piece), piece))
    parts.append(b"0\r\n\r\n")
    return head + b"".join(parts)


REASONS = {200: "OK", 201: "Created", 204: "No Content", 301: "Moved Permanently",
           302: "Found", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
           404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error",
           502: "Bad Gateway", 503: "Service Unavailable"}


def chunk(data):
    if isinstance(data, str):
        data = data.encode()
    return b"%x\r\n%s\r\n" % (len(data), data)
