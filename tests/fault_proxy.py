"""A fault-injecting TCP proxy in front of an HTTP/1.1 server on this machine, for tests.

For a seeded fraction of connections the proxy spoils the connection's first response:

- `cut`: closes the connection after some of the response's bytes (head or body);
- `reset`: relays the request, then answers a TCP reset instead of any byte;
- `truncate`: sends the complete head, then less body than its Content-Length says, and closes;
- `garbage`: sends the status line and unparsable header lines (no colon, control bytes, too many), and closes.

Every other response is relayed byte for byte. Unless `keep_alive`, each response is sent with
`Connection: close`, so a client opens one connection per request and the rates are per
request. Which connection gets which fault depends only on the seed and the connection's
number (in order of arrival). Listens on 127.0.0.1 only and forwards only to loopback.

    python -m tests.fault_proxy --listen-port 0 --target http://127.0.0.1:8000 --cut-rate 0.03 --seed 1

In a test, as a fixture (the proxy serves from a thread of its own), or with `async with
FaultProxy(...) as proxy:` inside a running event loop:

    @pytest.fixture
    def flaky_url(server_url):
        with FaultProxy(server_url, cut_rate=0.03, seed=1).running() as proxy:
            yield proxy.url

`exchanges()` tells, per connection, what was done and to which request line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import itertools
import random
import signal
import socket
import struct
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

FAULTS = ("cut", "reset", "truncate", "garbage")
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024
# Lines without a colon, with control bytes, and more than http.client's 100: no client parses them
# (h11 stops at the first line; http.client, lenient about the lines, at their number).
GARBAGE_HEADERS = b"Content-Type application/json\r\n" + b"".join(
    b"\x01\x02 garbage line %d \xff\r\n" % number for number in range(101)) + b"\r\n"


@dataclass(frozen=True)
class Response:
    """One response as read from the server, framing kept."""

    interim: bytes  # any 1xx heads before it
    head: bytes
    body: bytes  # as framed on the wire (chunks included)
    has_body: bool

    def whole(self) -> bytes:
        return self.interim + self.head + self.body


@dataclass(frozen=True)
class Exchange:
    """What the proxy did with one connection's first response."""

    connection: int
    outcome: str  # "relayed" or one of FAULTS
    request_line: str


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def loopback_target(target: str) -> tuple[str, int]:
    """(host, port) of `http://HOST:PORT`, refusing anything but a loopback server."""
    parts = urlsplit(target)
    if parts.scheme != "http" or parts.hostname is None or parts.path not in ("", "/") or parts.query:
        raise ValueError(f"target must be http://HOST:PORT with no path, got {target!r}")
    host = parts.hostname
    if not is_loopback(host):
        raise ValueError(f"target must be a loopback address (127.0.0.1, ::1, localhost), got {host!r}")
    return host, parts.port or 80


