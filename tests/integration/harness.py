"""Black-box test harness for codex-responses-api-proxy (Python 3 stdlib only).

Pieces:
  make_pki(tmpdir)  throwaway CAs and server certificates made with the openssl CLI
  Upstream          a TLS (or plain) stand-in for api.openai.com on 127.0.0.1:0
  Proxy             runs PROXY_BIN with a fake key on stdin, waits for --server-info
  Client            a raw HTTP/1.1 client over a socket (exact bytes in, exact bytes out)
  main()            runs the unittest cases of the calling module and prints
                    "N passed, N failed[, N skipped]"; exit 77 when there is no binary.

Everything listens on and connects to 127.0.0.1 only. Keys are fake.
"""

import atexit
import faulthandler
import json
import os
import random
import re
import shlex
import shutil
import signal
import socket
import ssl
import string
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

LOOPBACK = "127.0.0.1"
DEFAULT_TIMEOUT = 10.0

# ---------------------------------------------------------------------------
# Environment


def proxy_bin():
    """Path of the binary under test, or None when it is not available."""
    path = os.environ.get("PROXY_BIN")
    if not path:
        return None
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        return None
    return path


def fake_key(n=40):
    alphabet = string.ascii_letters + string.digits
    return "sk-test-" + "".join(random.choice(alphabet) for _ in range(n))


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((LOOPBACK, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def closed_port():
    """A port on 127.0.0.1 that (very probably) refuses connections."""
    return free_port()


# ---------------------------------------------------------------------------
# PKI


def _openssl(*args, cwd=None):
    r = subprocess.run(["openssl", *args], cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(args), r.stderr.decode(errors="replace")))


def _make_ca(d, name):
    key = os.path.join(d, name + ".key")
    pem = os.path.join(d, name + ".pem")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", pem, "-days", "3", "-subj", "/CN=%s" % name,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-addext", "subjectKeyIdentifier=hash")
    return key, pem


def _make_leaf(d, name, ca_key, ca_pem, san):
    key = os.path.join(d, name + ".key")
    csr = os.path.join(d, name + ".csr")
    pem = os.path.join(d, name + ".pem")
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\n" % san)
        f.write("basicConstraints=critical,CA:FALSE\n")
        f.write("keyUsage=critical,digitalSignature\n")
        f.write("extendedKeyUsage=serverAuth\n")
        f.write("subjectKeyIdentifier=hash\n")
        f.write("authorityKeyIdentifier=keyid,issuer\n")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", csr, "-subj", "/CN=%s" % name)
    _openssl("x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key,
             "-set_serial", str(random.randint(1, 2**62)), "-days", "2",
             "-extfile", ext, "-out", pem)
    return (pem, key)


def make_pki(tmpdir):
    """Create certificates in tmpdir. Returns a dict:
      ca                 CA file the proxy trusts (--upstream-ca-file)
      good               (cert, key) for IP 127.0.0.1 and DNS localhost, signed by ca
      ip_only            (cert, key) for IP 127.0.0.1 only, signed by ca
      wrong_name         (cert, key) for DNS wrong-name.invalid only, signed by ca
      untrusted_ca       a second CA the proxy does not trust
      untrusted          (cert, key) for 127.0.0.1/localhost signed by untrusted_ca
    """
    os.makedirs(tmpdir, exist_ok=True)
    ca_key, ca_pem = _make_ca(tmpdir, "test-ca")
    uca_key, uca_pem = _make_ca(tmpdir, "untrusted-ca")
    return {
        "ca": ca_pem,
        "good": _make_leaf(tmpdir, "good", ca_key, ca_pem, "IP:127.0.0.1,DNS:localhost"),
        "ip_only": _make_leaf(tmpdir, "ip-only", ca_key, ca_pem, "IP:127.0.0.1"),
        "wrong_name": _make_leaf(tmpdir, "wrong-name", ca_key, ca_pem, "DNS:wrong-name.invalid"),
        "untrusted_ca": uca_pem,
        "untrusted": _make_leaf(tmpdir, "untrusted", uca_key, uca_pem, "IP:127.0.0.1,DNS:localhost"),
    }


_PKI = None
_PKI_LOCK = threading.Lock()


