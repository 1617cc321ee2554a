"""The desktop bridge's tickets: how the window's page proves to the bridge who it is.

These run the real embedded server (no Qt needed): a ticket stands for the user whose credential
asked for it, for as long as that credential holds, and for nobody else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tokenwire.config import load_settings
from tokenwire.desktop.embedded import EmbeddedServer
from tokenwire.desktop.tickets import PATH
from tokenwire.store.tokens import TokenStore

T = TypeVar("T")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedServer]:
    settings = load_settings(
        None,
        env={},
        database_url=f"sqlite:///{tmp_path / 'desktop.db'}",
        models=[{"id": "replay", "provider": "replay", "text": "hi"}],
        shutdown_grace_seconds=1,
    )
    embedded = EmbeddedServer(settings)
    embedded.start()
    try:
        yield embedded
    finally:
        embedded.stop()


def on_loop(server: EmbeddedServer, work: Coroutine[Any, Any, T]) -> T:
    assert server.loop is not None
    return asyncio.run_coroutine_threadsafe(work, server.loop).result(10)


def owner(server: EmbeddedServer, ticket: str) -> str | None:
    return on_loop(server, server.tickets.owner(server.state, ticket))


def ticket(server: EmbeddedServer, **headers: str) -> httpx.Response:
    return httpx.post(server.base_url + PATH, headers=headers, timeout=10)


def test_with_auth_off_a_ticket_stands_for_the_one_local_user(server: EmbeddedServer) -> None:
    answer = ticket(server)
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    assert owner(server, answer.json()["ticket"]) == ""
    assert owner(server, "") is None
    assert owner(server, "made-up") is None


def test_a_ticket_stands_for_the_user_who_asked_until_the_token_is_revoked(
    server: EmbeddedServer,
) -> None:
    tokens = TokenStore(server.state.hub.store.db)
    alice, info = on_loop(server, tokens.create("alice"))
    bob, _ = on_loop(server, tokens.create("bob"))
    server.state.auth.forget()

    assert ticket(server).status_code == 401  # no credential, no ticket
    by_header = ticket(server, authorization=f"Bearer {alice}").json()["ticket"]
    by_cookie = ticket(server, cookie=f"tokenwire_token={bob}").json()["ticket"]
    assert owner(server, by_header) == "alice"
    assert owner(server, by_cookie) == "bob"

    on_loop(server, tokens.revoke(info.id))
    server.state.auth.forget()
    assert owner(server, by_header) is None
    assert owner(server, by_cookie) == "bob"


def test_a_ticket_from_before_auth_was_turned_on_no_longer_holds(server: EmbeddedServer) -> None:
    open_ticket = ticket(server).json()["ticket"]
    on_loop(server, TokenStore(server.state.hub.store.db).create("alice"))
    server.state.auth.forget()
    assert owner(server, open_ticket) is None
