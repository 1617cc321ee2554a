"""What the routes share: the hub, the settings and the configured models, kept on the app."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from tokenwire.config import Settings
from tokenwire.hub.hub import Hub
from tokenwire.metrics import Metrics
from tokenwire.server.auth import USER_KEY, Authenticator
from tokenwire.server.rate_limits import RateLimits


@dataclass(slots=True)
class AppState:
    settings: Settings
    hub: Hub
    auth: Authenticator
    rate_limits: RateLimits
    metrics: Metrics


def app_state(conn: HTTPConnection) -> AppState:
    state: AppState = conn.app.state.tokenwire
    return state


def owner_of(conn: HTTPConnection) -> str:
    """The user a request acts for (set by the guard). With auth off, everyone is the one local
    user, ``""``."""
    user: str = conn.scope.get(USER_KEY, "")
    return user
