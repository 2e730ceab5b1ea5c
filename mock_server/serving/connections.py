"""How many connections a server keeps open, and how long it waits for their bytes: the limits, and the table of
open connections that finds the one idle the longest in O(1)."""

from __future__ import annotations

import resource
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .protocol import GuardedHttpProtocol

DEFAULT_MAX_URL_BYTES = 16 * 1024
DEFAULT_MAX_HEAD_BYTES = 64 * 1024
_DESCRIPTORS_KEPT = 64  # for the state file, logs and the listening socket
_MAX_DEFAULT_CONNECTIONS = 1024


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float = 10.0
    body_timeout: float = 30.0  # here: for the rest of a body the app answered without reading
    max_connections: int | None = None
    max_url_bytes: int = DEFAULT_MAX_URL_BYTES
    max_head_bytes: int = DEFAULT_MAX_HEAD_BYTES

    def connection_cap(self) -> int:
        """`max_connections`, or what the file descriptor limit leaves room for."""
        if self.max_connections is not None:
            return self.max_connections
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return _MAX_DEFAULT_CONNECTIONS
        return max(8, min(_MAX_DEFAULT_CONNECTIONS, soft - _DESCRIPTORS_KEPT))


class IdleConnections:
    """The open connections of one server; the idle ones in order of their last activity, for O(1) eviction."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.open = 0
        self._idle: OrderedDict[GuardedHttpProtocol, None] = OrderedDict()
        self._closing: set[GuardedHttpProtocol] = set()

    def opened(self, connection: GuardedHttpProtocol) -> None:
        self.open += 1
        self._idle[connection] = None
        while self.open - len(self._closing) > self.cap and self._idle:
            oldest, _ = self._idle.popitem(last=False)  # the newest connection itself, when all else is busy
            self._closing.add(oldest)
            oldest.evict()

    def touched(self, connection: GuardedHttpProtocol) -> None:
        if connection in self._idle:
            self._idle.move_to_end(connection)

    def busy(self, connection: GuardedHttpProtocol) -> None:
        self._idle.pop(connection, None)

    def idle(self, connection: GuardedHttpProtocol) -> None:
        if connection not in self._closing:
            self._idle[connection] = None
            self._idle.move_to_end(connection)

    def closed(self, connection: GuardedHttpProtocol) -> None:
        self.open -= 1
        self._idle.pop(connection, None)
        self._closing.discard(connection)