def shared_pki():
    """One PKI per test process (made on first use, removed at exit)."""
    global _PKI
    with _PKI_LOCK:
        if _PKI is None:
            d = tempfile.mkdtemp(prefix="proxy-it-pki-")
            atexit.register(shutil.rmtree, d, True)
            _PKI = make_pki(d)
        return _PKI


# ---------------------------------------------------------------------------
# Buffered socket reading (shared by the stand-in server and the client)


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
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
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


# ---------------------------------------------------------------------------
# Upstream stand-in


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


# ---------------------------------------------------------------------------
# Proxy process

CRASH_PATTERNS = re.compile(
    r"SIGSYS|SIGSEGV|SIGABRT|SIGBUS|killed by signal|AddressSanitizer|LeakSanitizer|"
    r"runtime error:|core dumped|stack smashing", re.I)
# A worker killed by the parent for breaking the IPC protocol: a bug when
# only well-behaved clients and a real worker are involved. Tests that
# provoke such events on purpose set ProxyTestCase.allow_security_events.
SECURITY_EVENT = re.compile(r"SECURITY")


def _die_with_parent():
    """preexec_fn: the proxy gets SIGKILL if the test process dies (for
    instance on the overall timeout), so no proxy outlives its test."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001
        pass


class ProxyStartError(AssertionError):
    pass


class Proxy:
    """Runs the proxy binary with a fake key.

    upstream_url defaults to the Upstream's URL; ca_file to the test CA.
    key_input (bytes) overrides what is written to stdin (default key + "\\n").
    """

    def __init__(self, upstream=None, upstream_url=None, ca_file=None, extra_args=(),
                 key=None, key_input=None, server_info=True, pki=None, start=True,
                 wait_info=True):
        self.bin = proxy_bin()
        if not self.bin:
            raise unittest.SkipTest("PROXY_BIN not set or not executable")
        self.pki = pki or shared_pki()
        self.key = key or fake_key()
        self.key_input = key_input if key_input is not None else (self.key + "\n").encode()
        self.upstream = upstream
        self.upstream_url = upstream_url or (upstream.url if upstream else None)
        self.ca_file = ca_file or self.pki["ca"]
        self.dir = tempfile.mkdtemp(prefix="proxy-it-")
        self.info_path = os.path.join(self.dir, "info.json") if server_info else None
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        self.stdout_path = os.path.join(self.dir, "stdout.log")
        self.args = [self.bin]
        if self.upstream_url:
            self.args += ["--upstream-url", self.upstream_url]
        if self.ca_file:
            self.args += ["--upstream-ca-file", self.ca_file]
        if self.info_path:
            self.args += ["--server-info", self.info_path]
        self.args += list(extra_args)
        self.args += shlex.split(os.environ.get("PROXY_TEST_EXTRA_ARGS", ""))
        self.proc = None
        self.port = None
        self.pid = None
        self.info_raw = None
        self.returncode = None
        self.killed = False
        if start:
            self.start(wait_info=wait_info)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()

    def start(self, wait_info=True):
        self._err = open(self.stderr_path, "wb")
        self._out = open(self.stdout_path, "wb")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=self._out,
                                     stderr=self._err, cwd=self.dir,
                                     preexec_fn=_die_with_parent)
        try:
            self.proc.stdin.write(self.key_input)
        except BrokenPipeError:
            pass
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        if wait_info and self.info_path:
            self.wait_info()

    def wait_info(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(self.info_path):
                with open(self.info_path, "rb") as f:
                    raw = f.read()
                if raw.endswith(b"\n"):
                    self.info_raw = raw
                    info = json.loads(raw)
                    self.port = info["port"]
                    self.pid = info.get("pid")
                    return info
            rc = self.proc.poll()
            if rc is not None:
                self.returncode = rc
                raise ProxyStartError("proxy exited with %s before writing server info; stderr:\n%s"
                                      % (rc, self.stderr_tail()))
            time.sleep(0.02)
        self.stop()
        raise ProxyStartError("proxy wrote no server info within %.0f s; stderr:\n%s"
                              % (timeout, self.stderr_tail()))

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stderr_tail(self, limit=3000):
        """stderr for failure messages: runs of identical lines collapsed, last
        `limit` characters only."""
        out = []
        prev, count = None, 0
        for line in self.stderr().splitlines() + [None]:
            if line == prev:
                count += 1
                continue
            if prev is not None:
                out.append(prev if count == 1 else "%s   [x%d]" % (prev, count))
            prev, count = line, 1
        text = "\n".join(out)
        return text if len(text) <= limit else "...\n" + text[-limit:]

    def stdout(self):
        try:
            with open(self.stdout_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout):
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self, term_timeout=5.0):
        """SIGTERM, then SIGKILL after term_timeout. Returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(term_timeout)
            except subprocess.TimeoutExpired:
                self.killed = True
                self.proc.kill()
                self.proc.wait(5)
        self.returncode = self.proc.returncode
        for f in (self._err, self._out):
            try:
                f.close()
            except Exception:  # noqa: BLE001
                pass
        return self.returncode

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def check_secret_not_logged(self, tc):
        """The key (and its random part) must appear in neither stderr nor stdout."""
        secret = self.key[len("sk-test-"):] if self.key.startswith("sk-test-") else self.key
        for what, text in (("stderr", self.stderr()), ("stdout", self.stdout())):
            tc.assertNotIn(self.key, text, "API key leaked on proxy %s" % what)
            if len(secret) >= 12:
                tc.assertNotIn(secret[:12], text, "API key fragment leaked on proxy %s" % what)

    def check_clean(self, tc, expect_status=0, allow_security_events=False):
        """After stop(): exited by itself on SIGTERM with expect_status, no crash
        signs in the log, and no key in the log."""
        err = self.stderr_tail()
        tc.assertFalse(self.killed, "proxy ignored SIGTERM for 5 s and had to be killed; stderr:\n" + err)
        tc.assertIsNotNone(self.returncode)
        tc.assertGreaterEqual(self.returncode, 0, "proxy died of signal %s; stderr:\n%s"
                              % (-self.returncode if self.returncode else None, err))
        if expect_status is not None:
            tc.assertEqual(self.returncode, expect_status, "proxy exit status; stderr:\n" + err)
        m = CRASH_PATTERNS.search(self.stderr())
        tc.assertIsNone(m, "crash sign in proxy stderr: %r\n%s" % (m and m.group(0), err))
        if not allow_security_events:
            lines = [l for l in self.stderr().splitlines() if SECURITY_EVENT.search(l)]
            tc.assertEqual(lines, [], "security event logged by the proxy:\n%s" % err)
        self.check_secret_not_logged(tc)


