"""What the routes share: the hub, the settings and the configured models, kept on the app."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from tokenwire.config import Settings
from tokenwire.hub.hub import Hub


@dataclass(slots=True)
class AppState:
    settings: Settings
    hub: Hub


def app_state(conn: HTTPConnection) -> AppState:
    state: AppState = conn.app.state.tokenwire
    return state


def owner_of(conn: HTTPConnection) -> str:
    """The user a request acts for. With no users configured, everyone is the one local user."""
    return ""