class FaultProxy:
    """The proxy; start it with `running()` (a thread) or `async with` (the current loop)."""

    def __init__(
        self, target: str, *, cut_rate: float = 0.0, reset_rate: float = 0.0, truncate_rate: float = 0.0,
        garbage_rate: float = 0.0, seed: int = 0, port: int = 0, keep_alive: bool = False,
        idle_timeout: float = 30.0, max_connections: int = 128,
    ) -> None:
        self.target_host, self.target_port = loopback_target(target)
        self.rates = dict(zip(FAULTS, (cut_rate, reset_rate, truncate_rate, garbage_rate)))
        if any(not 0.0 <= rate <= 1.0 for rate in self.rates.values()) or sum(self.rates.values()) > 1.0:
            raise ValueError(f"fault rates must lie in 0..1 and add up to at most 1, got {self.rates}")
        self.seed, self.requested_port, self.keep_alive = seed, port, keep_alive
        self.idle_timeout, self.max_connections = idle_timeout, max_connections
        self.port = 0
        self._numbers = itertools.count()
        self._exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._slots: asyncio.Semaphore | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def exchanges(self) -> list[Exchange]:
        with self._lock:
            return list(self._exchanges)

    def counts(self) -> Counter[str]:
        return Counter(exchange.outcome for exchange in self.exchanges())

    def fault_for(self, connection: int) -> str | None:
        """The fault planned for the connection numbered `connection` (0 is the first)."""
        draw = random.Random(f"{self.seed}:{connection}").random()
        for fault, rate in self.rates.items():
            if draw < rate:
                return fault
            draw -= rate
        return None

    async def start(self) -> None:
        self._slots = asyncio.Semaphore(self.max_connections)
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.requested_port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def __aenter__(self) -> FaultProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @contextlib.contextmanager
    def running(self) -> Iterator[FaultProxy]:
        """Serves from an event loop of its own in a daemon thread while the block runs."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="fault-proxy", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.start(), loop).result(timeout=10)
            yield self
        finally:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None and self._slots is not None
        self._handlers.add(task)
        number = next(self._numbers)
        try:
            async with self._slots:
                await self._serve(number, reader, writer)
        except asyncio.CancelledError:
            pass  # stop() ends every connection; the task ends quietly instead of logging its cancellation
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError, IndexError):
            pass  # a peer went away, fell silent, or sent what is not HTTP: nothing more to relay
        finally:
            self._handlers.discard(task)
            writer.transport.abort()

    async def _serve(self, number: int, client: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        upstream, upstream_writer = await asyncio.wait_for(
            asyncio.open_connection(self.target_host, self.target_port, limit=MAX_HEAD_BYTES), self.idle_timeout
        )
        first_line: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        pump = asyncio.create_task(self._pump_requests(client, upstream_writer, first_line))
        try:
            response = await self._read_response(upstream, first_line)
            request_line = first_line.result().decode("latin-1") if first_line.done() else ""
            fault = self.fault_for(number)
            with self._lock:
                self._exchanges.append(Exchange(number, fault or "relayed", request_line))
            if fault == "reset":  # closing with a zero linger time sends RST
                sock = client_writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            client_writer.write(self._spoiled(fault, number, response))
            await asyncio.wait_for(client_writer.drain(), self.idle_timeout)
            if fault is None and self.keep_alive:
                await self._copy(upstream, client_writer)
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)  # the client's reader is ours from here
            await self._linger(client, client_writer)
        finally:
            pump.cancel()
            upstream_writer.transport.abort()

    def _spoiled(self, fault: str | None, number: int, response: Response) -> bytes:
        if fault is None:
            head = response.head if self.keep_alive else with_header(response.head, b"Connection", b"close")
            return response.interim + head + response.body
        if fault == "cut":
            whole = response.whole()
            return whole[:random.Random(f"{self.seed}:{number}:cut").randint(1, max(1, len(whole) - 1))]
        if fault == "truncate":
            if response.has_body and response.body:
                return response.interim + response.head + response.body[:len(response.body) // 2]
            # No body to shorten: promise one byte that never comes.
            return response.interim + with_header(response.head, b"Content-Length", b"1")
        status_line = response.head.split(b"\r\n", 1)[0]
        return response.interim + status_line + b"\r\n" + GARBAGE_HEADERS

    async def _linger(self, client: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        """Half-close, then drain what the client still sends: closing on unread bytes would be a reset."""
        if client_writer.can_write_eof():
            client_writer.write_eof()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(2.0):
                while await client.read(65536):
                    pass
        client_writer.close()

    async def _pump_requests(
        self, client: asyncio.StreamReader, upstream: asyncio.StreamWriter, first_line: asyncio.Future[bytes]
    ) -> None:
        seen = b""
        with contextlib.suppress(OSError, asyncio.TimeoutError):
            while chunk := await asyncio.wait_for(client.read(65536), self.idle_timeout):
                if not first_line.done():
                    seen += chunk
                    if b"\r\n" in seen or len(seen) > MAX_HEAD_BYTES:
                        first_line.set_result(seen.split(b"\r\n", 1)[0][:MAX_HEAD_BYTES])
                upstream.write(chunk)
                await asyncio.wait_for(upstream.drain(), self.idle_timeout)
            if upstream.can_write_eof():
                upstream.write_eof()
        if not first_line.done():
            first_line.set_result(seen.split(b"\r\n", 1)[0])

    async def _read_response(self, upstream: asyncio.StreamReader, first_line: asyncio.Future[bytes]) -> Response:
        interim = b""
        while True:
            head = await asyncio.wait_for(upstream.readuntil(b"\r\n\r\n"), self.idle_timeout)
            status = int(head.split(b" ", 2)[1])
            if not 100 <= status < 200 or status == 101:
                break
            interim += head
        method = (await asyncio.wait_for(asyncio.shield(first_line), self.idle_timeout)).split(b" ", 1)[0]
        headers = header_map(head)
        if method == b"HEAD" or status in (101, 204, 304):
            return Response(interim, head, b"", False)
        if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            return Response(interim, head, await self._read_chunked(upstream), True)
        if b"content-length" in headers:
            length = int(headers[b"content-length"])
            if length > MAX_BODY_BYTES:
                raise ValueError("response body too large to relay")
            body = await asyncio.wait_for(upstream.readexactly(length), self.idle_timeout)
            return Response(interim, head, body, True)
        body = b""  # delimited by the server closing
        while chunk := await asyncio.wait_for(upstream.read(65536), self.idle_timeout):
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise ValueError("response body too large to relay")
        return Response(interim, head, body, True)

    async def _read_chunked(self, upstream: asyncio.StreamReader) -> bytes:
        raw = b""
        while len(raw) <= MAX_BODY_BYTES:
            size_line = await asyncio.wait_for(upstream.readuntil(b"\r\n"), self.idle_timeout)
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            raw += size_line
            if size == 0:
                while (trailer := await asyncio.wait_for(upstream.readuntil(b"\r\n"), self.idle_timeout)) != b"\r\n":
                    raw += trailer
                return raw + b"\r\n"
            raw += await asyncio.wait_for(upstream.readexactly(size + 2), self.idle_timeout)
        raise ValueError("response body too large to relay")

    async def _copy(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        while chunk := await asyncio.wait_for(source.read(65536), self.idle_timeout):
            sink.write(chunk)
            await asyncio.wait_for(sink.drain(), self.idle_timeout)


def header_map(head: bytes) -> dict[bytes, bytes]:
    fields: dict[bytes, bytes] = {}
    for line in head.split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon:
            fields[name.strip().lower()] = value.strip()
    return fields


def with_header(head: bytes, name: bytes, value: bytes) -> bytes:
    """`head` with every `name` field (and Keep-Alive, for Connection) replaced by one `name: value`."""
    dropped = {name.lower(), b"keep-alive"} if name.lower() == b"connection" else {name.lower()}
    lines = head[:-4].split(b"\r\n")
    kept = [lines[0]] + [line for line in lines[1:] if line.partition(b":")[0].strip().lower() not in dropped]
    return b"\r\n".join([*kept, name + b": " + value]) + b"\r\n\r\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fault_proxy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", required=True, help="the server, http://127.0.0.1:PORT")
    parser.add_argument("--listen-port", type=int, default=0, help="port on 127.0.0.1; 0 picks a free one")
    for fault in FAULTS:
        parser.add_argument(f"--{fault}-rate", type=float, default=0.0, metavar="FRACTION",
                            help=f"fraction of connections to {fault} (0..1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep-alive", action="store_true", help="relay later responses of a connection untouched")
    parser.add_argument("--idle-timeout", type=float, default=30.0, help="seconds a connection may stay silent")
    args = parser.parse_args(argv)
    try:
        args.proxy = FaultProxy(
            args.target, cut_rate=args.cut_rate, reset_rate=args.reset_rate, truncate_rate=args.truncate_rate,
            garbage_rate=args.garbage_rate, seed=args.seed, port=args.listen_port, keep_alive=args.keep_alive,
            idle_timeout=args.idle_timeout,
        )
    except ValueError as error:
        parser.error(str(error))
    return args


async def serve_until_stopped(proxy: FaultProxy) -> None:
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    async with proxy:
        print(f"listening on {proxy.url}", flush=True)
        await stopped.wait()
    counts = proxy.counts()
    summary = ", ".join(f"{counts[outcome]} {outcome}" for outcome in ("relayed", *FAULTS))
    print(f"fault proxy: {sum(counts.values())} responses: {summary}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    asyncio.run(serve_until_stopped(parse_args(argv).proxy))
    return 0


if __name__ == "__main__":
    sys.exit(main())
