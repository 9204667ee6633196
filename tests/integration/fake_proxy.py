#!/usr/bin/env python3
"""A tiny Python stand-in for the proxy binary, used only to check that the
integration tests themselves are right (PROXY_BIN=.../fake_proxy.py). It has
none of the real proxy's hardening and is not used by ctest."""

import json
import os
import signal
import socket
import ssl
import sys
import threading
import time
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BufferedSock, parse_head, header_all, read_chunked, chunk  # noqa: E402

BUGS = set(os.environ.get("FAKE_PROXY_BUGS", "").split(","))
HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
       "upgrade", "proxy-authorization", "proxy-authenticate"}
FLAGS_WITH_VALUE = {"--port", "--server-info", "--upstream-url", "--dump-dir", "--upstream-ca-file"}
BOOL_FLAGS = {"--http-shutdown", "--allow-insecure-upstream"}


def die(msg, code):
    sys.stderr.write("codex-responses-api-proxy: %s\n" % msg)
    sys.exit(code)


def parse_args(argv):
    o = {"--upstream-url": "https://api.openai.com/v1/responses"}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            print("usage: codex-responses-api-proxy [--port N] [--server-info FILE] [--http-shutdown]"
                  " [--upstream-url URL] [--dump-dir DIR] [--upstream-ca-file FILE]")
            sys.exit(0)
        if a in ("-V", "--version"):
            print("codex-responses-api-proxy 0.1.0")
            sys.exit(0)
        if a in BOOL_FLAGS:
            o[a] = True
        elif a in FLAGS_WITH_VALUE:
            if i + 1 >= len(argv):
                die("%s needs a value" % a, 2)
            o[a] = argv[i + 1]
            i += 1
        else:
            die("unknown option %s" % a, 2)
        i += 1
    if "--port" in o:
        p = o["--port"]
        if not p.isdigit() or int(p) > 65535:
            die("bad port", 2)
    u = urlsplit(o["--upstream-url"])
    if u.scheme not in ("https", "http") or not u.hostname:
        die("bad --upstream-url", 2)
    try:
        port = u.port or (443 if u.scheme == "https" else 80)
    except ValueError:
        die("bad --upstream-url port", 2)
    if u.scheme == "http" and not o.get("--allow-insecure-upstream"):
        die("http upstream needs --allow-insecure-upstream", 2)
    o["up"] = (u.scheme == "https", u.hostname, port, u.netloc,
               (u.path or "/") + ("?" + u.query if u.query else ""))
    return o


