"""How many streams one caller reads at once: open reader connections, per user and per address.

A reader connection is one that reads a stream log on ``/api``: ``POST /api/chat`` and
``GET /api/streams/{id}`` (SSE or NDJSON) for as long as their body streams, and an ``/api/ws``
socket for as long as it is open (however many streams it carries; ``ws_max_streams`` caps those).
Generations are capped elsewhere (``max_concurrent_streams``, ``max_streams_per_user``), but one
generation may have any number of readers (resumes, other tabs), and reading a finished stream
costs no generation at all, so those caps do not bound the connections a caller holds open.

``/v1`` is not counted: each of its streams is the one reader of its own generation, and ends
when that reader leaves, so the generation caps already bound it.

Counts are per process, in memory: a connection is held by the process that serves it, and a
count shared over Redis would outlive a process that died holding some. Behind a load balancer
the effective cap is the setting times the processes one caller reaches.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from tokenwire.server.auth import USER_KEY
from tokenwire.server.error_map import api_error
from tokenwire.server.guard import deny
from tokenwire.server.reader_counts import ReaderCounts, TooManyReaders, is_reader
from tokenwire.server.scope import client_address


class ReaderCaps:
    """ASGI middleware, inside the guard (which names the user): counts each reader connection
    while the app serves it, and refuses one over a cap with a 429 before anything starts (no
    generation is started for a refused ``POST /api/chat``)."""

    def __init__(self, app: ASGIApp, *, per_user: int, per_ip: int) -> None:
        self.app = app
        self.counts = ReaderCounts(per_user=per_user, per_ip=per_ip)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not is_reader(scope):
            await self.app(scope, receive, send)
            return
        user: str = scope.get(USER_KEY, "")
        address = client_address(scope)
        try:
            self.counts.acquire(user, address)
        except TooManyReaders as exc:
            refusal = api_error(exc)
            assert refusal is not None
            await deny(scope, receive, send, refusal)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.counts.release(user, address)