class ProxyTestCase(unittest.TestCase):
    """Base class: self.upstream / self.proxy made by start(); torn down with
    the crash and key-leak checks."""

    upstream = None
    proxy = None
    allow_security_events = False

    def start(self, handler=None, upstream_kw=None, **proxy_kw):
        if self.upstream is None and proxy_kw.get("upstream_url") is None:
            self.upstream = Upstream(handler=handler, **(upstream_kw or {}))
        self.proxy = Proxy(upstream=self.upstream, **proxy_kw)
        return self.proxy

    def client(self, **kw):
        c = Client(self.proxy.port, **kw)
        self._clients.append(c)
        return c

    def setUp(self):
        self._clients = []
        self.upstream = None
        self.proxy = None

    def tearDown(self):
        for c in self._clients:
            c.close()
        try:
            if self.proxy is not None:
                self.proxy.stop()
                self.proxy.check_clean(self, allow_security_events=self.allow_security_events)
        finally:
            if self.upstream is not None:
                self.upstream.stop()
                errors = list(self.upstream.errors)
            else:
                errors = []
            if self.proxy is not None:
                self.proxy.cleanup()
        self.assertEqual(errors, [], "exceptions in the upstream stand-in's handler")


# ---------------------------------------------------------------------------
# Raw HTTP/1.1 client


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


def codex_headers(session_id=None):
    """Headers the Codex CLI sends to /v1/responses (lower-case, as reqwest does)."""
    sid = session_id or "0199a1b2-c3d4-7e5f-8a9b-%012x" % random.getrandbits(48)
    meta = json.dumps({"turn_id": "t-%d" % random.randint(1, 10**6), "sandbox": "workspace-write"},
                      separators=(",", ":"))
    return [
        ("content-type", "application/json"),
        ("accept", "text/event-stream"),
        ("session-id", sid),
        ("x-codex-turn-metadata", meta),
        ("originator", "codex_cli_rs"),
        ("user-agent", "codex_cli_rs/0.169.0 (Debian 12.0.0; x86_64) xterm-256color (codex-exec; 0.169.0)"),
    ]


