"""Who the desktop window's page acts as, proven to the bridge by the server itself.

The page's sign-in cookie is HttpOnly, so neither the page's scripts nor Qt can hand it to the
bridge (QtWebEngine's cookie store does not report the cookies it kept from an earlier run). So
the page asks the embedded server, with its cookie, for a ticket: ``POST /api/desktop/ticket``
answers a random string that stands for the user the request was authenticated as (``""`` with
auth off), and the page passes the ticket with each frame it sends over the bridge. A ticket is
redeemable only through the bridge, which only the window's own page can reach, so someone else's
ticket is of no use to anyone; the token behind it is checked again on every frame, so a revoked
token stops working at once.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tokenwire.server.auth import bearer_token, cookie_token
from tokenwire.server.state import AppState, app_state, owner_of

MAX_TICKETS = 256
PATH = "/api/desktop/ticket"


@dataclass(frozen=True, slots=True)
class Holder:
    owner: str
    token: str | None  # the credential the ticket was issued on; None with auth off


class Tickets:
    """Tickets issued by the embedded server; the newest :data:`MAX_TICKETS` are kept."""

    def __init__(self) -> None:
        self._issued: OrderedDict[str, Holder] = OrderedDict()

    def issue(self, holder: Holder) -> str:
        ticket = secrets.token_urlsafe(24)
        self._issued[ticket] = holder
        while len(self._issued) > MAX_TICKETS:
            self._issued.popitem(last=False)
        return ticket

    async def owner(self, state: AppState, ticket: str) -> str | None:
        """The user a ticket stands for, if its credential still holds; None otherwise."""
        holder = self._issued.get(ticket) if ticket else None
        if holder is None:
            return None
        if holder.token is None:  # issued with auth off: good while it stays off
            return None if await state.auth.enabled() else holder.owner
        return holder.owner if await state.auth.user_for(holder.token) == holder.owner else None

    def route(self) -> Route:
        async def ticket(request: Request) -> Response:
            state = app_state(request)
            token = None
            if await state.auth.enabled():  # the guard let the request in on this credential
                token = bearer_token(request.scope) or cookie_token(request.scope)
            holder = Holder(owner_of(request), token)
            return JSONResponse(
                {"ticket": self.issue(holder)}, headers={"Cache-Control": "no-store"}
            )

        return Route(PATH, ticket, methods=["POST"])
