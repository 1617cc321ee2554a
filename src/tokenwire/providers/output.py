"""What model code may yield, and the payload each value becomes.

A ``str`` is the next piece of the answer (a ``Delta``); ``Delta``, ``Reasoning`` and ``Usage`` pass
through; ``Done`` ends the answer early (``stop``, ``length``, or ``tool_calls``); an ``Error`` ends
it with that error. A ``ToolCall`` calls a tool: a whole call at once (``ToolCall(0, "call_1",
"get_weather", '{"city": "Paris"}')``) or in pieces, its ``id`` and ``name`` on the first piece
of each ``index``. Shared by model functions run as providers and by the stand-alone stream encoder.
"""

from __future__ import annotations

from tokenwire.errors import TokenwireError
from tokenwire.events import Delta, Done, Error, Reasoning, ToolCall, ToolResult, Usage
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
    if isinstance(item, ToolCall):
        if isinstance(item.index, bool) or not isinstance(item.index, int) or item.index < 0:
            raise UnsupportedOutput(
                f"a ToolCall's index must be an integer >= 0, not {item.index!r}"
            )
        if not isinstance(item.arguments, str):
            raise UnsupportedOutput(
                "a ToolCall's arguments must be its JSON text (json.dumps the arguments)"
            )
        return item
    if isinstance(item, ToolResult):
        raise UnsupportedOutput("a model cannot yield a ToolResult; the server writes those")
    if isinstance(item, Done):
        if item.finish_reason == "cancelled":
            raise UnsupportedOutput("a model cannot end with `cancelled`; only a reader can cancel")
        return item
    if isinstance(item, Error):
        raise ProviderError(item.code, item.message, retryable=item.retryable)
    raise UnsupportedOutput(
        "a model may yield str, Delta, Reasoning, ToolCall, Usage, Done or Error, "
        f"not {type(item).__name__}"
    )
