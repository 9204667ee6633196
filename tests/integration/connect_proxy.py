"""A local HTTP CONNECT proxy for the tests (what a corporate egress proxy
does): optional Basic credentials (407 without them), or a fixed refusal,
then a byte pipe to the target. It records every CONNECT head and every byte
it relays from the proxy under test, so tests can check what it saw."""

import base64
import socket
import threading

from http_wire import BufferedSock, parse_head
from testenv import LOOPBACK


class ConnectProxy:
    def __init__(self, credentials=None, refuse=None):
        self.credentials = credentials  # (user, password) or None
        self.refuse = refuse            # e.g. (403, "Forbidden"): answer every CONNECT so
        self.heads = []                 # (request line, headers) of every CONNECT
        self.relayed = bytearray()      # bytes from the proxy under test, after CONNECT
        self.tunnels = 0                # tunnels opened
        self.errors = []
        self.lock = threading.Lock()
        self._socks = []
        self._stopped = False
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((LOOPBACK, 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.url = "http://%s:%d" % (LOOPBACK, self.port)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def stop(self):
        self._stopped = True
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._thread.join(5)
        self.lsock.close()
        with self.lock:
            for s in self._socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _accept(self):
        while not self._stopped:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                self._socks.append(s)
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    def _answer(self, s, status, reason, extra=""):
        s.sendall(("HTTP/1.1 %d %s\r\n%sContent-Length: 0\r\n\r\n" % (status, reason, extra))
                  .encode())

    def _serve(self, s):
        try:
            bs = BufferedSock(s)
            raw = bs.read_until(b"\r\n\r\n", limit=1 << 16)
            line, headers = parse_head(raw[:-4])
            with self.lock:
                self.heads.append((line, headers))
            method, target, _ = line.split(" ", 2)
            if self.refuse:
                self._answer(s, *self.refuse)
                return
            if method != "CONNECT":
                self._answer(s, 405, "Method Not Allowed")
                return
            if self.credentials:
                want = "Basic " + base64.b64encode(
                    ("%s:%s" % self.credentials).encode()).decode()
                got = [v for k, v in headers if k.lower() == "proxy-authorization"]
                if got != [want]:
                    self._answer(s, 407, "Proxy Authentication Required",
                                 'Proxy-Authenticate: Basic realm="test"\r\n')
                    return
            host, port = target.rsplit(":", 1)
            try:
                up = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
            except OSError:
                self._answer(s, 502, "Bad Gateway")
                return
            with self.lock:
                self.tunnels += 1
                self._socks.append(up)
            s.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            leftover = bs.buf
            if leftover:
                up.sendall(leftover)
                with self.lock:
                    self.relayed += leftover
            t = threading.Thread(target=self._pipe, args=(up, s, False), daemon=True)
            t.start()
            self._pipe(s, up, True)
            t.join(5)
            up.close()
        except (OSError, ValueError, EOFError) as e:
            if not self._stopped:
                with self.lock:
                    self.errors.append(repr(e))
        finally:
            s.close()

    def _pipe(self, src, dst, record):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if record:
                    with self.lock:
                        self.relayed += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