def error_body_ok(tc, resp, code=None):
    """Check an OpenAI-shaped JSON error body; returns the error object."""
    try:
        obj = json.loads(resp.body)
    except ValueError:
        tc.fail("error body is not JSON: %r (status %s)" % (resp.body[:200], resp.status))
    tc.assertIsInstance(obj, dict, resp.body)
    tc.assertIn("error", obj, resp.body)
    err = obj["error"]
    tc.assertIsInstance(err, dict, resp.body)
    for k in ("message", "type", "code"):
        tc.assertIn(k, err, "error object lacks %r: %r" % (k, resp.body))
    tc.assertIsInstance(err["message"], str)
    tc.assertTrue(err["message"], "empty error message")
    if code is not None:
        tc.assertEqual(err["code"], code, resp.body)
    return err


# ---------------------------------------------------------------------------
# Runner



def expect_refusal(tc, c, statuses, code=None, what=""):
    """Read one answer; check status, the JSON error body and its type, the
    content type, and that the proxy closes the connection."""
    if isinstance(statuses, int):
        statuses = (statuses,)
    try:
        r = c.read_response()
    except (EOFError, ConnectionResetError, socket.timeout) as e:
        tc.fail("%s: no answer (%r), wanted %s" % (what, e, statuses))
    tc.assertIn(r.status, statuses, "%s: %r" % (what, r))
    err = error_body_ok(tc, r, code=code)
    want_type = "server_error" if r.status >= 500 else "invalid_request_error"
    tc.assertEqual(err["type"], want_type, "%s: %r" % (what, r.body))
    ctype = r.header("content-type") or ""
    tc.assertTrue(ctype.startswith("application/json"), "%s: content-type %r" % (what, ctype))
    tc.assertTrue(c.is_closed_by_peer(3.0), "%s: connection left open after a %d refusal"
                  % (what, r.status))
    return r, err


def check_forwarded(tc, req, proxy, upstream):
    """What the upstream got is canonical: POST to the configured path, one
    Authorization (the proxy's key), the upstream's Host, exactly one framing."""
    tc.assertEqual(req.method, "POST")
    tc.assertEqual(req.target, "/v1/responses")
    tc.assertEqual(req.header_all("authorization"), ["Bearer " + proxy.key])
    tc.assertEqual(req.header_all("host"), ["127.0.0.1:%d" % upstream.port])
    cl = req.header_all("content-length")
    te = req.header_all("transfer-encoding")
    tc.assertEqual(len(cl) + len(te), 1, "framing upstream: CL=%r TE=%r" % (cl, te))
    if te:
        tc.assertEqual([v.lower() for v in te], ["chunked"])


def main(overall_timeout=240):
    """Run the unittest cases of __main__ and print "N passed, N failed"."""
    mod = sys.modules["__main__"]
    suite = unittest.defaultTestLoader.loadTestsFromModule(mod)
    if not proxy_bin():
        n = suite.countTestCases()
        print("PROXY_BIN not set or not executable (%r): skipping" % os.environ.get("PROXY_BIN"))
        print("0 passed, 0 failed, %d skipped" % n)
        sys.exit(77)
    faulthandler.dump_traceback_later(overall_timeout, exit=True)
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2)
    result = runner.run(suite)
    faulthandler.cancel_dump_traceback_later()
    # a test can fail in its body and again in tearDown: count tests, not reports
    def tid(t):  # a subTest reports as its own object; count its parent test
        return getattr(t, "test_case", t).id()
    failed_ids = {tid(t) for t, _ in result.failures + result.errors}
    failed_ids |= {tid(t) for t in result.unexpectedSuccesses}
    skipped_ids = {tid(t) for t, _ in result.skipped} - failed_ids
    failed = len(failed_ids)
    skipped = len(skipped_ids)
    passed = max(0, result.testsRun - failed - skipped)
    line = "%d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    print(line)
    sys.stdout.flush()
    sys.exit(1 if failed else 0)
