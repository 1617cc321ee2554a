"""What model code may yield, and the payload each value becomes.

A ``str`` is the next piece of the answer (a ``Delta``); ``Delta``, ``Reasoning`` and ``Usage`` pass
through; ``Done`` ends the answer early (``stop`` or ``length``); an ``Error`` ends it with that
error. Shared by model functions run as providers and by the stand-alone stream encoder.
"""

from __future__ import annotations

from tokenwire.errors import TokenwireError
from tokenwire.events import Delta, Done, Error, Reasoning, Usage
from tokenwire.providers.base import ProviderError, ProviderPayload

__all__ = ["UnsupportedOutput", "as_payload"]


class UnsupportedOutput(TokenwireError, TypeError):
    """Model code yielded something that is not text or an answer payload."""


def as_payload(item: object) -> ProviderPayload | None:
    """The payload for one yielded value; None for empty text (nothing to send).

    Raises ``ProviderError`` for a yielded ``Error`` and ``UnsupportedOutput`` for anything else
    that is not an answer payload.
    """
    if isinstance(item, str):
        return Delta(item) if item else None
    if isinstance(item, Delta | Reasoning):
        return item if item.text else None
    if isinstance(item, Usage):
        return item
    if isinstance(item, Done):
        if item.finish_reason == "cancelled":
            raise UnsupportedOutput("a model cannot end with `cancelled`; only a reader can cancel")
        return item
    if isinstance(item, Error):
        raise ProviderError(item.code, item.message, retryable=item.retryable)
    raise UnsupportedOutput(
        f"a model may yield str, Delta, Reasoning, Usage, Done or Error, not {type(item).__name__}"
    )
