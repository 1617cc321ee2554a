"""A Python client for a tokenwire server, async and sync, with streams that resume by themselves.

    async with AsyncClient("http://127.0.0.1:8000") as client:
        async with client.chat("Hello!") as stream:
            async for event in stream:
                ...

``Client`` is the same with ``with`` and ``for``.

Tool calls come as ``ToolCall`` events (and ``ToolResult`` for a tool the server ran); the stream
joins them into ``stream.tool_calls``. A turn that ends with ``finish_reason == "tool_calls"``
goes on with ``client.continue_with_tool_results(conversation_id, results)``.

- ``_async``: ``AsyncClient`` and the ``AsyncChatStream`` it opens.
- ``_sync``: ``Client`` and the ``ChatStream`` it opens, the blocking twins.
- ``_state``: a stream's state, kept the same way by both clients, with no I/O.
- ``_http``: the requests both clients make, built the same way.
- ``_backoff``: when to try a dropped stream again.
- ``_errors``: the client's exceptions, under ``TokenwireError``.
"""

from tokenwire.client._async import AsyncChatStream, AsyncClient
from tokenwire.client._errors import ApiError, ConnectionLost, StreamError, TokenwireError
from tokenwire.client._sync import ChatStream, Client

__all__ = [
    "ApiError",
    "AsyncChatStream",
    "AsyncClient",
    "ChatStream",
    "Client",
    "ConnectionLost",
    "StreamError",
    "TokenwireError",
]