def read_key():
    buf = b""
    while len(buf) < 1017:
        d = os.read(0, 1017 - len(buf))
        if not d:
            break
        buf += d
        if b"\n" in buf:
            buf = buf[:buf.index(b"\n") + 1]
            break
    else:
        if b"\n" not in buf:
            die("API key is too large to fit in the 1024-byte buffer", 4)
    key = buf.rstrip(b"\r\n")
    if not key:
        die("API key must be provided via stdin (e.g. printenv OPENAI_API_KEY | codex responses-api-proxy)", 3)
    if not all(c in b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_" for c in key):
        die("API key may only contain ASCII letters, numbers, '-' or '_'", 5)
    return key.decode()


def err_body(message, code, typ="invalid_request_error"):
    return json.dumps({"error": {"message": message, "type": typ, "code": code}}).encode()


class Fake:
    def __init__(self, o, key):
        self.o = o
        self.key = key
        self.pool = []
        self.lock = threading.Lock()
        self.seq = 0
        self.ctx = None
        if o["up"][0]:
            self.ctx = ssl.create_default_context(cafile=o.get("--upstream-ca-file"))
        if o.get("--dump-dir"):
            os.makedirs(o["--dump-dir"], exist_ok=True)

    def answer(self, cs, status, body, extra=()):
        head = "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % (status, len(body))
        for k, v in extra:
            head += "%s: %s\r\n" % (k, v)
        cs.sendall(head.encode() + b"\r\n" + body)

    def serve(self, cs):
        bs = BufferedSock(cs)
        try:
            while True:
                raw = bs.read_until(b"\r\n\r\n")
                start, headers = parse_head(raw[:-4])
                method, target, _ = start.split(" ")
                body = b""
                if header_all(headers, "transfer-encoding"):
                    body = read_chunked(bs)[0]
                elif header_all(headers, "content-length"):
                    body = bs.read_exact(int(header_all(headers, "content-length")[0]))
                if self.o.get("--http-shutdown") and method == "GET" and target == "/shutdown":
                    self.answer(cs, 200, b"")
                    os._exit(0)
                if method != "POST" or target != "/v1/responses":
                    self.answer(cs, 403, err_body("only POST /v1/responses is allowed", "forbidden"))
                    continue
                self.forward(cs, headers, body)
        except (EOFError, OSError, ValueError):
            pass
        finally:
            cs.close()

    def upstream(self):
        with self.lock:
            if self.pool and "nopool" not in BUGS:
                return self.pool.pop()
        tls, host, port, _, _ = self.o["up"]
        s = socket.create_connection((host, port), timeout=30)
        if tls:
            s = self.ctx.wrap_socket(s, server_hostname=host)
        return s

    def forward(self, cs, headers, body):
        tls, host, port, netloc, path = self.o["up"]
        conn_tokens = {t.strip().lower() for v in header_all(headers, "connection") for t in v.split(",")}
        fwd = [(k, v) for k, v in headers if k.lower() not in HOP | conn_tokens |
               {"host", "authorization", "content-length"}]
        if "hop" in BUGS:
            fwd = [(k, v) for k, v in headers if k.lower() not in {"host", "content-length"}]
        if "auth" in BUGS:
            fwd += [(k, v) for k, v in headers if k.lower() == "authorization"]
        dump = None
        if self.o.get("--dump-dir"):
            with self.lock:
                self.seq += 1
                seq = self.seq
            prefix = "%06d-%d" % (seq, int(time.time() * 1000))
            d = self.o["--dump-dir"]
            dh = [{"name": k, "value": "[REDACTED]" if k.lower() == "authorization" else v}
                  for k, v in headers]
            with open(os.path.join(d, prefix + "-request.json"), "w") as f:
                json.dump({"method": "POST", "url": "/v1/responses", "headers": dh,
                           "body": dump_body(body)}, f, indent=2)
            dump = os.path.join(d, prefix + "-response.json")
        head = "POST %s HTTP/1.1\r\nHost: %s\r\n" % (path, netloc)
        for k, v in fwd:
            head += "%s: %s\r\n" % (k, v)
        head += "Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n" % (self.key, len(body))
        try:
            us = self.upstream()
        except ssl.SSLError as e:
            sys.stderr.write("upstream TLS error: %s\n" % e.__class__.__name__)
            return self.answer(cs, 502, err_body("TLS handshake failed", "upstream_tls_error", "server_error"))
        except OSError as e:
            sys.stderr.write("upstream unreachable: %s\n" % e.strerror)
            return self.answer(cs, 502, err_body("cannot connect", "upstream_unreachable", "server_error"))
        try:
            us.sendall(head.encode("latin-1") + body)
            ubs = BufferedSock(us)
            rraw = ubs.read_until(b"\r\n\r\n")
            rstart, rh = parse_head(rraw[:-4])
            status = int(rstart.split(" ")[1])
        except Exception:  # noqa: BLE001
            us.close()
            return self.answer(cs, 502, err_body("bad upstream answer", "upstream_protocol_error", "server_error"))
        ctoks = {t.strip().lower() for v in header_all(rh, "connection") for t in v.split(",")}
        out = "HTTP/1.1 %d X\r\n" % status
        for k, v in rh:
            if k.lower() not in HOP | ctoks | {"content-length"}:
                out += "%s: %s\r\n" % (k, v)
        out += "Transfer-Encoding: chunked\r\n\r\n"
        cs.sendall(out.encode("latin-1"))
        got = b""
        reuse = True
        try:
            if header_all(rh, "transfer-encoding"):
                if "buffer" in BUGS:
                    got = read_chunked(ubs)[0]
                    cs.sendall(chunk(got))
                else:
                    got = read_chunked(ubs, on_data=lambda d: (cs.sendall(chunk(d)), None))[0]
            elif header_all(rh, "content-length"):
                left = int(header_all(rh, "content-length")[0])
                while left:
                    piece = ubs.read_some(left)
                    left -= len(piece)
                    got += piece
                    cs.sendall(chunk(piece))
            else:
                reuse = False
                while True:
                    try:
                        piece = ubs.read_some()
                    except EOFError:
                        break
                    got += piece
                    cs.sendall(chunk(piece))
        except (EOFError, OSError):
            us.close()
            cs.close()
            raise
        cs.sendall(b"0\r\n\r\n")
        if reuse:
            with self.lock:
                self.pool.append(us)
        else:
            us.close()
        if dump:
            with open(dump, "w") as f:
                json.dump({"status": status, "headers": [{"name": k, "value": v} for k, v in rh],
                           "body": dump_body(got or b"")}, f, indent=2)


def dump_body(b):
    try:
        return json.loads(b)
    except ValueError:
        return b.decode("utf-8", "replace")


def main():
    o = parse_args(sys.argv[1:])
    key = read_key()
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    ls = socket.socket()
    try:
        ls.bind(("127.0.0.1", int(o.get("--port", 0))))
    except OSError as e:
        die("cannot listen: %s" % e.strerror, 7)
    ls.listen(64)
    fake = Fake(o, key)
    if o.get("--server-info"):
        tmp = o["--server-info"] + ".tmp"
        with open(tmp, "w") as f:
            f.write(json.dumps({"port": ls.getsockname()[1], "pid": os.getpid()}, separators=(",", ":")) + "\n")
        os.rename(tmp, o["--server-info"])
    while True:
        cs, _ = ls.accept()
        threading.Thread(target=fake.serve, args=(cs,), daemon=True).start()


if __name__ == "__main__":
    main()
