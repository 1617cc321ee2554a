"""Open reader connections of this process, counted per user and per client address.

What counts as a reader, and why, is said in :mod:`tokenwire.server.reader_caps`, the middleware
that uses these counts; the exception lives here so that :mod:`tokenwire.server.error_map` can
answer it without importing the middleware.
"""

from __future__ import annotations

import re
from collections import Counter

from starlette.types import Scope

from tokenwire.errors import TokenwireError
from tokenwire.server.scope import route_path

# Connections free up as answers end; a few seconds is a fair first wait.
RETRY_AFTER_SECONDS = 5

_STREAM_PATH = re.compile(r"^/api/streams/[^/]+$")


class TooManyReaders(TokenwireError):
    """A caller holds as many open reader connections as allowed (``per_user``, else per
    address)."""

    def __init__(self, *, per_user: bool, limit: int) -> None:
        super().__init__(f"{limit} reader connections are open")
        self.per_user = per_user
        self.limit = limit


def is_reader(scope: Scope) -> bool:
    """Whether the request reads a stream log for as long as it stays open."""
    path = route_path(scope)
    if scope["type"] == "websocket":
        return path == "/api/ws"
    method = scope.get("method")
    return (method == "POST" and path == "/api/chat") or (
        method == "GET" and _STREAM_PATH.match(path) is not None
    )


class ReaderCounts:
    """Open reader connections of this process, per user and per client address; a limit of 0
    turns that cap off. The per-user cap applies when auth is on (with auth off, everyone is the
    one local user, ``""``, and the per-address cap is the one that matters)."""

    def __init__(self, *, per_user: int, per_ip: int) -> None:
        self.per_user = per_user
        self.per_ip = per_ip
        self.users: Counter[str] = Counter()
        self.addresses: Counter[str] = Counter()

    def acquire(self, user: str, address: str) -> None:
        """Count one more reader, or raise :class:`TooManyReaders` and count nothing."""
        if user and 0 < self.per_user <= self.users[user]:
            raise TooManyReaders(per_user=True, limit=self.per_user)
        if 0 < self.per_ip <= self.addresses[address]:
            raise TooManyReaders(per_user=False, limit=self.per_ip)
        self.users[user] += 1
        self.addresses[address] += 1

    def release(self, user: str, address: str) -> None:
        for counter, key in ((self.users, user), (self.addresses, address)):
            counter[key] -= 1
            if counter[key] <= 0:
                del counter[key]  # no entry left behind per caller that has gone
