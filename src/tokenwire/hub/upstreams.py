"""Each model's upstream as last seen, for ``/readyz``: did its last request get an answer going?

Nothing is probed: asking a paid API whether it is up costs money and tells little. What the
generations already learn is kept instead - a first batch means the upstream answered; a retryable
failure (refused connection, timeout, 429, 5xx) means it was failing then. A failure that is not
retryable (a request it refused, a context too long) is the request's, so the upstream counts as up.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from tokenwire.providers.base import Provider, ProviderError


@dataclass(frozen=True, slots=True)
class UpstreamState:
    status: str  # "unknown" (not used yet), "up" or "failing"
    at: float | None = None  # unix time of the last sighting
    code: str | None = None  # the failure's code when failing

    def to_json(self) -> dict[str, object]:
        found: dict[str, object] = {"status": self.status, "last_seen": self.at}
        if self.code is not None:
            found["code"] = self.code
        return found


UNKNOWN = UpstreamState("unknown")


class UpstreamStates:
    def __init__(self, models: Iterable[str] = ()) -> None:
        self._states: dict[str, UpstreamState] = dict.fromkeys(models, UNKNOWN)

    def seen(self, provider: Provider, error: ProviderError | None) -> None:
        """Record one outcome of a request to ``provider``: ``None`` when it answered."""
        if error is not None and error.retryable:
            self._states[provider.id] = UpstreamState("failing", time.time(), error.code)
        else:
            self._states[provider.id] = UpstreamState("up", time.time())

    def snapshot(self) -> dict[str, UpstreamState]:
        return dict(self._states)
