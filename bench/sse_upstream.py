#!/usr/bin/env python3
"""TLS stand-in for the upstream that nginx cannot play: paced and held SSE.

--mode paced: POST -> N events, INTERVAL ms apart, each carrying the send time
              (CLOCK_MONOTONIC, ns) in "t_send".  --nagle leaves Nagle on, as
              plain servers and corporate TLS proxies do (SSE_NAGLE=1 bench/run).  One thread per connection with
              blocking sockets: the timestamp is taken right before sendall(),
              so the server adds as little of its own delay as Python allows.
--mode hold:  POST -> the response head and one event at once, then a comment
              every 10 s until the client goes away (or --hold-max seconds pass).
              asyncio, so that it copes with 10,000 streams held open through a
              proxy.  The first event is followed by a --hold-pad byte SSE
              comment: the original proxy holds SSE in an 8 KiB buffer, and
              without the padding its first event would never arrive.

The request body may override the defaults with JSON keys "bench_events" and
"bench_interval_ms" (both proxies forward the body untouched).  Responses are
chunked, as OpenAI's are; keep-alive is supported; request bodies may come with
Content-Length or chunked framing (a proxy may choose either).

Writes its port to --port-file once listening.
"""
import argparse
import asyncio
import json
import os
import socket
import socketserver
import ssl
import sys
import threading
import time

EVENT_PAD = "x" * 80  # makes an event about the size of a real output_text.delta


async def read_head(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return method, path, headers


async def read_body(reader, headers):
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = bytearray()
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                # trailers until empty line
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return bytes(body)
            body += await reader.readexactly(size)
            await reader.readexactly(2)
    n = int(headers.get("content-length", "0") or 0)
    return await reader.readexactly(n) if n else b""


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


HEAD = (b"HTTP/1.1 200 OK\r\n"
        b"Content-Type: text/event-stream; charset=utf-8\r\n"
        b"Cache-Control: no-cache\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n")


def event(seq):
    payload = json.dumps({"type": "response.output_text.delta", "seq": seq,
                          "t_send": time.monotonic_ns(), "delta": EVENT_PAD},
                         separators=(",", ":"))
    return f"event: response.output_text.delta\ndata: {payload}\n\n".encode()


class Server:
    def __init__(self, args):
        self.args = args
        self.open_streams = 0

    async def handle(self, reader, writer):
        try:
            while True:
                try:
                    method, path, headers = await read_head(reader)
                except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
                    return
                await read_body(reader, headers)
                await self.hold(reader, writer)
                return
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, OSError):
            return
        finally:
            try:
                writer.close()
            except Exception:
                pass

    async def hold(self, reader, writer):
        self.open_streams += 1
        try:
            pad = (b":" + b"p" * self.args.hold_pad + b"\n\n") if self.args.hold_pad else b""
            writer.write(HEAD + chunk(event(0) + pad))
            await writer.drain()
            deadline = time.monotonic() + self.args.hold_max
            while time.monotonic() < deadline:
                try:
                    # returns early (EOF or error) when the peer goes away
                    data = await asyncio.wait_for(reader.read(1024), timeout=10)
                    if not data:
                        return
                except asyncio.TimeoutError:
                    writer.write(chunk(b": keep-alive\n\n"))
                    await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        finally:
            self.open_streams -= 1


class _Reader:
    """Just enough of asyncio.StreamReader over a blocking socket for read_head/read_body."""

    def __init__(self, sock):
        # bytearray: appending and trimming are amortised O(1), so a large
        # body (bench/dump_lag.py sends 32 MiB) is not copied per recv.
        self.sock, self.buf = sock, bytearray()

    def _fill(self):
        d = self.sock.recv(262144)
        if not d:
            raise ConnectionResetError("EOF")
        self.buf += d

    def readuntil(self, sep):
        while sep not in self.buf:
            self._fill()
        i = self.buf.index(sep) + len(sep)
        out = bytes(self.buf[:i])
        del self.buf[:i]
        return out

    def readexactly(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


def _sync(coro):
    """Run one of the async helpers above against a _Reader (never suspends)."""
    try:
        coro.send(None)
    except StopIteration as e:
        return e.value
    raise RuntimeError("helper suspended")


class _SyncReader(_Reader):
    async def readuntil(self, sep):  # noqa: D401 - awaitable façade
        return _Reader.readuntil(self, sep)

    async def readexactly(self, n):
        return _Reader.readexactly(self, n)


def serve_paced(args, ctx):
    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            sock = self.request
            # --nagle: like a plain server or a corporate TLS proxy that
            # leaves Nagle on; the head and each event are still separate
            # TLS records, so each event waits for the previous one's ACK.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0 if args.nagle else 1)
            try:
                tls = ctx.wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError):
                return
            rd = _SyncReader(tls)
            try:
                while True:
                    method, path, headers = _sync(read_head(rd))
                    body = _sync(read_body(rd, headers))
                    try:
                        opts = json.loads(body or b"{}")
                    except ValueError:
                        opts = {}
                    n = int(opts.get("bench_events", args.events))
                    interval = float(opts.get("bench_interval_ms", args.interval_ms)) / 1000.0
                    tls.sendall(HEAD)
                    start = time.monotonic()
                    for i in range(n):
                        if i:
                            delay = start + i * interval - time.monotonic()
                            if delay > 0:
                                time.sleep(delay)
                        tls.sendall(chunk(event(i)))
                    tls.sendall(chunk(b'event: response.completed\ndata: {"type":"response.completed"}\n\n')
                                + b"0\r\n\r\n")
                    if headers.get("connection", "").lower() == "close":
                        return
            except (ConnectionError, ssl.SSLError, OSError, ValueError):
                return
            finally:
                try:
                    tls.close()
                except OSError:
                    pass

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 1024

    srv = Server((args.host, args.port), Handler)
    write_port(args.port_file, srv.server_address[1])
    srv.serve_forever()


def write_port(path, port):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(port))
    os.rename(tmp, path)


def make_ctx(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(args.cert, args.key)
    return ctx


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--events", type=int, default=200)
    p.add_argument("--interval-ms", type=float, default=20.0)
    p.add_argument("--hold-max", type=float, default=600.0)
    p.add_argument("--hold-pad", type=int, default=9000)
    p.add_argument("--mode", choices=("paced", "hold"), required=True)
    p.add_argument("--nagle", action="store_true",
                   help="paced: leave Nagle's algorithm on (no TCP_NODELAY)")
    return p.parse_args()


async def main_hold(args):
    srv = Server(args)
    server = await asyncio.start_server(srv.handle, args.host, args.port, ssl=make_ctx(args),
                                        backlog=4096, ssl_handshake_timeout=60)
    write_port(args.port_file, server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    a = parse_args()
    try:
        if a.mode == "paced":
            serve_paced(a, make_ctx(a))
        else:
            asyncio.run(main_hold(a))
    except KeyboardInterrupt:
        sys.exit(0)
